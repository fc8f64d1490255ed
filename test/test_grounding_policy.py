"""ClipRegionsPolicy with the shipped small CLIP on simulated scenes: poses, refusals, spatial words."""

from __future__ import annotations

import re

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


def test_colour_names_of_simulated_objects():
    """colour_name, behind the candidates an ambiguous phrase lists, on seen and unseen colours."""
    from vla_grounding.grounding.colour_names import colour_name
    from vla_grounding.grounding.proposals import propose_regions
    from vla_grounding.perception.workspace import Workspace
    from vla_grounding.sim.env import TabletopEnv

    checked = 0
    for task in ("put-blocks-in-bowls-seen", "put-blocks-in-bowls-unseen"):
        with TabletopEnv(task, render_backend="tiny") as env:
            for seed in (1, 3):
                frame = env.reset(seed)
                objects = env.objects()
                for region in propose_regions(frame, Workspace()).regions:
                    d = [np.hypot(*(np.asarray(o["position"][:2]) - region.centre[:2])) for o in objects]
                    if min(d) < 0.03:
                        assert colour_name(region.mean_rgb) == objects[int(np.argmin(d))]["name"].split()[0]
                        checked += 1
    assert checked >= 30


@pytest.mark.parametrize("seed,text,reason", [
    (5, "put the block in the blue bowl", "which block? I see gray, green, purple and yellow blocks"),
    (1, "put the cyan block in the bowl", "which bowl? I see blue, brown, green, orange and purple bowls"),
])
def test_a_bare_kind_among_several_colours_is_refused_naming_them(env, policy, seed, text, reason):
    frame = env.reset(seed)
    with pytest.raises(GroundingRefused, match=re.escape(reason)):
        policy.act(frame, text)


def test_a_bare_kind_with_one_look_is_not_ambiguous(env, policy):
    frame = env.reset(1)  # two cyan blocks, one red, one yellow: "the left block" is one clear match
    plan = policy.act(frame, "put the left block in the green bowl")
    assert plan.pick_phrase == "block"


def test_the_cliport_policy_refuses_a_bare_kind_too(env):
    cliport = make_policy("cliport", device="cpu")
    frame = env.reset(1)  # cyan, cyan, red and yellow blocks
    with pytest.raises(GroundingRefused, match=re.escape("which block? I see cyan, red and yellow blocks")):
        cliport.act(frame, "put the \U0001F7E5 block in the \U0001F7E9 bowl")
    assert cliport.act(frame, env.instruction).policy == "cliport"  # a named colour is fine
