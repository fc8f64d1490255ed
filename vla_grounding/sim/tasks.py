"""CLIPort's benchmark tasks: scenes, language goals, scripted oracles, Ravens rewards.

A task is a list of goal steps. Each step has objects, targets, a match matrix (which
object may go to which target) and a share of the episode's reward. Reward follows
Ravens: an object counts when its centre is within ``pos_eps`` (xy) of a matching target
and its yaw within 15 deg, modulo the object's symmetry (0 = yaw ignored), or, for zone
goals, by the fraction of its points inside the zone. A step's reward is paid as it is
earned (partial credit), and the episode's rewards sum to 1 when solved.

The oracle reads privileged state (body poses): it picks the unmatched object farthest
from its nearest free target, on its top surface, and places it so that the object's
bottom lands on the target (Ravens' oracle, without the image sampling).

Seeds: even seeds are training episodes, odd seeds test episodes (Ravens). Unseen-colour
tasks draw from CLIPort's TRAIN_COLORS on even seeds and EVAL_COLORS on odd seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vla_grounding.perception.workspace import Workspace
from vla_grounding.policy import PickPlacePlan
from vla_grounding.sim import objects as ob
from vla_grounding.sim.colors import COLORS, EVAL_COLORS, TRAIN_COLORS, brown_shade, rgba
from vla_grounding.sim.robot import wrap_angle

ROT_EPS = np.deg2rad(15.0)


@dataclass
class Target:
    xy: np.ndarray  # (2,) base frame
    yaw: float = 0.0
    z: float = 0.0  # where a placed object's bottom rests


@dataclass
class Zone:
    xy: np.ndarray
    yaw: float
    size: tuple[float, float]  # full x/y extents in the zone frame
    z_max: float = float("inf")  # points above do not count (Ravens' zone_bounds: no stuffing by stacking)


@dataclass
class Goal:
    objects: list[int]  # body uids
    symmetries: list[float]  # radians; 0: yaw does not matter
    matches: np.ndarray  # (n_objects, n_targets) bool: object i may go to target j
    targets: list[Target]
    max_reward: float
    instruction: str
    rotations: bool = True  # the oracle turns objects to the target yaw
    pos_eps: float = 0.01
    metric: str = "pose"  # "pose" or "zone"
    zones: list[Zone] = field(default_factory=list)


class SceneFull(RuntimeError):
    """The sampled scene left no room for a required object (the episode is redrawn)."""


class Scene:
    """The bodies of one episode, their names, and collision-free placement."""

    def __init__(self, bc, workspace: Workspace):
        self.bc = bc
        self.workspace = workspace
        self.bodies: dict[int, ob.Body] = {}
        self._footprints: list[tuple[np.ndarray, float]] = []

    def add(
        self,
        uid: int,
        name: str,
        kind: str,
        movable: bool,
        radius: float,
        height: float,
        half: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> int:
        self.bodies[uid] = ob.Body(uid, name, kind, movable, radius, height, half)
        return uid

    def sample_pose(
        self, rng: np.random.Generator, radius: float, margin: float = 0.01, tries: int = 300
    ) -> tuple[np.ndarray, float] | None:
        """A random xy (footprint disc of ``radius`` free and inside the workspace) and yaw."""
        ws = self.workspace
        lo = np.array([ws.x_min, ws.y_min]) + radius + margin
        hi = np.array([ws.x_max, ws.y_max]) - radius - margin
        if np.any(hi <= lo):
            raise ValueError(f"a footprint of radius {radius} m does not fit in the workspace {ws}")
        for _ in range(tries):
            xy = rng.uniform(lo, hi)
            if all(np.linalg.norm(xy - c) > radius + r + margin for c, r in self._footprints):
                self._footprints.append((xy, radius))
                return xy, float(rng.uniform(0.0, 2 * np.pi))
        return None

    def place(self, rng: np.random.Generator, radius: float) -> tuple[np.ndarray, float]:
        """Like sample_pose for objects the task cannot do without."""
        pose = self.sample_pose(rng, radius)
        if pose is None:
            raise SceneFull(f"no free spot of radius {radius} m left")
        return pose

    def pose(self, uid: int) -> tuple[np.ndarray, float]:
        """Centre position and yaw of a body."""
        pos, orn = self.bc.getBasePositionAndOrientation(uid)
        return np.array(pos), float(self.bc.getEulerFromQuaternion(orn)[2])

    def top_z(self, uid: int) -> float:
        return float(self.bc.getAABB(uid)[1][2])

    def grasp_point(self, uid: int) -> np.ndarray:
        """A point on the body's top surface for the suction cup."""
        pos, yaw = self.pose(uid)
        body = self.bodies[uid]
        xy = pos[:2]
        if body.kind == "ring":  # on the annulus, not over the hole
            xy = ob.local_to_world(xy, yaw, (body.radius * 0.5 + body.half[0] * 0.5, 0.0))
        return np.array([xy[0], xy[1], self.top_z(uid)])

    def describe(self) -> list[dict]:
        out = []
        for uid, body in self.bodies.items():
            pos, yaw = self.pose(uid)
            out.append(
                {"uid": uid, "name": body.name, "kind": body.kind, "movable": body.movable, "position": pos, "yaw": yaw}
            )
        return out


class Task:
    """Base class: subclasses build the scene and the goal steps in ``build``."""

    name = "task"
    max_steps = 10
    completed_instruction = "task completed."

    def __init__(self) -> None:
        self.goals: list[Goal] = []
        self.progress = 0.0
        self.rewards = 0.0
        self.scene: Scene | None = None

    # -- episode ------------------------------------------------------------------------

    def reset(self, scene: Scene, rng: np.random.Generator, mode: str) -> None:
        self.goals, self.progress, self.rewards, self.scene, self.mode = [], 0.0, 0.0, scene, mode
        self.build(scene, rng)

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def colors(self) -> tuple[str, ...]:
        """The colours this task draws from (CLIPort's seen colours unless a task says otherwise)."""
        return TRAIN_COLORS

    @property
    def instruction(self) -> str:
        return self.goals[0].instruction if self.goals else self.completed_instruction

    def done(self) -> bool:
        return not self.goals or self.rewards > 0.99

    # -- reward (Ravens) ----------------------------------------------------------------

    def is_match(self, uid: int, target: Target, symmetry: float, pos_eps: float) -> bool:
        pos, yaw = self.scene.pose(uid)
        if np.linalg.norm(pos[:2] - target.xy) >= pos_eps:
            return False
        if symmetry > 0:
            diff = abs(yaw - target.yaw) % symmetry
            diff = min(diff, symmetry - diff)
            return diff < ROT_EPS
        return True

    def step_reward(self, goal: Goal) -> float:
        if goal.metric == "zone":
            return goal.max_reward * self.zone_fraction(goal)
        reward = 0.0
        for i, uid in enumerate(goal.objects):
            for j in np.flatnonzero(goal.matches[i]):
                if self.is_match(uid, goal.targets[j], goal.symmetries[i], goal.pos_eps):
                    reward += goal.max_reward / len(goal.objects)
                    break
        return reward

    def zone_fraction(self, goal: Goal) -> float:
        """Fraction of the objects' sample points (a 3x3x3 grid on their boxes) inside any zone."""
        inside = total = 0
        grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
        for uid in goal.objects:
            pos, orn = self.scene.bc.getBasePositionAndOrientation(uid)
            rot = np.array(self.scene.bc.getMatrixFromQuaternion(orn)).reshape(3, 3)
            pts = (grid * np.array(self.scene.bodies[uid].half)) @ rot.T + np.array(pos)
            hit = np.zeros(len(pts), dtype=bool)
            for zone in goal.zones:
                c, s = np.cos(zone.yaw), np.sin(zone.yaw)
                d = pts[:, :2] - zone.xy
                local = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], -1)
                hit |= np.all(np.abs(local) < np.array(zone.size) / 2, axis=1) & (pts[:, 2] <= zone.z_max)
            inside += int(hit.sum())
            total += len(pts)
        return inside / max(total, 1)

    def reward(self) -> tuple[float, dict]:
        """Delta reward since the last call; moves on to the next goal step when one is complete."""
        if not self.goals:
            return 0.0, {"goal_steps_left": 0}
        goal = self.goals[0]
        earned = self.step_reward(goal)
        delta = self.progress + earned - self.rewards
        self.rewards = self.progress + earned
        if abs(goal.max_reward - earned) < 0.01:
            self.progress += goal.max_reward
            self.goals.pop(0)
        return float(delta), {"goal_steps_left": len(self.goals), "step_reward": earned}

    # -- oracle -------------------------------------------------------------------------

    def target_z(self, goal: Goal, j: int, uid: int) -> float:
        """Height where the object's bottom should go at target ``j`` (tasks may measure it)."""
        return goal.targets[j].z

    def oracle(self, workspace: Workspace) -> PickPlacePlan | None:
        """The next pick and place from privileged state, or None when nothing is left to do."""
        if not self.goals:
            return None
        goal, scene = self.goals[0], self.scene
        matches = goal.matches.copy()
        for i, uid in enumerate(goal.objects):  # targets already taken
            for j in np.flatnonzero(matches[i]):
                if self.is_match(uid, goal.targets[j], goal.symmetries[i], goal.pos_eps):
                    matches[i, :] = False
                    matches[:, j] = False
        best, best_dist = None, 0.0
        for i, uid in enumerate(goal.objects):
            js = np.flatnonzero(matches[i])
            if len(js) == 0:
                continue
            pos, _ = scene.pose(uid)
            dists = [np.linalg.norm(goal.targets[j].xy - pos[:2]) for j in js]
            k = int(np.argmin(dists))
            if dists[k] > best_dist:
                best, best_dist = (i, int(js[k])), dists[k]
        if best is None:
            return None
        i, j = best
        uid, target = goal.objects[i], goal.targets[j]
        pos, yaw = scene.pose(uid)
        pick = scene.grasp_point(uid)
        turn = 0.0
        if goal.rotations and goal.symmetries[i] > 0:
            sym = goal.symmetries[i]
            turn = (target.yaw - yaw) % sym
            if turn > sym / 2:
                turn -= sym
        c, s = np.cos(turn), np.sin(turn)
        off = pick[:2] - pos[:2]
        place_xy = target.xy + np.array([c * off[0] - s * off[1], s * off[0] + c * off[1]])
        place = np.array([place_xy[0], place_xy[1], self.target_z(goal, j, uid)])
        name = scene.bodies[uid].name
        return PickPlacePlan(
            pick_position=pick,
            place_position=place,
            pick_yaw=wrap_angle(yaw),
            place_yaw=wrap_angle(yaw + turn),
            pick_pixel=workspace.xy_to_pixel(pick[0], pick[1]),
            place_pixel=workspace.xy_to_pixel(place[0], place[1]),
            policy="oracle",
            instruction=self.instruction,
            pick_phrase=name,
        )


# -- tasks ------------------------------------------------------------------------------

BLOCK_RADIUS = ob.BLOCK_SIZE / np.sqrt(2)
BOWL_RADIUS = ob.BOWL_INNER_RADIUS + ob.BOWL_WALL
BLOCK_HALF = (ob.BLOCK_SIZE / 2,) * 3


class PutBlocksInBowlsUnseen(Task):
    """put the {pick} blocks in a {place} bowl: 1-3 bowls, 1..n_bowls blocks, up to 6 distractors."""

    name = "put-blocks-in-bowls-unseen"
    completed_instruction = "done placing blocks in bowls."
    template = "put the {pick} blocks in a {place} bowl"

    def colors(self) -> tuple[str, ...]:
        return TRAIN_COLORS if self.mode == "train" else EVAL_COLORS

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        bc = scene.bc
        n_bowls = int(rng.integers(1, 4))
        n_blocks = int(rng.integers(1, n_bowls + 1))
        pick_c, place_c = (str(c) for c in rng.choice(self.colors(), 2, replace=False))
        targets = []
        for _ in range(n_bowls):
            xy, yaw = scene.place(rng, BOWL_RADIUS)
            scene.add(
                ob.add_bowl(bc, rgba(place_c), xy, yaw), f"{place_c} bowl", "bowl", False, BOWL_RADIUS, ob.BOWL_HEIGHT
            )
            targets.append(Target(xy, yaw, ob.BOWL_FLOOR))
        blocks = []
        for _ in range(n_blocks):
            xy, yaw = scene.place(rng, BLOCK_RADIUS)
            uid = ob.add_block(bc, rgba(pick_c), xy, yaw)
            blocks.append(scene.add(uid, f"{pick_c} block", "block", True, BLOCK_RADIUS, ob.BLOCK_SIZE, BLOCK_HALF))
        self.goals.append(
            Goal(
                blocks,
                [0.0] * n_blocks,
                np.ones((n_blocks, n_bowls), dtype=bool),
                targets,
                1.0,
                self.template.format(pick=pick_c, place=place_c),
                pos_eps=0.05,
            )
        )
        self.max_steps = n_blocks + 1  # one mistake allowed (CLIPort)
        others = [c for c in COLORS if c not in (pick_c, place_c)]
        for n in range(6):  # distractors, as many as fit
            is_block = rng.random() > 0.5
            color = others[n % len(others)]
            pose = scene.sample_pose(rng, BLOCK_RADIUS if is_block else BOWL_RADIUS, tries=50)
            if pose is None:
                continue
            if is_block:
                uid = ob.add_block(bc, rgba(color), pose[0], pose[1])
                scene.add(uid, f"{color} block", "block", True, BLOCK_RADIUS, ob.BLOCK_SIZE, BLOCK_HALF)
            else:
                uid = ob.add_bowl(bc, rgba(color), pose[0], pose[1])
                scene.add(uid, f"{color} bowl", "bowl", False, BOWL_RADIUS, ob.BOWL_HEIGHT)


class PutBlocksInBowlsSeen(PutBlocksInBowlsUnseen):
    name = "put-blocks-in-bowls-seen"

    def colors(self) -> tuple[str, ...]:
        return TRAIN_COLORS


STAND_SHADES = (1.3, 1.0, 0.7)  # lightest, middle, darkest brown


class StackBlockPyramidSeq(Task):
    """put the {pick} block on {place}: a 3-2-1 pyramid on a three-tile stand, one block per step."""

    name = "stack-block-pyramid-seq"
    max_steps = 12
    completed_instruction = "done stacking block pyramid."
    template = "put the {pick} block on {place}"

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        bc = scene.bc
        tile = 0.025  # tile half size; tiles 5 cm apart along the stand's y
        xy, yaw = scene.place(rng, 0.085)
        parts = [((0.0, dy), brown_shade(s)) for dy, s in zip((-0.05, 0.0, 0.05), STAND_SHADES, strict=True)]
        scene.add(ob.add_stand(bc, parts, (tile, tile, 0.005), xy, yaw), "stand", "stand", False, 0.085, 0.01)
        names = list(self.colors())
        rng.shuffle(names)
        blocks = []
        for c in names[:6]:
            bxy, byaw = scene.place(rng, BLOCK_RADIUS)
            uid = ob.add_block(bc, rgba(c), bxy, byaw)
            blocks.append(scene.add(uid, f"{c} block", "block", True, BLOCK_RADIUS, ob.BLOCK_SIZE, BLOCK_HALF))
        local = [(-0.05, 0.01), (0.0, 0.01), (0.05, 0.01), (-0.025, 0.05), (0.025, 0.05), (0.0, 0.09)]
        places = [
            "the lightest brown block",
            "the middle brown block",
            "the darkest brown block",
            f"the {names[0]} and {names[1]} blocks",
            f"the {names[1]} and {names[2]} blocks",
            f"the {names[3]} and {names[4]} blocks",
        ]
        for k, ((dy, z), place) in enumerate(zip(local, places, strict=True)):
            target = Target(ob.local_to_world(xy, yaw, (0.0, dy)), yaw, z)
            self.goals.append(
                Goal(
                    [blocks[k]],
                    [np.pi / 2],
                    np.ones((1, 1), dtype=bool),
                    [target],
                    1 / 6,
                    self.template.format(pick=names[k], place=place),
                )
            )


HANOI_ROD_Y = (-0.1, 0.0, 0.1)
HANOI_ROD_NAMES = ("lighter brown side", "middle of the stand", "darker brown side")
HANOI_DISK = 0.015  # disk thickness
HANOI_BASE = 0.01  # stand thickness
HANOI_R_IN = 0.012
HANOI_ROD = (0.006, 0.06)  # radius, length


class TowersOfHanoiSeq(Task):
    """move the {obj} ring to the {loc}: three rings, the 7-move solution, one move per step."""

    name = "towers-of-hanoi-seq"
    max_steps = 14
    completed_instruction = "solved towers of hanoi."
    template = "move the {obj} ring to the {loc}"

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        bc = scene.bc
        xy, yaw = scene.place(rng, 0.16)
        parts = [((0.0, dy), brown_shade(s)) for dy, s in zip(HANOI_ROD_Y, STAND_SHADES, strict=True)]
        scene.add(
            ob.add_stand(bc, parts, (0.055, 0.05, HANOI_BASE / 2), xy, yaw, rod=HANOI_ROD),
            "stand",
            "stand",
            False,
            0.16,
            HANOI_BASE + HANOI_ROD[1],
        )
        self.rods = [ob.local_to_world(xy, yaw, (0.0, dy)) for dy in HANOI_ROD_Y]
        names = [str(c) for c in rng.choice(self.colors(), 3, replace=False)]
        disks = []
        for i in range(3):  # disk 0 is the smallest, on top
            r_out = 0.029 + 0.008 * i
            z = HANOI_BASE + HANOI_DISK * (2 - i) + HANOI_DISK / 2
            pos = (self.rods[0][0], self.rods[0][1], z)
            uid = ob.add_ring(bc, rgba(names[i]), pos, yaw, HANOI_R_IN, r_out, HANOI_DISK)
            disks.append(
                scene.add(uid, f"{names[i]} ring", "ring", True, HANOI_R_IN, HANOI_DISK, (r_out, r_out, HANOI_DISK / 2))
            )
        moves: list[tuple[int, int]] = []  # (disk, to rod)

        def solve(n: int, src: int, dst: int, via: int) -> None:
            if n < 0:
                return
            solve(n - 1, src, via, dst)
            moves.append((n, dst))
            solve(n - 1, via, dst, src)

        solve(2, 0, 2, 1)
        for disk, rod in moves:
            target = Target(self.rods[rod].copy(), yaw, HANOI_BASE)
            self.goals.append(
                Goal(
                    [disks[disk]],
                    [0.0],
                    np.ones((1, 1), dtype=bool),
                    [target],
                    1 / len(moves),
                    self.template.format(obj=names[disk], loc=HANOI_ROD_NAMES[rod]),
                )
            )

    def target_z(self, goal: Goal, j: int, uid: int) -> float:
        """On top of the rings already on that rod."""
        xy = goal.targets[j].xy
        n = 0
        for other, body in self.scene.bodies.items():
            if body.kind == "ring" and other != uid and np.linalg.norm(self.scene.pose(other)[0][:2] - xy) < 0.01:
                n += 1
        return HANOI_BASE + HANOI_DISK * n


def split_box(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator, min_side: float = 0.05,
              gap: float = 0.01) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut the rectangle [lo, hi] (x, y) into boxes no side of which is under ``min_side``, ``gap``
    apart: a side longer than twice ``min_side`` is cut at a random place (Ravens' KD split)."""
    size = hi - lo
    can = size > 2 * min_side
    if not can.any():
        return [(lo, hi)]
    axis = int(rng.choice(np.flatnonzero(can)))
    cut = lo[axis] + min_side + rng.random() * (size[axis] - 2 * min_side)
    hi1, lo2 = hi.copy(), lo.copy()
    hi1[axis], lo2[axis] = cut - gap / 2, cut + gap / 2
    return split_box(lo, hi1, rng, min_side, gap) + split_box(lo2, hi, rng, min_side, gap)


PACK_HEIGHT = 0.05  # the packed boxes' height (Ravens: the container's)


def _cuboid(lo: np.ndarray, hi: np.ndarray) -> tuple[tuple[float, float, float], float]:
    """Half extents of a packed block filling the tile [lo, hi], and its footprint radius."""
    half = (float(hi[0] - lo[0]) / 2, float(hi[1] - lo[1]) / 2, PACK_HEIGHT / 2)
    return half, float(np.hypot(half[0], half[1]))


class PackingBoxPairs(Task):
    """pack all the {a} and {b} blocks into the brown box: the blocks that tile the box, 4 distractors.

    Ravens' task with a smaller box (5-20 cm a side, not 5-30) because our workspace is
    50 x 50 cm, not 50 x 100; the reward is the share of the packed blocks' points inside the box
    and no higher than a packed block's top (a block stacked on another counts in part)."""

    name = "packing-box-pairs-seen"
    max_steps = 20
    completed_instruction = "done packing blocks."
    template = "pack all the {a} and {b} blocks into the brown box"

    def build(self, scene: Scene, rng: np.random.Generator) -> None:
        bc = scene.bc
        inner = rng.uniform(0.05, 0.2, 2)
        xy, yaw = scene.place(rng, float(np.linalg.norm(inner / 2 + ob.TRAY_WALL[0])))
        scene.add(ob.add_tray(bc, brown_shade(1.0), tuple(inner), xy, yaw), "brown box", "box", False,
                  float(np.linalg.norm(inner / 2)), ob.TRAY_WALL[1])
        tiles = split_box(np.full(2, 0.01) - inner / 2, inner / 2 - 0.01, rng)
        pack = [str(c) for c in rng.choice(self.colors(), 2, replace=False)]
        blocks, targets = [], []
        for lo, hi in tiles:
            half, radius = _cuboid(lo, hi)
            bxy, byaw = scene.place(rng, radius)
            color = pack[int(rng.integers(2))]
            uid = ob.add_block(bc, rgba(color), bxy, byaw, half=half)
            blocks.append(scene.add(uid, f"{color} block", "block", True, radius, PACK_HEIGHT, half))
            targets.append(Target(ob.local_to_world(xy, yaw, (lo + hi) / 2), yaw, ob.TRAY_FLOOR))
        n = len(blocks)
        self.goals.append(Goal(blocks, [np.pi] * n, np.eye(n, dtype=bool), targets, 1.0,
                               self.template.format(a=pack[0], b=pack[1]), pos_eps=0.02, metric="zone",
                               zones=[Zone(np.asarray(xy), yaw, tuple(inner), ob.TRAY_FLOOR + PACK_HEIGHT + 0.0025)]))
        others = [c for c in self.colors() if c not in pack]
        for k in rng.integers(0, len(tiles), 4):  # distractors: copies of tiles in other colours
            half, radius = _cuboid(*tiles[k])
            pose = scene.sample_pose(rng, radius, tries=50)
            if pose is None:
                continue
            color = others[int(rng.integers(len(others)))]
            uid = ob.add_block(bc, rgba(color), pose[0], pose[1], half=half)
            scene.add(uid, f"{color} block", "block", True, radius, PACK_HEIGHT, half)


TASKS: dict[str, type[Task]] = {
    t.name: t
    for t in (PutBlocksInBowlsSeen, PutBlocksInBowlsUnseen, StackBlockPyramidSeq, TowersOfHanoiSeq, PackingBoxPairs)
}
