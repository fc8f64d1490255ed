"""Picture for bench/results/robustness.md: what the realsense-d455 profile with a 2 cm / 2 deg
calibration error does to one scene, and the top-down heights before and after the table fit,
white balance and hole filling. Usage (after `source scripts/env.sh`):

    python bench/robustness_picture.py [--seed 1] [--out bench/results/robustness.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vla_grounding.perception.heightmap import top_down_view
from vla_grounding.sim.camera_effects import CameraProfile
from vla_grounding.sim.env import TabletopEnv
from vla_grounding.visualization import colormap

TILE = (320, 240)


def tile(image: np.ndarray, title: str) -> Image.Image:
    out = Image.fromarray(image).resize(TILE if image.shape[0] != image.shape[1] else (TILE[1], TILE[1]))
    canvas = Image.new("RGB", TILE, (255, 255, 255))
    canvas.paste(out, ((TILE[0] - out.width) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, TILE[0], 14), fill=(255, 255, 255))
    draw.text((4, 2), title, fill=(0, 0, 0))
    return canvas


def heights(view) -> np.ndarray:
    """Top-down heights 0..3 cm as colours, unobserved cells black."""
    h = np.clip(view.height, 0.0, 0.03)
    h[0, 0], h[0, 1] = 0.0, 0.03  # fixed scale
    img = colormap(h)
    img[~view.valid] = 0
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "robustness.png")
    args = ap.parse_args()
    with TabletopEnv(render_backend="tiny") as env:
        clean = env.reset(args.seed)
    with TabletopEnv(render_backend="tiny", camera=CameraProfile.load("realsense-d455"),
                     calibration_error=(0.02, 2.0)) as env:
        real = env.reset(args.seed)
    ws = env.workspace
    raw = top_down_view(real, ws, level_table=False, white_balance=False)
    fixed = top_down_view(real, ws, white_balance=True)
    tiles = [tile(clean.color, "simulator camera"), tile(real.color, "realsense-d455 profile, pose 2 cm / 2 deg off"),
             tile(heights(top_down_view(clean, ws)), "heights 0-3 cm: clean"),
             tile(heights(raw), "heights: raw (table tilted, partly cut off)"),
             tile(raw.color, "top-down colour: raw"),
             tile(heights(fixed), f"heights: table fitted ({fixed.table.tilt_deg:.1f} deg)")]
    sheet = Image.new("RGB", (TILE[0] * 2, TILE[1] * 3), (255, 255, 255))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % 2) * TILE[0], (i // 2) * TILE[1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=256).save(args.out, optimize=True)  # a palette keeps the file small
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
