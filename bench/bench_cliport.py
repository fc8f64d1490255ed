"""CLIPort benchmark: act() latency of our batched design vs a batch-1 loop over rotations,
and training steps per second, all in one run on this machine.

Ours: one two-stream pass per network, frozen CLIP features computed once per image, the
query crop rotated to all yaw bins in one grid_sample and cross-correlated with the key
map through one FFT. The batch-1 loop is an ablation of that batching on our own networks:
for each of the 36 rotations, rotate the input crop, run CLIP and the query network on it
(batch 1) and correlate with conv2d. It is NOT CLIPort's code, which already batches its 36
crops; the comparison with CLIPort's own implementation is in the README (measured in one run:
its act() 9.4 s against our 0.46 s at the same input size, RN50, 320x160, 36 rotations, one thread).
Both use the same networks and weights (random init: latency does not depend on them).

    python bench/bench_cliport.py [--repeats 5] [--threads 2] [--clip small,RN50]
    python bench/bench_cliport.py --device cuda --bf16 --batch-sizes 8,32 --clip small,RN50,ViT-B-32   # bench/gpu.sh

Writes bench/results/cliport_bench.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vla_grounding.cliport.config import CliportConfig  # noqa: E402
from vla_grounding.cliport.features import CLIP_UPSAMPLE, clip_maps  # noqa: E402
from vla_grounding.cliport.language import text_features  # noqa: E402
from vla_grounding.cliport.model import CliportModel, encode_image, normalize_clip_map  # noqa: E402
from vla_grounding.cliport.policy import CliportPolicy  # noqa: E402
from vla_grounding.cliport.transport import correlate_direct, crop_rotations, rotation_angles  # noqa: E402
from vla_grounding.perception.heightmap import TopDownView  # noqa: E402
from vla_grounding.perception.workspace import Workspace  # noqa: E402

INSTRUCTION = "put the red blocks in a blue bowl"


def synthetic_view(ws: Workspace, rng: np.random.Generator) -> TopDownView:
    rows, cols = ws.shape
    color = np.full((rows, cols, 3), 100, np.uint8)
    height = np.zeros((rows, cols), np.float32)
    for _ in range(6):
        r, c = rng.integers(10, rows - 10), rng.integers(10, cols - 10)
        color[r - 6 : r + 7, c - 6 : c + 7] = rng.integers(0, 255, 3)
        height[r - 6 : r + 7, c - 6 : c + 7] = 0.04
    return TopDownView(color, height, np.ones((rows, cols), bool), ws)


@torch.no_grad()
def reference_act(policy: CliportPolicy, view: TopDownView, instruction: str) -> tuple[int, int, int]:
    """CLIPort's transport design: a batch-1 loop over the rotations, CLIP + query net per rotated crop."""
    model, backend = policy.model, policy.backend
    color = torch.from_numpy(view.color)[None]
    height = torch.from_numpy(view.height)[None]
    image = encode_image(color, height)
    clip = normalize_clip_map(clip_maps(backend, color))
    text = text_features(backend, [instruction], model.config.language)
    pick_logits = model.pick_logits(image, clip, text)
    flat = int(pick_logits.flatten().argmax())
    pick = torch.tensor([[flat // image.shape[-1], flat % image.shape[-1]]], dtype=torch.float32)
    transport = model.transport
    key, _ = transport.features(image, clip, text)
    raw = torch.cat([color.permute(0, 3, 1, 2).float(), height[:, None]], 1)
    crop = transport.crop_size
    best = (-float("inf"), 0, 0, 0)
    for r, angle in enumerate(rotation_angles(transport.n_rotations)):
        rotated = crop_rotations(raw, pick, crop, angle[None])[:, 0]  # (1, 4, crop, crop) input crop
        crop_color = rotated[:, :3].round().clamp(0, 255).permute(0, 2, 3, 1).to(torch.uint8)
        crop_clip = normalize_clip_map(clip_maps(backend, crop_color))
        out = transport.fcn(encode_image(crop_color, rotated[:, 3]), crop_clip, text)
        kernel = out[:, transport.kernel_dim :]  # query features of the rotated crop
        logits = correlate_direct(key, kernel[:, None])[0, 0]
        value = float(logits.max())
        if value > best[0]:
            idx = int(logits.argmax())
            best = (value, r, idx // logits.shape[-1], idx % logits.shape[-1])
    return best[1:]


def time_it(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_latency(clip_name: str, repeats: int, config: CliportConfig, device: str = "cpu") -> dict:
    from vla_grounding.grounding.clip_backend import ClipBackend

    backend = (
        ClipBackend(device=device) if clip_name == "small" else ClipBackend(clip_name, random_init=True, device=device)
    )
    cfg = CliportConfig(**{**config.__dict__, "clip_channels": backend.feature_channels, "text_dim": backend.embed_dim})
    torch.manual_seed(0)
    policy = CliportPolicy.from_model(CliportModel(cfg).eval().to(device), backend)
    view = synthetic_view(cfg.workspace_obj, np.random.default_rng(0))
    ours = time_it(lambda: _sync(device, policy.act_view(view, INSTRUCTION)), repeats)
    ref = (time_it(lambda: reference_act(policy, view, INSTRUCTION), max(1, repeats // 2)) if device == "cpu"
           else [float("nan")])  # the ablation loop is CPU-only (its tensors are built on the CPU)
    plan = policy.act_view(view, INSTRUCTION)
    return {
        "clip": clip_name,
        "clip_feature_channels": backend.feature_channels,
        "rotations": cfg.n_rotations,
        "ours_act_s_median": statistics.median(ours),
        "ours_act_s": [round(t, 4) for t in ours],
        "ours_stage_s": {k: round(v, 4) for k, v in plan.timings.items()},
        "reference_loop_act_s_median": statistics.median(ref),
        "reference_loop_act_s": [round(t, 4) for t in ref],
        "speedup": statistics.median(ref) / statistics.median(ours),
    }


def _sync(device: str, value=None):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return value


def bench_training(config: CliportConfig, batch_size: int, steps: int, device: str = "cpu",
                   bf16: bool = False) -> dict:
    from vla_grounding.cliport.train import losses

    cfg = CliportConfig(**{**config.__dict__, "clip_channels": 512, "text_dim": 64})
    torch.manual_seed(0)
    model = CliportModel(cfg).train().to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    rows, cols = cfg.workspace_obj.shape
    h, w = rows * CLIP_UPSAMPLE // 32, cols * CLIP_UPSAMPLE // 32
    batch = {
        "image": torch.randn(batch_size, 4, rows, cols),
        "clip": torch.randn(batch_size, 512, h, w),
        "text": torch.randn(batch_size, cfg.text_features),
        "pick": torch.randint(8, rows - 8, (batch_size, 2)),
        "place": torch.randint(8, rows - 8, (batch_size, 2)),
        "rot": torch.randint(0, cfg.n_rotations, (batch_size,)),
    }
    batch = {k: v.to(device) for k, v in batch.items()}
    kind = "cuda" if device.startswith("cuda") else "cpu"

    def step() -> None:
        with torch.autocast(device_type=kind, dtype=torch.bfloat16, enabled=bf16):
            pick_loss, place_loss, _, _ = losses(model, batch)
        opt.zero_grad()
        (pick_loss + place_loss).backward()
        opt.step()
        _sync(device)

    times = time_it(step, steps)
    return {
        "batch_size": batch_size,
        "device": device,
        "bf16": bf16,
        "step_s_median": statistics.median(times),
        "steps_per_s": 1 / statistics.median(times),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clip", default="small,RN50", help="comma-separated: small (shipped) and/or open_clip names")
    ap.add_argument("--train-steps", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--bf16", action="store_true", help="training steps under bf16 autocast")
    ap.add_argument("--batch-sizes", default="8", help="comma-separated training batch sizes")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cliport_bench"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = CliportConfig(clip_channels=1, text_dim=1, language="sentence+phrases")  # the shipped recipe
    result = {
        "command": "python bench/bench_cliport.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "threads": args.threads,
        "load_average_at_start": os.getloadavg(),
        "config": {
            k: getattr(config, k) for k in ("n_rotations", "crop_size", "width", "stride", "kernel_dim", "language")
        },
        "latency": [],
    }
    for name in [c.strip() for c in args.clip.split(",") if c.strip()]:
        print(f"act() latency with CLIP {name} ...", flush=True)
        result["latency"].append(bench_latency(name, args.repeats, config, args.device))
        print(json.dumps(result["latency"][-1]), flush=True)
    result["training"] = []
    result["device"] = args.device
    for threads in sorted({1, args.threads}) if args.device == "cpu" else [args.threads]:
        torch.set_num_threads(threads)
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            print(f"training steps/s, batch {batch_size}, {threads} thread(s), {args.device} ...", flush=True)
            result["training"].append({"threads": threads, **bench_training(config, batch_size, args.train_steps,
                                                                          args.device, args.bf16)})
            print(json.dumps(result["training"][-1]), flush=True)
    result["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(to_markdown(result))
    print(f"wrote {out.with_suffix('.json')} and .md")
    return 0


def to_markdown(r: dict) -> str:
    lines = [
        "# CLIPort benchmark",
        "",
        f"Command: `{r['command']}`  ",
        f"Machine: {r['machine']}, torch threads {r['threads']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in r['load_average_at_start'])} (other jobs shared the CPU).  ",
        f"Model: {r['config']}; random weights (latency does not depend on them).",
        "",
        "## act() latency (top-down view -> plan), median seconds",
        "",
        "| CLIP | ours (batched rotations, CLIP once) | batch-1 loop over rotations (our ablation, not CLIPort's code) | "
        "speed-up |",
        "|---|---|---|---|",
    ]
    for x in r["latency"]:
        lines.append(
            f"| {x['clip']} ({x['clip_feature_channels']} ch) | {x['ours_act_s_median']:.3f} | "
            f"{x['reference_loop_act_s_median']:.3f} | {x['speedup']:.1f}x |"
        )
    lines += ["", "## Training (160x160, 36 rotations)", "", "| device | bf16 | batch | threads | s/step | steps/s |",
              "|---|---|---|---|---|---|"]
    for x in r["training"]:
        lines.append(f"| {x.get('device', 'cpu')} | {x.get('bf16', False)} | {x['batch_size']} | {x['threads']} | "
                     f"{x['step_s_median']:.3f} | {x['steps_per_s']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
