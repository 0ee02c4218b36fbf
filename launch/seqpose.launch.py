"""ros2 launch seqpose seqpose.launch.py [image:=/camera/color/image_raw]
[camera_info:=/camera/color/camera_info] [params:=/path/to.yaml] [rviz:=true]
[dds_profile:=/path/to/fastdds.xml]

The processes this launch starts (and those started after it by an including launch file) load
config/fastdds.xml unless FASTDDS_DEFAULT_PROFILES_FILE is already set: Fast DDS's default
512 KB shared-memory segment loses camera-sized images over best-effort connections (see the
file). The camera driver must load it too."""

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
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
        DeclareLaunchArgument(
            "dds_profile",
            default_value=EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]),
            ),
            description="Fast DDS profile (a shared-memory segment large enough for camera images)",
        ),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile")),
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
