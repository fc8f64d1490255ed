"""Gazebo (gz sim): bridged camera topics + grounding_node + arm_controller_node (MoveIt backend).

Start your gz world with the arm, its MoveIt bringup (use_sim_time) and ros_gz_bridge for
the RGB-D camera first. ros2 launch vla_grounding gazebo.launch.py [camera:=/rgbd_camera]

A missing params file or any node that dies ends the launch with code 1 and one line.
"""

from vla_grounding.nodes.launch_support import robot_launch_description


def generate_launch_description():
    return robot_launch_description("gazebo.yaml", "/rgbd_camera", {
        "camera/color/image_raw": "/image",
        "camera/depth/image_raw": "/depth_image",
        "camera/color/camera_info": "/camera_info",
    })
