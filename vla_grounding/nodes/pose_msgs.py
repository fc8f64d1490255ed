"""geometry_msgs for tool poses: a position and a yaw, the tool pointing straight down."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Pose, PoseStamped

from vla_grounding.perception.transforms import tool_down_quaternion


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
