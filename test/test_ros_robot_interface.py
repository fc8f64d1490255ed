"""sim_node as a ros2_control-style robot, and arm_controller_node driving it through that interface only.

What a real arm's controllers offer: robot_description, joint_states, the joint trajectory
controller's topic and FollowJointTrajectory action (tolerances, cancel), the suction
service or the gripper controller. Then the arm controller on top: a PickPlace executed
with the gripper over the topic interfaces, a failed grasp, SIGTERM in the middle of a motion.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from conftest import sim_params

pytestmark = pytest.mark.ros

TASK = "put-blocks-in-bowls-seen"
ROBOT_NS = ["-r", "__ns:=/robot"]


class Joints:
    """joint_states of one namespace, with the time each message arrived."""

    def __init__(self, node, topic: str) -> None:
        from sensor_msgs.msg import JointState

        self.lock = threading.Lock()
        self.samples: list[tuple[float, list[str], np.ndarray]] = []
        node.create_subscription(JointState, topic, self._on, 50)

    def _on(self, msg) -> None:
        with self.lock:
            self.samples.append((time.monotonic(), list(msg.name), np.array(msg.position)))

    def latest(self, timeout: float = 30.0) -> tuple[list[str], np.ndarray]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self.samples:
                    return self.samples[-1][1], self.samples[-1][2]
            assert time.monotonic() < deadline, "no joint_states"
            time.sleep(0.02)

    def arm(self) -> np.ndarray:
        return self.latest()[1][:7]

    def settles_at(self, target: np.ndarray, tolerance: float, timeout: float = 2.0) -> np.ndarray:
        """The arm's joints once they reach ``target``; fails after ``timeout``.

        The action result and joint_states are separate topics: the last joint_states held when
        a result arrives may have been published before the motion ended.
        """
        deadline = time.monotonic() + timeout
        while np.max(np.abs((q := self.arm()) - target)) >= tolerance:
            assert time.monotonic() < deadline, f"the arm stopped at {q}, not at {target}"
            time.sleep(0.02)
        return q

    def wait_moving(self, timeout: float = 30.0) -> None:
        start = self.arm()
        deadline = time.monotonic() + timeout
        while np.max(np.abs(self.arm() - start)) < 1e-3:
            assert time.monotonic() < deadline, "the arm did not start moving"
            time.sleep(0.01)

    def stopped_at(self, after: float, still: float = 0.4, timeout: float = 5.0) -> float:
        """When (monotonic) the arm was first seen standing still after ``after``, once it has stood ``still`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with self.lock:
                samples = [s for s in self.samples if s[0] >= after - 1.0]
            first_still = None
            for prev, cur in zip(samples, samples[1:], strict=False):
                moved = np.max(np.abs(cur[2][:7] - prev[2][:7])) > 1e-6
                first_still = None if moved else (first_still or cur[0])
            if first_still is not None and samples[-1][0] - first_still >= still:
                return max(first_still, after)
        pytest.fail("the arm did not stop")

    def first_standstill(self, after: float, timeout: float = 5.0) -> float:
        """The first joint_states after ``after`` unchanged from the one before (it may move again later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with self.lock:
                samples = [s for s in self.samples if s[0] >= after]
            for prev, cur in zip(samples, samples[1:], strict=False):
                if np.max(np.abs(cur[2][:7] - prev[2][:7])) <= 1e-6:
                    return cur[0]
        pytest.fail("the arm did not stop")


@pytest.fixture(scope="module")
def robot(module_launch):
    return module_launch("vla_grounding.nodes.sim_node", [*sim_params("sim_node", task=TASK, seed=11), *ROBOT_NS],
                         name="robot_sim")


def _trajectory(names, points):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from vla_grounding.nodes.joint_msgs import duration

    msg = JointTrajectory(joint_names=list(names))
    for q, t in points:
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q], time_from_start=duration(t)))
    return msg


def test_robot_description_and_joint_states(ros_node, robot):
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    from vla_grounding.motion.kinematics import ArmKinematics

    got: list[str] = []
    ros_node.node.create_subscription(String, "/robot/robot_description", lambda m: got.append(m.data),
                                      QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    joints = Joints(ros_node.node, "/robot/joint_states")
    names, q = joints.latest(60)
    deadline = time.monotonic() + 30
    while not got:  # transient local: a late subscriber still gets it
        assert time.monotonic() < deadline, "no robot_description"
        time.sleep(0.05)
    kin = ArmKinematics(got[0], "panda_grasptarget", 0.025)
    assert names[:7] == kin.joint_names and names[7:] == ["panda_finger_joint1", "panda_finger_joint2"]
    tip, _ = kin.tool_pose(q[:7])
    assert np.allclose(tip, [0.30, 0.0, 0.42], atol=1e-3)  # the simulator's home pose of the suction tip


def test_trajectory_topic_moves_the_arm_and_an_empty_one_stops_it(ros_node, robot):
    from trajectory_msgs.msg import JointTrajectory

    joints = Joints(ros_node.node, "/robot/joint_states")
    pub = ros_node.node.create_publisher(JointTrajectory, "/robot/joint_trajectory_controller/joint_trajectory", 10)
    names, q = joints.latest(60)
    start = q[:7].copy()
    goal = start + np.array([0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    deadline = time.monotonic() + 10
    while ros_node.node.count_subscribers("/robot/joint_trajectory_controller/joint_trajectory") == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pub.publish(_trajectory(names[:7], [(goal, 1.0)]))
    deadline = time.monotonic() + 10
    while np.max(np.abs(joints.arm() - goal)) > 1e-3:
        assert time.monotonic() < deadline, joints.arm()
        time.sleep(0.02)
    # a slow one back, stopped half-way by an empty trajectory
    pub.publish(_trajectory(names[:7], [(start, 4.0)]))
    joints.wait_moving()
    time.sleep(0.5)
    sent = time.monotonic()
    pub.publish(JointTrajectory(joint_names=names[:7]))
    stopped = joints.stopped_at(sent)
    assert stopped - sent < 0.3, f"the arm stopped {stopped - sent:.2f} s after the empty trajectory"
    q = joints.arm()
    assert 0.02 < q[0] - start[0] < 0.28, q  # between the two goals: it stopped there
    pub.publish(_trajectory(names[:7], [(start, 1.0)]))  # leave it at home for the next tests
    deadline = time.monotonic() + 10
    while np.max(np.abs(joints.arm() - start)) > 1e-3:
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.extras("control_msgs")
def test_follow_joint_trajectory_action_feedback_tolerances_and_bad_goals(ros_node, robot):
    from control_msgs.action import FollowJointTrajectory
    from control_msgs.msg import JointTolerance

    from vla_grounding.nodes.action_call import SafeActionClient
    from vla_grounding.nodes.background import wait_future
    from vla_grounding.nodes.graph import wait_for_action_server

    joints = Joints(ros_node.node, "/robot/joint_states")
    client = SafeActionClient(ros_node.node, FollowJointTrajectory,
                          "/robot/joint_trajectory_controller/follow_joint_trajectory")
    wait_for_action_server(client, timeout=60)
    names, q = joints.latest(60)
    start = q[:7].copy()

    def send(points, path_tolerance=None, joint_names=None):
        goal = FollowJointTrajectory.Goal(trajectory=_trajectory(joint_names or names[:7], points))
        if path_tolerance is not None:
            goal.path_tolerance = [JointTolerance(name=n, position=path_tolerance) for n in names[:7]]
        feedback: list = []
        handle = wait_future(client.send_goal_async(goal, feedback_callback=feedback.append), 10)
        assert handle.accepted
        return wait_future(handle.get_result_async(), 30), feedback

    out, feedback = send([(start + [0, 0.2, 0, 0, 0, 0, 0], 1.0)], path_tolerance=0.05)
    assert out.result.error_code == 0, out.result.error_string
    assert feedback and list(feedback[-1].feedback.joint_names) == names[:7]
    joints.settles_at(start + [0, 0.2, 0, 0, 0, 0, 0], 0.01)

    # faster than joint 2's velocity limit (2.175 rad/s): the arm lags the path and the goal aborts
    out, _ = send([(start + [0, -0.4, 0, 0, 0, 0, 0], 0.2), (start, 0.4)], path_tolerance=0.05)
    assert out.result.error_code == FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED, out.result.error_string
    assert "panda_joint2" in out.result.error_string

    out, _ = send([(start, 1.0)], joint_names=["a", "b", "c", "d", "e", "f", "g"])
    assert out.result.error_code == FollowJointTrajectory.Result.INVALID_JOINTS
    out, _ = send([(start + [0, 0, 0, 5.0, 0, 0, 0], 1.0)])
    assert out.result.error_code == FollowJointTrajectory.Result.INVALID_GOAL and "limits" in out.result.error_string
    out, _ = send([(start, 1.0)])  # home again for the next tests
    assert out.result.error_code == 0


def _pick_place_msg(pick, place, yaw=0.0, instruction="test"):
    from vla_grounding.msg import PickPlace

    from vla_grounding.nodes.pose_msgs import tool_pose

    msg = PickPlace()
    msg.header.frame_id = "base_link"
    msg.instruction = instruction
    msg.pick, msg.place = tool_pose(pick, yaw), tool_pose(place, yaw)
    return msg


def _oracle_plan(seed: int):
    from vla_grounding.sim.env import TabletopEnv

    with TabletopEnv(TASK) as env:
        env.reset(seed)
        return env.oracle()


def test_a_failed_grasp_is_reported_and_nothing_is_held(ros_node, launch, robot):
    from std_msgs.msg import String
    from vla_grounding.msg import PickPlace
    from vla_grounding.srv import TaskState

    from vla_grounding.nodes.background import wait_future
    from vla_grounding.nodes.graph import wait_for_service

    arm = launch("vla_grounding.nodes.arm_controller_node", [*sim_params("arm_controller_node"), *ROBOT_NS],
                 name="robot_arm_failed_grasp")
    status: list[str] = []
    from rclpy.qos import DurabilityPolicy, QoSProfile

    ros_node.node.create_subscription(String, "/robot/arm_controller_node/status", lambda m: status.append(m.data),
                                      QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    pub = ros_node.node.create_publisher(PickPlace, "/robot/pick_place", 10)
    state = ros_node.node.create_client(TaskState, "/robot/sim/state")
    wait_for_service(state, 60)
    deadline = time.monotonic() + 60
    while "arm controller ready" not in arm.output() or ros_node.node.count_subscribers("/robot/pick_place") == 0:
        assert arm.alive() and time.monotonic() < deadline, arm.output()[-3000:]
        time.sleep(0.1)
    time.sleep(0.5)  # robot_description and joint_states reach it
    pub.publish(_pick_place_msg([0.35, -0.2, 0.0], [0.6, 0.0, 0.0]))  # an empty corner of the table
    deadline = time.monotonic() + 60
    while "grasp failed" not in arm.output():
        assert arm.alive() and time.monotonic() < deadline, arm.output()[-3000:]
        time.sleep(0.1)
    time.sleep(3.0)  # the retreat
    out = arm.output()
    assert "the suction cup did not attach" in out and "the arm retreated up" in out, out[-2000:]
    assert "still holding" not in out
    assert status and status[-1].endswith("empty"), status
    assert wait_future(state.call_async(TaskState.Request()), 10).steps == 0


def test_sigterm_in_the_middle_of_a_motion_stops_the_arm_and_exits_0_within_2_s(ros_node, launch, robot):
    from vla_grounding.msg import PickPlace

    from vla_grounding.nodes.processes import fastdds_shm_files

    joints = Joints(ros_node.node, "/robot/joint_states")
    joints.latest(60)
    before = fastdds_shm_files()
    arm = launch("vla_grounding.nodes.arm_controller_node", [*sim_params("arm_controller_node"), *ROBOT_NS],
                 name="robot_arm_sigterm")
    pub = ros_node.node.create_publisher(PickPlace, "/robot/pick_place", 10)
    deadline = time.monotonic() + 60
    while "arm controller ready" not in arm.output() or ros_node.node.count_subscribers("/robot/pick_place") == 0:
        assert arm.alive() and time.monotonic() < deadline, arm.output()[-3000:]
        time.sleep(0.1)
    time.sleep(0.5)
    plan = _oracle_plan(11)
    pub.publish(_pick_place_msg(plan.pick_position, plan.place_position))
    joints.wait_moving()
    time.sleep(0.3)
    start, wall = time.monotonic(), time.time()
    arm.proc.send_signal(signal.SIGTERM)
    code = arm.proc.wait(10)
    elapsed = time.monotonic() - start
    assert code == 0 and elapsed < 2.0, (code, elapsed, arm.output()[-2000:])
    stopped = joints.stopped_at(start)
    if stopped - start >= 0.5:
        pytest.fail(f"the arm kept moving {stopped - start:.2f} s after SIGTERM at {wall:.3f}\n{arm.output()[-2000:]}\n"
                    f"{robot.output()[-2000:]}")
    del before  # the module's other participants come and go meanwhile: no shared-memory check here


@pytest.fixture(scope="module")
def gripper_graph(module_launch):
    """The whole graph with the parallel gripper, everything over topics (forward_command-style gripper)."""
    ns = ["-r", "__ns:=/gripper"]
    return {
        "sim": module_launch("vla_grounding.nodes.sim_node",
                             [*sim_params("sim_node", task=TASK, seed=13, tool="gripper"), *ns], name="gripper_sim"),
        "grounding": module_launch("vla_grounding.nodes.grounding_node", [*sim_params("grounding_node"), *ns],
                                   name="gripper_grounding"),
        "arm": module_launch("vla_grounding.nodes.arm_controller_node",
                             [*sim_params("arm_controller_node", tool={"kind": "gripper"},
                                          controller={"interface": "topic"}), *ns], name="gripper_arm"),
    }


def test_an_instruction_puts_a_block_in_a_bowl_with_the_gripper_over_topics(ros_node, gripper_graph):
    from std_msgs.msg import String
    from vla_grounding.srv import TaskState

    from vla_grounding.nodes.background import wait_future
    from vla_grounding.nodes.graph import wait_for_service

    node = ros_node.node
    state = node.create_client(TaskState, "/gripper/sim/state")
    pub = node.create_publisher(String, "/gripper/instruction", 10)
    wait_for_service(state, 60)
    deadline = time.monotonic() + 180
    while not ("policy ready" in gripper_graph["grounding"].output()
               and "arm controller ready" in gripper_graph["arm"].output()
               and node.count_subscribers("/gripper/instruction")):
        for name, proc in gripper_graph.items():
            assert proc.alive(), f"{name}: {proc.output()[-3000:]}"
        assert time.monotonic() < deadline, "the gripper graph did not come up"
        time.sleep(0.2)
    assert "ros2_control backend, topic on joint_trajectory_controller, gripper" in gripper_graph["arm"].output()
    time.sleep(1.0)
    instruction = wait_future(state.call_async(TaskState.Request()), 10).instruction
    pub.publish(String(data=instruction))
    deadline = time.monotonic() + 120
    while "picked and placed" not in gripper_graph["arm"].output():  # logged after the retreat
        assert "[ERROR]" not in gripper_graph["arm"].output(), gripper_graph["arm"].output()[-3000:]
        assert time.monotonic() < deadline, gripper_graph["arm"].output()[-3000:]
        time.sleep(0.5)
    s = wait_future(state.call_async(TaskState.Request()), 10)
    out = gripper_graph["sim"].output()
    assert "between the fingers" in out, out[-3000:]  # the fingers closed on the block
    assert s.steps == 1 and s.score > 0.0, (s.score, out[-2000:])
