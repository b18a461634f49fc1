"""The reference photo: read it, find exactly one usable face, and frame it the way the training data is framed.

Detection uses the annotator's perception (MediaPipe face landmarker, offline model file) and its data-derived
iBUG-68 map, so reference landmarks and dataset landmarks mean the same points. A photo is refused when no face is
found, when a second face is at least ``SECOND_FACE_RATIO`` times the size of the largest (whose face to animate
would be a guess; a small bystander in the background is ignored), or when the face is smaller than
``MIN_FACE_PX`` pixels high (the annotator's tiny-face threshold: below it landmarks and identity are unreliable).

Framing: generated clips are square ``S×S`` frames. The photo is cropped to a square centred on the eyes, with an
inter-ocular distance of ``FRAMING_IOD`` × S and the eyes at ``FRAMING_EYES`` — the average framing of the
synthetic training data (measured on ``interanimate synth`` renders: IOD 0.13-0.16 S, eyes at about (0.5, 0.5) S).
Where the square reaches past the photo's border, the border pixels are repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from interanimate.pipelines.errors import AnimateError

MIN_FACE_PX = 40.0
SECOND_FACE_RATIO = 0.5
FRAMING_IOD = 0.14
FRAMING_EYES = (0.5, 0.48)
MAX_PIXELS = 8192 * 8192


@dataclass
class ReferenceFace:
    """A framed reference.

    Args:
        name: short name for ids and file names (the photo's stem).
        source: where the photo came from.
        image: ``(S, S, 3) uint8`` framed photo.
        landmarks: ``(68, 2)`` iBUG-68 landmarks in the framed image's pixels.
        face_box: ``(4,)`` x0, y0, x1, y1 of the face in the framed image.
        photo_landmarks: ``(68, 2)`` landmarks in the original photo.
        photo_face_box: the face box in the original photo (used for the identity embedding).
        digest: sha256 of the photo's pixels (stable subject ids).
    """

    name: str
    source: str
    image: np.ndarray
    landmarks: np.ndarray
    face_box: np.ndarray
    photo_landmarks: np.ndarray
    photo_face_box: np.ndarray
    photo: np.ndarray
    digest: str
    photo_mesh: np.ndarray | None = None
    matrix: np.ndarray | None = None

    @property
    def mesh(self) -> np.ndarray | None:
        """``(478, 3)`` dense face mesh in the framed image's pixels (z scaled like x), when known."""
        if self.photo_mesh is None or self.matrix is None:
            return None
        xy = apply_affine(self.matrix, self.photo_mesh[:, :2].astype(np.float64))
        return np.concatenate([xy, self.photo_mesh[:, 2:3] * self.matrix[0, 0]], axis=1)

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


def decode_photo_file(path: str | Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """The image in ``path`` as OpenCV decodes it with ``flags`` (BGR order), or ``AnimateError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AnimateError(f"reference photo {path} does not exist")
    if path.stat().st_size == 0:
        raise AnimateError(f"reference photo {path} is an empty file")
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), flags)
    if image is None:
        raise AnimateError(f"reference photo {path} is not a readable image (JPEG, PNG, BMP, TIFF or WebP)")
    return image


def read_photo(path: str | Path) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB, or ``AnimateError`` naming the file."""
    image = decode_photo_file(path)
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise AnimateError(f"reference photo {path} is {image.shape[1]}x{image.shape[0]}: too large; scale it down")
    return np.ascontiguousarray(image[..., ::-1])


def detect_faces(image: np.ndarray) -> list[np.ndarray]:
    """Dense face meshes ``(478, 3)`` found in ``image``, largest first."""
    from interanimate.data.annotate import Perceiver

    with Perceiver(max_faces=3, max_hands=1) as perceiver:
        faces = perceiver(np.ascontiguousarray(image), 0).faces
    return sorted(faces, key=lambda mesh: -float(np.ptp(mesh[:, 1])))


def frame_reference(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop and scale ``image`` to the training framing; return ``(S×S image, 2×3 photo→frame affine)``."""
    right_eye, left_eye = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    eyes = (right_eye + left_eye) / 2
    iod = float(np.linalg.norm(left_eye - right_eye))
    scale = FRAMING_IOD * size / max(iod, 1e-6)
    offset = np.array(FRAMING_EYES) * size - scale * eyes
    matrix = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])
    source, sx, sy = image, 1.0, 1.0
    if scale < 1.0:  # shrink with area averaging first, so the crop does not alias
        source = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sx, sy = source.shape[1] / image.shape[1], source.shape[0] / image.shape[0]
    # cv2 indexes pixel centres at integers, the contract at i + 0.5: index j = (scale/s)·(i + 0.5) + offset − 0.5.
    to_cv = np.array([[scale / sx, 0.0, offset[0] + 0.5 * scale / sx - 0.5],
                      [0.0, scale / sy, offset[1] + 0.5 * scale / sy - 0.5]])
    framed = cv2.warpAffine(source, to_cv, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return framed, matrix


def frame_photo(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The whole photo, shrunk (never enlarged) so its longer side is at most ``size``; even sides for H.264."""
    height, width = image.shape[:2]
    scale = min(1.0, size / max(height, width))
    out_w, out_h = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
    sx, sy = out_w / width, out_h / height
    framed = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return framed, np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def load_reference(source: str | Path | np.ndarray, size: int, name: str | None = None,
                   framing: str = "face") -> ReferenceFace:
    """Read (a path) or take (an ``(H, W, 3) uint8`` array) a photo, check its face and frame it at ``size``.

    ``framing="face"`` crops the training framing (``frame_reference``); ``"photo"`` keeps the whole photo
    (``frame_photo``).
    """
    import hashlib

    from interanimate.data.annotate import ibug68_from_mesh

    if isinstance(source, np.ndarray):
        photo = np.ascontiguousarray(source, np.uint8)
        if photo.ndim != 3 or photo.shape[-1] != 3:
            raise AnimateError(f"reference image must be (H, W, 3) RGB, got shape {photo.shape}")
        label = name or "reference"
        where = f"reference image {label!r}"
    else:
        photo = read_photo(source)
        label = name or Path(source).stem
        where = f"reference photo {source}"
    faces = detect_faces(photo)
    if not faces:
        raise AnimateError(f"{where}: no face found; use a photo with one clearly visible, roughly frontal face")
    heights = [float(np.ptp(mesh[:, 1])) for mesh in faces]
    if len(faces) > 1 and heights[1] >= SECOND_FACE_RATIO * heights[0]:
        raise AnimateError(f"{where}: {len(faces)} faces found; crop the photo to the one person to animate")
    if heights[0] < MIN_FACE_PX:
        raise AnimateError(f"{where}: the face is only {heights[0]:.0f} px high (at least {MIN_FACE_PX:.0f} px "
                           "needed); use a larger or closer photo")
    mesh = faces[0]
    photo_landmarks = ibug68_from_mesh(mesh)[:, :2].astype(np.float64)
    lo, hi = mesh[:, :2].min(axis=0), mesh[:, :2].max(axis=0)
    if framing == "photo":
        framed, matrix = frame_photo(photo, size)
    else:
        framed, matrix = frame_reference(photo, photo_landmarks, size)
    landmarks = apply_affine(matrix, photo_landmarks)
    box = np.concatenate([apply_affine(matrix, lo[None])[0], apply_affine(matrix, hi[None])[0]])
    digest = hashlib.sha256(np.ascontiguousarray(photo).tobytes()).hexdigest()
    return ReferenceFace(name=label, source=str(source) if not isinstance(source, np.ndarray) else label,
                         image=framed, landmarks=landmarks, face_box=np.clip(box, 0, max(framed.shape[:2])),
                         photo_landmarks=photo_landmarks, photo_face_box=np.concatenate([lo, hi]).astype(np.float64),
                         photo=photo, digest=digest, photo_mesh=np.asarray(mesh, np.float64), matrix=matrix)


def identity_embedding(reference: ReferenceFace) -> np.ndarray | None:
    """dlib 128-d descriptor of the reference face (on the full-resolution photo), or ``None`` if dlib fails."""
    from interanimate.data.annotate import FaceEmbedder

    try:
        vector = FaceEmbedder()(reference.photo, reference.photo_face_box)
    except (RuntimeError, ImportError):  # dlib missing or its models unreadable: generate without identity
        return None
    return None if vector is None or not np.isfinite(vector).all() else vector.astype(np.float32)
