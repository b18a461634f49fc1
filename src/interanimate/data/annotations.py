"""In-memory per-clip annotations and their ``annotations.npz`` encoding (see ``schema``)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from interanimate.data import schema
from interanimate.errors import UserError


# Channel indices of ``ClipAnnotations.masks`` (``schema.MASK_CHANNELS`` order), for code that writes one frame's
# masks; to read a whole channel use ``ClipAnnotations.mask(name)``.
FACE_CHANNEL = schema.MASK_CHANNELS.index("face")
HAND_CHANNELS = (schema.MASK_CHANNELS.index("hand_left"), schema.MASK_CHANNELS.index("hand_right"))  # by side
CONTACT_CHANNEL = schema.MASK_CHANNELS.index("contact")


class AnnotationFormatError(UserError, ValueError):
    """An annotation file or array set that does not follow the contract."""


@dataclass
class ClipAnnotations:
    """Every per-frame label of one clip, in the contract's layout (shapes in ``schema.ARRAYS``).

    ``masks`` is held unpacked as ``(F, 4, H, W) bool`` in ``schema.MASK_CHANNELS`` order; it is
    bit-packed on save. Optional and synthetic-only arrays are ``None`` when absent.
    """

    face_keypoints: np.ndarray
    face_confidence: np.ndarray
    face_box: np.ndarray
    face_present: np.ndarray
    hand_keypoints: np.ndarray
    hand_present: np.ndarray
    masks: np.ndarray
    contact: np.ndarray
    contact_point: np.ndarray
    contact_region: np.ndarray
    pattern_id: int = -1
    identity_embedding: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    identity_kind: str = ""
    contact_segments: np.ndarray | None = None
    face_dense: np.ndarray | None = None
    depth: np.ndarray | None = None
    deformation: np.ndarray | None = None
    penetration: np.ndarray | None = None
    joints_3d: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.face_keypoints.shape[0])

    @property
    def height(self) -> int:
        return int(self.masks.shape[2])

    @property
    def width(self) -> int:
        return int(self.masks.shape[3])

    @property
    def is_synthetic(self) -> bool:
        return self.depth is not None

    @classmethod
    def empty(cls, num_frames: int, height: int, width: int) -> "ClipAnnotations":
        """All-absent annotations (no face, no hands, no contact) of the right shapes, to fill in."""
        f = num_frames
        return cls(
            face_keypoints=np.full((f, 68, 2), np.nan, np.float32),
            face_confidence=np.zeros(f, np.float32),
            face_box=np.full((f, 4), np.nan, np.float32),
            face_present=np.zeros(f, bool),
            hand_keypoints=np.concatenate(
                [np.full((f, 2, 21, 2), np.nan, np.float32), np.zeros((f, 2, 21, 1), np.float32)], axis=-1
            ),
            hand_present=np.zeros((f, 2), bool),
            masks=np.zeros((f, len(schema.MASK_CHANNELS), height, width), bool),
            contact=np.zeros((f, 2), bool),
            contact_point=np.full((f, 2, 2), np.nan, np.float32),
            contact_region=np.full((f, 2), schema.NO_REGION, np.int8),
        )

    def mask(self, name: str) -> np.ndarray:
        """One mask channel by name (``"face"``, ``"hand_left"``, ``"hand_right"``, ``"contact"``): ``(F, H, W)``."""
        return self.masks[:, schema.MASK_CHANNELS.index(name)]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The on-disk arrays (masks bit-packed, dtypes as the schema says, absent optionals left out)."""
        out: dict[str, np.ndarray] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "masks":
                out["masks_packed"] = schema.pack_masks(value)
                continue
            if value is None:
                continue
            spec = schema.ARRAY_SPECS[f.name]
            out[f.name] = np.asarray(value, dtype=spec.dtype)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], height: int, width: int) -> "ClipAnnotations":
        """Inverse of ``to_arrays``; ``height``/``width`` are needed to unpack the masks."""
        missing = [s.name for s in schema.ARRAYS if s.required == "all" and s.name not in arrays]
        if missing:
            raise AnnotationFormatError(f"missing arrays: {', '.join(missing)}")
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "masks":
                packed = arrays["masks_packed"]
                expected = schema.packed_mask_bytes(height, width)
                if packed.ndim != 3 or packed.shape[-1] != expected:
                    raise AnnotationFormatError(
                        f"masks_packed has shape {packed.shape}; expected (F, 4, {expected}) for {height}x{width}"
                    )
                kwargs["masks"] = schema.unpack_masks(packed, height, width)
            elif f.name in arrays:
                value = arrays[f.name]
                if f.name == "pattern_id":
                    value = int(value)
                elif f.name == "identity_kind":
                    value = str(value)
                kwargs[f.name] = value
        return cls(**kwargs)  # type: ignore[arg-type]

    def to_npz_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.to_arrays())
        return buffer.getvalue()


def read_npz_arrays(source: Path | bytes) -> dict[str, np.ndarray]:
    """Load every array of an ``annotations.npz`` (path or bytes) without allowing pickled objects."""
    try:
        handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        with np.load(handle, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        name = "annotation bytes" if isinstance(source, (bytes, bytearray)) else str(source)
        raise AnnotationFormatError(f"{name}: not a readable annotations.npz ({err})") from None


def load_annotations(source: Path | bytes, height: int, width: int) -> ClipAnnotations:
    return ClipAnnotations.from_arrays(read_npz_arrays(source), height, width)
