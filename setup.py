"""Pip install of the seqpose Python packages, for users who train or evaluate without ROS.

On a ROS 2 install, colcon builds the same packages through CMakeLists.txt.
Pinned versions for this project's own machines live in requirements/*.txt.
"""

from setuptools import find_packages, setup

setup(
    # Not "seqpose": that distribution name belongs to the interface package that
    # rosidl generates from msg/, and pip would uninstall it.
    name="seqpose-python",
    version="0.1.0",
    description="SeqPose: RGB category-level 9-DoF object pose for single frames and video",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["seqpose_core*", "seqpose_ros*", "training*"]),
    # the embedded default model and its card; the experiment configs
    package_data={
        "seqpose_core": ["assets/*.safetensors", "assets/*.yaml", "assets/*.md"],
        "training": ["configs/*.yaml"],
    },
    install_requires=[
        "torch>=2.4",
        "numpy>=1.26",
        "scipy>=1.11",
        "opencv-python-headless>=4.8,<5",
        "PyYAML>=6.0",
        "safetensors>=0.4",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "trimesh>=4.0",
        "embreex>=2.17",
        "transformers>=5.0",
        "motmetrics>=1.4",
    ],
    extras_require={"ros": ["rosbags>=0.10"], "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6"]},
    entry_points={
        "console_scripts": [
            "seqpose-eval = seqpose_core.evaluation.cli:main",
            "seqpose-synth = seqpose_core.synth.cli:main",
            "seqpose-align = seqpose_core.selflabel.cli:main",
            "seqpose_node = seqpose_ros.node.node:main",
            "seqpose-replay = seqpose_ros.bags.replay:main",
            "seqpose-bag = seqpose_ros.bags.bag:main",
            "seqpose-video = seqpose_ros.bags.video:main",
            "seqpose-orbits = seqpose_ros.bags.orbit_bags:main",
        ]
    },
)
