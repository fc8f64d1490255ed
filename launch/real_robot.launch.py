"""A real arm: RealSense camera topics + grounding_node + arm_controller_node (MoveIt backend).

Start your robot's MoveIt bringup and the camera driver (realsense2_camera with
align_depth.enable:=true) first, and publish the camera's calibrated pose on tf2.
ros2 launch vla_grounding real_robot.launch.py [camera:=/camera/camera] [params_file:=...]

A missing params file, a missing backend (moveit_py), no camera pose or any node that dies
ends the launch with code 1 and one line that says what is missing.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from vla_grounding.nodes.launch_support import robot_graph


def _nodes(context):
    camera = LaunchConfiguration("camera").perform(context).rstrip("/")
    return robot_graph(context, {
        "camera/color/image_raw": f"{camera}/color/image_raw",
        "camera/depth/image_raw": f"{camera}/aligned_depth_to_color/image_raw",
        "camera/color/camera_info": f"{camera}/color/camera_info",
    })


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", "real_robot.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters (YAML)"),
        DeclareLaunchArgument("camera", default_value="/camera/camera", description="RealSense namespace"),
        OpaqueFunction(function=_nodes),
    ])
