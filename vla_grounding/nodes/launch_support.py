"""What the launch files share: a checked params file, per-node overrides, and fail-fast exits.

Imported by ``launch/*.launch.py`` when ``ros2 launch`` runs them (it needs the ROS ``launch``
and ``launch_ros`` packages, not rclpy). Three things launch_ros does not do on its own:

- a ``params_file:=`` that does not exist only earns a warning there, and the nodes start on
  their defaults; here it stops the launch with one line naming the file;
- launch arguments passed as ``parameters=[{...}]`` are written under ``/**``, so a node's own
  section in the params file silently wins over them; here they go into a file under the
  node's name, after the params file, so the command line wins;
- ``ros2 launch`` exits 0 even when every node died at start-up; here a node that exits with
  an error ends the launch with code 1 and a line that names it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


class LaunchSetupError(RuntimeError):
    """A launch requirement is missing; launch prints the message and exits 1."""


def checked_params_file(context: LaunchContext, argument: str = "params_file") -> str:
    """The launch argument's parameter file, which must exist and be a YAML mapping."""
    path = Path(LaunchConfiguration(argument).perform(context)).expanduser()
    if not path.is_file():
        raise LaunchSetupError(f"{argument} {str(path)!r} does not exist: pass {argument}:=<path to your YAML file>")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise LaunchSetupError(f"{argument} {str(path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise LaunchSetupError(f"{argument} {str(path)!r} holds no node sections (expected '<node>: ros__parameters:')")
    return str(path)


def launch_overrides(context: LaunchContext, arguments: dict[str, str]) -> dict:
    """``{parameter: value}`` for each launch argument (``{argument: parameter}``) given a value.

    Empty means "as in the params file". Values are read as YAML, as ``-p name:=value`` is
    (``seed:=3`` is an integer, ``policy:=cliport`` a string).
    """
    out = {}
    for argument, parameter in arguments.items():
        text = LaunchConfiguration(argument).perform(context)
        if text != "":
            out[parameter] = yaml.safe_load(text)
    return out


def node_overrides_file(node_name: str, overrides: dict) -> list[str]:
    """``[path]`` of a parameter file holding ``overrides`` under ``node_name`` ([] when empty).

    Listed after the params file in ``parameters=``, it beats the node's section there.
    """
    if not overrides:
        return []
    nested: dict = {}
    for name, value in overrides.items():  # tool.kind -> {tool: {kind: ...}}, as params files nest them
        *groups, leaf = name.split(".")
        section = nested
        for group in groups:
            section = section.setdefault(group, {})
        section[leaf] = value
    handle, path = tempfile.mkstemp(prefix=f"{node_name}_launch_", suffix=".yaml")
    with os.fdopen(handle, "w") as f:
        yaml.safe_dump({node_name: {"ros__parameters": nested}}, f)
    return [path]


def exit_launch_on_failure(node: Node) -> RegisterEventHandler:
    """End the launch with code 1 when ``node`` exits with an error (its own line says why)."""

    def on_exit(event, context):
        if event.returncode in (0, None):
            return
        if context.is_shutdown:
            raise LaunchSetupError(f"{event.action.name} exited with code {event.returncode} while shutting down")
        raise LaunchSetupError(f"{event.action.name} exited with code {event.returncode} (its error is above): "
                               "stopping the launch")

    return RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))


def nodes_failing_fast(nodes: list[Node]) -> list:
    """``nodes`` followed by a fail-fast exit handler for each."""
    return [*nodes, *(exit_launch_on_failure(n) for n in nodes)]


REALSENSE_TOPICS = {  # realsense-ros 4.x with align_depth.enable:=true, under <camera namespace>/<camera name>
    "camera/color/image_raw": "/color/image_raw",
    "camera/depth/image_raw": "/aligned_depth_to_color/image_raw",
    "camera/color/camera_info": "/color/camera_info",
}


def robot_launch_description(config: str, camera: str, camera_topics: dict[str, str]) -> LaunchDescription:
    """The launch file of an external robot (real or Gazebo): ``params_file`` (default: the
    package's ``config``) and ``camera`` (default ``camera``) arguments, then grounding_node, its
    camera topics remapped to ``<camera><suffix>`` (``camera_topics``: topic -> suffix), and
    arm_controller_node, both failing fast."""

    def nodes(context: LaunchContext) -> list:
        params = checked_params_file(context)
        ns = LaunchConfiguration("camera").perform(context).rstrip("/")
        return nodes_failing_fast([
            Node(package="vla_grounding", executable="grounding_node", name="grounding_node", output="screen",
                 parameters=[params], remappings=[(topic, ns + suffix) for topic, suffix in camera_topics.items()]),
            Node(package="vla_grounding", executable="arm_controller_node", name="arm_controller_node",
                 output="screen", parameters=[params]),
        ])

    default_params = os.path.join(get_package_share_directory("vla_grounding"), "config", config)
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameters (YAML)"),
        DeclareLaunchArgument("camera", default_value=camera, description="camera driver namespace"),
        OpaqueFunction(function=nodes),
    ])
