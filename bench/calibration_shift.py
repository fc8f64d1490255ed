"""How far a calibration error moves the scene sideways after the table fit (issue 16).

The table fit (perception/table.py) undoes the tilt and height a wrong camera pose causes,
but not the sideways part: a translation along the table or a turn about the vertical moves
every point the same way, and a scene without a known reference cannot show it. For each test
seed this back-projects the same frame twice, with the pose the policy is given (off by
``--calibration-error``) and with the true pose, levels both to their fitted table, and
measures the horizontal distance between the two positions of each pixel over the workspace.
A suction pick lands that far from where the policy aimed; a 4 cm block is missed beyond
about 2 cm. Usage (after `source scripts/env.sh`):

    python bench/calibration_shift.py [--calibration-error 0.02,2.0] [--episodes 100] [--fiducials]

``--fiducials``: ArUco markers lie beside the workspace (perception.fiducials.SIM_LAYOUT) and
the given pose is first refined with them, as grounding_node's fiducials parameters do.

Writes bench/results/calibration_shift.json (or --out) and prints a summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration-error", default="0.02,2.0")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--task", default="put-blocks-in-bowls-seen")
    ap.add_argument("--fiducials", action="store_true", help="refine the given pose with markers on the table")
    ap.add_argument("--out", default=None, help="default: results/calibration_shift[_fiducials]")
    args = ap.parse_args()

    from vla_grounding.perception.fiducials import SIM_LAYOUT, refined
    from vla_grounding.perception.heightmap import observe
    from vla_grounding.sim.camera_effects import parse_calibration_error
    from vla_grounding.sim.env import TabletopEnv

    error = parse_calibration_error(args.calibration_error)
    env = TabletopEnv(args.task, calibration_error=error, fiducials=SIM_LAYOUT if args.fiducials else None)
    ws = env.workspace
    seeds, shifts = [], []
    try:
        for seed in range(1, 2 * args.episodes, 2):
            frame = env.reset(seed)
            given = observe(refined(frame, ws, SIM_LAYOUT)[0] if args.fiducials else frame, ws)
            true = observe(replace(frame, T_base_camera=env.camera_pose), ws)
            _, i, j = np.intersect1d(given.pixels, true.pixels, return_indices=True)
            p = true.xyz[j]
            over = (p[:, 0] >= ws.x_min) & (p[:, 0] <= ws.x_max) & (p[:, 1] >= ws.y_min) & (p[:, 1] <= ws.y_max)
            shift = np.linalg.norm((given.xyz[i] - p)[over, :2], axis=1)
            seeds.append(seed)
            shifts.append(float(np.median(shift)))
    finally:
        env.close()
    s = np.array(shifts) * 100
    summary = {
        "task": args.task, "calibration_error": list(error), "fiducials": args.fiducials, "episodes": len(seeds),
        "median_shift_cm_percentiles": {q: round(float(np.percentile(s, q)), 2) for q in (10, 50, 90)},
        "share_over_2cm": round(float(np.mean(s > 2.0)), 3), "share_over_2_5cm": round(float(np.mean(s > 2.5)), 3),
        "per_seed_cm": dict(zip(seeds, np.round(s, 2).tolist(), strict=True)),
        "date": time.strftime("%Y-%m-%d"), "command": "python bench/calibration_shift.py " + " ".join(sys.argv[1:]),
    }
    out = args.out or str(RESULTS / ("calibration_shift_fiducials" if args.fiducials else "calibration_shift"))
    Path(out).with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    p = summary["median_shift_cm_percentiles"]
    print(f"{args.task}, calibration error {error[0]} m / {error[1]} deg, {len(seeds)} test seeds: sideways shift "
          f"after the table fit{' and the fiducials' if args.fiducials else ''} (median over the workspace) p10 {p[10]} / p50 {p[50]} / p90 {p[90]} cm; "
          f"{100 * summary['share_over_2cm']:.0f} % of episodes over 2 cm, {100 * summary['share_over_2_5cm']:.0f} % "
          "over 2.5 cm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
