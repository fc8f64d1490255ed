"""Training-free object proposals from one RGB-D view.

Objects are what stands above the table: workspace cells higher than ``min_height`` are
grouped into regions of similar colour (so a block resting in a bowl, or on another block,
is its own region), small regions are dropped. Each region keeps its cells in the top-down
grid (for geometry: grasp point, centre, yaw) and the camera pixels that see it (for the
CLIP crop, taken from the original image, which is what CLIP was trained on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.heightmap import TopDownView, grid_indices, observe, view_from_points
from vla_grounding.perception.workspace import Workspace


@dataclass
class Region:
    """One object proposal."""

    index: int
    cells: np.ndarray  # (N, 2) int (row, col) in the workspace grid
    box: tuple[int, int, int, int]  # camera-image crop (top, left, bottom, right), exclusive end
    centre: np.ndarray  # (3,) base frame: footprint centre, z = top surface
    top: float  # top surface height above z_min (metres)
    floor: float  # lowest surface height inside the footprint (a bowl's floor)
    yaw: float  # footprint orientation about base z (radians, modulo 90 deg)
    grasp: np.ndarray  # (3,) base frame: a point on the top surface
    mean_rgb: np.ndarray  # (3,) float
    half_extent: np.ndarray  # (2,) half the footprint's x/y size (metres)

    @property
    def size(self) -> int:
        return len(self.cells)


@dataclass
class Proposals:
    view: TopDownView
    labels: np.ndarray  # (rows, cols) int, -1 = no region
    regions: list[Region]
    crops: list[np.ndarray]  # RGB uint8 crops of the camera image, one per region
    pixel_labels: np.ndarray  # (H, W) int: the region each camera pixel sees, -1 none


def _label_regions(fg: np.ndarray, color: np.ndarray, max_color_dist: float) -> np.ndarray:
    """Connected components of ``fg`` whose 4-neighbours differ in colour by < max_color_dist,
    each labelled with its first cell's flat index (-1 outside ``fg``)."""
    rows, cols = fg.shape
    c = color.astype(np.float32)
    right = fg[:, :-1] & fg[:, 1:] & (np.linalg.norm(c[:, :-1] - c[:, 1:], axis=-1) < max_color_dist)
    down = fg[:-1, :] & fg[1:, :] & (np.linalg.norm(c[:-1, :] - c[1:, :], axis=-1) < max_color_dist)
    n = rows * cols
    index = np.arange(n).reshape(rows, cols)
    a = np.concatenate([index[:, :-1][right], index[:-1, :][down]])
    b = np.concatenate([index[:, 1:][right], index[1:, :][down]])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    first = np.full(component.max() + 1, n, np.int64)
    np.minimum.at(first, component, np.arange(n))
    return np.where(fg.reshape(-1), first[component], -1).reshape(rows, cols)


def footprint_yaw(xy: np.ndarray) -> float:
    """Orientation (radians in [-pi/4, pi/4)) of the minimum-area bounding box of 2-D points."""
    if len(xy) < 3:
        return 0.0
    centred = xy - xy.mean(axis=0)
    angles = np.deg2rad(np.arange(-45, 45, 1.0))
    c, s = np.cos(angles), np.sin(angles)
    u = centred @ np.stack([c, s])  # (N, A) coordinates along the rotated x axes
    v = centred @ np.stack([-s, c])
    area = (u.max(0) - u.min(0)) * (v.max(0) - v.min(0))
    return float(angles[int(np.argmin(area))])


def _region_geometry(cells: np.ndarray, view: TopDownView):
    ws = view.workspace
    h = view.height[cells[:, 0], cells[:, 1]]
    x = ws.x_min + (cells[:, 1] + 0.5) * ws.pixel_size
    y = ws.y_min + (cells[:, 0] + 0.5) * ws.pixel_size
    top = float(np.percentile(h, 90))
    on_top = h >= top - 0.006
    centre_xy = np.array([(x.min() + x.max()) / 2, (y.min() + y.max()) / 2])
    grasp_xy = np.array([x[on_top].mean(), y[on_top].mean()])
    yaw = footprint_yaw(np.stack([x[on_top], y[on_top]], axis=1))
    floor = float(np.percentile(h, 5))
    centre = np.array([centre_xy[0], centre_xy[1], ws.z_min + top])
    grasp = np.array([grasp_xy[0], grasp_xy[1], ws.z_min + float(np.median(h[on_top]))])
    half = np.array([(x.max() - x.min()) / 2, (y.max() - y.min()) / 2]) + ws.pixel_size / 2
    return centre, top, floor, yaw, grasp, half


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """Brightness-free colour (r, g, b) / (r + g + b): shading inside a bowl changes brightness only."""
    return rgb / max(float(rgb.sum()), 1.0)


def _merge_fragments(labels: np.ndarray, color: np.ndarray, max_chroma_dist: float = 0.035) -> np.ndarray:
    """Attach each region to the nearest larger region of the same hue whose box contains its
    centre (a bowl's shaded floor, or a rim arc cut off by the block inside it). Each fragment
    joins one parent only, so two neighbouring objects are never chained together."""
    ids = np.unique(labels[labels >= 0])
    if len(ids) == 0:
        return labels.copy()
    dense = np.where(labels >= 0, np.searchsorted(ids, labels) + 1, 0)  # 1..n, 0 = none
    n = len(ids)
    sizes = np.bincount(dense.ravel(), minlength=n + 1)[1:]
    rgb_sums = np.stack([np.bincount(dense.ravel(), color[..., ch].ravel().astype(np.float64), n + 1)[1:]
                         for ch in range(3)], axis=1)
    means = np.array([_chroma(m) for m in rgb_sums / sizes[:, None]])
    boxes = [(sl[0].start, sl[1].start, sl[0].stop - 1, sl[1].stop - 1) for sl in ndimage.find_objects(dense)]
    centre = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in boxes])
    box = np.array(boxes, dtype=float)
    # host[s, p]: p is larger than s, p's box holds s's centre, and they have the same hue
    host = (sizes[None, :] > sizes[:, None]) \
        & (box[None, :, 0] <= centre[:, None, 0]) & (centre[:, None, 0] <= box[None, :, 2]) \
        & (box[None, :, 1] <= centre[:, None, 1]) & (centre[:, None, 1] <= box[None, :, 3]) \
        & (np.abs(means[None, :, :] - means[:, None, :]).max(-1) < max_chroma_dist)
    distance = np.linalg.norm(centre[None, :, :] - centre[:, None, :], axis=-1)
    parent = {int(s): int(np.argmin(np.where(host[s], distance[s], np.inf))) for s in np.flatnonzero(host.any(1))}
    root_of = np.concatenate([[-1], ids])
    for s in parent:
        root = s
        while root in parent:
            root = parent[root]
        root_of[s + 1] = ids[root]
    return root_of[dense]


def _square_box(v0: int, u0: int, v1: int, u1: int, pad: float, h: int, w: int) -> tuple[int, int, int, int]:
    side = max(v1 - v0, u1 - u0) * (1.0 + 2 * pad) + 4
    cv, cu = (v0 + v1) / 2, (u0 + u1) / 2
    top, left = int(round(cv - side / 2)), int(round(cu - side / 2))
    bottom, right = int(round(cv + side / 2)), int(round(cu + side / 2))
    return max(top, 0), max(left, 0), min(bottom, h), min(right, w)


def propose_regions(
    frame: RGBDFrame,
    workspace: Workspace,
    min_height: float = 0.004,
    min_cells: int = 30,
    max_color_dist: float = 45.0,
    crop_pad: float = 0.15,
    level_table: bool = True,
    white_balance: bool = False,
) -> Proposals:
    """Object regions above the table, with their geometry and camera-image crops (see
    perception.heightmap.observe for ``level_table`` and ``white_balance``)."""
    obs = observe(frame, workspace, level_table, white_balance)
    xyz, pix = obs.xyz, obs.pixels
    keep, cell = grid = grid_indices(xyz, workspace)
    view = view_from_points(xyz, obs.rgb, workspace, grid=grid)
    view.table = obs.table
    fg = view.valid & (view.height > min_height)
    labels = _label_regions(fg, view.color, max_color_dist)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    labels[np.isin(labels, ids[counts < max(min_cells // 4, 1)])] = -1  # speckle: not worth merging
    labels = _merge_fragments(labels, view.color)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    ids = ids[counts >= min_cells]
    remap = np.full(labels.max() + 2 if labels.size else 1, -1)
    remap[ids] = np.arange(len(ids))
    labels = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)
    # camera pixels -> region, through the grid cell each pixel's point falls in
    pix_region = labels.reshape(-1)[cell]
    pix_flat = pix[keep]
    h, w = frame.intrinsics.height, frame.intrinsics.width
    regions, crops = [], []
    for k in range(len(ids)):
        cells = np.argwhere(labels == k)
        mine = pix_flat[pix_region == k]
        if len(mine) == 0:
            continue
        v, u = np.divmod(mine, w)
        box = _square_box(int(v.min()), int(u.min()), int(v.max()) + 1, int(u.max()) + 1, crop_pad, h, w)
        centre, top, floor, yaw, grasp, half = _region_geometry(cells, view)
        mean_rgb = view.color[cells[:, 0], cells[:, 1]].astype(np.float32).mean(axis=0)
        regions.append(Region(len(regions), cells, box, centre, top, floor, yaw, grasp, mean_rgb, half))
        crops.append(np.ascontiguousarray(obs.color[box[0] : box[2], box[1] : box[3]]))
    if len(regions) != len(ids):  # a region no camera pixel sees (cannot happen with one view)
        labels = np.full_like(labels, -1)
        for r in regions:
            labels[r.cells[:, 0], r.cells[:, 1]] = r.index
    pixel_labels = np.full(h * w, -1, np.int64)
    pixel_labels[pix_flat] = labels.reshape(-1)[cell]
    return Proposals(view, labels, regions, crops, pixel_labels.reshape(h, w))
