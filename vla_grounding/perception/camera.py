"""Pinhole camera model and the RGB-D frame every policy consumes.

Conventions (as ROS REP 103/105 and sensor_msgs/CameraInfo):
- camera optical frame: +z forward (viewing direction), +x right, +y down in the image;
- ``T_base_camera`` is the 4x4 homogeneous pose of the optical frame in the robot base
  frame, so ``p_base = T_base_camera @ p_camera``;
- pixel (u, v): u = column, v = row, origin at the top-left pixel's centre;
- depth in metres (float32), 0 or NaN where invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an undistorted (or rectified) image."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> CameraIntrinsics:
        k = np.asarray(k, dtype=float).reshape(3, 3)
        return cls(int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))

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
