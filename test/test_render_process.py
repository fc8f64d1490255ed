"""The mirror renderer: the same pixels as rendering in-process, without holding the caller's GIL."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vla_grounding.sim.camera_effects import CameraProfile
from vla_grounding.sim.env import TabletopEnv
from vla_grounding.sim.render_process import RenderProcess, RenderProcessError, snapshot


@pytest.fixture(scope="module")
def renderer():
    rp = RenderProcess({"tool": "suction"})
    yield rp
    rp.close()


def test_mirror_renders_the_moved_scene_exactly(renderer) -> None:
    env = TabletopEnv("put-blocks-in-bowls-seen")
    try:
        env.reset(3)
        env.step(env.oracle())  # a block moved, the arm elsewhere: the mirror only knows the seed
        color, depth = renderer.render(env.task_name, env.seed, snapshot(env.bc))
        frame = env.render()
        np.testing.assert_array_equal(color, frame.color)
        np.testing.assert_array_equal(depth, frame.depth)
        # another task in the same process: the mirror rebuilds its world
        other = TabletopEnv("stack-block-pyramid-seq")
        try:
            other.reset(5)
            color, _ = renderer.render(other.task_name, other.seed, snapshot(other.bc))
            np.testing.assert_array_equal(color, other.render().color)
        finally:
            other.close()
    finally:
        env.close()


def test_caller_threads_run_during_a_mirror_render(renderer) -> None:
    env = TabletopEnv("put-blocks-in-bowls-seen")
    try:
        env.reset(1)
        state = snapshot(env.bc)
        renderer.render(env.task_name, env.seed, state)  # built
        ticks, done = [0], threading.Event()

        def count() -> None:
            while not done.is_set():
                ticks[0] += 1
                time.sleep(0.001)

        t = threading.Thread(target=count)
        t.start()
        time.sleep(0.05)
        start, t0 = ticks[0], time.monotonic()
        renderer.render(env.task_name, env.seed, state)
        elapsed, during = time.monotonic() - t0, ticks[0] - start
        done.set()
        t.join()
        # an in-process pybullet render lets such a thread tick ~3 times in 0.1-0.2 s
        assert during > 0.3 * elapsed / 0.002, (during, elapsed)
    finally:
        env.close()


def test_mismatched_scene_and_ended_process_are_errors() -> None:
    rp = RenderProcess({"tool": "suction", "camera": CameraProfile.load("depth-noise")})
    try:
        env = TabletopEnv("put-blocks-in-bowls-seen")
        env.reset(1)
        state = snapshot(env.bc)
        env.close()
        with pytest.raises(RenderProcessError, match="bodies"):
            rp.render("put-blocks-in-bowls-seen", 1, state[:-1])
        color, depth = rp.render("put-blocks-in-bowls-seen", 1, state)  # still serving after an error
        assert color.shape == (*depth.shape, 3)
    finally:
        rp.close()
    with pytest.raises(RenderProcessError, match="ended|gone"):
        rp.render("put-blocks-in-bowls-seen", 1, state)
