"""Real-camera conditions without ROS: the simulator's camera profiles and calibration error, and
the perception that survives them (lens distortion, the fitted table, white balance, holes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vla_grounding.perception.camera import CameraIntrinsics
from vla_grounding.perception.heightmap import fill_depth_holes, observe, top_down_view
from vla_grounding.perception.table import SIM_TABLE_RGB, table_white_balance
from vla_grounding.perception.workspace import Workspace
from vla_grounding.sim.camera_effects import CameraProfile, miscalibrated_pose, parse_calibration_error
from vla_grounding.sim.env import TabletopEnv

WS = Workspace()


def render(seed: int = 1, **options):
    with TabletopEnv("put-blocks-in-bowls-seen", render_backend="tiny", **options) as env:
        return env.reset(seed)


@pytest.fixture(scope="module")
def clean():
    return render()


def table_cells(view) -> np.ndarray:
    """Heights of the grid cells that see the bare table in the clean view."""
    return view.height[view.valid & (view.height < 0.002)]


def test_profiles_load_by_name_and_bad_ones_are_named():
    d455 = CameraProfile.load("realsense-d455")
    assert d455.depth_noise == pytest.approx(0.0012) and len(d455.distortion) == 5 and not d455.ideal
    assert CameraProfile.load("ideal").ideal and CameraProfile.load("").ideal
    with pytest.raises(ValueError, match="unknown camera profile 'realsense-d999'.*known: ideal, colour-only"):
        CameraProfile.load("realsense-d999")
    with pytest.raises(ValueError, match="gain must be"):
        CameraProfile(gain=(1.3, 0.7))
    assert parse_calibration_error("0.01,1.0") == (0.01, 1.0)
    with pytest.raises(ValueError, match="METRES,DEGREES"):
        parse_calibration_error("1cm")


def test_the_calibration_error_has_the_asked_size():
    pose = np.eye(4)
    off = miscalibrated_pose(pose, 0.02, 2.0, np.random.default_rng(0))
    assert np.linalg.norm(off[:3, 3]) == pytest.approx(0.02)
    assert np.degrees(np.arccos((np.trace(off[:3, :3]) - 1) / 2)) == pytest.approx(2.0)


def test_lens_distortion_round_trips_through_opencv():
    k = CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5, (-0.3, 0.1, 0.001, -0.001, -0.02))
    u, v = np.meshgrid(np.linspace(0, 639, 9), np.linspace(0, 479, 7))
    x, y = k.normalized_rays(u, v)
    uu, vv = k.project(x, y)
    assert np.abs(uu - u).max() < 1e-6 and np.abs(vv - v).max() < 1e-6
    assert np.abs(x - (u - k.cx) / k.fx).max() > 0.01  # the lens moves the corners' rays


def test_a_distorted_image_with_its_model_gives_the_undistorted_top_down_view(clean):
    lens = render(camera=CameraProfile(name="lens", distortion=(-0.3, 0.1, 0.001, -0.001, -0.02)))
    a, b = top_down_view(clean, WS), top_down_view(lens, WS)
    both = a.valid & b.valid
    assert both.mean() > 0.8
    assert np.median(np.abs(a.height[both] - b.height[both])) < 0.001
    ignored = top_down_view(dataclasses.replace(lens, intrinsics=lens.intrinsics.undistorted()), WS)
    both = a.valid & ignored.valid
    assert np.mean(np.abs(a.height[both] - ignored.height[both]) > 0.004) > 3 * np.mean(
        np.abs(a.height[a.valid & b.valid] - b.height[a.valid & b.valid]) > 0.004)


def test_a_clean_frame_is_left_as_it_is(clean):
    obs = observe(clean, WS, white_balance=True)
    assert obs.table is not None and not obs.table.applied and obs.table.warning() is None
    assert obs.gains is None and obs.color is clean.color


def test_a_miscalibrated_camera_is_levelled_and_warned_about(clean):
    off = dataclasses.replace(clean, T_base_camera=miscalibrated_pose(clean.T_base_camera, 0.02, 2.0,
                                                                       np.random.default_rng(1)))
    levelled, raw = top_down_view(off, WS), top_down_view(off, WS, level_table=False)
    warning = levelled.table.warning()
    assert warning and "hand-eye calibration" in warning and levelled.table.tilt_deg > 1.0
    assert np.percentile(np.abs(table_cells(levelled)), 90) < 0.003  # the table is flat at z_min again
    assert np.percentile(np.abs(raw.height[raw.valid]), 50) > 0.004 or raw.valid.mean() < 0.5


def test_white_balance_to_the_table_undoes_a_colour_gain(clean):
    gain = np.array([0.75, 0.8, 0.9], np.float32)
    dim = dataclasses.replace(clean, color=np.clip(np.round(clean.color * gain), 0, 255).astype(np.uint8))
    assert observe(dim, WS).gains is None  # off unless asked: it recolours any table but the simulator's
    obs = observe(dim, WS, white_balance=True)
    assert obs.gains is not None and np.allclose(obs.gains, 1 / gain, rtol=0.03)
    assert table_white_balance(obs.xyz, obs.rgb, WS, SIM_TABLE_RGB) is None  # balanced: nothing left to do
    assert np.abs(obs.color.astype(int) - clean.color.astype(int)).mean() < 2.0


def test_depth_holes_take_the_surface_behind():
    depth = np.full((40, 40), 1.0, np.float32)
    depth[10:20, 10:20] = 0.8  # an object in front of the table
    holed = depth.copy()
    holed[14:16, 8:22] = np.nan  # a hole across its edge
    filled = fill_depth_holes(holed, radius=3)
    assert np.isfinite(filled).all() and filled[15, 9] == pytest.approx(1.0)  # the table, not in between
    assert fill_depth_holes(depth) is depth  # nothing missing: the same array


def test_eval_runs_a_camera_profile_and_refuses_a_bad_calibration_error(capsys):
    from vla_grounding.evaluation import evaluate, main

    res = evaluate("put-blocks-in-bowls-seen", "oracle", 1, camera="realsense-d455", calibration_error=(0.01, 1.0))
    assert res["camera"]["name"] == "realsense-d455" and res["calibration_error"] == [0.01, 1.0]
    with pytest.raises(SystemExit) as exit_info:
        main(["--task", "put-blocks-in-bowls-seen", "--calibration-error", "1cm"])
    assert exit_info.value.code == 2 and "METRES,DEGREES" in capsys.readouterr().err


def test_the_shipped_models_balance_colours_and_a_pretrained_clip_does_not():
    from vla_grounding.grounding.policy import ClipRegionsPolicy

    assert ClipRegionsPolicy(device="cpu").white_balance
    assert not ClipRegionsPolicy(device="cpu", white_balance=False).white_balance
