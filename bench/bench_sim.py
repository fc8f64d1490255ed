"""Simulator speed: camera render time per frame and oracle simulation time per episode.

Run: ``python bench/bench_sim.py [--episodes 5] [--frames 20]``; writes
bench/results/sim.json and bench/results/sim.md. Render times are per 640x480 RGB-D frame
for each backend that loads here; simulation times are oracle episodes on test seeds
without rendering (the arm's motion, physics and IK only), with the reset counted apart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vla_grounding.sim.env import TASKS, TabletopEnv  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def bench_render(backend: str, frames: int) -> dict | None:
    try:
        env = TabletopEnv("put-blocks-in-bowls-seen", render_backend=backend)
    except RuntimeError as exc:
        return {"backend": backend, "error": str(exc)}
    try:
        env.reset(1)
        env.render()  # first frame (EGL context warm-up)
        times = []
        for _ in range(frames):
            t0 = time.perf_counter()
            env.render()
            times.append(time.perf_counter() - t0)
    finally:
        env.close()
    return {"backend": backend, "frames": frames, "median_s": float(np.median(times)), "min_s": float(np.min(times))}


def bench_task(task: str, episodes: int) -> dict:
    env = TabletopEnv(task, render_backend="tiny")
    resets, runs, steps, scores = [], [], 0, []
    try:
        for i in range(episodes):
            t0 = time.perf_counter()
            env.reset(2 * i + 1)
            t1 = time.perf_counter()
            while not env.done:
                env.step(env.oracle())
            runs.append(time.perf_counter() - t1)
            resets.append(t1 - t0)
            steps += env.steps
            scores.append(env.score)
    finally:
        env.close()
    return {
        "task": task,
        "episodes": episodes,
        "reset_s": float(np.mean(resets)),
        "episode_s": float(np.mean(runs)),
        "step_s": float(np.sum(runs) / max(steps, 1)),
        "steps_per_episode": steps / episodes,
        "mean_score": float(100 * np.mean(scores)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args(argv)
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    render = [r for r in (bench_render(b, args.frames) for b in ("tiny", "egl")) if r]
    tasks = [bench_task(t, args.episodes) for t in sorted(TASKS)]
    out = {
        "command": f"python bench/bench_sim.py --episodes {args.episodes} --frames {args.frames}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1min_at_start": load},
        "render": render,
        "tasks": tasks,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sim.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Simulator speed",
        "",
        f"Command: `{out['command']}` ({out['machine']['cpus']} CPUs, 1-min load average {load} at start:",
        "the machine is shared, so times are upper bounds).",
        "",
        "| render backend | median s / 640x480 RGB-D frame | min |",
        "|---|---|---|",
    ]
    for r in render:
        if "error" in r:
            lines.append(f"| {r['backend']} | unavailable: {r['error']} | |")
        else:
            lines.append(f"| {r['backend']} | {r['median_s']:.3f} | {r['min_s']:.3f} |")
    lines += [
        "",
        "| task (oracle, no rendering) | reset s | s / episode | s / step | steps / episode | score |",
        "|---|---|---|---|---|---|",
    ]
    for t in tasks:
        lines.append(
            f"| {t['task']} | {t['reset_s']:.2f} | {t['episode_s']:.2f} | {t['step_s']:.2f} | "
            f"{t['steps_per_episode']:.1f} | {t['mean_score']:.1f} |"
        )
    (RESULTS / "sim.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
