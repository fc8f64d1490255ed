"""Pictures of what a policy decided: heatmaps over the top-down view, pick/place marks."""

from __future__ import annotations

import numpy as np

PICK_COLOR = np.array([255, 40, 40], dtype=np.uint8)
PLACE_COLOR = np.array([40, 120, 255], dtype=np.uint8)


def colormap(values: np.ndarray) -> np.ndarray:
    """(H, W) values -> (H, W, 3) uint8 (dark blue -> cyan -> yellow -> red), scaled to the map's range."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float32))
    lo, hi = float(v.min()), float(v.max())
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    r = np.clip(1.5 - np.abs(4 * t - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * t - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * t - 1), 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def blend(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Overlay a heatmap on an RGB image of the same height and width."""
    if heat.shape != image.shape[:2]:
        raise ValueError(f"heatmap {heat.shape} does not match image {image.shape[:2]}")
    return (image.astype(np.float32) * (1 - alpha) + colormap(heat).astype(np.float32) * alpha).astype(np.uint8)


def mark(image: np.ndarray, pixel: tuple[int, int], color: np.ndarray, radius: int = 4) -> np.ndarray:
    """Draw a hollow square around (row, col); pixels outside the image are ignored."""
    out = image.copy()
    r, c = int(pixel[0]), int(pixel[1])
    h, w = out.shape[:2]
    if not (0 <= r < h and 0 <= c < w):
        return out
    r0, r1, c0, c1 = max(r - radius, 0), min(r + radius, h - 1), max(c - radius, 0), min(c + radius, w - 1)
    out[r0, c0:c1 + 1] = out[r1, c0:c1 + 1] = color
    out[r0:r1 + 1, c0] = out[r0:r1 + 1, c1] = color
    return out


def plan_overlay(top_down_rgb: np.ndarray, heatmaps: dict[str, np.ndarray], pick_pixel, place_pixel) -> np.ndarray:
    """Side by side: the pick heatmap and the place heatmap over the top-down view, both marks drawn.

    ``heatmaps`` may hold any names; the first is drawn left, the second right (one map or
    none: the plain view is used).
    """
    maps = [m for m in heatmaps.values() if m is not None and m.shape == top_down_rgb.shape[:2]][:2]
    panels = [blend(top_down_rgb, m) for m in maps] or [top_down_rgb]
    if len(panels) == 1:
        panels.append(top_down_rgb)
    panels = [mark(mark(p, pick_pixel, PICK_COLOR), place_pixel, PLACE_COLOR) for p in panels]
    gap = np.full((top_down_rgb.shape[0], 4, 3), 255, dtype=np.uint8)
    return np.concatenate([panels[0], gap, panels[1]], axis=1)
