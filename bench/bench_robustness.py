"""Both policies on put-blocks-in-bowls seen under real-camera conditions (issue 16).

Each condition is a camera profile (vla_grounding/sim/cameras/*.yaml) and a calibration
error (metres, degrees) applied by the simulator to what the policy sees, with or without
fiducial markers that refine the camera pose; the scoring is `vla-grounding eval`'s. Usage (after `source scripts/env.sh`):

    python bench/bench_robustness.py [--episodes 100] [--policies clip_regions cliport]
                                     [--conditions clean colour all-1cm ...] [--jobs 2] [--merge]

Writes bench/results/robustness.json and .md (or --out), one cell at a time as it finishes.
``--merge`` keeps the recorded cells of the policies and conditions not measured in this run
(each cell records its own date and command).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TASK = "put-blocks-in-bowls-seen"
# name -> (camera profile, calibration error "m,deg", fiducials on the table, what it is)
CONDITIONS = {
    "clean": ("ideal", "0,0", False, "the simulator's perfect camera and calibration"),
    "depth-noise": ("depth-noise", "0,0", False, "stereo depth noise, sigma 1.2 mm x z^2, 1 mm steps"),
    "depth-holes": ("depth-holes", "0,0", False, "depth holes: 3 % in blobs, 2 px at depth edges"),
    "colour": ("colour-only", "0,0", False, "colour gain 0.7-1.3, white balance +-10 %, pixel noise 2 levels"),
    "distortion": ("distortion-only", "0,0", False, "D455-like plumb_bob lens distortion, in camera_info"),
    "pose-1cm-1deg": ("ideal", "0.01,1.0", False, "camera pose off by 1 cm / 1 deg"),
    "pose-2cm-2deg": ("ideal", "0.02,2.0", False, "camera pose off by 2 cm / 2 deg"),
    "all-1cm-1deg": ("realsense-d455", "0.01,1.0", False, "all of the above together, pose off by 1 cm / 1 deg"),
    "all-2cm-2deg": ("realsense-d455", "0.02,2.0", False, "all of the above together, pose off by 2 cm / 2 deg"),
    "clean+fiducials": ("ideal", "0,0", True, "clean, with four ArUco markers beside the workspace refining the "
                        "camera pose (`--fiducials`)"),
    "pose-2cm-2deg+fiducials": ("ideal", "0.02,2.0", True, "pose off by 2 cm / 2 deg, refined by the markers"),
    "all-1cm-1deg+fiducials": ("realsense-d455", "0.01,1.0", True, "all-1cm-1deg, refined by the markers"),
    "all-2cm-2deg+fiducials": ("realsense-d455", "0.02,2.0", True, "all-2cm-2deg, refined by the markers"),
}


HAND_WRITTEN = "<!-- written by hand below: kept when the table is written again -->"


def write(report: dict, out: Path) -> None:
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    old = out.with_suffix(".md").read_text() if out.with_suffix(".md").exists() else ""
    notes = old[old.index(HAND_WRITTEN):] if HAND_WRITTEN in old else HAND_WRITTEN + "\n"
    policies = report["policies"]
    lines = ["# Robustness to real-camera conditions", "",
             f"Task {TASK}, {report['episodes']} test seeds (odd seeds from 1) per cell, Ravens mean score; "
             f"{report['date']}, {os.cpu_count()} CPUs. Command: `{report['command']}`; each cell is "
             "`vla-grounding eval --task put-blocks-in-bowls-seen --policy P --episodes N --camera C "
             "--calibration-error E [--fiducials]`.", "",
             "| condition | camera | calibration error (m, deg) | fiducials | " + " | ".join(policies) + " |",
             "|---|---|---|---|" + "---|" * len(policies)]
    for name, row in sorted(report["rows"].items(), key=lambda kv: list(CONDITIONS).index(kv[0])):
        camera, error, fiducials, _ = CONDITIONS[name]
        cells = [f"{row[p]['mean_score']:.1f}" if p in row else "" for p in policies]
        lines.append(f"| {name} | {camera} | {error} | {'yes' if fiducials else 'no'} | " + " | ".join(cells) + " |")
    lines += ["", "Conditions:", ""] + [f"- {n}: {CONDITIONS[n][3]}" for n in CONDITIONS if n in report["rows"]]
    runs = sorted({(c.get("date", report["date"]), c.get("command", report["command"]))
                   for row in report["rows"].values() for c in row.values()})
    if len(runs) > 1:
        lines += ["", "Runs behind the cells:", ""] + [f"- {d}: `{c}`" for d, c in runs]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n\n" + notes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--policies", nargs="+", default=["clip_regions", "cliport"])
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--out", default=str(RESULTS / "robustness"))
    ap.add_argument("--jobs", type=int, default=1, help="cells evaluated at once, one process each (one thread each)")
    ap.add_argument("--merge", action="store_true", help="keep the recorded cells this run does not measure")
    args = ap.parse_args()

    out = Path(args.out)
    command = "python bench/bench_robustness.py " + " ".join(sys.argv[1:])
    date = time.strftime("%Y-%m-%d")
    report = {"task": TASK, "episodes": args.episodes, "policies": args.policies, "rows": {}, "date": date,
              "command": command}
    if args.merge and out.with_suffix(".json").exists():
        old = json.loads(out.with_suffix(".json").read_text())
        if old.get("episodes") != args.episodes:
            ap.error(f"--merge: the recorded cells are of {old.get('episodes')} episodes, not {args.episodes}")
        for row in old["rows"].values():
            for cell in row.values():
                cell.setdefault("date", old["date"])
                cell.setdefault("command", old["command"])
        report.update(rows=old["rows"], policies=list(dict.fromkeys(old["policies"] + args.policies)))
    cells = [(name, policy) for name in args.conditions for policy in args.policies]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(evaluate_cell, name, policy, args.episodes): (name, policy) for name, policy in cells}
        for future in as_completed(futures):
            name, policy = futures[future]
            cell, seconds = future.result()
            report["rows"].setdefault(name, {})[policy] = {**cell, "date": date, "command": command}
            print(f"[robustness] {name} / {policy}: {cell['mean_score']:.1f} ({seconds:.0f} s)", file=sys.stderr,
                  flush=True)
            write(report, out)
    print(out.with_suffix(".md").read_text())
    return 0


def evaluate_cell(name: str, policy: str, episodes: int) -> tuple[dict, float]:
    """One condition x policy: `vla-grounding eval`'s numbers (in a worker process, one torch thread)."""
    import torch

    from vla_grounding.evaluation import evaluate
    from vla_grounding.sim.camera_effects import parse_calibration_error

    torch.set_num_threads(1)
    camera, error, fiducials, _ = CONDITIONS[name]
    t0 = time.perf_counter()
    res = evaluate(TASK, policy, episodes, camera=camera, calibration_error=parse_calibration_error(error),
                   fiducials=fiducials)
    keys = ("mean_score", "success_rate", "steps", "refused_steps", "rejected_steps", "policy_seconds_per_step",
            "fiducial_shift_mm_median", "fiducials_unseen_steps")
    return {k: res[k] for k in keys}, time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
