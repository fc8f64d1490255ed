"""The small-CLIP trainer: caption positives, the multi-positive contrastive loss, a tiny run end to end."""

from __future__ import annotations

import json

import numpy as np
import torch

from vla_grounding.grounding import train_clip as tc


def test_positives_follow_attributes():
    caps = tc.caption_set(["red", "blue"])
    pos = tc.positives(caps, np.array(["red", "orange"]), np.array(["block", "bowl"]))
    phrases = [p for _, _, p in caps]
    red_block = pos[0].numpy()
    assert red_block[phrases.index("red block")] and red_block[phrases.index("red cube")]
    assert red_block[phrases.index("block")] and red_block[phrases.index("red object")]
    assert not red_block[phrases.index("blue block")] and not red_block[phrases.index("red bowl")]
    orange_bowl = pos[1].numpy()  # a colour outside the caption set: only its shape words are true
    assert [p for p, ok in zip(phrases, orange_bowl, strict=True) if ok] == ["bowl"]


def test_loss_prefers_correct_matches():
    pos = torch.tensor([[True, False, True], [False, True, True]])
    good = torch.tensor([[10.0, -10.0, 10.0], [-10.0, 10.0, 10.0]])
    bad = -good
    assert tc.multi_positive_clip_loss(good, pos) < 0.01 < tc.multi_positive_clip_loss(bad, pos)


def test_tiny_training_run_writes_a_loadable_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    n = 24
    data = {
        "train_images": rng.integers(0, 255, (n, tc.STORE, tc.STORE, 3), dtype=np.uint8),
        "train_colours": np.array(["red", "blue", "green"] * (n // 3)),
        "train_shapes": np.array(["block", "bowl"] * (n // 2)),
    }
    data.update({k.replace("train_", "eval_"): v[:12] for k, v in data.items()})
    np.savez(tmp_path / "crops.npz", **data)
    out = tmp_path / "clip"
    assert tc.main(["--data", str(tmp_path / "crops.npz"), "--steps", "3", "--batch", "8", "--out", str(out)]) == 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == 3 and summary["train_crops"] == n and 0.0 <= summary["heldout"]["retrieval_top1"] <= 1.0
    calibration = json.loads((out / "calibration.json").read_text())
    assert "red" in calibration["vocabulary"] and "giraffe" not in calibration["vocabulary"]
    from vla_grounding.grounding.clip_backend import ClipBackend

    backend = ClipBackend(checkpoint=out, device="cpu")
    assert backend.encode_text(["red block"]).shape == (1, backend.embed_dim)
