"""Referring accuracy: for each object name in a held-out scene ("red block"), is CLIP's
top-1 region one that shows an object of that name?

Held-out scenes are test seeds (odd) of a simulated task; the region names come from the
simulator's privileged state (see sim_data). Run:
``python -m vla_grounding.grounding.referring --task put-blocks-in-bowls-seen --scenes 50``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from vla_grounding.grounding.clip_backend import ClipBackend
from vla_grounding.grounding.scoring import score_crops
from vla_grounding.grounding.sim_data import LabelledScene, sim_scenes, split_name


def scene_hits(backend: ClipBackend, scene: LabelledScene) -> list[tuple[str, bool]]:
    """(phrase, top-1 correct) for every distinct object name visible in the scene."""
    phrases = sorted({n for n in scene.names if n is not None})
    if not phrases:
        return []
    cos = score_crops(backend, scene.proposals.crops, phrases)
    return [(p, scene.names[int(np.argmax(cos[:, j]))] == p) for j, p in enumerate(phrases)]


def referring_accuracy(
    backend: ClipBackend, task: str, seeds: list[int], seen_colours: tuple[str, ...], oracle_steps: int = 0
) -> dict:
    """Top-1 referring accuracy for colour+shape phrases, split by seen / unseen colour."""
    hits: dict[str, list[bool]] = {"seen": [], "unseen": []}
    errors: list[dict] = []
    t0 = time.time()
    for scene in sim_scenes(task, seeds, oracle_steps, progress=False):
        for phrase, ok in scene_hits(backend, scene):
            group = "seen" if split_name(phrase)[0] in seen_colours else "unseen"
            hits[group].append(ok)
            if not ok and group == "seen":
                errors.append({"seed": scene.seed, "phrase": phrase})
    out = {"task": task, "scenes": len(seeds), "seconds": round(time.time() - t0, 1)}
    for group, h in hits.items():
        out[f"{group}_phrases"] = len(h)
        out[f"{group}_accuracy"] = float(np.mean(h)) if h else None
    out["seen_errors"] = errors[:20]
    return out


def main(argv: list[str] | None = None) -> int:
    from vla_grounding.sim.colors import TRAIN_COLORS

    ap = argparse.ArgumentParser(description="referring accuracy of a CLIP on held-out simulator scenes")
    ap.add_argument("--task", default="put-blocks-in-bowls-seen")
    ap.add_argument("--scenes", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=1001, help="odd: test seeds, disjoint from training")
    ap.add_argument("--oracle-steps", type=int, default=1)
    ap.add_argument("--model", default=None)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--pretrained", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    backend = (
        ClipBackend.shipped()
        if args.model is None and args.checkpoint is None
        else ClipBackend(args.model or "vla-clip-small", pretrained=args.pretrained, checkpoint=args.checkpoint)
    )
    seeds = [args.first_seed + 2 * i for i in range(args.scenes)]
    res = referring_accuracy(backend, args.task, seeds, TRAIN_COLORS, args.oracle_steps)
    res["command"] = "python -m vla_grounding.grounding.referring " + " ".join(argv or [])
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
