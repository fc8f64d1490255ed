"""The trainable part of CLIPort (pick + place networks), its input encoding and checkpoints.

A checkpoint is a directory (or the path of its ``model.safetensors``) holding only what is
trained: the two networks' weights in safetensors and a ``config.json``
(:class:`CliportConfig`). The frozen CLIP backend is named in the config, never stored.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vla_grounding.cliport.attention import Attention
from vla_grounding.cliport.config import CliportConfig
from vla_grounding.cliport.transport import Transport

IN_CHANNELS = 4  # RGB + height
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
_HEIGHT_SCALE = 0.05  # metres -> network units


def encode_image(color: torch.Tensor, height: torch.Tensor) -> torch.Tensor:
    """Top-down colour (B, H, W, 3) uint8 + height (B, H, W) metres -> (B, 4, H, W) float input."""
    rgb = color.permute(0, 3, 1, 2).float() / 255.0
    hgt = height.float().clamp(0.0, 0.3)[:, None] / _HEIGHT_SCALE
    return torch.cat([(rgb - 0.5) / 0.25, hgt], 1)


def normalize_clip_map(clip_map: torch.Tensor) -> torch.Tensor:
    """Per-pixel unit-RMS channel vectors: keeps any CLIP backend's feature scale out of training."""
    return F.normalize(clip_map.float(), dim=1) * math.sqrt(clip_map.shape[1])


class CliportModel(nn.Module):
    """Pick (attention) and place (transport) networks built from a :class:`CliportConfig`."""

    def __init__(self, config: CliportConfig) -> None:
        super().__init__()
        if config.clip_channels < 1 or config.text_dim < 1:
            raise ValueError("config.clip_channels and config.text_dim must be set from the CLIP backend")
        self.config = config
        self.attention = Attention(IN_CHANNELS, config.clip_channels, config.text_features, config.width, config.stride)
        self.transport = Transport(
            IN_CHANNELS,
            config.clip_channels,
            config.text_features,
            config.width,
            config.kernel_dim,
            config.n_rotations,
            config.crop_size,
            config.stride,
        )

    def pick_logits(self, image: torch.Tensor, clip_map: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.attention(image, clip_map, text)

    def place_logits(
        self,
        image: torch.Tensor,
        clip_map: torch.Tensor,
        text: torch.Tensor,
        pick_pixels: torch.Tensor,
        full_resolution: bool = True,
    ) -> torch.Tensor:
        return self.transport(image, clip_map, text, pick_pixels, full_resolution)

    def save(self, directory: str | Path) -> Path:
        """Write model.safetensors + config.json into ``directory``; returns the directory."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "vla_grounding.cliport"})
        (out / CONFIG_FILE).write_text(self.config.to_json() + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> CliportModel:
        """Load a checkpoint directory (or its model.safetensors); clear ValueError when it is unusable."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        directory = path if path.is_dir() else path.parent
        weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
        if not weights.is_file() or not config_path.is_file():
            raise ValueError(f"CLIPort checkpoint {path} needs {WEIGHTS_FILE} and {CONFIG_FILE} in {directory}")
        config = CliportConfig.load(config_path)
        model = cls(config)
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise ValueError(f"CLIPort checkpoint {weights} is corrupt or not a safetensors file: {exc}") from exc
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"CLIPort checkpoint {weights} does not match its config.json: {exc}") from exc
        return model.to(device).eval()


def argmax_2d(logits: np.ndarray) -> tuple[int, ...]:
    """Index tuple of the largest value of an n-d array."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(logits)), logits.shape))
