"""Subject identity: dlib 128-d face embeddings, sidecar subject ids, and embedding clustering.

dlib's ResNet face descriptor (``face_recognition_models``, offline) maps a face to 128 numbers in
which photos of one person lie within Euclidean distance ~0.6 (dlib's documented operating point).
Clips without a sidecar id are grouped by average-linkage clustering of their videos' mean
embeddings at that distance; a cluster is named after its first member video, so adding videos
only renames a cluster when it merges with one whose first member sorts earlier.
"""

from __future__ import annotations

import csv
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from interanimate.data.annotate.video import AnnotateError
from interanimate.errors import MissingInputError

IDENTITY_KIND = "dlib128"
SAME_PERSON_DISTANCE = 0.6


class FaceEmbedder:
    """dlib's 68-point aligner + 128-d descriptor for a face box in an RGB frame."""

    _models: tuple | None = None  # loaded once per process; the files are ~100 MB

    def __init__(self):
        if FaceEmbedder._models is None:
            import dlib

            with warnings.catch_warnings():  # face_recognition_models imports the deprecated pkg_resources
                warnings.simplefilter("ignore")
                import face_recognition_models as models
            FaceEmbedder._models = (dlib, dlib.shape_predictor(models.pose_predictor_model_location()),
                                    dlib.face_recognition_model_v1(models.face_recognition_model_location()))
        self._dlib, self._predictor, self._model = FaceEmbedder._models

    def __call__(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        b = np.asarray(box, np.float64)
        if not np.isfinite(b).all() or b[2] - b[0] < 8 or b[3] - b[1] < 8:
            return None
        rect = self._dlib.rectangle(int(b[0]), int(b[1]), int(np.ceil(b[2])), int(np.ceil(b[3])))
        image = np.ascontiguousarray(frame, np.uint8)
        shape = self._predictor(image, rect)
        return np.asarray(self._model.compute_face_descriptor(image, shape, 0), np.float32)


def mean_embedding(vectors: list[np.ndarray]) -> np.ndarray | None:
    vectors = [v for v in vectors if v is not None and np.isfinite(v).all()]
    return np.mean(vectors, axis=0).astype(np.float32) if vectors else None


def load_sidecar(path: Path) -> dict[str, str]:
    """Subject ids from a JSON object ``{video: subject}`` or a CSV/TSV with columns ``video,subject``.

    ``video`` may be a path (absolute, or relative to the sidecar's folder), a file name or a stem.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: subjects sidecar not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise AnnotateError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise AnnotateError(f"{path}: expected a JSON object mapping video -> subject id")
        pairs = list(data.items())
    else:
        dialect = "excel-tab" if "\t" in text.splitlines()[0] else "excel"
        rows = [r for r in csv.reader(text.splitlines(), dialect=dialect) if r and not r[0].startswith("#")]
        if rows and [c.strip().lower() for c in rows[0][:2]] == ["video", "subject"]:
            rows = rows[1:]
        if any(len(r) < 2 for r in rows):
            raise AnnotateError(f"{path}: every row needs two columns: video, subject")
        pairs = [(r[0].strip(), r[1].strip()) for r in rows]
    out = {}
    for video, subject in pairs:
        if not subject:
            raise AnnotateError(f"{path}: empty subject id for {video!r}")
        out[video] = subject
        candidate = Path(video)
        if not candidate.is_absolute():
            candidate = path.parent / candidate
        out[str(candidate.resolve())] = subject
    return out


def sidecar_subject(sidecar: dict[str, str], video: Path) -> str | None:
    for key in (str(video.resolve()), str(video), video.name, video.stem):
        if key in sidecar:
            return sidecar[key]
    return None


def cluster_subjects(embeddings: dict[str, np.ndarray], threshold: float = SAME_PERSON_DISTANCE) -> dict[str, str]:
    """Map video keys to subject ids by average-linkage clustering at ``threshold``."""
    keys = sorted(k for k, v in embeddings.items() if v is not None)
    if not keys:
        return {}
    if len(keys) == 1:
        labels = np.array([1])
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        data = np.stack([embeddings[k] for k in keys]).astype(np.float64)
        labels = fcluster(linkage(data, method="average", metric="euclidean"), t=threshold, criterion="distance")
    names: dict[int, str] = {}
    for key, label in zip(keys, labels):
        names.setdefault(int(label), "subject-" + hashlib.sha256(key.encode()).hexdigest()[:10])
    return {key: names[int(label)] for key, label in zip(keys, labels)}
