"""Franka Panda (from pybullet_data) with a suction cup or its parallel gripper, moved kinematically.

The arm follows Cartesian straight lines: IK every ``IK_STEP`` metres, joint-space
interpolation in between, one physics step per 1/240 s of motion, so held and pushed
objects are simulated while the arm itself is exact and deterministic. Arm links do not
collide with anything (a kinematic arm would otherwise teleport into objects); the
tool is a body without collision that rides on the hand (the suction cup is drawn; the
gripper's tool body is invisible and its fingers are the Panda's own). Grasping is a fixed
constraint between the tool and the object (pybullet's usual suction model, used for the
gripper as well: the fingers close on the object and then hold it rigidly, without a
friction simulation); the held object is also re-posed with the tool before every physics
step, because a constraint to a teleported body lags ~1 cm behind at 0.8 m/s.

IK notes: pybullet's IK targets a link's centre-of-mass frame; ``panda_grasptarget``
has no inertial block, so its COM frame is its URDF frame (checked), and the suction tip
lies ``TOOL_OFFSET`` further along its z axis (which points down at the table when the
tool is vertical). Tool yaw is the angle of that frame's x axis about base z; joint 7
turns the tool about its own axis, so yaw is set exactly by correcting joint 7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pybullet as p
import pybullet_data

PANDA_URDF = "franka_panda/panda.urdf"
ARM_JOINTS = tuple(range(7))
FINGER_JOINTS = (9, 10)
FINGER_OPEN = 0.04  # each finger's travel (m): the gripper opens to 8 cm
TCP_LINK = 11  # panda_grasptarget, between the finger tips
TCP_FRAME = "panda_grasptarget"
TOOL_OFFSET = 0.025  # suction tip beyond the finger tips, along the tool axis (m)
TOOLS = ("suction", "gripper")
IK_STEP = 0.01  # Cartesian waypoint spacing (m)
HOME_TIP = np.array([0.30, 0.0, 0.42])  # clear of the camera's view of the workspace
READY_Q = np.array([0.0, -0.5, 0.0, -2.3, 0.0, 1.8, 0.785])
POS_TOL = 0.002  # IK acceptance: position (m)
ANG_TOL = np.deg2rad(2.0)  # IK acceptance: tilt and yaw


@dataclass
class MotionResult:
    """Outcome of one motion primitive; position/yaw are the tool tip's after it."""

    success: bool
    message: str
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    yaw: float = 0.0


def wrap_angle(a: float) -> float:
    """Angle in [-pi, pi)."""
    return float((a + np.pi) % (2 * np.pi) - np.pi)


def tool_offset(tool: str) -> float:
    """The tool point beyond ``panda_grasptarget`` along its z axis: the suction tip, or the finger centre."""
    if tool not in TOOLS:
        raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
    return TOOL_OFFSET if tool == "suction" else 0.0


class PandaArm:
    """The arm, its tool body, the fingers and the grasp constraint."""

    def __init__(self, bc, base_position=(0.0, 0.0, 0.0), tool: str = "suction"):
        self.bc = bc
        self.tool_kind = tool
        self.tool_offset = tool_offset(tool)
        bc.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.uid = bc.loadURDF(PANDA_URDF, list(base_position), useFixedBase=True)
        for link in range(-1, bc.getNumJoints(self.uid)):
            bc.setCollisionFilterGroupMask(self.uid, link, 0, 0)
        info = [bc.getJointInfo(self.uid, j) for j in ARM_JOINTS]
        self.lower = np.array([i[8] for i in info])
        self.upper = np.array([i[9] for i in info])
        self.joint_names = [bc.getJointInfo(self.uid, j)[1].decode() for j in ARM_JOINTS]
        self.finger_names = [bc.getJointInfo(self.uid, j)[1].decode() for j in FINGER_JOINTS]
        self.velocity_limits = np.array([i[11] for i in info])
        self.fingers = 0.0 if tool == "suction" else FINGER_OPEN
        self.set_fingers(self.fingers)
        self.tool = self._make_tool()
        self.held: int | None = None
        self.held_rel: tuple = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))  # object pose in the tool frame
        self.constraint: int | None = None
        self.q = READY_Q.copy()
        self._calibrate()
        self.set_q(READY_Q)
        home = self.ik(HOME_TIP, 0.0)
        if home is None:
            raise RuntimeError("the Panda cannot reach its home pose; check HOME_TIP")
        self.home_q = home
        self.set_q(home)

    def _make_tool(self) -> int:
        bc = self.bc
        if self.tool_kind == "gripper":
            return bc.createMultiBody(0.0, -1, -1, [0, 0, 1.0])
        vis = bc.createVisualShapeArray(
            shapeTypes=[bc.GEOM_CYLINDER, bc.GEOM_CYLINDER],
            radii=[0.008, 0.013],
            lengths=[0.06, 0.008],
            visualFramePositions=[[0, 0, TOOL_OFFSET - 0.034], [0, 0, TOOL_OFFSET - 0.004]],
        )
        uid = bc.createMultiBody(0.0, -1, vis, [0, 0, 1.0])
        bc.changeVisualShape(uid, -1, shapeIndex=0, rgbaColor=[0.25, 0.25, 0.27, 1])
        bc.changeVisualShape(uid, -1, shapeIndex=1, rgbaColor=[0.1, 0.1, 0.1, 1])
        return uid

    # -- kinematics -------------------------------------------------------------------

    def set_q(self, q: np.ndarray) -> None:
        """Place the arm (and the tool riding on it) at joint angles ``q``."""
        cid = self.bc._client  # raw pybullet calls: this runs once per physics step
        self.q = np.asarray(q, dtype=float).copy()
        p.resetJointStatesMultiDof(self.uid, ARM_JOINTS, [[v] for v in self.q.tolist()], physicsClientId=cid)
        pos, orn = p.getLinkState(self.uid, TCP_LINK, computeForwardKinematics=1, physicsClientId=cid)[4:6]
        p.resetBasePositionAndOrientation(self.tool, pos, orn, physicsClientId=cid)
        if self.held is not None:  # carried rigidly; the constraint holds it during the physics step
            opos, oorn = p.multiplyTransforms(pos, orn, *self.held_rel, physicsClientId=cid)
            p.resetBasePositionAndOrientation(self.held, opos, oorn, physicsClientId=cid)
            p.resetBaseVelocity(self.held, [0, 0, 0], [0, 0, 0], physicsClientId=cid)

    def set_fingers(self, position: float) -> None:
        """Each finger's opening from the centre (m), 0 = closed."""
        self.fingers = float(np.clip(position, 0.0, FINGER_OPEN))
        p.resetJointStatesMultiDof(self.uid, FINGER_JOINTS, [[self.fingers]] * 2, physicsClientId=self.bc._client)

    def urdf(self) -> str:
        """The URDF text (robot_description)."""
        import os

        with open(os.path.join(pybullet_data.getDataPath(), PANDA_URDF)) as f:
            return f.read()

    def _tcp(self) -> tuple[np.ndarray, np.ndarray]:
        pos, orn = self.bc.getLinkState(self.uid, TCP_LINK, computeForwardKinematics=True)[4:6]
        return np.array(pos), np.array(self.bc.getMatrixFromQuaternion(orn)).reshape(3, 3)

    def tool_pose(self) -> tuple[np.ndarray, float]:
        """Suction tip position (base frame) and tool yaw."""
        pos, rot = self._tcp()
        return pos + rot[:, 2] * self.tool_offset, float(np.arctan2(rot[1, 0], rot[0, 0]))

    def ik(self, tip: np.ndarray, yaw: float, iterations: int = 10, margin: float = 1e-4) -> np.ndarray | None:
        """Joint angles putting the tip at ``tip``, pointing down, with tool ``yaw``; None if out of reach.

        Joints 1-6 are solved for the arm's natural wrist yaw at that spot (joint 7 near 0),
        then joint 7 alone sets the yaw. So the posture does not depend on the yaw asked for,
        and the only yaws out of reach are those within ~10 deg of natural + 180 deg (joint 7
        range is 340 deg). ``margin`` keeps joint 7 that far inside its limits (rad).
        """
        bc, saved = self.bc, self.q.copy()
        tip = np.asarray(tip, dtype=float)
        tcp = tip + np.array([0.0, 0.0, self.tool_offset])  # tool axis points down
        natural = float(np.arctan2(tip[1], tip[0])) + self.yaw_at_zero
        orn = bc.getQuaternionFromEuler([np.pi, 0.0, natural])
        q = saved.copy()
        q[6] = 0.0
        self.set_q(q)
        for _ in range(iterations):
            sol = bc.calculateInverseKinematics(
                self.uid,
                TCP_LINK,
                tcp.tolist(),
                orn,
                lowerLimits=self.lower.tolist(),
                upperLimits=self.upper.tolist(),
                jointRanges=(self.upper - self.lower).tolist(),
                restPoses=self.rest.tolist(),
                maxNumIterations=60,
                residualThreshold=1e-6,
            )
            q = np.array(sol[:7])
            self.set_q(q)
            pos, achieved = self.tool_pose()
            if np.linalg.norm(pos - tip) < 2e-4:
                break
        q = q.copy()
        q[6] -= self.yaw_sign * wrap_angle(achieved - yaw)
        q[6] = min((q[6] + 2 * np.pi * k for k in (0, -1, 1)), key=lambda v: abs(v))
        ok = bool(np.all(q >= self.lower + 1e-4) and np.all(q <= self.upper - 1e-4))
        ok = ok and self.lower[6] + margin <= q[6] <= self.upper[6] - margin
        if ok:
            self.set_q(q)
            pos, y = self.tool_pose()
            _, rot = self._tcp()
            tilt = float(np.arccos(np.clip(-rot[2, 2], -1.0, 1.0)))
            ok = np.linalg.norm(pos - tip) < POS_TOL and tilt < ANG_TOL and abs(wrap_angle(y - yaw)) < ANG_TOL
        self.set_q(saved)
        return q if ok else None

    def _calibrate(self) -> None:
        """Tool yaw with joints 1 and 7 at zero, and which way joint 7 turns the tool."""
        q = READY_Q.copy()
        q[0] = q[6] = 0.0
        self.set_q(q)
        _, y0 = self.tool_pose()
        q[6] = 0.1
        self.set_q(q)
        _, y1 = self.tool_pose()
        self.yaw_at_zero = y0
        self.yaw_sign = -1.0 if wrap_angle(y1 - y0) < 0 else 1.0
        self.rest = READY_Q.copy()
        self.rest[6] = 0.0

    # -- motion -------------------------------------------------------------------------

    def plan_line(self, tip: np.ndarray, yaw: float) -> list[tuple[np.ndarray, float]] | None:
        """IK waypoints along the straight line from the current tip pose to (tip, yaw).

        The yaw turns the short way round unless that crosses joint 7's dead zone."""
        start, yaw0 = self.tool_pose()
        short = wrap_angle(yaw - yaw0)
        for dyaw in (short, short - np.sign(short) * 2 * np.pi):
            path = self._line(start, yaw0, np.asarray(tip, dtype=float), dyaw)
            if path is not None:
                return path
        return None

    def _line(
        self, start: np.ndarray, yaw0: float, tip: np.ndarray, dyaw: float
    ) -> list[tuple[np.ndarray, float]] | None:
        """(joint angles, tip travel from the previous waypoint) pairs."""
        n = max(1, int(np.ceil(max(np.linalg.norm(tip - start) / IK_STEP, abs(dyaw) / 0.15))))
        seg = float(np.linalg.norm(tip - start)) / n
        saved = self.q.copy()
        path, prev = [], saved
        for i in range(1, n + 1):
            t = i / n
            q = self.ik(start + t * (tip - start), yaw0 + t * dyaw, iterations=10 if i == n else 2)
            if q is None or np.max(np.abs(q - prev)) > 0.5:  # unreachable or a jump (no straight line)
                self.set_q(saved)
                return None
            path.append((q, seg))
            prev = q
            self.set_q(q)  # the next solve starts here: a continuous path
        self.set_q(saved)
        return path

    def follow(
        self,
        path: list[tuple[np.ndarray, float]],
        speed: float,
        dt: float,
        step: Callable[[], None],
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Drive through joint waypoints at ``speed`` m/s of tip motion; True if ``stop`` fired."""
        for q_next, seg in path:
            q_prev = self.q.copy()
            n = max(1, int(round(max(seg, 0.002) / speed / dt)))
            for i in range(1, n + 1):
                self.set_q(q_prev + (q_next - q_prev) * (i / n))
                step()
                if stop is not None and stop():
                    return True
        return False
