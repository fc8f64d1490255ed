"""A real arm: RealSense camera topics + grounding_node + arm_controller_node (MoveIt backend).

Start your robot's MoveIt bringup and the camera driver (realsense2_camera with
align_depth.enable:=true) first, and publish the camera's calibrated pose on tf2.
ros2 launch vla_grounding real_robot.launch.py [camera:=/camera/camera] [params_file:=...]

A missing params file, a missing backend (moveit_py), no camera pose or any node that dies
ends the launch with code 1 and one line that says what is missing.
"""

from vla_grounding.nodes.launch_support import robot_launch_description


def generate_launch_description():
    return robot_launch_description("real_robot.yaml", "/camera/camera", {
        "camera/color/image_raw": "/color/image_raw",
        "camera/depth/image_raw": "/aligned_depth_to_color/image_raw",
        "camera/color/camera_info": "/color/camera_info",
    })
