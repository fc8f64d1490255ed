"""sensor_msgs/Image and CameraInfo <-> numpy: cv_bridge where it works, plain numpy elsewhere.

cv_bridge is what a ROS install converts images with; the registry's wheels lack it, so the
wheel-only set-up reads images with numpy (zero-copy ``np.frombuffer``). Both paths share the
checks of the message's fields, so a malformed image gets the same reason either way.
Writing goes through ``bytes`` because assigning an ndarray to ``msg.data`` takes the
element-wise slow path (~50 ms per 640x480 frame).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image

from vla_grounding.perception.camera import DISTORTION_MODELS, CameraIntrinsics
from vla_grounding.perception.heightmap import DEPTH_ENCODINGS, depth_to_metres

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


def load_cv_bridge(required: bool = False) -> Any | None:
    """A working ``CvBridge``, or None where cv_bridge (or the OpenCV 4 it needs) is missing.

    ``required``: raise ValueError with the reason instead of returning None.
    """
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
        bridge.imgmsg_to_cv2(numpy_to_image(np.zeros((1, 1, 3), np.uint8), "bgr8"), "rgb8")  # conversions work
        return bridge
    except Exception as exc:  # ImportError, or CvBridgeError/KeyError from a mismatched OpenCV
        if required:
            raise ValueError(f"cv_bridge cannot convert images here ({type(exc).__name__}: {exc}); it needs "
                             "cv_bridge with OpenCV 4 (opencv-python < 5): use 'numpy' or 'auto'") from exc
        return None


def _check_image(msg: Image) -> tuple[np.dtype, int]:
    """The encoding's (dtype, channels); ValueError naming the field when the message is malformed."""
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
    return dtype, channels


def _bridge_reads(bridge: Any, msg: Image, dtype: np.dtype, channels: int) -> bool:
    """Whether ``bridge`` decodes ``msg`` correctly: cv_bridge 3.4 byte-swaps big-endian data with
    an ndarray method numpy 2 removed, and misreads rows padded by a non-whole number of pixels."""
    return bridge is not None and not msg.is_bigendian and msg.step % (channels * dtype.itemsize) == 0


def _with_bridge(bridge: Any, msg: Image, desired: str) -> np.ndarray:
    try:
        return np.asarray(bridge.imgmsg_to_cv2(msg, desired))
    except Exception as exc:  # CvBridgeError, TypeError, ...
        raise ValueError(f"cv_bridge could not convert a {msg.encoding} image to {desired}: {exc}") from exc


def image_to_numpy(msg: Image, bridge: Any | None = None) -> np.ndarray:
    """(H, W) or (H, W, C) array of the message's pixels; ValueError when it is malformed.

    ``bridge``: a CvBridge to convert with, where it reads the message right (else numpy).
    """
    dtype, channels = _check_image(msg)
    if _bridge_reads(bridge, msg, dtype, channels):
        return _with_bridge(bridge, msg, "passthrough")
    h, w = int(msg.height), int(msg.width)
    row_bytes = w * channels * dtype.itemsize
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * h).reshape(h, msg.step)[:, :row_bytes]
    arr = buf.view(dtype).reshape(h, w, channels) if buf.flags.c_contiguous else np.ascontiguousarray(buf).view(
        dtype).reshape(h, w, channels)
    return arr[:, :, 0] if channels == 1 else arr


def color_to_rgb(msg: Image, bridge: Any | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any supported colour encoding."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ValueError(f"colour image has encoding {msg.encoding!r}; expected one of {', '.join(COLOR_ENCODINGS)}")
    if msg.encoding != "8UC3" and _bridge_reads(bridge, msg, *_check_image(msg)):
        return np.ascontiguousarray(_with_bridge(bridge, msg, "rgb8"))
    arr = image_to_numpy(msg)
    if msg.encoding in ("bgr8", "bgra8"):
        arr = arr[:, :, 2::-1]
    return np.ascontiguousarray(arr[:, :, :3])


def depth_image_to_metres(msg: Image, bridge: Any | None = None) -> np.ndarray:
    """(H, W) float32 metres, NaN where invalid (0 or non-finite); 16UC1 is millimetres."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth image has encoding {msg.encoding!r}; expected 16UC1/mono16 (mm) or 32FC1 (m)")
    return depth_to_metres(image_to_numpy(msg, bridge), msg.encoding)


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
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if msg.width <= 0 or msg.height <= 0:
        raise ValueError(f"camera_info has no image size (width {msg.width}, height {msg.height})")
    if not np.all(np.isfinite(k)):
        raise ValueError(f"camera_info k has non-finite values (fx={fx}, fy={fy}, cx={cx}, cy={cy})")
    if not (fx > 0 and fy > 0):
        raise ValueError(f"camera_info k has non-positive focal lengths (fx={fx}, fy={fy}): is the camera calibrated?")
    if not (0 <= cx <= msg.width and 0 <= cy <= msg.height):
        raise ValueError(f"camera_info principal point (cx={cx:g}, cy={cy:g}) lies outside the "
                         f"{msg.width}x{msg.height} image")
    d = np.asarray(msg.d, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError(f"camera_info d (distortion) has non-finite values: {d.tolist()}")
    if not np.any(np.abs(d) > 0.0):
        return CameraIntrinsics.from_matrix(k, msg.width, msg.height)
    model = msg.distortion_model or "plumb_bob"
    if model not in DISTORTION_MODELS:
        raise ValueError(f"camera_info distortion_model {model!r} is not supported (plumb_bob, rational_polynomial): "
                         "feed rectified images (image_proc's rectify) and their camera_info")
    if len(d) != DISTORTION_MODELS[model]:
        raise ValueError(f"camera_info d has {len(d)} coefficients; {model} needs {DISTORTION_MODELS[model]}")
    return CameraIntrinsics.from_matrix(k, msg.width, msg.height, distortion=d)


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics, header=None) -> CameraInfo:
    msg = CameraInfo()
    if header is not None:
        msg.header = header
    msg.width, msg.height = intrinsics.width, intrinsics.height
    msg.distortion_model = intrinsics.distortion_model
    msg.d = [float(c) for c in intrinsics.distortion] if intrinsics.distorted else [0.0] * 5
    msg.k = [float(v) for v in intrinsics.matrix.ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [intrinsics.fx, 0.0, intrinsics.cx, 0.0, 0.0, intrinsics.fy, intrinsics.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg
