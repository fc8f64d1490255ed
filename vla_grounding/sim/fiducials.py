"""Printed ArUco markers lying on the simulated table, as a user would tape them down.

Each marker is a textured square (the black-bordered code plus a one-cell white margin) at the
layout's height above the table (at least 0.5 mm: no z-fighting with the table's surface),
without collision: objects never reach it (it lies outside the workspace).
"""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np

from vla_grounding.perception.fiducials import CELLS, FiducialLayout, marker_image

MIN_HEIGHT = 0.0005
MARGIN_CELLS = 1  # white quiet zone around the code, in code cells
PIXELS_PER_CELL = 16
# Squares per side of the marker's mesh: the renderer interpolates texture coordinates without
# perspective correction, which bends one big quad's code by about a pixel at the default camera.
GRID = 8


@functools.lru_cache(maxsize=64)
def marker_texture(marker_id: int, dictionary: str) -> str:
    """A PNG of the marker with its white margin (written once per process to a temp dir)."""
    import cv2

    path = os.path.join(_texture_dir(), f"{dictionary}_{marker_id}.png")
    cv2.imwrite(path, marker_image(marker_id, dictionary, PIXELS_PER_CELL, MARGIN_CELLS))
    return path


@functools.lru_cache(maxsize=1)
def _texture_dir() -> str:
    return tempfile.mkdtemp(prefix="vla_grounding_fiducials_")


def _grid(side: float, n: int) -> tuple[list, list, list]:
    """A square of ``side`` facing +z, in n x n squares: vertices, texture coordinates, triangles.
    Texture coordinates run so that the code reads unmirrored from above."""
    ticks = np.linspace(-side / 2, side / 2, n + 1)
    vertices = [[float(x), float(y), 0.0] for x in ticks[::-1] for y in ticks]
    uvs = [[j / n, i / n] for i in range(n + 1) for j in range(n + 1)]
    indices = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = i * (n + 1) + j, i * (n + 1) + j + 1, (i + 1) * (n + 1) + j + 1, (i + 1) * (n + 1) + j
            indices += [a, b, c, a, c, d]
    return vertices, uvs, indices


def add_markers(bc, layout: FiducialLayout, table_z: float = 0.0) -> list[int]:
    """One visual-only body per marker of ``layout``, centred where it says; the bodies' ids."""
    side = layout.size * (1 + 2 * MARGIN_CELLS / CELLS[layout.dictionary])
    vertices, uvs, indices = _grid(side, GRID)
    bodies = []
    for marker_id, (x, y) in zip(layout.ids, layout.xy, strict=True):
        vis = bc.createVisualShape(bc.GEOM_MESH, vertices=vertices, indices=indices, uvs=uvs,
                                   normals=[[0.0, 0.0, 1.0]] * len(vertices))
        uid = bc.createMultiBody(0.0, -1, vis, [float(x), float(y), table_z + max(layout.height, MIN_HEIGHT)])
        bc.changeVisualShape(uid, -1, textureUniqueId=bc.loadTexture(marker_texture(marker_id, layout.dictionary)),
                             rgbaColor=[1, 1, 1, 1])
        bodies.append(uid)
    return bodies

