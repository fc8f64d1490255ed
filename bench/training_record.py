"""Write the record of one CLIPort training run as Markdown: what it was trained on, how long it
took, every validation (held-out demos and simulator rollouts) and the test-seed evaluation.

    python bench/training_record.py --checkpoint CK --log progress.jsonl --eval eval.json [eval2.json ...] \
        [--eval-unseen eval_unseen.json] --out bench/results/train_cliport_<task>.md

``--log`` is the file given to `vla-grounding train cliport --log`; ``--eval`` the last line of
`vla-grounding eval ... --json` (a multi-task model: one file per task).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _eval_row(name: str, res: dict) -> str:
    seeds = res["seeds"]
    return (
        f"| {name} | {res['task']} | {res['episodes']} ({seeds[0]}, {seeds[1] if len(seeds) > 1 else ''}, ..., "
        f"{seeds[-1]}) | **{res['mean_score']:.1f}** | {100 * res['success_rate']:.0f} % | {res['refused_steps']} / "
        f"{res['rejected_steps']} | {res['policy_seconds_per_step']:.3f} |"
    )


PER_TASK = "rollout_score:"  # a multi-task run logs each task's rollout score under this prefix


def _per_task(x: dict) -> str:
    return ", ".join(f"{k.removeprefix(PER_TASK)} {v:.1f}" for k, v in x.items() if k.startswith(PER_TASK))


def record(checkpoint: Path, log: Path, evals: list[tuple[str, dict]], title: str) -> str:
    config = json.loads((checkpoint / "config.json").read_text())
    t = config["training"]
    lines = _read_jsonl(log)
    validations = [x for x in lines if "val_loss" in x or "rollout_score" in x]
    progress = [x for x in lines if "loss" in x and "val_loss" not in x]
    fv = t.get("final_validation", {})
    per_task = any(k.startswith(PER_TASK) for x in validations for k in x)
    out = [
        f"# {title}",
        "",
        f"Command: `{t['command']}`",
        "",
        "| item | value |",
        "|---|---|",
        f"| task | {config['task']} |",
        f"| training demos | {t['demos']} episodes ({t['train_samples']} pick-place steps), train split (even seeds) |",
        f"| held-out demos | {t['val_episodes']} train-split episodes ({t['val_samples']} steps) |",
    ]
    seeds = t.get("rollout_seeds") or {}
    for task, s in (seeds.items() if isinstance(seeds, dict) else [("", seeds)]):  # a multi-task run: per task
        of = f" of {task}" if task else ""
        out.append(f"| rollout validation | {len(s)} simulated episodes{of}, seeds {s[0]}, {s[0] + 2}, ..., {s[-1]} |")
    out += [
        f"| steps | {t['steps']} (batch {t['batch_size']}, Adam lr {t['lr']} cosine-decayed over the budget, EMA) |",
        f"| selected checkpoint | step {t['selected_step']} |",
        f"| training time | {t['train_minutes']} min; wall time incl. loading + CLIP features {t['wall_minutes']} min |",
        f"| device | {t['device']}, {t['threads']} torch thread(s) |",
        f"| validation of the selected weights | "
        f"{', '.join(f'{k} {round(v, 3)}' for k, v in fv.items() if k != 'rollout_seconds' and PER_TASK not in k)} |",
        f"| model | width {config['width']}, stride {config['stride']}, {config['n_rotations']} rotations, crop "
        f"{config['crop_size']}, kernel dim {config['kernel_dim']}, language `{config.get('language', 'sentence')}`, "
        f"CLIP {config['clip_backend'].get('model')} |",
        "",
        "## Evaluation on test seeds",
        "",
        "| checkpoint | task | episodes (seeds) | mean score | success | refused / rejected steps | policy s/step |",
        "|---|---|---|---|---|---|---|",
        *[_eval_row(name, res) for name, res in evals],
        "",
        "## Validation during training",
        "",
        "Held-out demos: pick within 1.5 cm and place within 3 cm of the demo's (pessimistic: the demo names one of "
        "several correct blocks and bowls). Rollouts: Ravens score of simulated episodes (selects the checkpoint).",
        "",
        "| step | minutes | val loss | pick ok | place ok | both ok | rollout score | rollout success |"
        + (" rollout score per task |" if per_task else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if per_task else ""),
    ]

    def cell(x: dict, key: str, fmt: str) -> str:
        return format(x[key], fmt) if key in x else ""

    for x in validations:
        out.append(
            f"| {x['step']} | {x['minutes']} | {cell(x, 'val_loss', '.3f')} | {cell(x, 'val_pick', '.3f')} | "
            f"{cell(x, 'val_place', '.3f')} | {cell(x, 'val_success', '.3f')} | {cell(x, 'rollout_score', '.1f')} | "
            f"{cell(x, 'rollout_success', '.2f')} |"
            + (f" {_per_task(x)} |" if per_task else "")
        )
    if progress:
        last = progress[-1]
        out += ["", f"Last progress line: step {last['step']}, smoothed loss {last['loss']}, {last['steps_per_s']} steps/s."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--log", type=Path, required=True, help="the trainer's --log file")
    ap.add_argument("--eval", type=Path, nargs="+", required=True,
                    help="JSON of `vla-grounding eval --json` on the task (a multi-task model: one per task)")
    ap.add_argument("--eval-unseen", type=Path, default=None, help="JSON of the same on the unseen-colour variant")
    ap.add_argument("--title", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    t = json.loads((args.checkpoint / "config.json").read_text())
    name = f"selected step {t['training']['selected_step']}"
    evals = []
    for path in args.eval:
        res = json.loads(path.read_text().strip().splitlines()[-1])
        options = res.get("policy_options") or {}  # an ablation names its policy options
        evals.append((name + "".join(f", {k} {json.dumps(v)}" for k, v in options.items()), res))
    if args.eval_unseen:
        evals.append((name, json.loads(args.eval_unseen.read_text().strip().splitlines()[-1])))
    title = args.title or f"CLIPort training run: {t['task']}, n = {t['training']['demos']} demos"
    args.out.write_text(record(args.checkpoint, args.log, evals, title))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
