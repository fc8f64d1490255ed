"""ClipBackend: shipped model loads, text cache, batched == one-by-one, feature maps, clear load errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vla_grounding.grounding.clip_backend import SHIPPED_MODEL, ClipBackend, ClipLoadError


@pytest.fixture(scope="module")
def backend():
    torch.set_num_threads(2)
    return ClipBackend.shipped(device="cpu")


def test_shipped_model_shapes(backend):
    assert backend.model_name == SHIPPED_MODEL
    assert backend.device.type == "cpu"
    text = backend.encode_text(["red block", "blue bowl"])
    assert text.shape == (2, backend.embed_dim)
    torch.testing.assert_close(text.norm(dim=1), torch.ones(2))


def test_text_embeddings_are_cached(backend, monkeypatch):
    backend.encode_text(["green bowl"])
    calls = []
    original = backend.model.encode_text
    monkeypatch.setattr(backend.model, "encode_text", lambda t: calls.append(len(t)) or original(t))
    again = backend.encode_text(["green bowl", "green bowl", "yellow block"])
    assert calls == [1]  # only the new phrase went through the text tower
    torch.testing.assert_close(again[0], again[1])


def test_batched_equals_one_at_a_time(backend):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in [(40, 50), (64, 64), (90, 30)]]
    batched = backend.encode_images(crops)
    single = torch.cat([backend.encode_images([c]) for c in crops])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(batched.norm(dim=1), torch.ones(3))


def test_feature_map_any_size(backend):
    fmap = backend.image_feature_map(torch.rand(2, 3, 160, 160))
    assert fmap.shape == (2, backend.feature_channels, 5, 5)
    assert backend.image_feature_map(torch.rand(1, 3, 320, 160)).shape[2:] == (10, 5)


def test_bad_inputs_and_weights_give_clear_errors(backend, tmp_path):
    with pytest.raises(ValueError, match="RGB"):
        backend.encode_images([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ClipLoadError, match="does not exist"):
        ClipBackend(SHIPPED_MODEL, checkpoint=tmp_path / "missing.safetensors", device="cpu")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ClipLoadError, match="could not load weights"):
        ClipBackend(SHIPPED_MODEL, checkpoint=bad, device="cpu")
    with pytest.raises(ClipLoadError, match="no weights given"):
        ClipBackend("RN50", device="cpu")


@pytest.mark.slow
def test_random_init_vit_feature_grid():
    vit = ClipBackend("ViT-B-32", random_init=True, device="cpu")
    assert vit.image_size == 224 and vit.embed_dim == 512
    assert vit.image_feature_map(torch.rand(1, 3, 160, 160)).shape == (1, 768, 7, 7)
