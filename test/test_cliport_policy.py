"""CLIPort checkpoints, policy and trainer on synthetic top-down scenes (no simulator)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vla_grounding.cliport.config import CliportConfig
from vla_grounding.cliport.data import random_transforms, rotation_bin, transform_pixel, warp
from vla_grounding.cliport.features import backend_spec, file_sha256, load_backend
from vla_grounding.cliport.model import CliportModel
from vla_grounding.perception.camera import CameraIntrinsics, RGBDFrame
from vla_grounding.perception.heightmap import top_down_view
from vla_grounding.perception.workspace import Workspace
from vla_grounding.policy import GroundingRefused, make_policy

torch.set_num_threads(2)
TASK = "put-blocks-in-bowls-seen"


def _config(**kw) -> CliportConfig:
    base = dict(width=8, kernel_dim=3, clip_channels=16, text_dim=12, task=TASK)
    base.update(kw)
    return CliportConfig(**base)


def overhead_frame(block_xy=(0.5, 0.05), block_height=0.04, task: str | None = TASK) -> RGBDFrame:
    """A camera 1 m above the workspace centre looking straight down at a grey table with one red box."""
    k = CameraIntrinsics.from_fov(480, 480, 30.0)
    t = np.eye(4)
    t[:3, :3] = np.diag([1.0, -1.0, -1.0])  # optical +z = base -z (down), +y = base -y
    t[:3, 3] = [0.5, 0.0, 1.0]
    v, u = np.mgrid[0:480, 0:480].astype(np.float64)
    x = 0.5 + (u - k.cx) / k.fx * 1.0
    y = 0.0 - (v - k.cy) / k.fy * 1.0
    depth = np.ones((480, 480), np.float32)
    color = np.full((480, 480, 3), 110, np.uint8)
    box = (np.abs(x - block_xy[0]) < 0.02) & (np.abs(y - block_xy[1]) < 0.02)
    depth[box] = 1.0 - block_height
    color[box] = (220, 30, 30)
    return RGBDFrame(color, depth, k, t, extras={"task": task} if task else {})


def test_checkpoint_round_trips_exactly(tmp_path) -> None:
    torch.manual_seed(0)
    model = CliportModel(_config(training={"steps": 3}))
    for p in model.parameters():
        p.data.normal_()
    for _name, buf in model.named_buffers():
        if buf.dtype.is_floating_point:
            buf.uniform_(0.5, 2.0)
    model.save(tmp_path / "ck")
    loaded = CliportModel.load(tmp_path / "ck" / "model.safetensors")
    assert loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    model.eval()
    image, clip, text = torch.randn(2, 4, 160, 160), torch.randn(2, 16, 5, 5), torch.randn(2, 12)
    with torch.no_grad():
        assert torch.equal(model.pick_logits(image, clip, text), loaded.pick_logits(image, clip, text))


def test_checkpoint_holds_only_trained_weights(tmp_path) -> None:
    from safetensors.torch import load_file

    model = CliportModel(_config())
    model.save(tmp_path)
    names = set(load_file(str(tmp_path / "model.safetensors")))
    assert names == set(model.state_dict())
    assert all(n.startswith(("attention.", "transport.")) for n in names)
    assert json.loads((tmp_path / "config.json").read_text())["task"] == TASK


def test_corrupt_or_incomplete_checkpoint_gives_a_clear_error(tmp_path) -> None:
    CliportModel(_config()).save(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="corrupt"):
        CliportModel.load(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match="config.json"):
        CliportModel.load(tmp_path)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="n_rotations"):
        _config(n_rotations=0)
    with pytest.raises(ValueError, match="multiple"):
        _config(workspace=dict(Workspace().as_dict(), x_max=0.725))  # 160 x 152: 152 is not a multiple of 16
    with pytest.raises(ValueError, match="unknown"):
        CliportConfig.from_dict({"bogus": 1})


def test_rotation_bins_and_augmentation_labels_agree_with_the_warp() -> None:
    assert rotation_bin(0.0, 36) == 0
    assert rotation_bin(math.radians(93), 36) == 9
    assert rotation_bin(-math.radians(10), 36) == 35
    shape = (160, 160)
    image = torch.zeros(1, 1, *shape)
    image[0, 0, 40:44, 100:104] = 1.0  # centre (42, 102) in pixel-index coordinates
    for angle, shift in [(0.6, (8.0, -5.0)), (3.5, (-12.0, 3.0))]:
        out = warp(image, torch.tensor([angle]), torch.tensor([shift]), shape)[0, 0].numpy()
        rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
        centre = ((out * rows).sum() / out.sum(), (out * cols).sum() / out.sum())
        expected = transform_pixel((41.5, 101.5), angle, np.array(shift), shape)
        assert abs(centre[0] - expected[0]) <= 1.0 and abs(centre[1] - expected[1]) <= 1.0


def test_random_transforms_keep_labels_inside_the_grid() -> None:
    class S:
        pick, place = (3, 3), (150, 155)

    _, _, labels = random_transforms([S()] * 20, (160, 160), np.random.default_rng(0))
    assert labels.min() >= 0 and labels.max() < 160


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    """A random tiny CLIPort wired to the shipped small CLIP."""
    path = tmp_path_factory.mktemp("cliport")
    spec = backend_spec()
    backend = load_backend(spec, "cpu")
    torch.manual_seed(0)
    cfg = _config(
        clip_channels=backend.feature_channels,
        text_dim=backend.embed_dim,
        clip_backend=spec,
        n_rotations=12,
        language="sentence+phrases",
    )
    CliportModel(cfg).save(path)
    return path


def test_policy_act_returns_a_plan_inside_the_workspace(checkpoint_dir) -> None:
    policy = make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu")
    frame = overhead_frame()
    plan = policy.act(frame, "put the red blocks in a blue bowl")
    ws = Workspace()
    assert ws.contains(plan.pick_position) and ws.contains(plan.place_position)
    assert plan.policy == "cliport"
    assert any(
        math.isclose(plan.place_yaw, a, abs_tol=1e-6)
        for a in np.arctan2(np.sin(np.arange(12) * np.pi / 6), np.cos(np.arange(12) * np.pi / 6))
    )
    assert plan.heatmaps["pick"].shape == ws.shape and abs(plan.heatmaps["pick"].sum() - 1) < 1e-3
    assert 0 <= plan.pick_confidence <= 1 and 0 <= plan.place_confidence <= 1
    view = top_down_view(frame, ws)
    r, c = plan.pick_pixel
    assert plan.pick_position[2] == pytest.approx(
        float(np.median(view.height[r - 2 : r + 3, c - 2 : c + 3])), abs=0.005
    )
    assert tuple(ws.xy_to_pixel(*plan.pick_position[:2])) == plan.pick_pixel


def test_policy_z_comes_from_the_heightmap(checkpoint_dir) -> None:
    policy = make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu")
    view = top_down_view(overhead_frame(block_xy=(0.5, 0.05)), Workspace())
    row, col = Workspace().xy_to_pixel(0.5, 0.05)
    assert policy._surface_point(view, row, col)[2] == pytest.approx(0.04, abs=0.003)
    assert policy._surface_point(view, 20, 20)[2] == pytest.approx(0.0, abs=0.003)


def test_policy_refuses_task_mismatch_and_unusable_frames(checkpoint_dir) -> None:
    policy = make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu")
    with pytest.raises(GroundingRefused, match="trained on"):
        policy.act(overhead_frame(task="stack-block-pyramid-seq"), "put the red block on the lightest brown block")
    bad = overhead_frame()
    bad.depth[:] = np.nan
    with pytest.raises(GroundingRefused, match="observed"):
        policy.act(bad, "put the red blocks in a blue bowl")
    with pytest.raises(GroundingRefused, match="empty"):
        policy.act(overhead_frame(), "  ")
    with pytest.raises(GroundingRefused, match="trained on"):
        make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu", task="towers-of-hanoi-seq")
    # seen/unseen variants share a training split
    make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu", task="put-blocks-in-bowls-unseen")


def test_policy_refuses_clip_weights_it_was_not_trained_with(tmp_path, checkpoint_dir) -> None:
    import shutil

    copy = tmp_path / "ck"
    shutil.copytree(checkpoint_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["clip_backend"]["sha256"] = "0" * 64  # as if the shipped small CLIP had been retrained since
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="retrain"):
        make_policy("cliport", checkpoint=str(copy), device="cpu")


def test_policy_reports_a_corrupt_checkpoint(tmp_path, checkpoint_dir) -> None:
    (tmp_path / "config.json").write_text((checkpoint_dir / "config.json").read_text())
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="corrupt"):
        make_policy("cliport", checkpoint=str(tmp_path), device="cpu")
    with pytest.raises(ValueError, match="does not exist"):
        make_policy("cliport", checkpoint=str(tmp_path / "missing"), device="cpu")


def test_trainer_runs_end_to_end_on_tiny_demos(tmp_path) -> None:
    from vla_grounding.cliport import train
    from vla_grounding.policy import PickPlacePlan
    from vla_grounding.sim.demos import save_episode

    ws = Workspace()
    for seed, xy in enumerate([(0.45, 0.05), (0.6, -0.1), (0.4, 0.1)]):
        frame = overhead_frame(block_xy=xy)
        plan = PickPlacePlan(np.array([*xy, 0.04]), np.array([0.5, 0.0, 0.0]), pick_yaw=0.1, place_yaw=0.1)
        meta = {"task": TASK, "split": "train", "seed": 2 * seed, "score": 1.0, "steps": 1, "workspace": ws.as_dict()}
        save_episode(tmp_path / "demos" / f"{TASK}-train-{2 * seed:06d}.npz", [frame], [plan], [1.0], meta)
    out = tmp_path / "ck"
    argv = [
        "--task",
        TASK,
        "--demos",
        str(tmp_path / "demos"),
        "--n",
        "2",
        "--steps",
        "3",
        "--val-every",
        "2",
        "--width",
        "8",
        "--batch-size",
        "2",
        "--out",
        str(out),
        "--threads",
        "2",
        "--val-rollouts",
        "1",
    ]
    assert train.main(argv) == 0
    model = CliportModel.load(out)
    from vla_grounding.grounding.clip_backend import SHIPPED_WEIGHTS

    # the small CLIP it was trained with is named and hashed, not copied
    assert model.config.clip_backend["checkpoint"] is None
    assert model.config.clip_backend["sha256"] == file_sha256(SHIPPED_WEIGHTS)
    assert not (out / "clip").exists()
    info = model.config.training
    assert info["demos"] == 2 and info["val_episodes"] == 1 and info["steps"] == 3
    assert model.config.language == "sentence+phrases"
    # validated on held-out demos and by one simulated episode on the first even seed after the demos' (0, 2, 4)
    assert set(info["final_validation"]) >= {"val_loss", "val_success", "rollout_score"}
    assert info["rollout_seeds"] == [6]
    assert info["selected_step"] == 3  # the only rollout-validated weights win
    assert str(tmp_path) not in info["command"] and "--demos DEMOS" in info["command"]  # no local paths shipped


def test_rot90_pixel_follows_torch_rot90() -> None:
    from vla_grounding.cliport.policy import rot90_pixel

    grid = torch.zeros(5, 7)
    grid[1, 2] = 1.0
    for k in range(4):
        turned = torch.rot90(grid, k, (-2, -1))
        r, c = rot90_pixel((1, 2), k, (5, 7))
        assert turned[r, c] == 1.0


def test_policy_with_and_without_rotated_views(checkpoint_dir) -> None:
    """Averaging over quarter-turned views is optional and gives a well-formed plan either way."""
    for rotate in (False, True):
        policy = make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu", rotate_views=rotate)
        plan = policy.act(overhead_frame(), "put the red blocks in a blue bowl")
        assert Workspace().contains(plan.pick_position) and plan.heatmaps["pick"].shape == (160, 160)


def test_camera_augmentation_adds_corrupted_copies_with_the_same_labels(tmp_path) -> None:
    from vla_grounding.cliport import train
    from vla_grounding.policy import PickPlacePlan
    from vla_grounding.sim.camera_effects import CameraProfile
    from vla_grounding.sim.demos import save_episode

    ws = Workspace()
    for seed, xy in enumerate([(0.45, 0.05), (0.6, -0.1)]):
        frame = overhead_frame(block_xy=xy)
        plan = PickPlacePlan(np.array([*xy, 0.04]), np.array([0.5, 0.0, 0.0]), pick_yaw=0.1, place_yaw=0.1)
        meta = {"task": TASK, "split": "train", "seed": 2 * seed, "score": 1.0, "steps": 1, "workspace": ws.as_dict()}
        save_episode(tmp_path / f"{TASK}-train-{2 * seed:06d}.npz", [frame], [plan], [1.0], meta)
    clean, _ = train.load_demo_samples(str(tmp_path), 0, 2, ws, TASK)
    augment = train.CameraAugment(CameraProfile.load("realsense-d455"), 2, (0.005, 0.5), np.random.default_rng(0))
    samples, seeds = train.load_demo_samples(str(tmp_path), 0, 2, ws, TASK, augment)
    assert seeds == [0, 2] and len(clean) == 2 and len(samples) == 6  # each episode: clean, then two copies
    by_episode = {e: [s for s in samples if s.episode == e] for e in (0, 1)}
    for e, (first, *copies) in by_episode.items():
        np.testing.assert_array_equal(first.color, clean[e].color)
        for s in copies:
            assert (s.pick, s.place, s.turn, s.instruction) == (first.pick, first.place, first.turn, first.instruction)
            assert not np.array_equal(s.color, first.color)  # colour drift and noise
            # depth noise, holes (filled) and a <= 5 mm / 0.5 deg pose error: heights stay close
            assert np.median(np.abs(s.height - first.height)) < 0.004
    argv = ["--task", TASK, "--demos", str(tmp_path), "--n", "1", "--camera-augment", "no-such-camera"]
    with pytest.raises(SystemExit):
        train.parse_args(argv)


def test_subcell_peak_reads_the_split_between_neighbouring_cells() -> None:
    from vla_grounding.cliport.policy import subcell_peak

    prob = np.zeros((40, 40))
    prob[20, 10] = 1.0
    assert subcell_peak(prob, 20, 10, 4) == (20.0, 10.0)  # one cell: its own centre
    prob[20, 14] = 1.0  # two equal cells one network cell (4 px) apart: halfway
    assert subcell_peak(prob, 20, 10, 4) == pytest.approx((20.0, 12.0))
    prob[20, 30] = 5.0  # a far mode is another place, not part of this peak
    assert subcell_peak(prob, 20, 10, 4) == pytest.approx((20.0, 12.0))
    corner = np.zeros((40, 40))
    corner[0, 0], corner[1, 0] = 3.0, 1.0  # clipped at the grid's edge
    assert subcell_peak(corner, 0, 0, 4) == pytest.approx((0.25, 0.0))
    assert subcell_peak(np.zeros((40, 40)), 5, 6, 4) == (5.0, 6.0)


def test_policy_place_is_refined_between_cells(checkpoint_dir) -> None:
    """With ``subcell`` (the default) the place point may fall between grid pixels; off, on a pixel centre."""
    ws = Workspace()
    frame = overhead_frame()
    on = make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu").act(frame, "put the red blocks in a bowl")
    off = make_policy("cliport", checkpoint=str(checkpoint_dir), device="cpu", subcell=False).act(
        frame, "put the red blocks in a bowl")
    assert off.place_pixel == on.place_pixel
    assert np.allclose(off.place_position[:2], ws.pixel_to_xy(*off.place_pixel))
    assert np.linalg.norm(on.place_position[:2] - off.place_position[:2]) <= 1.5 * 4 * ws.pixel_size * math.sqrt(2)


def _tiny_demos(folder, task: str, xys) -> None:
    from vla_grounding.policy import PickPlacePlan
    from vla_grounding.sim.demos import save_episode

    ws = Workspace()
    for seed, xy in enumerate(xys):
        frame = overhead_frame(block_xy=xy, task=task)
        plan = PickPlacePlan(np.array([*xy, 0.04]), np.array([0.5, 0.0, 0.0]), pick_yaw=0.1, place_yaw=0.1)
        meta = {"task": task, "split": "train", "seed": 2 * seed, "score": 1.0, "steps": 1, "workspace": ws.as_dict()}
        save_episode(folder / f"{task}-train-{2 * seed:06d}.npz", [frame], [plan], [1.0], meta)


def test_trainer_builds_one_multi_task_model(tmp_path) -> None:
    """Two tasks' demos -> one checkpoint that covers both (and refuses a third), validated by rollouts of each."""
    from vla_grounding.cliport import train
    from vla_grounding.cliport.policy import covers, trained_tasks

    hanoi = "towers-of-hanoi-seq"
    _tiny_demos(tmp_path / "bowls", TASK, [(0.45, 0.05), (0.6, -0.1), (0.4, 0.1)])
    _tiny_demos(tmp_path / "hanoi", hanoi, [(0.5, 0.1), (0.55, -0.05), (0.42, 0.0)])
    out = tmp_path / "ck"
    argv = ["--task", f"{TASK},{hanoi}", "--demos", f"{tmp_path / 'bowls'},{tmp_path / 'hanoi'}", "--n", "2",
            "--steps", "2", "--val-every", "2", "--width", "8", "--batch-size", "2", "--out", str(out),
            "--threads", "2", "--val-rollouts", "1", "--rollouts-after", "0", "--rollout-every", "2"]
    assert train.main(argv) == 0
    model = CliportModel.load(out)
    assert trained_tasks(model.config) == [TASK, hanoi]
    assert covers(model.config, "put-blocks-in-bowls-unseen") and covers(model.config, hanoi)
    assert not covers(model.config, "stack-block-pyramid-seq")
    info = model.config.training
    assert info["demos"] == 4 and info["tasks"] == {TASK: {"demos": 2, "val_episodes": 1},
                                                    hanoi: {"demos": 2, "val_episodes": 1}}
    assert info["rollout_seeds"] == {TASK: [6], hanoi: [6]}
    assert {f"rollout_score:{TASK}", f"rollout_score:{hanoi}"} <= set(info["final_validation"])
    assert info["final_validation"]["rollout_episodes"] == 2
    policy = make_policy("cliport", checkpoint=str(out), device="cpu", task=hanoi)
    policy.act(overhead_frame(task=TASK), "put the red blocks in a bowl")  # one policy serves both tasks
    with pytest.raises(GroundingRefused, match="trained on"):
        policy.act(overhead_frame(task="stack-block-pyramid-seq"), "put the red block on the lightest brown block")


def test_multi_task_arguments_are_checked(capsys) -> None:
    from vla_grounding.cliport.train import parse_args

    for task, demos, why in [
        (f"{TASK},towers-of-hanoi-seq", "a", "one folder per task"),
        (f"{TASK},{TASK}", "a,b", "twice"),
        (f"{TASK},no-such-task", "a,b", "unknown task"),
    ]:
        with pytest.raises(SystemExit):
            parse_args(["--task", task, "--demos", demos, "--n", "1"])
        assert why in capsys.readouterr().err


def test_task_balanced_sampler_draws_every_task_alike() -> None:
    from vla_grounding.cliport.train import TaskBalancedSampler

    sampler = TaskBalancedSampler([0] * 90 + [1] * 10)  # task 1 has a ninth of task 0's samples
    idx = sampler(np.random.default_rng(0), 4000)
    share = float(np.mean(idx >= 90))
    assert 0.45 < share < 0.55, share
    single = TaskBalancedSampler([0] * 7)
    assert np.array_equal(single(np.random.default_rng(1), 5), np.random.default_rng(1).integers(0, 7, 5))
