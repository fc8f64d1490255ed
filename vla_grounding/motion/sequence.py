"""The pick-and-place motion sequence, as waypoints and tool commands (no ROS, no robot).

Approach above the pick, descend, grasp, lift, move above the place, descend, release,
retreat. The arm controller runs these stages one by one through a robot backend
(ros2_control or MoveIt), reporting each stage as action feedback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_grounding.perception.workspace import Workspace


@dataclass(frozen=True)
class SequenceConfig:
    approach_height: float = 0.08  # metres above pick/place for the approach and retreat
    travel_height: float = 0.25  # absolute z (base frame) for moves across the table
    pick_press: float = 0.01  # descend this far below the pick surface (contact-guarded in sim)
    release_gap: float = 0.005  # held object's bottom this high above the place height at release
    tool: str = "suction"  # suction: the object hangs below the tip; gripper: held pick_press below its top


@dataclass(frozen=True)
class Stage:
    name: str  # approach_pick, descend_pick, grasp, lift, move_to_place, descend_place, release, retreat
    position: np.ndarray | None = None  # tool tip target (base frame), for moves
    yaw: float = 0.0
    tool_on: bool | None = None  # for grasp/release


STAGE_NAMES = ("approach_pick", "descend_pick", "grasp", "lift", "move_to_place", "descend_place", "release",
               "retreat")


def check_targets(workspace: Workspace, pick: np.ndarray, place: np.ndarray) -> None:
    """ValueError unless both positions are finite and inside the workspace (never below the table)."""
    for name, xyz in (("pick", pick), ("place", place)):
        xyz = np.asarray(xyz, dtype=float).reshape(-1)
        if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
            raise ValueError(f"{name} position {xyz.tolist()} is not 3 finite numbers")
        if xyz[2] < workspace.z_min:
            raise ValueError(f"{name} position z={xyz[2]:.3f} m is below the table (z_min {workspace.z_min:.3f})")
        if not workspace.contains(xyz):
            raise ValueError(f"{name} position {np.round(xyz, 3).tolist()} is outside the workspace "
                             f"x [{workspace.x_min}, {workspace.x_max}], y [{workspace.y_min}, {workspace.y_max}], "
                             f"z [{workspace.z_min}, {workspace.z_max}]")


def pick_place_stages(pick: np.ndarray, pick_yaw: float, place: np.ndarray, place_yaw: float,
                      workspace: Workspace, config: SequenceConfig = SequenceConfig()) -> list[Stage]:
    """The eight stages for one pick-and-place; targets are checked first (ValueError)."""
    pick, place = np.asarray(pick, dtype=float), np.asarray(place, dtype=float)
    check_targets(workspace, pick, place)
    held_height = max(pick[2] - workspace.z_min, 0.0)  # the object rested on the table
    if config.tool == "gripper":  # the tool point is between the fingers, pick_press below the object's top
        held_height = max(held_height - config.pick_press, 0.0)
    travel = max(config.travel_height, pick[2] + config.approach_height, place[2] + held_height +
                 config.approach_height)
    above_pick = np.array([pick[0], pick[1], pick[2] + config.approach_height])
    press = np.array([pick[0], pick[1], max(pick[2] - config.pick_press, workspace.z_min)])
    release = np.array([place[0], place[1], place[2] + held_height + config.release_gap])
    return [
        Stage("approach_pick", above_pick, pick_yaw),
        Stage("descend_pick", press, pick_yaw),
        Stage("grasp", tool_on=True),
        Stage("lift", np.array([pick[0], pick[1], travel]), pick_yaw),
        Stage("move_to_place", np.array([place[0], place[1], travel]), place_yaw),
        Stage("descend_place", release, place_yaw),
        Stage("release", tool_on=False),
        Stage("retreat", np.array([place[0], place[1], travel]), place_yaw),
    ]
