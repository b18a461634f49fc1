"""ArcFace 512-d face embeddings from a user-supplied ONNX file (e.g. InsightFace's ``w600k_r50.onnx``).

No ArcFace weights can be downloaded here, so the user points at a local ONNX file. ONNX is a
declarative graph: onnxruntime executes its operators, never code from the file. Faces are aligned the
way ArcFace models were trained: a similarity transform maps five points (eye centres, nose tip, mouth
corners, taken from the iBUG-68 landmarks) onto the standard 112×112 template, and pixels are fed as
RGB scaled to [-1, 1] (``(x − 127.5) / 127.5``). Embeddings are returned L2-normalised.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from interanimate.errors import MissingInputError

FEATURE_SPACE = "arcface512"
DESCRIPTOR_DIM = 512
INPUT_SIZE = 112
# The 5-point template of ArcFace training crops at 112x112 (image-left eye, image-right eye, nose tip,
# image-left mouth corner, image-right mouth corner), in pixels.
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], np.float32)


def five_points(face_keypoints: np.ndarray) -> np.ndarray:
    """The template's five points from iBUG-68 landmarks ``(68, 2)``: ``(5, 2)``."""
    kp = np.asarray(face_keypoints, np.float32)
    return np.stack([kp[36:42].mean(axis=0), kp[42:48].mean(axis=0), kp[30], kp[48], kp[54]])


def align_face(image: np.ndarray, face_keypoints: np.ndarray) -> np.ndarray | None:
    """The ``112 x 112 x 3`` ArcFace crop of ``image`` (RGB uint8), or ``None`` when the landmarks are unusable."""
    points = five_points(face_keypoints)
    if not np.isfinite(points).all():
        return None
    matrix, _ = cv2.estimateAffinePartial2D(points, TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        return None
    return cv2.warpAffine(image, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR, borderValue=0)


class ArcFaceEmbedder:
    """ArcFace embeddings of faces given by their iBUG-68 landmarks.

    Args:
        path: local ONNX file taking ``(b, 3, 112, 112)`` float input and returning ``(b, 512)``.
    """

    feature_space = FEATURE_SPACE
    dim = DESCRIPTOR_DIM

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise MissingInputError(f"{path}: no such ArcFace ONNX file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for malformed graphs
            raise ValueError(f"{path}: not a usable ONNX model ({str(err).splitlines()[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] != 3 or (isinstance(shape[2], int) and shape[2] != INPUT_SIZE):
            raise ValueError(f"{path}: expected an input of shape (b, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {shape}")
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.path = path

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """``(n, 112, 112, 3)`` RGB uint8 aligned crops -> ``(n, 512)`` unit vectors."""
        blob = (np.asarray(crops, np.float32).transpose(0, 3, 1, 2) - 127.5) / 127.5
        out = self.session.run([self.output_name], {self.input_name: blob})[0].astype(np.float32)
        if out.ndim != 2 or out.shape[1] != DESCRIPTOR_DIM:
            raise ValueError(f"{self.path}: produced embeddings of shape {out.shape}, expected (n, {DESCRIPTOR_DIM})")
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def __call__(self, image: np.ndarray, face_keypoints: np.ndarray) -> np.ndarray:
        """One face: ``(512,)`` unit vector, NaN when the landmarks are missing."""
        crop = align_face(image, face_keypoints)
        if crop is None:
            return np.full(DESCRIPTOR_DIM, np.nan, np.float32)
        return self.embed_crops(crop[None])[0]

    def embed_video(self, frames: np.ndarray, face_keypoints: np.ndarray, present: np.ndarray) -> np.ndarray:
        """``(F, 512)`` embeddings of each frame's face (NaN rows where ``present`` is false)."""
        out = np.full((len(frames), DESCRIPTOR_DIM), np.nan, np.float32)
        crops, index = [], []
        for f in np.flatnonzero(present):
            crop = align_face(frames[f], face_keypoints[f])
            if crop is not None:
                crops.append(crop)
                index.append(f)
        if crops:
            out[index] = self.embed_crops(np.stack(crops))
        return out
