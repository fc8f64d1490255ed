"""geometry_msgs <-> numpy: tool poses (a position and a yaw, the tool pointing straight down)
and 4x4 transforms (the camera calibration on tf2)."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Pose, PoseStamped, Transform, TransformStamped

from vla_grounding.perception.transforms import matrix_to_pose_list, pose_to_matrix, tool_down_quaternion


def tool_pose(position, yaw: float) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in np.asarray(position).reshape(3))
    q = tool_down_quaternion(float(yaw))
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
    return pose


def tool_pose_stamped(frame_id: str, position, yaw: float) -> PoseStamped:
    msg = PoseStamped(pose=tool_pose(position, yaw))
    msg.header.frame_id = frame_id
    return msg


def transform_stamped(parent: str, child: str, matrix: np.ndarray, stamp) -> TransformStamped:
    """``child``'s 4x4 pose in ``parent`` as a tf2 transform stamped ``stamp`` (builtin_interfaces/Time)."""
    t = TransformStamped()
    t.header.stamp, t.header.frame_id, t.child_frame_id = stamp, parent, child
    x, y, z, qx, qy, qz, qw = (float(v) for v in matrix_to_pose_list(matrix))
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = x, y, z
    t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = qx, qy, qz, qw
    return t


def transform_to_matrix(transform: Transform) -> np.ndarray:
    """4x4 matrix of a geometry_msgs/Transform."""
    tr, r = transform.translation, transform.rotation
    return pose_to_matrix([tr.x, tr.y, tr.z], [r.x, r.y, r.z, r.w])
