"""Score region crops against phrases with CLIP, and turn cosines into 0..1 confidences.

Cosine similarities are not comparable across models (pretrained CLIPs put matches near
0.3, the shipped small one near 0.9), so each model has a calibration: the typical cosine
of a non-matching (``negative``) and a matching (``positive``) crop/phrase pair. The shipped
model's comes from its held-out set (calibration.json next to the weights); pretrained
models use CLIP's usual range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vla_grounding.grounding.clip_backend import ClipBackend

PROMPT_TEMPLATE = "a photo of a {}."
CALIBRATION_FILE = "calibration.json"


def prompt(phrase: str) -> str:
    return PROMPT_TEMPLATE.format(phrase)


@dataclass(frozen=True)
class Calibration:
    negative: float = 0.15  # cosine of unrelated crop/phrase pairs (pretrained CLIP ViT-B-32 ballpark)
    positive: float = 0.30  # cosine of matching pairs
    vocabulary: frozenset[str] | None = None  # words a closed-vocabulary model was trained on; None: open

    def unknown_words(self, phrase: str) -> list[str]:
        """Words of ``phrase`` the model never saw in training (always [] for open-vocabulary CLIPs)."""
        if self.vocabulary is None:
            return []
        return [w for w in phrase.split() if w not in self.vocabulary]

    def confidence(self, cosine: np.ndarray | float) -> np.ndarray:
        """Linear map negative -> 0, positive -> 1, clipped."""
        span = max(self.positive - self.negative, 1e-6)
        return np.clip((np.asarray(cosine, dtype=np.float64) - self.negative) / span, 0.0, 1.0)

    @classmethod
    def for_checkpoint(cls, checkpoint: str | Path | None) -> Calibration:
        """calibration.json in a checkpoint folder (or next to a checkpoint file), else defaults."""
        if checkpoint is None:
            return cls()
        path = Path(checkpoint)
        path = path / CALIBRATION_FILE if path.is_dir() else path.parent / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        vocab = data.get("vocabulary")
        return cls(float(data["negative"]), float(data["positive"]), frozenset(vocab) if vocab else None)


def score_crops(backend: ClipBackend, crops: list[np.ndarray], phrases: list[str]) -> np.ndarray:
    """(n_crops, n_phrases) cosine similarities; all crops in one batched forward."""
    if not crops or not phrases:
        return np.zeros((len(crops), len(phrases)))
    text = backend.encode_text([prompt(p) for p in phrases])
    images = backend.encode_images(crops)
    with torch.no_grad():
        return (images @ text.T).cpu().numpy().astype(np.float64)


def score_crops_one_by_one(backend: ClipBackend, crops: list[np.ndarray], phrases: list[str]) -> np.ndarray:
    """Same result as score_crops, one crop per forward (the baseline the benchmark compares)."""
    text = backend.encode_text([prompt(p) for p in phrases])
    rows = [backend.encode_images([c]) @ text.T for c in crops]
    return torch.cat(rows).cpu().numpy().astype(np.float64) if rows else np.zeros((0, len(phrases)))
