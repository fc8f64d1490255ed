"""Training-free proposals on simulated scenes: one region per object, at the right place."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pybullet")

from vla_grounding.grounding.proposals import footprint_yaw, propose_regions  # noqa: E402
from vla_grounding.grounding.sim_data import label_regions  # noqa: E402


@pytest.fixture(scope="module")
def env():
    from vla_grounding.sim.env import TabletopEnv

    with TabletopEnv("put-blocks-in-bowls-seen") as e:
        yield e


@pytest.mark.parametrize("seed", [1, 7])
def test_every_object_is_one_region(env, seed):
    frame = env.reset(seed)
    props = propose_regions(frame, env.workspace)
    objects = env.objects()
    names = label_regions(props, env)
    assert len(props.regions) == len(objects)
    assert sorted(n for n in names if n) == sorted(o["name"] for o in objects)
    for region, _name in zip(props.regions, names, strict=False):
        obj = min(objects, key=lambda o: np.linalg.norm(o["position"][:2] - region.centre[:2]))
        assert np.linalg.norm(obj["position"][:2] - region.centre[:2]) < 0.01
        if obj["kind"] == "block":  # grasp point on the top face, 4 cm up
            assert np.linalg.norm(obj["position"][:2] - region.grasp[:2]) < 0.01
            assert region.grasp[2] == pytest.approx(0.04, abs=0.004)
            d = (region.yaw - obj["yaw"] + np.pi / 4) % (np.pi / 2) - np.pi / 4
            assert abs(d) < np.deg2rad(8)
        top, left, bottom, right = region.box
        assert 0 <= top < bottom <= frame.color.shape[0] and 0 <= left < right <= frame.color.shape[1]
        assert props.crops[region.index].shape[:2] == (bottom - top, right - left)


def test_block_in_bowl_is_its_own_region(env):
    env.reset(3)
    env.step(env.oracle())
    props = propose_regions(env.render(), env.workspace)
    names = label_regions(props, env)
    assert len(props.regions) == len(env.objects())
    assert sorted(n for n in names if n) == sorted(o["name"] for o in env.objects())


def test_footprint_yaw_of_rotated_square():
    g = np.stack(np.meshgrid(np.linspace(-0.02, 0.02, 15), np.linspace(-0.02, 0.02, 15)), -1).reshape(-1, 2)
    a = np.deg2rad(20)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    assert footprint_yaw(g @ rot.T) == pytest.approx(a, abs=np.deg2rad(1.5))
