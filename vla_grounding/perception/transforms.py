"""Rigid transforms as 4x4 matrices and ROS-style (x, y, z) + (qx, qy, qz, qw) poses."""

from __future__ import annotations

import numpy as np


def quaternion_to_matrix(q_xyzw) -> np.ndarray:
    """3x3 rotation of a (qx, qy, qz, qw) quaternion (normalised here; ValueError if zero)."""
    x, y, z, w = np.asarray(q_xyzw, dtype=float).reshape(4)
    n = x * x + y * y + z * z + w * w
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"quaternion {q_xyzw} has no rotation (zero or non-finite norm)")
    s = 2.0 / n
    return np.array([
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
    ])


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(qx, qy, qz, qw) of a 3x3 rotation matrix, w >= 0."""
    r = np.asarray(r, dtype=float)[:3, :3]
    t = np.trace(r)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k])
        q = [0.0, 0.0, 0.0, (r[k, j] - r[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (r[j, i] + r[i, j]) / s
        q[k] = (r[k, i] + r[i, k]) / s
    q = np.array(q)
    return -q if q[3] < 0 else q


def pose_to_matrix(xyz, q_xyzw) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = quaternion_to_matrix(q_xyzw)
    t[:3, 3] = np.asarray(xyz, dtype=float).reshape(3)
    return t


def matrix_to_pose(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float)
    return t[:3, 3].copy(), matrix_to_quaternion(t[:3, :3])


def pose_list_to_matrix(values) -> np.ndarray:
    """[x, y, z, qx, qy, qz, qw] (a YAML/ROS parameter) -> 4x4; ValueError when malformed."""
    values = [float(v) for v in values]
    if len(values) != 7 or not np.all(np.isfinite(values)):
        raise ValueError(f"a pose needs 7 finite numbers [x, y, z, qx, qy, qz, qw], got {values}")
    return pose_to_matrix(values[:3], values[3:])


def matrix_to_pose_list(t: np.ndarray) -> list[float]:
    xyz, q = matrix_to_pose(t)
    return [float(v) for v in (*xyz, *q)]


def tool_down_quaternion(yaw: float) -> np.ndarray:
    """Tool z axis pointing straight down, turned by ``yaw`` about the base z axis."""
    return np.array([np.cos(yaw / 2.0), np.sin(yaw / 2.0), 0.0, 0.0])


def yaw_of_quaternion(q_xyzw) -> float:
    """Rotation about base z of a tool-down orientation (the x axis' heading)."""
    r = quaternion_to_matrix(q_xyzw)
    return float(np.arctan2(r[1, 0], r[0, 0]))
