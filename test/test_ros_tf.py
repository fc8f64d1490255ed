"""The camera pose from tf2 at the image's stamp, as a moving (eye-in-hand) camera needs.

grounding_node runs without a camera_pose calibration; the test publishes the camera images
and the camera's transform on /tf itself, with chosen stamps. The pose used must be the one
at the image's stamp (not the newest), a transform that arrives after the request must still
be received (the lookup waits without starving the node), and with neither tf nor a
calibration the instruction is refused. With a calibration, it is the fallback, with a warning.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml
from conftest import SCRATCH, Camera, ground_client, render_scene, sim_config, sim_params

pytestmark = [pytest.mark.ros, pytest.mark.extras("tf2_ros")]

TASK, SEED = "put-blocks-in-bowls-seen", 1
CAMERA_FRAME = "camera_color_optical_frame"
SHIFT = np.array([0.04, 0.0, 0.0])  # where the camera "moves" to after the first image (base frame, m)


@pytest.fixture(scope="module")
def scene():
    return render_scene(TASK, SEED)


@pytest.fixture(scope="module")
def true_pose():
    from vla_grounding.perception.transforms import pose_list_to_matrix

    return pose_list_to_matrix(sim_config()["/**"]["ros__parameters"]["camera_pose"])


@pytest.fixture(scope="module")
def grounding(module_launch):
    """grounding_node with tf2 and no calibration at all."""
    config = sim_config()
    del config["/**"]["ros__parameters"]["camera_pose"]
    config["grounding_node"]["ros__parameters"].update(use_tf=True, tf_timeout=2.0, max_image_age=5.0)
    path = SCRATCH / "tf_only.yaml"
    path.write_text(yaml.safe_dump(config))
    return module_launch("vla_grounding.nodes.grounding_node", ["--ros-args", "--params-file", str(path)],
                         name="grounding_tf_only")


class Tf:
    """Publishes the camera's transform on /tf with chosen stamps."""

    def __init__(self, node) -> None:
        from tf2_ros import TransformBroadcaster

        self.node, self.broadcaster = node, TransformBroadcaster(node)

    def at(self, pose: np.ndarray, seconds_from_now: float = 0.0, stamp=None) -> None:
        from rclpy.duration import Duration
        from rclpy.time import Time

        from vla_grounding.nodes.pose_msgs import transform_stamped

        when = Time.from_msg(stamp) if stamp is not None else self.node.get_clock().now()
        when += Duration(nanoseconds=int(seconds_from_now * 1e9))
        self.broadcaster.sendTransform(transform_stamped("base_link", CAMERA_FRAME, pose, when.to_msg()))


def moved(pose: np.ndarray) -> np.ndarray:
    out = pose.copy()
    out[:3, 3] += SHIFT
    return out


@pytest.fixture
def ground(ros_node, grounding):
    from vla_grounding.srv import Ground


    cli = ground_client(ros_node.node, grounding, "ground")
    return lambda text: cli.call_async(Ground.Request(instruction=text))


def instruction_and_block(scene):
    objects = scene[1]
    block = next(o for o in objects if o["kind"] == "block")
    bowl = next(o for o in objects if o["kind"] == "bowl")
    return f"put the {block['name']} in the {bowl['name']}", np.array(block["position"])


def test_the_pose_at_the_image_stamp_is_used_while_the_camera_moves(ros_node, ground, scene, true_pose):
    from vla_grounding.nodes.background import wait_future

    text, block = instruction_and_block(scene)
    camera, tf = Camera(ros_node.node, scene[0]), Tf(ros_node.node)
    t0 = ros_node.node.get_clock().now().to_msg()
    tf.at(true_pose, -0.5, stamp=t0)
    camera.publish(stamp=t0, repeats=2)
    tf.at(true_pose, +0.05, stamp=t0)
    tf.at(moved(true_pose), +0.15, stamp=t0)  # the arm carried the camera away after the image
    tf.at(moved(true_pose), +1.0, stamp=t0)
    r = wait_future(ground(text), 60)
    assert r.success, r.message
    pick = r.pick_place.pick.position
    assert np.hypot(pick.x - block[0], pick.y - block[1]) < 0.015, "used the newest transform, not the image's"

    time.sleep(1.2)  # a new image taken from the moved pose
    t1 = ros_node.node.get_clock().now().to_msg()
    tf.at(moved(true_pose), -0.05, stamp=t1)
    tf.at(moved(true_pose), +0.05, stamp=t1)
    camera.publish(stamp=t1, repeats=2)
    r = wait_future(ground(text), 60)
    assert r.success, r.message
    pick = r.pick_place.pick.position
    # the same pixels seen from a camera 4 cm further along x land 4 cm further along x
    assert np.hypot(pick.x - block[0] - SHIFT[0], pick.y - block[1] - SHIFT[1]) < 0.015


def test_a_transform_arriving_after_the_request_is_waited_for(ros_node, ground, scene, true_pose, grounding):
    from vla_grounding.nodes.background import wait_future

    text, block = instruction_and_block(scene)
    camera, tf = Camera(ros_node.node, scene[0]), Tf(ros_node.node)
    time.sleep(1.2)  # older transforms stay in the buffer: start past them
    t0 = ros_node.node.get_clock().now().to_msg()
    tf.at(true_pose, -0.3, stamp=t0)
    camera.publish(stamp=t0, repeats=2)
    future = ground(text)
    time.sleep(0.5)  # the node is inside its lookup now; only later does tf cover the image's stamp
    assert not future.done()
    tf.at(true_pose, +0.05, stamp=t0)
    r = wait_future(future, 60)
    assert r.success, f"{r.message}\n{grounding.output()[-2000:]}"
    pick = r.pick_place.pick.position
    assert np.hypot(pick.x - block[0], pick.y - block[1]) < 0.015


def test_no_transform_and_no_calibration_is_refused(ros_node, ground, scene):
    from vla_grounding.nodes.background import wait_future

    text, _ = instruction_and_block(scene)
    Camera(ros_node.node, scene[0], frame_id="uncalibrated_optical_frame").publish(repeats=2)
    r = wait_future(ground(text), 60)
    assert not r.success
    assert "tf2 has no transform base_link <- 'uncalibrated_optical_frame' at the image's stamp" in r.message
    assert "publish the camera calibration on tf2" in r.message


def test_the_calibration_is_the_fallback_with_a_warning(launch, ros_node, scene):
    from vla_grounding.srv import Ground

    from vla_grounding.nodes.background import wait_future

    proc = launch("vla_grounding.nodes.grounding_node",
                  [*sim_params("grounding_node", use_tf=True, tf_timeout=0.3), "-r", "ground:=fallback/ground"],
                  name="grounding_fallback")
    cli = ground_client(ros_node.node, proc, "fallback/ground")
    text, block = instruction_and_block(scene)
    Camera(ros_node.node, scene[0], frame_id="hand_eye_optical_frame").publish(repeats=2)
    r = wait_future(cli.call_async(Ground.Request(instruction=text)), 60)
    assert r.success, r.message
    pick = r.pick_place.pick.position
    assert np.hypot(pick.x - block[0], pick.y - block[1]) < 0.015
    time.sleep(0.5)
    assert "camera pose from tf2 (camera_pose as the fallback)" in proc.output()
    assert ("tf2 has no transform base_link <- 'hand_eye_optical_frame' at the image's stamp" in proc.output()
            and "using the camera_pose calibration instead" in proc.output())
