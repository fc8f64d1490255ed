"""The package's simulator graph: sim_node, grounding_node, arm_controller_node (ros2_control backend).

ros2 launch vla_grounding sim.launch.py [policy:=cliport] [task:=put-blocks-in-bowls-seen] [seed:=3]
    [tool:=gripper] [camera_profile:=realsense-d455] [calibration_error:="[0.02, 2.0]"]
    [fiducials_xy:="[0.32, 0.34, 0.32, -0.34, 0.55, 0.3, 0.55, -0.3]"] [params_file:=my_sim.yaml]

Arguments left empty keep the params file's values; given ones win over it. A missing params
file, a bad parameter value or a node that dies ends the launch with code 1 and one line.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from vla_grounding.nodes.launch_support import (
    checked_params_file,
    launch_overrides,
    node_overrides_file,
    nodes_failing_fast,
)

ARGUMENTS = {  # launch argument: ([(node, parameter), ...], description)
    "policy": ([("grounding_node", "policy")], "grounding policy: clip_regions or cliport"),
    "checkpoint": ([("grounding_node", "checkpoint")], "policy checkpoint folder or file"),
    "task": ([("sim_node", "task")], "simulated task, e.g. put-blocks-in-bowls-seen"),
    "seed": ([("sim_node", "seed")], "episode seed (odd: test split)"),
    "tool": ([("sim_node", "tool"), ("arm_controller_node", "tool.kind")], "the arm's tool: suction or gripper"),
    "camera_profile": ([("sim_node", "camera_profile")], "render like a real camera: ideal, realsense-d455, ... "
                       "or a YAML file"),
    "calibration_error": ([("sim_node", "calibration_error")], "[metres, degrees]: the camera pose on /tf_static "
                          "is this far off the rendering pose"),
    "fiducials_xy": ([("sim_node", "fiducials.xy"), ("grounding_node", "fiducials.xy")], "ArUco markers on the "
                     "table [x0, y0, x1, y1, ...]: sim_node draws them, grounding_node corrects the camera pose "
                     "with them"),
}


def _nodes(context):
    params = checked_params_file(context)
    nodes = []
    for name in ("sim_node", "grounding_node", "arm_controller_node"):
        mine = {arg: parameter for arg, (targets, _) in ARGUMENTS.items() for node, parameter in targets
                if node == name}
        overrides = node_overrides_file(name, launch_overrides(context, mine))
        nodes.append(Node(package="vla_grounding", executable=name, name=name, output="screen",
                          parameters=[params, *overrides]))
    return nodes_failing_fast(nodes)


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", "sim.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters (YAML)"),
        *(DeclareLaunchArgument(arg, default_value="", description=f"{text}; empty: as in params_file")
          for arg, (_, text) in ARGUMENTS.items()),
        OpaqueFunction(function=_nodes),
    ])
