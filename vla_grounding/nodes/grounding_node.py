"""grounding_node: instruction + latest RGB-D frame -> PickPlace in the robot base frame.

Camera topics (sensor QoS) only update a "latest synchronised frame" slot: no work is done
per frame until an instruction arrives on ``instruction`` (std_msgs/String) or through the
``ground`` service. Topic instructions are published on ``pick_place`` (the arm controller
executes those); service calls are answered only (the ``execute_instruction`` action uses
them). Every decision also goes to ``pick_pose`` / ``place_pose`` (PoseStamped),
``grounding/heatmap`` (Image) and ``grounding/markers`` (MarkerArray); every outcome, refusals
included, to ``grounding/status`` (String). All outputs carry the colour image's stamp.
"""

from __future__ import annotations

# First, before rclpy and torch load: a SIGINT/SIGTERM from here on exits 0.
import vla_grounding.nodes.stop_signals  # noqa: F401  isort: skip

# isort: split

import datetime
import gc
import importlib.util
import math
import os
import time
import traceback
import unicodedata

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from vla_grounding.msg import PickPlace
from vla_grounding.nodes.frame_sync import FRAME_SYNCS, NAMES, SyncedFrame, subscribe_rgbd
from vla_grounding.nodes.image_conversion import (
    camera_info_to_intrinsics,
    color_to_rgb,
    depth_image_to_metres,
    load_cv_bridge,
    numpy_to_image,
)
from vla_grounding.nodes.params import declare, declare_camera_pose, declare_fiducials, declare_workspace
from vla_grounding.nodes.pose_msgs import tool_pose, transform_to_matrix
from vla_grounding.nodes.run import run_node
from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.fiducials import refined
from vla_grounding.policy import POLICIES, GroundingRefused, PickPlacePlan, make_policy
from vla_grounding.srv import Ground

MIN_VALID_DEPTH_FRACTION = 0.01


class Refusal(Exception):
    """This instruction will not produce a pose; the message says why."""


class TfCameraPose:
    """tf2 lookups of the camera pose at an image's stamp, from a listener with its own thread.

    The listener lives on a helper node (``<node>_tf``) spun by its own executor, so a lookup
    that waits inside one of the grounding node's callbacks still receives the transforms it
    waits for (an eye-in-hand camera's pose changes while the arm moves). tf2_ros's own
    ``spin_thread`` would add the grounding node to a second executor instead.
    """

    def __init__(self, node_name: str, timeout: float) -> None:
        import tf2_ros

        from vla_grounding.nodes.background import BackgroundNode

        self.timeout = timeout
        self.buffer = tf2_ros.Buffer()
        self._spinner = BackgroundNode(f"{node_name}_tf", threads=1)
        self._listener = tf2_ros.TransformListener(self.buffer, self._spinner.node)

    def lookup(self, target: str, source: str, stamp) -> np.ndarray:
        """4x4 pose of ``source`` in ``target`` at ``stamp`` (builtin_interfaces/Time); tf2 errors raise."""
        from rclpy.duration import Duration
        from rclpy.time import Time

        t = self.buffer.lookup_transform(target, source, Time.from_msg(stamp), Duration(seconds=self.timeout))
        return transform_to_matrix(t.transform)

    def close(self) -> None:
        self._listener.unregister()
        self._spinner.close()


class GroundingNode(Node):
    def __init__(self) -> None:
        super().__init__("grounding_node")
        self.policy_name = declare(self, "policy", "clip_regions", "grounding policy", choices=sorted(POLICIES))
        checkpoint = declare(self, "checkpoint", "", "policy checkpoint path, or for cliport a task with a shipped "
                                "checkpoint (stack-block-pyramid-seq), or multi (one model for every task it was "
                                "trained on); empty = the package's default one")
        device = declare(self, "device", "auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:N")
        threads = declare(self, "torch_threads", 0, "CPU threads for torch; 0 = half the cores (1 on a 2-core "
                          "machine: the camera driver and DDS need the rest, and two threads contend)", low=0)
        clip_model = declare(self, "clip_model", "", "clip_regions: open_clip model name (e.g. ViT-B-32); "
                             "empty = the shipped small CLIP")
        clip_pretrained = declare(self, "clip_pretrained", "", "clip_regions: open_clip pretrained tag (e.g. "
                                  "openai) or a local weights path; fetched once by open_clip on real robots")
        balance = declare(self, "white_balance", "auto", "balance colours so the table has the simulated table's "
                          "colour: table, off, or auto (on for the shipped models, trained on simulator renders)",
                          choices=["auto", "table", "off"])
        self.base_frame = declare(self, "base_frame", "base_link", "robot base frame of all published poses")
        self.min_confidence = declare(self, "min_confidence", 0.5, "refuse when pick or place confidence is lower "
                                      "(clip_regions also uses it to decide which regions match)",
                                      low=0.0, high=1.0)
        self.max_image_age = declare(self, "max_image_age", 2.0, "refuse when the newest frame is older (s)",
                                     low=0.0)
        slop = declare(self, "sync_slop", 0.02, "max stamp difference of colour, depth and camera_info (s)", low=0.0)
        self.max_chars = declare(self, "max_instruction_chars", 300, "longer instructions are refused", low=1)
        use_tf = declare(self, "use_tf", True, "look the camera pose up in tf2 (at the image's stamp) when "
                         "tf2_ros is installed")
        tf_timeout = declare(self, "tf_timeout", 0.5, "max seconds to wait for the camera's transform at the "
                             "image's stamp", low=0.0, high=10.0)
        self.calibration = declare_camera_pose(self, "camera optical frame in the base frame [x, y, z, qx, qy, qz, "
                                               "qw]; used when tf2 is missing or has no transform")
        sync_backend = declare(self, "frame_sync", "on_demand", "colour/depth/camera_info matching: on_demand "
                               "(messages read only when an instruction needs a frame: no work per frame), "
                               "message_filters' ApproximateTimeSynchronizer or the builtin matcher (a callback "
                               "per message), or auto (message_filters if installed, else builtin)",
                               choices=list(FRAME_SYNCS))
        conversion = declare(self, "image_conversion", "auto", "sensor_msgs/Image decoding: cv_bridge, numpy, or "
                             "auto (cv_bridge where it works)", choices=["auto", "cv_bridge", "numpy"])
        self.workspace = declare_workspace(self)
        self.fiducials = declare_fiducials(self)
        self.bridge = None if conversion == "numpy" else load_cv_bridge(required=conversion == "cv_bridge")
        self.tf: TfCameraPose | None = None
        self._visuals: tuple | None = None
        self.last_timings: dict[str, float] = {}
        want_tf = use_tf and importlib.util.find_spec("tf2_ros") is not None
        if not want_tf and self.calibration is None:
            why = "tf2_ros is not installed" if use_tf else "use_tf is false"
            raise ValueError(f"no camera pose: {why} and the camera_pose parameter is empty; set camera_pose "
                             "[x, y, z, qx, qy, qz, qw] (your hand-eye calibration)")
        if use_tf and not want_tf:
            self.get_logger().warning("tf2_ros is not installed: the camera pose is the camera_pose parameter")

        import torch

        torch.set_num_threads(threads or max(1, (os.cpu_count() or 2) // 2))
        options: dict = {"device": device}
        if balance != "auto":
            options["white_balance"] = balance == "table"
        if checkpoint:
            options["checkpoint"] = checkpoint
        if self.policy_name == "clip_regions":
            options.update(workspace=self.workspace, min_confidence=self.min_confidence)
            if clip_model:
                options["model"] = clip_model
            if clip_pretrained:
                options["pretrained"] = clip_pretrained
        start = time.monotonic()
        try:
            self.policy = make_policy(self.policy_name, **options)
        except Exception as exc:  # corrupt/missing checkpoints come in many exception types
            raise RuntimeError(f"cannot load the {self.policy_name} policy: {exc}") from exc
        self.get_logger().info(f"{self.policy_name} policy ready in {time.monotonic() - start:.1f} s")
        if want_tf:
            self.tf = TfCameraPose(self.get_name(), tf_timeout)

        self.sync = subscribe_rgbd(self, sync_backend, {"color": (Image, "camera/color/image_raw"),
                                                        "depth": (Image, "camera/depth/image_raw"),
                                                        "info": (CameraInfo, "camera/color/camera_info")},
                                   qos_profile_sensor_data, slop)
        self.create_subscription(String, "instruction", self._on_instruction, QoSProfile(depth=10))
        self.create_service(Ground, "ground", self._on_ground)
        self.pick_place_pub = self.create_publisher(PickPlace, "pick_place", 10)
        self.pick_pose_pub = self.create_publisher(PoseStamped, "pick_pose", 10)
        self.place_pose_pub = self.create_publisher(PoseStamped, "place_pose", 10)
        self.heatmap_pub = self.create_publisher(Image, "grounding/heatmap", 1)
        self.markers_pub = self.create_publisher(MarkerArray, "grounding/markers", 1)
        self.status_pub = self.create_publisher(String, "grounding/status", 10)
        pose_source = "tf2" if self.tf else "camera_pose"
        if self.tf and self.calibration is not None:
            pose_source += " (camera_pose as the fallback)"
        self.get_logger().info(f"frames matched by {self.sync.name}, images decoded by "
                               f"{'cv_bridge' if self.bridge else 'numpy'}, camera pose from {pose_source}")
        # The models and libraries loaded above live until exit: keep the garbage collector from
        # walking them again during every instruction.
        gc.collect()
        gc.freeze()

    # -- instruction entry points ---------------------------------------------------------

    def _on_instruction(self, msg: String) -> None:
        try:
            out = self._ground_safely(msg.data)
        except Refusal as exc:
            self._report(f"refused: {exc}", error=True)
            return
        self.pick_place_pub.publish(out)
        self._publish_visuals_safely()
        self._report(f"ok: {self._summary(out)} {self._timing_text()}")

    def _on_ground(self, request: Ground.Request, response: Ground.Response) -> Ground.Response:
        try:
            min_confidence, max_age = _request_limits(request.min_confidence, request.max_image_age)
            response.pick_place = self._ground_safely(request.instruction, min_confidence, max_age)
        except Refusal as exc:
            response.success, response.message = False, str(exc)
            self._report(f"refused: {exc}", error=True)
            return response
        response.success, response.message = True, self._summary(response.pick_place)
        self._publish_visuals_safely()
        self._report(f"ok: {response.message} {self._timing_text()}")
        return response

    def _report(self, text: str, error: bool = False) -> None:
        # one logging call per severity: rclpy refuses a call site whose severity changes
        if error:
            self.get_logger().error(text)
        else:
            self.get_logger().info(text)
        self.status_pub.publish(String(data=text))

    @staticmethod
    def _summary(m: PickPlace) -> str:
        p, q = m.pick.position, m.place.position
        return (f"{m.instruction!r}: pick ({p.x:.3f}, {p.y:.3f}, {p.z:.3f}) conf {m.pick_confidence:.2f}, "
                f"place ({q.x:.3f}, {q.y:.3f}, {q.z:.3f}) conf {m.place_confidence:.2f}")

    def _ground_safely(self, text: str, min_confidence: float | None = None, max_age: float | None = None):
        """``ground`` with any unexpected error turned into a refusal: the node keeps running."""
        try:
            return self.ground(text, min_confidence, max_age)
        except Refusal:
            raise
        except Exception as exc:
            self.get_logger().error(traceback.format_exc())
            raise Refusal(f"internal error: {exc}") from exc

    # -- grounding ------------------------------------------------------------------------

    def ground(self, text: str, min_confidence: float | None = None, max_age: float | None = None) -> PickPlace:
        """Ground ``text`` in the newest frame; Refusal (never a pose) when anything is off."""
        t0 = time.perf_counter()
        instruction = self._check_instruction(text)
        synced = self._fresh_frame(max_age if max_age is not None else self.max_image_age)
        t1 = time.perf_counter()
        frame = self._to_rgbd(synced)
        t2 = time.perf_counter()
        frame, fiducial_warnings = self._refine_camera_pose(frame)
        start = time.perf_counter()
        try:
            plan = self.policy.act(frame, instruction)
        except GroundingRefused as exc:
            raise Refusal(_with_depth_holes(str(exc), frame.depth)) from exc
        except Exception as exc:  # a policy bug must not take the node down
            self.get_logger().error(traceback.format_exc())
            raise Refusal(f"the {self.policy_name} policy failed: {exc}") from exc
        self.last_timings = {"frame": t1 - t0, "decode": t2 - t1, "policy": time.perf_counter() - start,
                             **({"fiducials": start - t2} if self.fiducials else {}),
                             **{k: v for k, v in plan.timings.items() if k not in ("total", "policy")}}
        for warning in fiducial_warnings + plan.warnings:
            self.get_logger().warning(warning)
        self._check_plan(plan, min_confidence if min_confidence is not None else self.min_confidence)
        out = self._to_msg(plan, instruction, synced)
        self._visuals = (out, plan, frame)  # published after the pose: they must not delay it
        return out

    def _publish_visuals_safely(self) -> None:
        visuals, self._visuals = self._visuals, None
        if visuals is None:
            return
        try:
            self._publish_visuals(*visuals)
        except Exception:  # pictures must never cost the pose
            self.get_logger().error(f"could not publish the visualisation: {traceback.format_exc()}")

    def _timing_text(self) -> str:
        return "(" + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in self.last_timings.items()) + ")"

    def _check_instruction(self, text: str) -> str:
        instruction = " ".join((text or "").split())
        if not instruction:
            raise Refusal("empty instruction")
        if len(instruction) > self.max_chars:
            raise Refusal(f"instruction is {len(instruction)} characters long (max_instruction_chars "
                          f"{self.max_chars})")
        control = next(((i, c) for i, c in enumerate(instruction) if unicodedata.category(c) == "Cc"), None)
        if control is not None:
            raise Refusal(f"instruction contains the control character U+{ord(control[1]):04X} at position "
                          f"{control[0]}")
        return instruction

    def _fresh_frame(self, max_age: float) -> SyncedFrame:
        synced = self.sync.latest()
        if synced is None:
            raise Refusal(f"no synchronised camera frame: {self.sync.describe_missing()}")
        now = self.get_clock().now().nanoseconds * 1e-9
        age = now - synced.stamp
        if max_age > 0 and age > max_age:
            raise Refusal(f"the newest synchronised camera frame is {age:.2f} s old (max_image_age {max_age:g} s): "
                          + self._why_stale(synced, age, max_age))
        return synced

    def _why_stale(self, synced: SyncedFrame, age: float, max_age: float) -> str:
        """Why no fresh frame: an unset camera clock, streams that stopped, or stamps that stopped matching."""
        if age > 86400.0:
            stamp = datetime.datetime.fromtimestamp(synced.stamp, datetime.UTC)
            return (f"it is stamped {stamp:%Y-%m-%d %H:%M:%S} UTC: the camera's clock is not synchronised with "
                    "this node's")
        quiet = [NAMES[s] for s in self.sync.STREAMS
                 if time.monotonic() - self.sync.last_arrival.get(s, float("-inf")) > max_age]
        if quiet:
            return f"no {', no '.join(quiet)} for {max_age:g} s: is the camera still publishing?"
        return "frames keep arriving but do not match: " + self.sync.describe_mismatch()

    def _to_rgbd(self, synced: SyncedFrame) -> RGBDFrame:
        try:
            color = color_to_rgb(synced.color, self.bridge)
            depth = depth_image_to_metres(synced.depth, self.bridge)
            intrinsics = camera_info_to_intrinsics(synced.info)
        except ValueError as exc:
            raise Refusal(f"bad camera input: {exc}") from exc
        if depth.shape != color.shape[:2]:
            raise Refusal(f"depth {depth.shape[1]}x{depth.shape[0]} is not aligned to colour "
                          f"{color.shape[1]}x{color.shape[0]}: publish depth registered to the colour camera")
        if (intrinsics.width, intrinsics.height) != (color.shape[1], color.shape[0]):
            raise Refusal(f"camera_info is for {intrinsics.width}x{intrinsics.height} but the colour image is "
                          f"{color.shape[1]}x{color.shape[0]}")
        valid = np.isfinite(depth).mean()
        if valid < MIN_VALID_DEPTH_FRACTION:
            raise Refusal(f"depth image has {valid:.1%} valid pixels: is the depth camera covered or too close?")
        return RGBDFrame(color, depth, intrinsics, self._camera_pose(synced), synced.stamp,
                         synced.color.header.frame_id)

    def _refine_camera_pose(self, frame: RGBDFrame) -> tuple[RGBDFrame, list[str]]:
        """The frame with its camera pose corrected by the fiducials (when configured), and the warnings.
        Markers out of view leave the calibrated pose, with a warning: the policy then works as without them."""
        if self.fiducials is None:
            return frame, []
        try:
            frame, found = refined(frame, self.workspace, self.fiducials)
        except ValueError as exc:
            return frame, [f"fiducials: {exc}; using the calibrated camera pose"]
        warning = found.warning()
        return frame, [warning] if warning else []

    def _camera_pose(self, synced: SyncedFrame) -> np.ndarray:
        if self.tf is None:
            return self.calibration
        frame = synced.color.header.frame_id
        try:
            return self.tf.lookup(self.base_frame, frame, synced.color.header.stamp)
        except Exception as exc:  # tf2 raises several lookup exception types; rclpy Time a ValueError
            reason = f"tf2 has no transform {self.base_frame} <- {frame!r} at the image's stamp ({exc})"
            if self.calibration is None:
                raise Refusal(f"{reason}: publish the camera calibration on tf2 (e.g. static_transform_publisher) "
                              "or set camera_pose") from exc
            self.get_logger().warning(f"{reason}: using the camera_pose calibration instead")
            return self.calibration

    def close(self) -> None:
        if self.tf is not None:
            self.tf.close()

    def _check_plan(self, plan: PickPlacePlan, min_confidence: float) -> None:
        for name, conf in (("pick", plan.pick_confidence), ("place", plan.place_confidence)):
            if not conf >= min_confidence:
                phrase = plan.pick_phrase if name == "pick" else plan.place_phrase
                raise Refusal(f"low {name} confidence {conf:.2f} < {min_confidence:.2f}"
                              + (f" for {phrase!r}" if phrase else ""))
        for name, xyz in (("pick", plan.pick_position), ("place", plan.place_position)):
            if not self.workspace.contains(np.asarray(xyz)):
                raise Refusal(f"{name} position {np.round(np.asarray(xyz, float), 3).tolist()} is outside the "
                              "workspace bounds")

    def _to_msg(self, plan: PickPlacePlan, instruction: str, synced: SyncedFrame) -> PickPlace:
        out = PickPlace()
        out.header.stamp = synced.color.header.stamp
        out.header.frame_id = self.base_frame
        out.instruction, out.policy = instruction, plan.policy or self.policy_name
        out.pick_phrase, out.place_phrase = plan.pick_phrase, plan.place_phrase
        out.pick = tool_pose(plan.pick_position, plan.pick_yaw)
        out.place = tool_pose(plan.place_position, plan.place_yaw)
        out.pick_confidence, out.place_confidence = float(plan.pick_confidence), float(plan.place_confidence)
        out.pick_pixel = [int(v) for v in plan.pick_pixel]
        out.place_pixel = [int(v) for v in plan.place_pixel]
        out.pixel_size = float(self.workspace.pixel_size)
        return out

    def _publish_visuals(self, out: PickPlace, plan: PickPlacePlan, frame: RGBDFrame) -> None:
        for pub, pose in ((self.pick_pose_pub, out.pick), (self.place_pose_pub, out.place)):
            pub.publish(PoseStamped(header=out.header, pose=pose))
        markers = MarkerArray()
        for i, (name, pose, rgb) in enumerate((("pick", out.pick, (1.0, 0.2, 0.2)),
                                               ("place", out.place, (0.2, 0.5, 1.0)))):
            m = Marker(header=out.header, ns="grounding", id=i, type=Marker.SPHERE, action=Marker.ADD, pose=pose)
            m.scale.x = m.scale.y = m.scale.z = 0.03
            m.color.r, m.color.g, m.color.b, m.color.a = (*rgb, 0.8)
            above = Point(x=pose.position.x, y=pose.position.y, z=pose.position.z + 0.05)  # a copy: never alias
            text = Marker(header=out.header, ns="grounding", id=10 + i, type=Marker.TEXT_VIEW_FACING,
                          action=Marker.ADD, pose=Pose(position=above))
            text.scale.z = 0.025
            text.color.r = text.color.g = text.color.b = text.color.a = 1.0
            text.text = f"{name}: {out.pick_phrase if i == 0 else out.place_phrase}"
            markers.markers += [m, text]
        self.markers_pub.publish(markers)
        if self.heatmap_pub.get_subscription_count():
            self.heatmap_pub.publish(numpy_to_image(_overlay(plan, frame, self.workspace), "rgb8", out.header))


def _with_depth_holes(reason: str, depth: np.ndarray) -> str:
    """A "nothing found" reason, with the depth holes an object may hide in when there are many."""
    invalid = 1.0 - float(np.isfinite(depth).mean())
    if invalid > 0.02 and reason.startswith(("nothing in view matches", "no objects found")):
        return (f"{reason}; {invalid:.0%} of the depth image has no valid depth: an object inside a depth hole "
                "cannot be seen")
    return reason


def _request_limits(min_confidence: float, max_image_age: float) -> tuple[float | None, float | None]:
    """A request's limits, None meaning the node's parameter (0 in the request); Refusal when
    they are not numbers in range (a NaN or negative max_image_age would switch the check off)."""
    if not (math.isfinite(min_confidence) and 0.0 <= min_confidence <= 1.0):
        raise Refusal(f"min_confidence must be in [0, 1] (0: the node's default), got {min_confidence}")
    if not (math.isfinite(max_image_age) and max_image_age >= 0.0):
        raise Refusal(f"max_image_age must be a finite number of seconds >= 0 (0: the node's default), "
                      f"got {max_image_age}")
    return min_confidence or None, max_image_age or None


def _overlay(plan: PickPlacePlan, frame: RGBDFrame, workspace) -> np.ndarray:
    from vla_grounding.perception.heightmap import top_down_view
    from vla_grounding.visualization import plan_overlay

    view = top_down_view(frame, workspace)
    return plan_overlay(view.color, plan.heatmaps, plan.pick_pixel, plan.place_pixel)


def main(args: list[str] | None = None) -> int:
    # One thread: rclpy's multi-threaded executor costs ~2x the CPU per camera message, and
    # grounding is serial anyway (frames keep queueing in DDS meanwhile; only the newest counts).
    return run_node(GroundingNode, args, threads=1)


if __name__ == "__main__":
    raise SystemExit(main())
