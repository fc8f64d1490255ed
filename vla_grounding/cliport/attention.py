"""CLIPort's pick ("attention") network: one language-conditioned logit per grid pixel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_grounding.cliport.streams import TwoStreamFCN


class Attention(nn.Module):
    """(image (B, C, H, W), CLIP map, text (B, D)) -> pick logits (B, H, W)."""

    def __init__(self, in_channels: int, clip_channels: int, text_dim: int, width: int, stride: int = 2) -> None:
        super().__init__()
        self.fcn = TwoStreamFCN(in_channels, clip_channels, text_dim, width, 1, stride)

    def forward(self, image: torch.Tensor, clip_map: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        logits = self.fcn(image, clip_map, text)
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
