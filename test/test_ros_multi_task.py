"""One grounding_node serves every task with the multi-task CLIPort model.

`ros2 launch vla_grounding sim.launch.py policy:=cliport checkpoint:=multi` brings the graph up
once; the simulator is then switched between tasks with its reset service (as a user would
with `ros2 service call /sim/reset ...`) and each task's first instruction goes through the
ExecuteInstruction action. Each must execute and earn a reward: a model that could only do
one task, or a grounding_node that had to be restarted, fails here.
"""

from __future__ import annotations

import time

import pytest
from test_ros_launch import ros2_launch, wait_until_served

from vla_grounding.cliport.policy import MULTI_TASK, task_checkpoint_dir

pytestmark = [pytest.mark.ros, pytest.mark.extras("launch", "launch_ros", "ros2launch"),
              pytest.mark.skipif(not task_checkpoint_dir(MULTI_TASK).exists(), reason="no multi-task checkpoint")]

# test seeds whose first step the shipped multi-task model gets right in `vla-grounding eval`
EPISODES = [("stack-block-pyramid-seq", 5), ("towers-of-hanoi-seq", 3), ("put-blocks-in-bowls-seen", 7),
            ("packing-box-pairs-seen", 15)]


@pytest.fixture(scope="module")
def multi_launch(module_launch):
    task, seed = EPISODES[0]
    return ros2_launch(module_launch, "sim.launch.py", "policy:=cliport", f"checkpoint:={MULTI_TASK}",
                       f"task:={task}", f"seed:={seed}", name="multi_launch")


@pytest.fixture
def graph(ros_node, multi_launch):
    from vla_grounding.action import ExecuteInstruction
    from vla_grounding.srv import ResetTask, TaskState

    from vla_grounding.nodes.action_call import SafeActionClient

    node = ros_node.node
    clients = {"reset": node.create_client(ResetTask, "sim/reset"), "state": node.create_client(TaskState, "sim/state"),
               "action": SafeActionClient(node, ExecuteInstruction, "execute_instruction")}
    wait_until_served(multi_launch, lambda: clients["reset"].service_is_ready() and clients["action"].server_is_ready())
    yield clients
    assert multi_launch.alive(), multi_launch.output()[-4000:]


def test_one_grounding_node_does_every_task(graph, multi_launch):
    from vla_grounding.action import ExecuteInstruction
    from vla_grounding.srv import ResetTask, TaskState

    from vla_grounding.nodes.background import wait_future

    for task, seed in EPISODES:
        reset = wait_future(graph["reset"].call_async(ResetTask.Request(task=task, seed=seed)), 60)
        assert reset.success, reset.message
        time.sleep(1.0)  # grounding uses the newest frame it has: let frames of the new scene arrive
        handle = wait_future(graph["action"].send_goal_async(ExecuteInstruction.Goal(instruction=reset.instruction)),
                             60)
        assert handle.accepted, task
        result = wait_future(handle.get_result_async(), 180).result
        assert result.success, f"{task} seed {seed}: {result.message}\n{multi_launch.output()[-3000:]}"
        state = wait_future(graph["state"].call_async(TaskState.Request()), 60)
        assert (state.task, state.steps) == (task, 1)
        assert state.score > 0.0, f"{task} seed {seed}: {reset.instruction!r} earned nothing ({result.message})"
