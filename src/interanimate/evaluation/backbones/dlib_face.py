"""The dlib 128-d face descriptor: an offline feature space for faces (no download needed).

dlib's ``dlib_face_recognition_resnet_model_v1`` (a ResNet-29 trained with a metric loss; same-person
pairs lie within Euclidean distance ~0.6) ships with the ``face_recognition_models`` package, with the
68-point shape predictor used to align the face chip. Two entry points:

* ``detect_video`` (what the evaluation uses) runs dlib's HOG frontal face detector on every frame and
  computes the descriptor only on a face the detector found — the face that agrees with the frame's
  label box when one is given — so a blurred or faceless frame yields no descriptor rather than a
  descriptor of whatever pixels sit in a box. Small frames are enlarged first (bicubic, to at least
  ``MIN_DETECTION_SIDE`` pixels) because the detector's smallest face is about 40 pixels at one
  upsampling step.
* ``embed_video`` describes given boxes without detecting (for callers that already know the faces).

Fréchet distances in this space are reported as ``frechet_dlib_face`` — a face-realism/identity-
distribution measure of our own naming, not FID.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np

FEATURE_SPACE = "dlib_face128"
FRECHET_NAME = "frechet_dlib_face"  # never "FID": a different network and feature space
DESCRIPTOR_DIM = 128
MIN_DETECTION_SIDE = 256  # frames are enlarged to at least this shorter side before detection
DETECTOR = "dlib_hog_frontal"


@dataclass
class FaceDetections:
    """Faces found in a video by the detector (one per frame at most).

    Attributes:
        found: ``(F,)`` bool, a face was detected (and agreed with the label box, when given).
        boxes: ``(F, 4)`` float32 detector boxes in frame pixels, NaN where none.
        landmarks: ``(F, 68, 2)`` float32 dlib iBUG-68 landmarks in frame pixels, NaN where none.
        descriptors: ``(F, 128)`` float32, NaN rows where none.
    """

    found: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    descriptors: np.ndarray

    @property
    def coverage(self) -> float:
        return float(self.found.mean()) if len(self.found) else float("nan")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def agrees_with_label(detection: np.ndarray, label: np.ndarray, min_iou: float = 0.3) -> bool:
    """A detection is the labelled face when the boxes overlap (IoU >= ``min_iou``) or the detection's
    centre lies inside the label box (dlib boxes are tighter than landmark boxes, eyebrows to chin)."""
    cx, cy = (detection[0] + detection[2]) / 2, (detection[1] + detection[3]) / 2
    inside = label[0] <= cx <= label[2] and label[1] <= cy <= label[3]
    return inside or _iou(detection, label) >= min_iou


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

    def __init__(self, num_jitters: int = 0, padding: float = 0.25, upsample: int = 1):
        import dlib

        predictor_path, model_path = _model_paths()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.upsample = int(upsample)
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

    def detect(self, image: np.ndarray, label_box: np.ndarray | None = None):
        """The detected face of one RGB frame: ``(box, landmarks (68, 2), descriptor (128,))`` in frame
        pixels, or ``None`` when the detector finds no face (or none that agrees with ``label_box``).
        Without a label box the largest detection is taken."""
        img = np.ascontiguousarray(image, dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB uint8 frame, got {image.shape}")
        scale = max(1, int(np.ceil(MIN_DETECTION_SIDE / min(img.shape[:2]))))
        big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else img
        rects = list(self.detector(big, self.upsample))
        boxes = [np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float64) / scale for r in rects]
        if label_box is not None:
            label = np.asarray(label_box, np.float64)
            if not np.isfinite(label).all():
                return None
            keep = [i for i, b in enumerate(boxes) if agrees_with_label(b, label)]
            if not keep:
                return None
            best = max(keep, key=lambda i: _iou(boxes[i], label))
        elif rects:
            best = max(range(len(rects)), key=lambda i: rects[i].area())
        else:
            return None
        shape = self.shape_predictor(big, rects[best])
        descriptor = np.asarray(self.model.compute_face_descriptor(big, shape, self.num_jitters, self.padding),
                                np.float32)
        landmarks = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float32) / scale
        return boxes[best].astype(np.float32), landmarks, descriptor

    def detect_video(self, frames: np.ndarray, label_boxes: np.ndarray | None = None) -> FaceDetections:
        """``detect`` on every frame of ``(F, H, W, 3)``; ``label_boxes`` ``(F, 4)`` (NaN rows: the frame is
        labelled faceless, so nothing is accepted there)."""
        num = len(frames)
        out = FaceDetections(np.zeros(num, bool), np.full((num, 4), np.nan, np.float32),
                             np.full((num, 68, 2), np.nan, np.float32), np.full((num, self.dim), np.nan, np.float32))
        for f in range(num):
            found = self.detect(frames[f], None if label_boxes is None else label_boxes[f])
            if found is not None:
                out.found[f] = True
                out.boxes[f], out.landmarks[f], out.descriptors[f] = found
        return out

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
