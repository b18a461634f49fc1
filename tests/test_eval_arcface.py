"""ArcFace from a local ONNX file: alignment, normalisation, errors, and its place in the evaluation."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
import torch

from interanimate.evaluation.backbones.arcface import TEMPLATE, ArcFaceEmbedder, align_face, five_points


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    """A small convolutional embedder with ArcFace's input/output contract, exported to ONNX."""
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 5, 2), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, 2),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32 * 26 * 26, 512)).eval()
    path = tmp_path_factory.mktemp("arcface") / "tiny_arcface.onnx"
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), buffer, input_names=["input"], output_names=["embedding"],
                      dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def astronaut_face():
    """scikit-image's astronaut with dlib's iBUG-68 landmarks."""
    import dlib
    import face_recognition_models
    from skimage import data

    image = data.astronaut()
    box = max(dlib.get_frontal_face_detector()(image, 1), key=lambda r: r.area())
    shape = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())(image, box)
    return image, np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float32)


def test_alignment_puts_the_five_points_on_the_template(astronaut_face):
    image, keypoints = astronaut_face
    points = five_points(keypoints)
    matrix, _ = cv2.estimateAffinePartial2D(points, TEMPLATE, method=cv2.LMEDS)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - TEMPLATE).max() < 6  # a similarity fit of 5 points: a few pixels of residual
    assert align_face(image, keypoints).shape == (112, 112, 3)


def test_embeddings_are_unit_vectors_and_invariant_to_where_the_face_is(onnx_model, astronaut_face):
    image, keypoints = astronaut_face
    embedder = ArcFaceEmbedder(onnx_model)
    original = embedder(image, keypoints)
    assert original.shape == (512,) and np.isclose(np.linalg.norm(original), 1.0, atol=1e-5)
    # Move, rotate and shrink the whole photo; alignment must undo it.
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 15, 0.8)
    matrix[:, 2] += (20, -10)
    moved = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR)
    moved_points = keypoints @ matrix[:, :2].T.astype(np.float32) + matrix[:, 2].astype(np.float32)
    assert float(original @ embedder(moved, moved_points)) > 0.98
    other = cv2.GaussianBlur(image, (0, 0), 6)
    assert float(original @ embedder(other, keypoints)) < float(original @ embedder(moved, moved_points))
    missing = np.full((68, 2), np.nan, np.float32)
    assert np.isnan(embedder(image, missing)).all()


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such ArcFace ONNX file"):
        ArcFaceEmbedder(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"definitely not protobuf")
    with pytest.raises(ValueError, match="not a usable ONNX model"):
        ArcFaceEmbedder(garbage)
