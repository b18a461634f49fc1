"""The interaction taxonomy: 18 hand-face patterns in 4 families, and the face-region vocabulary.

This module is the single source of truth for pattern and region names and their integer ids. Ids are
stored in annotation files, so the order of ``PATTERNS`` and ``FACE_REGIONS`` is part of the format:
append, never reorder, and bump ``TAXONOMY_VERSION`` when anything changes.

"left"/"right" always mean the *subject's* anatomical side, not the side of the image.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from interanimate.errors import UserError

TAXONOMY_VERSION = "1.0"

FAMILIES: tuple[str, ...] = ("poke", "pinch", "stroke", "swipe")

FAMILY_DESCRIPTIONS: dict[str, str] = {
    "poke": "the index fingertip approaches and presses 1-2 times; short contacts; local indentation",
    "pinch": "thumb and index close on the skin, hold, pull slightly, release; skin bulges between the fingers",
    "stroke": "finger pads slide slowly along a path with sustained contact; skin drags along",
    "swipe": "a fast, light pass across the face; brief contact",
}

FACE_REGIONS: tuple[str, ...] = (
    "forehead",
    "nose",
    "chin",
    "cheek_left",
    "cheek_right",
    "mouth",
    "jaw",
    "eye_left",
    "eye_right",
    "temple_left",
    "temple_right",
)


@dataclass(frozen=True)
class Pattern:
    """One interaction pattern.

    Args:
        name: canonical name, e.g. ``"poke_cheek_left"``.
        family: one of ``FAMILIES``.
        region: the face region the pattern targets (one of ``FACE_REGIONS``).
        direction: for swipes, the direction of travel in the subject's frame
            (``"leftward"``, ``"rightward"``, ``"downward"``); ``None`` otherwise.
    """

    name: str
    family: str
    region: str
    direction: str | None = None

    @property
    def id(self) -> int:
        return PATTERN_IDS[self.name]

    @property
    def family_id(self) -> int:
        return FAMILIES.index(self.family)

    @property
    def region_id(self) -> int:
        return FACE_REGIONS.index(self.region)


PATTERNS: tuple[Pattern, ...] = (
    Pattern("poke_forehead", "poke", "forehead"),
    Pattern("poke_nose", "poke", "nose"),
    Pattern("poke_chin", "poke", "chin"),
    Pattern("poke_cheek_left", "poke", "cheek_left"),
    Pattern("poke_cheek_right", "poke", "cheek_right"),
    Pattern("pinch_cheek_left", "pinch", "cheek_left"),
    Pattern("pinch_cheek_right", "pinch", "cheek_right"),
    Pattern("pinch_chin", "pinch", "chin"),
    Pattern("pinch_nose", "pinch", "nose"),
    Pattern("stroke_cheek_left", "stroke", "cheek_left"),
    Pattern("stroke_cheek_right", "stroke", "cheek_right"),
    Pattern("stroke_forehead", "stroke", "forehead"),
    Pattern("stroke_jaw", "stroke", "jaw"),
    Pattern("swipe_forehead_leftward", "swipe", "forehead", "leftward"),
    Pattern("swipe_forehead_rightward", "swipe", "forehead", "rightward"),
    Pattern("swipe_mouth_leftward", "swipe", "mouth", "leftward"),
    Pattern("swipe_mouth_rightward", "swipe", "mouth", "rightward"),
    Pattern("swipe_face_downward", "swipe", "nose", "downward"),
)

PATTERN_NAMES: tuple[str, ...] = tuple(p.name for p in PATTERNS)
PATTERN_IDS: dict[str, int] = {name: i for i, name in enumerate(PATTERN_NAMES)}
NUM_PATTERNS = len(PATTERNS)
_BY_NAME: dict[str, Pattern] = {p.name: p for p in PATTERNS}


class UnknownNameError(UserError, ValueError):
    """A pattern, family or region name that is not in the taxonomy; the message carries suggestions."""


def _unknown(kind: str, name: str, choices: tuple[str, ...]) -> UnknownNameError:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if not close:
        # Prefix/substring hints help with partial names such as "poke_cheek" or "cheek".
        close = [c for c in choices if name and (c.startswith(name) or name in c)][:3]
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else f"choose from: {', '.join(choices)}"
    return UnknownNameError(f"unknown {kind} {name!r}; {hint}")


def get_pattern(name: str) -> Pattern:
    """Return the pattern called ``name``; raise ``UnknownNameError`` with did-you-mean suggestions."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise _unknown("pattern", name, PATTERN_NAMES) from None


def pattern_by_id(pattern_id: int) -> Pattern:
    if not 0 <= pattern_id < NUM_PATTERNS:
        raise ValueError(f"pattern id {pattern_id} is out of range 0..{NUM_PATTERNS - 1}")
    return PATTERNS[pattern_id]


def patterns_in_family(family: str) -> tuple[Pattern, ...]:
    if family not in FAMILIES:
        raise _unknown("family", family, FAMILIES)
    return tuple(p for p in PATTERNS if p.family == family)


def region_id(name: str) -> int:
    """Integer id of a face region; raise ``UnknownNameError`` with suggestions on a typo."""
    try:
        return FACE_REGIONS.index(name)
    except ValueError:
        raise _unknown("face region", name, FACE_REGIONS) from None


def resolve_patterns(names: list[str] | tuple[str, ...] | None) -> tuple[Pattern, ...]:
    """Expand a user's selection: pattern names and family names (all patterns of that family).

    ``None`` or an empty selection means all 18 patterns, in taxonomy order, without duplicates.
    """
    if not names:
        return PATTERNS
    chosen: list[Pattern] = []
    for name in names:
        group = patterns_in_family(name) if name in FAMILIES else (get_pattern(name),)
        chosen.extend(p for p in group if p not in chosen)
    return tuple(sorted(chosen, key=lambda p: p.id))
