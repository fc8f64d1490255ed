"""Test peer: publish one known PickPlace on `pick_place` once a subscriber is there, then exit."""

import sys
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from vla_grounding.msg import PickPlace


def known_pick_place() -> PickPlace:
    msg = PickPlace()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1234, 567_000_000
    msg.header.frame_id = "base_link"
    msg.instruction = "put the red block in the blue bowl"
    msg.policy = "clip_regions"
    msg.pick_phrase, msg.place_phrase = "the red block", "the blue bowl"
    msg.pick.position.x, msg.pick.position.y, msg.pick.position.z = 0.51, -0.12, 0.04
    msg.pick.orientation.x, msg.pick.orientation.w = 1.0, 0.0
    msg.place.position.x, msg.place.position.y, msg.place.position.z = 0.43, 0.2, 0.02
    msg.pick_confidence, msg.place_confidence = 0.875, 0.5
    msg.pick_pixel, msg.place_pixel = [24, 83], [144, 57]
    msg.pixel_size = 0.003125
    return msg


def main() -> int:
    rclpy.init()
    node = Node("pickplace_publisher")
    qos = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
    pub = node.create_publisher(PickPlace, "pick_place", qos)
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    pub.publish(known_pick_place())
    time.sleep(1.0)  # let the reliable sample be acknowledged before the writer goes
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
