"""The arm's tool, as robots offer it: a suction I/O service or a parallel-gripper controller.

Each reports whether a grasp took: the suction service's success (a vacuum sensor's
answer), or how far the fingers closed (closed to nothing = nothing between them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from vla_grounding.nodes.action_call import SafeActionClient
from vla_grounding.nodes.service_call import Stopped, call


class SuctionTool:
    """Suction through std_srvs/SetBool (true = on; success = the cup holds something), or a UR
    digital output through ur_msgs/SetIO (``ur_set_io``: no vacuum sensor, so a grasp is not verified)."""

    def __init__(self, node: Node, service: str, timeout: float, stop: threading.Event,
                 interface: str = "set_bool", pin: int = 0) -> None:
        self.node, self.timeout, self.stop, self.interface, self.pin = node, timeout, stop, interface, pin
        if interface == "ur_set_io":
            try:
                from ur_msgs.srv import SetIO
            except ImportError as exc:
                raise RuntimeError("tool.suction_interface 'ur_set_io' needs ur_msgs (ros-jazzy-ur-msgs)") from exc
            self._set_io = SetIO
            self.client = node.create_client(SetIO, service, callback_group=ReentrantCallbackGroup())
        else:
            self.client = node.create_client(SetBool, service, callback_group=ReentrantCallbackGroup())

    def set(self, on: bool) -> tuple[bool, str]:
        if self.interface == "ur_set_io":
            request = self._set_io.Request(fun=self._set_io.Request.FUN_SET_DIGITAL_OUT, pin=self.pin,
                                           state=1.0 if on else 0.0)
            response = call(self.node, self.client, request, self.timeout, self.stop)
            state = "on" if on else "off"
            if not response.success:
                return False, f"the robot refused to switch digital output {self.pin} {state}"
            return True, f"suction {state} (digital output {self.pin}; no vacuum sensor: the grasp is not verified)"
        response = call(self.node, self.client, SetBool.Request(data=on), self.timeout, self.stop)
        if on and not response.success:
            return False, f"the suction cup did not attach: {response.message}"
        return bool(response.success), response.message


class GripperTool:
    """A parallel gripper: control_msgs GripperCommand where installed, else forward_command_controller's topic.

    Positions are the controller's (for the Panda: each finger's opening, m). A close that
    ends with the fingers below ``min_grasp`` has nothing between them.
    """

    def __init__(self, node: Node, controller: str, interface: str, open_position: float, effort: float,
                 min_grasp: float, finger_joint: str, finger_position: Callable[[str], float | None],
                 timeout: float, stop: threading.Event, action_name: str = "") -> None:
        self.node, self.open_position, self.effort, self.min_grasp = node, open_position, effort, min_grasp
        self.finger_joint, self.finger_position, self.timeout, self.stop = finger_joint, finger_position, timeout, stop
        self.action = None
        if interface in ("auto", "action"):
            try:
                from control_msgs.action import GripperCommand

                self._goal_type = GripperCommand.Goal
                self.action = SafeActionClient(node, GripperCommand, action_name or f"{controller}/gripper_cmd",
                                           callback_group=ReentrantCallbackGroup())
            except ImportError:
                if interface == "action":
                    raise RuntimeError("controller.interface 'action' needs control_msgs (GripperCommand); "
                                       "install it or use 'topic'") from None
        self.publisher = node.create_publisher(Float64MultiArray, f"{controller}/commands", 10)

    def set(self, on: bool) -> tuple[bool, str]:
        target = 0.0 if on else self.open_position
        position = self._command_action(target) if self.action is not None else self._command_topic(target)
        if on and position < self.min_grasp:
            return False, f"the fingers closed on nothing (opening {position * 1000:.1f} mm)"
        if on:
            return True, f"fingers closed on an object ({position * 1000:.1f} mm each side)"
        return abs(position - target) < 0.005, f"fingers open ({position * 1000:.1f} mm each side)"

    def _command_action(self, target: float) -> float:
        from vla_grounding.nodes.action_call import send_goal

        goal = self._goal_type()
        goal.command.position, goal.command.max_effort = float(target), float(self.effort)
        result = send_goal(self.node, self.action, goal, self.timeout, self.stop, lambda: False)
        return float(result.position)

    def _command_topic(self, target: float) -> float:
        self.publisher.publish(Float64MultiArray(data=[float(target)]))
        deadline, start, last, still = time.monotonic() + self.timeout, None, None, time.monotonic()
        while time.monotonic() < deadline:  # until the finger is at the target, or moved and stopped (on an object)
            if self.stop.is_set():
                raise Stopped("stopped waiting for the gripper: the node is shutting down")
            position = self.finger_position(self.finger_joint)
            if position is not None:
                start = position if start is None else start
                if abs(position - target) < 1e-3:
                    return float(position)
                if last is None or abs(position - last) > 1e-4:
                    last, still = position, time.monotonic()
                elif abs(position - start) > 1e-4 and time.monotonic() - still > 0.2:
                    return float(position)
            time.sleep(0.02)
        raise TimeoutError(f"joint_states did not show {self.finger_joint} settle within {self.timeout:g} s")
