"""The table plane, fitted from the depth, instead of trusting workspace.z_min and the calibration.

A camera pose off by 1 deg tilts the table's apparent surface by about 1.3 cm across the
workspace, and an offset moves it up or down: heights measured from z_min then swallow the
table into an object or cut objects off. :func:`level_to_table` fits the plane (RANSAC, then
least squares on its inliers) to the points near z_min inside the workspace and moves the
cloud so that the plane becomes z = z_min, turning about the workspace centre. The fitted
tilt and height are reported: a large one is a calibration problem the user should hear of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_grounding.perception.workspace import Workspace

BAND_M = 0.05  # candidate points lie within this of z_min
INLIER_M = 0.003  # a point this close to a plane supports it
MIN_SUPPORT = 0.25  # of the candidates; less and no plane is trusted
STRIDE = 7  # every STRIDE-th point is a candidate (an even, deterministic spread over the image)
SAMPLE = 2000  # candidate points used by RANSAC and the fit
ITERATIONS = 32  # with 60 % of the candidates on the table, all 32 miss it with p < 1e-4
# Smaller fits are the renderer's depth precision (0.02 deg, 0.4 mm on clean simulated frames):
# the cloud is left exactly as it is.
APPLY_TILT_DEG, APPLY_HEIGHT_M = 0.1, 0.0015
WARN_TILT_DEG, WARN_HEIGHT_M = 0.5, 0.005  # larger: tell the user their calibration is off


@dataclass(frozen=True)
class TablePlane:
    """The fitted table surface in the base frame."""

    normal: np.ndarray  # (3,) unit, z > 0
    centre: np.ndarray  # (3,) the plane's point above/below the workspace centre
    tilt_deg: float  # angle between the plane and the base frame's xy plane
    height_m: float  # the plane's height above workspace.z_min at the workspace centre
    support: float  # share of the candidate points within INLIER_M of the plane

    @property
    def applied(self) -> bool:
        return self.tilt_deg > APPLY_TILT_DEG or abs(self.height_m) > APPLY_HEIGHT_M

    def warning(self) -> str | None:
        """A sentence for the log when the fit says the camera calibration is off."""
        if self.tilt_deg <= WARN_TILT_DEG and abs(self.height_m) <= WARN_HEIGHT_M:
            return None
        where = "above" if self.height_m >= 0 else "below"
        return (f"the table appears tilted by {self.tilt_deg:.2f} deg and {abs(self.height_m) * 1000:.1f} mm {where} "
                "workspace.z_min: the camera pose (hand-eye calibration) or z_min looks off; heights are measured "
                "from the fitted table instead")

    def correction(self, workspace: Workspace, pivot: np.ndarray | None = None) -> np.ndarray:
        """4x4 transform that moves the plane onto z = z_min: a turn about ``pivot`` (default: the
        plane's point over the workspace centre), then a shift along z."""
        import cv2

        axis = np.cross(self.normal, [0.0, 0.0, 1.0])  # |axis| = sin(tilt)
        s = np.linalg.norm(axis)
        rot = cv2.Rodrigues(axis / s * np.arctan2(s, self.normal[2]))[0] if s > 1e-12 else np.eye(3)  # normal -> +z
        pivot = self.centre if pivot is None else np.asarray(pivot, dtype=float)
        out = np.eye(4)
        out[:3, :3] = rot
        out[:3, 3] = pivot - rot @ pivot
        out[2, 3] += workspace.z_min - (rot @ self.centre + out[:3, 3])[2]  # the plane to z_min
        return out


def _near_table(pts: np.ndarray, ws: Workspace, band: float) -> np.ndarray:
    """Mask of the points over the workspace within ``band`` of z_min."""
    return (np.abs(pts[:, 2] - ws.z_min) < band) & (pts[:, 0] >= ws.x_min) & (pts[:, 0] <= ws.x_max) \
        & (pts[:, 1] >= ws.y_min) & (pts[:, 1] <= ws.y_max)


def fit_table(xyz: np.ndarray, workspace: Workspace) -> TablePlane | None:
    """The dominant plane among the points near z_min over the workspace; None when too few."""
    ws = workspace
    pts = xyz[::STRIDE]
    idx = np.flatnonzero(_near_table(pts, ws, BAND_M))
    if len(idx) < 100:
        return None
    pts = pts[idx[:: max(1, len(idx) // SAMPLE)]]
    rng = np.random.default_rng(0)
    triples = pts[rng.integers(0, len(pts), (ITERATIONS, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-9
    if not ok.any():
        return None
    normals, triples = normals[ok] / length[ok, None], triples[ok]
    distance = np.abs((pts[None, :, :] - triples[:, None, 0, :]) @ normals[..., None])[..., 0]
    best = int(np.argmax((distance < INLIER_M).sum(1)))
    inliers = pts[distance[best] < INLIER_M]
    if len(inliers) < MIN_SUPPORT * len(pts):
        return None
    mean = inliers.mean(0)
    normal = np.linalg.svd(inliers - mean, full_matrices=False)[2][-1]  # least squares refit
    normal = normal if normal[2] > 0 else -normal
    support = float(np.mean(np.abs((pts - mean) @ normal) < INLIER_M))
    cx, cy = (ws.x_min + ws.x_max) / 2, (ws.y_min + ws.y_max) / 2
    cz = mean[2] - (normal[0] * (cx - mean[0]) + normal[1] * (cy - mean[1])) / normal[2]
    tilt = float(np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0))))
    return TablePlane(normal, np.array([cx, cy, cz]), tilt, float(cz - ws.z_min), support)


def level_to_table(xyz: np.ndarray, workspace: Workspace,
                   pivot: np.ndarray | None = None) -> tuple[np.ndarray, TablePlane | None]:
    """``xyz`` moved so the fitted table is z = z_min (unchanged when the fit is within noise of
    it, or when no plane is found), and the fit. ``pivot``: the point to turn about; the camera's
    position undoes a camera whose orientation is off, including the sideways shift a tilt
    makes far from it (the default, the workspace centre, leaves that shift)."""
    plane = fit_table(xyz, workspace)
    if plane is None or not plane.applied:
        return xyz, plane
    t = plane.correction(workspace, pivot)
    return xyz @ t[:3, :3].T + t[:3, 3], plane


def table_warnings(view) -> list[str]:
    """The fitted table's warning for a plan, if any (``view``: a TopDownView)."""
    warning = view.table.warning() if view.table is not None else None
    return [warning] if warning else []


# The simulated table as the renderer draws it: the colour the shipped models were trained with.
SIM_TABLE_RGB = (100.0, 95.0, 90.0)
TABLE_BAND_M = 0.003  # points this close to the levelled table are the table
GAIN_TOLERANCE = 0.03  # per-channel gains closer to 1 than this are left alone


def table_white_balance(xyz: np.ndarray, rgb: np.ndarray, workspace: Workspace,
                        reference: tuple[float, float, float] = SIM_TABLE_RGB) -> np.ndarray | None:
    """Per-channel gains that give the table (points on the levelled z_min plane) the
    ``reference`` colour: a camera's exposure gain and white balance are one multiplicative
    factor per channel, and the table is the largest surface of known colour in view. None
    when the gains are within GAIN_TOLERANCE of 1 or no table is seen."""
    on = _near_table(xyz[::STRIDE], workspace, TABLE_BAND_M)
    colours = rgb[::STRIDE]
    if on.sum() < 100:
        return None
    median = np.median(colours[on].astype(np.float32), axis=0)
    if np.any(median < 5.0):
        return None  # a black or saturated-dark channel: nothing to scale
    gains = np.asarray(reference, dtype=np.float32) / median
    return None if np.all(np.abs(gains - 1.0) < GAIN_TOLERANCE) else gains


def apply_gains(colours: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """uint8 colours (..., 3) times per-channel gains, rounded and clipped."""
    return np.clip(np.round(colours.astype(np.float32) * gains), 0, 255).astype(np.uint8)
