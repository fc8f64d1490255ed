"""Gazebo (gz sim): bridged camera topics + grounding_node + arm_controller_node (MoveIt backend).

Start your gz world with the arm, its MoveIt bringup (use_sim_time) and ros_gz_bridge for
the RGB-D camera first. ros2 launch vla_grounding gazebo.launch.py [camera:=/rgbd_camera]

A missing params file or any node that dies ends the launch with code 1 and one line.
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
        "camera/color/image_raw": f"{camera}/image",
        "camera/depth/image_raw": f"{camera}/depth_image",
        "camera/color/camera_info": f"{camera}/camera_info",
    })


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", "gazebo.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters (YAML)"),
        DeclareLaunchArgument("camera", default_value="/rgbd_camera", description="bridged camera namespace"),
        OpaqueFunction(function=_nodes),
    ])
