"""How the arm controller moves the tool: the simulator's services, or MoveIt (moveit_py).

Both offer the same two primitives, so the controller's pick-and-place sequence is the
same on a real arm, in Gazebo and in the package's simulator. The MoveIt backend is
imported only when selected (moveit_py exists on real ROS installs, not in the wheels).
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_srvs.srv import SetBool

from vla_grounding.nodes.pose_msgs import tool_pose_stamped
from vla_grounding.nodes.service_call import call


class MotionBackend(Protocol):
    def move_tool(self, position: np.ndarray, yaw: float, speed: float = 0.0) -> tuple[bool, str]:
        """Tool tip (straight down, turned by ``yaw``) to ``position`` in the base frame."""
        ...

    def set_tool(self, on: bool) -> tuple[bool, str]:
        """Suction/gripper on (grasp) or off (release)."""
        ...


class ToolService:
    """The suction/gripper as a std_srvs/SetBool service (sim_node's ``sim/suction`` or a robot driver's)."""

    def __init__(self, node: Node, service: str, timeout: float, stop: threading.Event | None = None) -> None:
        self.node, self.timeout, self.stop = node, timeout, stop
        self.client = node.create_client(SetBool, service, callback_group=ReentrantCallbackGroup())

    def set_tool(self, on: bool) -> tuple[bool, str]:
        response = call(self.node, self.client, SetBool.Request(data=on), self.timeout, self.stop)
        return bool(response.success), response.message


class SimBackend(ToolService):
    """sim_node's ``sim/move_tool`` (straight-line, contact-guarded descents) and ``sim/suction``."""

    def __init__(self, node: Node, base_frame: str, move_service: str, tool_service: str, timeout: float,
                 stop: threading.Event | None = None) -> None:
        from vla_grounding.srv import MoveTool

        super().__init__(node, tool_service, timeout, stop)
        self.base_frame, self._srv = base_frame, MoveTool
        self.move_client = node.create_client(MoveTool, move_service, callback_group=ReentrantCallbackGroup())

    def move_tool(self, position: np.ndarray, yaw: float, speed: float = 0.0) -> tuple[bool, str]:
        request = self._srv.Request(target=tool_pose_stamped(self.base_frame, position, yaw), speed=float(speed))
        response = call(self.node, self.move_client, request, self.timeout, self.stop)
        return bool(response.success), response.message


class MoveItBackend(ToolService):
    """MoveIt 2 through moveit_py: plan to a pose goal of ``tool_link`` and execute it."""

    def __init__(self, node: Node, base_frame: str, planning_group: str, tool_link: str, tool_service: str,
                 timeout: float, stop: threading.Event | None = None) -> None:
        try:
            from moveit.planning import MoveItPy
        except ImportError as exc:
            raise RuntimeError("backend 'moveit' needs moveit_py (ROS 2 Jazzy or later with MoveIt 2 installed); "
                               "use backend 'sim' for the package's simulator") from exc
        super().__init__(node, tool_service, timeout, stop)
        self.base_frame, self.tool_link = base_frame, tool_link
        self.robot = MoveItPy(node_name=f"{node.get_name()}_moveit")
        self.arm = self.robot.get_planning_component(planning_group)

    def move_tool(self, position: np.ndarray, yaw: float, speed: float = 0.0) -> tuple[bool, str]:
        self.arm.set_start_state_to_current_state()
        self.arm.set_goal_state(pose_stamped_msg=tool_pose_stamped(self.base_frame, position, yaw),
                                pose_link=self.tool_link)
        plan = self.arm.plan()
        if not plan:
            return False, f"MoveIt found no plan to {np.round(position, 3).tolist()}"
        self.robot.execute(plan.trajectory, controllers=[])
        return True, "executed"
