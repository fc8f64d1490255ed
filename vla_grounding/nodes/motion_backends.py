"""What the arm controller needs from a robot backend (ros2_control_backend, moveit_backend).

Both move the tool point along the pick-and-place stages, so the controller's sequence,
its held-object logic and its cancel handling are the same on a real arm, in Gazebo and
in the package's simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from vla_grounding.motion.sequence import Stage


class MotionBackend(Protocol):
    interface: str  # how it talks to the robot, for the log

    def prepare(self, stages: list[Stage]) -> tuple[list[Stage] | None, str]:
        """The stages (yaws possibly turned to ones the arm reaches) or (None, why); nothing moves."""
        ...

    def move_tool(self, position: np.ndarray, yaw: float, cancelled: Callable[[], bool],
                  stage: str = "") -> tuple[bool, str]:
        """Tool point (straight down, turned by ``yaw``) to ``position`` in the base frame for ``stage``
        (the stage's name: MoveIt plans vertical ones as straight lines); stops when ``cancelled``."""
        ...

    def stop_arm(self) -> None:
        """Stop any motion now."""
        ...

    # optional: attach(size) / detach() keep a planning scene's held object (MoveIt); close() on shutdown
