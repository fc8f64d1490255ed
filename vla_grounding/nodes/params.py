"""Declare-and-validate helpers so every node parameter has a description and a checked value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from vla_grounding.perception.fiducials import DICTIONARIES, FiducialLayout
from vla_grounding.perception.transforms import pose_list_to_matrix
from vla_grounding.perception.workspace import Workspace


class ParameterError(ValueError):
    """A parameter has a value the node cannot work with; the message names it."""


def declare(
    node: Node,
    name: str,
    default: Any,
    description: str,
    *,
    choices: Sequence[str] | None = None,
    low: float | None = None,
    high: float | None = None,
    read_only: bool = True,
) -> Any:
    """Declare ``name`` with a description (and range), return its validated value."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if choices:
        descriptor.additional_constraints = "one of: " + ", ".join(choices)
    if (low is not None or high is not None) and isinstance(default, float):
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(low if low is not None else -1e308), to_value=float(high if high is not None else 1e308))]
    elif (low is not None or high is not None) and isinstance(default, int) and not isinstance(default, bool):
        descriptor.integer_range = [IntegerRange(
            from_value=int(low if low is not None else -(2**62)), to_value=int(high if high is not None else 2**62), step=1)]
    try:
        if isinstance(default, list) and not default:  # empty arrays need an explicit type
            value = node.declare_parameter(name, Parameter.Type.DOUBLE_ARRAY, descriptor).value or []
        else:
            value = node.declare_parameter(name, default, descriptor).value
    except InvalidParameterTypeException as exc:
        # rclpy checks types (and ranges, below) before we see the value: say it in one line
        raise ParameterError(_wrong_type(node, name, default)) from exc
    except InvalidParameterValueException as exc:
        raise ParameterError(f"parameter {name!r} is {_override(node, name)!r}; expected {_bounds(low, high)}") from exc
    if choices and value not in choices:
        raise ParameterError(f"parameter {name!r} is {value!r}; expected one of {list(choices)}")
    if low is not None and value < low or high is not None and value > high:
        raise ParameterError(f"parameter {name!r} is {value}; expected {_bounds(low, high)}")
    return list(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a value in [{low}, {high}]"
    return f"a value >= {low}" if low is not None else f"a value <= {high}"


def _override(node: Node, name: str) -> Any:
    """The value given for ``name`` on the command line or in a parameter file (None if absent)."""
    override = getattr(node, "_parameter_overrides", {}).get(name)  # rclpy keeps no public accessor
    return None if override is None else override.value


_TYPE_WORDS = {bool: "a boolean (true/false)", int: "an integer", float: "a floating-point number",
               str: "a string", list: "a list of floating-point numbers"}


def _wrong_type(node: Node, name: str, default: Any) -> str:
    given = _override(node, name)
    hint = f" (write {float(given)!r})" if isinstance(default, float) and isinstance(given, int) else ""
    if isinstance(default, list) and isinstance(given, (list, tuple)) and all(isinstance(v, int) for v in given):
        hint = " (write every number with a decimal point, e.g. 1.0)"
    return (f"parameter {name!r} must be {_TYPE_WORDS.get(type(default), type(default).__name__)}, "
            f"got {given!r}{hint}")


def declare_workspace(node: Node) -> Workspace:
    """The workspace box (base frame) shared by all nodes: ``workspace.x_min`` ... ``workspace.pixel_size``."""
    defaults = Workspace()
    values = {
        key: declare(node, f"workspace.{key}", float(getattr(defaults, key)),
                     f"workspace bound {key} (metres, base frame); poses outside are never published or executed"
                     if key != "pixel_size" else "metres per pixel of the top-down policy image")
        for key in defaults.as_dict()
    }
    try:
        return Workspace(**values)
    except ValueError as exc:
        raise ParameterError(f"workspace parameters: {exc}") from exc


def declare_camera_pose(node: Node, description: str):
    """``camera_pose`` [x, y, z, qx, qy, qz, qw] of the optical frame in the base frame, or None if empty."""
    values = declare(node, "camera_pose", [], description)
    if not values:
        return None
    try:
        return pose_list_to_matrix(values)
    except ValueError as exc:
        raise ParameterError(f"parameter 'camera_pose': {exc}") from exc


def declare_fiducials(node: Node) -> FiducialLayout | None:
    """The ArUco markers on the table (perception.fiducials): ``fiducials.ids``, ``fiducials.xy``,
    ``fiducials.size``, ``fiducials.height``, ``fiducials.dictionary``; None when ``xy`` is empty."""
    ids = declare(node, "fiducials.ids", [0, 1, 2, 3], "ArUco ids of the markers on the table, in the order of "
                  "fiducials.xy (its first len(xy) / 2)")
    xy = declare(node, "fiducials.xy", [], "marker centres [x0, y0, x1, y1, ...] (metres, base frame), outside the "
                 "workspace; empty = no markers")
    size = declare(node, "fiducials.size", 0.05, "side of each marker's black square (m)", low=0.001)
    height = declare(node, "fiducials.height", 0.0, "the printed surface's height above the table (m)", low=0.0)
    dictionary = declare(node, "fiducials.dictionary", "DICT_4X4_50", "ArUco dictionary", choices=DICTIONARIES)
    if not xy:
        return None
    try:
        return FiducialLayout.from_flat(ids[: len(xy) // 2], xy, size, dictionary, height)
    except ValueError as exc:
        raise ParameterError(f"fiducials parameters: {exc}") from exc
