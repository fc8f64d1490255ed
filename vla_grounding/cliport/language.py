"""What the CLIPort networks are told: CLIP text embeddings of the instruction and its phrases.

CLIPort feeds one CLIP sentence embedding to both networks. A small CLIP's sentence embedding
hardly depends on word order: with the shipped small CLIP, "put the blue blocks in a red bowl"
and "put the red blocks in a blue bowl" have cosine 0.96 on average over the seen colours, and
a network trained on that embedding picked the bowl's colour or placed in the block's colour in
most of its held-out failures. The ``sentence+phrases`` mode adds the embeddings of the parsed
pick and place phrases ("blue block", "red bowl"), which such a CLIP grounds well; where the
parser does not know an instruction's form, those slots repeat the sentence, so nothing is
refused that the sentence-only mode would take.
"""

from __future__ import annotations

import torch

# mode -> the text slots each network receives, in order
LANGUAGE_MODES: dict[str, tuple[str, ...]] = {
    "sentence": ("sentence",),
    "sentence+phrases": ("sentence", "pick", "place"),
}


def check_mode(mode: str) -> tuple[str, ...]:
    if mode not in LANGUAGE_MODES:
        raise ValueError(f"unknown CLIPort language mode {mode!r}; choose one of {sorted(LANGUAGE_MODES)}")
    return LANGUAGE_MODES[mode]


def text_slots(instruction: str, mode: str) -> list[str]:
    """The texts to embed for one instruction, one per slot of ``mode``."""
    from vla_grounding.language.parse import InstructionParseError, parse_instruction

    sentence = instruction.strip()
    if check_mode(mode) == ("sentence",):
        return [sentence]
    try:
        parsed = parse_instruction(sentence)
    except InstructionParseError:
        return [sentence] * 3
    return [sentence, parsed.pick_phrase or sentence, parsed.place_phrase or sentence]


def text_features(backend, instructions: list[str], mode: str) -> torch.Tensor:
    """(B, slots x D) float32: the slots' L2-normalised CLIP embeddings side by side."""
    slots = len(check_mode(mode))
    texts = [t for instruction in instructions for t in text_slots(instruction, mode)]
    emb = backend.encode_text(texts).float()
    return emb.reshape(len(instructions), slots * emb.shape[-1])
