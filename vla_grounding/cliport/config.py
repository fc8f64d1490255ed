"""Everything needed to rebuild a CLIPort model besides its weights (stored as JSON beside them).

Keeping the workspace, the rotation count and the CLIP backend in the checkpoint means a
policy can refuse a frame or a task it was not trained for instead of acting on it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vla_grounding.cliport.language import LANGUAGE_MODES, check_mode
from vla_grounding.perception.workspace import Workspace

FORMAT_VERSION = 1


@dataclass
class CliportConfig:
    """Architecture + task metadata of one CLIPort model."""

    workspace: dict = field(default_factory=lambda: Workspace().as_dict())
    n_rotations: int = 36  # place yaw bins over 360 degrees
    crop_size: int = 64  # transport crop (pixels of the top-down grid), a multiple of 4
    width: int = 24  # channel count of the finest stage; later stages are 2x, 3x
    stride: int = 4  # the networks' output stride (2 or 4); logits are upsampled to the grid
    kernel_dim: int = 3  # channels of the transport's key/query features
    clip_channels: int = 0  # channels of the frozen CLIP feature map (set from the backend)
    text_dim: int = 0  # CLIP text embedding size (set from the backend)
    language: str = "sentence"  # text slots the networks get (cliport/language.py); "sentence" = CLIPort's
    clip_backend: dict = field(default_factory=dict)  # ClipBackend keyword arguments (model, pretrained, checkpoint)
    task: str = ""  # the task it was trained on ("" = any)
    training: dict = field(default_factory=dict)  # demos, steps, wall time, validation metrics
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.n_rotations < 1:
            raise ValueError(f"n_rotations must be >= 1, got {self.n_rotations}")
        if self.stride not in (2, 4):
            raise ValueError(f"stride must be 2 or 4, got {self.stride}")
        if self.crop_size < 4 * self.stride or self.crop_size % (2 * self.stride):
            raise ValueError(
                f"crop_size must be a multiple of {2 * self.stride} and >= {4 * self.stride}, got {self.crop_size}"
            )
        if self.width < 4 or self.kernel_dim < 1:
            raise ValueError(f"width must be >= 4 and kernel_dim >= 1, got {self.width}, {self.kernel_dim}")
        check_mode(self.language)
        rows, cols = self.workspace_obj.shape
        m = 4 * self.stride
        if rows % m or cols % m:
            raise ValueError(
                f"the workspace grid must be a multiple of {m} pixels on each side, got {rows}x{cols}: "
                "adjust the bounds or pixel_size"
            )

    @property
    def text_features(self) -> int:
        """Width of the text input of both networks: one CLIP embedding per language slot."""
        return self.text_dim * len(LANGUAGE_MODES[self.language])

    @property
    def workspace_obj(self) -> Workspace:
        return Workspace(**self.workspace)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> CliportConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown CLIPort config keys {unknown}; is the checkpoint from a newer version?")
        version = data.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(f"CLIPort checkpoint format {version} is newer than this code ({FORMAT_VERSION})")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> CliportConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read CLIPort config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"CLIPort config {path} is not a JSON object")
        return cls.from_dict(data)
