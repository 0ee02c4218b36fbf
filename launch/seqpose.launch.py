"""ros2 launch seqpose seqpose.launch.py [image:=/camera/color/image_raw]
[camera_info:=/camera/color/camera_info] [params:=/path/to.yaml] [rviz:=true]"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("seqpose")
    args = [
        DeclareLaunchArgument("image", default_value="/camera/color/image_raw", description="Image topic"),
        DeclareLaunchArgument(
            "camera_info", default_value="/camera/color/camera_info", description="CameraInfo"
        ),
        DeclareLaunchArgument(
            "params", default_value=PathJoinSubstitution([share, "config", "seqpose.yaml"])
        ),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="Start RViz with config/seqpose.rviz"
        ),
    ]
    node = LifecycleNode(
        package="seqpose",
        executable="seqpose_node",
        name="seqpose",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params")],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
        output="screen",
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "seqpose.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*args, node, rviz])
