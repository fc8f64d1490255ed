"""The launch files and YAML configs only name executables, files and parameters that exist.

`launch` cannot be installed here, so the launch files are checked statically: every Node()
names an installed executable, every parameter file exists, and every parameter set in a
YAML config or a launch file is one the node declares.
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
    """Parameter names the node's source declares (declare(), declare_workspace(), declare_camera_pose())."""
    source = (ROOT / "vla_grounding" / "nodes" / f"{node}.py").read_text()
    names = set(re.findall(r'declare\(\s*self,\s*"([^"]+)"', source))
    if "declare_workspace(self)" in source:
        names |= {f"workspace.{k}" for k in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "pixel_size")}
    if "declare_camera_pose(self" in source:
        names.add("camera_pose")
    return names


def flatten(params: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in params.items():
        name = f"{prefix}{key}"
        out |= flatten(value, name + ".") if isinstance(value, dict) else {name}
    return out


def launch_nodes(path: Path) -> list[dict]:
    """The keyword arguments of every Node(...) call, as source text or literals."""
    calls = []
    for call in ast.walk(ast.parse(path.read_text())):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node":
            kwargs = {kw.arg: kw.value for kw in call.keywords}
            calls.append(kwargs)
    return calls


def test_every_node_declares_something():
    for node in NODES:
        assert len(declared_parameters(node)) >= 5, node


@pytest.mark.parametrize("config", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
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
    text = launch_file.read_text()
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for yaml_name in re.findall(r'"(\w+\.yaml)"', text):
        assert (ROOT / "config" / yaml_name).is_file(), yaml_name
    nodes = launch_nodes(launch_file)
    assert nodes, "no Node() in the launch file"
    for kwargs in nodes:
        assert ast.literal_eval(kwargs["package"]) == "vla_grounding"
        executable = ast.literal_eval(kwargs["executable"])
        assert (ROOT / "scripts" / "nodes" / executable).is_file(), executable
        assert f"scripts/nodes/{executable}" in cmake, f"{executable} is not installed by CMakeLists.txt"
        for item in getattr(kwargs.get("parameters"), "elts", []):
            if isinstance(item, ast.Dict):
                names = {ast.literal_eval(k) for k in item.keys}
                assert names <= declared_parameters(executable), f"{executable}: {names}"
        for remap in getattr(kwargs.get("remappings"), "elts", []):
            source = ast.literal_eval(remap.elts[0])
            assert source.startswith("camera/"), source


def test_installed_executables_match_node_modules():
    for node in NODES:
        script = (ROOT / "scripts" / "nodes" / node).read_text()
        assert f"from vla_grounding.nodes.{node} import main" in script
