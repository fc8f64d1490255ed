"""The simulated RGB-D camera: pinhole intrinsics and a pose, rendered by pybullet.

pybullet wants OpenGL matrices; they are built here from the same ``CameraIntrinsics``
and ``T_base_camera`` (optical frame) that perception uses, so a pixel rendered here
back-projects exactly with perception's model. Depth comes back as the z-buffer and is
converted to metric depth along the optical axis (what a RealSense reports).
"""

from __future__ import annotations

import numpy as np

from vla_grounding.perception.camera import CameraIntrinsics

# RealSense D435-like colour stream at 640x480
DEFAULT_INTRINSICS = CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)
DEFAULT_EYE = (0.98, 0.0, 0.55)  # in front of the table, facing the robot, looking down ~47 deg
DEFAULT_TARGET = (0.47, 0.0, 0.0)
NEAR, FAR = 0.05, 5.0


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Optical-frame pose (+z forward, +x right, +y down) at ``eye`` looking at ``target``."""
    eye, target = np.asarray(eye, dtype=float), np.asarray(target, dtype=float)
    z = target - eye
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("camera eye and target coincide")
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=float))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("camera looks straight along 'up'; give another up vector")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z], axis=1)
    pose[:3, 3] = eye
    return pose


def default_camera_pose() -> np.ndarray:
    return look_at(DEFAULT_EYE, DEFAULT_TARGET)


def projection_matrix(k: CameraIntrinsics, near: float = NEAR, far: float = FAR) -> list[float]:
    """OpenGL projection (column-major) reproducing the pinhole model, pixel centres at integers."""
    w, h = k.width, k.height
    proj = np.array(
        [
            [2 * k.fx / w, 0.0, 1.0 - 2 * (k.cx + 0.5) / w, 0.0],
            [0.0, 2 * k.fy / h, 2 * (k.cy + 0.5) / h - 1.0, 0.0],
            [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
            [0.0, 0.0, -1.0, 0.0],
        ]
    )
    return proj.flatten(order="F").tolist()


def view_matrix(T_base_camera: np.ndarray) -> list[float]:
    """OpenGL view matrix (column-major) for an optical-frame pose."""
    gl_pose = np.asarray(T_base_camera, dtype=float) @ np.diag([1.0, -1.0, -1.0, 1.0])
    return np.linalg.inv(gl_pose).flatten(order="F").tolist()


def render(bc, k: CameraIntrinsics, T_base_camera: np.ndarray, renderer: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour (H, W, 3) uint8 and metric depth (H, W) float32 from the pybullet client."""
    _, _, rgba, zbuf, _ = bc.getCameraImage(
        k.width,
        k.height,
        viewMatrix=view_matrix(T_base_camera),
        projectionMatrix=projection_matrix(k),
        renderer=renderer,
        flags=bc.ER_NO_SEGMENTATION_MASK,
        shadow=0,
    )
    color = np.asarray(rgba, dtype=np.uint8).reshape(k.height, k.width, 4)[..., :3].copy()
    zbuf = np.asarray(zbuf, dtype=np.float64).reshape(k.height, k.width)
    depth = (FAR * NEAR / (FAR - (FAR - NEAR) * zbuf)).astype(np.float32)
    depth[zbuf >= 1.0] = 0.0  # nothing rendered there: invalid, as a real sensor reports
    return color, depth
