"""sensor_msgs/Image and CameraInfo <-> numpy, without cv_bridge.

Plain numpy works on every install (cv_bridge is missing from the wheels this package is
tested with, and it adds nothing for these encodings). Reading is zero-copy
(``np.frombuffer``); writing goes through ``bytes`` because assigning an ndarray to
``msg.data`` takes the element-wise slow path (~50 ms per 640x480 frame).
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from vla_grounding.perception.camera import CameraIntrinsics

# encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "8UC3")
DEPTH_ENCODINGS = ("16UC1", "32FC1")


def image_to_numpy(msg: Image) -> np.ndarray:
    """(H, W) or (H, W, C) view of the message's buffer; ValueError when it is malformed."""
    if msg.encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(ENCODINGS)}")
    dtype, channels = ENCODINGS[msg.encoding]
    h, w = int(msg.height), int(msg.width)
    if h <= 0 or w <= 0:
        raise ValueError(f"image has no pixels ({w}x{h})")
    row_bytes = w * channels * dtype.itemsize
    if msg.step < row_bytes:
        raise ValueError(f"image step {msg.step} < width*channels*bytes {row_bytes} for {msg.encoding}")
    if len(msg.data) < msg.step * h:
        raise ValueError(f"image data has {len(msg.data)} bytes, {msg.step * h} expected ({w}x{h} {msg.encoding})")
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * h).reshape(h, msg.step)[:, :row_bytes]
    arr = buf.view(dtype).reshape(h, w, channels) if buf.flags.c_contiguous else np.ascontiguousarray(buf).view(
        dtype).reshape(h, w, channels)
    return arr[:, :, 0] if channels == 1 else arr


def color_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any supported colour encoding."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ValueError(f"colour image has encoding {msg.encoding!r}; expected one of {', '.join(COLOR_ENCODINGS)}")
    arr = image_to_numpy(msg)
    if msg.encoding in ("bgr8", "bgra8"):
        arr = arr[:, :, 2::-1]
    return np.ascontiguousarray(arr[:, :, :3])


def depth_to_metres(msg: Image) -> np.ndarray:
    """(H, W) float32 metres, NaN where invalid (0 or non-finite); 16UC1 is millimetres."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth image has encoding {msg.encoding!r}; expected 16UC1 (mm) or 32FC1 (m)")
    arr = image_to_numpy(msg)
    metres = arr.astype(np.float32) * (0.001 if msg.encoding == "16UC1" else 1.0)
    metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
    return metres


def numpy_to_image(arr: np.ndarray, encoding: str, header=None) -> Image:
    """Image message holding a copy of ``arr`` (C-contiguous bytes)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}")
    dtype, channels = ENCODINGS[encoding]
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.ndim != (2 if channels == 1 else 3) or (channels > 1 and arr.shape[2] != channels):
        raise ValueError(f"array of shape {arr.shape} does not fit encoding {encoding}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(arr.shape[1] * channels * dtype.itemsize)
    msg.data = arr.tobytes()
    return msg


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """Pinhole intrinsics from CameraInfo.k; ValueError when it is missing or degenerate."""
    k = np.asarray(msg.k, dtype=float).reshape(3, 3)
    if msg.width <= 0 or msg.height <= 0 or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError(f"camera_info is empty or invalid (size {msg.width}x{msg.height}, fx={k[0, 0]}, fy={k[1, 1]})")
    if any(abs(d) > 1e-6 for d in msg.d):
        raise ValueError("camera_info has lens distortion: feed rectified images (image_proc) and their camera_info")
    return CameraIntrinsics.from_matrix(k, msg.width, msg.height)


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics, header=None) -> CameraInfo:
    msg = CameraInfo()
    if header is not None:
        msg.header = header
    msg.width, msg.height = intrinsics.width, intrinsics.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in intrinsics.matrix.ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [intrinsics.fx, 0.0, intrinsics.cx, 0.0, 0.0, intrinsics.fy, intrinsics.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg
