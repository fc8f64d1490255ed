"""Data-parallel CLIPort training with PyTorch's own engine: ``torchrun --nproc_per_node N``.

Each process builds the same global batch (same seed, same augmentation draws) and trains on
its 1/N share through DistributedDataParallel, which averages the gradients (gloo on CPU, NCCL
on GPUs). So a step is the step of one process with the whole batch: the per-step budget and
its results stay the same, only the work is spread. Rank 0 validates, logs and saves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: dict, batch_size: int) -> dict:
        """This rank's contiguous share of a global batch (tensors whose first dimension is the batch)."""
        if self.world == 1:
            return batch
        share = batch_size // self.world
        lo = self.rank * share
        return {k: v[lo : lo + share] if torch.is_tensor(v) and v.shape[:1] == (batch_size,) else v
                for k, v in batch.items()}

    def agree(self, value: float) -> float:
        """The largest ``value`` over all ranks (so every rank stops at the same step)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t.item())

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def _device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def init_distributed(device: torch.device) -> tuple[Distributed, torch.device]:
    """Join the torchrun group when there is one (WORLD_SIZE > 1); the process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size()), device


class LossModule(nn.Module):
    """The training losses as one forward pass, so DistributedDataParallel can hook the backward."""

    def __init__(self, model: nn.Module, loss_fn) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: dict):
        pick_loss, place_loss, _, _ = self.loss_fn(self.model, batch)
        return pick_loss, place_loss
