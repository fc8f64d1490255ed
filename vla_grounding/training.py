"""``vla-grounding train clip|cliport``: dispatch to the trainer that owns the model."""

from __future__ import annotations

import importlib
import sys

TRAINERS = {
    "clip": "vla_grounding.grounding.train_clip",
    "cliport": "vla_grounding.cliport.train",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TRAINERS:
        print(f"usage: vla-grounding train {{{','.join(TRAINERS)}}} [options]", file=sys.stderr)
        return 2
    return int(importlib.import_module(TRAINERS[argv[0]]).main(argv[1:]) or 0)
