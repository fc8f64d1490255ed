"""Demonstrations -> CLIPort training samples on the top-down grid, and their augmentation.

Each demo step becomes one sample: the top-down colour + height of the scene before the
move, the instruction, the pick and place grid pixels, and the place-minus-pick yaw (the
transport's rotation label). Any camera pose works because the frame is reprojected into
the workspace grid first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.heightmap import top_down_view
from vla_grounding.perception.workspace import Workspace


@dataclass
class Sample:
    """One pick-and-place step on the workspace grid."""

    color: np.ndarray  # (rows, cols, 3) uint8
    height: np.ndarray  # (rows, cols) float32 metres above z_min
    instruction: str
    pick: tuple[int, int]  # (row, col)
    place: tuple[int, int]
    turn: float  # place_yaw - pick_yaw, radians
    episode: int = -1


def wrap_angle(a: float) -> float:
    return float((a + math.pi) % (2 * math.pi) - math.pi)


def rotation_bin(turn: float, n_rotations: int) -> int:
    """Index of the yaw bin nearest to ``turn`` (radians, counter-clockwise)."""
    return int(round((turn % (2 * math.pi)) / (2 * math.pi / n_rotations))) % n_rotations


def make_sample(
    frame: RGBDFrame | list[RGBDFrame],
    instruction: str,
    pick_position: np.ndarray,
    place_position: np.ndarray,
    pick_yaw: float,
    place_yaw: float,
    workspace: Workspace,
    episode: int = -1,
    white_balance: bool = False,
) -> Sample | None:
    """A training sample, or None when the pick or place lies outside the workspace grid."""
    view = top_down_view(frame, workspace, white_balance=white_balance)
    rows, cols = workspace.shape
    pick = workspace.xy_to_pixel(float(pick_position[0]), float(pick_position[1]))
    place = workspace.xy_to_pixel(float(place_position[0]), float(place_position[1]))
    if not all(0 <= r < rows and 0 <= c < cols for r, c in (pick, place)):
        return None
    return Sample(
        color=np.ascontiguousarray(view.color),
        height=np.ascontiguousarray(view.height, dtype=np.float32),
        instruction=instruction,
        pick=pick,
        place=place,
        turn=wrap_angle(float(place_yaw) - float(pick_yaw)),
        episode=episode,
    )


def _field(step, *names):
    for name in names:
        if isinstance(step, dict) and name in step:
            return step[name]
        if hasattr(step, name):
            return getattr(step, name)
    raise ValueError(f"demo step has none of the fields {names}")


def samples_from_episode(steps, workspace: Workspace, episode: int = -1, white_balance: bool = False) -> list[Sample]:
    """Samples of one recorded episode (steps with frame, instruction, pick/place position and yaw);
    ``white_balance`` as the policy does it (perception.table), for frames with colour drift."""
    out = []
    for step in steps:
        plan = step.get("plan") if isinstance(step, dict) else getattr(step, "plan", None)
        src = plan if plan is not None else step
        sample = make_sample(
            _field(step, "frame", "rgbd"),
            _field(step, "instruction"),
            np.asarray(_field(src, "pick_position", "pick")),
            np.asarray(_field(src, "place_position", "place")),
            float(_field(src, "pick_yaw")),
            float(_field(src, "place_yaw")),
            workspace,
            episode,
            white_balance,
        )
        if sample is not None:
            out.append(sample)
    return out


# ---- augmentation ---------------------------------------------------------------------


def random_transforms(
    samples: list[Sample], shape: tuple[int, int], rng: np.random.Generator, max_shift: float = 0.15, margin: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random rotation (uniform over 360 deg) + shift per sample that keeps both labels inside
    the grid: -> angles (B,), shifts (B, 2) in pixels (dx, dy), new labels (B, 2, 2) (row, col)."""
    rows, cols = shape
    angles, shifts, labels = [], [], []
    for s in samples:
        for _ in range(20):
            a = float(rng.uniform(0, 2 * math.pi))
            t = rng.uniform(-max_shift, max_shift, 2) * np.array([cols, rows])
            new = [transform_pixel(p, a, t, shape) for p in (s.pick, s.place)]
            if all(margin <= r < rows - margin and margin <= c < cols - margin for r, c in new):
                break
        else:
            a, t, new = 0.0, np.zeros(2), [s.pick, s.place]
        angles.append(a)
        shifts.append(t)
        labels.append(new)
    return np.array(angles), np.array(shifts), np.array(labels, dtype=np.int64)


def transform_pixel(pixel: tuple[int, int], angle: float, shift: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """Where a grid pixel goes under a rotation by ``angle`` about the grid centre, then ``shift``."""
    rows, cols = shape
    x, y = pixel[1] + 0.5 - cols / 2, pixel[0] + 0.5 - rows / 2
    c, s = math.cos(angle), math.sin(angle)
    nx, ny = c * x - s * y + shift[0], s * x + c * y + shift[1]
    return int(math.floor(ny + rows / 2)), int(math.floor(nx + cols / 2))


def warp(maps: torch.Tensor, angles: torch.Tensor, shifts: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Apply per-sample rotations + shifts (defined on the full ``shape`` grid) to maps of any
    resolution covering the same extent (the image, or a coarse CLIP feature map)."""
    rows, cols = shape
    scale = torch.tensor([cols / 2, rows / 2], dtype=maps.dtype, device=maps.device)
    cos, sin = torch.cos(angles).to(maps.dtype), torch.sin(angles).to(maps.dtype)
    # output p -> input R(-a)(p - t), in pixel units about the centre; normalised by scale
    inv = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (B, 2, 2) = R(-a)
    lin = inv * scale[None, None, :] / scale[None, :, None]  # S^-1 R(-a) S
    trans = -(inv @ shifts.to(maps.dtype)[..., None])[..., 0] / scale
    theta = torch.cat([lin, trans[..., None]], -1)
    grid = F.affine_grid(theta, list(maps.shape), align_corners=False)
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
