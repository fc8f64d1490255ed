"""Gazebo (gz sim Harmonic): a benchmark scene as a world, the Panda on gz_ros2_control, the bridged
camera, and grounding_node + arm_controller_node on sim time.

ros2 launch vla_grounding gazebo.launch.py [task:=put-blocks-in-bowls-seen] [seed:=1] [world_dir:=DIR]
    [gui:=true] [params_file:=...]

Starts: gz sim with the world (``world_dir`` from ``vla-grounding export-gazebo``, or the task and
seed exported now), robot_state_publisher with the exported Panda URDF, ros_gz_sim ``create`` to
spawn it, the controllers (joint_state_broadcaster, joint_trajectory_controller, gripper_controller),
ros_gz_bridge from config/gazebo_bridge.yaml (/clock and the camera), the camera's optical frame as
a static transform, and the two nodes. Packages it needs and cannot find end the launch with code 1
and one line naming them; so does a missing params file or a node that dies.
"""

import os
import tempfile

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from vla_grounding.nodes.launch_support import LaunchSetupError, checked_params_file, nodes_failing_fast

REQUIRED = {  # package: the Debian package that brings it (ROS 2 Jazzy + Gazebo Harmonic)
    "ros_gz_sim": "ros-jazzy-ros-gz",
    "ros_gz_bridge": "ros-jazzy-ros-gz",
    "gz_ros2_control": "ros-jazzy-gz-ros2-control",
    "controller_manager": "ros-jazzy-ros2-control",
    "joint_trajectory_controller": "ros-jazzy-ros2-controllers",
    "gripper_controllers": "ros-jazzy-ros2-controllers",
    "robot_state_publisher": "ros-jazzy-robot-state-publisher",
    "tf2_ros": "ros-jazzy-tf2-ros",
}
CONTROLLERS = ["joint_state_broadcaster", "joint_trajectory_controller", "gripper_controller"]


def missing_packages() -> list[str]:
    missing = []
    for package in REQUIRED:
        try:
            get_package_share_directory(package)
        except PackageNotFoundError:
            missing.append(package)
    return missing


def gazebo_actions(world_dir: str, params: str, gui: bool) -> list:
    """Everything the launch starts for the exported world in ``world_dir`` (nothing is looked up yet)."""
    share = get_package_share_directory("vla_grounding")
    with open(os.path.join(world_dir, "panda.urdf")) as f:
        urdf = f.read()
    with open(os.path.join(world_dir, "camera.yaml")) as f:
        camera = yaml.safe_load(f)
    x, y, z, qx, qy, qz, qw = (str(v) for v in camera["camera_pose"])
    gz_args = f"-r {'' if gui else '-s '}{os.path.join(world_dir, 'world.sdf')}"
    gz_sim = PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"])
    sim_time = {"use_sim_time": True}
    return [
        IncludeLaunchDescription(PythonLaunchDescriptionSource(gz_sim),
                                 launch_arguments={"gz_args": gz_args, "on_exit_shutdown": "true"}.items()),
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[{"robot_description": urdf, **sim_time}]),
        Node(package="ros_gz_sim", executable="create", output="screen",
             arguments=["-topic", "robot_description", "-name", "panda"]),
        Node(package="ros_gz_bridge", executable="parameter_bridge", output="screen",
             parameters=[{"config_file": os.path.join(share, "config", "gazebo_bridge.yaml"), **sim_time}]),
        Node(package="controller_manager", executable="spawner", output="screen",
             arguments=[*CONTROLLERS, "--controller-manager", "/controller_manager"]),
        Node(package="tf2_ros", executable="static_transform_publisher", output="screen",
             arguments=["--x", x, "--y", y, "--z", z, "--qx", qx, "--qy", qy, "--qz", qz, "--qw", qw,
                        "--frame-id", camera["parent_frame"], "--child-frame-id", camera["child_frame"]],
             parameters=[sim_time]),
        *nodes_failing_fast([
            Node(package="vla_grounding", executable="grounding_node", name="grounding_node", output="screen",
                 parameters=[params]),
            Node(package="vla_grounding", executable="arm_controller_node", name="arm_controller_node",
                 output="screen", parameters=[params]),
        ]),
    ]


def _launch(context):
    params = checked_params_file(context)
    missing = missing_packages()
    if missing:
        debs = sorted({REQUIRED[m] for m in missing})
        raise LaunchSetupError(f"gazebo.launch.py needs {', '.join(missing)}: install {' '.join(debs)} "
                               "(and Gazebo Harmonic), then source the ROS setup")
    world_dir = LaunchConfiguration("world_dir").perform(context)
    if not world_dir:
        from vla_grounding.sim.gazebo_export import export

        task, seed = LaunchConfiguration("task").perform(context), int(LaunchConfiguration("seed").perform(context))
        world_dir = tempfile.mkdtemp(prefix=f"vla_gazebo_{task}_{seed}_")
        export(task, seed, world_dir)
    elif not os.path.isfile(os.path.join(world_dir, "world.sdf")):
        raise LaunchSetupError(f"world_dir {world_dir!r} has no world.sdf: write one with "
                               "`vla-grounding export-gazebo --task T --seed S --out DIR`")
    gui = LaunchConfiguration("gui").perform(context).lower() in ("true", "1", "yes")
    return gazebo_actions(world_dir, params, gui)


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", "gazebo.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters (YAML)"),
        DeclareLaunchArgument("task", default_value="put-blocks-in-bowls-seen", description="scene to export"),
        DeclareLaunchArgument("seed", default_value="1", description="scene seed"),
        DeclareLaunchArgument("world_dir", default_value="",
                              description="an export-gazebo folder; empty: export task and seed now"),
        DeclareLaunchArgument("gui", default_value="true", description="false: gz sim server only (headless)"),
        OpaqueFunction(function=_launch),
    ])
