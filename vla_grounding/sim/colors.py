"""CLIPort's colour palette and its seen/unseen split.

The values are the Tableau colours CLIPort uses (RGB in 0..1); ``TRAIN_COLORS`` are the
"seen" colours, ``EVAL_COLORS`` the ones an unseen-colour task shows at test time (they
share blue, red and green, as in CLIPort).
"""

from __future__ import annotations

COLORS: dict[str, tuple[float, float, float]] = {
    "blue": (78 / 255, 121 / 255, 167 / 255),
    "red": (255 / 255, 87 / 255, 89 / 255),
    "green": (89 / 255, 169 / 255, 79 / 255),
    "orange": (242 / 255, 142 / 255, 43 / 255),
    "yellow": (237 / 255, 201 / 255, 72 / 255),
    "purple": (176 / 255, 122 / 255, 161 / 255),
    "pink": (255 / 255, 157 / 255, 167 / 255),
    "cyan": (118 / 255, 183 / 255, 178 / 255),
    "brown": (156 / 255, 117 / 255, 95 / 255),
    "white": (255 / 255, 255 / 255, 255 / 255),
    "gray": (186 / 255, 176 / 255, 172 / 255),
}

TRAIN_COLORS: tuple[str, ...] = ("blue", "red", "green", "yellow", "brown", "gray", "cyan")
EVAL_COLORS: tuple[str, ...] = ("blue", "red", "green", "orange", "purple", "pink", "white")


def rgba(name: str, alpha: float = 1.0) -> list[float]:
    """Colour by name as pybullet's rgbaColor."""
    if name not in COLORS:
        raise ValueError(f"unknown colour {name!r}; choose one of {sorted(COLORS)}")
    return [*COLORS[name], alpha]


def brown_shade(shade: float) -> list[float]:
    """A brown scaled by ``shade`` (CLIPort's lighter/darker stand parts), as rgba."""
    r, g, b = (min(1.0, c * shade) for c in COLORS["brown"])
    return [r, g, b, 1.0]
