import numpy as np
import pytest

from vla_grounding.perception import transforms as tf


def test_pose_matrix_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        t = tf.pose_to_matrix(rng.normal(size=3), q)
        np.testing.assert_allclose(tf.pose_to_matrix(*tf.matrix_to_pose(t)), t, atol=1e-9)
        np.testing.assert_allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-9)


def test_tool_down_points_down_and_keeps_yaw():
    for yaw in (-3.0, -1.0, 0.0, 0.7, 2.5):
        r = tf.quaternion_to_matrix(tf.tool_down_quaternion(yaw))
        np.testing.assert_allclose(r[:, 2], [0, 0, -1], atol=1e-12)
        assert tf.yaw_of_quaternion(tf.tool_down_quaternion(yaw)) == pytest.approx(yaw)


def test_bad_pose_parameters_are_refused():
    with pytest.raises(ValueError, match="7 finite numbers"):
        tf.pose_list_to_matrix([0, 0, 1])
    with pytest.raises(ValueError, match="no rotation"):
        tf.pose_list_to_matrix([0, 0, 1, 0, 0, 0, 0])
