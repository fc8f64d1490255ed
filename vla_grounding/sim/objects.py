"""Bodies of the tabletop built from pybullet primitives (no asset files needed).

pybullet_data has no bowl, stand or ring, so they are compounds of boxes and cylinders;
each compound keeps to <= 16 shapes (pybullet 3.2.7 crashes above that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_SIZE = 0.04  # CLIPort's 4 cm cube
BOWL_INNER_RADIUS = 0.048
BOWL_WALL = 0.006
BOWL_HEIGHT = 0.035
BOWL_FLOOR = 0.005  # floor thickness: a block in a bowl rests at this height
BOWL_SEGMENTS = 12
RING_SEGMENTS = 12
MAX_SHAPES = 16


@dataclass(frozen=True)
class Body:
    """A body the task knows by name (used in messages and instructions)."""

    uid: int
    name: str  # e.g. "red block"
    kind: str  # block | bowl | stand | ring | rod
    movable: bool
    radius: float  # footprint radius, for placement and oracle clearances
    height: float
    half: tuple[float, float, float] = (0.0, 0.0, 0.0)  # box half extents (zone rewards, grasp points)


def yaw_quat(bc, yaw: float) -> tuple[float, float, float, float]:
    return bc.getQuaternionFromEuler([0.0, 0.0, float(yaw)])


def _shape_arrays(bc, shapes: list[dict]) -> dict:
    kinds, radii, halves, lengths, positions, orns = [], [], [], [], [], []
    for s in shapes:
        box = s["type"] == "box"
        kinds.append(bc.GEOM_BOX if box else bc.GEOM_CYLINDER)
        halves.append(list(s["half"]) if box else [0.0, 0.0, 0.0])
        radii.append(0.0 if box else s["radius"])
        lengths.append(0.0 if box else s["length"])
        positions.append(list(s["pos"]))
        orns.append(list(yaw_quat(bc, s.get("yaw", 0.0))))
    return {
        "shapeTypes": kinds,
        "radii": radii,
        "halfExtents": halves,
        "lengths": lengths,
        "positions": positions,
        "orientations": orns,
    }


def _compound(
    bc, shapes: list[dict], rgba: list[list[float]], pos, yaw: float, mass: float, collision: list[dict] | None = None
) -> int:
    """One multi-shape body; ``shapes`` (dicts with type, size, local pose) are seen and,
    unless ``collision`` gives simpler ones (an empty list: none), also collide."""
    collision = shapes if collision is None else collision
    if max(len(shapes), len(collision)) > MAX_SHAPES:
        raise ValueError(f"{len(shapes)} shapes in one body; pybullet supports at most {MAX_SHAPES}")
    col = -1
    if collision:
        a = _shape_arrays(bc, collision)
        col = bc.createCollisionShapeArray(
            shapeTypes=a["shapeTypes"],
            radii=a["radii"],
            halfExtents=a["halfExtents"],
            lengths=a["lengths"],
            collisionFramePositions=a["positions"],
            collisionFrameOrientations=a["orientations"],
        )
    a = _shape_arrays(bc, shapes)
    vis = bc.createVisualShapeArray(
        shapeTypes=a["shapeTypes"],
        radii=a["radii"],
        halfExtents=a["halfExtents"],
        lengths=a["lengths"],
        visualFramePositions=a["positions"],
        visualFrameOrientations=a["orientations"],
    )
    uid = bc.createMultiBody(
        baseMass=mass,
        baseCollisionShapeIndex=col,
        baseVisualShapeIndex=vis,
        basePosition=list(pos),
        baseOrientation=yaw_quat(bc, yaw),
    )
    for i, colour in enumerate(rgba):
        bc.changeVisualShape(uid, -1, shapeIndex=i, rgbaColor=colour)
    return uid


def add_box(bc, half: tuple[float, float, float], rgba: list[float], pos, yaw: float = 0.0, mass: float = 0.0) -> int:
    col = bc.createCollisionShape(bc.GEOM_BOX, halfExtents=list(half))
    vis = bc.createVisualShape(bc.GEOM_BOX, halfExtents=list(half), rgbaColor=rgba)
    return bc.createMultiBody(mass, col, vis, list(pos), yaw_quat(bc, yaw))


def add_block(bc, rgba: list[float], xy, yaw: float, size: float = BLOCK_SIZE, mass: float = 0.05,
              half: tuple[float, float, float] | None = None) -> int:
    """A cube (or a cuboid of ``half`` extents) resting on the table; origin at its centre."""
    half = (size / 2,) * 3 if half is None else half
    uid = add_box(bc, half, rgba, (xy[0], xy[1], half[2]), yaw, mass)
    bc.changeDynamics(uid, -1, lateralFriction=0.8, spinningFriction=0.001, rollingFriction=0.0001)
    return uid


TRAY_FLOOR = 0.005  # a packed box rests this high
TRAY_WALL = (0.006, 0.035)  # wall thickness, height


def add_tray(bc, rgba: list[float], inner: tuple[float, float], xy, yaw: float) -> int:
    """A static open box (CLIPort's brown container): a floor and four walls around ``inner`` (x, y)."""
    (ix, iy), (t, h) = inner, TRAY_WALL
    ox, oy = ix / 2 + t, iy / 2 + t
    shapes = [{"type": "box", "half": (ox, oy, TRAY_FLOOR / 2), "pos": (0.0, 0.0, TRAY_FLOOR / 2)}]
    for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        half = (t / 2, oy, h / 2) if sx else (ox, t / 2, h / 2)
        shapes.append({"type": "box", "half": half, "pos": (sx * (ix / 2 + t / 2), sy * (iy / 2 + t / 2), h / 2)})
    return _compound(bc, shapes, [rgba] * len(shapes), (xy[0], xy[1], 0.0), yaw, 0.0)


def add_bowl(bc, rgba: list[float], xy, yaw: float = 0.0) -> int:
    """A static bowl: a floor disc and a ring of wall boxes (origin on the table)."""
    r_out = BOWL_INNER_RADIUS + BOWL_WALL
    shapes = [{"type": "cyl", "radius": r_out, "length": BOWL_FLOOR, "pos": (0, 0, BOWL_FLOOR / 2)}]
    seg = 2 * r_out * np.tan(np.pi / BOWL_SEGMENTS) + 0.002
    r_mid = BOWL_INNER_RADIUS + BOWL_WALL / 2
    for k in range(BOWL_SEGMENTS):
        a = 2 * np.pi * k / BOWL_SEGMENTS
        shapes.append(
            {
                "type": "box",
                "half": (BOWL_WALL / 2, seg / 2, BOWL_HEIGHT / 2),
                "pos": (r_mid * np.cos(a), r_mid * np.sin(a), BOWL_HEIGHT / 2),
                "yaw": a,
            }
        )
    return _compound(bc, shapes, [rgba] * len(shapes), (xy[0], xy[1], 0.0), yaw, 0.0)


def ring_shapes(r_in: float, r_out: float, height: float) -> list[dict]:
    seg = 2 * r_out * np.tan(np.pi / RING_SEGMENTS)
    r_mid = (r_in + r_out) / 2
    return [
        {
            "type": "box",
            "half": ((r_out - r_in) / 2, seg / 2, height / 2),
            "pos": (r_mid * np.cos(a), r_mid * np.sin(a), 0.0),
            "yaw": a,
        }
        for a in (2 * np.pi * k / RING_SEGMENTS for k in range(RING_SEGMENTS))
    ]


def add_ring(
    bc, rgba: list[float], pos, yaw: float, r_in: float, r_out: float, height: float, mass: float = 0.05
) -> int:
    """A dynamic ring (Hanoi disk); origin at its centre.

    It looks like a ring but collides as a solid disc (rods are visual only): compound
    ring-on-ring contacts cost ~4 ms per physics step, a disc ~0.1 ms, and the Ravens
    reward only looks at where the disc is.
    """
    solid = [{"type": "cyl", "radius": r_out, "length": height, "pos": (0.0, 0.0, 0.0)}]
    uid = _compound(bc, ring_shapes(r_in, r_out, height), [rgba] * RING_SEGMENTS, pos, yaw, mass, collision=solid)
    bc.changeDynamics(uid, -1, lateralFriction=0.6)
    return uid


def add_stand(
    bc,
    parts: list[tuple[tuple[float, float], list[float]]],
    half: tuple[float, float, float],
    pose_xy,
    yaw: float,
    rod: tuple[float, float] | None = None,
) -> int:
    """A static stand of coloured tiles (local xy offsets), optionally with a rod on each tile."""
    shapes, colours = [], []
    for (dx, dy), colour in parts:
        shapes.append({"type": "box", "half": half, "pos": (dx, dy, half[2])})
        colours.append(colour)
    tiles = list(shapes)
    if rod is not None:  # rods are seen, not felt (see add_ring)
        radius, length = rod
        for (dx, dy), colour in parts:
            shapes.append(
                {"type": "cyl", "radius": radius, "length": length, "pos": (dx, dy, 2 * half[2] + length / 2)}
            )
            colours.append(colour)
    return _compound(bc, shapes, colours, (pose_xy[0], pose_xy[1], 0.0), yaw, 0.0, collision=tiles)


def local_to_world(xy, yaw: float, local) -> np.ndarray:
    """2-D point in a body's frame (yaw about z) to world xy."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([xy[0] + c * local[0] - s * local[1], xy[1] + s * local[0] + c * local[1]])
