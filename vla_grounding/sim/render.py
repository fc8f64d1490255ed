"""``vla-grounding render``: write the simulated camera's view of a task scene to PNG.

The picture is the colour image and, to its right, the depth image (near = bright,
invalid = black), both exactly what a policy receives.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vla_grounding.perception.camera import RGBDFrame


def depth_to_rgb(depth: np.ndarray) -> np.ndarray:
    """Depth (m) as a grey image scaled between its valid min and max (near = bright)."""
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), dtype=np.uint8)
    if valid.any():
        lo, hi = np.percentile(depth[valid], [1, 99])
        scaled = 1.0 - np.clip((depth - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
        out[valid] = (40 + 215 * scaled[valid, None]).astype(np.uint8)
    return out


def frame_picture(frame: RGBDFrame) -> np.ndarray:
    """Colour and depth side by side."""
    return np.concatenate([frame.color, depth_to_rgb(frame.depth)], axis=1)


def main(argv: list[str]) -> int:
    from PIL import Image

    from vla_grounding.sim.env import TASKS, TabletopEnv

    parser = argparse.ArgumentParser(prog="vla-grounding render", description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="put-blocks-in-bowls-seen", choices=sorted(TASKS))
    parser.add_argument("--seed", type=int, default=1, help="episode seed (even: train, odd: test)")
    parser.add_argument("--out", type=Path, default=Path("scene.png"))
    parser.add_argument("--steps", type=int, default=0, help="oracle steps to execute before the picture")
    parser.add_argument("--color-only", action="store_true", help="write the colour image alone")
    parser.add_argument("--render-backend", default="auto", choices=("auto", "tiny", "egl"))
    args = parser.parse_args(argv)
    if args.steps < 0:
        parser.error("--steps must be >= 0")
    env = TabletopEnv(args.task, render_backend=args.render_backend)
    try:
        frame = env.reset(args.seed)
        for _ in range(args.steps):
            plan = env.oracle()
            if env.done or plan is None:
                break
            env.step(plan)
            frame = env.render()
        instruction = env.instruction
    finally:
        env.close()
    picture = frame.color if args.color_only else frame_picture(frame)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(args.out)
    print(f"wrote {args.out} ({picture.shape[1]}x{picture.shape[0]}): {args.task} seed {args.seed}: {instruction}")
    return 0
