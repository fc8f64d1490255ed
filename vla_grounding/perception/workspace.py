"""The workspace box in the robot base frame and its top-down pixel grid.

Grid convention (CLIPort/Ravens): row index along base +y, column index along base +x,
pixel (row, col) covers [y_min + row*s, y_min + (row+1)*s) x [x_min + col*s, ...).
Pixel centres are used for pixel -> metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned box (metres, base frame) that poses must stay inside."""

    x_min: float = 0.25
    x_max: float = 0.75
    y_min: float = -0.25
    y_max: float = 0.25
    z_min: float = 0.0  # the table surface
    z_max: float = 0.28
    pixel_size: float = 0.003125  # metres per top-down pixel

    def __post_init__(self) -> None:
        if not (self.x_max > self.x_min and self.y_max > self.y_min and self.z_max > self.z_min):
            raise ValueError(f"workspace bounds are empty or inverted: {self}")
        if self.pixel_size <= 0:
            raise ValueError(f"pixel_size must be > 0, got {self.pixel_size}")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the top-down grid."""
        rows = int(round((self.y_max - self.y_min) / self.pixel_size))
        cols = int(round((self.x_max - self.x_min) / self.pixel_size))
        return rows, cols

    def contains(self, xyz: np.ndarray, margin: float = 0.0) -> bool:
        """True when the point is inside the box, shrunk by ``margin`` on x and y."""
        x, y, z = (float(c) for c in np.asarray(xyz).reshape(3))
        if not np.all(np.isfinite([x, y, z])):
            return False
        return (
            self.x_min + margin <= x <= self.x_max - margin
            and self.y_min + margin <= y <= self.y_max - margin
            and self.z_min <= z <= self.z_max
        )

    def pixel_to_xy(self, row: float, col: float) -> tuple[float, float]:
        """Centre of a grid pixel in metres (base frame)."""
        return (self.x_min + (col + 0.5) * self.pixel_size, self.y_min + (row + 0.5) * self.pixel_size)

    def xy_to_pixel(self, x: float, y: float) -> tuple[int, int]:
        """Grid pixel (row, col) containing a base-frame point; may lie outside the grid."""
        return int(np.floor((y - self.y_min) / self.pixel_size)), int(np.floor((x - self.x_min) / self.pixel_size))

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "pixel_size")}
