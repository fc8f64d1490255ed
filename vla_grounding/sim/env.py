"""The tabletop simulator: a Panda with a suction cup or a parallel gripper, CLIPort tasks, one RGB-D camera.

Usage::

    env = TabletopEnv("put-blocks-in-bowls-seen")
    frame = env.reset(seed=1)              # odd seeds: test episodes, even: training
    while not env.done:
        result = env.step(env.oracle())    # or any policy's PickPlacePlan
    print(env.score)                       # 0..1, Ravens' total reward

Poses are in the robot base frame (the world frame here, table surface at z = 0). A pick
position is a point on the top surface of the object to grasp; a place position is where
the held object's bottom should end up; the tool comes down vertically onto both.
Descents slow down for the last few centimetres and stop on contact (empty cup: on a
surface; holding: when the object touches down), as Ravens' primitives do, so a plan's
heights may be a little off. Yaws: the cup is round, so only ``place_yaw - pick_yaw``
(the object's turn) matters to ``step``.

Every ``step`` is one policy action (as in Ravens): a plan outside the workspace or out
of the arm's reach is rejected without motion but still uses up a step, so episodes end.
sim_node drives the same arm as a ros2_control robot: joint trajectories (``advance`` with
a ``TrajectoryFollower``) and tool commands (``set_suction``, ``command_gripper``); a
release closes one pick-and-place (``end_step``) and collects its reward. Everything is
deterministic given the seed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np
import pybullet as p
import pybullet_data
from pybullet_utils import bullet_client

from vla_grounding.perception.camera import CameraIntrinsics, RGBDFrame
from vla_grounding.perception.fiducials import FiducialLayout
from vla_grounding.perception.workspace import Workspace
from vla_grounding.policy import PickPlacePlan
from vla_grounding.sim import camera as cam
from vla_grounding.sim import objects as ob
from vla_grounding.sim.camera_effects import CameraProfile, miscalibrated_pose
from vla_grounding.sim.fiducials import add_markers
from vla_grounding.sim.joint_control import TrajectoryFollower
from vla_grounding.sim.robot import (
    ARM_JOINTS,
    FINGER_JOINTS,
    FINGER_OPEN,
    HOME_TIP,
    TOOLS,
    MotionResult,
    PandaArm,
    wrap_angle,
)
from vla_grounding.sim.tasks import TASKS, Scene, SceneFull, Task

__all__ = ["TASKS", "MotionResult", "StepResult", "TabletopEnv"]

DT = 1.0 / 240.0
TRAVEL_Z = 0.25  # tool height for moves across the table (clears the tallest stack)
SPEED_TRAVEL = 0.8  # m/s
SPEED_VERTICAL = 0.4
SPEED_CONTACT = 0.15  # last APPROACH metres of a descent, guarded by contact checks
APPROACH = 0.025
PICK_OVERSHOOT = 0.02  # how far below the commanded pick height the cup keeps looking
SUCTION_ABOVE, SUCTION_BELOW = 0.02, 0.005  # surfaces this close to the tip can be grasped
RELEASE_GAP = 0.002  # held object's bottom this high above the place position at release
MAX_Z_ABOVE_WORKSPACE = 0.25  # move_tool may go this far above workspace.z_max
GRIP_DEPTH = 0.02  # the gripper closes this far below the pick surface (half a block)
FINGER_CLEARANCE = 0.008  # the finger centre stays this high above the table
MIN_GRIP = 0.002  # fingers closing to less than this (each, m) hold nothing


@dataclass
class StepResult:
    """One pick-and-place: delta reward (Ravens), whether the episode ended, what happened."""

    reward: float
    done: bool
    success: bool  # the motion was executed as planned (not: the goal was reached)
    message: str
    info: dict = field(default_factory=dict)


@dataclass
class GripperResult:
    """Outcome of a gripper command, as control_msgs/GripperCommand reports it."""

    success: bool  # False: the command was invalid, or the fingers closed on nothing
    message: str
    position: float  # each finger's opening (m)
    stalled: bool  # stopped on an object
    reached_goal: bool


def _renderer(bc, backend: str) -> tuple[int, str]:
    """'auto' is the tiny software renderer: identical images on every machine.

    EGL (pybullet's plugin, Mesa or a GPU driver) renders ~2x faster here, but its lighting
    differs, so demonstrations and evaluations of one policy should use one backend.
    """
    if backend not in ("auto", "tiny", "egl"):
        raise ValueError(f"render_backend must be 'auto', 'tiny' or 'egl', got {backend!r}")
    if backend == "egl":
        spec = importlib.util.find_spec("eglRenderer")
        if spec is not None and spec.origin and bc.loadPlugin(spec.origin, "_eglRendererPlugin") >= 0:
            return p.ER_BULLET_HARDWARE_OPENGL, "egl"
        raise RuntimeError("the EGL renderer plugin could not be loaded; use render_backend='tiny'")
    return p.ER_TINY_RENDERER, "tiny"


class TabletopEnv:
    """A CLIPort task in pybullet (headless), seen through one RealSense-like camera."""

    def __init__(
        self,
        task: str = "put-blocks-in-bowls-seen",
        camera_pose: np.ndarray | None = None,
        render_backend: str = "auto",
        workspace: Workspace | None = None,
        intrinsics: CameraIntrinsics | None = None,
        tool: str = "suction",
        camera: CameraProfile | None = None,
        calibration_error: tuple[float, float] = (0.0, 0.0),
        fiducials: FiducialLayout | None = None,
    ):
        """``camera``: render like this real camera (noise, holes, colour, lens distortion);
        ``calibration_error`` (metres, degrees): frames carry a camera pose that far off the
        true one, as a hand-eye calibration would, fixed per episode; ``fiducials``: ArUco
        markers on the table (outside the workspace) that show that error."""
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
        self.tool = tool
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
        pose = cam.default_camera_pose() if camera_pose is None else np.asarray(camera_pose, dtype=float)
        if pose.shape != (4, 4) or not np.allclose(pose[3], [0, 0, 0, 1]):
            raise ValueError("camera_pose must be a 4x4 homogeneous transform (optical frame in the base frame)")
        self.camera_pose = pose
        self.camera = camera or CameraProfile()
        if len(calibration_error) != 2 or min(calibration_error) < 0:
            raise ValueError(f"calibration_error must be (metres, degrees) >= 0, got {calibration_error}")
        self.calibration_error = (float(calibration_error[0]), float(calibration_error[1]))
        self.reported_camera_pose = pose  # what frames carry: off by calibration_error after reset
        self._camera_rng = np.random.default_rng(0)
        self.fiducials = fiducials
        self.intrinsics = intrinsics or cam.DEFAULT_INTRINSICS
        self.workspace = workspace or Workspace()
        self.task_name = task
        self.task: Task = TASKS[task]()
        self.bc = bullet_client.BulletClient(connection_mode=p.DIRECT)
        self._renderer, self.render_backend = _renderer(self.bc, render_backend)
        self.seed: int | None = None
        self.robot: PandaArm | None = None
        self.scene: Scene | None = None
        self.sim_time = 0.0
        self.steps, self.max_steps, self.score, self.done = 0, 0, 0.0, True
        self.instruction = ""
        self._hang = 0.0  # tip height above the held object's bottom

    # -- episode ------------------------------------------------------------------------

    def _build_world(self) -> None:
        bc = self.bc
        bc.resetSimulation()
        bc.setPhysicsEngineParameter(fixedTimeStep=DT, numSolverIterations=50, deterministicOverlappingPairs=1)
        bc.setGravity(0, 0, -9.8)
        bc.setAdditionalSearchPath(pybullet_data.getDataPath())
        table_half = (1.0, 1.0, 0.02)  # fills the camera's view (a floor would cost render time)
        col = bc.createCollisionShape(p.GEOM_BOX, halfExtents=table_half)
        vis = bc.createVisualShape(p.GEOM_BOX, halfExtents=table_half, rgbaColor=[0.42, 0.40, 0.38, 1])
        self._table = bc.createMultiBody(0, col, vis, [0.6, 0.0, -table_half[2]])
        self.robot = PandaArm(bc, tool=self.tool)
        self.scene = Scene(bc, self.workspace)
        if self.fiducials is not None:
            add_markers(bc, self.fiducials, self.workspace.z_min)

    def settings(self) -> dict:
        """The keyword arguments that build this env again for any task (its camera, tool, workspace)."""
        return dict(camera_pose=self.camera_pose, render_backend=self.render_backend, workspace=self.workspace,
                    intrinsics=self.intrinsics, tool=self.tool, camera=self.camera,
                    calibration_error=self.calibration_error, fiducials=self.fiducials)

    def reset(self, seed: int) -> RGBDFrame:
        """A new episode; even seeds are training episodes, odd seeds test episodes."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self._camera_rng = np.random.default_rng([self.seed, 16])  # the camera's own draws, apart from the scene's
        self.reported_camera_pose = (miscalibrated_pose(self.camera_pose, *self.calibration_error, self._camera_rng)
                                     if any(self.calibration_error) else self.camera_pose)
        mode = "train" if self.seed % 2 == 0 else "test"
        for _ in range(20):
            self._build_world()
            try:
                self.task.reset(self.scene, rng, mode)
                break
            except SceneFull:
                continue
        else:
            raise RuntimeError(f"could not lay out a {self.task_name} scene for seed {seed}")
        self.sim_time = 0.0
        for _ in range(48):  # let stacks settle
            self._step_physics()
        self.steps, self.score, self.done = 0, 0.0, False
        self.max_steps = self.task.max_steps
        self.instruction = self.task.instruction
        return self.render()

    def render(self) -> RGBDFrame:
        """The camera's current view (stamp: simulated seconds since reset)."""
        self._scene()
        color, depth = cam.render(self.bc, self.intrinsics, self.camera_pose, self._renderer)
        intrinsics = self.intrinsics
        if not self.camera.ideal:
            color, depth = self.camera.apply(color, depth, self.intrinsics, self._camera_rng)
            intrinsics = self.camera.intrinsics(self.intrinsics)
        return RGBDFrame(
            color=color,
            depth=depth,
            intrinsics=intrinsics,
            T_base_camera=self.reported_camera_pose.copy(),
            stamp=self.sim_time,
            frame_id="camera_color_optical_frame",
            extras={
                "task": self.task_name,
                "seed": self.seed,
                "instruction": self.instruction,
                "render_backend": self.render_backend,
            },
        )

    def objects(self) -> list[dict]:
        """Privileged state: every task body with name, kind, position and yaw."""
        return self._scene().describe()

    def oracle(self) -> PickPlacePlan | None:
        """The scripted expert's next move (privileged state); None when it has nothing left to do."""
        self._scene()
        plan = self.task.oracle(self.workspace)
        if plan is not None:
            plan.instruction = self.instruction
        return plan

    # -- pick and place -----------------------------------------------------------------

    def step(self, plan: PickPlacePlan) -> StepResult:
        """Execute one pick-and-place and score it; invalid or unreachable plans do not move the arm."""
        self._scene()
        if self.done:
            return StepResult(0.0, True, False, "the episode is over: call reset()", {})
        yaws, why = self._check_plan(plan)
        if yaws is None:
            return self.end_step(False, f"rejected: {why}")
        ok, message = self._pick_and_place(plan, *yaws)
        return self.end_step(ok, message)

    def _check_plan(self, plan: PickPlacePlan) -> tuple[tuple[float, float] | None, str]:
        pick = np.asarray(plan.pick_position, dtype=float).reshape(-1)
        place = np.asarray(plan.place_position, dtype=float).reshape(-1)
        if pick.shape != (3,) or place.shape != (3,):
            return None, "pick and place positions must have 3 coordinates"
        for name, point in (("pick", pick), ("place", place)):
            if not self.workspace.contains(point):
                return None, f"{name} position {np.round(point, 4).tolist()} is outside the workspace"
        if not (np.isfinite(plan.pick_yaw) and np.isfinite(plan.place_yaw)):
            return None, "yaw is not finite"
        turn = wrap_angle(plan.place_yaw - plan.pick_yaw)
        # the cup is round: only the turn matters, so pick a start yaw the wrist can do both ends from
        for start in (plan.pick_yaw, plan.pick_yaw - turn / 2, plan.pick_yaw + np.pi / 2, plan.pick_yaw - np.pi / 2):
            yaws = (wrap_angle(start), wrap_angle(start) + turn)
            checks = [
                (pick + [0, 0, APPROACH], yaws[0]),
                (pick, yaws[0]),
                (place + [0, 0, ob.BLOCK_SIZE + RELEASE_GAP], yaws[1]),
                (np.array([*place[:2], TRAVEL_Z]), yaws[1]),
            ]
            # with a margin: the posture (hence joint 7) differs a little along the real path
            if all(self.robot.ik(pos, yaw, margin=0.15) is not None for pos, yaw in checks):
                return yaws, ""
        return None, "the arm cannot reach the pick or place pose"

    def _pick_and_place(self, plan: PickPlacePlan, yaw_pick: float, yaw_place: float) -> tuple[bool, str]:
        pick = np.asarray(plan.pick_position, dtype=float)
        place = np.asarray(plan.place_position, dtype=float)
        up = max(TRAVEL_Z, pick[2] + APPROACH)
        for pos, yaw in (([pick[0], pick[1], up], yaw_pick), (pick + [0, 0, APPROACH], yaw_pick)):
            res = self.move_tool(np.array(pos), yaw, SPEED_TRAVEL)
            if not res.success:
                return self._abort(res.message)
        bottom = pick.copy()
        if self.tool == "gripper":  # fingers around the object's upper half; stops if a finger lands on something
            bottom[2] = max(pick[2] - GRIP_DEPTH, self.workspace.z_min + FINGER_CLEARANCE)
        else:  # stops on touching a surface
            bottom[2] = max(pick[2] - PICK_OVERSHOOT, self.workspace.z_min + 0.001)
        self.move_tool(bottom, yaw_pick, SPEED_CONTACT)
        grasp = self.set_tool(True)
        if not grasp.success:
            return self._abort(f"pick failed: {grasp.message}")
        held = self.robot.held
        for pos, yaw in (([pick[0], pick[1], up], yaw_pick), ([place[0], place[1], TRAVEL_Z], yaw_place)):
            res = self.move_tool(np.array(pos), yaw, SPEED_TRAVEL)
            if not res.success:
                return self._abort(res.message)
        tip = place + [0.0, 0.0, self._hang + RELEASE_GAP]
        res = self.move_tool(tip, yaw_place, SPEED_TRAVEL)  # stops if the held object touches down
        if not res.success:
            return self._abort(f"place failed: {res.message}")
        self.set_tool(False)
        self._go_home()
        name = self.scene.bodies[held].name
        return True, f"picked the {name} and placed it" + (" (touched down early)" if "contact" in res.message else "")

    def _abort(self, message: str) -> tuple[bool, str]:
        self.set_tool(False)
        self._go_home()
        return False, message

    def go_home(self) -> MotionResult:
        """Lift straight up to the travel height, then move to the home pose (out of the camera's way)."""
        self._scene()
        self._go_home()
        return self._motion(True, "home")

    def _go_home(self) -> None:
        pos, yaw = self.tool_pose()
        self.move_tool(np.array([pos[0], pos[1], max(TRAVEL_Z, pos[2])]), yaw, SPEED_VERTICAL, check_workspace=False)
        self.move_tool(HOME_TIP.copy(), 0.0, SPEED_TRAVEL, check_workspace=False)

    def end_step(self, success: bool = True, message: str = "") -> StepResult:
        """Let objects settle, pay the step's reward and advance the episode (one policy action)."""
        self._scene()
        self._settle()
        reward, info = self.task.reward()
        self.score += reward
        self.steps += 1
        self.done = self.task.done() or self.steps >= self.max_steps
        self.instruction = self.task.instruction
        info.update(score=self.score, steps=self.steps, instruction=self.instruction)
        return StepResult(float(reward), self.done, bool(success), message, info)

    # -- motion primitives ----------------------------------------------------------------

    def tool_pose(self) -> tuple[np.ndarray, float]:
        """Suction tip position (base frame) and tool yaw (rad)."""
        return self.robot.tool_pose()

    def move_tool(
        self, position: np.ndarray, yaw: float, speed: float | None = None, check_workspace: bool = True
    ) -> MotionResult:
        """Move the suction tip in a straight line to ``position`` with ``yaw``.

        Moving down, the motion slows for the last few centimetres and stops where the tip
        (empty) or the held object touches something; the message then says "stopped on contact".
        """
        self._scene()
        target = np.asarray(position, dtype=float).reshape(-1)
        ws = self.workspace
        if target.shape != (3,) or not np.all(np.isfinite(target)) or not np.isfinite(yaw):
            return self._motion(False, "position must be 3 finite numbers and yaw finite")
        if check_workspace and not (
            ws.contains([target[0], target[1], ws.z_min]) and ws.z_min <= target[2] <= ws.z_max + MAX_Z_ABOVE_WORKSPACE
        ):
            return self._motion(False, f"target {np.round(target, 4).tolist()} is outside the workspace")
        speed = SPEED_TRAVEL if speed is None else float(speed)
        if not 0.0 < speed <= 2.0:
            return self._motion(False, f"speed must be in (0, 2] m/s, got {speed}")
        if self.robot.ik(target, yaw) is None:
            return self._motion(False, f"the arm cannot reach {np.round(target, 4).tolist()} at yaw {yaw:.2f}")
        start, _ = self.tool_pose()
        if target[2] < start[2] - 1e-4:  # going down: fast to just above, then guarded
            via = target.copy()
            via[2] = target[2] + APPROACH
            if via[2] < start[2]:
                res = self._line(via, yaw, speed, self._touching)
                if res is not None:
                    return res
            res = self._line(target, yaw, min(speed, SPEED_CONTACT), self._touching)
            return res if res is not None else self._motion(True, "reached")
        res = self._line(target, yaw, speed, None)
        return res if res is not None else self._motion(True, "reached")

    def _line(self, target: np.ndarray, yaw: float, speed: float, stop) -> MotionResult | None:
        path = self.robot.plan_line(target, yaw)
        if path is None:
            return self._motion(False, "no continuous IK path along the line")
        if self.robot.follow(path, speed, DT, self._step_physics, stop):
            return self._motion(True, "stopped on contact")
        return None

    def _motion(self, success: bool, message: str) -> MotionResult:
        pos, yaw = self.tool_pose()
        return MotionResult(success, message, pos, yaw)

    def set_suction(self, on: bool) -> MotionResult:
        """Switch the cup; on: grasp the movable object touching the tip, if any."""
        self._scene()
        bc, robot = self.bc, self.robot
        if self.tool != "suction":
            raise RuntimeError("this episode's tool is the gripper, not the suction cup")
        if not on:
            if robot.held is None:
                return self._motion(True, "suction off (nothing held)")
            return self._motion(True, f"released the {self._release()}")
        if robot.held is not None:
            return self._motion(True, f"already holding the {self.scene.bodies[robot.held].name}")
        uid = self._under_cup(movable_only=True)
        if uid is None:
            return self._motion(False, "nothing graspable under the suction cup")
        # a pressed cup (tip below the object's top) is a compressed bellows: lifted, the object hangs
        # with its top at the tip
        press = max(float(bc.getAABB(uid)[1][2] - self.tool_pose()[0][2]), 0.0)
        return self._attach(uid, press)

    def _attach(self, uid: int, press: float = 0.0) -> MotionResult:
        """Hold ``uid`` rigidly on the tool, ``press`` metres further along the tool axis than it is now."""
        bc, robot = self.bc, self.robot
        tool_pos, tool_orn = bc.getBasePositionAndOrientation(robot.tool)
        obj_pos, obj_orn = bc.getBasePositionAndOrientation(uid)
        inv_pos, inv_orn = bc.invertTransform(tool_pos, tool_orn)
        rel_pos, rel_orn = bc.multiplyTransforms(inv_pos, inv_orn, obj_pos, obj_orn)
        rel_pos = (rel_pos[0], rel_pos[1], rel_pos[2] + press)  # the tool's z axis points down
        robot.constraint = bc.createConstraint(
            robot.tool,
            -1,
            uid,
            -1,
            p.JOINT_FIXED,
            [0, 0, 0],
            parentFramePosition=rel_pos,
            childFramePosition=[0, 0, 0],
            parentFrameOrientation=rel_orn,
            childFrameOrientation=[0, 0, 0, 1],
        )
        bc.changeConstraint(robot.constraint, maxForce=1000.0, erp=1.0)
        robot.held, robot.held_rel = uid, (rel_pos, rel_orn)
        self._hang = float(self.tool_pose()[0][2] - bc.getAABB(uid)[0][2] + press)
        return self._motion(True, f"attached the {self.scene.bodies[uid].name}")

    def _release(self) -> str:
        name = self.scene.bodies[self.robot.held].name
        self.bc.removeConstraint(self.robot.constraint)
        self.robot.held, self.robot.constraint = None, None
        return name

    def set_tool(self, on: bool) -> MotionResult:
        """Grasp (suction on / fingers closed) or release with this episode's tool; success = holding / released."""
        if self.tool == "suction":
            return self.set_suction(on)
        result = self.command_gripper(0.0 if on else FINGER_OPEN)
        return self._motion(result.success, result.message)

    def command_gripper(self, position: float) -> GripperResult:
        """Move the fingers to ``position`` (each finger's opening, m); closing on an object grasps it.

        Closing stops where the fingers meet the movable object between them (``stalled``),
        which is then held; opening past a held object releases it. Fingers are instant.
        """
        self._scene()
        if self.tool != "gripper":
            raise RuntimeError("this episode's tool is the suction cup, not the gripper")
        robot = self.robot
        if not np.isfinite(position):
            return GripperResult(False, "gripper position is not finite", robot.fingers, False, False)
        position = float(np.clip(position, 0.0, FINGER_OPEN))
        if robot.held is not None:
            if position <= robot.fingers + 1e-4:
                return GripperResult(True, f"holding the {self.scene.bodies[robot.held].name}", robot.fingers,
                                     True, False)
            name = self._release()
            robot.set_fingers(position)
            return GripperResult(True, f"released the {name}", position, False, True)
        if position < robot.fingers - 1e-4:
            uid, half_width = self._between_fingers()
            if uid is not None and half_width > max(position, MIN_GRIP):
                robot.set_fingers(half_width)
                res = self._attach(uid)
                return GripperResult(True, res.message + f" ({2 * half_width * 100:.1f} cm between the fingers)",
                                     half_width, True, False)
        robot.set_fingers(position)
        closed = position < MIN_GRIP
        return GripperResult(not closed, "fingers closed on nothing" if closed else "fingers moved", position,
                             False, True)

    def _between_fingers(self) -> tuple[int | None, float]:
        """The movable object between the fingers and its half width along their closing axis."""
        pos, rot = self.robot._tcp()
        axis, along = rot[:, 1], rot[:, 0]  # fingers close along the hand's y axis
        reach = self.robot.fingers + 0.002
        starts, ends = [], []
        for dx in (-0.006, 0.0, 0.006):  # across the finger pads
            for dz in (0.0, -0.008):  # the pads' height (tool z points down: -dz is up)
                centre = pos + along * dx + rot[:, 2] * dz
                for side in (1.0, -1.0):
                    starts.append((centre + side * axis * reach).tolist())
                    ends.append(centre.tolist())
        hits = self.bc.rayTestBatch(starts, ends)
        best: dict[int, list[float]] = {}
        for i in range(0, len(hits), 2):
            a, b = hits[i], hits[i + 1]
            if a[0] < 0 or a[0] != b[0] or not self._movable(a[0]):
                continue
            width = float(np.dot(np.array(a[3]) - np.array(b[3]), axis))
            best.setdefault(a[0], []).append(width / 2)
        if not best:
            return None, 0.0
        uid = max(best, key=lambda u: len(best[u]))
        return uid, max(best[uid])

    def _movable(self, uid: int) -> bool:
        body = self.scene.bodies.get(uid)
        return body is not None and body.movable

    # -- the ros2_control-style interface (sim_node) -----------------------------------------

    @property
    def table_uid(self) -> int:
        return self._table

    @property
    def joint_names(self) -> list[str]:
        return list(self.robot.joint_names)

    def joint_positions(self) -> tuple[list[str], np.ndarray]:
        """Arm and finger joint names and positions, as joint_states carries them."""
        robot = self.robot
        return robot.joint_names + robot.finger_names, np.concatenate([robot.q, [robot.fingers] * 2])

    def advance(self, follower: TrajectoryFollower, seconds: float) -> bool:
        """Run ``seconds`` of simulated time with the arm driven by ``follower``; True if the arm moved."""
        self._scene()
        moved = False
        for _ in range(max(1, int(round(seconds / DT)))):
            q = follower.step(self.robot.q, DT)
            if not np.array_equal(q, self.robot.q):
                self.robot.set_q(q)
                moved = True
            self._step_physics()
        return moved

    def _under_cup(self, movable_only: bool) -> int | None:
        """The body whose top is closest above/below the tip within the suction window."""
        tip, _ = self.tool_pose()
        offsets = [(0, 0), (0.005, 0), (-0.005, 0), (0, 0.005), (0, -0.005)]
        starts = [[tip[0] + dx, tip[1] + dy, tip[2] + SUCTION_ABOVE] for dx, dy in offsets]
        ends = [[tip[0] + dx, tip[1] + dy, tip[2] - SUCTION_BELOW] for dx, dy in offsets]
        best, best_z = None, -np.inf
        for hit in self.bc.rayTestBatch(starts, ends):
            uid, z = hit[0], hit[3][2]
            if uid < 0 or uid in (self.robot.uid, self.robot.tool, self.robot.held):
                continue
            body = self.scene.bodies.get(uid)
            if movable_only and (body is None or not body.movable):
                continue
            if z > best_z:
                best, best_z = uid, z
        return best

    def _touching(self) -> bool:
        """Contact guard for descents: held object touching anything, or the empty tip (the finger tips) on a surface."""
        held = self.robot.held
        if held is not None:
            return any(c[2] != held and c[8] < 5e-4 for c in self.bc.getContactPoints(bodyA=held))
        tip, _ = self.tool_pose()
        points = [tip]
        if self.tool == "gripper":
            axis = self.robot._tcp()[1][:, 1]
            points = [tip + axis * (self.robot.fingers + 0.005), tip - axis * (self.robot.fingers + 0.005)]
        hits = self.bc.rayTestBatch([[x, y, z + SUCTION_ABOVE] for x, y, z in points],
                                    [[x, y, z - 0.001] for x, y, z in points])
        return any(h[0] >= 0 and h[0] not in (self.robot.uid, self.robot.tool) for h in hits)

    # -- physics ------------------------------------------------------------------------

    def _step_physics(self) -> None:
        cid = self.bc._client
        p.stepSimulation(physicsClientId=cid)
        # the arm is kinematic: undo what gravity did to its joints during the step
        p.resetJointStatesMultiDof(
            self.robot.uid, ARM_JOINTS + FINGER_JOINTS, [[v] for v in self.robot.q.tolist()] + [[self.robot.fingers]] * 2,
            physicsClientId=cid,
        )
        self.sim_time += DT

    def _settle(self, max_steps: int = 240) -> None:
        movable = [u for u, b in self.scene.bodies.items() if b.movable]
        for i in range(max_steps):
            self._step_physics()
            if i >= 12 and i % 6 == 0:
                vel = [self.bc.getBaseVelocity(u) for u in movable]
                if all(np.linalg.norm(v) < 5e-3 and np.linalg.norm(w) < 5e-2 for v, w in vel):
                    break

    def _scene(self) -> Scene:
        if self.scene is None or self.seed is None:
            raise RuntimeError("call reset(seed) first")
        return self.scene

    def close(self) -> None:
        """Release the physics server (and the renderer plugin)."""
        if self.bc is not None:
            try:
                self.bc.disconnect()
            except p.error:
                pass
            self.bc = None

    def __enter__(self) -> TabletopEnv:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
