"""ClipRegionsPolicy with the shipped small CLIP on simulated scenes: poses, refusals, spatial words."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("pybullet")

from vla_grounding.grounding.policy import ClipRegionsPolicy  # noqa: E402
from vla_grounding.policy import GroundingRefused, make_policy  # noqa: E402


@pytest.fixture(scope="module")
def env():
    from vla_grounding.sim.env import TabletopEnv

    with TabletopEnv("put-blocks-in-bowls-seen") as e:
        yield e


@pytest.fixture(scope="module")
def policy(env):
    torch.set_num_threads(2)
    return ClipRegionsPolicy(device="cpu", workspace=env.workspace)


def _bodies(env, name):
    return [o for o in env.objects() if o["name"] == name]


@pytest.mark.parametrize("seed", [1, 5])
def test_plan_matches_named_objects(env, policy, seed):
    frame = env.reset(seed)
    plan = policy.act(frame, env.instruction)
    blocks = _bodies(env, plan.pick_phrase)
    bowls = _bodies(env, plan.place_phrase)
    assert blocks and bowls
    assert min(np.linalg.norm(b["position"][:2] - plan.pick_position[:2]) for b in blocks) < 0.01
    assert plan.pick_position[2] == pytest.approx(0.04, abs=0.005)  # the block's top face
    assert min(np.linalg.norm(b["position"][:2] - plan.place_position[:2]) for b in bowls) < 0.01
    assert plan.place_position[2] < 0.015  # on the bowl's floor
    assert plan.pick_confidence >= policy.min_confidence and plan.place_confidence >= policy.min_confidence
    assert set(plan.heatmaps) == {plan.pick_phrase, plan.place_phrase}
    heat = plan.heatmaps[plan.pick_phrase]
    assert heat.shape == env.workspace.shape and heat[plan.pick_pixel] == pytest.approx(plan.pick_confidence)
    assert plan.policy == "clip_regions" and plan.timings["total"] > 0


def test_purple_giraffe_is_refused(env, policy):
    frame = env.reset(1)
    with pytest.raises(GroundingRefused, match="giraffe"):
        policy.act(frame, "put the purple giraffe in the brown bowl")


def test_absent_object_is_refused_by_confidence(env, policy):
    frame = env.reset(1)  # no gray block in this scene; 'gray block' is a phrase the model knows
    with pytest.raises(GroundingRefused, match="nothing in view matches 'gray block'"):
        policy.act(frame, "put the gray block in the brown bowl")


@pytest.mark.parametrize("text", ["dance", "pick up the cyan block", ""])
def test_unusable_instructions_are_refused(env, policy, text):
    frame = env.reset(1)
    with pytest.raises(GroundingRefused):
        policy.act(frame, text)


def test_spatial_words_are_resolved_geometrically(env, policy):
    frame = env.reset(1)  # two cyan blocks
    cyan = _bodies(env, "cyan block")
    assert len(cyan) == 2
    left = max(cyan, key=lambda o: o["position"][1])  # robot's left: base +y
    right = min(cyan, key=lambda o: o["position"][1])
    plan_l = policy.act(frame, "put the cyan block on the left in the brown bowl")
    plan_r = policy.act(frame, "put the rightmost cyan block in the brown bowl")
    assert np.linalg.norm(plan_l.pick_position[:2] - left["position"][:2]) < 0.01
    assert np.linalg.norm(plan_r.pick_position[:2] - right["position"][:2]) < 0.01
    bowls = _bodies(env, "brown bowl")
    near = policy.act(frame, "put the cyan block in the brown bowl nearest to the yellow block")
    yellow = _bodies(env, "yellow block")[0]["position"][:2]
    want = min(bowls, key=lambda o: np.linalg.norm(o["position"][:2] - yellow))
    assert np.linalg.norm(near.place_position[:2] - want["position"][:2]) < 0.01


def test_make_policy_builds_it():
    assert make_policy("clip_regions", device="cpu").name == "clip_regions"


def test_invalid_depth_never_reaches_a_pose(env, policy):
    frame = env.reset(5)
    rng = np.random.default_rng(0)
    holes = rng.random(frame.depth.shape)
    frame.depth[holes < 0.15] = np.nan
    frame.depth[(holes >= 0.15) & (holes < 0.25)] = 0.0
    frame.depth[(holes >= 0.25) & (holes < 0.27)] = 40.0  # beyond the sensor's range
    plan = policy.act(frame, env.instruction)
    assert np.isfinite(plan.pick_position).all() and np.isfinite(plan.place_position).all()
    blocks = _bodies(env, plan.pick_phrase)
    assert min(np.linalg.norm(b["position"][:2] - plan.pick_position[:2]) for b in blocks) < 0.01
    assert plan.pick_position[2] == pytest.approx(0.04, abs=0.005)
