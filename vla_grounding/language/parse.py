"""Instruction -> what to pick, where to place it, and the spatial words CLIP cannot ground.

Spatial words (left/right/front/behind/middle, nearest/farthest, "left of X") are taken out
of the noun phrases and returned as :class:`Spatial` relations, because CLIP scores them at
chance; the grounding resolves them geometrically in the robot base frame. What is left of
each noun phrase (e.g. "red block") is what CLIP scores.

Directions are the robot's: left = base +y, right = -y, front = -x (towards the robot),
behind = +x (away from it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vla_grounding.policy import GroundingRefused

SPATIAL_WORDS = ("left", "right", "front", "behind", "middle", "nearest", "farthest")


class InstructionParseError(GroundingRefused, ValueError):
    """The instruction does not have a form the parser knows; the message says why."""


@dataclass(frozen=True)
class Spatial:
    """A geometric qualifier: ``word`` alone picks the extreme candidate ("the left bowl");
    with an ``anchor`` phrase it is relative to that object ("the block nearest the bowl")."""

    word: str  # one of SPATIAL_WORDS
    anchor: str | None = None  # CLIP phrase of the reference object


@dataclass(frozen=True)
class ParsedInstruction:
    text: str
    verb: str
    pick_phrase: str  # CLIP query for the object to pick, e.g. "red block"
    place_phrase: str | None  # CLIP query for the target, e.g. "blue bowl"; None for "pick up X"
    preposition: str = "in"  # how the object relates to the target: in | on | left of | right of | front of | behind
    pick_spatial: Spatial | None = None
    place_spatial: Spatial | None = None

    @property
    def phrases(self) -> list[str]:
        """Every phrase CLIP has to score (targets and anchors), without duplicates."""
        out = [self.pick_phrase]
        if self.place_phrase:
            out.append(self.place_phrase)
        for s in (self.pick_spatial, self.place_spatial):
            if s is not None and s.anchor:
                out.append(s.anchor)
        return list(dict.fromkeys(out))


_VERBS = ("put", "place", "move", "set", "stack", "drop", "transfer", "bring", "pack", "push", "get")
_PICK_VERBS = r"(?:pick up|pick|grab|take|lift|get)"
_PLACE_VERBS = r"(?:put|place|drop|set|stack|move|leave|pack)"
# place prepositions, longest first, mapped to the relation of object to target
_PLACE_PREPS: list[tuple[str, str]] = [
    ("to the left of", "left of"),
    ("to the right of", "right of"),
    ("left of", "left of"),
    ("right of", "right of"),
    ("in front of", "front of"),
    ("behind", "behind"),
    ("on top of", "on"),
    ("inside of", "in"),
    ("inside", "in"),
    ("into", "in"),
    ("onto", "on"),
    ("in", "in"),
    ("on", "on"),
    ("to", "in"),
    ("at", "in"),
]
_ONLY_SPATIAL = re.compile(
    r"^(?:the |a )?(?:far )?(?:left|right|middle|center|centre|front|back|rear|top|bottom)(?: side| one| hand side)?$"
)
_RELATIONS: list[tuple[str, str]] = [
    (r"(?:that is |which is )?(?:nearest|closest) to", "nearest"),
    (r"(?:that is |which is )?(?:nearest|closest)", "nearest"),
    (r"(?:that is |which is )?next to", "nearest"),
    (r"(?:that is |which is )?(?:farthest|furthest) (?:away )?from", "farthest"),
    (r"(?:that is |which is )?(?:to the )?left of", "left"),
    (r"(?:that is |which is )?(?:to the )?right of", "right"),
    (r"(?:that is |which is )?in front of", "front"),
    (r"(?:that is |which is )?(?:behind|in back of)", "behind"),
]
_POSITION_WORDS = {
    "leftmost": "left",
    "left": "left",
    "rightmost": "right",
    "right": "right",
    "front": "front",
    "frontmost": "front",
    "back": "behind",
    "rear": "behind",
    "backmost": "behind",
    "middle": "middle",
    "center": "middle",
    "centre": "middle",
    "central": "middle",
}
_TRAILING_POSITION = re.compile(
    r"\s+(?:(?:that is|which is)\s+)?(?:on|in|at|to)\s+the\s+(?:far\s+)?"
    r"(left|right|front|back|rear|middle|center|centre)(?:\s+(?:side|hand side))?$"
)
_FILLER = {"the", "a", "an", "all", "one", "of", "some", "please", "that", "which", "is", "it", "them"}
_PLURALS = {"blocks": "block", "bowls": "bowl", "cubes": "cube", "boxes": "box", "rings": "ring", "objects": "object"}


def _normalise(text: str) -> str:
    t = text.lower().replace("-", " ")
    t = re.sub(r"[^a-z0-9 ]+", " ", t)
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(r"^(?:please |robot |can you |could you |would you |now )+", "", t)
    return re.sub(r" please$", "", t)


def _clean(words: str) -> str:
    kept = [w for w in words.split() if w not in _FILLER]
    if kept and kept[-1] in _PLURALS:
        kept[-1] = _PLURALS[kept[-1]]
    return " ".join(kept)


def parse_phrase(phrase: str) -> tuple[str, Spatial | None]:
    """Noun phrase -> (CLIP phrase, spatial qualifier or None)."""
    p = _normalise(phrase)
    for pattern, word in _RELATIONS:
        m = re.match(rf"^(?P<head>.+?)\s+{pattern}\s+(?P<anchor>.+)$", p)
        if m:
            head, anchor = _clean(m["head"]), _clean(m["anchor"])
            if head and anchor:
                return head, Spatial(word, anchor)
    spatial = None
    m = _TRAILING_POSITION.search(p)
    if m:
        spatial = Spatial(_POSITION_WORDS[m.group(1)])
        p = p[: m.start()]
    words = p.split()
    rest = []
    for w in words:
        if w in _POSITION_WORDS and spatial is None:
            spatial = Spatial(_POSITION_WORDS[w])
            continue
        if w in ("most", "side", "hand") and spatial is not None:
            continue
        rest.append(w)
    clip = _clean(" ".join(rest))
    return (clip or "object"), spatial


def _split_place(rest: str) -> tuple[str, str, str] | None:
    """'the red block in the blue bowl' -> (pick words, relation, place words), rightmost split
    that leaves a real object on both sides."""
    words = rest.split()
    for i in range(len(words) - 1, 0, -1):
        for prep, relation in _PLACE_PREPS:
            n = len(prep.split())
            if " ".join(words[i : i + n]) != prep:
                continue
            pick, place = " ".join(words[:i]), " ".join(words[i + n :])
            prev = words[i - 1]
            if not place or _ONLY_SPATIAL.match(place) or not _clean(pick):
                continue
            if prev in ("nearest", "closest", "next", "farthest", "furthest", "the"):
                continue  # part of a relation inside the pick phrase ("nearest to", "to the left of")
            if i >= 2 and " ".join(words[i - 2 : i]) in ("in front",):
                continue
            return pick, relation, place
    return None


def parse_instruction(text: str) -> ParsedInstruction:
    """Parse put/place/stack/move/pick-up instructions; InstructionParseError says why not."""
    if not isinstance(text, str) or not text.strip():
        raise InstructionParseError("empty instruction: say what to pick and where to put it")
    t = _normalise(text)
    verb, pick_words, relation, place_words = "", "", "in", None
    m = re.match(rf"^{_PICK_VERBS} (?P<pick>.+?)(?: and (?:then )?{_PLACE_VERBS} (?:it|them) (?P<tail>.+))?$", t)
    if m and not t.startswith(("put", "place")):
        verb = "pick up"
        pick_words = m["pick"]
        if m["tail"]:
            split = _split_place("x " + m["tail"])
            if split is None:
                raise InstructionParseError(f"cannot tell where to put the object in {text!r}")
            _, relation, place_words = split
    else:
        first = t.split(" ", 1)
        if first[0] not in _VERBS or len(first) < 2:
            raise InstructionParseError(
                f"cannot parse {text!r}: expected e.g. 'put the red block in the blue bowl' "
                f"(verbs: {', '.join(_VERBS)}, or 'pick up X and put it in Y')"
            )
        verb = first[0]
        split = _split_place(first[1])
        if split is None:
            raise InstructionParseError(
                f"cannot find both an object and a target in {text!r} (e.g. '... in the blue bowl')"
            )
        pick_words, relation, place_words = split
    pick_phrase, pick_spatial = parse_phrase(pick_words)
    place_phrase, place_spatial = (None, None) if place_words is None else parse_phrase(place_words)
    if pick_phrase == "object" and pick_spatial is None:
        raise InstructionParseError(f"no object to pick in {text!r}")
    return ParsedInstruction(
        text=text,
        verb=verb,
        pick_phrase=pick_phrase,
        place_phrase=place_phrase,
        preposition=relation,
        pick_spatial=pick_spatial,
        place_spatial=place_spatial,
    )
