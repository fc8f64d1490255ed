"""arm_controller_node: executes PickPlace decisions with a motion backend (sim or MoveIt).

- action ``execute_instruction`` (ExecuteInstruction): calls the grounding node's ``ground``
  service, then runs approach, descend, grasp, lift, move, descend, release, retreat with
  feedback per stage; cancel is honoured between stages (the arm retreats upwards).
- topic ``pick_place`` (PickPlace): each message is executed when ``execute_pick_place`` is
  true and the arm is idle (otherwise dropped with a warning: no backlog of stale plans).
Poses outside the workspace bounds or below the table are refused before anything moves.
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

from vla_grounding.action import ExecuteInstruction
from vla_grounding.motion_sequence import STAGE_NAMES, SequenceConfig, pick_place_stages
from vla_grounding.msg import PickPlace
from vla_grounding.nodes.motion_backends import MotionBackend, MoveItBackend, SimBackend
from vla_grounding.nodes.params import declare, declare_workspace
from vla_grounding.nodes.run import run_node
from vla_grounding.nodes.service_call import call
from vla_grounding.perception.transforms import yaw_of_quaternion
from vla_grounding.srv import Ground


class ArmControllerNode(Node):
    def __init__(self) -> None:
        super().__init__("arm_controller_node")
        backend = declare(self, "backend", "sim", "motion backend", choices=["sim", "moveit"])
        self.base_frame = declare(self, "base_frame", "base_link", "robot base frame; PickPlace must be in it")
        self.execute_topic = declare(self, "execute_pick_place", True,
                                     "execute PickPlace messages arriving on pick_place", read_only=False)
        self.ground_timeout = declare(self, "ground_timeout", 60.0, "max seconds for the ground service", low=0.1)
        motion_timeout = declare(self, "motion_timeout", 60.0, "max seconds for one motion primitive", low=0.1)
        tool_service = declare(self, "tool_service", "sim/suction", "std_srvs/SetBool service switching the "
                               "suction cup or gripper (true = grasp)")
        move_service = declare(self, "sim.move_service", "sim/move_tool", "sim backend: MoveTool service")
        group = declare(self, "moveit.planning_group", "panda_arm", "moveit backend: planning group")
        tool_link = declare(self, "moveit.tool_link", "panda_hand_tcp", "moveit backend: link placed on the poses")
        self.sequence = SequenceConfig(
            approach_height=declare(self, "approach_height", 0.08, "approach/retreat height above objects (m)",
                                    low=0.0, high=0.5),
            travel_height=declare(self, "travel_height", 0.25, "z of moves across the table (m, base frame)",
                                  low=0.0, high=1.5),
            pick_press=declare(self, "pick_press", 0.01, "descend this far below the pick surface (m); keep small "
                               "on real robots", low=0.0, high=0.05),
            release_gap=declare(self, "release_gap", 0.005, "release height above the place surface (m)",
                                low=0.0, high=0.1),
        )
        self.workspace = declare_workspace(self)
        self._busy = threading.Lock()
        self._stopping = threading.Event()  # set on SIGINT/SIGTERM: calls in flight are abandoned, the sequence stops
        self.backend: MotionBackend
        if backend == "sim":
            self.backend = SimBackend(self, self.base_frame, move_service, tool_service, motion_timeout, self._stopping)
        else:
            self.backend = MoveItBackend(self, self.base_frame, group, tool_link, tool_service, motion_timeout,
                                         self._stopping)
        self.ground_client = self.create_client(Ground, "ground", callback_group=ReentrantCallbackGroup())
        self._action = ActionServer(
            self, ExecuteInstruction, "execute_instruction", self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())
        self.create_subscription(PickPlace, "pick_place", self._on_pick_place, 10,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"arm controller ready ({backend} backend)")

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
            self._busy.release()

    def _run_goal(self, goal_handle, goal, result: ExecuteInstruction.Result) -> ExecuteInstruction.Result:
        def feedback(stage: str, progress: float) -> None:
            goal_handle.publish_feedback(ExecuteInstruction.Feedback(stage=stage, progress=progress))

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
        holding = False
        for i, stage in enumerate(stages):
            if self._stopping.is_set():
                return False, f"stopped before {stage.name}: the node is shutting down" + (
                    " (still holding the object)" if holding else "")
            if cancelled():
                return False, f"cancelled before {stage.name}" + (" (still holding the object)" if holding else "")
            feedback(stage.name, i / len(STAGE_NAMES))
            try:
                if stage.tool_on is not None:
                    ok, message = self.backend.set_tool(stage.tool_on)
                    holding = ok and stage.tool_on
                else:
                    ok, message = self.backend.move_tool(stage.position, stage.yaw)
            except (RuntimeError, TimeoutError) as exc:
                ok, message = False, str(exc)
            if not ok:
                return False, f"{stage.name} failed: {message}" + (" (still holding the object)" if holding else "")
        feedback("done", 1.0)
        return True, "picked and placed"


    def request_stop(self) -> None:
        """On SIGINT/SIGTERM: abandon the calls in flight; the running goal ends with a result."""
        self._stopping.set()

    def busy(self) -> bool:
        return self._busy.locked()

    def destroy_node(self) -> None:
        self._action.destroy()  # Node.destroy_node leaves action servers (and their DDS entities) alive
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
