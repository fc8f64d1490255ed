"""sim_node: the pybullet tabletop as a robot + RGB-D camera on ROS 2.

Publishes (sensor QoS, one stamp for all three): ``camera/color/image_raw`` (rgb8),
``camera/depth/image_raw`` (32FC1 m or 16UC1 mm, aligned to colour),
``camera/color/camera_info``, and the camera's optical frame on ``/tf_static`` where tf2_ros
is installed. The scene only changes when the arm moves, so it is rendered
after every motion and the last render is re-published at ``publish_rate`` with fresh stamps.

Serves the arm controller's sim backend and evaluation: ``sim/move_tool`` (MoveTool),
``sim/suction`` (std_srvs/SetBool; releasing a held object ends one pick-and-place step
and scores it), ``sim/reset`` (ResetTask), ``sim/state`` (TaskState).
"""

from __future__ import annotations

# First, before rclpy and torch load: a SIGINT/SIGTERM from here on exits 0.
import vla_grounding.nodes.stop_signals  # noqa: F401  isort: skip

# isort: split

import threading

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import SetBool

from vla_grounding.nodes.image_conversion import intrinsics_to_camera_info, numpy_to_image
from vla_grounding.nodes.params import declare, declare_camera_pose, declare_workspace
from vla_grounding.nodes.pose_msgs import tool_pose, transform_stamped
from vla_grounding.nodes.run import run_node
from vla_grounding.perception.transforms import matrix_to_pose_list, yaw_of_quaternion
from vla_grounding.srv import MoveTool, ResetTask, TaskState


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_node")
        from vla_grounding.sim.env import TASKS, TabletopEnv

        self.task = declare(self, "task", "put-blocks-in-bowls-seen", "simulated task", choices=sorted(TASKS))
        self.seed = declare(self, "seed", 1, "episode seed at start-up (even: train, odd: test)", low=0)
        rate = declare(self, "publish_rate", 30.0, "camera topics rate (Hz)", low=0.1, high=120.0)
        self.base_frame = declare(self, "base_frame", "base_link", "robot base frame of poses and camera_pose")
        self.camera_frame = declare(self, "camera_frame", "camera_color_optical_frame", "camera optical frame id")
        self.depth_encoding = declare(self, "depth_encoding", "32FC1", "depth image encoding",
                                      choices=["32FC1", "16UC1"])
        backend = declare(self, "render_backend", "auto", "pybullet renderer", choices=["auto", "tiny", "egl"])
        camera_pose = declare_camera_pose(self, "simulated camera's optical frame in the base frame "
                                          "[x, y, z, qx, qy, qz, qw]; empty = the simulator's default")
        publish_tf = declare(self, "publish_tf", True, "publish the camera's optical frame on /tf_static (where "
                             "tf2_ros is installed), as a calibration's static_transform_publisher would")
        workspace = declare_workspace(self)
        self.env = TabletopEnv(self.task, camera_pose=camera_pose, render_backend=backend, workspace=workspace)
        self._lock = threading.Lock()  # pybullet is not thread-safe
        self._frame_msgs: tuple[Image, Image, CameraInfo] | None = None
        with self._lock:
            self.env.reset(int(self.seed))
            self._render()

        qos = qos_profile_sensor_data
        self.color_pub = self.create_publisher(Image, "camera/color/image_raw", qos)
        self.depth_pub = self.create_publisher(Image, "camera/depth/image_raw", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera/color/camera_info", qos)
        self.create_timer(1.0 / rate, self._publish, callback_group=MutuallyExclusiveCallbackGroup())
        group = MutuallyExclusiveCallbackGroup()
        self.create_service(MoveTool, "sim/move_tool", self._move_tool, callback_group=group)
        self.create_service(SetBool, "sim/suction", self._suction, callback_group=group)
        self.create_service(ResetTask, "sim/reset", self._reset, callback_group=group)
        self.create_service(TaskState, "sim/state", self._state, callback_group=group)
        self._tf_broadcaster = self._publish_camera_tf() if publish_tf else None
        self.get_logger().info(
            f"simulating {self.task} seed {self.seed} ({self.env.render_backend} renderer), "
            f"camera at {rate:g} Hz, pose {np.round(matrix_to_pose_list(self.env.camera_pose), 4).tolist()}; "
            f"instruction: {self.env.instruction!r}")

    # -- camera ---------------------------------------------------------------------------

    def _publish_camera_tf(self):
        """The camera's optical frame in the base frame on /tf_static; None where tf2_ros is missing."""
        try:
            from tf2_ros import StaticTransformBroadcaster
        except ImportError:
            self.get_logger().info("tf2_ros is not installed: the camera pose is not published on /tf_static")
            return None
        broadcaster = StaticTransformBroadcaster(self)
        broadcaster.sendTransform(transform_stamped(self.base_frame, self.camera_frame, self.env.camera_pose,
                                                    self.get_clock().now().to_msg()))
        return broadcaster

    def _render(self) -> None:
        """Render the scene now and cache the three messages (called with the lock held)."""
        frame = self.env.render()
        depth = frame.depth
        if self.depth_encoding == "16UC1":
            depth = np.nan_to_num(depth * 1000.0, nan=0.0).clip(0, 65535).astype(np.uint16)
        color_msg = numpy_to_image(frame.color, "rgb8")
        depth_msg = numpy_to_image(depth, self.depth_encoding)
        info_msg = intrinsics_to_camera_info(frame.intrinsics)
        for msg in (color_msg, depth_msg, info_msg):
            msg.header.frame_id = self.camera_frame
        self._frame_msgs = (color_msg, depth_msg, info_msg)

    def _publish(self) -> None:
        msgs = self._frame_msgs
        if msgs is None:
            return
        stamp = self.get_clock().now().to_msg()
        for msg in msgs:
            msg.header.stamp = stamp
        self.color_pub.publish(msgs[0])
        self.depth_pub.publish(msgs[1])
        self.info_pub.publish(msgs[2])

    # -- services -------------------------------------------------------------------------

    def _move_tool(self, request: MoveTool.Request, response: MoveTool.Response) -> MoveTool.Response:
        target = request.target
        if target.header.frame_id not in ("", self.base_frame):
            response.success = False
            response.message = f"target frame {target.header.frame_id!r} is not the sim's base frame {self.base_frame!r}"
            return response
        p, q = target.pose.position, target.pose.orientation
        try:
            yaw = yaw_of_quaternion([q.x, q.y, q.z, q.w])
        except ValueError as exc:
            response.success, response.message = False, str(exc)
            return response
        with self._lock:
            result = self.env.move_tool(np.array([p.x, p.y, p.z]), yaw, request.speed or None)
            self._render()
        response.success, response.message = bool(result.success), result.message
        response.reached = tool_pose(result.position, result.yaw)
        if not result.success:
            self.get_logger().warning(f"move_tool refused/failed: {result.message}")
        return response

    def _suction(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            was_holding = self.env.robot is not None and self.env.robot.held is not None
            result = self.env.set_suction(bool(request.data))
            message = result.message
            if not request.data and was_holding and not self.env.done:
                step = self.env.end_step(True, result.message)
                message += f"; step reward {step.reward:.3f}, score {self.env.score:.3f}"
            self._render()
        response.success, response.message = bool(result.success), message
        return response

    def _reset(self, request: ResetTask.Request, response: ResetTask.Response) -> ResetTask.Response:
        from vla_grounding.sim.env import TASKS, TabletopEnv

        task = request.task or self.task
        if task not in TASKS:
            response.success, response.message = False, f"unknown task {task!r}; choose one of {sorted(TASKS)}"
            return response
        seed = int(request.seed) if request.seed >= 0 else int(self.seed) + 2
        with self._lock:
            if task != self.task:
                old = self.env
                self.env = TabletopEnv(task, camera_pose=old.camera_pose, render_backend=old.render_backend,
                                       workspace=old.workspace, intrinsics=old.intrinsics)
                old.close()
                self.task = task
            self.env.reset(seed)
            self.seed = seed
            self._render()
            response.instruction = self.env.instruction
        response.success, response.message = True, f"reset {task} seed {seed}"
        self.get_logger().info(f"{response.message}: {response.instruction!r}")
        return response

    def _state(self, request: TaskState.Request, response: TaskState.Response) -> TaskState.Response:
        with self._lock:
            env = self.env
            response.task, response.seed = env.task_name, int(env.seed)
            response.instruction = "" if env.done else env.instruction
            response.score, response.done, response.steps = float(env.score), bool(env.done), int(env.steps)
        return response

    def busy(self) -> bool:
        """A motion, reset or render in progress: on shutdown it is finished (and answered) first."""
        return self._lock.locked()

    def close(self) -> None:
        with self._lock:
            self.env.close()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
