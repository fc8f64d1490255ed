"""One interface for every policy: ``act(frame, instruction) -> PickPlacePlan``.

The nodes, the evaluation command and the demo only ever talk to this interface, so a
policy (oracle, CLIP region grounding, CLIPort transporter) is chosen by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vla_grounding.perception.camera import RGBDFrame


class GroundingRefused(Exception):
    """The policy will not act on this instruction/frame; the message says why."""


@dataclass
class PickPlacePlan:
    """Where to pick and where to place, in the robot base frame (metres, radians)."""

    pick_position: np.ndarray  # (3,) x, y, z of the grasp point on the object's top
    place_position: np.ndarray  # (3,) x, y, z where the grasped object's bottom should go
    pick_yaw: float = 0.0  # tool rotation about base z at the pick
    place_yaw: float = 0.0  # tool rotation about base z at the place
    pick_confidence: float = 1.0  # 0..1
    place_confidence: float = 1.0  # 0..1
    pick_pixel: tuple[int, int] = (-1, -1)  # (row, col) in the policy's image, -1 if none
    place_pixel: tuple[int, int] = (-1, -1)
    policy: str = ""
    instruction: str = ""
    pick_phrase: str = ""
    place_phrase: str = ""
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W) float
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    warnings: list[str] = field(default_factory=list)  # for the user's log (e.g. a calibration that looks off)


class Policy(Protocol):
    name: str

    def act(self, frame: RGBDFrame, instruction: str) -> PickPlacePlan:
        """Ground ``instruction`` in ``frame``; raise GroundingRefused to refuse."""
        ...


# name -> "module:Class"; the class takes keyword options (checkpoint, device, ...).
POLICIES: dict[str, str] = {
    "clip_regions": "vla_grounding.grounding.policy:ClipRegionsPolicy",
    "cliport": "vla_grounding.cliport.policy:CliportPolicy",
}


def make_policy(name: str, **options) -> Policy:
    """Build a policy by name, importing its (heavy) module only now."""
    import importlib

    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    module_name, class_name = POLICIES[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)
