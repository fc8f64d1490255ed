"""UR5e + RealSense: grounding_node + arm_controller_node (ros2_control backend, suction on a UR output).

Start first: ``ros2 launch ur_robot_driver ur_control.launch.py ur_type:=ur5e robot_ip:=<ip>``, the
camera (``ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true``), and your hand-eye
calibration on tf2. Then:
ros2 launch vla_grounding ur5e_realsense.launch.py [camera:=/camera/camera] [params_file:=...]

A missing params file, no robot_description from the driver within robot_description_timeout,
or any node that dies ends the launch with code 1 and one line that says what is missing.
"""

from vla_grounding.nodes.launch_support import REALSENSE_TOPICS, robot_launch_description


def generate_launch_description():
    return robot_launch_description("ur5e_realsense.yaml", "/camera/camera", REALSENSE_TOPICS)
