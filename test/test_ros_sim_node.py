"""sim_node driven from another process: synchronised camera topics, motion, suction, score."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import sim_params

pytestmark = pytest.mark.ros

TASK, SEED = "put-blocks-in-bowls-seen", 3


@pytest.fixture(scope="module")
def sim(module_launch):
    return module_launch("vla_grounding.nodes.sim_node", sim_params("sim_node", task=TASK, seed=SEED))


@pytest.fixture(scope="module")
def expert_plan():
    """The oracle's first move for the same (deterministic) episode, computed in this process."""
    from vla_grounding.sim.env import TabletopEnv

    with TabletopEnv(TASK) as env:
        env.reset(SEED)
        return env.oracle()


def _call(client, request, timeout=60.0):
    from vla_grounding.nodes.background import wait_future

    return wait_future(client.call_async(request), timeout)


def test_camera_topics_are_synchronised_and_well_formed(ros_node, sim):
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    got: dict[str, list] = {"color": [], "depth": [], "info": []}
    node = ros_node.node
    node.create_subscription(Image, "camera/color/image_raw", got["color"].append, qos_profile_sensor_data)
    node.create_subscription(Image, "camera/depth/image_raw", got["depth"].append, qos_profile_sensor_data)
    node.create_subscription(CameraInfo, "camera/color/camera_info", got["info"].append, qos_profile_sensor_data)
    deadline = time.monotonic() + 60
    while min(len(v) for v in got.values()) < 10:
        assert sim.alive(), sim.output()[-3000:]
        assert time.monotonic() < deadline, {k: len(v) for k, v in got.items()}
        time.sleep(0.05)
    color, depth, info = got["color"][-1], got["depth"][-1], got["info"][-1]
    stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in (color, depth, info)}
    color_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got["color"]}
    depth_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in got["depth"]}
    assert len(color_stamps & depth_stamps) >= 5, "colour and depth frames do not share stamps"
    assert len(stamps) >= 1 and color.header.frame_id == depth.header.frame_id == info.header.frame_id
    assert (color.encoding, depth.encoding) == ("rgb8", "32FC1")
    assert (color.width, color.height) == (depth.width, depth.height) == (info.width, info.height) == (640, 480)
    assert color.step == 640 * 3 and depth.step == 640 * 4
    assert info.k[0] > 0 and info.k[4] > 0
    d = np.frombuffer(bytes(depth.data), np.float32)
    assert np.isfinite(d).mean() > 0.9 and 0.2 < np.nanmedian(d) < 2.0


def test_move_grasp_place_and_score(ros_node, sim, expert_plan):
    from std_srvs.srv import SetBool
    from vla_grounding.srv import MoveTool, ResetTask, TaskState

    from vla_grounding.nodes.graph import wait_for_service
    from vla_grounding.perception.transforms import tool_down_quaternion

    node = ros_node.node
    move = node.create_client(MoveTool, "sim/move_tool")
    suction = node.create_client(SetBool, "suction")
    state = node.create_client(TaskState, "sim/state")
    reset = node.create_client(ResetTask, "sim/reset")
    for client in (move, suction, state, reset):
        wait_for_service(client, timeout=60)
    assert _call(reset, ResetTask.Request(task=TASK, seed=SEED)).success

    def go(xyz, yaw=0.0):
        request = MoveTool.Request()
        request.target.header.frame_id = "base_link"
        p = request.target.pose.position
        p.x, p.y, p.z = (float(v) for v in xyz)
        o = request.target.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in tool_down_quaternion(yaw))
        r = _call(move, request)
        assert r.success, r.message
        return r

    pick, place = np.asarray(expert_plan.pick_position), np.asarray(expert_plan.place_position)
    go(pick + [0, 0, 0.1], expert_plan.pick_yaw)
    go(pick - [0, 0, 0.01], expert_plan.pick_yaw)  # the descent stops on contact
    grasp = _call(suction, SetBool.Request(data=True))
    assert grasp.success and "attached" in grasp.message, grasp.message
    go(pick + [0, 0, 0.15], expert_plan.pick_yaw)
    go(place + [0, 0, 0.15], expert_plan.place_yaw)
    go(place + [0, 0, 0.045], expert_plan.place_yaw)
    release = _call(suction, SetBool.Request(data=False))
    assert release.success and "released" in release.message, release.message
    s = _call(state, TaskState.Request())
    assert s.steps == 1 and s.score > 0.0, (s.score, release.message)

    nothing = _call(suction, SetBool.Request(data=True))  # the cup is in mid-air now
    assert not nothing.success and "nothing graspable" in nothing.message
    assert _call(suction, SetBool.Request(data=False)).success


def test_bad_requests_fail_clearly_and_the_node_keeps_running(ros_node, sim):
    from vla_grounding.srv import MoveTool, ResetTask

    from vla_grounding.nodes.graph import wait_for_service

    node = ros_node.node
    move = node.create_client(MoveTool, "sim/move_tool")
    reset = node.create_client(ResetTask, "sim/reset")
    wait_for_service(move, timeout=60)
    request = MoveTool.Request()
    request.target.header.frame_id = "camera_link"
    r = _call(move, request)
    assert not r.success and "base frame" in r.message
    request.target.header.frame_id = "base_link"
    request.target.pose.orientation.w = 0.0  # zero quaternion
    r = _call(move, request)
    assert not r.success
    r = _call(reset, ResetTask.Request(task="no-such-task", seed=1))
    assert not r.success and "unknown task" in r.message
    assert sim.alive()


@pytest.mark.extras("tf2_ros")
def test_camera_calibration_is_on_tf_static(ros_node, sim):
    """As a calibration's static_transform_publisher would: the camera's optical frame in base_link."""
    import tf2_ros
    from conftest import sim_config
    from rclpy.time import Time

    from vla_grounding.nodes.pose_msgs import transform_to_matrix
    from vla_grounding.perception.transforms import pose_list_to_matrix

    buffer = tf2_ros.Buffer()
    listener = tf2_ros.TransformListener(buffer, ros_node.node)  # transient local: late joiners get it
    try:
        deadline = time.monotonic() + 30
        while not buffer.can_transform("base_link", "camera_color_optical_frame", Time()):
            assert time.monotonic() < deadline, "no base_link -> camera_color_optical_frame on /tf_static"
            time.sleep(0.1)
        t = buffer.lookup_transform("base_link", "camera_color_optical_frame", Time()).transform
    finally:
        listener.unregister()
    got = transform_to_matrix(t)
    expected = pose_list_to_matrix(sim_config()["/**"]["ros__parameters"]["camera_pose"])
    np.testing.assert_allclose(got, expected, atol=1e-5)
