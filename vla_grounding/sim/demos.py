"""``vla-grounding demos``: record oracle demonstrations, and load them back.

Ravens' protocol: the oracle runs episodes of a task on seeds 0, 2, 4, ... (train) or
1, 3, 5, ... (test) and only episodes whose total reward exceeds 0.99 are kept, until
``--n`` are written. Files already in ``--out`` count (a run can be resumed).

File format: one compressed NumPy archive per episode, ``{task}-{split}-{seed:06d}.npz``
(``np.load(path)``, no pickle). With n = number of steps, H x W = image size:

================  ==================  ===============================================
key               shape, dtype        meaning
================  ==================  ===============================================
color             (n, H, W, 3) uint8  RGB image seen before each step
depth_mm          (n, H, W) uint16    depth along the optical axis, millimetres, 0 = invalid
K                 (3, 3) float64      camera intrinsics (pixel centres at integers)
T_base_camera     (n, 4, 4) float64   optical-frame pose (+z forward, +y down) in the base frame
stamp             (n,) float64        simulated time of each image (s)
instruction       (n,) str            the language goal given at that step
pick_position     (n, 3) float64      grasp point on the object's top surface (m, base frame)
place_position    (n, 3) float64      where the object's bottom goes (m, base frame)
pick_yaw          (n,) float64        tool yaw at pick (rad)
place_yaw         (n,) float64        tool yaw at place (rad); the object turns by the difference
pick_pixel        (n, 2) int32        (row, col) of the pick in the Workspace top-down grid
place_pixel       (n, 2) int32        (row, col) of the place in that grid
reward            (n,) float64        Ravens reward earned by each step
meta              () str              JSON: format, task, split, seed, score, steps, image size,
                                      workspace bounds + pixel size, render backend
================  ==================  ===============================================
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_grounding.perception.camera import CameraIntrinsics, RGBDFrame
from vla_grounding.perception.workspace import Workspace
from vla_grounding.policy import PickPlacePlan

FORMAT = "vla_grounding.demos/1"
SUCCESS = 0.99  # Ravens keeps episodes with total reward above this


@dataclass
class DemoStep:
    frame: RGBDFrame
    instruction: str
    plan: PickPlacePlan
    reward: float


@dataclass
class Episode:
    path: Path
    task: str
    split: str
    seed: int
    score: float
    workspace: Workspace
    steps: list[DemoStep]
    meta: dict


def episode_path(out: Path, task: str, split: str, seed: int) -> Path:
    return Path(out) / f"{task}-{split}-{seed:06d}.npz"


def save_episode(
    path: Path, frames: list[RGBDFrame], plans: list[PickPlacePlan], rewards: list[float], meta: dict
) -> None:
    """Write one episode (see the module docstring for the format)."""
    if not (len(frames) == len(plans) == len(rewards)) or not frames:
        raise ValueError("an episode needs the same, non-zero number of frames, plans and rewards")
    depth = np.stack([f.depth for f in frames])
    depth_mm = np.where(np.isfinite(depth) & (depth > 0), np.round(depth * 1000.0), 0)
    k = frames[0].intrinsics
    meta = {**meta, "format": FORMAT, "width": k.width, "height": k.height}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        color=np.stack([f.color for f in frames]).astype(np.uint8),
        depth_mm=np.clip(depth_mm, 0, 65535).astype(np.uint16),
        K=k.matrix,
        T_base_camera=np.stack([f.T_base_camera for f in frames]).astype(np.float64),
        stamp=np.array([f.stamp for f in frames], dtype=np.float64),
        instruction=np.array([pl.instruction for pl in plans], dtype=str),
        pick_position=np.stack([np.asarray(pl.pick_position, dtype=np.float64) for pl in plans]),
        place_position=np.stack([np.asarray(pl.place_position, dtype=np.float64) for pl in plans]),
        pick_yaw=np.array([pl.pick_yaw for pl in plans], dtype=np.float64),
        place_yaw=np.array([pl.place_yaw for pl in plans], dtype=np.float64),
        pick_pixel=np.array([pl.pick_pixel for pl in plans], dtype=np.int32),
        place_pixel=np.array([pl.place_pixel for pl in plans], dtype=np.int32),
        reward=np.array(rewards, dtype=np.float64),
        meta=np.array(json.dumps(meta)),
    )
    tmp.replace(path)  # never leave a half-written episode under the final name


def load_episode(path: str | Path) -> Episode:
    """Read an episode written by ``save_episode``."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file (format {meta.get('format')!r})")
        k = CameraIntrinsics.from_matrix(z["K"], meta["width"], meta["height"])
        ws = Workspace(**meta["workspace"])
        steps = []
        for i in range(len(z["reward"])):
            frame = RGBDFrame(
                color=z["color"][i],
                depth=z["depth_mm"][i].astype(np.float32) / 1000.0,
                intrinsics=k,
                T_base_camera=z["T_base_camera"][i],
                stamp=float(z["stamp"][i]),
                extras={"task": meta["task"], "seed": meta["seed"], "instruction": str(z["instruction"][i])},
            )
            plan = PickPlacePlan(
                pick_position=z["pick_position"][i],
                place_position=z["place_position"][i],
                pick_yaw=float(z["pick_yaw"][i]),
                place_yaw=float(z["place_yaw"][i]),
                pick_pixel=tuple(int(v) for v in z["pick_pixel"][i]),
                place_pixel=tuple(int(v) for v in z["place_pixel"][i]),
                policy="oracle",
                instruction=str(z["instruction"][i]),
            )
            steps.append(DemoStep(frame, str(z["instruction"][i]), plan, float(z["reward"][i])))
    return Episode(path, meta["task"], meta["split"], int(meta["seed"]), float(meta["score"]), ws, steps, meta)


def iter_demos(directory: str | Path, task: str | None = None, split: str | None = None) -> Iterator[Episode]:
    """Episodes in a directory (sorted by file name), optionally of one task and split."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"demo directory {directory} does not exist")
    for path in sorted(directory.glob("*.npz")):
        if path.name.endswith(".tmp.npz"):
            continue
        ep = load_episode(path)
        if (task is None or ep.task == task) and (split is None or ep.split == split):
            yield ep


def record_episode(env, seed: int) -> tuple[list[RGBDFrame], list[PickPlacePlan], list[float]]:
    """Run the oracle on one seed; the frames are the views it acted on."""
    frame = env.reset(seed)
    frames, plans, rewards = [], [], []
    while not env.done:
        plan = env.oracle()
        if plan is None:
            break
        result = env.step(plan)
        frames.append(frame)
        plans.append(plan)
        rewards.append(result.reward)
        if not env.done:
            frame = env.render()
    return frames, plans, rewards


def write_demos(
    task: str, split: str, n: int, out: Path, render_backend: str = "auto", max_seeds: int | None = None, progress=None
) -> dict:
    """Record until ``n`` successful episodes exist in ``out``; returns a summary."""
    from vla_grounding.sim.env import TabletopEnv

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    max_seeds = max_seeds or 4 * n + 20
    seed = 0 if split == "train" else 1
    kept = tried = 0
    start = time.perf_counter()
    env = TabletopEnv(task, render_backend=render_backend)
    try:
        while kept < n and tried < max_seeds:
            path = episode_path(out, task, split, seed)
            if path.exists():
                kept += 1
            else:
                t0 = time.perf_counter()
                frames, plans, rewards = record_episode(env, seed)
                tried += 1
                ok = env.score > SUCCESS and frames
                if ok:
                    meta = {
                        "task": task,
                        "split": split,
                        "seed": seed,
                        "score": env.score,
                        "steps": len(frames),
                        "workspace": env.workspace.as_dict(),
                        "render_backend": env.render_backend,
                    }
                    save_episode(path, frames, plans, rewards, meta)
                    kept += 1
                if progress:
                    progress(
                        f"[{kept}/{n}] seed {seed}: score {env.score:.2f} in {len(frames)} steps, "
                        f"{time.perf_counter() - t0:.1f} s{'' if ok else ' (dropped)'}"
                    )
            seed += 2
    finally:
        env.close()
    return {
        "task": task,
        "split": split,
        "kept": kept,
        "tried": tried,
        "seconds": time.perf_counter() - start,
        "out": str(out),
    }


def main(argv: list[str]) -> int:
    from vla_grounding.sim.tasks import TASKS

    parser = argparse.ArgumentParser(prog="vla-grounding demos", description="record oracle demonstrations")
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("--n", type=int, default=100, help="successful episodes to keep")
    parser.add_argument("--out", type=Path, required=True, help="directory for the .npz episodes")
    parser.add_argument("--render-backend", default="auto", choices=("auto", "tiny", "egl"))
    parser.add_argument("--quiet", action="store_true", help="no per-episode progress")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be >= 1")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    summary = write_demos(
        args.task, args.split, args.n, args.out, args.render_backend, progress=None if args.quiet else say
    )
    print(
        f"{summary['kept']} {args.split} episodes of {args.task} in {args.out} "
        f"({summary['tried']} recorded now, {summary['seconds']:.1f} s)"
    )
    return 0 if summary["kept"] >= args.n else 1
