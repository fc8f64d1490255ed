"""The package's simulator graph: sim_node, grounding_node, arm_controller_node (sim backend).

ros2 launch vla_grounding sim.launch.py [policy:=cliport] [task:=put-blocks-in-bowls-seen] [seed:=1]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    params = os.path.join(get_package_share_directory("vla_grounding"), "config", "sim.yaml")
    args = [
        DeclareLaunchArgument("policy", default_value="clip_regions", description="clip_regions or cliport"),
        DeclareLaunchArgument("task", default_value="put-blocks-in-bowls-seen", description="simulated task"),
        DeclareLaunchArgument("seed", default_value="1", description="episode seed (odd: test)"),
    ]
    return LaunchDescription([
        *args,
        Node(package="vla_grounding", executable="sim_node", name="sim_node", output="screen",
             parameters=[params, {"task": LaunchConfiguration("task"), "seed": LaunchConfiguration("seed")}]),
        Node(package="vla_grounding", executable="grounding_node", name="grounding_node", output="screen",
             parameters=[params, {"policy": LaunchConfiguration("policy")}]),
        Node(package="vla_grounding", executable="arm_controller_node", name="arm_controller_node",
             output="screen", parameters=[params]),
    ])
