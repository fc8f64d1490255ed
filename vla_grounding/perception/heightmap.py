"""RGB-D -> base-frame point cloud -> top-down heightmap + colour map (CLIPort's input).

Every valid depth pixel is back-projected with the intrinsics and moved into the robot base
frame by ``T_base_camera``; the points inside the workspace box are z-buffered into the
workspace grid (highest point wins). Because the projection is done point by point, an
oblique camera gives a true top-down view (with unobserved cells marked invalid), not a
warped image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from vla_grounding.perception.camera import CameraIntrinsics, RGBDFrame
from vla_grounding.perception.table import TablePlane, apply_gains, level_to_table, table_white_balance
from vla_grounding.perception.workspace import Workspace

DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
MIN_DEPTH_M = 0.05  # closer than this, RGB-D sensors report garbage
MAX_DEPTH_M = 10.0


def depth_to_metres(data: np.ndarray, encoding: str) -> np.ndarray:
    """ROS depth image data -> float32 metres with every invalid pixel set to NaN.

    ``16UC1``/``mono16`` hold millimetres (0 = no return); ``32FC1`` holds metres
    (0, NaN, +-inf = no return). Negative values are invalid in both.
    """
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) image, got shape {data.shape}")
    if encoding in ("16UC1", "mono16"):
        if not np.issubdtype(data.dtype, np.integer):
            raise ValueError(f"depth encoding {encoding} needs integer millimetres, got dtype {data.dtype}")
        metres = data.astype(np.float32) / 1000.0
    elif encoding == "32FC1":
        if not np.issubdtype(data.dtype, np.floating):
            raise ValueError(f"depth encoding 32FC1 needs float metres, got dtype {data.dtype}")
        metres = data.astype(np.float32, copy=True)
    else:
        raise ValueError(f"unsupported depth encoding {encoding!r}; use one of {DEPTH_ENCODINGS}")
    metres[~np.isfinite(metres) | (metres <= 0.0)] = np.nan
    return metres


def _check_frame(frame: RGBDFrame) -> None:
    h, w = frame.intrinsics.height, frame.intrinsics.width
    if frame.depth.shape != (h, w):
        raise ValueError(f"depth shape {frame.depth.shape} does not match camera_info {h}x{w}")
    if frame.color.shape[:2] != (h, w) or frame.color.ndim != 3 or frame.color.shape[2] != 3:
        raise ValueError(f"colour shape {frame.color.shape} is not ({h}, {w}, 3) RGB aligned to depth")
    t = np.asarray(frame.T_base_camera, dtype=float)
    if t.shape != (4, 4) or not np.all(np.isfinite(t)):
        raise ValueError("T_base_camera must be a finite 4x4 homogeneous transform")
    if frame.intrinsics.fx <= 0 or frame.intrinsics.fy <= 0:
        raise ValueError(f"focal lengths must be > 0: {frame.intrinsics}")


def valid_depth_mask(depth: np.ndarray, min_depth: float = MIN_DEPTH_M, max_depth: float = MAX_DEPTH_M) -> np.ndarray:
    """Pixels whose depth can be trusted: finite and inside the sensor's range."""
    depth = np.asarray(depth, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth >= min_depth) & (depth <= max_depth)


@functools.lru_cache(maxsize=4)
def _base_rays(k: CameraIntrinsics, rotation: bytes) -> np.ndarray:
    """Every pixel's ray in the base frame per metre of depth, (3, N), through the lens model
    (undistorted): the camera model and the camera's orientation (a 3x3 float64 matrix's bytes)
    fix it, so a fixed camera computes it once."""
    v, u = np.divmod(np.arange(k.width * k.height), k.width)
    x, y = k.normalized_rays(u, v) if k.distorted else ((u - k.cx) / k.fx, (v - k.cy) / k.fy)
    rays = np.stack([x, y, np.ones(x.shape)], axis=1)
    return np.ascontiguousarray((rays @ np.frombuffer(rotation, dtype=np.float64).reshape(3, 3).T).T)


def back_project(
    frame: RGBDFrame, min_depth: float = MIN_DEPTH_M, max_depth: float = MAX_DEPTH_M
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid pixels -> (xyz base frame (N,3) float64, rgb (N,3) uint8, flat pixel index (N,)).

    xyz is column-major (Fortran order): the per-axis work that follows reads contiguous columns."""
    _check_frame(frame)
    depth = np.asarray(frame.depth, dtype=np.float32)
    flat = np.flatnonzero(valid_depth_mask(depth, min_depth, max_depth))
    t = np.asarray(frame.T_base_camera, dtype=np.float64)
    xyz = np.take(_base_rays(frame.intrinsics, np.ascontiguousarray(t[:3, :3]).tobytes()), flat, axis=1)
    xyz *= depth.reshape(-1)[flat]
    xyz += t[:3, 3:]
    rgb = np.take(np.asarray(frame.color, dtype=np.uint8).reshape(-1, 3), flat, axis=0)
    return xyz.T, rgb, flat


def point_cloud(frame: RGBDFrame) -> tuple[np.ndarray, np.ndarray]:
    """Base-frame xyz (N,3) and rgb (N,3) uint8 of the valid depth pixels only."""
    xyz, rgb, _ = back_project(frame)
    return xyz, rgb


def camera_pixel_to_base(frame: RGBDFrame, u: int, v: int) -> np.ndarray:
    """Camera pixel (u = column, v = row) -> base-frame point through its depth; ValueError when
    the pixel is outside the image or its depth is invalid."""
    k = frame.intrinsics
    if not (0 <= u < k.width and 0 <= v < k.height):
        raise ValueError(f"pixel (u={u}, v={v}) is outside the {k.width}x{k.height} image")
    z = float(frame.depth[int(v), int(u)])
    if not valid_depth_mask(np.array([z])).all():
        raise ValueError(f"pixel (u={u}, v={v}) has no valid depth ({z})")
    x, y = k.normalized_rays(np.array([u]), np.array([v]))
    cam = np.array([float(x[0]) * z, float(y[0]) * z, z, 1.0])
    return (np.asarray(frame.T_base_camera, dtype=float) @ cam)[:3]


def base_to_camera_pixel(frame: RGBDFrame, xyz: np.ndarray) -> tuple[float, float]:
    """Base-frame point -> (u, v) sub-pixel camera coordinates; ValueError when it is behind the camera."""
    p = np.append(np.asarray(xyz, dtype=float).reshape(3), 1.0)
    cam = np.linalg.inv(np.asarray(frame.T_base_camera, dtype=float)) @ p
    if cam[2] <= 1e-6:
        raise ValueError(f"point {p[:3].tolist()} is behind the camera")
    u, v = frame.intrinsics.project(np.array([cam[0] / cam[2]]), np.array([cam[1] / cam[2]]))
    return float(u[0]), float(v[0])


@dataclass
class TopDownView:
    """Orthographic top-down colour + height images over the workspace grid."""

    color: np.ndarray  # (rows, cols, 3) uint8
    height: np.ndarray  # (rows, cols) float32 metres above workspace.z_min, 0 where empty
    valid: np.ndarray  # (rows, cols) bool: a point was observed (or interpolated) there
    workspace: Workspace
    table: TablePlane | None = None  # the table fitted in the depth (heights are measured from it)

    def pixel_to_base(self, row: float, col: float) -> np.ndarray:
        """Grid pixel -> base-frame point on the observed surface (z = z_min + height)."""
        r, c = int(np.floor(row)), int(np.floor(col))
        rows, cols = self.height.shape
        if not (0 <= r < rows and 0 <= c < cols):
            raise ValueError(f"pixel ({row}, {col}) is outside the {rows}x{cols} workspace grid")
        if not self.valid[r, c]:
            raise ValueError(f"pixel ({r}, {c}) has no valid depth: no surface was observed there")
        x, y = self.workspace.pixel_to_xy(row, col)
        return np.array([x, y, self.workspace.z_min + float(self.height[r, c])])

    def base_to_pixel(self, xyz: np.ndarray) -> tuple[int, int]:
        """Base-frame point -> (row, col) of the grid cell containing it."""
        p = np.asarray(xyz, dtype=float).reshape(-1)
        if p.size < 2 or not np.all(np.isfinite(p[:2])):
            raise ValueError(f"point must be finite (x, y[, z]), got {xyz}")
        row, col = self.workspace.xy_to_pixel(p[0], p[1])
        rows, cols = self.height.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"point {p.tolist()} is outside the workspace grid")
        return row, col


def grid_indices(xyz: np.ndarray, workspace: Workspace, z_tolerance: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(keep mask, flat grid index of kept points) for points inside the workspace box.

    Points up to ``z_tolerance`` below z_min (depth noise on the table) are kept and
    clamped to height 0; anything lower or above z_max is dropped.
    """
    ws = workspace
    rows, cols = ws.shape
    r = xyz[:, 1] - ws.y_min
    r /= ws.pixel_size
    c = xyz[:, 0] - ws.x_min
    c /= ws.pixel_size
    z = xyz[:, 2]
    keep = (r >= 0) & (r < rows) & (c >= 0) & (c < cols) & (z >= ws.z_min - z_tolerance) & (z <= ws.z_max)
    return keep, np.floor(r[keep]).astype(np.int64) * cols + np.floor(c[keep]).astype(np.int64)


def _zbuffer(flat: np.ndarray, height: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Index (into the inputs) of the highest point per occupied cell (the last of equals), and
    those cells in ascending order."""
    top = np.full(n_cells, -np.inf)
    np.maximum.at(top, flat, height)
    highest = np.flatnonzero(height == top[flat])
    best = np.full(n_cells, -1, np.int64)
    np.maximum.at(best, flat[highest], highest)
    cells = np.flatnonzero(best >= 0)
    return best[cells], cells


def _fill_small_holes(view: TopDownView, iterations: int) -> None:
    """Fill unobserved cells that have >= 5 observed neighbours (sparse sampling far from an
    oblique camera) with the neighbours' mean; larger holes (occlusion shadows) stay invalid."""
    for _ in range(iterations):
        valid = view.valid
        pad_v = np.pad(valid, 1)
        pad_h = np.pad(view.height * valid, 1)
        pad_c = np.pad(view.color.astype(np.float32) * valid[..., None], ((1, 1), (1, 1), (0, 0)))
        rows, cols = valid.shape
        count = np.zeros(valid.shape, np.float32)
        h_sum = np.zeros(valid.shape, np.float32)
        c_sum = np.zeros(view.color.shape, np.float32)
        for dr in range(3):
            for dc in range(3):
                if dr == 1 and dc == 1:
                    continue
                count += pad_v[dr : dr + rows, dc : dc + cols]
                h_sum += pad_h[dr : dr + rows, dc : dc + cols]
                c_sum += pad_c[dr : dr + rows, dc : dc + cols]
        fill = ~valid & (count >= 5)
        if not fill.any():
            return
        view.height[fill] = h_sum[fill] / count[fill]
        view.color[fill] = np.round(c_sum[fill] / count[fill][:, None]).astype(np.uint8)
        view.valid = valid | fill


def view_from_points(xyz: np.ndarray, rgb: np.ndarray, workspace: Workspace, fill_iterations: int = 2,
                     grid: tuple[np.ndarray, np.ndarray] | None = None) -> TopDownView:
    """Z-buffer base-frame points into the workspace grid (highest point and its colour);
    ``grid``: ``grid_indices(xyz, workspace)`` when the caller has it already."""
    rows, cols = workspace.shape
    keep, flat = grid if grid is not None else grid_indices(xyz, workspace)
    kept = np.flatnonzero(keep)
    heights = np.clip(xyz[:, 2][kept] - workspace.z_min, 0.0, None)
    best, cells = _zbuffer(flat, heights, rows * cols)
    height = np.zeros(rows * cols, np.float32)
    color = np.zeros((rows * cols, 3), np.uint8)
    valid = np.zeros(rows * cols, bool)
    height[cells] = heights[best]
    color[cells] = np.take(rgb, kept[best], axis=0)
    valid[cells] = True
    view = TopDownView(color.reshape(rows, cols, 3), height.reshape(rows, cols), valid.reshape(rows, cols), workspace)
    _fill_small_holes(view, fill_iterations)
    return view


@dataclass
class Observation:
    """One frame's valid points in the base frame, after the table fit and colour balance."""

    xyz: np.ndarray  # (N, 3) base frame (levelled to the fitted table)
    rgb: np.ndarray  # (N, 3) uint8 (white-balanced to the table)
    pixels: np.ndarray  # (N,) flat camera pixel index of each point
    color: np.ndarray  # (H, W, 3) the camera image, white-balanced as rgb
    table: TablePlane | None
    gains: np.ndarray | None  # per-channel colour gains applied, None = none


HOLE_FILL_PX = 8  # depth holes up to about twice this wide are filled


def fill_depth_holes(depth: np.ndarray, radius: int = HOLE_FILL_PX) -> np.ndarray:
    """Invalid depth pixels within ``radius`` of valid ones take the farthest valid depth
    around them (as RealSense's hole-filling filter can): the surface behind, never a point
    floating between an object and the table. A copy; unchanged when nothing is missing."""
    import cv2

    valid = valid_depth_mask(depth)
    if valid.all():
        return depth
    known = np.where(valid, depth, 0.0).astype(np.float32)
    farthest = cv2.dilate(known, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    return np.where(valid | (farthest <= 0), depth, farthest).astype(np.float32)


def observe(frame: RGBDFrame, workspace: Workspace, level_table: bool = True,
            white_balance: bool = False, fill_holes: bool = True) -> Observation:
    """Back-project ``frame``; ``fill_holes``: see :func:`fill_depth_holes`; ``level_table``:
    measure heights from the table plane fitted in the depth; ``white_balance``: scale the
    colours so the table has the simulated table's colour, which models trained in the
    simulator expect (see perception.table); off by default: it recolours any other table."""
    if fill_holes:
        filled = fill_depth_holes(np.asarray(frame.depth, dtype=np.float32))
        if filled is not frame.depth:
            frame = replace(frame, depth=filled)
    xyz, rgb, pix = back_project(frame)
    table, gains, color = None, None, frame.color
    if level_table:
        xyz, table = level_to_table(xyz, workspace, pivot=np.asarray(frame.T_base_camera, dtype=float)[:3, 3])
    if white_balance:
        gains = table_white_balance(xyz, rgb, workspace)
        if gains is not None:
            rgb, color = apply_gains(rgb, gains), apply_gains(frame.color, gains)
    return Observation(xyz, rgb, pix, color, table, gains)


def top_down_view(frame: RGBDFrame | list[RGBDFrame], workspace: Workspace, fill_iterations: int = 2,
                  level_table: bool = True, white_balance: bool = False) -> TopDownView:
    """Fuse one or several RGB-D frames into a top-down view (max height, its colour); each
    frame is levelled to its table and white-balanced as :func:`observe` says."""
    frames = list(frame) if isinstance(frame, (list, tuple)) else [frame]
    if not frames:
        raise ValueError("top_down_view needs at least one RGB-D frame")
    obs = [observe(f, workspace, level_table, white_balance) for f in frames]
    xyz = np.concatenate([o.xyz for o in obs]) if len(obs) > 1 else obs[0].xyz
    rgb = np.concatenate([o.rgb for o in obs]) if len(obs) > 1 else obs[0].rgb
    view = view_from_points(xyz, rgb, workspace, fill_iterations)
    view.table = obs[0].table
    return view
