"""Region crops with ground-truth names from simulated scenes (training data and referring GT).

The crops come from the same training-free proposals the policy uses, so the small CLIP is
trained on exactly the distribution it scores at run time; each region is named after the
simulator body whose centre it covers (privileged state, training/evaluation only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vla_grounding.grounding.proposals import Proposals, propose_regions


@dataclass
class LabelledScene:
    seed: int
    instruction: str
    proposals: Proposals
    names: list[str | None]  # per region: the body's name ("red block") or None if unmatched
    objects: list[str]  # names of all task bodies in the scene


def segmentation(env) -> np.ndarray:
    """(H, W) body uid seen by each pixel of the env's camera (-1: none), rendered by pybullet."""
    from vla_grounding.sim import camera as cam

    k = env.intrinsics
    seg = env.bc.getCameraImage(
        k.width,
        k.height,
        viewMatrix=cam.view_matrix(env.camera_pose),
        projectionMatrix=cam.projection_matrix(k),
        renderer=getattr(env, "_renderer", env.bc.ER_TINY_RENDERER),
        shadow=0,
    )[4]
    seg = np.asarray(seg, dtype=np.int64).reshape(k.height, k.width)
    return np.where(seg >= 0, seg & ((1 << 24) - 1), -1)


def label_regions(proposals: Proposals, env, min_share: float = 0.6) -> list[str | None]:
    """Name each region after the body most of its camera pixels see (privileged segmentation);
    None when no task body covers ``min_share`` of them."""
    seg = segmentation(env)
    bodies = env.scene.bodies
    names: list[str | None] = []
    for r in proposals.regions:
        uids = seg[proposals.pixel_labels == r.index]
        uids = uids[uids >= 0]
        if len(uids) == 0:
            names.append(None)
            continue
        values, counts = np.unique(uids, return_counts=True)
        best = int(values[np.argmax(counts)])
        ok = counts.max() >= min_share * len(uids) and best in bodies
        names.append(bodies[best].name if ok else None)
    return names


def sim_scenes(task: str, seeds: list[int], oracle_steps: int = 0, progress: bool = True):
    """Yield LabelledScene for each seed (after reset, then after each of ``oracle_steps``
    oracle pick-and-places, so blocks in bowls and stacks appear too)."""
    from vla_grounding.sim.env import TabletopEnv

    t0 = time.time()
    with TabletopEnv(task) as env:
        for n, seed in enumerate(seeds):
            frame = env.reset(seed)
            for step in range(oracle_steps + 1):
                props = propose_regions(frame, env.workspace)
                names = label_regions(props, env)
                yield LabelledScene(seed, env.instruction, props, names, [o["name"] for o in env.objects()])
                if step == oracle_steps or env.done:
                    break
                plan = env.oracle()
                if plan is None:
                    break
                env.step(plan)
                frame = env.render()
            if progress and (n + 1) % 25 == 0:
                print(f"  {task}: {n + 1}/{len(seeds)} scenes, {time.time() - t0:.0f} s", flush=True)


def split_name(name: str) -> tuple[str, str]:
    """'red block' -> ('red', 'block')."""
    parts = name.split()
    return (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else ("", parts[0])
