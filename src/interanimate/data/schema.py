"""The InterHF dataset contract: every per-clip array, with its shape, dtype, units and meaning.

A dataset is a folder::

    DATASET/
      dataset_card.json            format/taxonomy versions, producer, counts, creation time
      manifest.jsonl               one JSON record per clip (see ``interanimate.data.manifest``)
      clips/<clip_id>/video.mp4    H.264, yuv420p, RGB content, ``fps`` frames per second
      clips/<clip_id>/annotations.npz
                                   the arrays below (``numpy.savez_compressed``, no pickled objects)
      clips/<clip_id>/record.json  the clip's manifest record without the split (written with the clip,
                                   so a clip folder is complete and self-describing on its own)

Shape symbols: ``F`` frames, ``H``/``W`` frame height/width in pixels, ``D`` identity-embedding size,
``S`` contact segments. Coordinates are pixels with the origin at the top-left corner of the top-left
pixel, x to the right and y down; a pixel centre is at ``(i + 0.5)``. Hand index 0 is the *subject's*
left hand and 1 the right. Keypoints with confidence > 0 lie inside ``[0, W] x [0, H]``; producers
set the confidence of points outside the frame to 0. Missing values are NaN where the dtype is float.

Masks are stored bit-packed: ``masks_packed[f, k]`` is ``numpy.packbits`` of the row-major boolean
``H x W`` mask ``k`` of frame ``f`` (``MASK_CHANNELS`` gives ``k``), padded to a whole byte. The
compressed archive makes this a few hundred bytes per mask for typical clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMAT_NAME = "InterHF"
FORMAT_VERSION = "1.0"

NUM_FACE_KEYPOINTS = 68  # iBUG-68 order
NUM_HAND_KEYPOINTS = 21  # wrist, thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky 17-20
NUM_HANDS = 2  # 0 = subject's left hand, 1 = subject's right hand
HAND_SIDES = ("left", "right")
MASK_CHANNELS = ("face", "hand_left", "hand_right", "contact")
IDENTITY_KINDS = {"dlib128": 128, "arcface512": 512}
# What a clip is (manifest ``source.kind``): rendered with exact ground truth, captured by a camera and
# annotated, or produced by a generative model (its labels are the conditions it was asked to follow).
SOURCE_KINDS = ("synthetic", "real", "generated")
NO_REGION = -1  # contact_region value when a hand touches nothing

# iBUG-68 index ranges, used for face contours and sanity checks.
FACE_PARTS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17),
    "brow_right_image": (17, 22),  # iBUG numbers from the image's left: 17-21 is the subject's right brow
    "brow_left_image": (22, 27),
    "nose_bridge": (27, 31),
    "nose_lower": (31, 36),
    "eye_right_subject": (36, 42),
    "eye_left_subject": (42, 48),
    "lips_outer": (48, 60),
    "lips_inner": (60, 68),
}
FACE_PARTS_CLOSED = {"eye_right_subject", "eye_left_subject", "lips_outer", "lips_inner"}

# 21-keypoint hand skeleton: (parent, child) bones, grouped per finger.
HAND_FINGERS: dict[str, tuple[int, ...]] = {
    "thumb": (0, 1, 2, 3, 4),
    "index": (0, 5, 6, 7, 8),
    "middle": (0, 9, 10, 11, 12),
    "ring": (0, 13, 14, 15, 16),
    "pinky": (0, 17, 18, 19, 20),
}
HAND_BONES: tuple[tuple[int, int], ...] = tuple(
    (chain[i], chain[i + 1]) for chain in HAND_FINGERS.values() for i in range(len(chain) - 1)
) + ((5, 9), (9, 13), (13, 17))  # palm knuckle line
FINGERTIPS = (4, 8, 12, 16, 20)


@dataclass(frozen=True)
class ArraySpec:
    """How one annotation array looks on disk.

    Args:
        name: key inside ``annotations.npz``.
        shape: symbolic shape; ints are fixed sizes, strings are symbols (``"F"``, ``"H"``, ``"W"``,
            ``"D"``, ``"S"``, ``"B"`` = bytes per packed mask).
        dtype: numpy dtype string.
        units: physical units or value convention.
        meaning: what the array holds.
        required: whether every clip must carry it (``"all"``), only rendered clips of source kind
            ``"synthetic"`` (``"synthetic"``), or nobody (``"optional"``).
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    units: str
    meaning: str
    required: str = "all"


ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec("face_keypoints", ("F", 68, 2), "float32", "pixels (x, y)",
              "iBUG-68 face landmarks; NaN where no face was found"),
    ArraySpec("face_confidence", ("F",), "float32", "[0, 1]",
              "confidence that the frame's face landmarks are right; 0 when no face"),
    ArraySpec("face_box", ("F", 4), "float32", "pixels (x0, y0, x1, y1)",
              "tight face box; NaN where no face was found"),
    ArraySpec("face_present", ("F",), "bool", "flag", "a face was found in the frame"),
    ArraySpec("hand_keypoints", ("F", 2, 21, 3), "float32", "pixels (x, y) and confidence in [0, 1]",
              "21 hand keypoints per hand; hand 0 = subject's left; NaN x/y and confidence 0 when absent"),
    ArraySpec("hand_present", ("F", 2), "bool", "flag", "the hand is visible in the frame"),
    ArraySpec("masks_packed", ("F", 4, "B"), "uint8", "bit-packed booleans",
              "masks per frame in MASK_CHANNELS order (face, hand_left, hand_right, contact)"),
    ArraySpec("contact", ("F", 2), "bool", "flag", "the hand touches the face in this frame"),
    ArraySpec("contact_point", ("F", 2, 2), "float32", "pixels (x, y)",
              "where the hand touches the face; NaN when not in contact"),
    ArraySpec("contact_region", ("F", 2), "int8", "index into taxonomy.FACE_REGIONS; -1 = none",
              "the face region touched by each hand"),
    ArraySpec("pattern_id", (), "int16", "index into taxonomy.PATTERNS; -1 = unlabelled",
              "the clip's interaction pattern"),
    ArraySpec("identity_embedding", ("D",), "float32", "unit-free feature vector",
              "face-recognition embedding of the clip's subject; kind in identity_kind"),
    ArraySpec("identity_kind", (), "<U16", "one of IDENTITY_KINDS", "which embedding identity_embedding is"),
    ArraySpec("contact_segments", ("S", 2), "int32", "frame indices [start, end)",
              "contact segments the pattern was recognised from (real data)", "optional"),
    ArraySpec("face_dense", ("F", 478, 3), "float32", "pixels (x, y), z relative to face width",
              "dense face landmarks (MediaPipe 478 order)", "optional"),
    ArraySpec("depth", ("F", "H", "W"), "float16", "metres from the camera plane; 0 = background",
              "rendered depth of the visible surface", "synthetic"),
    ArraySpec("deformation", ("F", "H", "W"), "float16", "millimetres",
              "magnitude of soft-tissue displacement of the skin visible at each pixel", "synthetic"),
    ArraySpec("penetration", ("F",), "float32", "millimetres",
              "deepest hand-into-face penetration left after collision resolution", "synthetic"),
    ArraySpec("joints_3d", ("F", 2, 21, 3), "float32", "metres, camera coordinates (x right, y down, z forward)",
              "3-D hand joints; NaN for absent hands", "synthetic"),
)
ARRAY_SPECS: dict[str, ArraySpec] = {spec.name: spec for spec in ARRAYS}


def packed_mask_bytes(height: int, width: int) -> int:
    """Bytes per bit-packed ``height x width`` mask."""
    return (height * width + 7) // 8


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """``(F, 4, H, W) bool`` -> ``(F, 4, B) uint8`` bit-packed, row-major per mask."""
    if masks.ndim != 4:
        raise ValueError(f"masks must be (F, 4, H, W), got shape {masks.shape}")
    num_frames, channels = masks.shape[:2]
    flat = masks.reshape(num_frames, channels, -1).astype(bool, copy=False)
    return np.packbits(flat, axis=-1)


def unpack_masks(packed: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(F, 4, B) uint8`` -> ``(F, 4, H, W) bool``; the inverse of ``pack_masks``."""
    bits = np.unpackbits(packed, axis=-1, count=height * width)
    return bits.reshape(packed.shape[0], packed.shape[1], height, width).astype(bool)


def expected_shape(spec: ArraySpec, sizes: dict[str, int]) -> tuple[int, ...] | None:
    """Resolve a spec's symbolic shape; ``None`` when a symbol is free (``D``, ``S``)."""
    resolved: list[int] = []
    for dim in spec.shape:
        if isinstance(dim, int):
            resolved.append(dim)
        elif dim in sizes:
            resolved.append(sizes[dim])
        else:
            return None
    return tuple(resolved)


def describe() -> str:
    """A Markdown table of every array in the contract (used by the docs and ``--help`` texts)."""
    lines = ["| array | shape | dtype | units | required | meaning |", "|---|---|---|---|---|---|"]
    for spec in ARRAYS:
        shape = "(" + ", ".join(str(d) for d in spec.shape) + ("," if len(spec.shape) == 1 else "") + ")"
        lines.append(f"| `{spec.name}` | `{shape}` | {spec.dtype} | {spec.units} | {spec.required} | {spec.meaning} |")
    return "\n".join(lines)
