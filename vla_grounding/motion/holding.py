"""Whether the arm holds an object, and what may happen next (no ROS).

After a grasp the arm holds an object until a release. A goal that ends early (failure,
cancel, shutdown) leaves it holding: the controller then refuses new goals, because a
new pick would carry the object into the scene, until the object is released or an
operator clears the state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HeldObject:
    holding: bool = False
    since: str = ""  # what the goal was when the grasp happened

    def grasped(self, what: str) -> None:
        self.holding, self.since = True, what

    def released(self) -> None:
        self.holding, self.since = False, ""

    def refusal(self) -> str:
        """Why a new goal is refused now, or "" when it may run."""
        if not self.holding:
            return ""
        return (f"the arm is holding an object (grasped for {self.since!r}): call the release_held_object "
                "service to release it here, or clear_held_object once it has been removed by hand")

    def status(self) -> str:
        return f"holding (grasped for {self.since!r})" if self.holding else "empty"
