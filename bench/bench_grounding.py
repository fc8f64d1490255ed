"""Grounding latency for one instruction on a 640x480 simulated frame, on this machine's CPU.

Compares, in one run: the shipped small CLIP and ViT-B-32 (random weights: the same
architecture and cost as the pretrained one, which cannot be downloaded here), scoring
all region crops in one batched forward versus one crop at a time.

    PYTHONPATH=. python bench/bench_grounding.py [--repeats 5] [--threads 2]

Writes bench/results/grounding_latency.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from vla_grounding.grounding.clip_backend import ClipBackend
from vla_grounding.grounding.policy import ClipRegionsPolicy
from vla_grounding.grounding.proposals import propose_regions
from vla_grounding.grounding.scoring import prompt, score_crops, score_crops_one_by_one
from vla_grounding.language.parse import parse_instruction
from vla_grounding.policy import GroundingRefused

RESULTS = Path(__file__).parent / "results"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.machine()


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench_model(label: str, backend: ClipBackend, frame, instruction: str, workspace, repeats: int) -> dict:
    parsed = parse_instruction(instruction)
    props = propose_regions(frame, workspace)
    phrases = parsed.phrases
    backend.encode_text([prompt(p) for p in phrases])  # warm the text cache, as a running node would
    score_crops(backend, props.crops, phrases)  # warm-up
    policy = ClipRegionsPolicy(backend=backend, workspace=workspace, min_confidence=0.0)

    def act():
        try:
            policy.act(frame, instruction)
        except GroundingRefused:
            pass

    backend._text_cache.clear()
    t0 = time.perf_counter()
    backend.encode_text([prompt(p) for p in phrases])
    text_cold_ms = 1000 * (time.perf_counter() - t0)
    return {
        "model": label,
        "crops": len(props.crops),
        "phrases": phrases,
        "image_size": backend.image_size,
        "text_encode_cold_ms": round(text_cold_ms, 1),
        "proposals_ms": round(_median_ms(lambda: propose_regions(frame, workspace), repeats), 1),
        "clip_batched_ms": round(_median_ms(lambda: score_crops(backend, props.crops, phrases), repeats), 1),
        "clip_one_by_one_ms": round(
            _median_ms(lambda: score_crops_one_by_one(backend, props.crops, phrases), repeats), 1
        ),
        "act_total_ms": round(_median_ms(act, repeats), 1),
    }


def main() -> int:
    from vla_grounding.sim.env import TabletopEnv

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="torch thread counts to measure")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with TabletopEnv("put-blocks-in-bowls-seen") as env:
        frame = env.reset(args.seed)
        instruction, workspace = env.instruction, env.workspace
    models = [
        ("vla-clip-small (shipped)", ClipBackend.shipped(device="cpu")),
        ("ViT-B-32 (random weights)", ClipBackend("ViT-B-32", random_init=True, device="cpu")),
    ]
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for label, backend in models:
            row = bench_model(label, backend, frame, instruction, workspace, args.repeats)
            rows.append({"torch_threads": threads, **row})
    out = {
        "command": "PYTHONPATH=. python bench/bench_grounding.py "
        + f"--repeats {args.repeats} --threads {' '.join(map(str, args.threads))}",
        "frame": f"{frame.color.shape[1]}x{frame.color.shape[0]} simulated RGB-D, seed {args.seed}",
        "instruction": instruction,
        "cpu": _cpu_name(),
        "statistic": f"median of {args.repeats}",
        "results": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grounding_latency.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Grounding latency (CPU)",
        "",
        f"Command: `{out['command']}`  ",
        f"Frame: {out['frame']}; instruction: '{instruction}'; {out['statistic']}; CPU: {out['cpu']}.",
        "",
        "| torch threads | model | crops | proposals ms | CLIP batched ms | CLIP one crop at a time ms "
        "| act() total ms | text (cold) ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['torch_threads']} | {r['model']} | {r['crops']} | {r['proposals_ms']} | {r['clip_batched_ms']} | {r['clip_one_by_one_ms']} "
            f"| {r['act_total_ms']} | {r['text_encode_cold_ms']} |"
        )
    (RESULTS / "grounding_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
