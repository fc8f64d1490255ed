"""ROS-free motion: pinocchio kinematics against the simulator's arm, Cartesian lines, the trajectory follower, holding."""

from __future__ import annotations

import numpy as np
import pytest

from vla_grounding.motion.cartesian import MotionLimits, line_path
from vla_grounding.motion.holding import HeldObject
from vla_grounding.motion.kinematics import ArmKinematics
from vla_grounding.sim import joint_control as jc
from vla_grounding.sim.env import TabletopEnv


@pytest.fixture(scope="module")
def env():
    with TabletopEnv("put-blocks-in-bowls-seen") as e:
        e.reset(1)
        yield e


@pytest.fixture(scope="module")
def kin(env):
    return ArmKinematics(env.robot.urdf(), "panda_grasptarget", 0.025)


def test_forward_kinematics_matches_the_simulator(env, kin):
    rng = np.random.default_rng(0)
    home = env.robot.q.copy()
    for _ in range(10):
        q = np.clip(home + rng.normal(0, 0.4, 7), kin.limits.lower, kin.limits.upper)
        env.robot.set_q(q)
        sim_tip, sim_yaw = env.tool_pose()
        tip, yaw = kin.tool_pose(q)
        assert np.allclose(tip, sim_tip, atol=1e-5) and abs(np.sin(yaw - sim_yaw)) < 1e-5
    env.robot.set_q(home)
    assert kin.joint_names == env.robot.joint_names


def test_inverse_kinematics_reaches_workspace_targets_within_limits(env, kin):
    rng = np.random.default_rng(1)
    solved = 0
    for _ in range(40):
        target = np.array([rng.uniform(0.3, 0.7), rng.uniform(-0.22, 0.22), rng.uniform(0.0, 0.3)])
        yaw = rng.uniform(-np.pi / 2, np.pi / 2)
        q = kin.ik(target, yaw, env.robot.home_q)
        if q is None:
            continue
        solved += 1
        tip, rot = kin.fk(q)
        assert np.linalg.norm(tip - target) < 2e-4 and rot[2, 2] < -0.999  # the tool points down
        assert kin.within_limits(q)
    assert solved >= 36  # a few yaws need a wrist angle past joint 7's limit
    assert kin.ik(np.array([1.5, 0.0, 0.1]), 0.0, env.robot.home_q) is None  # out of reach


def test_unknown_tool_frame_and_bad_urdf_are_clear_errors(env):
    with pytest.raises(ValueError, match="tool frame 'flange' is not in robot_description"):
        ArmKinematics(env.robot.urdf(), "flange")
    with pytest.raises(ValueError, match="robot_description"):
        ArmKinematics("<robot name='x'><link name='a'/>", "a")


def test_lines_are_straight_timed_and_within_joint_velocity_limits(env, kin):
    q0 = env.robot.home_q
    start, _ = kin.tool_pose(q0)
    target = np.array([0.5, 0.15, 0.05])
    limits = MotionLimits(speed=0.3, velocity_scaling=0.5)
    path = line_path(kin, q0, target, 0.6, limits)
    assert path is not None and np.all(np.diff(path.times) > 0) and path.times[0] > 0
    direction = (target - start) / np.linalg.norm(target - start)
    for q in path.positions:
        tip, _ = kin.tool_pose(q)
        off = (tip - start) - np.dot(tip - start, direction) * direction
        assert np.linalg.norm(off) < 1e-3  # on the line
    tip, yaw = kin.tool_pose(path.end)
    assert np.linalg.norm(tip - target) < 1e-3 and abs(yaw - 0.6) < 1e-3
    q_all = np.vstack([path.start, path.positions])
    speed = np.abs(np.diff(q_all, axis=0)) / np.diff(np.concatenate([[0.0], path.times]))[:, None]
    assert np.all(speed <= kin.limits.velocity * 0.5 + 1e-6)
    length = np.linalg.norm(target - start)
    assert length / 0.3 < path.duration < length / 0.3 + 1.0  # the speed, plus the ramps
    assert line_path(kin, q0, np.array([1.4, 0.0, 0.1]), 0.0, limits) is None


def test_follower_runs_a_trajectory_stops_it_and_aborts_on_path_tolerance(env, kin):
    q0 = env.robot.home_q.copy()
    vmax = kin.limits.velocity
    n = len(q0)
    slow = jc.trajectory_from_points(kin.joint_names, [((q0 + 0.2).tolist(), 1.0)], kin.joint_names,
                                     kin.limits.lower, kin.limits.upper, q0)
    follower = jc.TrajectoryFollower(vmax)
    gid = follower.start(slow, jc.Tolerances(np.full(n, 0.05), np.full(n, 0.001)))
    q = q0.copy()
    for _ in range(300):
        q = follower.step(q, 1 / 240)
    assert follower.outcome(gid).code == jc.SUCCESSFUL and np.allclose(q, q0 + 0.2)

    gid = follower.start(slow, jc.Tolerances(np.zeros(n), np.zeros(n)))
    for _ in range(60):
        q = follower.step(q, 1 / 240)
    follower.stop("cancelled")
    held = q.copy()
    assert follower.outcome(gid).code == jc.STOPPED and np.array_equal(follower.step(q, 1 / 240), held)

    fast = jc.trajectory_from_points(kin.joint_names, [((q0 + [0, 1.0, 0, 0, 0, 0, 0]).tolist(), 0.1)],
                                     kin.joint_names, kin.limits.lower, kin.limits.upper, q0)
    gid = follower.start(fast, jc.Tolerances(np.full(n, 0.05), np.zeros(n)))
    q = q0.copy()
    for _ in range(100):
        q = follower.step(q, 1 / 240)
    out = follower.outcome(gid)
    assert out.code == jc.PATH_TOLERANCE_VIOLATED and "panda_joint2" in out.message
    assert not follower.running()

    # a stop asked for without the simulation's lock takes effect at the next step, for its goal only
    gid = follower.start(slow, jc.Tolerances(np.zeros(n), np.zeros(n)))
    follower.request_stop("cancelled", gid + 1)  # another goal's cancel: ignored
    q = follower.step(q, 1 / 240)
    assert follower.running()
    follower.request_stop("cancelled", gid)
    assert np.array_equal(follower.step(q, 1 / 240), q) and follower.outcome(gid).message == "cancelled"
    follower.request_stop("stopped by an empty trajectory")  # nothing runs: it must not stop the next one
    gid = follower.start(slow, jc.Tolerances(np.zeros(n), np.zeros(n)))
    follower.step(q, 1 / 240)
    assert follower.running()


@pytest.mark.parametrize("names,points,match", [
    (["a"] * 7, [([0.0] * 7, 1.0)], "each of the arm's joints"),
    (None, [], "no points"),
    (None, [([0.0] * 6, 1.0)], "6 positions for 7 joints"),
    (None, [([0.0] * 7, 0.0)], "must increase"),
    (None, [([0.0, 0, 0, 1.0, 0, 0, 0], 1.0)], "outside the joint limits of \\['panda_joint4'\\]"),
    (None, [([float("nan")] * 7, 1.0)], "not finite"),
])
def test_bad_trajectories_are_refused_with_the_reason(kin, names, points, match):
    with pytest.raises(ValueError, match=match):
        jc.trajectory_from_points(names or kin.joint_names, points, kin.joint_names, kin.limits.lower,
                                  kin.limits.upper, np.zeros(7))


def test_the_gripper_closes_on_a_block_and_on_nothing():
    with TabletopEnv("put-blocks-in-bowls-seen", tool="gripper") as env:
        env.reset(3)
        block = next(b for b in env.objects() if b["kind"] == "block")
        top = np.array(block["position"]) + [0, 0, 0.02]
        assert env.move_tool(top + [0, 0, 0.08], 0.0).success
        assert env.move_tool(top - [0, 0, 0.02], 0.0).success  # fingers around the block: no contact guard stop
        grasp = env.command_gripper(0.0)
        assert grasp.stalled and abs(grasp.position - 0.02) < 0.004 and env.robot.held is not None, grasp
        assert env.move_tool(top + [0, 0, 0.1], 0.0).success
        release = env.command_gripper(0.04)
        assert release.reached_goal and env.robot.held is None and "released" in release.message
        env.advance(jc.TrajectoryFollower(env.robot.velocity_limits), 0.5)  # the block falls
        nothing = env.command_gripper(0.0)  # in mid-air
        assert not nothing.success and nothing.position == 0.0 and "nothing" in nothing.message


def test_held_object_state():
    held = HeldObject()
    assert held.refusal() == "" and held.status() == "empty"
    held.grasped("put the red block in the blue bowl")
    assert "release_held_object" in held.refusal() and held.status().startswith("holding")
    held.released()
    assert not held.holding and held.refusal() == ""
