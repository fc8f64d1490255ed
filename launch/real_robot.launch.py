"""A real arm: RealSense camera topics + grounding_node + arm_controller_node (MoveIt backend).

Start your robot's MoveIt bringup and the camera driver (realsense2_camera with
align_depth.enable:=true) first, and publish the camera's calibrated pose on tf2.
ros2 launch vla_grounding real_robot.launch.py [camera:=/camera/camera] [params_file:=...]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", "real_robot.yaml")
    params = LaunchConfiguration("params_file")
    camera = LaunchConfiguration("camera")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters"),
        DeclareLaunchArgument("camera", default_value="/camera/camera", description="RealSense namespace"),
        Node(package="vla_grounding", executable="grounding_node", name="grounding_node", output="screen",
             parameters=[params],
             remappings=[
                 ("camera/color/image_raw", [camera, "/color/image_raw"]),
                 ("camera/depth/image_raw", [camera, "/aligned_depth_to_color/image_raw"]),
                 ("camera/color/camera_info", [camera, "/color/camera_info"]),
             ]),
        Node(package="vla_grounding", executable="arm_controller_node", name="arm_controller_node",
             output="screen", parameters=[params]),
    ])
