"""Test peer: a careless camera driver and a careless user, for a fixed time, from a seed.

Sends randomized malformed camera frames (encodings, sizes, steps, truncated data, NaN/zero
depth, broken camera_info, odd stamps), instructions (empty, huge, control characters, random
Unicode), PickPlace messages (NaN, inf, outside the workspace, wrong frame, zero quaternion),
``ground`` calls and ExecuteInstruction goals with bad limits, mixed with good frames and good
``ground`` calls / dry-run goals that must still be answered. No good instruction goes to the
topic and no good goal moves, so nothing may be published on ``pick_place`` and nothing may
move in the simulator. Prints ``seed N`` first and one JSON summary line last.

    python fuzz_inputs.py SEED SECONDS TASK SEED_OF_SCENE
"""

import json
import math
import random
import sys
import threading
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from vla_grounding.action import ExecuteInstruction
from vla_grounding.msg import PickPlace
from vla_grounding.srv import Ground

from vla_grounding.nodes.action_call import SafeActionClient
from vla_grounding.nodes.background import BackgroundNode
from vla_grounding.nodes.image_conversion import intrinsics_to_camera_info, numpy_to_image
from vla_grounding.perception.transforms import pose_list_to_matrix
from vla_grounding.sim.env import TabletopEnv

CAMERA_POSE = [0.98, 0.0, 0.55, -0.658268, -0.658268, 0.25823, 0.25823]  # config/sim.yaml
FRAME_ID = "camera_color_optical_frame"
# refusals about the camera input: a good frame still on its way (or lost: best effort) is retried
CAMERA_REFUSALS = ("bad camera input", "no synchronised camera frame", "the newest synchronised camera frame")


class Fuzzer:
    def __init__(self, node: Node, rng: random.Random, frame, instruction: str) -> None:
        self.node, self.rng, self.frame, self.good_instruction = node, rng, frame, instruction
        self.color_pub = node.create_publisher(Image, "camera/color/image_raw", qos_profile_sensor_data)
        self.depth_pub = node.create_publisher(Image, "camera/depth/image_raw", qos_profile_sensor_data)
        self.info_pub = node.create_publisher(CameraInfo, "camera/color/camera_info", qos_profile_sensor_data)
        self.instruction_pub = node.create_publisher(String, "instruction", 10)
        self.pick_place_pub = node.create_publisher(PickPlace, "pick_place", 10)
        self.ground_cli = node.create_client(Ground, "ground")
        self.action = SafeActionClient(node, ExecuteInstruction, "execute_instruction")
        self.published: list[str] = []  # PickPlace from grounding_node (topic instructions: all bad here)
        self.poses = 0  # pick_pose messages: one per successful grounding, so only for the good calls
        self.good_groundings = 0
        node.create_subscription(PickPlace, "pick_place", self._on_pick_place, 10)
        node.create_subscription(PoseStamped, "pick_pose", self._on_pose, 10)
        self.counts: dict[str, int] = {}
        self.failures: list[str] = []

    # -- helpers -----------------------------------------------------------------------------

    def _on_pick_place(self, msg: PickPlace) -> None:
        if msg.instruction != "fuzz":  # not one of ours
            self.published.append(msg.instruction[:80])

    def _on_pose(self, msg: PoseStamped) -> None:
        self.poses += 1

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def stamp(self, offset: float = 0.0):
        t = self.node.get_clock().now().nanoseconds * 1e-9 + offset
        msg = self.node.get_clock().now().to_msg()
        msg.sec, msg.nanosec = int(math.floor(t)), int((t - math.floor(t)) * 1e9)
        return msg

    def good_triple(self, stamp=None):
        stamp = stamp or self.stamp()
        c = numpy_to_image(self.frame.color, "rgb8")
        d = numpy_to_image(self.frame.depth, "32FC1")
        i = intrinsics_to_camera_info(self.frame.intrinsics)
        for m in (c, d, i):  # a copy each: a shared stamp object would carry one message's edits to all three
            m.header.stamp = type(stamp)(sec=stamp.sec, nanosec=stamp.nanosec)
            m.header.frame_id = FRAME_ID
        return c, d, i

    def publish(self, c, d, i) -> None:
        self.color_pub.publish(c)
        self.depth_pub.publish(d)
        self.info_pub.publish(i)

    def wait(self, future, timeout: float):
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"no answer within {timeout} s")
        return future.result()

    # -- the inputs --------------------------------------------------------------------------

    def bad_frame(self) -> None:
        c, d, i = self.good_triple()
        r = self.rng
        change = r.choice([
            lambda: setattr(c, "encoding", r.choice(["yuv422", "", "mono16", "rgb16", "\x00"])),
            lambda: setattr(d, "encoding", r.choice(["rgb8", "8UC1", "64FC1", "bgr8"])),
            lambda: setattr(c, "data", bytes(c.data[: r.randrange(0, len(c.data))])),
            lambda: setattr(d, "data", bytes(r.randrange(0, 1000))),
            lambda: setattr(c, "step", r.choice([0, 1, c.step - 1])),
            lambda: setattr(c, "width", r.choice([0, 1, 10_000, 2**31 - 1])),
            lambda: setattr(c, "height", r.choice([0, 1, 10_000])),
            lambda: setattr(d, "data", np.full(self.frame.depth.shape, r.choice([np.nan, 0.0, -1.0, np.inf]),
                                               np.float32).tobytes()),
            lambda: setattr(i, "k", [r.choice([math.nan, math.inf, -1.0, 0.0, 1e9]) for _ in range(9)]),
            lambda: setattr(i, "d", [r.choice([math.nan, math.inf, 0.3]) for _ in range(5)]),
            lambda: setattr(i, "width", r.choice([0, 1, 4096])),
            lambda: setattr(c.header.stamp, "sec", r.choice([0, 5, 2**31 - 1, -(2**31)])),
            lambda: setattr(d.header.stamp, "sec", d.header.stamp.sec + r.choice([-30, -1, 1, 3600])),
            lambda: setattr(i.header.stamp, "nanosec", r.choice([999_999_999, 0])),
            lambda: setattr(c.header, "frame_id", r.choice(["", "unknown_frame", "\x1b[31m"])),
            lambda: [setattr(m.header, "stamp", self.stamp(r.choice([3600.0, -3600.0, 0.7]))) for m in (c, d, i)],
        ])
        change()
        self.publish(c, d, i)
        self.count("bad_frame")

    def bad_instruction(self) -> None:
        r = self.rng
        text = r.choice([
            "", "   ", "put the red block " * 6000, "put\x00the\x07block\x1b[2J in the bowl",
            "".join(chr(r.randrange(1, 0x2FFFF)) for _ in range(r.randrange(1, 200))),
            "put the \U0001F7E5 block in the \U0001F7E9 bowl", "hello there", "put the purple giraffe in the moon",
        ])
        try:
            self.instruction_pub.publish(String(data=text))
        except Exception:  # a string rclpy cannot encode (lone surrogates): the user could not send it either
            return
        self.count("bad_instruction")

    def bad_pick_place(self) -> None:
        r = self.rng
        msg = PickPlace()
        msg.header.frame_id = r.choice(["base_link", "world", ""])
        msg.instruction = "fuzz"
        for pose in (msg.pick, msg.place):
            pose.position.x = r.choice([math.nan, math.inf, 5.0, -5.0, 0.5])
            pose.position.y = r.choice([math.nan, 0.0, 3.0])
            pose.position.z = r.choice([-1.0, 0.02, math.inf])
            pose.orientation.x, pose.orientation.w = r.choice([(0.0, 0.0), (math.nan, 1.0), (1.0, 0.0)])
        if all(math.isfinite(v) and 0.25 <= p.position.x <= 0.75 and -0.25 <= p.position.y <= 0.25
               and 0.0 <= p.position.z <= 0.28 and p.orientation.x == 1.0 and msg.header.frame_id != "world"
               for p in (msg.pick, msg.place) for v in (p.position.x, p.position.y, p.position.z)):
            msg.pick.position.x = math.nan  # this draw came out valid: keep it a bad one
        self.pick_place_pub.publish(msg)
        self.count("bad_pick_place")

    def bad_ground_call(self) -> None:
        r = self.rng
        request = Ground.Request(instruction=r.choice(["", "put the purple giraffe in the blue bowl", "\x07"]),
                                 min_confidence=r.choice([0.0, math.nan, 5.0, -1.0]),
                                 max_image_age=r.choice([0.0, -1.0, math.nan, math.inf]))
        if request.instruction.startswith("put the purple") and request.min_confidence in (0.0,) and \
                request.max_image_age == 0.0:
            request.min_confidence = math.nan
        response = self.wait(self.ground_cli.call_async(request), 60)
        if response.success:
            self.failures.append(f"bad ground call succeeded: {request}")
        self.count("bad_ground_call")

    def bad_goal(self) -> None:
        r = self.rng
        goal = ExecuteInstruction.Goal(instruction=r.choice([self.good_instruction, "", "\x1b"]),
                                       min_confidence=r.choice([math.nan, 2.0]),
                                       max_image_age=r.choice([-1.0, math.nan, math.inf]))
        handle = self.wait(self.action.send_goal_async(goal), 60)
        if handle.accepted:
            result = self.wait(handle.get_result_async(), 120).result
            if result.success:
                self.failures.append(f"a bad goal succeeded: {goal}")
        self.count("bad_goal")

    def good_calls(self) -> None:
        """A good frame, then a good ground call and a dry-run goal: both must succeed.

        Camera topics are best effort: when all good frames were lost on the way (it happens
        under load), the node rightly grounds the last bad one. Then the frames are sent again.
        """
        for attempt in range(3):
            for _ in range(3):
                self.publish(*self.good_triple())
                time.sleep(0.05)
            time.sleep(0.15 + 0.3 * attempt)
            response = self.wait(self.ground_cli.call_async(Ground.Request(instruction=self.good_instruction)), 60)
            if response.success or not response.message.startswith(CAMERA_REFUSALS):
                break
            self.count("good_frames_late_or_lost")
        self.good_groundings += response.success
        if not response.success:
            self.failures.append(f"a good ground call was refused: {response.message}")
        handle = self.wait(self.action.send_goal_async(
            ExecuteInstruction.Goal(instruction=self.good_instruction, dry_run=True)), 60)
        result = self.wait(handle.get_result_async(), 120).result if handle.accepted else None
        self.good_groundings += bool(result and result.success)
        if result is None or not result.success:
            self.failures.append(f"a good dry-run goal failed: {result.message if result else 'rejected'}")
        self.count("good_calls")


def main() -> int:
    seed, seconds, task, scene_seed = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    print(f"seed {seed}", flush=True)
    rng = random.Random(seed)
    with TabletopEnv(task, camera_pose=pose_list_to_matrix(CAMERA_POSE), render_backend="tiny") as env:
        frame = env.reset(scene_seed)
        instruction = env.instruction
    rclpy.init()
    spinner = BackgroundNode("fuzz_inputs")
    node = spinner.node
    fuzz = Fuzzer(node, rng, frame, instruction)
    deadline = time.monotonic() + 120
    while not (fuzz.ground_cli.service_is_ready() and fuzz.action.server_is_ready()
               and node.count_subscribers("camera/color/image_raw")):
        if time.monotonic() > deadline:
            print(json.dumps({"failures": ["the graph did not come up"]}), flush=True)
            return 1
        time.sleep(0.1)
    kinds = [(fuzz.bad_frame, 40), (fuzz.bad_instruction, 10), (fuzz.bad_pick_place, 10),
             (fuzz.bad_ground_call, 6), (fuzz.bad_goal, 3), (fuzz.good_calls, 4)]
    end = time.monotonic() + seconds
    fuzz.good_calls()
    while time.monotonic() < end:
        action = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        try:
            action()
        except TimeoutError as exc:
            fuzz.failures.append(f"{action.__name__}: {exc}")
        time.sleep(rng.choice([0.0, 0.005, 0.02]))
    fuzz.good_calls()
    time.sleep(1.0)
    print(json.dumps({"seed": seed, "counts": fuzz.counts, "published": fuzz.published[:20], "poses": fuzz.poses,
                      "good_groundings": fuzz.good_groundings, "failures": fuzz.failures[:20]}), flush=True)
    fuzz.action.destroy()
    spinner.close()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
