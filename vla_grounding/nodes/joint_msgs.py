"""trajectory_msgs / sensor_msgs <-> numpy for the ros2_control interfaces (joint paths, joint states)."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_grounding.motion.cartesian import JointPath


def duration(seconds: float) -> Duration:
    sec = int(np.floor(seconds))
    return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


def seconds(d: Duration) -> float:
    return d.sec + d.nanosec * 1e-9


def path_to_msg(path: JointPath) -> JointTrajectory:
    """The waypoints after the start, with velocities; stamp zero = start on arrival (as the JTC reads it)."""
    msg = JointTrajectory()
    msg.joint_names = list(path.joint_names)
    for q, v, t in zip(path.positions, path.velocities(), path.times, strict=True):
        msg.points.append(JointTrajectoryPoint(positions=[float(x) for x in q], velocities=[float(x) for x in v],
                                               time_from_start=duration(float(t))))
    return msg


def msg_points(msg: JointTrajectory) -> list[tuple[list[float], float]]:
    return [(list(p.positions), seconds(p.time_from_start)) for p in msg.points]


def joint_positions(names: list[str], msg_names, msg_positions) -> np.ndarray | None:
    """``names``' positions from a JointState's names and positions; None if any is missing."""
    index = {n: i for i, n in enumerate(msg_names)}
    if any(n not in index for n in names) or len(msg_positions) != len(msg_names):
        return None
    return np.array([msg_positions[index[n]] for n in names], dtype=float)
