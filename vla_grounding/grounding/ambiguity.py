"""Refuse an instruction that names a kind without saying which one, listing the candidates.

"put the block in the bowl" among red, cyan and yellow blocks has no right answer: the
policies would pick one at random. A phrase made only of kind words ("block", "the bowl") is
checked against the objects of that kind on the table, found by their shape (CLIP's scores of
a bare "block" lean towards some colours, so they cannot list every candidate) and named by
their colour. Objects that all look alike (three red blocks) are not ambiguous: any will do.
Used by every policy: clip_regions with its own region proposals, others through
``refuse_if_ambiguous_instruction``.
"""

from __future__ import annotations

from vla_grounding.grounding.colour_names import colour_name
from vla_grounding.grounding.proposals import Region, propose_regions
from vla_grounding.language.parse import InstructionParseError, parse_instruction
from vla_grounding.perception.camera import RGBDFrame
from vla_grounding.perception.workspace import Workspace
from vla_grounding.policy import GroundingRefused

KIND_WORDS = frozenset({"block", "cube", "bowl", "object", "thing", "box", "ring", "disc", "disk", "container"})


def is_bare_kind(phrase: str) -> bool:
    """Whether ``phrase`` names only a kind of object ("block"), nothing that tells objects apart."""
    return bool(phrase) and set(phrase.split()) <= KIND_WORDS


def hollow(r: Region) -> bool:
    """A bowl or box: its floor lies well below its rim."""
    return r.top - r.floor > 0.015


def is_a(r: Region, kind_phrase: str) -> bool:
    """Whether region ``r`` is of the kind a bare phrase names, judged by its shape."""
    kind = kind_phrase.split()[-1]
    if kind in ("bowl", "box", "container"):
        return hollow(r)
    if kind in ("block", "cube"):
        return not hollow(r)
    return True


def refuse_if_ambiguous(phrase: str, regions: list[Region]) -> None:
    """GroundingRefused naming the colours when the ``phrase``-kind objects among ``regions`` differ."""
    names = sorted({colour_name(r.mean_rgb) for r in regions if is_a(r, phrase)})
    if len(names) > 1:
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        raise GroundingRefused(f"which {phrase}? I see {listed} {phrase}s: say which one (e.g. 'the {names[0]} "
                               f"{phrase}')")


def refuse_if_ambiguous_instruction(frame: RGBDFrame, workspace: Workspace, instruction: str) -> None:
    """The check for policies without region proposals of their own (CLIPort): proposals are
    computed only when a phrase is a bare kind without a spatial word."""
    try:
        parsed = parse_instruction(instruction)
    except InstructionParseError:
        return  # a form the parser does not know: the policy reads the sentence itself
    bare = [phrase for phrase, spatial in ((parsed.pick_phrase, parsed.pick_spatial),
                                           (parsed.place_phrase, parsed.place_spatial))
            if phrase and spatial is None and is_bare_kind(phrase)]
    if bare:
        regions = propose_regions(frame, workspace).regions
        for phrase in bare:
            refuse_if_ambiguous(phrase, regions)
