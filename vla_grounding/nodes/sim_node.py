"""sim_node: the pybullet tabletop as a ros2_control-style robot with an RGB-D camera.

What a real arm with ros2_control offers, so the arm controller drives it the way it
drives a real arm or Gazebo:
- ``robot_description`` (the Panda's URDF, transient local) and ``joint_states``;
- a joint trajectory controller: ``joint_trajectory_controller/joint_trajectory``
  (trajectory_msgs/JointTrajectory; an empty one stops the arm) and, where control_msgs is
  installed, ``joint_trajectory_controller/follow_joint_trajectory`` (FollowJointTrajectory
  with feedback, path and goal tolerances, cancel stops the arm). Trajectories start on
  arrival and replace the running one; the arm follows them in simulated time, each joint
  at most at its velocity limit;
- the tool (parameter ``tool``): the suction cup, std_srvs/SetBool ``suction``; or the
  Panda's parallel gripper, ``gripper_controller/gripper_cmd`` (control_msgs
  GripperCommand, position = each finger's opening in m) where control_msgs exists, and
  ``gripper_controller/commands`` (std_msgs/Float64MultiArray, forward_command_controller's
  interface) everywhere;
- the camera (sensor QoS, one stamp for all three): ``camera/color/image_raw`` (rgb8),
  ``camera/depth/image_raw`` (32FC1 m or 16UC1 mm, aligned to colour),
  ``camera/color/camera_info``; its optical frame on ``/tf_static`` where tf2_ros is installed.
  The last render is re-published at ``publish_rate``; while the scene moves it is
  re-rendered ``motion_render_rate`` times a second (a render costs ~0.15 s of CPU here), by
  default in a child process that mirrors the scene (sim/render_process.py), so the
  controller loop, joint_states and stop requests go on meanwhile.

For evaluation: ``sim/reset`` (ResetTask), ``sim/state`` (TaskState); releasing a held
object ends one pick-and-place step and scores it. ``sim/move_tool`` (MoveTool, a
straight-line move with contact-guarded descents) stays as a debugging tool; the arm
controller does not use it.
"""

from __future__ import annotations

# First, before rclpy and torch load: a SIGINT/SIGTERM from here on exits 0.
import vla_grounding.nodes.stop_signals  # noqa: F401  isort: skip

# isort: split

import threading
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from vla_grounding.nodes.image_conversion import intrinsics_to_camera_info, numpy_to_image
from vla_grounding.nodes.joint_msgs import msg_points, seconds
from vla_grounding.nodes.params import (
    ParameterError,
    declare,
    declare_camera_pose,
    declare_fiducials,
    declare_workspace,
)
from vla_grounding.nodes.pose_msgs import tool_pose, transform_stamped
from vla_grounding.nodes.run import run_node
from vla_grounding.perception.transforms import matrix_to_pose_list, yaw_of_quaternion
from vla_grounding.sim import joint_control as jc
from vla_grounding.srv import MoveTool, ResetTask, TaskState

SETTLE_SECONDS = 1.0  # physics keeps running this long after the arm stops (objects come to rest)


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
        self.tool = declare(self, "tool", "suction", "the arm's tool", choices=["suction", "gripper"])
        control_rate = declare(self, "control_rate", 50.0, "controller loop and joint_states rate (Hz)",
                               low=10.0, high=500.0)
        self.motion_render_rate = declare(self, "motion_render_rate", 2.0, "camera re-renders per second while the "
                                          "scene moves (each costs ~0.15 s of CPU)", low=0.2, high=60.0)
        render_process = declare(self, "render_process", True, "render the moving scene in a child process that "
                                  "mirrors the simulation (pybullet holds the GIL for a whole render, which would "
                                  "stall the controller loop and stop requests); false: render in this process")
        trajectory_controller = declare(self, "trajectory_controller", "joint_trajectory_controller",
                                        "namespace of the joint trajectory controller's topic and action")
        gripper_controller = declare(self, "gripper_controller", "gripper_controller",
                                     "namespace of the gripper controller's action and command topic")
        self.default_tolerances = (
            declare(self, "constraints.trajectory", 0.0, "default path tolerance per joint (rad; 0 = unchecked)",
                    low=0.0),
            declare(self, "constraints.goal", 0.002, "default goal tolerance per joint (rad)", low=0.0),
            declare(self, "constraints.goal_time", 0.5, "s after a trajectory's end to reach the goal tolerance",
                    low=0.0))
        profile = declare(self, "camera_profile", "ideal", "render like a real camera: ideal, a profile name in "
                          "vla_grounding/sim/cameras (e.g. realsense-d455: depth noise, holes, colour, lens "
                          "distortion in camera_info) or a YAML file")
        calibration_error = declare(self, "calibration_error", [0.0, 0.0], "[metres, degrees]: the camera pose on "
                                    "/tf_static is this far off the rendering pose, as a hand-eye calibration would be")
        if len(calibration_error) != 2 or min(calibration_error) < 0:
            raise ParameterError(f"parameter 'calibration_error' is {calibration_error}; expected [metres, degrees] "
                                 ">= 0")
        workspace = declare_workspace(self)
        from vla_grounding.sim.camera_effects import CameraProfile

        self.env = TabletopEnv(self.task, camera_pose=camera_pose, render_backend=backend, workspace=workspace,
                               tool=self.tool, camera=CameraProfile.load(profile),
                               calibration_error=tuple(calibration_error), fiducials=declare_fiducials(self))
        self._lock = threading.Lock()  # pybullet is not thread-safe
        self._stopping = threading.Event()
        self._goals = 0  # action goals running (finished before shutdown)
        self._goal_ids: dict[bytes, int] = {}  # FollowJointTrajectory goal uuid -> trajectory id
        self._frame_msgs: tuple[Image, Image, CameraInfo] | None = None
        self._scene_version = 0  # counts the scene states rendered: an older render never replaces a newer one
        self._cached_version = -1
        with self._lock:
            self.env.reset(int(self.seed))
            self.follower = jc.TrajectoryFollower(self.env.robot.velocity_limits)
            self._render()
        self._renderer = self._start_render_process() if render_process else None
        self._dirty = False  # the scene moved since the last render
        self._last_render = 0.0
        self._settle_until = 0.0
        self._last_tick = time.monotonic()
        self._last_joints: tuple | None = None

        qos = qos_profile_sensor_data
        self.color_pub = self.create_publisher(Image, "camera/color/image_raw", qos)
        self.depth_pub = self.create_publisher(Image, "camera/depth/image_raw", qos)
        self.info_pub = self.create_publisher(CameraInfo, "camera/color/camera_info", qos)
        self.create_timer(1.0 / rate, self._publish, callback_group=MutuallyExclusiveCallbackGroup())
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_publisher(String, "robot_description", latched).publish(String(data=self.env.robot.urdf()))
        self.joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self.create_timer(1.0 / control_rate, self._control, callback_group=MutuallyExclusiveCallbackGroup())
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(JointTrajectory, f"{trajectory_controller}/joint_trajectory", self._on_trajectory, 10,
                                 callback_group=group)
        self.create_service(MoveTool, "sim/move_tool", self._move_tool, callback_group=group)
        self.create_service(ResetTask, "sim/reset", self._reset, callback_group=group)
        self.create_service(TaskState, "sim/state", self._state, callback_group=group)
        if self.tool == "suction":
            self.create_service(SetBool, "suction", self._suction, callback_group=group)
        else:
            self.create_subscription(Float64MultiArray, f"{gripper_controller}/commands", self._on_gripper_command,
                                     10, callback_group=group)
        self._actions = self._action_servers(trajectory_controller, gripper_controller)
        self._tf_broadcaster = self._publish_camera_tf() if publish_tf else None
        self.get_logger().info(
            f"simulating {self.task} seed {self.seed} with the {self.tool} ({self.env.render_backend} renderer, "
            f"camera {self.env.camera.name}, calibration error {list(self.env.calibration_error)}), "
            f"camera at {rate:g} Hz, pose {np.round(matrix_to_pose_list(self.env.camera_pose), 4).tolist()}; "
            f"trajectory {'topic and action' if self._actions else 'topic (control_msgs not installed)'}; "
            f"instruction: {self.env.instruction!r}")

    def _action_servers(self, trajectory_controller: str, gripper_controller: str) -> list:
        """FollowJointTrajectory (and GripperCommand) where control_msgs is installed; [] otherwise."""
        try:
            from control_msgs.action import FollowJointTrajectory, GripperCommand
            from rclpy.action import ActionServer, CancelResponse
        except ImportError:
            return []
        def on_cancel(goal_handle) -> CancelResponse:  # stop at once, not at the goal loop's next look
            goal_id = self._goal_ids.get(bytes(goal_handle.goal_id.uuid))
            if goal_id is not None:  # without the lock: a render may hold it for a few hundred ms
                self.follower.request_stop("cancelled", goal_id)
                self.get_logger().info("trajectory goal cancelled: the arm stops and holds its position")
            return CancelResponse.ACCEPT

        servers = [ActionServer(self, FollowJointTrajectory, f"{trajectory_controller}/follow_joint_trajectory",
                                self._follow_trajectory, cancel_callback=on_cancel,
                                callback_group=ReentrantCallbackGroup())]
        if self.tool == "gripper":
            servers.append(ActionServer(self, GripperCommand, f"{gripper_controller}/gripper_cmd", self._gripper_goal,
                                        callback_group=ReentrantCallbackGroup()))
        return servers

    # -- camera ---------------------------------------------------------------------------

    def _publish_camera_tf(self):
        """The camera's optical frame in the base frame on /tf_static; None where tf2_ros is missing."""
        try:
            from tf2_ros import StaticTransformBroadcaster
        except ImportError:
            self.get_logger().info("tf2_ros is not installed: the camera pose is not published on /tf_static")
            return None
        broadcaster = StaticTransformBroadcaster(self)
        self._send_camera_tf(broadcaster)
        return broadcaster

    def _send_camera_tf(self, broadcaster) -> None:
        """The pose a calibration reports: off the rendering pose by ``calibration_error``."""
        broadcaster.sendTransform(transform_stamped(self.base_frame, self.camera_frame,
                                                    self.env.reported_camera_pose, self.get_clock().now().to_msg()))

    def _start_render_process(self):
        """The mirror renderer, warmed up in the background (its first render builds the episode)."""
        from vla_grounding.sim.render_process import RenderProcess, snapshot

        env = self.env
        renderer = RenderProcess(env.settings())
        with self._lock:
            first = (env.task_name, env.seed, snapshot(env.bc))

        def warm_up() -> None:
            try:
                renderer.render(*first)
            except Exception as exc:  # noqa: BLE001 - the first moving render reports it and falls back
                self.get_logger().debug(f"render process warm-up: {exc}")

        threading.Thread(target=warm_up, daemon=True, name="render-warm-up").start()
        return renderer

    def _render_moving(self) -> None:
        """Re-render while the scene moves. In the mirror process only the snapshot of the bodies'
        poses takes the lock and the GIL: trajectories, joint_states and stops go on meanwhile."""
        from vla_grounding.sim.render_process import RenderProcessError, snapshot

        renderer = self._renderer
        if renderer is None:
            with self._lock:
                self._render()
            return
        with self._lock:
            env = self.env
            self._scene_version += 1
            version, task, seed, state = self._scene_version, env.task_name, env.seed, snapshot(env.bc)
            intrinsics = env.camera.intrinsics(env.intrinsics)
        try:
            color, depth = renderer.render(task, seed, state)
        except RenderProcessError as exc:
            self.get_logger().warning(f"rendering in this process from now on: {exc}")
            self._renderer = None
            renderer.close()
            with self._lock:
                self._render()
            return
        with self._lock:
            self._cache_frame(color, depth, intrinsics, version)

    def _render(self) -> None:
        """Render the scene now, in this process, and cache the three messages (with the lock held)."""
        frame = self.env.render()
        self._scene_version += 1
        self._cache_frame(frame.color, frame.depth, frame.intrinsics, self._scene_version)

    def _cache_frame(self, color: np.ndarray, depth: np.ndarray, intrinsics, version: int) -> None:
        """The three camera messages of one render, stamped when published (with the lock held);
        a render of an older scene state than the cached one (a mirror render that took longer
        than a reset or sim/move_tool and their renders) is dropped."""
        if version <= self._cached_version:
            return
        self._cached_version = version
        if self.depth_encoding == "16UC1":
            depth = np.nan_to_num(depth * 1000.0, nan=0.0).clip(0, 65535).astype(np.uint16)
        color_msg = numpy_to_image(color, "rgb8")
        depth_msg = numpy_to_image(depth, self.depth_encoding)
        info_msg = intrinsics_to_camera_info(intrinsics)
        for msg in (color_msg, depth_msg, info_msg):
            msg.header.frame_id = self.camera_frame
        self._frame_msgs = (color_msg, depth_msg, info_msg)

    def _publish(self) -> None:
        now = time.monotonic()
        if self._dirty and now - self._last_render >= 1.0 / self.motion_render_rate:
            self._dirty = False
            self._last_render = now
            self._render_moving()
        msgs = self._frame_msgs
        if msgs is None:
            return
        stamp = self.get_clock().now().to_msg()
        for msg in msgs:
            msg.header.stamp = stamp
        self.color_pub.publish(msgs[0])
        self.depth_pub.publish(msgs[1])
        self.info_pub.publish(msgs[2])

    # -- the robot: controller loop, trajectories, tool ----------------------------------------

    def _control(self) -> None:
        """Advance the simulation by the wall time since the last tick and publish joint_states."""
        now = time.monotonic()
        if not self._lock.acquire(timeout=0.005):
            # a render or a reset holds the simulation: its time stands still, and joint_states say so
            # (the last positions, stamped now) instead of going quiet
            self._last_tick = now  # simulated time does not catch up afterwards: it ran slower than real time
            if self._last_joints is not None:
                self._publish_joints(*self._last_joints)
            return
        try:
            dt, self._last_tick = min(now - self._last_tick, 0.25), now
            if self.follower.running() or now < self._settle_until:
                if self.env.advance(self.follower, dt):
                    self._settle_until = now + SETTLE_SECONDS
                self._dirty = True
            self._last_joints = self.env.joint_positions()
        finally:
            self._lock.release()
        self._publish_joints(*self._last_joints)

    def _publish_joints(self, names, q) -> None:
        msg = JointState(name=names, position=[float(v) for v in q])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def _start(self, points, joint_names, tolerances: jc.Tolerances | None = None) -> int:
        """Validate and start a trajectory (with the lock held); ValueError names what is wrong."""
        robot = self.env.robot
        path = jc.trajectory_from_points(list(joint_names), points, robot.joint_names, robot.lower, robot.upper,
                                         robot.q)
        if tolerances is None:
            n = len(robot.joint_names)
            tolerances = jc.Tolerances(np.full(n, self.default_tolerances[0]), np.full(n, self.default_tolerances[1]),
                                       self.default_tolerances[2])
        self._settle_until = time.monotonic() + SETTLE_SECONDS
        return self.follower.start(path, tolerances)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points:  # stop before waiting for the lock, which a render may hold
            self.follower.request_stop("stopped by an empty trajectory")
        with self._lock:
            if not msg.points:
                if self.follower.running():
                    self.get_logger().info("empty trajectory: the arm stops and holds its position")
                self.follower.stop("stopped by an empty trajectory")
                return
            try:
                self._start(msg_points(msg), msg.joint_names)
            except ValueError as exc:
                self.get_logger().error(f"trajectory refused: {exc}")

    def _tolerances(self, goal) -> jc.Tolerances:
        """A goal's tolerances per joint: > 0 as given, 0 = this controller's default, < 0 = unchecked."""
        names = self.env.robot.joint_names
        path = np.full(len(names), self.default_tolerances[0])
        final = np.full(len(names), self.default_tolerances[1])
        for values, tolerances in ((path, goal.path_tolerance), (final, goal.goal_tolerance)):
            for tol in tolerances:
                if tol.name in names and tol.position != 0.0:
                    values[names.index(tol.name)] = max(tol.position, 0.0)
        goal_time = seconds(goal.goal_time_tolerance) or self.default_tolerances[2]
        return jc.Tolerances(path, final, goal_time)

    def _follow_trajectory(self, goal_handle):
        from control_msgs.action import FollowJointTrajectory

        goal = goal_handle.request
        result = FollowJointTrajectory.Result()
        with self._lock:
            try:
                goal_id = self._start(msg_points(goal.trajectory), goal.trajectory.joint_names, self._tolerances(goal))
            except ValueError as exc:
                code = result.INVALID_JOINTS if "joints" in str(exc) else result.INVALID_GOAL
                result.error_code, result.error_string = code, str(exc)
                goal_handle.abort()
                return result
            self._goals += 1
            self._goal_ids[bytes(goal_handle.goal_id.uuid)] = goal_id
        try:
            last_feedback = 0.0
            while True:
                with self._lock:
                    mine = self.follower.active is not None and self.follower.active.id == goal_id
                    if (goal_handle.is_cancel_requested or self._stopping.is_set()) and mine:
                        self.follower.stop("cancelled" if goal_handle.is_cancel_requested else "sim_node stopped")
                        self.get_logger().info("trajectory goal cancelled: the arm stops and holds its position")
                    outcome = self.follower.outcome(goal_id)
                    feedback = self._feedback(goal.trajectory.joint_names) if outcome is None else None
                if outcome is not None:
                    break
                if time.monotonic() - last_feedback > 0.1:
                    goal_handle.publish_feedback(feedback)
                    last_feedback = time.monotonic()
                time.sleep(0.01)
            result.error_string = outcome.message
            if outcome.code == jc.STOPPED and goal_handle.is_cancel_requested:
                goal_handle.canceled()
            elif outcome.code == jc.SUCCESSFUL:
                goal_handle.succeed()
            else:
                result.error_code = outcome.code if outcome.code != jc.STOPPED else result.SUCCESSFUL
                goal_handle.abort()
            return result
        finally:
            with self._lock:
                self._goals -= 1
                self._goal_ids.pop(bytes(goal_handle.goal_id.uuid), None)

    def _feedback(self, names):
        from control_msgs.action import FollowJointTrajectory
        from trajectory_msgs.msg import JointTrajectoryPoint

        fb = FollowJointTrajectory.Feedback()
        fb.header.stamp = self.get_clock().now().to_msg()
        robot, active = self.env.robot, self.follower.active
        fb.joint_names = list(robot.joint_names)
        actual = robot.q
        desired = actual if active is None else active.path.sample(active.elapsed)
        fb.actual = JointTrajectoryPoint(positions=[float(v) for v in actual])
        fb.desired = JointTrajectoryPoint(positions=[float(v) for v in desired])
        fb.error = JointTrajectoryPoint(positions=[float(v) for v in desired - actual])
        return fb

    def _command_gripper(self, position: float):
        """With the lock held: move the fingers; a release of a held object ends the step."""
        was_holding = self.env.robot.held is not None
        result = self.env.command_gripper(position)
        if was_holding and self.env.robot.held is None and not self.env.done:
            step = self.env.end_step(True, result.message)
            result.message += f"; step reward {step.reward:.3f}, score {self.env.score:.3f}"
        self._dirty = True
        return result

    def _on_gripper_command(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != 1:
            self.get_logger().error(f"gripper command needs one value (each finger's opening, m), got {list(msg.data)}")
            return
        with self._lock:
            result = self._command_gripper(float(msg.data[0]))
        self.get_logger().info(f"gripper: {result.message}")

    def _gripper_goal(self, goal_handle):
        from control_msgs.action import GripperCommand

        with self._lock:
            r = self._command_gripper(goal_handle.request.command.position)
        result = GripperCommand.Result(position=float(r.position), effort=0.0, stalled=bool(r.stalled),
                                       reached_goal=bool(r.reached_goal))
        if r.stalled or r.reached_goal:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        self.get_logger().info(f"gripper: {r.message}")
        return result

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
            self.follower.stop("stopped for sim/move_tool")
            result = self.env.move_tool(np.array([p.x, p.y, p.z]), yaw, request.speed or None)
            self._render()
        response.success, response.message = bool(result.success), result.message
        response.reached = tool_pose(result.position, result.yaw)
        if not result.success:
            self.get_logger().warning(f"move_tool refused/failed: {result.message}")
        return response

    def _suction(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        """Success tells whether the cup holds something after ``on`` (a vacuum sensor would)."""
        with self._lock:
            was_holding = self.env.robot is not None and self.env.robot.held is not None
            result = self.env.set_suction(bool(request.data))
            message = result.message
            if not request.data and was_holding and not self.env.done:
                step = self.env.end_step(True, result.message)
                message += f"; step reward {step.reward:.3f}, score {self.env.score:.3f}"
            self._dirty = True
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
            self.follower.stop("the task was reset")
            if task != self.task:
                old = self.env
                self.env = TabletopEnv(task, **old.settings())
                old.close()
                self.task = task
            self.env.reset(seed)
            self.seed = seed
            self._render()
            if self._tf_broadcaster is not None and any(self.env.calibration_error):
                self._send_camera_tf(self._tf_broadcaster)  # this episode's calibration error
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

    def request_stop(self) -> None:
        """On SIGINT/SIGTERM: the arm stops; running trajectory goals end (aborted) with a result."""
        self._stopping.set()
        with self._lock:
            self.follower.stop("sim_node stopped")

    def busy(self) -> bool:
        """A motion, reset, render or action goal in progress: on shutdown it is finished (and answered) first."""
        return self._lock.locked() or self._goals > 0

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
        with self._lock:
            self.env.close()

    def destroy_node(self) -> None:
        for server in self._actions:
            server.destroy()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
