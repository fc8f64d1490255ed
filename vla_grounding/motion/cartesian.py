"""Straight-line tool motions as timed joint trajectories (what a joint_trajectory_controller executes).

A segment is solved by IK every ``step`` metres (and every few degrees of yaw) from the
previous solution, so the joint path is continuous; a jump between neighbouring
solutions means no straight line exists there and the segment is refused. Timing is a
trapezoidal speed profile along the line (tool speed and acceleration), stretched where a
joint would exceed its velocity limit times ``velocity_scaling``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_grounding.motion.kinematics import ArmKinematics

MAX_JOINT_JUMP = 0.3  # rad between neighbouring waypoints: more means the IK changed branch


@dataclass(frozen=True)
class MotionLimits:
    speed: float = 0.3  # tool speed along lines (m/s)
    acceleration: float = 1.0  # tool acceleration (m/s^2)
    velocity_scaling: float = 0.5  # fraction of each joint's velocity limit
    step: float = 0.01  # Cartesian waypoint spacing (m)
    yaw_step: float = np.deg2rad(5.0)

    def __post_init__(self) -> None:
        for name in ("speed", "acceleration", "velocity_scaling", "step", "yaw_step"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.velocity_scaling > 1.0:
            raise ValueError(f"velocity_scaling must be <= 1, got {self.velocity_scaling}")


@dataclass
class JointPath:
    """Waypoints after the start (``positions[i]`` reached at ``times[i]`` s), as in a JointTrajectory."""

    joint_names: list[str]
    start: np.ndarray
    positions: np.ndarray  # (n, joints)
    times: np.ndarray  # (n,), increasing, > 0

    @property
    def duration(self) -> float:
        return float(self.times[-1]) if len(self.times) else 0.0

    @property
    def end(self) -> np.ndarray:
        return self.positions[-1] if len(self.positions) else self.start

    def velocities(self) -> np.ndarray:
        """Finite-difference joint velocities at the waypoints; zero at the end."""
        q = np.vstack([self.start, self.positions])
        t = np.concatenate([[0.0], self.times])
        v = np.zeros_like(self.positions)
        for i in range(len(self.positions) - 1):
            v[i] = (q[i + 2] - q[i]) / (t[i + 2] - t[i])
        return v

    def sample(self, t: float) -> np.ndarray:
        """Linear interpolation at time ``t`` (clamped to the ends)."""
        q = np.vstack([self.start, self.positions])
        times = np.concatenate([[0.0], self.times])
        if t >= times[-1]:
            return q[-1].copy()
        i = int(np.searchsorted(times, t, side="right")) - 1
        i = max(i, 0)
        a = (t - times[i]) / (times[i + 1] - times[i])
        return q[i] + a * (q[i + 1] - q[i])


def _profile_times(distances: np.ndarray, speed: float, accel: float) -> np.ndarray:
    """Times at cumulative arc lengths ``distances`` under a trapezoidal (or triangular) speed profile."""
    total = float(distances[-1])
    ramp = speed * speed / accel  # distance to accelerate and brake together
    if total <= ramp:  # triangular: never reaches ``speed``
        peak = np.sqrt(total * accel)
        s_acc = total / 2
    else:
        peak, s_acc = speed, ramp / 2
    t_acc = peak / accel
    t_cruise = (total - 2 * s_acc) / peak
    out = np.empty_like(distances)
    for i, s in enumerate(distances):
        if s <= s_acc:
            out[i] = np.sqrt(2 * s / accel)
        elif s <= total - s_acc:
            out[i] = t_acc + (s - s_acc) / peak
        else:
            remaining = max(total - s, 0.0)
            out[i] = 2 * t_acc + t_cruise - np.sqrt(2 * remaining / accel)
    return out


def line_path(kin: ArmKinematics, q_start: np.ndarray, position: np.ndarray, yaw: float,
              limits: MotionLimits = MotionLimits(), rest: np.ndarray | None = None) -> JointPath | None:
    """The straight line from the tool's pose at ``q_start`` to (``position``, ``yaw``); None if impossible.

    The yaw turns the short way round unless that passes the wrist's limit, then the long way.
    """
    q_start = np.asarray(q_start, dtype=float)
    start, yaw0 = kin.tool_pose(q_start)
    position = np.asarray(position, dtype=float)
    short = float((yaw - yaw0 + np.pi) % (2 * np.pi) - np.pi)
    for turn in (short, short - np.sign(short) * 2 * np.pi) if abs(short) > 1e-6 else (0.0,):
        path = _solve_line(kin, q_start, start, yaw0, position, turn, limits, rest)
        if path is not None:
            return path
    return None


def _solve_line(kin, q_start, start, yaw0, position, turn, limits, rest) -> JointPath | None:
    length = float(np.linalg.norm(position - start))
    n = max(1, int(np.ceil(max(length / limits.step, abs(turn) / limits.yaw_step))))
    qs, prev = [], q_start
    for i in range(1, n + 1):
        f = i / n
        q = kin.ik(start + f * (position - start), yaw0 + f * turn, prev, iterations=100 if i == n else 40, rest=rest)
        if q is None or np.max(np.abs(q - prev)) > MAX_JOINT_JUMP:
            return None
        qs.append(q)
        prev = q
    positions = np.array(qs)
    # arc length: the tool's travel, or the yaw's (scaled to metres at 5 cm radius) when it only turns
    along = np.linspace(0.0, 1.0, n + 1)[1:] * max(length, abs(turn) * 0.05, 1e-6)
    times = _profile_times(along, limits.speed, limits.acceleration)
    # stretch the segments where a joint would be too fast
    q_all = np.vstack([q_start, positions])
    dt = np.diff(np.concatenate([[0.0], times]))
    need = np.max(np.abs(np.diff(q_all, axis=0)) / (kin.limits.velocity * limits.velocity_scaling), axis=1)
    dt = np.maximum(np.maximum(dt, need), 1e-3)
    return JointPath(list(kin.joint_names), q_start.copy(), positions, np.cumsum(dt))
