"""CLIPort's place ("transport") network: rotated query crops cross-correlated with a key map.

One two-stream FCN pass yields key and query features for the whole image. The query
features are cropped around the pick pixel and rotated to every yaw bin in one batched
``grid_sample``; all rotations are cross-correlated with the key map at once through an
FFT (cost independent of the crop size, batch > 1 works). The frozen CLIP map is computed
once per image, never per rotation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vla_grounding.cliport.streams import TwoStreamFCN


def rotation_angles(n_rotations: int, device: torch.device | None = None) -> torch.Tensor:
    """Yaw of each bin (radians, counter-clockwise about base +z): 2*pi*i/n."""
    return torch.arange(n_rotations, device=device, dtype=torch.float32) * (2 * math.pi / n_rotations)


def crop_rotations(features: torch.Tensor, centers: torch.Tensor, size: int, angles: torch.Tensor) -> torch.Tensor:
    """Crops of ``features`` (B, C, h, w) around ``centers`` (B, 2) (row, col, in the map's own
    pixel units, may be fractional), rotated by each of ``angles`` (R,) -> (B, R, C, size, size).

    Kernel pixel (i, j) sits at offset o = (j - size/2, i - size/2) (x=col, y=row) from the
    centre; it samples the feature at centre + R(-angle) o, i.e. the crop content is rotated by
    +angle in (col, row) coordinates, which is a counter-clockwise yaw about base +z.
    """
    b, c, h, w = features.shape
    r = angles.shape[0]
    idx = torch.arange(size, device=features.device, dtype=features.dtype) - size // 2
    oy, ox = torch.meshgrid(idx, idx, indexing="ij")  # (size, size)
    cos, sin = torch.cos(angles).to(features.dtype), torch.sin(angles).to(features.dtype)
    # R(-a) o = (cos*ox + sin*oy, -sin*ox + cos*oy)
    sx = cos[:, None, None] * ox + sin[:, None, None] * oy  # (R, size, size)
    sy = -sin[:, None, None] * ox + cos[:, None, None] * oy
    cy = centers[:, 0].to(features.dtype)[:, None, None, None]
    cx = centers[:, 1].to(features.dtype)[:, None, None, None]
    px = cx + sx[None]  # (B, R, size, size)
    py = cy + sy[None]
    grid = torch.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], dim=-1)  # align_corners=False
    # all rotations of one image in a single sample call: the grid is (B, R*size, size, 2)
    out = F.grid_sample(features, grid.reshape(b, r * size, size, 2), mode="bilinear", align_corners=False)
    return out.reshape(b, c, r, size, size).transpose(1, 2)


def correlate_fft(key: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """logits[b, r, y, x] = sum_{k,i,j} key[b, k, y + i - s/2, x + j - s/2] * kernels[b, r, k, i, j]
    (zero outside the map): key (B, K, h, w), kernels (B, R, K, s, s) -> (B, R, h, w)."""
    b, k, h, w = key.shape
    s = kernels.shape[-1]
    if kernels.shape[0] != b or kernels.shape[2] != k or kernels.shape[-2] != s:
        raise ValueError(f"kernels {tuple(kernels.shape)} do not match key {tuple(key.shape)}")
    size = (h + s, w + s)
    with torch.autocast(device_type=key.device.type, enabled=False):
        fk = torch.fft.rfft2(key.float(), s=size)  # (B, K, N1, N2/2+1)
        fq = torch.fft.rfft2(kernels.float(), s=size)  # (B, R, K, N1, N2/2+1)
        spec = torch.einsum("bkuv,brkuv->bruv", fk, fq.conj())
        corr = torch.fft.irfft2(spec, s=size)  # corr[m] = sum_n key[n + m] kernel[n]
        corr = torch.roll(corr, shifts=(s // 2, s // 2), dims=(-2, -1))
    return corr[..., :h, :w]


def correlate_direct(key: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The same as :func:`correlate_fft` with ``conv2d``, one image at a time (reference, tests)."""
    s = kernels.shape[-1]
    out = []
    for i in range(key.shape[0]):
        padded = F.pad(key[i : i + 1], (s // 2, s - s // 2, s // 2, s - s // 2))
        out.append(F.conv2d(padded, kernels[i])[..., : key.shape[-2], : key.shape[-1]])
    return torch.cat(out, 0)


class Transport(nn.Module):
    """(image, CLIP map, text, pick pixel) -> place logits (B, R, H, W) over position x yaw bin."""

    def __init__(
        self,
        in_channels: int,
        clip_channels: int,
        text_dim: int,
        width: int,
        kernel_dim: int,
        n_rotations: int,
        crop_size: int,
        stride: int = 2,
    ) -> None:
        super().__init__()
        if crop_size % stride:
            raise ValueError(f"crop_size {crop_size} must be a multiple of the stride {stride}")
        self.kernel_dim = kernel_dim
        self.n_rotations = n_rotations
        self.crop_size = crop_size
        self.stride = stride
        self.fcn = TwoStreamFCN(in_channels, clip_channels, text_dim, width, 2 * kernel_dim, stride)
        # correlation sums kernel_dim * (crop/stride)^2 products: start near unit scale, let training sharpen it
        self.log_scale = nn.Parameter(torch.tensor(-0.5 * math.log(kernel_dim * (crop_size // stride) ** 2)))

    def features(self, image: torch.Tensor, clip_map: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Key and query maps, each (B, kernel_dim, H/stride, W/stride)."""
        out = self.fcn(image, clip_map, text)
        return out[:, : self.kernel_dim], out[:, self.kernel_dim :]

    def kernels(self, query: torch.Tensor, pick_pixels: torch.Tensor) -> torch.Tensor:
        """Rotated query crops around full-resolution pick pixels (B, 2) -> (B, R, K, c, c), c = crop/stride."""
        centers = (pick_pixels.to(query.dtype) + 0.5) / self.stride - 0.5  # full-res pixel centre -> map pixels
        angles = rotation_angles(self.n_rotations, query.device)
        return crop_rotations(query, centers, self.crop_size // self.stride, angles)

    def forward(
        self,
        image: torch.Tensor,
        clip_map: torch.Tensor,
        text: torch.Tensor,
        pick_pixels: torch.Tensor,
        full_resolution: bool = True,
    ) -> torch.Tensor:
        """Place logits (B, R, H, W); (B, R, H/stride, W/stride) without ``full_resolution`` (the
        training loss: upsampling would cost more than the correlation)."""
        key, query = self.features(image, clip_map, text)
        logits = correlate_fft(key, self.kernels(query, pick_pixels)) * self.log_scale.exp()
        if not full_resolution:
            return logits
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
