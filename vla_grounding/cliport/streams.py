"""The two-stream fully convolutional network shared by CLIPort's pick and place heads.

Spatial stream: a small residual U-Net on colour + height, language-agnostic; it hands
lateral features to the semantic stream at every decoder scale. Semantic stream: the frozen
CLIP feature map of the top-down colour image, decoded back to the grid with the
instruction's CLIP text embedding multiplied into each decoder stage. The two streams'
outputs are summed (CLIPort's "lat" variant).

Work happens at stride 2 or 4 (80x80 or 40x40 for the default 160x160 grid; 4 is the
default): the maps are upsampled only where a full-resolution output is needed. That keeps
one forward pass around 0.1-0.2 GMAC so the policy trains on a 2-core CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _conv1x1(cin: int, cout: int) -> nn.Sequential:
    """The finest (stride-2) decoder stage mixes channels only: its input is already smooth
    upsampled context plus a lateral, and a 3x3 there would cost as much as the rest."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.conv2 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(self.conv1(x)))


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class SpatialStream(nn.Module):
    """Residual U-Net on (B, in_ch, H, W) -> output at H/s and laterals at H/4s, H/2s, H/s
    (s = ``stride``, 2 or 4)."""

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        if stride not in (2, 4):
            raise ValueError(f"stride must be 2 or 4, got {stride}")
        w1, w2, w3 = width, 2 * width, 3 * width
        stem = [_conv(in_channels, w1, stride=2)] + ([_conv(w1, w1, stride=2)] if stride == 4 else [])
        self.enc0 = nn.Sequential(*stem)
        self.enc1 = nn.Sequential(_conv(w1, w2, stride=2), ResBlock(w2))
        self.enc2 = nn.Sequential(_conv(w2, w3, stride=2), ResBlock(w3))
        self.dec1 = _conv(w3 + w2, w2)
        self.dec0 = _conv1x1(w2 + w1, w1)
        self.head = nn.Conv2d(w1, out_channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        d1 = self.dec1(torch.cat([_up(e2, e1), e1], 1))
        d0 = self.dec0(torch.cat([_up(d1, e0), e0], 1))
        return self.head(d0), [e2, d1, d0]


class SemanticStream(nn.Module):
    """CLIP feature map + text embedding -> output at H/2, fed by the spatial laterals."""

    def __init__(self, clip_channels: int, text_dim: int, width: int, out_channels: int) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 3 * width
        self.proj = nn.Sequential(nn.Conv2d(clip_channels, w3, 1), nn.ReLU(inplace=True))
        self.text = nn.Sequential(nn.Linear(text_dim, 4 * width), nn.ReLU(inplace=True))
        self.text_gates = nn.ModuleList([nn.Linear(4 * width, c) for c in (w3, w2, w1)])
        self.fuse2 = _conv(w3 + w3, w3)
        self.dec1 = _conv(w3 + w2, w2)
        self.dec0 = _conv1x1(w2 + w1, w1)
        self.head = nn.Conv2d(w1, out_channels, 1)

    def forward(self, clip_map: torch.Tensor, text: torch.Tensor, laterals: list[torch.Tensor]) -> torch.Tensor:
        lat2, lat1, lat0 = laterals
        t = self.text(text)
        gates = [g(t)[:, :, None, None] for g in self.text_gates]
        s = self.proj(_up(clip_map, lat2))
        s = self.fuse2(torch.cat([s, lat2], 1)) * gates[0]
        s = self.dec1(torch.cat([_up(s, lat1), lat1], 1)) * gates[1]
        s = self.dec0(torch.cat([_up(s, lat0), lat0], 1)) * gates[2]
        return self.head(s)


class TwoStreamFCN(nn.Module):
    """(image, CLIP map, text) -> (B, out_channels, H/s, W/s) language-conditioned features."""

    def __init__(
        self, in_channels: int, clip_channels: int, text_dim: int, width: int, out_channels: int, stride: int = 2
    ) -> None:
        super().__init__()
        self.stride = stride
        self.spatial = SpatialStream(in_channels, width, out_channels, stride)
        self.semantic = SemanticStream(clip_channels, text_dim, width, out_channels)

    def forward(self, image: torch.Tensor, clip_map: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        m = 4 * self.stride
        if image.shape[-1] % m or image.shape[-2] % m:
            raise ValueError(f"image height and width must be multiples of {m}, got {tuple(image.shape[-2:])}")
        spatial_out, laterals = self.spatial(image)
        return spatial_out + self.semantic(clip_map, text, laterals)
