"""Launch depth_ros's depth_node, optionally with RViz and a bag replay.

Example (a bag made by ``python -m depth_ros.kitti_to_bag``)::

    ros2 launch depth_ros depth.launch.py model:=/path/to/model rviz:=true \
        bag:=/path/to/drive_0001 use_sim_time:=true

Arguments: ``model`` (model path) and ``backend`` (auto | tensorrt | onnxruntime | torch), each overriding the
parameter file's ``model_path`` / ``backend`` only when given (empty: the file's), ``image`` and
``camera_info`` (input topics, remapped onto the node's relative ``image`` / ``camera_info``),
``params_file`` (defaults to the installed ``config/depth.yaml``), ``rviz`` (start RViz with
``config/depth.rviz``), ``bag`` (a rosbag2 to ``ros2 bag play --clock``; empty = none) and
``use_sim_time`` (true when replaying a bag: KITTI stamps are from 2011).
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "depth_ros"


def generate_launch_description() -> LaunchDescription:
    """The node, RViz (if ``rviz``) and ``ros2 bag play`` (if ``bag`` is not empty)."""
    share = FindPackageShare(PACKAGE)
    model = LaunchConfiguration("model")
    backend = LaunchConfiguration("backend")
    image = LaunchConfiguration("image")
    camera_info = LaunchConfiguration("camera_info")
    params_file = LaunchConfiguration("params_file")
    rviz = LaunchConfiguration("rviz")
    bag = LaunchConfiguration("bag")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)

    arguments = [
        DeclareLaunchArgument(
            "model", default_value="", description="Model path (checkpoint, .onnx or engine); empty: params_file's"
        ),
        DeclareLaunchArgument(
            "backend", default_value="", description="auto|tensorrt|onnxruntime|torch; empty: params_file's"
        ),
        DeclareLaunchArgument(
            "image",
            default_value="/kitti/camera_color_left/image_raw",
            description="Colour image topic (sensor_msgs/Image)",
        ),
        DeclareLaunchArgument(
            "camera_info",
            default_value="/kitti/camera_color_left/camera_info",
            description="CameraInfo topic matching the image",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "depth.yaml"]),
            description="Node parameter file",
        ),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz with config/depth.rviz"),
        DeclareLaunchArgument(
            "bag", default_value="", description="rosbag2 directory to play with --clock (empty: none)"
        ),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (true for bags)"),
    ]

    def depth_node(context: LaunchContext) -> list[Node]:
        """The node, with ``model`` and ``backend`` passed only when given: otherwise the parameter file's hold."""
        overrides = {"use_sim_time": use_sim_time}
        for parameter, argument in (("model_path", model), ("backend", backend)):
            value = argument.perform(context)
            if value:
                overrides[parameter] = value
        return [
            Node(
                package=PACKAGE,
                executable="depth_node",
                name="depth_node",
                output="screen",
                parameters=[params_file, overrides],
                remappings=[("image", image), ("camera_info", camera_info)],
            )
        ]

    rviz_node = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "depth.rviz"])],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=IfCondition(rviz),
    )
    # LaunchConfigurationNotEquals is deprecated from Iron on and EqualsSubstitution is missing in Humble;
    # this expression works on both (the bag path must not contain a single quote).
    bag_play = ExecuteProcess(
        cmd=["ros2", "bag", "play", bag, "--clock"],
        output="screen",
        condition=IfCondition(PythonExpression(["'", bag, "' != ''"])),
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=depth_node), rviz_node, bag_play])
