"""The frozen CLIP side of CLIPort: which backend, its dense image features and text embeddings.

The CLIP backend is named in the checkpoint's config: a pretrained open_clip model by
architecture + tag, a local weights file by path, the package's small CLIP by name. The
weights file's SHA-256 is recorded beside the name, so a checkpoint never runs on CLIP
features it was not trained with: retraining the small CLIP makes its CLIPort checkpoints
fail to load with a "retrain" message instead of acting on features they never saw.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CLIP_UPSAMPLE = 2  # the top-down colour is enlarged 2x for the CLIP trunk: a 160 grid -> 10x10 map (stride 32)


def _checkpoint_path(spec: dict, base: Path | None) -> Path | None:
    if not spec.get("checkpoint"):
        return None
    path = Path(spec["checkpoint"]).expanduser()
    return base / path if base is not None and not path.is_absolute() else path


def _weights_file(spec: dict, base: Path | None = None) -> Path | None:
    from vla_grounding.grounding.clip_backend import SHIPPED_MODEL, SHIPPED_WEIGHTS

    if spec.get("checkpoint"):
        path = _checkpoint_path(spec, base)
        if path.is_dir():
            files = sorted(path.glob("*.safetensors"))
            return files[0] if files else None
        return path
    if spec.get("model", SHIPPED_MODEL) == SHIPPED_MODEL and not spec.get("pretrained"):
        return SHIPPED_WEIGHTS
    return None  # pretrained by tag: identified by name + tag


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backend_spec(model: str | None = None, pretrained: str | None = None, checkpoint: str | None = None) -> dict:
    """Config entry naming a CLIP backend (defaults: the shipped small CLIP) with its weights' hash."""
    from vla_grounding.grounding.clip_backend import SHIPPED_MODEL

    spec = {"model": model or SHIPPED_MODEL, "pretrained": pretrained, "checkpoint": checkpoint}
    weights = _weights_file(spec)
    spec["sha256"] = file_sha256(weights) if weights is not None and weights.is_file() else None
    return spec


def load_backend(spec: dict, device: str | torch.device = "auto", base: Path | None = None, check_hash: bool = True):
    """The ClipBackend a checkpoint was trained with (relative checkpoint paths resolved against
    ``base``, the CLIPort checkpoint folder); ValueError when its weights changed."""
    from vla_grounding.grounding.clip_backend import ClipBackend

    checkpoint = _checkpoint_path(spec, base)
    if checkpoint is not None and not checkpoint.exists():
        raise ValueError(f"the CLIP weights {checkpoint} named by this CLIPort checkpoint do not exist")
    if check_hash and spec.get("sha256"):
        weights = _weights_file(spec, base)
        if weights is not None and weights.is_file() and file_sha256(weights) != spec["sha256"]:
            raise ValueError(
                f"the CLIP weights {weights.name} differ from the ones this CLIPort checkpoint was trained "
                "with (sha256 mismatch): retrain it with `vla-grounding train cliport`"
            )
    return ClipBackend(
        model=spec.get("model") or "vla-clip-small",
        pretrained=spec.get("pretrained"),
        checkpoint=checkpoint,
        device=device,
    )


def clip_maps(backend, colors: np.ndarray | torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Top-down colours (B, H, W, 3) uint8 -> frozen CLIP feature maps (B, C, h, w) float32 (on CPU
    when computed for a dataset, on the backend's device otherwise)."""
    x = torch.as_tensor(np.asarray(colors)) if not isinstance(colors, torch.Tensor) else colors
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"colours must be (B, H, W, 3) uint8, got {tuple(x.shape)}")
    out = []
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size].to(backend.device).permute(0, 3, 1, 2).float() / 255.0
        chunk = F.interpolate(chunk, scale_factor=CLIP_UPSAMPLE, mode="bilinear", align_corners=False)
        out.append(backend.image_feature_map(chunk).float())
    return torch.cat(out)
