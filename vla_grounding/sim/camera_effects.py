"""What a real RGB-D camera and its calibration do to the simulator's perfect render.

A :class:`CameraProfile` (data: ``vla_grounding/sim/cameras/<name>.yaml`` or any YAML file with the same
keys) adds stereo depth noise that grows with z^2 and its quantisation, holes in blobs and
at depth edges, a colour gain, white balance and pixel noise, and lens distortion (the image
is warped through OpenCV's model and the camera_info carries the coefficients).
:func:`miscalibrated_pose` is the hand-eye calibration error: the pose the policy is given,
off from the true one by a fixed translation and rotation in a random direction.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from vla_grounding.perception.camera import CameraIntrinsics, RGBDFrame, check_distortion

PROFILE_DIR = Path(__file__).resolve().parent / "cameras"


@dataclass(frozen=True)
class CameraProfile:
    """A camera's imperfections; every default is a perfect camera."""

    name: str = "ideal"
    depth_noise: float = 0.0  # depth sigma (m) at 1 m; it grows with z^2 (stereo)
    depth_step: float = 0.0  # depth quantisation (m)
    hole_fraction: float = 0.0  # share of pixels without depth, in blobs
    hole_blob_px: int = 16  # blob scale (pixels)
    edge_holes_px: int = 0  # pixels without depth on each side of a depth edge
    edge_jump: float = 0.02  # a depth change (m) between neighbours that counts as an edge
    gain: tuple[float, float] = (1.0, 1.0)  # colour gain range, drawn per frame
    white_balance: float = 0.0  # per-channel gain error, +- this fraction, drawn per frame
    pixel_noise: float = 0.0  # colour noise sigma (8-bit levels)
    distortion: tuple[float, ...] = ()  # OpenCV k1, k2, p1, p2, k3 (plumb_bob)

    def __post_init__(self) -> None:
        if not (0.0 <= self.hole_fraction < 1.0):
            raise ValueError(f"hole_fraction must be in [0, 1), got {self.hole_fraction}")
        if min(self.depth_noise, self.depth_step, self.pixel_noise, self.white_balance, self.edge_holes_px) < 0:
            raise ValueError(f"camera profile {self.name!r}: noise, steps, white balance and edge holes must be >= 0")
        if len(self.gain) != 2 or not (0.0 < self.gain[0] <= self.gain[1]):
            raise ValueError(f"gain must be [low, high] with 0 < low <= high, got {list(self.gain)}")
        check_distortion(self.distortion)

    @property
    def ideal(self) -> bool:
        return self == CameraProfile(name=self.name)

    def intrinsics(self, k: CameraIntrinsics) -> CameraIntrinsics:
        """The camera model a driver would publish: ``k`` with this lens's distortion."""
        return replace(k, distortion=tuple(self.distortion))

    def apply(self, color: np.ndarray, depth: np.ndarray, k: CameraIntrinsics,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A perfect pinhole render (colour uint8, depth metres, 0 = none) as this camera sees it."""
        color, depth = color.copy(), depth.astype(np.float32, copy=True)
        if any(self.distortion):
            color, depth = _distort(color, depth, self.intrinsics(k))
        valid = depth > 0
        if self.edge_holes_px:
            valid &= ~_depth_edges(depth, self.edge_jump, self.edge_holes_px)
        if self.hole_fraction:
            valid &= ~_blobs(depth.shape, self.hole_fraction, self.hole_blob_px, rng)
        if self.depth_noise:
            depth = depth + rng.normal(0.0, 1.0, depth.shape).astype(np.float32) * self.depth_noise * depth**2
        if self.depth_step:
            depth = np.round(depth / self.depth_step) * self.depth_step
        depth = np.where(valid & (depth > 0), depth, 0.0).astype(np.float32)
        if self.gain != (1.0, 1.0) or self.white_balance or self.pixel_noise:
            gain = rng.uniform(*self.gain) * (1.0 + rng.uniform(-self.white_balance, self.white_balance, 3))
            c = color.astype(np.float32) * gain.astype(np.float32)
            if self.pixel_noise:
                c += rng.normal(0.0, self.pixel_noise, c.shape).astype(np.float32)
            color = np.clip(np.round(c), 0, 255).astype(np.uint8)
        return color, depth

    @classmethod
    def load(cls, name_or_path: str | Path) -> CameraProfile:
        """A profile by name (``sim/cameras/<name>.yaml``; "ideal" or "" is a perfect camera) or YAML path."""
        import yaml

        text = str(name_or_path).strip()
        if text in ("", "ideal"):
            return cls()
        path = Path(text)
        if not path.suffix:
            path = PROFILE_DIR / f"{text}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.yaml")))
            raise ValueError(f"unknown camera profile {text!r}: no file {path}; known: ideal, {known}")
        data = yaml.safe_load(path.read_text()) or {}
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"camera profile {path.name} has unknown keys {sorted(unknown)}")
        data.setdefault("name", path.stem)
        for key in ("gain", "distortion"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)

    def as_dict(self) -> dict:
        return asdict(self)


def miscalibrated_pose(pose: np.ndarray, translation_m: float, rotation_deg: float,
                       rng: np.random.Generator) -> np.ndarray:
    """``pose`` moved by ``translation_m`` and turned by ``rotation_deg`` about its own origin,
    each in a random direction: what a hand-eye calibration that far off reports."""
    if translation_m < 0 or rotation_deg < 0:
        raise ValueError(f"calibration error must be >= 0, got {translation_m} m, {rotation_deg} deg")
    import cv2

    out = np.array(pose, dtype=float, copy=True)
    axis = rng.normal(size=3)
    rot, _ = cv2.Rodrigues(axis / np.linalg.norm(axis) * np.deg2rad(rotation_deg))
    direction = rng.normal(size=3)
    out[:3, :3] = rot @ out[:3, :3]
    out[:3, 3] += direction / np.linalg.norm(direction) * translation_m
    return out


def as_seen_by(frame: RGBDFrame, profile: CameraProfile, calibration_error: tuple[float, float],
               rng: np.random.Generator) -> RGBDFrame:
    """A perfect rendered ``frame`` as ``profile``'s camera sees it, carrying a pose off by
    ``calibration_error`` (metres, degrees): training data with the evaluation's imperfections."""
    color, depth = profile.apply(frame.color, frame.depth, frame.intrinsics, rng)
    pose = (miscalibrated_pose(frame.T_base_camera, *calibration_error, rng) if any(calibration_error)
            else np.array(frame.T_base_camera, dtype=float, copy=True))
    return replace(frame, color=color, depth=depth, intrinsics=profile.intrinsics(frame.intrinsics),
                   T_base_camera=pose)


def parse_calibration_error(text: str) -> tuple[float, float]:
    """"0.01,1.0" -> (0.01 m, 1.0 deg)."""
    try:
        t, r = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"calibration error must be 'METRES,DEGREES' (e.g. 0.01,1.0), got {text!r}") from None
    if not (np.isfinite(t) and np.isfinite(r)) or t < 0 or r < 0:
        raise ValueError(f"calibration error must be two finite numbers >= 0, got {text!r}")
    return t, r


@functools.lru_cache(maxsize=2)
def _distortion_maps(k: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel of the distorted image, where the pinhole render saw its ray."""
    v, u = np.mgrid[0 : k.height, 0 : k.width].astype(np.float64)
    x, y = k.normalized_rays(u, v)
    return (k.fx * x + k.cx).astype(np.float32), (k.fy * y + k.cy).astype(np.float32)


def _distort(color: np.ndarray, depth: np.ndarray, k: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Warp a pinhole render into the image a lens with ``k.distortion`` forms (no depth outside it).

    Depth along the optical axis of a point does not depend on where the lens puts its pixel,
    so depth is resampled (nearest, no mixing across edges), not recomputed."""
    import cv2

    map_u, map_v = _distortion_maps(k)
    color = cv2.remap(color, map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    depth = cv2.remap(depth, map_u, map_v, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return color, depth


def _depth_edges(depth: np.ndarray, jump: float, width: int) -> np.ndarray:
    import cv2

    edge = np.zeros(depth.shape, bool)
    edge[:, 1:] |= np.abs(np.diff(depth, axis=1)) > jump
    edge[1:, :] |= np.abs(np.diff(depth, axis=0)) > jump
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return cv2.dilate(edge.astype(np.uint8), kernel) > 0


def _blobs(shape: tuple[int, int], fraction: float, scale: int, rng: np.random.Generator) -> np.ndarray:
    """A mask covering ``fraction`` of the image in smooth random blobs about ``scale`` pixels wide."""
    import cv2

    h, w = shape
    coarse = rng.random((max(h // scale, 2), max(w // scale, 2))).astype(np.float32)
    field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return field > np.quantile(field, 1.0 - fraction)
