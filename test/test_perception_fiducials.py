"""Fiducial markers on the simulated table: the camera pose they refine, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from vla_grounding.perception.fiducials import SIM_LAYOUT, FiducialLayout, detect_markers, refine_camera_pose
from vla_grounding.perception.workspace import Workspace
from vla_grounding.sim.camera_effects import CameraProfile
from vla_grounding.sim.env import TabletopEnv

# table points over the workspace: where a wrong camera pose moves what the policy sees
TABLE = np.array([[x, y, 0.0, 1.0] for x in (0.3, 0.5, 0.7) for y in (-0.2, 0.0, 0.2)])


def sideways_error(pose: np.ndarray, true_pose: np.ndarray) -> float:
    """The largest horizontal shift (m) of a table point seen through ``pose`` instead of the true pose."""
    moved = (pose @ np.linalg.inv(true_pose) @ TABLE.T).T
    return float(np.max(np.linalg.norm(moved[:, :2] - TABLE[:, :2], axis=1)))


@pytest.fixture(scope="module")
def miscalibrated():
    """Frames of the realsense-d455 profile (noise, holes, colour, lens distortion) with the camera
    pose 2 cm / 2 deg off, markers on the table; and the true camera pose."""
    with TabletopEnv("put-blocks-in-bowls-seen", render_backend="tiny", camera=CameraProfile.load("realsense-d455"),
                     calibration_error=(0.02, 2.0), fiducials=SIM_LAYOUT) as env:
        return [env.reset(seed) for seed in (1, 3, 5)], env.camera_pose


def test_markers_undo_a_2cm_2deg_calibration_error_to_within_2_mm(miscalibrated):
    frames, true_pose = miscalibrated
    for frame in frames:
        before = sideways_error(frame.T_base_camera, true_pose)
        found = refine_camera_pose(frame, Workspace(), SIM_LAYOUT)
        assert found.markers == SIM_LAYOUT.ids
        assert sideways_error(found.T_base_camera, true_pose) < 0.002 < 0.005 < before
        assert found.residual_m < 0.002
        assert "hand-eye calibration is off" in found.warning()


def test_a_clean_camera_is_left_within_2_mm_and_not_warned_about():
    with TabletopEnv("put-blocks-in-bowls-seen", render_backend="tiny", fiducials=SIM_LAYOUT) as env:
        frame = env.reset(7)
    found = refine_camera_pose(frame, env.workspace, SIM_LAYOUT)
    assert sideways_error(found.T_base_camera, env.camera_pose) < 0.002
    assert found.warning() is None


def test_one_marker_corrects_the_shift_and_markers_not_on_the_table_are_named(miscalibrated):
    frames, true_pose = miscalibrated
    one = FiducialLayout(ids=(2,), xy=(SIM_LAYOUT.xy[2],), height=SIM_LAYOUT.height)
    found = refine_camera_pose(frames[0], Workspace(), one)
    assert found.markers == (2,) and found.yaw_deg == 0.0
    assert sideways_error(found.T_base_camera, true_pose) < sideways_error(frames[0].T_base_camera, true_pose)
    absent = FiducialLayout(ids=(7, 8), xy=((0.3, 0.4), (0.3, -0.4)))
    with pytest.raises(ValueError, match=r"none of the fiducials \[7, 8\] \(DICT_4X4_50\) is seen"):
        refine_camera_pose(frames[0], Workspace(), absent)


def test_a_marker_moved_from_its_measured_place_is_left_out(miscalibrated):
    frames, true_pose = miscalibrated
    xy = list(SIM_LAYOUT.xy)
    xy[3] = (xy[3][0] + 0.10, xy[3][1])  # the layout says 10 cm from where marker 3 lies
    found = refine_camera_pose(frames[0], Workspace(),
                               FiducialLayout(SIM_LAYOUT.ids, tuple(xy), height=SIM_LAYOUT.height))
    assert found.markers == (0, 1, 2)
    assert sideways_error(found.T_base_camera, true_pose) < 0.003


def test_the_simulated_markers_read_as_their_ids():
    with TabletopEnv("put-blocks-in-bowls-seen", render_backend="tiny", fiducials=SIM_LAYOUT) as env:
        assert sorted(detect_markers(env.reset(1).color)) == list(SIM_LAYOUT.ids)
    with TabletopEnv("put-blocks-in-bowls-seen", render_backend="tiny") as env:
        assert detect_markers(env.reset(1).color) == {}


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(ids=[0, 1], xy=[0.3, 0.4, 0.3]), "needs 2 numbers per id"),
    (dict(ids=[0, 0], xy=[0.3, 0.4, 0.3, -0.4]), "distinct"),
    (dict(ids=[0], xy=[0.3, 0.4], size=0.0), "size must be > 0"),
    (dict(ids=[0], xy=[0.3, 0.4], dictionary="DICT_9X9"), "dictionary"),
    (dict(ids=[0], xy=[0.3, 0.4], height=-0.01), "height"),
])
def test_bad_layouts_are_refused_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FiducialLayout.from_flat(**kwargs)


def test_printed_markers_read_as_their_ids_at_the_asked_size(tmp_path, capsys):
    from PIL import Image

    from vla_grounding.markers import INCH, main

    assert main(["--ids", "3", "7", "--size", "0.04", "--dpi", "200", "--out", str(tmp_path)]) == 0
    assert "fiducials:\n    ids: [3, 7]" in capsys.readouterr().out
    for marker_id in (3, 7):
        image = Image.open(tmp_path / f"marker_{marker_id}.png")
        rgb = np.repeat(np.asarray(image)[..., None], 3, axis=2)
        found = detect_markers(rgb)
        assert list(found) == [marker_id]
        side_px = np.linalg.norm(found[marker_id][0] - found[marker_id][1])
        assert side_px / image.info["dpi"][0] * INCH == pytest.approx(0.04, rel=0.02)  # the black square, printed
    with pytest.raises(SystemExit):
        main(["--ids", "60", "--out", str(tmp_path)])  # DICT_4X4_50 has ids 0-49
