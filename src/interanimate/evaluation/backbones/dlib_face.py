"""The dlib 128-d face descriptor: an offline feature space for faces (no download needed).

dlib's ``dlib_face_recognition_resnet_model_v1`` (a ResNet-29 trained with a metric loss; same-person
pairs lie within Euclidean distance ~0.6) ships with the ``face_recognition_models`` package, with the
68-point shape predictor used to align the face chip. Features are computed inside given face boxes
(from the contract's keypoints or ``face_box``), so no detector runs and evaluation is deterministic.

Fréchet distances in this space are reported as ``frechet_dlib_face`` — a face-realism/identity-
distribution measure of our own naming, not FID.
"""

from __future__ import annotations

import warnings

import numpy as np

FEATURE_SPACE = "dlib_face128"
FRECHET_NAME = "frechet_dlib_face"  # never "FID": a different network and feature space
DESCRIPTOR_DIM = 128


def _model_paths() -> tuple[str, str]:
    try:
        with warnings.catch_warnings():  # it imports the deprecated pkg_resources (setuptools<81)
            warnings.simplefilter("ignore", UserWarning)
            import face_recognition_models
    except ImportError as err:  # pragma: no cover - dependency of the package
        raise RuntimeError("the dlib face descriptor needs the face_recognition_models package") from err
    return face_recognition_models.pose_predictor_model_location(), face_recognition_models.face_recognition_model_location()


class DlibFaceDescriptor:
    """128-d dlib face descriptors for face boxes in RGB frames.

    Args:
        num_jitters: dlib's test-time augmentation count (0 = a single pass; deterministic).
        padding: dlib's chip padding around the aligned face (0.25 is dlib's default).
    """

    feature_space = FEATURE_SPACE
    dim = DESCRIPTOR_DIM

    def __init__(self, num_jitters: int = 0, padding: float = 0.25):
        import dlib

        predictor_path, model_path = _model_paths()
        self._dlib = dlib
        self.shape_predictor = dlib.shape_predictor(predictor_path)
        self.model = dlib.face_recognition_model_v1(model_path)
        self.num_jitters = int(num_jitters)
        self.padding = float(padding)

    def __call__(self, image: np.ndarray, box: np.ndarray | tuple[float, float, float, float]) -> np.ndarray:
        """RGB ``(H, W, 3)`` uint8 frame and a face box ``(x0, y0, x1, y1)`` -> ``(128,)`` float32;
        NaN when the box is NaN or empty."""
        b = np.asarray(box, dtype=np.float64)
        if not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
            return np.full(self.dim, np.nan, np.float32)
        img = np.ascontiguousarray(image, dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB uint8 frame, got {image.shape}")
        rect = self._dlib.rectangle(int(round(b[0])), int(round(b[1])), int(round(b[2])), int(round(b[3])))
        shape = self.shape_predictor(img, rect)
        descriptor = self.model.compute_face_descriptor(img, shape, self.num_jitters, self.padding)
        return np.asarray(descriptor, dtype=np.float32)

    def embed_video(self, frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(F, H, W, 3)`` frames and ``(F, 4)`` boxes -> ``(F, 128)`` descriptors (NaN rows where no box)."""
        return np.stack([self(frame, box) for frame, box in zip(frames, boxes)]) if len(frames) else np.zeros((0, self.dim), np.float32)

    def stats(self, frames: np.ndarray, boxes: np.ndarray, metadata: dict | None = None):
        """Fréchet statistics (``FeatureStats`` in the ``dlib_face128`` space) of the faces in a video;
        frames without a face box are left out. Compare two with ``.distance`` and report the result
        as ``FRECHET_NAME``."""
        from interanimate.evaluation.frechet import FeatureStats

        descriptors = self.embed_video(frames, boxes)
        descriptors = descriptors[np.isfinite(descriptors).all(axis=1)]
        info = {"num_jitters": self.num_jitters, "padding": self.padding, **(metadata or {})}
        return FeatureStats.from_features(descriptors.reshape(-1, self.dim), FEATURE_SPACE, info)
