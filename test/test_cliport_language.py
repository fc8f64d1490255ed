"""What CLIPort's networks are told about an instruction (vla_grounding/cliport/language.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vla_grounding.cliport.config import CliportConfig
from vla_grounding.cliport.language import text_features, text_slots
from vla_grounding.cliport.model import CliportModel


def test_slots_split_the_instruction_into_pick_and_place_phrases() -> None:
    text = "put the blue blocks in a red bowl"
    assert text_slots(text, "sentence") == [text]
    assert text_slots(f"  {text} ", "sentence+phrases") == [text, "blue block", "red bowl"]


def test_instructions_the_parser_does_not_know_fall_back_to_the_sentence() -> None:
    text = "done placing blocks in bowls."
    assert text_slots(text, "sentence+phrases") == [text] * 3
    # "pick up X" has no place phrase: the place slot repeats the sentence
    assert text_slots("pick up the red block", "sentence+phrases") == ["pick up the red block", "red block"] + [
        "pick up the red block"
    ]


def test_unknown_language_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="language mode"):
        text_slots("put the red block in a blue bowl", "words")
    with pytest.raises(ValueError, match="language mode"):
        CliportConfig(clip_channels=8, text_dim=4, language="words")


@pytest.fixture(scope="module")
def backend():
    from vla_grounding.grounding.clip_backend import ClipBackend

    return ClipBackend(device="cpu")


def test_phrase_slots_tell_swapped_colours_apart(backend) -> None:
    """The reason for the phrase slots: the small CLIP's sentence embedding barely changes when the
    block's and the bowl's colours swap; the pick-phrase slot does."""
    a = text_features(backend, ["put the blue blocks in a red bowl"], "sentence+phrases")[0]
    b = text_features(backend, ["put the red blocks in a blue bowl"], "sentence+phrases")[0]
    d = backend.embed_dim
    assert a.shape == (3 * d,)
    for slot in range(3):
        assert torch.linalg.norm(a[slot * d : (slot + 1) * d]).item() == pytest.approx(1.0, abs=1e-4)
    sentence_cos = F.cosine_similarity(a[:d], b[:d], dim=0)
    pick_cos = F.cosine_similarity(a[d : 2 * d], b[d : 2 * d], dim=0)
    assert pick_cos < sentence_cos - 0.1


def test_networks_take_one_embedding_per_slot() -> None:
    cfg = CliportConfig(width=8, clip_channels=16, text_dim=12, language="sentence+phrases", n_rotations=4)
    assert cfg.text_features == 36
    model = CliportModel(cfg).eval()
    image, clip = torch.randn(2, 4, 160, 160), torch.randn(2, 16, 10, 10)
    with torch.no_grad():
        assert model.pick_logits(image, clip, torch.randn(2, 36)).shape == (2, 160, 160)
        with pytest.raises(RuntimeError):
            model.pick_logits(image, clip, torch.randn(2, 12))  # a sentence-only text input does not fit
