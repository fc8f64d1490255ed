"""The generated interfaces import and travel intact between processes over DDS."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import PEERS

pytestmark = pytest.mark.ros


def test_generated_types_import_with_documented_fields():
    from vla_grounding.action import ExecuteInstruction
    from vla_grounding.msg import PickPlace
    from vla_grounding.srv import Ground, MoveTool, ResetTask, TaskState

    fields = PickPlace.get_fields_and_field_types()
    for name in ("header", "instruction", "policy", "pick", "place", "pick_confidence", "place_confidence",
                 "pick_pixel", "place_pixel", "pixel_size"):
        assert name in fields, name
    assert fields["pick"] == "geometry_msgs/Pose"
    assert "instruction" in ExecuteInstruction.Goal.get_fields_and_field_types()
    assert "stage" in ExecuteInstruction.Feedback.get_fields_and_field_types()
    assert ExecuteInstruction.Result.get_fields_and_field_types()["pick_place"] == "vla_grounding/PickPlace"
    assert "pick_place" in Ground.Response.get_fields_and_field_types()
    assert "target" in MoveTool.Request.get_fields_and_field_types()
    assert "seed" in ResetTask.Request.get_fields_and_field_types()
    assert "score" in TaskState.Response.get_fields_and_field_types()


def test_pick_place_arrives_intact_in_another_process(ros_node, launch):
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
    from vla_grounding.msg import PickPlace

    received: list[PickPlace] = []
    got = threading.Event()

    def on_msg(msg: PickPlace) -> None:
        received.append(msg)
        got.set()

    qos = QoSProfile(depth=1, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
    ros_node.node.create_subscription(PickPlace, "pick_place", on_msg, qos)
    publisher = launch(str(PEERS / "pickplace_publisher.py"))
    assert got.wait(30), f"no PickPlace arrived; publisher output:\n{publisher.output()}"
    assert publisher.proc.wait(20) == 0

    import sys

    sys.path.insert(0, str(PEERS))
    from pickplace_publisher import known_pick_place

    sent, msg = known_pick_place(), received[0]
    assert msg.header.stamp.sec == 1234 and msg.header.stamp.nanosec == 567_000_000
    assert msg.header.frame_id == "base_link"
    assert (msg.instruction, msg.policy, msg.pick_phrase, msg.place_phrase) == (
        sent.instruction, sent.policy, sent.pick_phrase, sent.place_phrase)
    assert msg.pick == sent.pick and msg.place == sent.place
    assert msg.pick_confidence == pytest.approx(0.875) and msg.place_confidence == pytest.approx(0.5)
    np.testing.assert_array_equal(msg.pick_pixel, [24, 83])
    np.testing.assert_array_equal(msg.place_pixel, [144, 57])
    assert msg.pixel_size == pytest.approx(0.003125)


def test_execute_instruction_goal_feedback_and_result_round_trip(ros_node, launch):
    from vla_grounding.action import ExecuteInstruction

    from vla_grounding.nodes.action_call import SafeActionClient
    from vla_grounding.nodes.graph import wait_for_action_server

    server = launch(str(PEERS / "echo_action_server.py"))
    client = SafeActionClient(ros_node.node, ExecuteInstruction, "execute_instruction")
    try:
        wait_for_action_server(client, timeout=30)
    except TimeoutError:
        pytest.fail(f"action server did not appear; its output:\n{server.output()}")
    stages: list[str] = []
    goal = ExecuteInstruction.Goal(instruction="put the red block in the blue bowl", min_confidence=0.3)
    send = client.send_goal_async(goal, feedback_callback=lambda fb: stages.append(fb.feedback.stage))
    done = threading.Event()
    send.add_done_callback(lambda _: done.set())
    assert done.wait(15), "goal was not answered"
    handle = send.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    finished = threading.Event()
    result_future.add_done_callback(lambda _: finished.set())
    assert finished.wait(15), "no result"
    result = result_future.result().result
    assert result.success and result.message == "echo: put the red block in the blue bowl"
    assert result.pick_place.instruction == goal.instruction
    assert result.pick_place.pick_confidence == pytest.approx(0.3)
    assert stages == ["grounding", "approach_pick", "grasp", "move_to_place", "release", "retreat"]
    client.destroy()
