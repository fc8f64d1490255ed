"""Gazebo (gz sim): bridged camera topics + grounding_node + arm_controller_node (MoveIt backend).

Start your gz world with the arm, its MoveIt bringup (use_sim_time) and ros_gz_bridge for
the RGB-D camera first. ros2 launch vla_grounding gazebo.launch.py [camera:=/rgbd_camera]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", "gazebo.yaml")
    params = LaunchConfiguration("params_file")
    camera = LaunchConfiguration("camera")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters"),
        DeclareLaunchArgument("camera", default_value="/rgbd_camera", description="bridged camera namespace"),
        Node(package="vla_grounding", executable="grounding_node", name="grounding_node", output="screen",
             parameters=[params],
             remappings=[
                 ("camera/color/image_raw", [camera, "/image"]),
                 ("camera/depth/image_raw", [camera, "/depth_image"]),
                 ("camera/color/camera_info", [camera, "/camera_info"]),
             ]),
        Node(package="vla_grounding", executable="arm_controller_node", name="arm_controller_node",
             output="screen", parameters=[params]),
    ])
