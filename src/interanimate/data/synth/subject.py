"""Per-subject parameters: head shape, skin, hair, ears and hand, drawn from one seeded generator.

A subject is fully described by a ``SubjectParams``; the head and hand models are pure functions of
it, so the parameters recorded in a clip's ``record.extra`` reproduce the subject exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Skin reflectance anchors (sRGB, 0-1), light to dark, roughly spanning the Fitzpatrick I-VI / Monk
# 1-10 range; a subject's tone is a position along this curve plus an undertone shift, so drawing the
# position uniformly gives a balanced spread of tones instead of clustering on one.
SKIN_TONES_SRGB = np.array([
    [0.96, 0.82, 0.74],
    [0.92, 0.74, 0.63],
    [0.86, 0.66, 0.54],
    [0.78, 0.58, 0.44],
    [0.68, 0.48, 0.35],
    [0.58, 0.40, 0.28],
    [0.47, 0.31, 0.21],
    [0.37, 0.24, 0.16],
    [0.28, 0.18, 0.12],
    [0.20, 0.13, 0.09],
], np.float64)

HAIR_COLOURS_SRGB = {
    "black": (0.05, 0.045, 0.04),
    "dark_brown": (0.16, 0.10, 0.07),
    "brown": (0.30, 0.19, 0.11),
    "auburn": (0.42, 0.18, 0.09),
    "blond": (0.72, 0.58, 0.36),
    "grey": (0.62, 0.61, 0.60),
}
HAIR_STYLES = ("shaved", "short", "medium", "long", "bald")
EYE_COLOURS_SRGB = {
    "dark_brown": (0.17, 0.09, 0.05),
    "brown": (0.33, 0.19, 0.09),
    "hazel": (0.42, 0.34, 0.17),
    "green": (0.30, 0.42, 0.26),
    "blue": (0.30, 0.44, 0.62),
    "grey": (0.45, 0.48, 0.50),
}


def srgb_to_linear(c: np.ndarray | tuple) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@dataclass(frozen=True)
class SubjectParams:
    """Everything that makes one synthetic person.

    Shape factors are multipliers around 1 on the canonical head (``head.py``); lengths are metres.
    Args:
        subject_id: stable id used in clip ids and splits.
        head_scale: uniform scale of the whole head.
        head_width, head_depth: skull breadth and front-to-back depth factors.
        lower_face: length of the face below the eyes.
        jaw_width, chin, cheekbones, cheek_fullness: lower-face shape factors.
        nose_length, nose_width, nose_projection: nose shape factors.
        eye_spacing, eye_size, brow_ridge, brow_thickness: eye-area factors.
        mouth_width, lip_fullness: mouth factors.
        ear_size, ear_protrusion: ear factors (protrusion in radians).
        skin_tone: position in [0, 1] along ``SKIN_TONES_SRGB`` (0 lightest).
        undertone: -1 (cool/pink) .. 1 (warm/yellow).
        skin_srgb, lip_srgb: resulting colours.
        hair_style, hair_colour: names in ``HAIR_STYLES`` / ``HAIR_COLOURS_SRGB``.
        hair_srgb, eye_srgb, clothing_srgb: colours.
        hairline: how far the front hairline sits above the brows (factor).
        hand_scale: uniform hand size factor; finger_length, finger_thickness: finger factors.
        bone_jitter: 20 per-bone length factors (thumb..pinky, proximal to distal) around 1.
        long_sleeves: whether the forearm is covered.
        texture_seed: seed of the procedural skin texture.
    """

    subject_id: str
    head_scale: float
    head_width: float
    head_depth: float
    lower_face: float
    jaw_width: float
    chin: float
    cheekbones: float
    cheek_fullness: float
    nose_length: float
    nose_width: float
    nose_projection: float
    eye_spacing: float
    eye_size: float
    brow_ridge: float
    brow_thickness: float
    mouth_width: float
    lip_fullness: float
    ear_size: float
    ear_protrusion: float
    skin_tone: float
    undertone: float
    skin_srgb: tuple[float, float, float]
    lip_srgb: tuple[float, float, float]
    hair_style: str
    hair_colour: str
    hair_srgb: tuple[float, float, float]
    eye_srgb: tuple[float, float, float]
    clothing_srgb: tuple[float, float, float]
    hairline: float
    hand_scale: float
    finger_length: float
    finger_thickness: float
    bone_jitter: tuple[float, ...]
    long_sleeves: bool
    texture_seed: int

    def to_dict(self) -> dict:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 6)
            elif isinstance(value, tuple):
                out[key] = [round(float(v), 6) for v in value]
        return out


def _skin_colour(tone: float, undertone: float) -> np.ndarray:
    position = tone * (len(SKIN_TONES_SRGB) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(SKIN_TONES_SRGB) - 1)
    frac = position - low
    colour = SKIN_TONES_SRGB[low] * (1 - frac) + SKIN_TONES_SRGB[high] * frac
    # Warm undertones carry more yellow (less blue), cool ones more red-pink.
    shift = np.array([0.01 * -undertone, 0.012 * undertone, -0.03 * undertone])
    return np.clip(colour + shift * colour.mean() * 2.0, 0.02, 1.0)


def sample_subject(rng: np.random.Generator, subject_id: str) -> SubjectParams:
    """Draw one subject; every call with an equally seeded ``rng`` gives the same person."""

    def around(spread: float) -> float:
        return float(np.clip(1.0 + rng.normal(0.0, spread), 1.0 - 2.5 * spread, 1.0 + 2.5 * spread))

    tone = float(rng.uniform(0.0, 1.0))
    undertone = float(rng.uniform(-1.0, 1.0))
    skin = _skin_colour(tone, undertone)
    # Lips: redder and darker than the surrounding skin, less so on dark skin where lips are close in hue.
    lip = np.clip(skin * np.array([0.92, 0.66, 0.68]) * (0.95 - 0.1 * tone) + np.array([0.05, 0.0, 0.01]), 0, 1)

    # Hair colour depends loosely on skin tone: light colours are rarer on darker-skinned subjects.
    names = list(HAIR_COLOURS_SRGB)
    weights = np.array([0.30 + 0.5 * tone, 0.25, 0.18, 0.07 * (1 - tone), 0.14 * (1 - tone) ** 2, 0.06])
    hair_colour = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    hair_style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=[0.10, 0.34, 0.26, 0.22, 0.08]))]
    hair = np.clip(np.array(HAIR_COLOURS_SRGB[hair_colour]) * rng.uniform(0.85, 1.15), 0, 1)
    eye_names = list(EYE_COLOURS_SRGB)
    eye_weights = np.array([0.3 + 0.4 * tone, 0.25, 0.12, 0.08 * (1 - tone), 0.15 * (1 - tone), 0.05])
    eye = EYE_COLOURS_SRGB[eye_names[int(rng.choice(len(eye_names), p=eye_weights / eye_weights.sum()))]]
    clothing = np.clip(rng.uniform(0.05, 0.85, 3) * rng.uniform(0.4, 1.0), 0.03, 0.9)

    return SubjectParams(
        subject_id=subject_id,
        head_scale=float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)),
        head_width=around(0.05),
        head_depth=around(0.04),
        lower_face=around(0.06),
        jaw_width=around(0.08),
        chin=around(0.25),
        cheekbones=around(0.25),
        cheek_fullness=around(0.3),
        nose_length=around(0.08),
        nose_width=around(0.12),
        nose_projection=around(0.14),
        eye_spacing=around(0.05),
        eye_size=around(0.08),
        brow_ridge=around(0.3),
        brow_thickness=around(0.25),
        mouth_width=around(0.08),
        lip_fullness=around(0.2),
        ear_size=around(0.08),
        ear_protrusion=float(rng.uniform(0.15, 0.5)),
        skin_tone=tone,
        undertone=undertone,
        skin_srgb=tuple(float(v) for v in skin),
        lip_srgb=tuple(float(v) for v in lip),
        hair_style=hair_style,
        hair_colour=hair_colour,
        hair_srgb=tuple(float(v) for v in hair),
        eye_srgb=tuple(float(v) for v in eye),
        clothing_srgb=tuple(float(v) for v in clothing),
        hairline=around(0.12),
        hand_scale=float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)),
        finger_length=around(0.05),
        finger_thickness=around(0.08),
        bone_jitter=tuple(float(v) for v in np.clip(rng.normal(1.0, 0.04, 20), 0.9, 1.1)),
        long_sleeves=bool(rng.random() < 0.5),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )
