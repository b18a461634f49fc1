"""The reference photo for the composite renderer: strict reading, one clear line per unusable photo, framing.

The composite renderer takes skin tone, lighting and noise from the photo's own pixels, so it refuses photos a
detector would still accept: greyscale (no skin colour), transparent (what is behind the alpha is unknown) and 16-bit
(its tone curve is unknown) photos, besides those without exactly one large enough face
(``pipelines.reference_face``). Framing never enlarges the photo: the training framing (``face``) shrinks the output
size until the face is no larger than in the photo, and keeps the crop inside the photo where the photo allows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from interanimate.pipelines.errors import AnimateError
from interanimate.pipelines.reference_face import (
    FRAMING_EYES, FRAMING_IOD, MAX_PIXELS, ReferenceFace, apply_affine, decode_photo_file, load_reference,
)

MIN_SIZE = 64
FRAMINGS = ("face", "photo")


def read_colour_photo(path: str | Path) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of an 8-bit colour photo, or ``AnimateError`` naming the file and the fix."""
    header = decode_photo_file(path, cv2.IMREAD_UNCHANGED)
    return check_photo_array(header[..., ::-1] if header.ndim == 3 and header.shape[2] >= 3 else header, str(path),
                             bgr_alpha=header.ndim == 3 and header.shape[2] == 4)


def check_photo_array(image: np.ndarray, where: str, bgr_alpha: bool = False) -> np.ndarray:
    """The checks of ``read_colour_photo`` on an array (RGB or RGBA order)."""
    label = f"reference photo {where}"
    if image.dtype == np.uint16:
        raise AnimateError(f"{label} has 16 bits per channel; save an 8-bit copy (e.g. a JPEG) and use that")
    if image.dtype != np.uint8:
        raise AnimateError(f"{label} has {image.dtype} pixels; use an 8-bit RGB photo")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 2)):
        raise AnimateError(f"{label} is greyscale; the hand's skin tone and light come from the face's colours, "
                           "so use a colour photo")
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise AnimateError(f"{label} has shape {image.shape}; use an RGB photo")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise AnimateError(f"{label} is {image.shape[1]}x{image.shape[0]}: too large; scale it down")
    if image.shape[2] == 4:
        alpha = image[..., 3]
        if (alpha < 255).any():
            raise AnimateError(f"{label} is transparent in {float((alpha < 255).mean()):.0%} of its pixels; flatten "
                               "it onto a background and save it without alpha")
        image = image[..., :3]
    rgb = np.ascontiguousarray(image)
    spread = np.ptp(rgb[::4, ::4].astype(np.int16), axis=2)
    if np.percentile(spread, 99) <= 2:
        raise AnimateError(f"{label} is greyscale; the hand's skin tone and light come from the face's colours, "
                           "so use a colour photo")
    return rgb


def _reframe(reference: ReferenceFace, size: int) -> ReferenceFace:
    """The training framing at ``size`` without enlarging, the crop slid inside the photo where possible."""
    photo = reference.photo
    lm = reference.photo_landmarks
    right_eye, left_eye = lm[36:42].mean(0), lm[42:48].mean(0)
    iod = float(np.linalg.norm(left_eye - right_eye))
    size = int(min(size, iod / FRAMING_IOD)) // 2 * 2
    if size < MIN_SIZE:
        raise AnimateError(f"reference photo {reference.source}: the eyes are {iod:.0f} px apart, which frames only "
                           f"{size} px; use a larger photo (at least {MIN_SIZE * FRAMING_IOD:.0f} px between the eyes)")
    scale = FRAMING_IOD * size / iod
    offset = np.array(FRAMING_EYES) * size - scale * (right_eye + left_eye) / 2
    height, width = photo.shape[:2]
    for axis, extent in ((0, width), (1, height)):
        if scale * extent >= size:
            offset[axis] = float(np.clip(offset[axis], size - scale * extent, 0.0))
    matrix = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])
    source = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else photo
    sx, sy = source.shape[1] / width, source.shape[0] / height
    to_cv = np.array([[scale / sx, 0.0, offset[0] + 0.5 * scale / sx - 0.5],
                      [0.0, scale / sy, offset[1] + 0.5 * scale / sy - 0.5]])
    framed = cv2.warpAffine(source, to_cv, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lo, hi = reference.photo_mesh[:, :2].min(0), reference.photo_mesh[:, :2].max(0)
    box = np.concatenate([apply_affine(matrix, lo[None])[0], apply_affine(matrix, hi[None])[0]])
    return dataclasses.replace(reference, image=framed, landmarks=apply_affine(matrix, lm),
                               face_box=np.clip(box, 0, size), matrix=matrix)


def load_photo(source: str | Path | np.ndarray, size: int, framing: str = "face",
               name: str | None = None) -> ReferenceFace:
    """Read, check and frame a reference photo for the composite renderer (``size``: the longest output side)."""
    if framing not in FRAMINGS:
        raise AnimateError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
    if isinstance(source, np.ndarray):
        label = name or "reference"
        photo = check_photo_array(np.asarray(source), repr(label))
    else:
        label = name or Path(source).stem
        photo = read_colour_photo(source)
    try:
        reference = load_reference(photo, size, label, framing="photo")
    except AnimateError as exc:
        if isinstance(source, np.ndarray):
            raise
        # The checks ran on the decoded pixels; name the file the user gave.
        raise AnimateError(str(exc).replace(f"reference image {label!r}", f"reference photo {source}")) from None
    if not isinstance(source, np.ndarray):
        reference = dataclasses.replace(reference, source=str(source))
    return _reframe(reference, size) if framing == "face" else reference
