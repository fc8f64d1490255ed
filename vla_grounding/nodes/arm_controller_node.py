"""arm_controller_node: executes PickPlace decisions on a robot (ros2_control controllers or MoveIt).

- action ``execute_instruction`` (ExecuteInstruction): calls the grounding node's ``ground``
  service, then runs approach, descend, grasp, lift, move, descend, release, retreat with
  feedback per stage. Cancel stops the running trajectory.
- topic ``pick_place`` (PickPlace): each message is executed when ``execute_pick_place`` is
  true and the arm is idle (otherwise dropped with a warning: no backlog of stale plans).
- Held objects: after a grasp the arm holds the object until its release. A goal that ends
  early while holding (failure, cancel) retreats straight up and leaves the node holding:
  it refuses new goals until ``release_held_object`` (opens the tool where the arm is) or
  ``clear_held_object`` (the object was removed by hand), both std_srvs/Trigger. A failed
  grasp (nothing attached, fingers closed on nothing) is reported and the arm retreats.
  ``~/status`` (std_msgs/String, transient local) says what the arm is doing and holding.
Poses outside the workspace bounds or below the table, and poses the arm cannot reach
along straight lines, are refused before anything moves.
"""

from __future__ import annotations

# First, before rclpy and torch load: a SIGINT/SIGTERM from here on exits 0.
import vla_grounding.nodes.stop_signals  # noqa: F401  isort: skip

# isort: split

import threading
import time

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vla_grounding.action import ExecuteInstruction
from vla_grounding.motion.cartesian import MotionLimits
from vla_grounding.motion.holding import HeldObject
from vla_grounding.motion.sequence import STAGE_NAMES, SequenceConfig, pick_place_stages
from vla_grounding.msg import PickPlace
from vla_grounding.nodes.action_call import Cancelled
from vla_grounding.nodes.motion_backends import MotionBackend
from vla_grounding.nodes.params import declare, declare_workspace
from vla_grounding.nodes.run import run_node
from vla_grounding.nodes.service_call import Stopped, call
from vla_grounding.nodes.tool_clients import GripperTool, SuctionTool
from vla_grounding.perception.transforms import yaw_of_quaternion
from vla_grounding.srv import Ground


class ArmControllerNode(Node):
    def __init__(self, **node_options) -> None:
        super().__init__("arm_controller_node", **node_options)
        backend = declare(self, "backend", "ros2_control", "robot backend", choices=["ros2_control", "moveit"])
        self.base_frame = declare(self, "base_frame", "base_link", "robot base frame; PickPlace must be in it")
        self.execute_topic = declare(self, "execute_pick_place", True,
                                     "execute PickPlace messages arriving on pick_place", read_only=False)
        self.ground_timeout = declare(self, "ground_timeout", 60.0, "max seconds for the ground service", low=0.1)
        timeout = declare(self, "motion_timeout", 60.0, "max seconds for one tool command or motion", low=0.1)
        tool = declare(self, "tool.kind", "suction", "the arm's tool", choices=["suction", "gripper"])
        tool_link = declare(self, "tool_link", "panda_grasptarget", "URDF link of the tool centre point (the "
                            "gripper's point between the fingertips); MoveIt places this link")
        suction_offset = declare(self, "tool.suction_offset", 0.025, "suction tip beyond tool_link along its z "
                                 "axis (m)", low=0.0, high=0.5)
        interface = declare(self, "controller.interface", "auto", "joint trajectory controller interface: "
                            "action (FollowJointTrajectory), topic (JointTrajectory + joint_states), or auto "
                            "(the action where control_msgs is installed)", choices=["auto", "action", "topic"])
        trajectory_controller = declare(self, "controller.trajectory", "joint_trajectory_controller",
                                        "name of the joint trajectory controller")
        self.sequence = SequenceConfig(
            approach_height=declare(self, "approach_height", 0.08, "approach/retreat height above objects (m)",
                                    low=0.0, high=0.5),
            travel_height=declare(self, "travel_height", 0.25, "z of moves across the table (m, base frame)",
                                  low=0.0, high=1.5),
            pick_press=declare(self, "pick_press", 0.01, "descend this far below the pick surface (m): suction "
                               "bellows absorb it, gripper fingers close this far down", low=0.0, high=0.05),
            release_gap=declare(self, "release_gap", 0.005, "release height above the place surface (m)",
                                low=0.0, high=0.1),
            tool=tool,
        )
        self.workspace = declare_workspace(self)
        self._busy = threading.Lock()
        self._stopping = threading.Event()  # set on SIGINT/SIGTERM: calls in flight are abandoned, the sequence stops
        self.held = HeldObject()
        self.backend: MotionBackend
        if backend == "ros2_control":
            from vla_grounding.nodes.ros2_control_backend import Ros2ControlBackend

            self.backend = Ros2ControlBackend(
                self, tool_link=tool_link, tool_offset=suction_offset if tool == "suction" else 0.0,
                trajectory_controller=trajectory_controller, interface=interface,
                limits=MotionLimits(
                    speed=declare(self, "speed", 0.3, "tool speed along lines (m/s)", low=0.01, high=2.0),
                    acceleration=declare(self, "acceleration", 1.0, "tool acceleration (m/s^2)", low=0.05, high=20.0),
                    velocity_scaling=declare(self, "velocity_scaling", 0.5, "fraction of each joint's velocity "
                                             "limit", low=0.01, high=1.0)),
                path_tolerance=declare(self, "path_tolerance", 0.1, "FollowJointTrajectory path tolerance per joint "
                                       "(rad; a violation aborts the motion)", low=0.0),
                goal_tolerance=declare(self, "goal_tolerance", 0.01, "goal tolerance per joint (rad)", low=1e-4),
                goal_time_tolerance=declare(self, "goal_time_tolerance", 1.0, "s after a trajectory's end to "
                                            "reach the goal", low=0.0),
                stop=self._stopping,
                yaw_choices=(0.0, np.pi) if tool == "gripper" else (0.0, np.pi / 2, -np.pi / 2, np.pi))
        else:
            from vla_grounding.nodes.moveit_backend import MoveItBackend, MoveItSettings
            from vla_grounding.nodes.processes import package_file

            self.backend = MoveItBackend(self, MoveItSettings(
                config_package=declare(self, "moveit.config_package", "moveit_resources_panda_moveit_config",
                                       "the robot's MoveIt config package"),
                robot_name=declare(self, "moveit.robot_name", "panda", "robot name for moveit_configs_utils"),
                planning_group=declare(self, "moveit.planning_group", "panda_arm", "planning group of the arm"),
                tool_link=tool_link, base_frame=self.base_frame,
                urdf=declare(self, "moveit.urdf", "", "URDF/xacro (relative: in the config package; empty: "
                             "the package's default)"),
                srdf=declare(self, "moveit.srdf", "", "SRDF/xacro (relative: in the config package)"),
                xacro_args=tuple(declare(self, "moveit.xacro_args", "", "name:=value xacro mappings, "
                                         "space-separated").split()),
                controllers=declare(self, "moveit.controllers", "", "trajectory execution YAML (relative: in the "
                                    "config package)"),
                moveit_py_config=declare(self, "moveit.moveit_py_config", str(package_file("config/moveit_py.yaml")),
                                         "moveit_py options: planning scene monitor, pipelines, plan parameters"),
                linear_params=declare(self, "moveit.linear_params", "pilz_lin", "plan parameters for vertical "
                                      "segments (Pilz LIN)"),
                free_params=declare(self, "moveit.free_params", "ompl_rrtc", "plan parameters for transfers"),
            ))
        if tool == "suction":
            self.tool = SuctionTool(
                self, declare(self, "tool.suction_service", "suction", "service switching the suction"), timeout,
                self._stopping,
                declare(self, "tool.suction_interface", "set_bool", "std_srvs/SetBool (true = on) or a UR digital "
                        "output through ur_msgs/SetIO", choices=["set_bool", "ur_set_io"]),
                declare(self, "tool.suction_pin", 0, "ur_set_io: the digital output switching the vacuum", low=0,
                        high=17))
        else:
            finger = declare(self, "tool.finger_joint", "panda_finger_joint1", "joint_states name of a finger")
            self.tool = GripperTool(
                self, declare(self, "controller.gripper", "gripper_controller", "name of the gripper controller"),
                interface,
                declare(self, "tool.gripper_open", 0.04, "gripper command that opens it (m)", low=0.0),
                declare(self, "tool.gripper_effort", 20.0, "max effort when closing (N)", low=0.0),
                declare(self, "tool.min_grasp", 0.002, "a close ending below this (m) holds nothing", low=0.0),
                finger, getattr(self.backend, "joint", lambda name: None), timeout, self._stopping,
                declare(self, "tool.gripper_action", "", "GripperCommand action; empty: "
                        "<controller.gripper>/gripper_cmd"))
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.status_pub = self.create_publisher(String, "~/status", latched)
        self.ground_client = self.create_client(Ground, "ground", callback_group=ReentrantCallbackGroup())
        self._action = ActionServer(
            self, ExecuteInstruction, "execute_instruction", self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())
        self.create_subscription(PickPlace, "pick_place", self._on_pick_place, 10,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        services = ReentrantCallbackGroup()
        self.create_service(Trigger, "release_held_object", self._release_held, callback_group=services)
        self.create_service(Trigger, "clear_held_object", self._clear_held, callback_group=services)
        self._status("idle")
        self.fatal = ""  # set when the node cannot go on: run_node ends the process with code 2
        wait = declare(self, "robot_description_timeout", 0.0, "s to wait for the robot's robot_description "
                       "before giving up (exit 2); 0 = wait for ever", low=0.0)
        if wait > 0 and backend == "ros2_control":
            self._robot_check = self.create_timer(wait, self._check_robot)
        where = f" on {trajectory_controller}" if backend == "ros2_control" else ""
        topic = "executed" if self.execute_topic else "ignored (execute_pick_place false)"
        self.get_logger().info(f"arm controller ready ({backend} backend, {self.backend.interface}{where}, {tool}); "
                               f"PickPlace on the topic: {topic}")

    def _check_robot(self) -> None:
        self._robot_check.cancel()
        if getattr(self.backend, "kinematics", None) is None:
            self.fatal = (f"no robot_description after {self.get_parameter('robot_description_timeout').value:g} s: "
                          "is the robot's bring-up (its driver or simulator) running in this domain and namespace?")

    def _status(self, doing: str) -> None:
        self.status_pub.publish(String(data=f"{doing}; {self.held.status()}"))

    # -- entry points ---------------------------------------------------------------------

    def _on_goal(self, goal: ExecuteInstruction.Goal) -> GoalResponse:
        if self._stopping.is_set():
            self.get_logger().warning("rejecting a goal: the node is shutting down")
            return GoalResponse.REJECT
        if self._busy.locked():
            self.get_logger().warning("rejecting a goal: the arm is busy")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_pick_place(self, msg: PickPlace) -> None:
        if not self.get_parameter("execute_pick_place").value or self._stopping.is_set():
            return
        stages, refusal = self.plan(msg)
        if stages is None:  # refused without taking the arm (a goal may want it meanwhile)
            self.get_logger().error(f"{msg.instruction!r}: {refusal}")
            return
        if not self._busy.acquire(blocking=False):
            self.get_logger().warning(f"dropping PickPlace for {msg.instruction!r}: the arm is busy")
            return
        try:
            ok, message = self.execute(msg, lambda stage, progress: None, lambda: False)
        finally:
            self._busy.release()
        if ok:
            self.get_logger().info(f"{msg.instruction!r}: {message}")
        else:
            self.get_logger().error(f"{msg.instruction!r}: {message}")

    def _execute(self, goal_handle) -> ExecuteInstruction.Result:
        goal = goal_handle.request
        result = ExecuteInstruction.Result()
        if not self._busy.acquire(blocking=False):
            goal_handle.abort()
            result.message = "the arm is busy"
            return result
        try:
            return self._run_goal(goal_handle, goal, result)
        finally:
            result.holding = self.held.holding
            self._busy.release()

    def _run_goal(self, goal_handle, goal, result: ExecuteInstruction.Result) -> ExecuteInstruction.Result:
        def feedback(stage: str, progress: float) -> None:
            goal_handle.publish_feedback(ExecuteInstruction.Feedback(stage=stage, progress=progress))

        if self.held.holding and not goal.dry_run:
            result.message = f"refused: {self.held.refusal()}"
            goal_handle.abort()
            return result
        feedback("grounding", 0.0)
        start = time.monotonic()
        request = Ground.Request(instruction=goal.instruction, min_confidence=goal.min_confidence,
                                 max_image_age=goal.max_image_age)
        try:
            response = call(self, self.ground_client, request, self.ground_timeout, self._stopping)
        except (RuntimeError, TimeoutError) as exc:
            response = Ground.Response(success=False, message=str(exc))
        result.grounding_seconds = time.monotonic() - start
        result.pick_place = response.pick_place
        if not response.success:
            result.message = f"refused: {response.message}"
            goal_handle.abort()
            return result
        if goal.dry_run:
            result.success, result.message = True, f"dry run: {response.message}"
            goal_handle.succeed()
            return result
        start = time.monotonic()
        ok, message = self.execute(response.pick_place, feedback, lambda: goal_handle.is_cancel_requested)
        result.execution_seconds = time.monotonic() - start
        result.success, result.message = ok, message
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif ok:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _release_held(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self.held.holding:
            response.success, response.message = False, "not holding anything"
            return response
        if not self._busy.acquire(blocking=False):
            response.success, response.message = False, "the arm is busy"
            return response
        try:
            ok, message = self.tool.set(False)
        except (RuntimeError, TimeoutError) as exc:
            ok, message = False, str(exc)
        finally:
            self._busy.release()
        if ok:
            self.held.released()
            self._status("idle")
        response.success, response.message = ok, message
        return response

    def _clear_held(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        was = self.held.status()
        self.held.released()
        self._status("idle")
        response.success, response.message = True, f"cleared (was: {was})"
        return response

    # -- execution --------------------------------------------------------------------------

    def plan(self, msg: PickPlace) -> tuple[list | None, str]:
        """The eight stages for ``msg``, or (None, the reason it is refused)."""
        if msg.header.frame_id not in ("", self.base_frame):
            return None, f"refused: PickPlace is in frame {msg.header.frame_id!r}, expected {self.base_frame!r}"
        pick, place = msg.pick, msg.place
        try:
            stages = pick_place_stages(
                np.array([pick.position.x, pick.position.y, pick.position.z]), _yaw(pick),
                np.array([place.position.x, place.position.y, place.position.z]), _yaw(place),
                self.workspace, self.sequence)
        except ValueError as exc:
            return None, f"refused: {exc}"
        if not np.all(np.isfinite((stages[0].yaw, stages[-1].yaw))):
            return None, "refused: pick or place orientation is not a valid quaternion"
        return stages, ""

    def execute(self, msg: PickPlace, feedback, cancelled) -> tuple[bool, str]:
        """Run the eight stages; (success, message). Nothing moves when the poses are refused."""
        stages, refusal = self.plan(msg)
        if stages is None:
            return False, refusal
        if self.held.holding:
            return False, f"refused: {self.held.refusal()}"
        stages, why = self.backend.prepare(stages)
        if stages is None:
            return False, f"refused: {why}"
        interrupted = lambda: self._stopping.is_set() or cancelled()  # noqa: E731
        for i, stage in enumerate(stages):
            if interrupted():
                return False, self._end_early(f"{self._why_stopped(cancelled)} before {stage.name}")
            feedback(stage.name, i / len(STAGE_NAMES))
            self._status(f"executing {msg.instruction!r}: {stage.name}")
            try:
                if stage.tool_on is not None:
                    ok, message = self.tool.set(stage.tool_on)
                    if ok and stage.tool_on:
                        self.held.grasped(msg.instruction)
                        self._scene_hook("attach", (0.05, 0.05, max(msg.pick.position.z - self.workspace.z_min,
                                                                    0.01)))
                    elif ok:
                        self.held.released()
                        self._scene_hook("detach")
                    elif stage.tool_on:  # a failed grasp: switch the tool off again and go back up
                        self.tool.set(False)
                        return False, self._end_early(f"grasp failed: {message}")
                else:
                    ok, message = self.backend.move_tool(stage.position, stage.yaw, interrupted, stage.name)
            except Cancelled:
                ok, message = False, f"{self._why_stopped(cancelled)} during {stage.name}"
            except Stopped:
                ok, message = False, f"stopped during {stage.name}: the node is shutting down"
            except (RuntimeError, TimeoutError) as exc:
                ok, message = False, f"{stage.name} failed: {exc}"
            if not ok:
                if interrupted():
                    return False, self._end_early(f"{self._why_stopped(cancelled)} during {stage.name}")
                return False, self._end_early(message if "failed" in message else f"{stage.name} failed: {message}")
        feedback("done", 1.0)
        self._status("idle")
        return True, "picked and placed"

    def _scene_hook(self, name: str, *args) -> None:
        """MoveIt's planning scene follows the held object (backends without a scene have no hook)."""
        hook = getattr(self.backend, name, None)
        if hook is not None:
            hook(*args)

    def _why_stopped(self, cancelled) -> str:
        return "stopped: the node is shutting down" if self._stopping.is_set() else "cancelled"

    def _end_early(self, reason: str) -> str:
        """After a failure or cancel: retreat straight up (unless shutting down); the message says what is held."""
        retreat = ""
        if not self._stopping.is_set():
            try:
                retreat = self._retreat_up()
            except (RuntimeError, TimeoutError, Cancelled, Stopped) as exc:
                retreat = f"; the retreat failed: {exc}"
        if self.held.holding:
            self._status(f"stopped: {reason}")
            return f"{reason}{retreat}; still holding the object: {self.held.refusal()}"
        self._status("idle")
        return reason + retreat

    def _retreat_up(self) -> str:
        kin = getattr(self.backend, "kinematics", None)
        if kin is None:
            return ""
        pos, yaw = kin.tool_pose(self.backend.current_at_rest())
        travel = max(self.sequence.travel_height, pos[2])
        if travel - pos[2] < 0.005:
            return ""
        ok, message = self.backend.move_tool(np.array([pos[0], pos[1], travel]), yaw, self._stopping.is_set)
        return "; the arm retreated up" if ok else f"; the retreat failed: {message}"

    def request_stop(self) -> None:
        """On SIGINT/SIGTERM: stop the arm, abandon the calls in flight; the running goal ends with a result."""
        self._stopping.set()
        if self._busy.locked():
            try:
                self.backend.stop_arm()
            except (RuntimeError, AttributeError) as exc:
                self.get_logger().error(f"could not stop the arm: {exc}")

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def busy(self) -> bool:
        return self._busy.locked()

    def destroy_node(self) -> None:
        # Node.destroy_node leaves action servers and clients (and their DDS entities) alive
        self._action.destroy()
        for client in (getattr(self.backend, "action", None), getattr(self.tool, "action", None)):
            if client is not None:
                client.destroy()
        super().destroy_node()


def _yaw(pose) -> float:
    q = pose.orientation
    try:
        return yaw_of_quaternion([q.x, q.y, q.z, q.w])
    except ValueError:
        return float("nan")


def main(args: list[str] | None = None) -> int:
    return run_node(ArmControllerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
