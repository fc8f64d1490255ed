"""Shapes of the CLIPort networks and the transport's rotated cross-correlation."""

from __future__ import annotations

import math

import pytest
import torch

from vla_grounding.cliport.config import CliportConfig
from vla_grounding.cliport.model import CliportModel
from vla_grounding.cliport.transport import correlate_direct, correlate_fft, crop_rotations, rotation_angles

torch.set_num_threads(2)


def _model(**kw) -> CliportModel:
    torch.manual_seed(0)
    cfg = CliportConfig(width=8, kernel_dim=3, clip_channels=16, text_dim=12, **kw)
    return CliportModel(cfg).eval()


def _inputs(b: int, h: int = 160, w: int = 160):
    return torch.randn(b, 4, h, w), torch.randn(b, 16, 7, 7), torch.randn(b, 12)


def test_pick_and_place_logit_shapes_batch_gt_1() -> None:
    model = _model()
    image, clip_map, text = _inputs(3)
    pick = torch.tensor([[10, 20], [80, 80], [150, 5]])
    with torch.no_grad():
        assert model.pick_logits(image, clip_map, text).shape == (3, 160, 160)
        assert model.place_logits(image, clip_map, text, pick).shape == (3, 36, 160, 160)


def test_non_square_workspace_grid() -> None:
    ws = dict(x_min=0.25, x_max=0.75, y_min=-0.5, y_max=0.5, z_min=0.0, z_max=0.28, pixel_size=0.003125)
    model = _model(workspace=ws, n_rotations=12)
    image, clip_map, text = _inputs(2, 320, 160)
    with torch.no_grad():
        assert model.pick_logits(image, clip_map, text).shape == (2, 320, 160)
        assert model.place_logits(image, clip_map, text, torch.tensor([[5, 5], [300, 150]])).shape == (2, 12, 320, 160)


def test_batched_place_equals_one_by_one() -> None:
    model = _model()
    image, clip_map, text = _inputs(2)
    pick = torch.tensor([[40, 100], [120, 30]])
    with torch.no_grad():
        both = model.place_logits(image, clip_map, text, pick)
        one = model.place_logits(image[1:], clip_map[1:], text[1:], pick[1:])
    torch.testing.assert_close(both[1:], one, rtol=1e-4, atol=1e-4)


def test_text_changes_the_pick_map() -> None:
    model = _model()
    image, clip_map, text = _inputs(1)
    with torch.no_grad():
        a = model.pick_logits(image, clip_map, text)
        b = model.pick_logits(image, clip_map, -text)
    assert not torch.allclose(a, b)


def test_fft_correlation_equals_direct_convolution() -> None:
    torch.manual_seed(1)
    key = torch.randn(2, 3, 24, 20)
    kernels = torch.randn(2, 5, 3, 8, 8)
    torch.testing.assert_close(correlate_fft(key, kernels), correlate_direct(key, kernels), rtol=1e-4, atol=1e-3)


def test_crop_rotation_by_90_degrees_is_exact() -> None:
    feats = torch.arange(2 * 40 * 40, dtype=torch.float32).reshape(1, 2, 40, 40)
    crops = crop_rotations(feats, torch.tensor([[20.0, 20.0]]), 8, torch.tensor([0.0, math.pi / 2]))
    assert crops.shape == (1, 2, 2, 8, 8)
    torch.testing.assert_close(crops[0, 0], feats[0, :, 16:24, 16:24])
    # +90 deg in (col, row) coordinates maps offset (x, y) -> (-y, x)
    plain = feats[0, :, 20 - 4 : 20 + 5, 20 - 4 : 20 + 5]  # offsets -4..4
    rotated = crops[0, 1]  # offsets -4..3
    for i, j in [(0, 0), (1, 5), (7, 2), (3, 3)]:
        oy, ox = i - 4, j - 4
        sy, sx = -ox, oy  # R(-90) o = (oy, -ox) in (x, y)
        assert torch.allclose(rotated[:, i, j], plain[:, sy + 4, sx + 4])


@pytest.mark.parametrize("n_rotations,true_rotation", [(4, 1), (36, 9), (36, 27)])
def test_transport_correlation_finds_a_planted_match(n_rotations: int, true_rotation: int) -> None:
    """A random patch around the pick, rotated and planted elsewhere in the key map, is found there
    at the right rotation bin."""
    torch.manual_seed(2)
    size, h, w = 16, 80, 80
    query = torch.zeros(1, 3, h, w)
    query[0, :, 30:46, 10:26] = torch.randn(3, 16, 16)
    pick = torch.tensor([[38.0, 18.0]])
    angles = rotation_angles(n_rotations)
    kernels = crop_rotations(query, pick, size, angles)
    key = torch.zeros(1, 3, h, w)
    place = (55, 60)
    key[0, :, place[0] - size // 2 : place[0] + size // 2, place[1] - size // 2 : place[1] + size // 2] = kernels[
        0, true_rotation
    ]
    logits = correlate_fft(key, kernels)
    r, y, x = torch.unravel_index(logits.flatten().argmax(), logits.shape[1:])
    assert (int(r), int(y), int(x)) == (true_rotation, *place)
