"""Fiducial markers at known places on the table: the sideways part of a calibration error.

The table fit (perception.table) undoes a camera pose whose tilt or height is off, but a
scene with nothing fixed in view cannot show a sideways shift or a turn about the vertical:
at 2 cm / 2 deg the scene moves a median 1.8 cm sideways (bench/results/calibration_shift.json).
ArUco markers lying on the table outside the workspace, at positions measured in the base
frame (e.g. by touching their centres with the tool), show it. :func:`refine_camera_pose`
levels the camera to the fitted table, finds each marker's centre where its pixel ray meets
the table, and fits the turn about z and the sideways shift that put the centres where they
were measured. Two markers or more give the turn; one gives only the shift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.heightmap import back_project
from vla_grounding.perception.table import TablePlane, fit_table
from vla_grounding.perception.workspace import Workspace

CELLS = {"DICT_4X4_50": 6, "DICT_5X5_50": 7, "DICT_6X6_50": 8, "DICT_APRILTAG_36h11": 8}  # across, border included
DICTIONARIES = tuple(CELLS)
OUTLIER_M = 0.05  # a marker this far from where it was measured, after the fit, is left out
WARN_SHIFT_M, WARN_YAW_DEG = 0.005, 0.5  # larger: the calibration is off and the user should hear it


@dataclass(frozen=True)
class FiducialLayout:
    """Square ArUco markers flat on the table: their ids and centres (x, y) in the base frame."""

    ids: tuple[int, ...]
    xy: tuple[tuple[float, float], ...]
    size: float = 0.05  # side of the black square (m)
    dictionary: str = "DICT_4X4_50"
    height: float = 0.0  # of the printed surface above the table (m): a board's thickness

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.xy) or not self.ids:
            raise ValueError(f"fiducials: {len(self.ids)} ids for {len(self.xy)} positions; give one (x, y) per id")
        if len(set(self.ids)) != len(self.ids) or min(self.ids) < 0:
            raise ValueError(f"fiducial ids must be distinct and >= 0, got {list(self.ids)}")
        if not self.size > 0:
            raise ValueError(f"fiducial size must be > 0 m, got {self.size}")
        if not 0.0 <= self.height < 0.05:
            raise ValueError(f"fiducial height above the table must be in [0, 0.05) m, got {self.height}")
        if self.dictionary not in DICTIONARIES:
            raise ValueError(f"fiducial dictionary {self.dictionary!r} is not one of {DICTIONARIES}")

    @classmethod
    def from_flat(cls, ids, xy, size: float = 0.05, dictionary: str = "DICT_4X4_50",
                  height: float = 0.0) -> FiducialLayout:
        """From ROS-parameter-shaped lists: ids [i0, i1, ...] and xy [x0, y0, x1, y1, ...]."""
        xy = [float(v) for v in xy]
        if len(xy) != 2 * len(ids):
            raise ValueError(f"fiducials.xy needs 2 numbers per id ({2 * len(ids)}), got {len(xy)}")
        return cls(tuple(int(i) for i in ids), tuple(zip(xy[::2], xy[1::2], strict=True)), float(size), dictionary,
                   float(height))

    def position(self, marker_id: int) -> np.ndarray:
        return np.asarray(self.xy[self.ids.index(marker_id)], dtype=float)


# Four markers beside the simulated workspace, where the default camera sees them and no task
# places objects (sim.env draws them when asked; the eval and sim_node use this layout).
SIM_LAYOUT = FiducialLayout(ids=(0, 1, 2, 3), xy=((0.32, 0.34), (0.32, -0.34), (0.55, 0.30), (0.55, -0.30)),
                            height=0.0005)


@dataclass(frozen=True)
class CameraRefinement:
    """What :func:`refine_camera_pose` found: the corrected pose and how far off the given one was."""

    T_base_camera: np.ndarray  # (4, 4) the refined pose of the optical frame
    table: TablePlane | None
    markers: tuple[int, ...]  # the ids used
    shift_m: float  # sideways shift the markers showed, at the workspace centre
    yaw_deg: float  # turn about the vertical the markers showed (0 with one marker)
    residual_m: float  # RMS distance of the used markers from their positions after the fit

    def warning(self) -> str | None:
        if self.shift_m <= WARN_SHIFT_M and abs(self.yaw_deg) <= WARN_YAW_DEG:
            return None
        return (f"fiducials {list(self.markers)} show the camera pose off by {self.shift_m * 1000:.1f} mm sideways and "
                f"{self.yaw_deg:.2f} deg about the vertical: the hand-eye calibration is off; poses use the corrected pose")


def marker_image(marker_id: int, dictionary: str = "DICT_4X4_50", pixels_per_cell: int = 16,
                 margin_cells: int = 1) -> np.ndarray:
    """The marker as a uint8 grey image, with a white quiet zone ``margin_cells`` wide."""
    import cv2

    code = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)),
                                         marker_id, CELLS[dictionary] * pixels_per_cell)
    return cv2.copyMakeBorder(code, *(4 * [margin_cells * pixels_per_cell]), cv2.BORDER_CONSTANT, value=255)


def detect_markers(color: np.ndarray, dictionary: str = "DICT_4X4_50") -> dict[int, np.ndarray]:
    """ArUco markers in an RGB image: id -> (4, 2) corner pixels (OpenCV's order, sub-pixel)."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(color, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)), params)
    corners, ids, _ = detector.detectMarkers(gray)
    if ids is None:
        return {}
    return {int(i): c.reshape(4, 2).astype(float) for i, c in zip(ids.ravel(), corners, strict=True)}


def _centre_ray(frame: RGBDFrame, corners: np.ndarray) -> np.ndarray:
    """The marker centre's ray in the camera frame: where the square's diagonals cross, undistorted."""
    x, y = frame.intrinsics.normalized_rays(corners[:, 0], corners[:, 1])
    p = np.stack([x, y, np.ones(4)], axis=1)
    centre = np.cross(np.cross(p[0], p[2]), np.cross(p[1], p[3]))  # the two diagonals' lines, met
    return centre / centre[2]


def _rigid_2d(measured: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (2, 2) and shift (2,) that best move ``measured`` onto ``known`` (least squares)."""
    if len(measured) == 1:
        return np.eye(2), known[0] - measured[0]
    mc, kc = measured.mean(0), known.mean(0)
    u, _, vt = np.linalg.svd((measured - mc).T @ (known - kc))
    rot = (u @ vt).T
    if np.linalg.det(rot) < 0:
        rot = (u @ np.diag([1.0, -1.0]) @ vt).T
    return rot, kc - rot @ mc


def refine_camera_pose(frame: RGBDFrame, workspace: Workspace, layout: FiducialLayout) -> CameraRefinement:
    """The camera pose that puts the table at z_min and the markers where ``layout`` says.

    ValueError, naming what is missing, when no table plane is found or none of the markers is seen."""
    reported = np.asarray(frame.T_base_camera, dtype=float)
    xyz, _, _ = back_project(frame)
    table = fit_table(xyz, workspace)
    if table is None:
        raise ValueError("no table plane in the depth over the workspace: the markers cannot be placed on it")
    level = table.correction(workspace, pivot=reported[:3, 3]) if table.applied else np.eye(4)
    pose = level @ reported
    seen = detect_markers(frame.color, layout.dictionary)
    ids = [i for i in layout.ids if i in seen]
    if not ids:
        raise ValueError(f"none of the fiducials {list(layout.ids)} ({layout.dictionary}) is seen in the image")
    measured = []
    for i in ids:
        ray = pose[:3, :3] @ _centre_ray(frame, seen[i])
        if ray[2] >= -1e-6:
            raise ValueError(f"fiducial {i}'s ray does not meet the table")
        s = (workspace.z_min + layout.height - pose[2, 3]) / ray[2]
        measured.append((pose[:3, 3] + s * ray)[:2])
    measured, known = np.array(measured), np.array([layout.position(i) for i in ids])
    rot, shift = _rigid_2d(measured, known)
    keep = np.linalg.norm(measured @ rot.T + shift - known, axis=1) <= OUTLIER_M
    if keep.sum() < len(ids) and keep.any():  # a marker moved or misread: fit again without it
        ids, measured, known = [i for i, k in zip(ids, keep, strict=True) if k], measured[keep], known[keep]
        rot, shift = _rigid_2d(measured, known)
    residual = float(np.sqrt(np.mean(np.sum((measured @ rot.T + shift - known) ** 2, axis=1))))
    fix = np.eye(4)
    fix[:2, :2], fix[:2, 3] = rot, shift
    centre = np.array([(workspace.x_min + workspace.x_max) / 2, (workspace.y_min + workspace.y_max) / 2])
    return CameraRefinement(
        T_base_camera=fix @ pose,
        table=table,
        markers=tuple(ids),
        shift_m=float(np.linalg.norm(rot @ centre + shift - centre)),
        yaw_deg=float(np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))),
        residual_m=residual,
    )


def refined(frame: RGBDFrame, workspace: Workspace, layout: FiducialLayout) -> tuple[RGBDFrame, CameraRefinement]:
    """``frame`` with the refined camera pose, and the refinement."""
    found = refine_camera_pose(frame, workspace, layout)
    return replace(frame, T_base_camera=found.T_base_camera), found
