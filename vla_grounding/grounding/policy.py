"""Zero-shot CLIP region grounding: proposals -> CLIP scores per phrase -> pick and place poses.

No training of its own: regions come from the RGB-D geometry, CLIP names them, and spatial
words are resolved geometrically (CLIP is at chance on them). Refuses, with the reason,
when the instruction cannot be parsed, when the best region for a phrase is below
``min_confidence`` ("the purple giraffe"), or when a pose would leave the workspace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vla_grounding.grounding.ambiguity import hollow, is_bare_kind, refuse_if_ambiguous
from vla_grounding.grounding.clip_backend import SHIPPED_DIR, SHIPPED_MODEL, ClipBackend
from vla_grounding.grounding.proposals import Proposals, Region, propose_regions
from vla_grounding.grounding.scoring import Calibration, score_crops
from vla_grounding.language.parse import ParsedInstruction, Spatial, parse_instruction
from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.table import table_warnings
from vla_grounding.perception.workspace import Workspace
from vla_grounding.policy import GroundingRefused, PickPlacePlan

BESIDE_GAP = 0.03  # metres between a target's footprint and an object put "left of"/"right of" it
_DIRECTIONS = {"left": (0.0, 1.0), "right": (0.0, -1.0), "front": (-1.0, 0.0), "behind": (1.0, 0.0)}
_RELATION_DIRECTION = {"left of": "left", "right of": "right", "front of": "front", "behind": "behind"}


@dataclass
class Grounding:
    """Every region's confidence for every phrase of one instruction on one frame."""

    parsed: ParsedInstruction
    proposals: Proposals
    phrases: list[str]
    cosine: np.ndarray  # (n_regions, n_phrases)
    confidence: np.ndarray  # (n_regions, n_phrases) 0..1
    timings: dict[str, float]

    def column(self, phrase: str) -> np.ndarray:
        return self.confidence[:, self.phrases.index(phrase)]

    def heatmap(self, phrase: str) -> np.ndarray:
        """(rows, cols) float32: each region's cells hold its confidence for ``phrase``."""
        out = np.zeros(self.proposals.labels.shape, np.float32)
        conf = self.column(phrase)
        for r in self.proposals.regions:
            out[r.cells[:, 0], r.cells[:, 1]] = conf[r.index]
        return out


def _inside(a: Region, b: Region) -> bool:
    """a's centre lies within b's footprint (a block resting in a bowl)."""
    return a.index != b.index and bool(np.all(np.abs(a.centre[:2] - b.centre[:2]) < b.half_extent * 0.8))


class ClipRegionsPolicy:
    """Pick and place from an instruction with CLIP scoring training-free region proposals."""

    name = "clip_regions"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        model: str | None = None,
        pretrained: str | None = None,
        device: str = "auto",
        workspace: Workspace | None = None,
        min_confidence: float = 0.5,
        backend: ClipBackend | None = None,
        calibration: Calibration | None = None,
        white_balance: bool | None = None,
    ) -> None:
        """``white_balance``: balance colours to the simulated table before proposing regions
        (perception.table); None: only for the shipped CLIP, which was trained on simulator renders."""
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        shipped = backend is None and checkpoint is None and pretrained is None and model in (None, SHIPPED_MODEL)
        if backend is None:
            backend = ClipBackend(model or SHIPPED_MODEL, pretrained=pretrained, checkpoint=checkpoint, device=device)
        self.backend = backend
        self.calibration = calibration or Calibration.for_checkpoint(SHIPPED_DIR if shipped else checkpoint)
        self.workspace = workspace or Workspace()
        self.min_confidence = float(min_confidence)
        self.white_balance = shipped if white_balance is None else bool(white_balance)

    # -- grounding ------------------------------------------------------------------------

    def ground(self, frame: RGBDFrame, parsed: ParsedInstruction) -> Grounding:
        """Propose regions and score them against every phrase of the instruction."""
        t0 = time.perf_counter()
        props = propose_regions(frame, self.workspace, white_balance=self.white_balance)
        t1 = time.perf_counter()
        phrases = parsed.phrases
        cos = score_crops(self.backend, props.crops, phrases)
        timings = {"proposals": t1 - t0, "clip": time.perf_counter() - t1}
        return Grounding(parsed, props, phrases, cos, self.calibration.confidence(cos), timings)

    def _refuse_if_weak(self, g: Grounding, phrase: str) -> np.ndarray:
        unknown = self.calibration.unknown_words(phrase)
        if unknown:
            raise GroundingRefused(
                f"cannot ground '{phrase}': this CLIP was never taught the word(s) {', '.join(map(repr, unknown))} "
                "(the shipped small CLIP knows the simulator's seen colours and shapes; use a pretrained CLIP "
                "for open vocabulary)"
            )
        conf = g.column(phrase)
        if len(conf) == 0:
            raise GroundingRefused("no objects found on the table (nothing stands above the workspace surface)")
        if conf.max() < self.min_confidence:
            raise GroundingRefused(
                f"nothing in view matches '{phrase}' well enough (best confidence {conf.max():.2f} "
                f"< {self.min_confidence:.2f})"
            )
        return conf

    def _select(self, g: Grounding, phrase: str, spatial: Spatial | None, exclude: set[int], prefer) -> Region:
        """The region ``phrase`` (+ spatial qualifier) refers to; ``prefer`` ranks ties of
        equally good candidates (e.g. a block not yet in a bowl)."""
        conf = self._refuse_if_weak(g, phrase)
        regions = g.proposals.regions
        cands = [r for r in regions if conf[r.index] >= self.min_confidence and r.index not in exclude]
        if not cands:
            raise GroundingRefused(f"the only match for '{phrase}' is the object already chosen for the other phrase")
        if spatial is None:
            if is_bare_kind(phrase):
                refuse_if_ambiguous(phrase, [r for r in regions if r.index not in exclude])
            return max(cands, key=lambda r: (prefer(r), conf[r.index]))
        xy = {r.index: r.centre[:2] for r in cands}
        if spatial.anchor is None:
            if spatial.word == "middle":
                mid = np.mean(list(xy.values()), axis=0) if len(cands) >= 3 else self._ws_centre()
                return min(cands, key=lambda r: np.linalg.norm(xy[r.index] - mid))
            if spatial.word in _DIRECTIONS:
                d = np.array(_DIRECTIONS[spatial.word])
                return max(cands, key=lambda r: float(xy[r.index] @ d))
            raise GroundingRefused(f"'{spatial.word}' needs a reference object (e.g. 'nearest to the blue bowl')")
        anchor_conf = self._refuse_if_weak(g, spatial.anchor)
        anchors = [r for r in regions if r.index not in exclude]
        anchor = max(anchors, key=lambda r: anchor_conf[r.index])
        cands = [r for r in cands if r.index != anchor.index] or cands
        dist = {r.index: float(np.linalg.norm(xy[r.index] - anchor.centre[:2])) for r in cands}
        if spatial.word == "nearest":
            return min(cands, key=lambda r: dist[r.index])
        if spatial.word == "farthest":
            return max(cands, key=lambda r: dist[r.index])
        d = np.array(_DIRECTIONS[spatial.word])
        side = [r for r in cands if float((xy[r.index] - anchor.centre[:2]) @ d) > 0.0]
        if not side:
            raise GroundingRefused(f"no '{phrase}' is {spatial.word} of the '{spatial.anchor}'")
        return min(side, key=lambda r: dist[r.index])

    def _ws_centre(self) -> np.ndarray:
        ws = self.workspace
        return np.array([(ws.x_min + ws.x_max) / 2, (ws.y_min + ws.y_max) / 2])

    # -- poses ----------------------------------------------------------------------------

    def _place_position(self, parsed: ParsedInstruction, target: Region, held: Region) -> np.ndarray:
        z0 = self.workspace.z_min
        relation = parsed.preposition
        if relation in _RELATION_DIRECTION:
            d = np.array(_DIRECTIONS[_RELATION_DIRECTION[relation]])
            reach = float(np.abs(d) @ target.half_extent + np.abs(d) @ held.half_extent) + BESIDE_GAP
            xy = target.centre[:2] + d * reach
            return np.array([xy[0], xy[1], z0])
        if relation == "in" and hollow(target):  # a bowl/box: put it on the floor, inside
            return np.array([target.centre[0], target.centre[1], z0 + target.floor])
        return np.array([target.grasp[0], target.grasp[1], z0 + target.top])  # on top of it

    @staticmethod
    def _place_yaw(parsed: ParsedInstruction, target: Region, held: Region) -> float:
        if parsed.preposition != "on":
            return held.yaw
        turn = (target.yaw - held.yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # cubes: 90 deg symmetric
        return held.yaw + turn

    def act(self, frame: RGBDFrame, instruction: str) -> PickPlacePlan:
        t0 = time.perf_counter()
        parsed = parse_instruction(instruction)
        if parsed.place_phrase is None:
            raise GroundingRefused(f"'{instruction}' says what to pick but not where to put it")
        t1 = time.perf_counter()
        g = self.ground(frame, parsed)
        t2 = time.perf_counter()
        place_conf = g.column(parsed.place_phrase) if g.confidence.size else np.zeros(0)
        regions = g.proposals.regions

        def in_place_target(r: Region) -> bool:  # already done: resting in/on a matching target
            return any(_inside(r, t) and place_conf[t.index] >= self.min_confidence for t in regions)

        pick = self._select(g, parsed.pick_phrase, parsed.pick_spatial, set(), lambda r: not in_place_target(r))
        pick_conf = g.column(parsed.pick_phrase)

        def empty(t: Region) -> bool:  # prefer targets that do not hold a matching object yet
            return not any(_inside(r, t) and pick_conf[r.index] >= self.min_confidence for r in regions)

        place = self._select(g, parsed.place_phrase, parsed.place_spatial, {pick.index}, empty)
        pick_xyz = pick.grasp.copy()
        place_xyz = self._place_position(parsed, place, pick)
        for what, p in (("pick", pick_xyz), ("place", place_xyz)):
            if not self.workspace.contains(p):
                raise GroundingRefused(f"the {what} position {np.round(p, 3).tolist()} is outside the workspace")
        ws = self.workspace
        t3 = time.perf_counter()
        return PickPlacePlan(
            pick_position=pick_xyz,
            place_position=place_xyz,
            pick_yaw=float(pick.yaw),
            place_yaw=float(self._place_yaw(parsed, place, pick)),
            pick_confidence=float(g.column(parsed.pick_phrase)[pick.index]),
            place_confidence=float(place_conf[place.index]),
            pick_pixel=ws.xy_to_pixel(pick_xyz[0], pick_xyz[1]),
            place_pixel=ws.xy_to_pixel(place_xyz[0], place_xyz[1]),
            policy=self.name,
            instruction=instruction,
            pick_phrase=parsed.pick_phrase,
            place_phrase=parsed.place_phrase,
            heatmaps={p: g.heatmap(p) for p in g.phrases},
            timings={"parse": t1 - t0, **g.timings, "poses": t3 - t2, "total": t3 - t0},
            warnings=table_warnings(g.proposals.view),
        )
