"""Perception against known geometry: a ray-cast table plane with boxes seen by an oblique camera."""

from __future__ import annotations

import numpy as np
import pytest

from vla_grounding.perception.camera import CameraIntrinsics, RGBDFrame
from vla_grounding.perception.heightmap import (
    base_to_camera_pixel,
    camera_pixel_to_base,
    depth_to_metres,
    point_cloud,
    top_down_view,
)
from vla_grounding.perception.workspace import Workspace

WS = Workspace()
# (x_min, x_max, y_min, y_max, z_top) in base frame, with their colours
BOXES = [
    ((0.40, 0.44, -0.10, -0.06, 0.040), (255, 0, 0)),
    ((0.55, 0.60, 0.05, 0.10, 0.080), (0, 0, 255)),
    ((0.62, 0.66, -0.15, -0.11, 0.020), (0, 200, 0)),
]
TABLE_RGB = (120, 110, 100)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Optical-frame pose (+z forward, +y down) looking from eye at target."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    t = np.eye(4)
    t[:3, :3] = np.stack([x, y, z], axis=1)
    t[:3, 3] = eye
    return t


def render(t_base_camera: np.ndarray, k: CameraIntrinsics) -> RGBDFrame:
    """Ray-cast the plane z=0 and the boxes: exact depth (along optical z) and colour."""
    v, u = np.mgrid[0 : k.height, 0 : k.width].astype(np.float64)
    d_cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1)  # z_cam = 1
    d = d_cam @ t_base_camera[:3, :3].T
    o = t_base_camera[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_best = np.where(d[..., 2] < 0, -o[2] / d[..., 2], np.inf)
        color = np.zeros(u.shape + (3,), np.uint8)
        color[:] = TABLE_RGB
        for (x0, x1, y0, y1, z1), rgb in BOXES:
            lo, hi = np.array([x0, y0, 0.0]), np.array([x1, y1, z1])
            ta, tb = (lo - o) / d, (hi - o) / d
            t_near = np.max(np.minimum(ta, tb), axis=-1)
            t_far = np.min(np.maximum(ta, tb), axis=-1)
            hit = (t_near <= t_far) & (t_near > 0) & (t_near < t_best)
            t_best = np.where(hit, t_near, t_best)
            color[hit] = rgb
    depth = np.where(np.isfinite(t_best), t_best, 0.0).astype(np.float32)  # t along z_cam=1 ray == depth
    return RGBDFrame(color=color, depth=depth, intrinsics=k, T_base_camera=t_base_camera)


K = CameraIntrinsics.from_fov(640, 480, 45.0)
OBLIQUE = look_at(np.array([0.0, 0.0, 0.6]), np.array([0.5, 0.0, 0.0]))
TOP = look_at(np.array([0.5, 0.0, 0.9]), np.array([0.5, 0.0001, 0.0]))


@pytest.fixture(scope="module")
def oblique_view():
    return top_down_view(render(OBLIQUE, K), WS)


def test_depth_encodings():
    mm = np.array([[0, 1000], [65535, 250]], np.uint16)
    m = depth_to_metres(mm, "16UC1")
    assert m.dtype == np.float32 and np.isnan(m[0, 0]) and m[0, 1] == pytest.approx(1.0) and m[1, 1] == 0.25
    f = np.array([[0.0, np.nan], [np.inf, 1.5]], np.float32)
    out = depth_to_metres(f, "32FC1")
    assert np.isnan(out[:, 0]).all() and np.isnan(out[0, 1]) and out[1, 1] == 1.5
    with pytest.raises(ValueError, match="unsupported depth encoding"):
        depth_to_metres(mm, "rgb8")
    with pytest.raises(ValueError, match="integer"):
        depth_to_metres(f, "16UC1")


def test_point_cloud_drops_invalid_and_lies_on_plane():
    frame = render(OBLIQUE, K)
    frame.depth[:10] = 0.0
    frame.depth[10:20] = np.nan
    frame.depth[20:30] = 50.0  # out of sensor range
    xyz, rgb = point_cloud(frame)
    assert np.isfinite(xyz).all() and len(xyz) == len(rgb)
    assert len(xyz) < 640 * 470
    table = (rgb == TABLE_RGB).all(axis=1)
    assert np.abs(xyz[table, 2]).max() < 1e-6


@pytest.mark.parametrize("cam", [OBLIQUE, TOP], ids=["oblique", "top"])
def test_heights_of_plane_and_boxes(cam):
    view = top_down_view(render(cam, K), WS)
    for (x0, x1, y0, y1, z1), rgb in BOXES:
        r0, c0 = WS.xy_to_pixel(x0 + 0.006, y0 + 0.006)
        r1, c1 = WS.xy_to_pixel(x1 - 0.006, y1 - 0.006)
        top = view.height[r0 : r1 + 1, c0 : c1 + 1]
        ok = view.valid[r0 : r1 + 1, c0 : c1 + 1]
        assert ok.mean() > 0.95
        assert np.abs(top[ok] - z1).max() < 0.002
        assert (view.color[r0 : r1 + 1, c0 : c1 + 1][ok] == rgb).all(axis=-1).mean() > 0.95
    table = (view.color == TABLE_RGB).all(axis=-1) & view.valid
    assert table.sum() > 0.4 * table.size
    assert np.abs(view.height[table]).max() < 0.002


def test_pixel_base_round_trip(oblique_view):
    view = oblique_view
    rng = np.random.default_rng(0)
    rows, cols = WS.shape
    checked = 0
    for _ in range(300):
        r, c = int(rng.integers(rows)), int(rng.integers(cols))
        if not view.valid[r, c]:
            continue
        p = view.pixel_to_base(r, c)
        assert view.base_to_pixel(p) == (r, c)
        checked += 1
    assert checked > 200
    # base -> pixel -> base: within half a pixel on x/y (1.6 mm) and exact height on flat surfaces
    for (x0, x1, y0, y1, z1), _ in BOXES:
        p = np.array([(x0 + x1) / 2 + 0.0011, (y0 + y1) / 2 - 0.0007, z1])
        q = view.pixel_to_base(*view.base_to_pixel(p))
        assert np.abs(q - p).max() < 0.002


def test_invalid_pixels_raise(oblique_view):
    view = oblique_view
    with pytest.raises(ValueError, match="outside"):
        view.pixel_to_base(-1, 5)
    with pytest.raises(ValueError, match="outside"):
        view.base_to_pixel(np.array([2.0, 0.0, 0.0]))
    r, c = np.argwhere(~view.valid)[0]
    with pytest.raises(ValueError, match="no valid depth"):
        view.pixel_to_base(r, c)


def test_occlusion_shadow_is_invalid_not_zero(oblique_view):
    """Behind the tall box (seen from the oblique camera) the table is unobserved."""
    r, c = WS.xy_to_pixel(0.64, 0.075)
    assert not oblique_view.valid[r, c]
    assert oblique_view.height[r, c] == 0.0


def test_two_cameras_fuse_max_height():
    a = render(OBLIQUE, K)
    b = render(TOP, K)
    view = top_down_view([a, b], WS)
    r, c = WS.xy_to_pixel(0.64, 0.075)
    assert view.valid[r, c]  # the top camera sees behind the tall box
    r, c = WS.xy_to_pixel(0.575, 0.075)
    assert view.height[r, c] == pytest.approx(0.08, abs=0.002)


def test_mismatched_frame_is_rejected():
    frame = render(TOP, K)
    frame.depth = frame.depth[:-1]
    with pytest.raises(ValueError, match="does not match camera_info"):
        top_down_view(frame, WS)


def test_camera_pixel_round_trip():
    frame = render(OBLIQUE, K)
    for u, v in [(320, 240), (10, 470), (600, 300)]:
        p = camera_pixel_to_base(frame, u, v)
        assert p[2] == pytest.approx(0.0, abs=1e-6) or p[2] > 0.0
        uu, vv = base_to_camera_pixel(frame, p)
        assert (uu, vv) == pytest.approx((u, v), abs=1e-6)
    frame.depth[5, 5] = np.nan
    with pytest.raises(ValueError, match="no valid depth"):
        camera_pixel_to_base(frame, 5, 5)
    with pytest.raises(ValueError, match="behind"):
        base_to_camera_pixel(frame, np.array([-1.0, 0.0, 0.6]))
