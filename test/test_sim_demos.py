"""Demonstrations: recorded by the oracle, written as .npz, loaded back intact; render and eval commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vla_grounding import evaluation
from vla_grounding.policy import GroundingRefused
from vla_grounding.sim import demos, render


def test_demos_round_trip(tmp_path):
    summary = demos.write_demos("put-blocks-in-bowls-seen", "train", 2, tmp_path, render_backend="tiny")
    assert summary["kept"] == 2
    episodes = list(demos.iter_demos(tmp_path))
    assert [ep.seed for ep in episodes] == [0, 2]  # train seeds are even
    for ep in episodes:
        assert ep.task == "put-blocks-in-bowls-seen" and ep.split == "train" and ep.score > 0.99
        assert abs(sum(s.reward for s in ep.steps) - ep.score) < 1e-9
        for step in ep.steps:
            f, plan = step.frame, step.plan
            assert f.color.shape == (480, 640, 3) and f.color.dtype == np.uint8
            assert f.depth.shape == (480, 640) and f.depth.dtype == np.float32
            valid = f.depth[f.depth > 0]
            assert 0.3 < valid.min() and valid.max() < 3.0  # metres again
            assert f.intrinsics.fx == pytest.approx(615.0) and f.T_base_camera.shape == (4, 4)
            assert step.instruction.startswith("put the ") and plan.instruction == step.instruction
            for pos, pix in ((plan.pick_position, plan.pick_pixel), (plan.place_position, plan.place_pixel)):
                assert ep.workspace.contains(pos)
                assert tuple(pix) == ep.workspace.xy_to_pixel(pos[0], pos[1])
    assert list(demos.iter_demos(tmp_path, task="stack-block-pyramid-seq")) == []
    # a second run finds the files and records nothing new
    assert demos.write_demos("put-blocks-in-bowls-seen", "train", 2, tmp_path, render_backend="tiny")["tried"] == 0


def test_load_refuses_other_npz(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match="not a"):
        demos.load_episode(path)


def test_render_writes_png(tmp_path):
    out = tmp_path / "scene.png"
    assert (
        render.main(["--task", "towers-of-hanoi-seq", "--seed", "3", "--out", str(out), "--render-backend", "tiny"])
        == 0
    )
    img = np.asarray(Image.open(out))
    assert img.shape == (480, 1280, 3) and img[:, :640].std() > 10 and img[:, 640:].std() > 10


def test_eval_oracle_json(capsys):
    args = ["--task", "put-blocks-in-bowls-unseen", "--episodes", "1", "--json", "--render-backend", "tiny"]
    assert evaluation.main(args) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["task"] == "put-blocks-in-bowls-unseen" and res["policy"] == "oracle" and res["episodes"] == 1
    assert res["mean_score"] == pytest.approx(100.0) and res["success_rate"] == 1.0 and res["seeds"] == [1]
    assert res["seconds_per_episode"] > 0


class _Refuser:
    name = "refuser"

    def __init__(self, **options):
        self.options = options
        self.calls = 0

    def act(self, frame, instruction):
        self.calls += 1
        assert frame.color.shape == (480, 640, 3) and instruction
        raise GroundingRefused("not sure")


def test_eval_counts_refusals_as_no_reward(monkeypatch, capsys):
    made = {}

    def fake_make_policy(name, **options):
        made["policy"] = _Refuser(**options)
        return made["policy"]

    monkeypatch.setattr("vla_grounding.policy.make_policy", fake_make_policy)
    args = [
        "--task",
        "put-blocks-in-bowls-seen",
        "--policy",
        "refuser",
        "--episodes",
        "1",
        "--json",
        "--checkpoint",
        "ck.safetensors",
        "--device",
        "cpu",
        "--max-steps",
        "2",
        "--render-backend",
        "tiny",
    ]
    assert evaluation.main(args) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["mean_score"] == 0.0 and res["refused_steps"] == 2 and res["steps"] == 2
    assert made["policy"].options == {"checkpoint": "ck.safetensors", "device": "cpu"} and made["policy"].calls == 2
