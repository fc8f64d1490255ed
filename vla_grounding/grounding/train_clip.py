"""``vla-grounding train clip``: train the shipped small CLIP on simulator region crops.

Data: the policy's own region proposals on training-seed scenes (even seeds), each crop
named after the body it covers ("red block"), before and after oracle moves (so blocks in
bowls appear). Captions use only the task's seen colours by default, so "unseen colours"
stay unseen words (CLIPort's protocol); crops of other colours still train the shape words.

Objective: CLIP's symmetric contrastive loss, with several positives per row because many
crops share a caption and a caption like "block" matches every block.

Output: ``open_clip_config.json`` + ``open_clip_model.safetensors`` (fp16) +
``calibration.json`` + ``training_summary.json`` in ``--out`` (default: the package's
models/clip_small, which ``ClipBackend.shipped()`` loads).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vla_grounding.grounding import clip_backend as cb
from vla_grounding.grounding.scoring import CALIBRATION_FILE, PROMPT_TEMPLATE
from vla_grounding.grounding.sim_data import sim_scenes, split_name

SHAPES = {"block": ("block", "cube"), "bowl": ("bowl",)}
TEMPLATES = ("{}", "a {}", "the {}", PROMPT_TEMPLATE)
STORE = 72  # crops are stored at this size and randomly cropped to the model's input


def build_dataset(task: str, seeds: list[int], oracle_steps: int, size: int = STORE) -> dict[str, np.ndarray]:
    """Crops (N, size, size, 3) uint8 with colour and shape names of the bodies they show."""
    images, colours, shapes = [], [], []
    for scene in sim_scenes(task, seeds, oracle_steps):
        for crop, name in zip(scene.proposals.crops, scene.names, strict=False):
            if name is None:
                continue
            colour, shape = split_name(name)
            if shape not in SHAPES:
                continue
            t = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            images.append(t[0].round().clamp(0, 255).byte().permute(1, 2, 0).numpy())
            colours.append(colour)
            shapes.append(shape)
    return {"images": np.stack(images), "colours": np.array(colours), "shapes": np.array(shapes)}


def caption_set(colours: list[str]) -> list[tuple[str | None, str | None, str]]:
    """(colour or None, shape or None, phrase) for every caption the model is taught."""
    out = []
    for shape, words in SHAPES.items():
        for word in words:
            out.append((None, shape, word))
            out += [(c, shape, f"{c} {word}") for c in colours]
    out += [(c, None, f"{c} object") for c in colours]
    return out


def positives(caps, colours: np.ndarray, shapes: np.ndarray) -> torch.Tensor:
    """(N_images, N_captions) bool: the caption is true of the crop."""
    pos = np.ones((len(colours), len(caps)), bool)
    for j, (c, s, _) in enumerate(caps):
        if c is not None:
            pos[:, j] &= colours == c
        if s is not None:
            pos[:, j] &= shapes == s
    return torch.from_numpy(pos)


def augment(batch: torch.Tensor, out_size: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop (85-100 % of the side), horizontal flip, mild brightness; float 0..1."""
    n, _, s, _ = batch.shape
    x = batch.float() / 255.0
    outs = []
    for i in range(n):
        side = int(s * (0.85 + 0.15 * torch.rand(1, generator=gen).item()))
        top = int(torch.randint(0, s - side + 1, (1,), generator=gen))
        left = int(torch.randint(0, s - side + 1, (1,), generator=gen))
        crop = x[i : i + 1, :, top : top + side, left : left + side]
        if torch.rand(1, generator=gen).item() < 0.5:
            crop = crop.flip(-1)
        outs.append(
            F.interpolate(crop, size=(out_size, out_size), mode="bilinear", antialias=True, align_corners=False)
        )
    x = torch.cat(outs)
    return (x * (0.92 + 0.16 * torch.rand(n, 1, 1, 1, generator=gen))).clamp(0, 1)


def multi_positive_clip_loss(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE where a row may have several positives: maximise the
    probability mass on the positives, image->text and text->image."""
    neg_inf = torch.finfo(logits.dtype).min
    i2t = torch.logsumexp(logits.masked_fill(~pos, neg_inf), 1) - torch.logsumexp(logits, 1)
    has = pos.any(0)
    lt = logits.T[has]
    pt = pos.T[has]
    t2i = torch.logsumexp(lt.masked_fill(~pt, neg_inf), 1) - torch.logsumexp(lt, 1)
    return -(i2t.mean() + t2i.mean()) / 2


def evaluate(backend: cb.ClipBackend, data: dict, colours: list[str]) -> dict[str, float]:
    """Held-out retrieval: top-1 over all colour+shape captions, and cosine calibration."""
    caps = [(c, s, f"{c} {s}") for s in SHAPES for c in colours]
    keep = np.isin(data["colours"], colours)
    imgs = torch.from_numpy(data["images"][keep]).permute(0, 3, 1, 2)
    emb = torch.cat([backend.encode_images(imgs[i : i + 256]) for i in range(0, len(imgs), 256)])
    text = backend.encode_text([PROMPT_TEMPLATE.format(p) for _, _, p in caps])
    sims = (emb @ text.T).cpu()
    pos = positives(caps, data["colours"][keep], data["shapes"][keep])
    top1 = float(pos[torch.arange(len(sims)), sims.argmax(1)].float().mean())
    return {
        "retrieval_top1": top1,
        "n_eval_crops": int(len(sims)),
        "positive_cos": float(sims[pos].mean()),
        "negative_cos": float(sims[~pos].mean()),
        "negative_cos_p99": float(torch.quantile(sims[~pos].float(), 0.99)),
    }


def save(model, out: Path, summary: dict, calibration: dict) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    cfg = json.loads(cb.SHIPPED_CONFIG.read_text())
    size = cfg["vision_cfg"]["image_size"]
    (out / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": cfg,
                "preprocess_cfg": {"size": size, "mean": list(cb.OPENAI_MEAN), "std": list(cb.OPENAI_STD)},
            },
            indent=2,
        )
        + "\n"
    )
    sd = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(out / "open_clip_model.safetensors"))
    (out / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2) + "\n")
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vla-grounding train clip", description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="put-blocks-in-bowls-seen")
    ap.add_argument("--scenes", type=int, default=300, help="training scenes (even seeds)")
    ap.add_argument("--eval-scenes", type=int, default=60, help="held-out scenes (odd seeds)")
    ap.add_argument("--oracle-steps", type=int, default=1, help="also record each scene after this many oracle moves")
    ap.add_argument(
        "--colors", choices=("seen", "all"), default="seen", help="caption colours: the task's seen ones or all"
    )
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None, help="cache the crops in this .npz (reused when it exists)")
    ap.add_argument("--out", type=Path, default=cb.SHIPPED_DIR)
    ap.add_argument("--data-only", action="store_true", help="only render the crops into --data")
    return ap.parse_args(argv)


def _load_or_build(args) -> tuple[dict, dict]:
    if args.data is not None and args.data.is_file():
        z = np.load(args.data)
        print(f"loaded crops from {args.data}")
        return (
            {k[6:]: z[k] for k in z.files if k.startswith("train_")},
            {k[5:]: z[k] for k in z.files if k.startswith("eval_")},
        )
    print(f"rendering {args.scenes} training + {args.eval_scenes} held-out scenes of {args.task} ...", flush=True)
    train = build_dataset(args.task, [2 * i for i in range(args.scenes)], args.oracle_steps)
    held = build_dataset(args.task, [2 * i + 1 for i in range(args.eval_scenes)], args.oracle_steps)
    if args.data is not None:
        args.data.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            args.data, **{f"train_{k}": v for k, v in train.items()}, **{f"eval_{k}": v for k, v in held.items()}
        )
    return train, held


def main(argv: list[str]) -> int:
    import open_clip

    from vla_grounding.sim.colors import COLORS, TRAIN_COLORS

    args = _args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    train, held = _load_or_build(args)
    t_data = time.time() - t_start
    if args.data_only:
        print(
            f"{len(train['images'])} training crops, {len(held['images'])} held-out crops in {args.data} ({t_data:.0f} s)"
        )
        return 0
    colours = list(TRAIN_COLORS if args.colors == "seen" else COLORS)
    print(f"{len(train['images'])} training crops, {len(held['images'])} held-out crops ({t_data:.0f} s)", flush=True)

    cb.register_shipped_config()
    device = cb.resolve_device("auto")
    model = open_clip.create_model(cb.SHIPPED_MODEL, pretrained=None).to(device)
    tokenizer = open_clip.get_tokenizer(cb.SHIPPED_MODEL)
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    mean = torch.tensor(cb.OPENAI_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(cb.OPENAI_STD, device=device).view(1, 3, 1, 1)
    caps = caption_set(colours)
    images = torch.from_numpy(train["images"]).permute(0, 3, 1, 2)
    pos_all = positives(caps, train["colours"], train["shapes"])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    )
    gen = torch.Generator().manual_seed(args.seed)
    t_train = time.time()
    model.train()
    for step in range(args.steps):
        idx = torch.randint(0, len(images), (args.batch,), generator=gen)
        x = ((augment(images[idx], size, gen).to(device)) - mean) / std
        tmpl = [TEMPLATES[int(torch.randint(0, len(TEMPLATES), (1,), generator=gen))] for _ in caps]
        tokens = tokenizer([t.format(p) for t, (_, _, p) in zip(tmpl, caps, strict=False)]).to(device)
        img = F.normalize(model.encode_image(x), dim=-1)
        txt = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
        loss = multi_positive_clip_loss(logits, pos_all[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(
                f"step {step:5d}/{args.steps} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.2e} "
                f"{time.time() - t_train:.0f} s",
                flush=True,
            )
    train_s = time.time() - t_train
    model.eval()
    tmp = args.out
    save(model, tmp, {}, {"negative": 0.0, "positive": 1.0})
    backend = cb.ClipBackend(cb.SHIPPED_MODEL, checkpoint=tmp, device=device)
    metrics = evaluate(backend, held, colours)
    train_metrics = evaluate(backend, {k: v[:2000] for k, v in train.items()}, colours)
    vocabulary = sorted(
        {w for t in TEMPLATES for w in t.format("").replace(".", " ").split()}
        | {w for _, _, p in caps for w in p.split()}
    )
    calibration = {
        "negative": metrics["negative_cos_p99"],
        "positive": metrics["positive_cos"],
        "vocabulary": vocabulary,
    }
    summary = {
        "command": "vla-grounding train clip " + " ".join(argv),
        "task": args.task,
        "caption_colours": colours,
        "train_scenes": args.scenes,
        "train_crops": int(len(images)),
        "heldout_scenes": args.eval_scenes,
        "steps": args.steps,
        "batch": args.batch,
        "data_seconds": round(t_data, 1),
        "train_seconds": round(train_s, 1),
        "device": str(device),
        "threads": args.threads,
        "heldout": metrics,
        "train_subset_retrieval_top1": train_metrics["retrieval_top1"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    save(model, args.out, summary, calibration)
    print(json.dumps(summary, indent=2))
    return 0
