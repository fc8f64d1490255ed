"""Both policies' poses on test scenes, compared with a recorded reference (speed-ups must not
change results). Usage (after `source scripts/env.sh`):

    python bench/pose_regression.py [--seeds 100]            # compare with the reference
    python bench/pose_regression.py --record [--seeds 100]   # write the reference from this code

The reference, bench/results/poses_reference.json, says which commit recorded it. Poses
(positions, yaws) must agree to 1e-6 m / rad; refusals must be the same sentence.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REFERENCE = Path(__file__).resolve().parent / "results" / "poses_reference.json"
TASKS = ("put-blocks-in-bowls-seen", "stack-block-pyramid-seq")
POLICIES = ("clip_regions", "cliport")


def poses(seeds: int) -> dict:
    import torch

    from vla_grounding.policy import GroundingRefused, make_policy
    from vla_grounding.sim.env import TabletopEnv

    torch.set_num_threads(1)
    policies = {name: make_policy(name, device="cpu") for name in POLICIES}
    out = {}
    for task in TASKS:
        with TabletopEnv(task, render_backend="tiny") as env:
            for seed in range(1, 2 * seeds, 2):
                frame = env.reset(seed)
                for name, policy in policies.items():
                    try:
                        plan = policy.act(frame, frame.extras["instruction"])
                        value = [*map(float, plan.pick_position), *map(float, plan.place_position),
                                 float(plan.pick_yaw), float(plan.place_yaw)]
                    except GroundingRefused as exc:
                        value = str(exc)
                    out[f"{task} {seed} {name}"] = value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    now = poses(args.seeds)
    if args.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        REFERENCE.write_text(json.dumps({"commit": commit, "seeds": args.seeds, "poses": now}, indent=0) + "\n")
        print(f"recorded {len(now)} plans at {commit}")
        return 0
    ref = json.loads(REFERENCE.read_text())
    differ = []
    for key, value in now.items():
        old = ref["poses"].get(key)
        if old is None:
            continue
        same = value == old if isinstance(value, str) or isinstance(old, str) else np.allclose(value, old, atol=1e-6)
        if not same:
            differ.append(f"{key}: {old} -> {value}")
    print("\n".join(differ))
    compared = sum(key in ref["poses"] for key in now)
    print(f"{compared} plans compared with the reference of {ref['commit']}: {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
