"""``vla-grounding train cliport``: train the pick + place networks on recorded demonstrations.

Batches of top-down samples with random rotation + shift augmentation (labels moved along),
Adam with a cosine-decayed learning rate over the step or time budget (whichever ends
first), an exponential moving average of the weights, periodic validation on held-out
episodes (and, with ``--val-rollouts``, by simulated episodes once ``--rollouts-after`` of
the budget is used: cliport/rollouts.py), and the best validated EMA weights written as the
checkpoint.
Frozen CLIP features and text embeddings are computed once per sample before training.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vla_grounding.cliport.config import CliportConfig
from vla_grounding.cliport.data import Sample, random_transforms, rotation_bin, samples_from_episode, warp
from vla_grounding.cliport.features import backend_spec, clip_maps, load_backend
from vla_grounding.cliport.language import LANGUAGE_MODES, text_features
from vla_grounding.cliport.model import CliportModel, encode_image, normalize_clip_map
from vla_grounding.cliport.policy import MULTI_TASK, task_checkpoint_dir
from vla_grounding.cliport.rollouts import RolloutSet, RolloutValidator, first_free_seed
from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.workspace import Workspace
from vla_grounding.sim.camera_effects import CameraProfile, as_seen_by


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vla-grounding train cliport", description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True,
                    help="task the demos come from, e.g. put-blocks-in-bowls-seen; several, comma-separated, train "
                    "one multi-task model (CLIPort's multi-task setting; default --out: models/cliport_multi)")
    ap.add_argument("--demos", required=True,
                    help="folder written by `vla-grounding demos`; with several tasks one folder per task, "
                    "comma-separated in the same order")
    ap.add_argument("--n", "--num-demos", dest="n", type=int, required=True,
                    help="number of training episodes per task (the first N in each demo folder); under torchrun "
                    "write --num-demos (torchrun reads --n as an abbreviation of its own options)")
    ap.add_argument("--steps", type=int, default=3000, help="training steps (the LR decays to 0 over them)")
    ap.add_argument("--minutes", type=float, default=0.0, help="wall-time budget; the LR schedule follows it (0: off)")
    ap.add_argument("--out", default=None, help="checkpoint folder (default: models/cliport_<task>)")
    ap.add_argument(
        "--val-demos", default=None, help="folder of held-out episodes (default: --demos after the first N)"
    )
    ap.add_argument("--val-episodes", type=int, default=10, help="held-out episodes to validate on")
    ap.add_argument("--val-every", type=int, default=250, help="validate every this many steps")
    ap.add_argument(
        "--val-rollouts",
        type=int,
        default=0,
        help="also validate by this many simulated episodes per task (even seeds after the demos'); selects the "
        "checkpoint (a multi-task model: by the mean over tasks)",
    )
    ap.add_argument("--rollout-every", type=int, default=1200, help="steps between rollout validations")
    ap.add_argument(
        "--rollouts-after", type=float, default=0.5, help="share of the budget before rollout validations start"
    )
    ap.add_argument("--rollout-seed", type=int, default=None, help="first rollout seed (even; default: after the demos)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995, help="weight averaging decay (0: off)")
    ap.add_argument("--width", type=int, default=CliportConfig.width)
    ap.add_argument("--stride", type=int, default=CliportConfig.stride, choices=(2, 4))
    ap.add_argument("--kernel-dim", type=int, default=CliportConfig.kernel_dim)
    ap.add_argument("--rotations", type=int, default=CliportConfig.n_rotations)
    ap.add_argument("--crop", type=int, default=CliportConfig.crop_size)
    ap.add_argument(
        "--language",
        default="sentence+phrases",
        choices=sorted(LANGUAGE_MODES),
        help="text the networks get: the instruction's CLIP embedding (CLIPort) or also its pick/place phrases'",
    )
    ap.add_argument("--clip-model", default=None, help="open_clip model name (default: the shipped small CLIP)")
    ap.add_argument("--clip-pretrained", default=None, help="open_clip pretrained tag for --clip-model")
    ap.add_argument("--clip-checkpoint", default=None, help="local CLIP weights file/folder for --clip-model")
    ap.add_argument(
        "--camera-augment",
        default=None,
        metavar="PROFILE",
        help="also train on each demo frame as this camera profile sees it (sim/cameras/*.yaml or a YAML file): "
        "depth noise and holes, colour drift, lens distortion; colours white-balanced as the policy does",
    )
    ap.add_argument("--augment-copies", type=int, default=2, help="corrupted copies of each training frame")
    ap.add_argument(
        "--augment-pose-error",
        default="0.005,0.5",
        metavar="M,DEG",
        help="largest camera-pose error of the corrupted copies (metres, degrees; each drawn uniformly up to it)",
    )
    ap.add_argument("--workspace", default=None, help="JSON object of Workspace fields (default: the package's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log", "--log-file", dest="log", default=None,
                    help="append progress lines (JSON) to this file (under torchrun: --log-file)")
    ap.add_argument(
        "--snapshots", default=None, help="also save the EMA weights of every validation into DIR/step_NNNNNN"
    )
    args = ap.parse_args(argv)
    from vla_grounding.sim.tasks import TASKS

    args.tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    args.demo_dirs = [d.strip() for d in args.demos.split(",") if d.strip()]
    args.val_demo_dirs = [d.strip() for d in args.val_demos.split(",")] if args.val_demos else []
    unknown = [t for t in args.tasks if t not in TASKS]
    if not args.tasks or unknown:
        ap.error(f"unknown task(s) {unknown or [args.task]}; choose from {sorted(TASKS)}")
    if len(set(args.tasks)) != len(args.tasks):
        ap.error(f"--task names a task twice: {args.task}")
    if len(args.demo_dirs) != len(args.tasks) or (args.val_demo_dirs and len(args.val_demo_dirs) != len(args.tasks)):
        ap.error(f"--demos (and --val-demos) need one folder per task: {len(args.tasks)} task(s), "
                 f"{len(args.demo_dirs)} demo folder(s)")
    if args.n < 1 or args.steps < 1 or args.batch_size < 1 or args.rollout_every < 1:
        ap.error("--n, --steps, --batch-size and --rollout-every must be >= 1")
    if args.val_rollouts < 0:
        ap.error("--val-rollouts must be >= 0")
    if args.rollout_seed is not None and (args.rollout_seed < 0 or args.rollout_seed % 2):
        ap.error("--rollout-seed must be even (training-split seeds; odd seeds are test episodes)")
    if args.augment_copies < 0:
        ap.error("--augment-copies must be >= 0")
    from vla_grounding.sim.camera_effects import parse_calibration_error

    try:
        args.augment_profile = CameraProfile.load(args.camera_augment) if args.camera_augment else None
        args.augment_pose_error = parse_calibration_error(args.augment_pose_error)
    except ValueError as e:
        ap.error(str(e))
    return args


# ---- data -----------------------------------------------------------------------------


@dataclass
class CameraAugment:
    """Corrupted copies of every demo frame: ``copies`` renders as ``profile`` sees them, each with
    a camera pose off by up to ``pose_error`` (metres, degrees)."""

    profile: CameraProfile
    copies: int
    pose_error: tuple[float, float]
    rng: np.random.Generator

    def frames(self, frame: RGBDFrame) -> list[RGBDFrame]:
        out = []
        for _ in range(self.copies):
            error = (float(self.rng.uniform(0, self.pose_error[0])), float(self.rng.uniform(0, self.pose_error[1])))
            out.append(as_seen_by(frame, self.profile, error, self.rng))
        return out


def augmented_samples(steps, workspace: Workspace, episode: int, augment: CameraAugment) -> list[Sample]:
    """The samples of ``augment``'s corrupted copies of an episode's frames (white-balanced as the policy does)."""
    copies = [[replace(step, frame=f) for f in augment.frames(step.frame)] for step in steps]
    out: list[Sample] = []
    for k in range(augment.copies):
        out += samples_from_episode([c[k] for c in copies], workspace, episode, white_balance=True)
    return out


def load_demo_samples(
    directory: str,
    start: int,
    count: int,
    workspace: Workspace,
    task: str,
    augment: CameraAugment | None = None,
    episode_offset: int = 0,
) -> tuple[list[Sample], list[int]]:
    """Samples of episodes [start, start + count) of a demo folder -> (samples, the episodes' seeds);
    with ``augment``, its corrupted copies of every step follow the clean samples. Episode ids are
    offset by ``episode_offset`` (a multi-task set keeps each task's apart)."""
    from vla_grounding.sim import demos

    samples: list[Sample] = []
    seeds: list[int] = []
    for index, episode in enumerate(demos.iter_demos(directory)):
        if index < start:
            continue
        if len(seeds) >= count:
            break
        ep_task = episode_task(episode)
        if task and ep_task and ep_task != task:
            raise ValueError(f"demo episode {index} in {directory} is from task {ep_task!r}, not {task!r}")
        samples += samples_from_episode(episode_steps(episode), workspace, episode=episode_offset + index)
        if augment is not None:
            samples += augmented_samples(episode_steps(episode), workspace, episode_offset + index, augment)
        seeds.append(int(getattr(episode, "seed", -1)))
    return samples, seeds


def episode_task(episode) -> str:
    meta = episode.get("meta", {}) if isinstance(episode, dict) else getattr(episode, "meta", {}) or {}
    task = episode.get("task") if isinstance(episode, dict) else getattr(episode, "task", None)
    return str(task or meta.get("task", "") or "")


def episode_steps(episode):
    return episode["steps"] if isinstance(episode, dict) else episode.steps


EPISODE_OFFSET = 1_000_000  # episode ids of the k-th task of a multi-task set start at k * this


class TaskBalancedSampler:
    """Batch indices with every task equally likely (then a uniform sample of it), as CLIPort's
    multi-task loader draws a task first: a task with longer episodes does not crowd out the others.
    One task: uniform over its samples."""

    def __init__(self, task_of_sample: list[int]) -> None:
        labels = np.asarray(task_of_sample)
        self.groups = [np.flatnonzero(labels == k) for k in np.unique(labels)]

    def __call__(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if len(self.groups) == 1:
            return self.groups[0][rng.integers(0, len(self.groups[0]), size)]
        tasks = rng.integers(0, len(self.groups), size)
        return np.array([g[rng.integers(0, len(g))] for g in (self.groups[t] for t in tasks)])


class Tensors:
    """A sample set held as tensors, with the frozen CLIP features computed once."""

    def __init__(self, samples: list[Sample], backend, config: CliportConfig) -> None:
        self.samples = samples
        self.color = torch.from_numpy(np.stack([s.color for s in samples]))
        self.height = torch.from_numpy(np.stack([s.height for s in samples]))
        self.clip = clip_maps(backend, self.color).cpu()
        instructions = sorted({s.instruction for s in samples})
        emb = text_features(backend, instructions, config.language).cpu()
        index = {p: i for i, p in enumerate(instructions)}
        self.text = emb[[index[s.instruction] for s in samples]]
        self.pick = torch.tensor([s.pick for s in samples])
        self.place = torch.tensor([s.place for s in samples])
        self.rot = torch.tensor([rotation_bin(s.turn, config.n_rotations) for s in samples])

    def __len__(self) -> int:
        return len(self.samples)


def make_batch(data: Tensors, idx: np.ndarray, rng: np.random.Generator | None, device: torch.device) -> dict:
    """Inputs + labels of samples ``idx``; augmented (rotation + shift) when ``rng`` is given."""
    shape = tuple(data.height.shape[-2:])
    image_raw = torch.cat([data.color[idx].permute(0, 3, 1, 2).float(), data.height[idx][:, None]], 1)
    clip = data.clip[idx]
    pick, place = data.pick[idx].clone(), data.place[idx].clone()
    if rng is not None:
        angles, shifts, labels = random_transforms([data.samples[i] for i in idx], shape, rng)
        a, t = torch.from_numpy(angles).float(), torch.from_numpy(shifts).float()
        image_raw = warp(image_raw, a, t, shape)
        clip = warp(clip, a, t, shape)
        pick, place = torch.from_numpy(labels[:, 0]), torch.from_numpy(labels[:, 1])
    color = image_raw[:, :3].round().clamp(0, 255).permute(0, 2, 3, 1)
    image = encode_image(color, image_raw[:, 3])
    return {
        "image": image.to(device),
        "clip": normalize_clip_map(clip).to(device),
        "text": data.text[idx].to(device),
        "pick": pick.to(device),
        "place": place.to(device),
        "rot": data.rot[idx].to(device),
    }


def losses(model: CliportModel, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-entropy of the pick map and of the place map (given the true pick) + their logits."""
    w = batch["image"].shape[-1]
    pick_logits = model.pick_logits(batch["image"], batch["clip"], batch["text"])
    pick_target = batch["pick"][:, 0] * w + batch["pick"][:, 1]
    # the place loss is taken on the transport's own (strided) grid
    place_logits = model.place_logits(batch["image"], batch["clip"], batch["text"], batch["pick"], False)
    s = model.config.stride
    h2, w2 = place_logits.shape[-2:]
    place_target = batch["rot"] * h2 * w2 + (batch["place"][:, 0] // s) * w2 + batch["place"][:, 1] // s
    pick_loss = F.cross_entropy(pick_logits.flatten(1).float(), pick_target)
    place_loss = F.cross_entropy(place_logits.flatten(1).float(), place_target)
    return pick_loss, place_loss, pick_logits, place_logits


@torch.no_grad()
def validate(model: CliportModel, data: Tensors, device: torch.device, batch_size: int = 8) -> dict:
    """Held-out loss and the share of samples whose argmax pick/place land near the demo's
    (pick within 1.5 cm, place within 3 cm: a block's half width and a bowl's inner radius less
    a block's half width)."""
    was_training = model.training
    model.eval()
    pix = model.config.workspace_obj.pixel_size
    n_ok = n_pick = n_place = 0
    total = 0.0
    for i in range(0, len(data), batch_size):
        idx = np.arange(i, min(i + batch_size, len(data)))
        batch = make_batch(data, idx, None, device)
        pick_loss, place_loss, pick_logits, place_logits = losses(model, batch)
        total += float(pick_loss + place_loss) * len(idx)
        w = pick_logits.shape[-1]
        pick_hat = pick_logits.flatten(1).argmax(1)
        pick_hat = torch.stack([pick_hat // w, pick_hat % w], 1)
        h2, w2 = place_logits.shape[-2:]
        place_hat = place_logits.flatten(1).argmax(1) % (h2 * w2)
        s = model.config.stride
        place_hat = torch.stack([place_hat // w2, place_hat % w2], 1) * s + s // 2
        pick_err = (pick_hat - batch["pick"]).float().norm(dim=1) * pix
        place_err = (place_hat - batch["place"]).float().norm(dim=1) * pix
        ok_pick, ok_place = pick_err < 0.015, place_err < 0.03
        n_pick += int(ok_pick.sum())
        n_place += int(ok_place.sum())
        n_ok += int((ok_pick & ok_place).sum())
    model.train(was_training)
    n = max(len(data), 1)
    return {"val_loss": total / n, "val_pick": n_pick / n, "val_place": n_place / n, "val_success": n_ok / n}


# ---- training -------------------------------------------------------------------------


def _log(line: dict, path: str | None) -> None:
    print(json.dumps(line), flush=True)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    from vla_grounding.cliport.distributed import LossModule, init_distributed
    from vla_grounding.grounding.clip_backend import resolve_device

    ddp, device = init_distributed(resolve_device(args.device))
    if args.batch_size % ddp.world:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the {ddp.world} processes")

    def say(*a, **kw) -> None:
        if ddp.main:
            print(*a, **kw)

    workspace = Workspace(**json.loads(args.workspace)) if args.workspace else Workspace()
    multi = len(args.tasks) > 1
    out = Path(args.out) if args.out else task_checkpoint_dir(MULTI_TASK if multi else args.task)
    t_start = time.time()

    say(f"loading {args.n} training episodes {'per task ' if multi else ''}from {args.demos} ...", flush=True)
    augment = None
    if args.augment_profile is not None and args.augment_copies:
        augment = CameraAugment(args.augment_profile, args.augment_copies, args.augment_pose_error,
                                np.random.default_rng([args.seed, 16]))
        say(f"camera augmentation: {args.augment_copies} copies of each frame as {args.augment_profile.name!r} "
            f"sees it, pose off by up to {args.augment_pose_error[0]} m / {args.augment_pose_error[1]} deg", flush=True)
    train_samples, val_samples, seeds_of = [], [], {}
    task_of_sample: list[int] = []
    for k, (task, demos_dir) in enumerate(zip(args.tasks, args.demo_dirs, strict=True)):
        offset = k * EPISODE_OFFSET
        samples, seeds = load_demo_samples(demos_dir, 0, args.n, workspace, task, augment, offset)
        if len(seeds) < args.n and ddp.main:
            print(f"warning: only {len(seeds)} episodes in {demos_dir} (asked for {args.n})", file=sys.stderr)
        if args.val_demo_dirs:
            held_out, val_seeds = load_demo_samples(args.val_demo_dirs[k], 0, args.val_episodes, workspace, task,
                                                    episode_offset=offset)
        else:
            held_out, val_seeds = load_demo_samples(demos_dir, args.n, args.val_episodes, workspace, task,
                                                    episode_offset=offset)
        train_samples += samples
        val_samples += held_out
        task_of_sample += [k] * len(samples)
        seeds_of[task] = (seeds, val_seeds)
    n_train = sum(len(train) for train, _ in seeds_of.values())
    n_val = sum(len(val) for _, val in seeds_of.values())
    if not train_samples:
        raise SystemExit(f"no usable training samples in {args.demos}")
    say(
        f"{len(train_samples)} training samples ({n_train} episodes), {len(val_samples)} validation samples "
        f"({n_val} episodes); {time.time() - t_start:.0f} s",
        flush=True,
    )

    # the config records the CLIP weights' SHA-256: loading refuses a checkpoint whose CLIP has changed since
    spec = backend_spec(args.clip_model, args.clip_pretrained, args.clip_checkpoint)
    backend = load_backend(spec, device)
    config = CliportConfig(
        workspace=workspace.as_dict(),
        n_rotations=args.rotations,
        crop_size=args.crop,
        width=args.width,
        stride=args.stride,
        kernel_dim=args.kernel_dim,
        clip_channels=backend.feature_channels,
        text_dim=backend.embed_dim,
        language=args.language,
        clip_backend=spec,
        task=",".join(args.tasks),
    )
    train = Tensors(train_samples, backend, config)
    val = Tensors(val_samples, backend, config) if val_samples else None
    say(f"CLIP features + text embeddings ready; {time.time() - t_start:.0f} s", flush=True)
    rollouts = None
    if not ddp.main:  # rank 0 validates, logs and saves
        val, args.log, args.snapshots = None, None, None
    if args.val_rollouts and ddp.main:
        validators = []
        for task, (seeds, val_seeds) in seeds_of.items():
            first = args.rollout_seed if args.rollout_seed is not None else first_free_seed(seeds + val_seeds)
            validators.append(RolloutValidator(task, backend, args.val_rollouts, first, device))
            print(f"rollout validation: {args.val_rollouts} episodes of {task}, seeds {first}, {first + 2}, ...",
                  flush=True)
        rollouts = RolloutSet(validators) if multi else validators[0]
    del backend

    sampler = TaskBalancedSampler(task_of_sample)
    model = CliportModel(config).to(device).train()
    ema = copy.deepcopy(model).eval() if args.ema > 0 else model
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    net = ddp.wrap(LossModule(model, losses), device) if ddp.world > 1 else None
    if ddp.world > 1:
        say(f"data parallel: {ddp.world} processes, {args.batch_size // ddp.world} samples each per step", flush=True)
    use_amp = device.type == "cuda"
    best: dict = {}
    validating = val is not None or rollouts is not None
    t_train = time.time()
    step, smooth = 0, None
    while step < args.steps:
        progress = ddp.agree(budget_progress(step, args, t_train))  # every rank stops at the same step
        if progress >= 1.0:
            break
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * progress)) * min(1.0, (step + 1) / 100)
        for group in opt.param_groups:
            group["lr"] = lr
        idx = sampler(rng, args.batch_size)
        batch = ddp.shard(make_batch(train, idx, rng, device), args.batch_size)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            if net is not None:
                pick_loss, place_loss = net(batch)
            else:
                pick_loss, place_loss, _, _ = losses(model, batch)
            loss = pick_loss + place_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        if args.ema > 0:
            update_ema(ema, model, min(args.ema, (1 + step) / (10 + step)))
        step += 1
        loss_value = float(loss.detach())
        smooth = loss_value if smooth is None else 0.95 * smooth + 0.05 * loss_value
        if step % 25 == 0 and ddp.main:
            elapsed = time.time() - t_train
            _log(
                {
                    "step": step,
                    "loss": round(smooth, 4),
                    "pick_loss": round(pick_loss.item(), 4),
                    "place_loss": round(place_loss.item(), 4),
                    "lr": round(lr, 6),
                    "minutes": round(elapsed / 60, 2),
                    "steps_per_s": round(step / elapsed, 3),
                },
                args.log,
            )
        rollout_due = (
            rollouts is not None
            and step % args.rollout_every == 0
            and budget_progress(step, args, t_train) >= args.rollouts_after
        )
        if validating and (step % args.val_every == 0 or step == args.steps or rollout_due):
            with_rollouts = rollouts if rollout_due or step == args.steps else None
            best = maybe_keep(ema, val, device, step, best, t_train, args.log, with_rollouts)
            save_snapshot(ema, args.snapshots, step)
    # the last weights (lowest learning rate) are always validated, with rollouts when they are on
    if validating and best.get("last_rollout" if rollouts is not None else "last_step") != step:
        best = maybe_keep(ema, val, device, step, best, t_train, args.log, rollouts)
        save_snapshot(ema, args.snapshots, step)
    if rollouts is not None:
        rollouts.close()
    if ddp.world > 1:
        # the trained parameters: identical on every rank (buffers such as norm statistics are each rank's own)
        digest = hashlib.sha256(b"".join(v.detach().cpu().numpy().tobytes() for v in model.parameters()))
        print(json.dumps({"rank": ddp.rank, "steps": step, "weights_sha256": digest.hexdigest()}), flush=True)
        if not ddp.main:
            ddp.close()
            return 0
    final = best.get("model", ema)
    wall = time.time() - t_start
    final.config.training = {
        "demos": n_train,
        **({"tasks": {task: {"demos": len(seeds), "val_episodes": len(val)} for task, (seeds, val) in seeds_of.items()}}
           if multi else {}),
        "demo_dir_name": ",".join(Path(d).name for d in args.demo_dirs),
        "train_samples": len(train),
        "camera_augment": (
            {"profile": augment.profile.name, "copies": augment.copies, "pose_error": list(augment.pose_error)}
            if augment is not None else None
        ),
        "val_episodes": n_val,
        "val_samples": len(val) if val is not None else 0,
        "steps": step,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "selected_step": best.get("step", step),
        "train_minutes": round((time.time() - t_train) / 60, 2),
        "wall_minutes": round(wall / 60, 2),
        "device": device.type,
        "threads": args.threads,
        "processes": ddp.world,
        "final_validation": best.get("metrics", {}),
        "rollout_seeds": rollouts.seeds if rollouts is not None else [],
        "command": portable_command(argv),
    }
    final.cpu().save(out)
    _log({"saved": str(out), **final.config.training}, args.log)
    ddp.close()
    return 0


PATH_OPTIONS = {"--demos": "DEMOS", "--val-demos": "VAL_DEMOS", "--out": "OUT", "--snapshots": "SNAPSHOTS", "--log": "LOG"}


def portable_command(argv: list[str]) -> str:
    """The training command with local paths replaced by placeholders: a shipped checkpoint names
    no one's directories."""
    words, i = [], 0
    while i < len(argv):
        option, _, value = argv[i].partition("=")
        if option in PATH_OPTIONS:
            words.append(f"{option} {PATH_OPTIONS[option]}")
            i += 1 if value else 2
        else:
            words.append(argv[i])
            i += 1
    return "vla-grounding train cliport " + " ".join(words)


@torch.no_grad()
def update_ema(ema: CliportModel, model: CliportModel, decay: float) -> None:
    for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
        if e.dtype.is_floating_point:
            e.mul_(decay).add_(m.detach(), alpha=1 - decay)
        else:
            e.copy_(m)


def save_snapshot(model: CliportModel, directory: str | None, step: int) -> None:
    """Intermediate weights for choosing a checkpoint by simulator rollouts on validation seeds afterwards."""
    if directory:
        copy.deepcopy(model).cpu().save(Path(directory) / f"step_{step:06d}")


def budget_progress(step: int, args: argparse.Namespace, t_train: float) -> float:
    """Share of the step or time budget used (whichever is further): drives the LR schedule."""
    progress = step / args.steps
    if args.minutes > 0:
        progress = max(progress, (time.time() - t_train) / (60 * args.minutes))
    return progress


def maybe_keep(
    model: CliportModel,
    val: Tensors | None,
    device,
    step: int,
    best: dict,
    t0: float,
    log: str | None,
    rollouts: RolloutValidator | None = None,
) -> dict:
    """Validate (held-out demos, and simulator rollouts when given); keep a copy of the weights when
    they are at least as good as the best so far. Rollout-validated weights beat demo-validated ones."""
    metrics = validate(model, val, device) if val is not None else {}
    if rollouts is not None:
        metrics.update(rollouts(model))
    _log(
        {"step": step, **{k: round(v, 4) for k, v in metrics.items()}, "minutes": round((time.time() - t0) / 60, 2)},
        log,
    )
    # ties go to the later weights: the held-out loss keeps rising after the accuracy settles (demo labels name one
    # of several valid blocks/bowls, so confident right answers can cost loss), and later weights had a lower LR
    demo_key = (metrics.get("val_success", 0.0), metrics.get("val_pick", 0.0) + metrics.get("val_place", 0.0))
    if "rollout_score" in metrics:
        key = (1, metrics["rollout_score"], *demo_key, step)
    else:
        key = (0, *demo_key, step)
    if not best or key > best["key"]:
        best = {**best, "key": key, "model": copy.deepcopy(model).cpu(), "step": step, "metrics": metrics}
    best["last_step"] = step
    if rollouts is not None:
        best["last_rollout"] = step
    return best


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
