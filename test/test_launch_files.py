"""The launch files and YAML configs only name executables, files and parameters that exist.

A static check that runs everywhere, the wheel-only set-up included: every node a launch file
starts is an installed executable, every parameter file exists, and every parameter set in a
YAML config or by a launch argument is one the node declares. Where the real launch is
installed, test_ros_launch.py runs the launch files themselves.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NODES = ("sim_node", "grounding_node", "arm_controller_node")
ROS_BUILTIN = {"use_sim_time"}


def declared_parameters(node: str) -> set[str]:
    """Parameter names the node's source declares (declare(), declare_workspace(), declare_camera_pose(),
    declare_fiducials())."""
    source = (ROOT / "vla_grounding" / "nodes" / f"{node}.py").read_text()
    names = set(re.findall(r'declare\(\s*self,\s*"([^"]+)"', source))
    if "declare_workspace(self)" in source:
        names |= {f"workspace.{k}" for k in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "pixel_size")}
    if "declare_camera_pose(self" in source:
        names.add("camera_pose")
    if "declare_fiducials(self)" in source:
        names |= {f"fiducials.{k}" for k in ("ids", "xy", "size", "height", "dictionary")}
    return names


def flatten(params: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in params.items():
        name = f"{prefix}{key}"
        out |= flatten(value, name + ".") if isinstance(value, dict) else {name}
    return out


def test_every_node_declares_something():
    for node in NODES:
        assert len(declared_parameters(node)) >= 5, node


# gz_ros2_control's, ros_gz_bridge's (test_gazebo.py) and MoveIt's (test_moveit_contract.py) files
FOREIGN = {"gazebo_controllers.yaml", "gazebo_bridge.yaml", "moveit_py.yaml", "fr3_moveit_controllers.yaml"}


@pytest.mark.parametrize("config", sorted(p for p in (ROOT / "config").glob("*.yaml") if p.name not in FOREIGN),
                         ids=lambda p: p.name)
def test_yaml_parameters_are_declared_by_their_nodes(config):
    data = yaml.safe_load(config.read_text())
    declared = {node: declared_parameters(node) for node in NODES}
    for section, body in data.items():
        params = flatten(body["ros__parameters"])
        if section == "/**":
            known = set().union(*declared.values()) | ROS_BUILTIN
        else:
            assert section in NODES, f"{config.name}: unknown node section {section!r}"
            known = declared[section] | ROS_BUILTIN
        assert params <= known, f"{config.name} [{section}]: undeclared {sorted(params - known)}"


@pytest.mark.parametrize("launch_file", sorted((ROOT / "launch").glob("*.launch.py")), ids=lambda p: p.name)
def test_launch_files_reference_existing_executables_files_and_parameters(launch_file):
    own = launch_file.read_text()
    text = own + (ROOT / "vla_grounding" / "nodes" / "launch_support.py").read_text()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for yaml_name in re.findall(r'(?:"config", |robot_launch_description\()"(\w+\.yaml)"', own):
        assert (ROOT / "config" / yaml_name).is_file(), yaml_name
    executables = (set(re.findall(r'package="vla_grounding", executable="(\w+)"', text))
                   | set(re.findall(r'"(\w+_node)"', own)))
    assert executables and executables <= set(NODES), executables
    for executable in executables:
        assert (ROOT / "scripts" / "nodes" / executable).is_file(), executable
        assert f"scripts/nodes/{executable}" in cmake, f"{executable} is not installed by CMakeLists.txt"
    for node in ast.walk(ast.parse(own)):  # ARGUMENTS = {argument: ([(node, parameter), ...], description)}
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "ARGUMENTS":
            for argument, (targets, _) in ast.literal_eval(node.value).items():
                for executable, parameter in targets:
                    assert parameter in declared_parameters(executable), f"{argument}: {executable} has no {parameter}"
    for source in re.findall(r'"(camera/[\w/]+)":', own):
        assert source in (ROOT / "vla_grounding" / "nodes" / "grounding_node.py").read_text(), source


def test_installed_executables_match_node_modules():
    for node in NODES:
        script = (ROOT / "scripts" / "nodes" / node).read_text()
        assert f"from vla_grounding.nodes.{node} import main" in script
