"""Arm kinematics from a URDF (pinocchio): forward kinematics and IK for a tool pointing down.

pinocchio reads the robot_description a ROS arm publishes, so the same code serves the
simulator's Panda, a UR5e or an FR3. IK is damped least squares on the SE(3) log error (the
scheme of pinocchio's own inverse-kinematics example), with a null-space pull towards a
rest posture so the redundant elbow of a 7-joint arm does not drift from goal to goal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

POS_TOL = 1e-4  # IK acceptance (m)
ROT_TOL = 1e-3  # IK acceptance (rad)


def tool_down_rotation(yaw: float) -> np.ndarray:
    """Tool z axis pointing down at the table, its x axis at ``yaw`` about base z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def yaw_of_rotation(rot: np.ndarray) -> float:
    return float(np.arctan2(rot[1, 0], rot[0, 0]))


@dataclass(frozen=True)
class JointLimits:
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray


class ArmKinematics:
    """The chain from the URDF's root to ``tool_frame``, with the tool point ``tool_offset`` along its z axis.

    Joints off that chain (fingers) are locked at zero; ``joint_names`` are the chain's
    movable joints, root first, as joint_states and the trajectory controller name them.
    """

    def __init__(self, urdf_xml: str, tool_frame: str, tool_offset: float = 0.0) -> None:
        try:
            full = pin.buildModelFromXML(urdf_xml)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"robot_description is not a URDF pinocchio can read: {exc}") from exc
        if not full.existFrame(tool_frame):
            links = sorted({f.name for f in full.frames if f.type == pin.FrameType.BODY})
            raise ValueError(f"tool frame {tool_frame!r} is not in robot_description; its links: {links}")
        chain = list(full.supports[full.frames[full.getFrameId(tool_frame)].parentJoint])[1:]
        lock = [j for j in range(1, full.njoints) if j not in chain]
        self.model = pin.buildReducedModel(full, lock, pin.neutral(full)) if lock else full
        if any(self.model.joints[j].nq != 1 for j in range(1, self.model.njoints)):
            raise ValueError("only revolute and prismatic joints are supported on the arm chain")
        self.joint_names = [self.model.names[j] for j in range(1, self.model.njoints)]
        parent = self.model.getFrameId(tool_frame)
        frame = self.model.frames[parent]
        placement = frame.placement * pin.SE3(np.eye(3), np.array([0.0, 0.0, tool_offset]))
        self.tool_id = self.model.addFrame(
            pin.Frame("vla_tool_point", frame.parentJoint, parent, placement, pin.FrameType.OP_FRAME))
        self.data = self.model.createData()
        self.limits = JointLimits(self.model.lowerPositionLimit.copy(), self.model.upperPositionLimit.copy(),
                                  self.model.velocityLimit.copy())
        self.rest = np.clip((self.limits.lower + self.limits.upper) / 2, self.limits.lower, self.limits.upper)

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool point position and rotation (base frame) at joint positions ``q``."""
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, dtype=float))
        m = self.data.oMf[self.tool_id]
        return m.translation.copy(), m.rotation.copy()

    def tool_pose(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        pos, rot = self.fk(q)
        return pos, yaw_of_rotation(rot)

    def within_limits(self, q: np.ndarray, margin: float = 0.0) -> bool:
        return bool(np.all(q >= self.limits.lower + margin) and np.all(q <= self.limits.upper - margin))

    def ik(self, position: np.ndarray, yaw: float, seed: np.ndarray, iterations: int = 100,
           rest: np.ndarray | None = None) -> np.ndarray | None:
        """Joint positions near ``seed`` putting the tool point at ``position``, pointing down at ``yaw``.

        None when no solution within the joint limits is found (out of reach, or the yaw
        needs a wrist angle past its limit).
        """
        model, data = self.model, self.data
        target = pin.SE3(tool_down_rotation(yaw), np.asarray(position, dtype=float))
        q = np.clip(np.asarray(seed, dtype=float).copy(), self.limits.lower, self.limits.upper)
        rest = self.rest if rest is None else rest
        damping = 1e-6
        for _ in range(iterations):
            pin.framesForwardKinematics(model, data, q)
            error_se3 = data.oMf[self.tool_id].actInv(target)
            err = pin.log6(error_se3).vector
            if np.linalg.norm(err[:3]) < POS_TOL and np.linalg.norm(err[3:]) < ROT_TOL:
                return q if self.within_limits(q) else None
            jac = pin.computeFrameJacobian(model, data, q, self.tool_id, pin.ReferenceFrame.LOCAL)
            jac = pin.Jlog6(error_se3.inverse()) @ jac
            jjt = jac @ jac.T + damping * np.eye(6)
            v = jac.T @ np.linalg.solve(jjt, err)
            null = np.eye(model.nv) - jac.T @ np.linalg.solve(jjt, jac)
            v += null @ (0.1 * (rest - q))
            step = np.max(np.abs(v))
            if step > 0.5:  # keep each update small: the linearisation holds
                v *= 0.5 / step
            q = np.clip(pin.integrate(model, q, v), self.limits.lower, self.limits.upper)
        return None
