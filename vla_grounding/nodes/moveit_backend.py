"""MoveIt 2 through moveit_py: plan to a pose goal of ``tool_link`` and execute it.

Imported only when selected (moveit_py exists on real ROS installs, not in the wheels).
Untested here: no MoveIt can be installed on these machines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node

from vla_grounding.motion.sequence import Stage
from vla_grounding.nodes.pose_msgs import tool_pose_stamped


class MoveItBackend:
    interface = "moveit_py"

    def __init__(self, node: Node, base_frame: str, planning_group: str, tool_link: str) -> None:
        try:
            from moveit.planning import MoveItPy
        except ImportError as exc:
            raise RuntimeError("backend 'moveit' needs moveit_py (ROS 2 Jazzy or later with MoveIt 2 installed); "
                               "use backend 'ros2_control' for the package's simulator") from exc
        self.base_frame, self.tool_link = base_frame, tool_link
        self.robot = MoveItPy(node_name=f"{node.get_name()}_moveit")
        self.arm = self.robot.get_planning_component(planning_group)

    def prepare(self, stages: list[Stage]) -> tuple[list[Stage] | None, str]:
        return stages, ""

    def move_tool(self, position: np.ndarray, yaw: float, cancelled: Callable[[], bool]) -> tuple[bool, str]:
        self.arm.set_start_state_to_current_state()
        self.arm.set_goal_state(pose_stamped_msg=tool_pose_stamped(self.base_frame, position, yaw),
                                pose_link=self.tool_link)
        plan = self.arm.plan()
        if not plan:
            return False, f"MoveIt found no plan to {np.round(position, 3).tolist()}"
        self.robot.execute(plan.trajectory, controllers=[])
        return True, "executed"

    def stop_arm(self) -> None:
        pass
