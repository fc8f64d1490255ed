"""Pinhole camera model and the RGB-D frame every policy consumes.

Conventions (as ROS REP 103/105 and sensor_msgs/CameraInfo):
- camera optical frame: +z forward (viewing direction), +x right, +y down in the image;
- ``T_base_camera`` is the 4x4 homogeneous pose of the optical frame in the robot base
  frame, so ``p_base = T_base_camera @ p_camera``;
- pixel (u, v): u = column, v = row, origin at the top-left pixel's centre;
- depth in metres (float32), 0 or NaN where invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

# sensor_msgs/CameraInfo distortion models this package undistorts -> their number of
# coefficients (OpenCV's order)
DISTORTION_MODELS = {"plumb_bob": 5, "rational_polynomial": 8}


def check_distortion(coefficients) -> None:
    """ValueError unless ``coefficients`` is empty or a count OpenCV's lens model takes."""
    if len(coefficients) and len(coefficients) not in (4, 5, 8):
        raise ValueError(f"distortion needs 4, 5 or 8 OpenCV coefficients, got {len(coefficients)}")


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics, with the lens distortion of an unrectified image.

    ``distortion``: OpenCV's coefficients (k1, k2, p1, p2, k3[, k4, k5, k6]), as CameraInfo's
    ``d`` holds them for plumb_bob (5) and rational_polynomial (8); empty or all zero for an
    undistorted (rectified or simulated) image.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_distortion(self.distortion)

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def distorted(self) -> bool:
        return any(abs(c) > 0.0 for c in self.distortion)

    @property
    def distortion_model(self) -> str:
        return "rational_polynomial" if len(self.distortion) == 8 else "plumb_bob"

    def undistorted(self) -> CameraIntrinsics:
        return replace(self, distortion=())

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int, distortion=()) -> CameraIntrinsics:
        k = np.asarray(k, dtype=float).reshape(3, 3)
        return cls(int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                   tuple(float(c) for c in distortion))

    def normalized_rays(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (u, v) -> undistorted normalized image coordinates (x/z, y/z) of their rays."""
        u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
        if not self.distorted:
            return (u - self.cx) / self.fx, (v - self.cy) / self.fy
        import cv2

        pts = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
        # iterative undistortion, run until it converges (OpenCV's default stops after 5 steps)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-10)
        out = cv2.undistortPointsIter(pts, self.matrix, np.asarray(self.distortion, float), None, None, criteria)
        return out[:, 0, 0].reshape(u.shape), out[:, 0, 1].reshape(v.shape)

    def project(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalized image coordinates (x/z, y/z) -> pixels (u, v), through the lens distortion."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if not self.distorted:
            return self.fx * x + self.cx, self.fy * y + self.cy
        import cv2

        pts = np.stack([x.ravel(), y.ravel(), np.ones(x.size)], axis=1)
        uv, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), self.matrix, np.asarray(self.distortion, float))
        return uv[:, 0, 0].reshape(x.shape), uv[:, 0, 1].reshape(y.shape)

    @classmethod
    def from_fov(cls, width: int, height: int, vertical_fov_deg: float) -> CameraIntrinsics:
        """Square pixels, principal point at the centre (how simulators define cameras)."""
        f = 0.5 * height / np.tan(np.deg2rad(vertical_fov_deg) / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)


@dataclass
class RGBDFrame:
    """One synchronised colour + depth image with its camera model and pose."""

    color: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, 0/NaN invalid, aligned to colour
    intrinsics: CameraIntrinsics
    T_base_camera: np.ndarray  # (4, 4) pose of the optical frame in the base frame
    stamp: float = 0.0  # seconds (ROS time of the colour image)
    frame_id: str = "camera_color_optical_frame"
    extras: dict = field(default_factory=dict)
