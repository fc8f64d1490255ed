"""The ros2_control backend: IK and straight-line joint trajectories for any arm with the standard controllers.

What it needs from the robot (a real arm, Gazebo with gz_ros2_control, or sim_node):
``robot_description`` (URDF, transient local), ``joint_states``, a joint_trajectory_controller
(its FollowJointTrajectory action where control_msgs is installed, else its
``joint_trajectory`` topic), and the tool (tool_clients). Poses are taken in the URDF's root
frame: ``base_frame`` must be that frame or coincide with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from vla_grounding.motion.cartesian import JointPath, MotionLimits, line_path
from vla_grounding.motion.kinematics import ArmKinematics
from vla_grounding.motion.sequence import Stage
from vla_grounding.nodes.action_call import Cancelled, SafeActionClient, send_goal
from vla_grounding.nodes.joint_msgs import duration, joint_positions, path_to_msg
from vla_grounding.nodes.service_call import Stopped

JOINT_STATE_MAX_AGE = 1.0  # s: older joint_states mean the robot is not reporting
STARTUP_WAIT = 3.0  # s a goal waits for robot_description and joint_states


class Ros2ControlBackend:
    def __init__(self, node: Node, *, tool_link: str, tool_offset: float, trajectory_controller: str,
                 interface: str, limits: MotionLimits, path_tolerance: float, goal_tolerance: float,
                 goal_time_tolerance: float, stop: threading.Event,
                 yaw_choices: tuple[float, ...]) -> None:
        self.node, self.limits, self.stop = node, limits, stop
        self.tool_link, self.tool_offset, self.yaw_choices = tool_link, tool_offset, yaw_choices
        self.path_tolerance, self.goal_tolerance, self.goal_time_tolerance = (path_tolerance, goal_tolerance,
                                                                               goal_time_tolerance)
        self.kinematics: ArmKinematics | None = None
        self.description_error = ""
        self._joints: dict[str, float] = {}
        self._joints_stamp = 0.0
        self._joints_lock = threading.Lock()
        group = ReentrantCallbackGroup()
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(String, "robot_description", self._on_description, latched, callback_group=group)
        node.create_subscription(JointState, "joint_states", self._on_joint_states, 20, callback_group=group)
        self.publisher = node.create_publisher(JointTrajectory, f"{trajectory_controller}/joint_trajectory", 10)
        self.action = None
        if interface in ("auto", "action"):
            try:
                from control_msgs.action import FollowJointTrajectory

                self._goal_type = FollowJointTrajectory.Goal
                self.action = SafeActionClient(node, FollowJointTrajectory,
                                           f"{trajectory_controller}/follow_joint_trajectory", callback_group=group)
            except ImportError:
                if interface == "action":
                    raise RuntimeError("controller.interface 'action' needs control_msgs (FollowJointTrajectory); "
                                       "install it or use 'topic'") from None
        self.interface = "action" if self.action is not None else "topic"

    # -- robot state ------------------------------------------------------------------------

    def _on_description(self, msg: String) -> None:
        try:
            self.kinematics = ArmKinematics(msg.data, self.tool_link, self.tool_offset)
            self.description_error = ""
            self.node.get_logger().info(f"robot_description: arm joints {self.kinematics.joint_names}, "
                                        f"tool point {self.tool_offset:g} m beyond {self.tool_link}")
        except ValueError as exc:
            self.description_error = str(exc)
            self.node.get_logger().error(f"cannot use robot_description: {exc}")

    def _on_joint_states(self, msg: JointState) -> None:
        with self._joints_lock:
            self._joints.update(zip(msg.name, msg.position, strict=False))
            self._joints_stamp = time.monotonic()

    def joint(self, name: str) -> float | None:
        with self._joints_lock:
            return self._joints.get(name) if time.monotonic() - self._joints_stamp < JOINT_STATE_MAX_AGE else None

    def current(self, wait: float = 0.0) -> np.ndarray:
        """The arm's joint positions from joint_states (waiting up to ``wait`` s for them); RuntimeError when unknown."""
        deadline = time.monotonic() + wait
        while self.kinematics is None and time.monotonic() < deadline and not self.stop.is_set():
            time.sleep(0.02)
        kin = self._kinematics()
        while True:
            with self._joints_lock:
                age = time.monotonic() - self._joints_stamp
                names, values = list(self._joints), list(self._joints.values())
            q = joint_positions(kin.joint_names, names, values)
            if (q is not None and age <= JOINT_STATE_MAX_AGE) or time.monotonic() >= deadline or self.stop.is_set():
                break
            time.sleep(0.02)
        if q is None or age > JOINT_STATE_MAX_AGE:
            raise RuntimeError("no current joint_states for the arm's joints "
                               f"{kin.joint_names} (is the robot's joint_state_broadcaster running?)")
        return q

    def tool_error(self, position: np.ndarray, timeout: float = 1.0, tolerance: float = 0.005) -> float:
        """How far (m) the tool is from ``position``, waiting up to ``timeout`` s for joint_states to
        show it within ``tolerance``: after the controller reports a motion done, the joint_states
        held (or still queued) may have been sent before the motion ended."""
        kin = self._kinematics()
        deadline = time.monotonic() + timeout
        while True:
            error = float(np.linalg.norm(kin.tool_pose(self.current())[0] - position))
            if error <= tolerance or time.monotonic() >= deadline or self.stop.is_set():
                return error
            time.sleep(0.01)

    def current_at_rest(self, timeout: float = 1.0, tolerance: float = 1e-5) -> np.ndarray:
        """The arm's joint positions once two joint_states in a row agree within ``tolerance``
        rad (a stopped arm may still be decelerating: plan from where it comes to rest), or the
        latest after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        previous = self.current()
        while time.monotonic() < deadline and not self.stop.is_set():
            time.sleep(0.03)
            q = self.current()
            if np.max(np.abs(q - previous)) <= tolerance:
                return q
            previous = q
        return self.current()

    def _kinematics(self) -> ArmKinematics:
        if self.kinematics is None:
            raise RuntimeError(self.description_error or "no robot_description received yet")
        return self.kinematics

    # -- planning -----------------------------------------------------------------------------

    def prepare(self, stages: list[Stage]) -> tuple[list[Stage] | None, str]:
        """The stages with tool yaws the arm can reach along every line, or (None, why); nothing moves."""
        try:
            q = self.current(wait=STARTUP_WAIT)  # a robot that has just come up
        except RuntimeError as exc:
            return None, str(exc)
        moves = [s for s in stages if s.position is not None]
        for offset in self.yaw_choices:
            shifted = [replace(s, yaw=s.yaw + offset) if s.position is not None else s for s in stages]
            q_now, ok = q, True
            for stage in [s for s in shifted if s.position is not None]:
                path = line_path(self.kinematics, q_now, stage.position, stage.yaw, self.limits)
                if path is None:
                    ok = False
                    break
                q_now = path.end
            if ok:
                return shifted, ""
        where = np.round(moves[0].position, 3).tolist() if moves else []
        return None, f"the arm cannot reach the pick or place along straight lines (first target {where})"

    # -- motion ----------------------------------------------------------------------------------

    def move_tool(self, position: np.ndarray, yaw: float, cancelled: Callable[[], bool],
                  stage: str = "") -> tuple[bool, str]:
        """A straight line to (position, yaw), executed by the trajectory controller; False with why."""
        q = self.current()
        path = line_path(self._kinematics(), q, position, yaw, self.limits)
        if path is None:
            return False, f"no straight-line path to {np.round(position, 3).tolist()} at yaw {yaw:.2f}"
        try:
            if self.action is not None:
                ok, message = self._run_action(path, cancelled)
            else:
                ok, message = self._run_topic(path, cancelled)
        except Cancelled:
            return False, "cancelled during the motion (the arm was stopped)"
        if not ok:
            return False, message
        error = self.tool_error(position)
        if error > 0.005:
            return False, f"the tool ended {error * 1000:.0f} mm from its target"
        return True, message

    def _run_action(self, path: JointPath, cancelled) -> tuple[bool, str]:
        from control_msgs.msg import JointTolerance

        goal = self._goal_type()
        goal.trajectory = path_to_msg(path)
        goal.path_tolerance = [JointTolerance(name=n, position=self.path_tolerance) for n in path.joint_names]
        goal.goal_tolerance = [JointTolerance(name=n, position=self.goal_tolerance) for n in path.joint_names]
        goal.goal_time_tolerance = duration(self.goal_time_tolerance)
        result = send_goal(self.node, self.action, goal, path.duration + self.goal_time_tolerance + 5.0, self.stop,
                           cancelled)
        if result.error_code != 0:
            return False, f"the trajectory controller aborted (error {result.error_code}): {result.error_string}"
        return True, f"trajectory executed ({path.duration:.2f} s)"

    def _run_topic(self, path: JointPath, cancelled) -> tuple[bool, str]:
        self.publisher.publish(path_to_msg(path))
        start = time.monotonic()
        deadline = start + path.duration + self.goal_time_tolerance + 2.0
        while True:
            if self.stop.is_set() or cancelled():
                self.stop_arm()
                if self.stop.is_set():
                    raise Stopped("motion stopped: the node is shutting down")
                raise Cancelled("cancelled")
            q = self.current()
            if time.monotonic() - start >= path.duration and np.max(np.abs(q - path.end)) <= self.goal_tolerance:
                return True, f"trajectory executed ({path.duration:.2f} s, joint_states at the goal)"
            if time.monotonic() > deadline:
                return False, (f"joint_states did not reach the trajectory's goal within "
                               f"{path.duration + self.goal_time_tolerance:.1f} s (off by "
                               f"{np.max(np.abs(q - path.end)):.3f} rad)")
            time.sleep(0.01)

    def stop_arm(self) -> None:
        """Stop the controller's motion now: an empty trajectory on its topic (it holds position)."""
        self.publisher.publish(JointTrajectory(joint_names=list(self._kinematics().joint_names)))
