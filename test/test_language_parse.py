"""Instruction parsing: pick/place phrases, prepositions and spatial words."""

from __future__ import annotations

import pytest

from vla_grounding.language.parse import InstructionParseError, Spatial, parse_instruction
from vla_grounding.policy import GroundingRefused

CASES = [
    ("put the red block in the blue bowl", "red block", "blue bowl", "in", None, None),
    ("Put the red blocks in a green bowl.", "red block", "green bowl", "in", None, None),
    ("place the yellow block on the green block", "yellow block", "green block", "on", None, None),
    ("stack the red block on top of the blue block", "red block", "blue block", "on", None, None),
    ("pick up the red block and put it in the blue bowl", "red block", "blue bowl", "in", None, None),
    ("move the gray ring to the middle of the stand", "gray ring", "stand", "in", None, Spatial("middle")),
    ("put the red block on the left in the blue bowl", "red block", "blue bowl", "in", Spatial("left"), None),
    ("put the red block in the bowl that is on the right", "red block", "bowl", "in", None, Spatial("right")),
    ("put the leftmost block in the middle bowl", "block", "bowl", "in", Spatial("left"), Spatial("middle")),
    (
        "put the block nearest to the blue bowl in the red bowl",
        "block",
        "red bowl",
        "in",
        Spatial("nearest", "blue bowl"),
        None,
    ),
    (
        "put the block in the bowl closest to the green block",
        "block",
        "bowl",
        "in",
        None,
        Spatial("nearest", "green block"),
    ),
    (
        "put the cube that is behind the green bowl into the yellow bowl",
        "cube",
        "yellow bowl",
        "in",
        Spatial("behind", "green bowl"),
        None,
    ),
    ("put the red block to the left of the blue bowl", "red block", "blue bowl", "left of", None, None),
    ("put the red block in front of the blue bowl", "red block", "blue bowl", "front of", None, None),
    ("Could you put the purple giraffe in the blue bowl please", "purple giraffe", "blue bowl", "in", None, None),
]


@pytest.mark.parametrize("text,pick,place,prep,pick_sp,place_sp", CASES)
def test_parse(text, pick, place, prep, pick_sp, place_sp):
    p = parse_instruction(text)
    assert (p.pick_phrase, p.place_phrase, p.preposition) == (pick, place, prep)
    assert p.pick_spatial == pick_sp and p.place_spatial == place_sp


def test_pick_up_only_has_no_place():
    p = parse_instruction("pick up the green block")
    assert p.verb == "pick up" and p.pick_phrase == "green block" and p.place_phrase is None


def test_phrases_lists_anchors_once():
    p = parse_instruction("put the block nearest to the blue bowl in the blue bowl")
    assert p.phrases == ["block", "blue bowl"]


@pytest.mark.parametrize("text", ["", "   ", "hello there", "dance", "put the red block"])
def test_unparseable_is_refused_with_reason(text):
    with pytest.raises(InstructionParseError) as err:
        parse_instruction(text)
    assert isinstance(err.value, GroundingRefused) and isinstance(err.value, ValueError)
    assert str(err.value)
