"""One CLIP front end for every model: the shipped small CLIP, pretrained open_clip models
(by name + tag, as real robots use them) and local checkpoint files.

Text embeddings are cached per phrase (instructions repeat, and the text tower is padded
to the full context on every call); images are always scored in one batched forward.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

LOG = logging.getLogger(__name__)

SHIPPED_MODEL = "vla-clip-small"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "clip_small"
SHIPPED_CONFIG = SHIPPED_DIR / f"{SHIPPED_MODEL}.json"  # architecture, registered with open_clip by name
SHIPPED_WEIGHTS = SHIPPED_DIR / "open_clip_model.safetensors"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipLoadError(RuntimeError):
    """The requested CLIP weights could not be loaded; the message says what to do."""


def register_shipped_config() -> None:
    """Make ``vla-clip-small`` a model name open_clip knows (idempotent)."""
    import open_clip

    if SHIPPED_MODEL not in open_clip.list_models():
        open_clip.add_model_config(SHIPPED_CONFIG)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _create(model: str, pretrained: str | None, checkpoint: str | Path | None, random_init: bool):
    import open_clip

    register_shipped_config()
    if checkpoint is None and pretrained is None and not random_init:
        if model != SHIPPED_MODEL:
            raise ClipLoadError(
                f"no weights given for {model!r}: pass pretrained=<open_clip tag, e.g. 'openai'> or "
                "checkpoint=<local file or folder>, or random_init=True for benchmarks"
            )
        checkpoint = SHIPPED_DIR
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.exists():
            hint = " (train it with `vla-grounding train clip`)" if path.resolve() == SHIPPED_DIR else ""
            raise ClipLoadError(f"CLIP checkpoint {path} does not exist{hint}")
        if path.is_dir():
            if not (path / "open_clip_config.json").is_file():
                raise ClipLoadError(
                    f"{path} is a folder without open_clip_config.json: not an open_clip local-dir model"
                )
            if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")) and not any(path.glob("*.pth")):
                hint = " (train it with `vla-grounding train clip`)" if path.resolve() == SHIPPED_DIR else ""
                raise ClipLoadError(f"no CLIP weights (*.safetensors / *.bin / *.pth) in {path}{hint}")
            try:
                return open_clip.create_model(f"local-dir:{path}", device="cpu")
            except Exception as e:  # noqa: BLE001 - reported as a clear load error
                raise ClipLoadError(f"could not load the CLIP model in {path}: {e}") from e
        try:
            net = open_clip.create_model(model, pretrained=None, device="cpu")
        except RuntimeError as e:
            raise ClipLoadError(f"unknown CLIP architecture {model!r}: {e}") from e
        try:
            open_clip.load_checkpoint(net, str(path), weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise ClipLoadError(
                f"could not load weights {path} into {model!r} (wrong architecture or not a "
                f"safetensors / weights-only torch file?): {e}"
            ) from e
        return net
    try:
        return open_clip.create_model(model, pretrained=pretrained if not random_init else None, device="cpu")
    except Exception as e:  # noqa: BLE001
        if pretrained and "download" in str(e).lower():
            raise ClipLoadError(
                f"cannot download pretrained weights {model}/{pretrained} here (no network access to the "
                "model hub). Fetch them once on a machine with internet (open_clip caches them), copy the "
                "file over and pass checkpoint=<that file>; or use the shipped small model."
            ) from e
        raise ClipLoadError(f"could not create CLIP {model!r} (pretrained={pretrained!r}): {e}") from e


class ClipBackend:
    """open_clip model + tokenizer on one device, with cached text and batched image encoding."""

    def __init__(
        self,
        model: str = SHIPPED_MODEL,
        pretrained: str | None = None,
        checkpoint: str | Path | None = None,
        device: str | torch.device = "auto",
        random_init: bool = False,
    ) -> None:
        import open_clip

        self.device = resolve_device(device)
        self.model_name = model
        net = _create(model, pretrained, checkpoint, random_init)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.model = net.to(self.device, self.dtype).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        if hasattr(self.model.visual, "layer4"):
            # ResNet trunks: NHWC convolutions took half the time of NCHW here (CPU, one thread), same outputs
            self.model.visual.to(memory_format=torch.channels_last)
        try:
            self.tokenizer = open_clip.get_tokenizer(model)
        except Exception:  # noqa: BLE001 - every built-in CLIP uses the same BPE tokenizer
            self.tokenizer = open_clip.get_tokenizer("ViT-B-32")
        self.tokenizer.context_length = int(getattr(self.model, "context_length", 77) or 77)
        cfg = open_clip.get_model_preprocess_cfg(self.model)
        size = cfg.get("size", getattr(self.model.visual, "image_size", 224))
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        mean, std = cfg.get("mean", OPENAI_MEAN), cfg.get("std", OPENAI_STD)
        self._mean = torch.tensor(mean, device=self.device, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(std, device=self.device, dtype=torch.float32).view(1, 3, 1, 1)
        self.embed_dim = int(self.encode_text(["a photo"]).shape[1])
        self._text_cache.clear()
        self.feature_channels = self._feature_channels()

    @classmethod
    def shipped(cls, device: str | torch.device = "auto") -> ClipBackend:
        """The small CLIP trained on simulator crops that ships in the package."""
        return cls(SHIPPED_MODEL, device=device)

    # ---- text -------------------------------------------------------------------------
    @property
    def _text_cache(self) -> dict[str, torch.Tensor]:
        if not hasattr(self, "_cache"):
            self._cache: dict[str, torch.Tensor] = {}
        return self._cache

    def encode_text(self, phrases: list[str]) -> torch.Tensor:
        """(N, D) L2-normalised float32 embeddings; each phrase goes through the tower once."""
        if isinstance(phrases, str):
            phrases = [phrases]
        missing = list(dict.fromkeys(p for p in phrases if p not in self._text_cache))
        if missing:
            tokens = self.tokenizer(missing).to(self.device)
            with torch.no_grad():
                emb = F.normalize(self.model.encode_text(tokens).float(), dim=-1)
            for p, e in zip(missing, emb, strict=False):
                self._text_cache[p] = e
        if not phrases:
            return torch.zeros(0, getattr(self, "embed_dim", 0), device=self.device)
        return torch.stack([self._text_cache[p] for p in phrases])

    # ---- images -----------------------------------------------------------------------
    def preprocess(self, images: list[np.ndarray] | torch.Tensor, size: int | None = None) -> torch.Tensor:
        """RGB uint8 HxWx3 arrays (any sizes) or a (N,3,H,W) tensor (uint8, or float in 0..1)
        -> normalised (N,3,size,size) on the model's device."""
        size = size or self.image_size
        if isinstance(images, torch.Tensor):
            x = images.to(self.device)
            if x.ndim != 4 or x.shape[1] != 3:
                raise ValueError(f"image tensor must be (N, 3, H, W) RGB, got {tuple(x.shape)}")
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            if x.shape[-2:] != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        else:
            batch = []
            for img in images:
                a = np.asarray(img)
                if a.ndim != 3 or a.shape[2] != 3 or min(a.shape[:2]) < 1:
                    raise ValueError(f"each crop must be an (H, W, 3) RGB image, got shape {a.shape}")
                t = torch.from_numpy(np.ascontiguousarray(a)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
                batch.append(F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
            if not batch:
                return torch.zeros(0, 3, size, size, device=self.device)
            x = torch.cat(batch)
        return (x - self._mean) / self._std

    def encode_images(self, images: list[np.ndarray] | torch.Tensor) -> torch.Tensor:
        """(N, D) L2-normalised float32 embeddings of all images in one batched forward."""
        x = self.preprocess(images)
        if len(x) == 0:
            return torch.zeros(0, self.embed_dim, device=self.device)
        with torch.no_grad():
            return F.normalize(self.model.encode_image(x.to(self.dtype)).float(), dim=-1)

    def image_feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) dense frozen features for a semantic stream (CLIPort).

        ResNet CLIPs: the trunk's last map (stride 32, any input size; RN50 -> 2048 channels).
        ViT CLIPs: the last block's patch tokens as a grid (input resized to image_size).
        ``images``: (B, 3, H, W) RGB, uint8 or float in 0..1.
        """
        visual = self.model.visual
        is_resnet = hasattr(visual, "layer4")
        if isinstance(images, torch.Tensor) and images.ndim == 4 and is_resnet:
            x = images.to(self.device)
            x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
            x = (x - self._mean) / self._std
        else:
            x = self.preprocess(images)
        with torch.no_grad():
            x = x.to(self.dtype)
            if is_resnet:
                for block in (visual.stem, visual.layer1, visual.layer2, visual.layer3, visual.layer4):
                    x = block(x)
                return x.float()
            if hasattr(visual, "forward_intermediates"):
                out = visual.forward_intermediates(
                    x, indices=1, normalize_intermediates=True, intermediates_only=True, output_fmt="NCHW"
                )
                return out["image_intermediates"][-1].float()
        raise NotImplementedError(f"no dense feature map for the vision tower {type(visual).__name__}")

    def _feature_channels(self) -> int:
        probe = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device)
        return int(self.image_feature_map(probe).shape[1])

    def similarity(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Cosine similarities (N_images, N_texts)."""
        return image_emb @ text_emb.T
