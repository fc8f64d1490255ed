"""Franka FR3 + RealSense: grounding_node + arm_controller_node (MoveIt backend through moveit_py).

Start first: the FR3's ros2_control bring-up with its gripper (franka_ros2), the camera
(``ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true``), and your hand-eye
calibration on tf2. Then:
ros2 launch vla_grounding fr3_realsense.launch.py [camera:=/camera/camera] [params_file:=...]

A missing params file, a missing moveit_py, or any node that dies ends the launch with code 1
and one line that says what is missing.
"""

from vla_grounding.nodes.launch_support import REALSENSE_TOPICS, robot_launch_description


def generate_launch_description():
    return robot_launch_description("fr3_realsense.yaml", "/camera/camera", REALSENSE_TOPICS)
