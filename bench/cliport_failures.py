"""Where a put-blocks-in-bowls policy goes wrong: each step classified from the simulator's state.

A pick is "wrong colour" when the block nearest to it is not of the instruction's pick colour,
"done block" when that block already sits in a bowl of the place colour, "miss" when no block
is within 2.5 cm; a place is "wrong colour" when the nearest bowl is not of the place colour,
"occupied" when another block is already in it, "miss" when no bowl is within 5 cm. Also
measures how much the CLIP sentence embedding depends on which colour goes with which noun
(the reason for cliport/language.py's phrase slots).

    python bench/cliport_failures.py [--checkpoint CK] [--first-seed 400] [--episodes 60] [--json OUT]

Seeds default to even seeds 400, 402, ...: training split, beyond the shipped run's demos
(0..228) and rollout seeds (230..328), so they validate without touching the test seeds.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

import numpy as np
import torch.nn.functional as F

TASK = "put-blocks-in-bowls-seen"


def _nearest(objects: list[dict], xy: np.ndarray) -> tuple[dict, float]:
    d = [float(np.linalg.norm(o["position"][:2] - xy)) for o in objects]
    i = int(np.argmin(d))
    return objects[i], d[i]


def classify_step(objects: list[dict], plan, pick_colour: str, place_colour: str) -> tuple[str, str]:
    """(pick outcome, place outcome) of one plan in the scene ``objects`` (before it is executed)."""
    blocks = [o for o in objects if o["kind"] == "block"]
    bowls = [o for o in objects if o["kind"] == "bowl"]
    targets = [o for o in bowls if o["name"] == f"{place_colour} bowl"]

    def in_bowl(block: dict, bowl_list: list[dict]) -> bool:
        return any(np.linalg.norm(block["position"][:2] - b["position"][:2]) < 0.05 for b in bowl_list)

    block, d_block = _nearest(blocks, np.asarray(plan.pick_position[:2]))
    if d_block > 0.025:
        pick = "pick_miss"
    elif block["name"] != f"{pick_colour} block":
        pick = "pick_wrong_colour"
    elif in_bowl(block, targets):
        pick = "pick_done_block"
    else:
        pick = "pick_ok"
    bowl, d_bowl = _nearest(bowls, np.asarray(plan.place_position[:2]))
    if d_bowl > 0.05:
        place = "place_miss"
    elif bowl["name"] != f"{place_colour} bowl":
        place = "place_wrong_colour"
    elif any(in_bowl(b, [bowl]) for b in blocks if b["uid"] != block["uid"]):
        place = "place_occupied"
    else:
        place = "place_ok"
    return pick, place


def failure_modes(checkpoint: str | None, first_seed: int, episodes: int) -> dict:
    from vla_grounding.language.parse import parse_instruction
    from vla_grounding.policy import GroundingRefused, make_policy
    from vla_grounding.sim.env import TabletopEnv

    policy = make_policy("cliport", checkpoint=checkpoint, device="cpu")
    env = TabletopEnv(TASK)
    counts: collections.Counter = collections.Counter()
    scores, per_episode = [], []
    try:
        for seed in range(first_seed, first_seed + 2 * episodes, 2):
            frame = env.reset(seed)
            parsed = parse_instruction(env.instruction)
            pick_colour, place_colour = parsed.pick_phrase.split()[0], parsed.place_phrase.split()[0]
            steps = []
            while not env.done:
                try:
                    plan = policy.act(frame, env.instruction)
                except GroundingRefused as exc:
                    env.end_step(False, str(exc))
                    steps.append("refused")
                    continue
                outcome = classify_step(env.objects(), plan, pick_colour, place_colour)
                counts.update(outcome)
                steps.append("+".join(outcome))
                env.step(plan)
                if not env.done:
                    frame = env.render()
            scores.append(env.score)
            per_episode.append({"seed": seed, "score": round(env.score, 4), "steps": steps})
    finally:
        env.close()
    return {
        "checkpoint": checkpoint or "shipped",
        "seeds": f"{first_seed}, {first_seed + 2}, ..., {first_seed + 2 * (episodes - 1)}",
        "mean_score": float(100 * np.mean(scores)),
        "steps": sum(v for k, v in counts.items() if k.startswith("pick")),
        "counts": dict(sorted(counts.items())),
        "imperfect_episodes": [e for e in per_episode if e["score"] < 0.99],
    }


def sentence_order_sensitivity() -> dict:
    """How the small CLIP's embedding of "put the X blocks in a Y bowl" changes when X and Y swap."""
    from vla_grounding.grounding.clip_backend import ClipBackend
    from vla_grounding.sim.colors import TRAIN_COLORS

    backend = ClipBackend(device="cpu")
    pairs = [(x, y) for x in TRAIN_COLORS for y in TRAIN_COLORS if x != y]
    emb = backend.encode_text([f"put the {x} blocks in a {y} bowl" for x, y in pairs])
    index = {p: i for i, p in enumerate(pairs)}
    swap = np.array([float(emb[index[(x, y)]] @ emb[index[(y, x)]]) for x, y in pairs])
    blocks = F.normalize(backend.encode_text([f"{c} block" for c in TRAIN_COLORS]), dim=-1)
    nearest = (emb @ blocks.T).argmax(1).tolist()
    pick_named = np.mean([TRAIN_COLORS[n] == x for n, (x, _) in zip(nearest, pairs, strict=True)])
    return {
        "pairs": len(pairs),
        "swap_cosine_mean": float(swap.mean()),
        "swap_cosine_min": float(swap.min()),
        "nearest_block_caption_is_pick_colour": float(pick_named),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="CLIPort checkpoint (default: the shipped one)")
    ap.add_argument("--first-seed", type=int, default=400)
    ap.add_argument("--episodes", type=int, default=60)
    ap.add_argument("--json", default=None, help="also write the result to this file")
    args = ap.parse_args(argv)
    if args.first_seed % 2:
        ap.error("--first-seed must be even: odd seeds are test episodes")
    result = {"sentence_order": sentence_order_sensitivity(), **failure_modes(args.checkpoint, args.first_seed, args.episodes)}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
