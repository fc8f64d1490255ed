"""Checkpoint selection by simulator rollouts on held-out training-split seeds.

Matching a demo's pick and place is a pessimistic and noisy validation signal: the demo names
one of several correct blocks and bowls, and a few dozen held-out steps separate checkpoints
by one or two samples. Running the policy in the simulator and scoring it as the evaluation
does (Ravens rewards) measures what the checkpoint is for. The seeds are even (training
split, as CLIPort's validation set) and lie beyond every demonstration's seed, so they are
disjoint from both the demos and the odd test seeds.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch


def first_free_seed(used_seeds: list[int]) -> int:
    """The first even seed after every seed the demonstrations used."""
    start = max(used_seeds, default=-2) + 2
    return start + start % 2


class RolloutValidator:
    """Scores a model on ``episodes`` simulated episodes of ``task`` (seeds ``first_seed``, +2, ...)."""

    def __init__(self, task: str, backend, episodes: int, first_seed: int, device: torch.device) -> None:
        from vla_grounding.sim.env import TabletopEnv

        if episodes < 1:
            raise ValueError(f"rollout episodes must be >= 1, got {episodes}")
        if first_seed < 0 or first_seed % 2:
            raise ValueError(f"rollout seeds must be even (training split), got first seed {first_seed}")
        self.task, self.backend, self.device = task, backend, device
        self.seeds = [first_seed + 2 * i for i in range(episodes)]
        self.env = TabletopEnv(task)

    def __call__(self, model) -> dict:
        from vla_grounding.cliport.policy import CliportPolicy
        from vla_grounding.evaluation import SUCCESS, run_episode

        t0 = time.perf_counter()
        policy = CliportPolicy.from_model(copy.deepcopy(model).to(self.device).eval(), self.backend, task=self.task)
        scores = np.array([run_episode(self.env, policy, seed)["score"] for seed in self.seeds])
        return {
            "rollout_score": float(100 * scores.mean()),
            "rollout_success": float(np.mean(scores > SUCCESS)),
            "rollout_episodes": len(self.seeds),
            "rollout_seconds": round(time.perf_counter() - t0, 1),
        }

    def close(self) -> None:
        self.env.close()


class RolloutSet:
    """Rollout validation of a multi-task model: each task's own validator; the score that selects
    the checkpoint is the mean over tasks, each task's is logged beside it."""

    def __init__(self, validators: list[RolloutValidator]) -> None:
        if not validators:
            raise ValueError("a rollout set needs at least one task")
        self.validators = validators

    @property
    def seeds(self) -> dict[str, list[int]]:
        return {v.task: v.seeds for v in self.validators}

    def __call__(self, model) -> dict:
        t0 = time.perf_counter()
        each = {v.task: v(model) for v in self.validators}
        out = {
            "rollout_score": float(np.mean([m["rollout_score"] for m in each.values()])),
            "rollout_success": float(np.mean([m["rollout_success"] for m in each.values()])),
            "rollout_episodes": sum(m["rollout_episodes"] for m in each.values()),
        }
        out.update({f"rollout_score:{task}": m["rollout_score"] for task, m in each.items()})
        out["rollout_seconds"] = round(time.perf_counter() - t0, 1)
        return out

    def close(self) -> None:
        for v in self.validators:
            v.close()
