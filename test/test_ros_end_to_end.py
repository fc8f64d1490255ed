"""The whole graph as separate processes: sim_node, grounding_node, arm_controller_node.

An instruction on the topic and an ExecuteInstruction goal each put a block in a bowl in
the simulator; out-of-bounds poses and unknown objects are refused without motion; every
node keeps running and stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import signal
import time

import pytest
from conftest import assert_no_segments_left, sim_params

pytestmark = pytest.mark.ros

TASK = "put-blocks-in-bowls-seen"


@pytest.fixture(scope="module")
def graph(module_launch):
    return {
        "sim": module_launch("vla_grounding.nodes.sim_node", sim_params("sim_node", task=TASK, seed=1)),
        "grounding": module_launch("vla_grounding.nodes.grounding_node", sim_params("grounding_node")),
        "arm": module_launch("vla_grounding.nodes.arm_controller_node", sim_params("arm_controller_node")),
    }


class GraphClient:
    def __init__(self, node, graph) -> None:
        from std_msgs.msg import String
        from vla_grounding.action import ExecuteInstruction
        from vla_grounding.msg import PickPlace
        from vla_grounding.srv import MoveTool, ResetTask, TaskState

        from vla_grounding.nodes.action_call import SafeActionClient

        self.node, self.graph = node, graph
        self.action = SafeActionClient(node, ExecuteInstruction, "execute_instruction")
        self.reset_cli = node.create_client(ResetTask, "sim/reset")
        self.state_cli = node.create_client(TaskState, "sim/state")
        self.move_cli = node.create_client(MoveTool, "sim/move_tool")
        self.instruction_pub = node.create_publisher(String, "instruction", 10)
        self.pick_place_pub = node.create_publisher(PickPlace, "pick_place", 10)
        self.status: list[str] = []
        node.create_subscription(String, "grounding/status", lambda m: self.status.append(m.data), 10)
        deadline = time.monotonic() + 120
        while not (self.action.server_is_ready() and self.state_cli.service_is_ready()
                   and node.count_subscribers("instruction") and node.count_subscribers("pick_place")):
            self.check_alive()
            assert time.monotonic() < deadline, "the graph did not come up in 120 s"
            time.sleep(0.2)

    def check_alive(self) -> None:
        for name, proc in self.graph.items():
            assert proc.alive(), f"{name} died:\n{proc.output()[-3000:]}"

    def wait(self, future, timeout: float = 60.0):
        from vla_grounding.nodes.background import wait_future

        return wait_future(future, timeout)

    def reset(self, seed: int) -> str:
        from vla_grounding.srv import ResetTask

        r = self.wait(self.reset_cli.call_async(ResetTask.Request(task=TASK, seed=seed)))
        assert r.success, r.message
        time.sleep(1.0)  # grounding uses the newest frame it has: let frames of the new scene arrive
        return r.instruction

    def state(self):
        from vla_grounding.srv import TaskState

        return self.wait(self.state_cli.call_async(TaskState.Request()))


@pytest.fixture
def client(ros_node, graph):
    c = GraphClient(ros_node.node, graph)
    yield c
    c.check_alive()


def test_instruction_on_the_topic_puts_a_block_in_the_bowl(client):
    from std_msgs.msg import String

    instruction = client.reset(seed=3)
    client.instruction_pub.publish(String(data=instruction))
    deadline = time.monotonic() + 180
    while client.state().steps == 0:
        assert time.monotonic() < deadline, (f"no pick-and-place happened; grounding said {client.status}; "
                                             f"the arm said:\n{client.graph['arm'].output()[-3000:]}")
        time.sleep(0.5)
    state = client.state()
    assert any(s.startswith("ok") for s in client.status), client.status
    assert state.score > 0.0, f"the block did not end in the bowl (score {state.score}); {client.status}"


def test_execute_instruction_action_puts_a_block_in_the_bowl(client):
    from vla_grounding.action import ExecuteInstruction

    instruction = client.reset(seed=5)
    stages: list[str] = []
    handle = client.wait(client.action.send_goal_async(
        ExecuteInstruction.Goal(instruction=instruction), feedback_callback=lambda f: stages.append(f.feedback.stage)))
    assert handle.accepted
    result = client.wait(handle.get_result_async(), 180).result
    assert result.success, result.message
    assert stages[0] == "grounding" and stages[-1] == "done"
    assert stages[1:-1] == ["approach_pick", "descend_pick", "grasp", "lift", "move_to_place", "descend_place",
                            "release", "retreat"]
    assert result.pick_place.header.frame_id == "base_link" and result.pick_place.pick_confidence > 0
    assert result.grounding_seconds > 0 and result.execution_seconds > 0
    assert client.state().score > 0.0


def test_cancel_mid_motion_stops_the_arm_and_leaves_it_holding_until_released(client, ros_node):
    """Cancel during the lift: the arm stops within 0.5 s, retreats up, reports the object it holds and
    refuses the next goal until release_held_object."""
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    from test_ros_robot_interface import Joints
    from vla_grounding.action import ExecuteInstruction

    status: list[str] = []
    client.node.create_subscription(String, "arm_controller_node/status", lambda m: status.append(m.data),
                                    QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    joints = Joints(client.node, "joint_states")
    instruction = client.reset(seed=15)
    stages: list[str] = []
    handle = client.wait(client.action.send_goal_async(
        ExecuteInstruction.Goal(instruction=instruction), feedback_callback=lambda f: stages.append(f.feedback.stage)))
    assert handle.accepted
    deadline = time.monotonic() + 120
    while "lift" not in stages:
        assert time.monotonic() < deadline, (stages, client.graph["arm"].output()[-2000:])
        time.sleep(0.01)
    release = client.node.create_client(Trigger, "release_held_object")
    clear = client.node.create_client(Trigger, "clear_held_object")
    try:
        _cancel_while_holding(client, handle, joints, status, instruction, release)
    finally:  # whatever failed above, the next tests find an arm that holds nothing
        client.wait(clear.call_async(Trigger.Request()), 30)


def _cancel_while_holding(client, handle, joints, status, instruction, release) -> None:
    from action_msgs.msg import GoalStatus
    from std_srvs.srv import Trigger
    from vla_grounding.action import ExecuteInstruction

    from vla_grounding.nodes.graph import wait_for_service

    time.sleep(0.3)  # in the middle of the lift, holding the block
    sent = time.monotonic()
    client.wait(handle.cancel_goal_async(), 10)
    stopped = joints.first_standstill(sent)
    assert stopped - sent <= 0.5, f"the arm stopped {stopped - sent:.2f} s after the cancel"
    outcome = client.wait(handle.get_result_async(), 60)
    assert outcome.status == GoalStatus.STATUS_CANCELED
    result = outcome.result
    assert not result.success and result.holding, result.message
    assert "cancelled during lift" in result.message and "still holding" in result.message, result.message
    assert "retreated up" in result.message, result.message
    assert status and "holding" in status[-1], status

    again = client.wait(client.action.send_goal_async(ExecuteInstruction.Goal(instruction=instruction)))
    refused = client.wait(again.get_result_async(), 60).result
    assert not refused.success and "holding an object" in refused.message and refused.holding, refused.message

    wait_for_service(release, 30)
    answer = client.wait(release.call_async(Trigger.Request()))
    assert answer.success and "released" in answer.message, answer.message
    assert status[-1].endswith("empty"), status
    assert client.state().steps == 1  # the release ended the step, as in the simulator's scoring


def test_action_refuses_an_object_that_is_not_there_without_moving(client):
    from vla_grounding.action import ExecuteInstruction

    client.reset(seed=7)
    handle = client.wait(client.action.send_goal_async(
        ExecuteInstruction.Goal(instruction="put the purple giraffe in the blue bowl")))
    result = client.wait(handle.get_result_async(), 120).result
    assert not result.success and result.message.startswith("refused:") and "giraffe" in result.message
    assert result.execution_seconds == 0.0 and client.state().steps == 0


def test_out_of_workspace_pick_place_is_not_executed(client):
    from vla_grounding.msg import PickPlace

    client.reset(seed=9)
    msg = PickPlace()
    msg.header.frame_id = "base_link"
    msg.instruction = "out of bounds"
    msg.pick.position.x, msg.pick.position.y, msg.pick.position.z = 1.5, 0.0, 0.02
    msg.place.position.x, msg.place.position.y, msg.place.position.z = 0.5, 0.0, 0.0
    msg.pick.orientation.x = msg.place.orientation.x = 1.0
    msg.pick.orientation.w = msg.place.orientation.w = 0.0
    client.pick_place_pub.publish(msg)
    time.sleep(2.0)
    assert "outside the workspace" in client.graph["arm"].output()
    assert client.state().steps == 0


def test_unreachable_tool_target_is_a_clear_failure(client):
    from vla_grounding.srv import MoveTool

    request = MoveTool.Request()
    request.target.header.frame_id = "base_link"
    request.target.pose.position.x, request.target.pose.position.y, request.target.pose.position.z = 2.0, 2.0, 0.1
    request.target.pose.orientation.x = 1.0
    request.target.pose.orientation.w = 0.0
    r = client.wait(client.move_cli.call_async(request))
    assert not r.success and "outside the workspace" in r.message


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_nodes_stop_cleanly_on_signals(launch, sig):
    from vla_grounding.nodes.processes import fastdds_shm_files

    before = fastdds_shm_files()
    procs = [launch("vla_grounding.nodes.sim_node", sim_params("sim_node"), name=f"sim_{sig.name}"),
             launch("vla_grounding.nodes.grounding_node", sim_params("grounding_node"), name=f"gr_{sig.name}"),
             launch("vla_grounding.nodes.arm_controller_node", sim_params("arm_controller_node"),
                    name=f"arm_{sig.name}")]
    deadline = time.monotonic() + 90
    while not ("ready" in procs[1].output() and "ready" in procs[2].output()) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    for proc in procs:
        assert proc.alive(), proc.output()[-2000:]
        start = time.monotonic()
        assert proc.stop(timeout=20, sig=sig) == 0, proc.output()[-2000:]
        assert time.monotonic() - start < 2.0, f"{proc.name} took {time.monotonic() - start:.1f} s to exit"
    assert_no_segments_left(before)  # files of live participants (this test process) stay


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_node_stopped_while_it_loads_its_model_exits_0_within_2_s(launch, sig):
    proc = launch("vla_grounding.nodes.grounding_node", sim_params("grounding_node", policy="cliport"),
                  name=f"starting_{sig.name}")
    time.sleep(3.0)  # inside start-up (imports, the checkpoint load); earlier, the ROS wheels' start-up shim runs
    if "policy ready" in proc.output():
        pytest.skip("the model loaded before the signal was sent")
    assert proc.alive(), proc.output()[-2000:]
    start = time.monotonic()
    proc.proc.send_signal(sig)
    code = proc.proc.wait(10)
    assert code == 0 and time.monotonic() - start < 2.0, (code, time.monotonic() - start, proc.output()[-2000:])


def test_sigterm_during_a_goal_answers_it_and_exits_0_within_2_s(launch, ros_node):
    """In a namespace of its own: the module's graph runs beside it."""
    from vla_grounding.action import ExecuteInstruction
    from vla_grounding.srv import Ground, TaskState

    from vla_grounding.nodes.action_call import SafeActionClient
    from vla_grounding.nodes.background import wait_future
    from vla_grounding.nodes.graph import wait_for_action_server, wait_for_service
    from vla_grounding.nodes.processes import fastdds_shm_files

    ns = ["-r", "__ns:=/sigterm_test"]
    launch("vla_grounding.nodes.sim_node", [*sim_params("sim_node", task=TASK, seed=5), *ns], name="sim_t")
    launch("vla_grounding.nodes.grounding_node", [*sim_params("grounding_node"), *ns], name="gr_t")
    time.sleep(3.0)  # their DDS participants exist now: new files after this are the arm's
    before = fastdds_shm_files()
    arm = launch("vla_grounding.nodes.arm_controller_node", [*sim_params("arm_controller_node"), *ns], name="arm_t")
    action = SafeActionClient(ros_node.node, ExecuteInstruction, "/sigterm_test/execute_instruction")
    state = ros_node.node.create_client(TaskState, "/sigterm_test/sim/state")
    ground = ros_node.node.create_client(Ground, "/sigterm_test/ground")
    wait_for_action_server(action, timeout=120)
    wait_for_service(state, timeout=60)
    wait_for_service(ground, timeout=120)  # the signal is to land inside the ground call, not before it
    instruction = wait_future(state.call_async(TaskState.Request()), 30).instruction
    stages: list[str] = []
    handle = wait_future(action.send_goal_async(ExecuteInstruction.Goal(instruction=instruction),
                                                feedback_callback=lambda f: stages.append(f.feedback.stage)), 60)
    assert handle.accepted
    result_future = handle.get_result_async()
    deadline = time.monotonic() + 120
    while "grounding" not in stages:  # the arm waits on the ground call now (a stage is a call, too)
        assert time.monotonic() < deadline and not result_future.done(), (stages, arm.output()[-2000:])
        time.sleep(0.01)
    start = time.monotonic()
    arm.proc.send_signal(signal.SIGTERM)
    code = arm.proc.wait(10)
    elapsed = time.monotonic() - start
    assert code == 0 and elapsed < 2.0, (code, elapsed, arm.output()[-2000:])
    try:
        result = wait_future(result_future, 10).result
    except TimeoutError:
        pytest.fail(f"no result for the goal: {stages}\n{arm.output()[-3000:]}")
    assert not result.success and "the node is shutting down" in result.message, result.message
    assert_no_segments_left(before)
