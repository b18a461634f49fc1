"""Retargeting a performance onto another face: the geometry that places hands on the reference."""

from __future__ import annotations

import numpy as np

from interanimate.data.synth import ClipSpec, render_clip
from interanimate.pipelines.retarget import mls_affine, transfer_face, transfer_points


def _landmarks() -> np.ndarray:
    clip = render_clip(ClipSpec(seed=1, subject_index=2, pattern="poke_nose", num_frames=8, size=128))
    return clip.annotations.face_keypoints.astype(np.float64)


def test_a_face_retargeted_onto_itself_is_unchanged():
    source = _landmarks()
    moved, _ = transfer_face(source, source[0])
    np.testing.assert_allclose(moved, source, atol=1e-6)


def test_reference_keeps_its_place_and_size_and_takes_the_head_motion():
    source = _landmarks()
    scale, shift, angle = 1.7, np.array([30.0, -12.0]), 0.2
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    reference = source[0] @ rotation.T * scale + shift  # the same face elsewhere, larger and rolled
    moved, _ = transfer_face(source, reference)
    np.testing.assert_allclose(moved[0], reference, atol=1e-6)
    # Every later frame is the source frame under the same similarity (head motion relative to frame 0 kept).
    np.testing.assert_allclose(moved, source @ rotation.T * scale + shift, atol=1e-6)
    hand = np.random.default_rng(0).uniform(20, 100, (len(source), 21, 2))
    _, rigid = transfer_face(source, reference)
    placed = transfer_points(hand, source, moved, rigid, anchors=hand[:, 8])
    np.testing.assert_allclose(placed, hand @ rotation.T * scale + shift, atol=1e-6)  # hands scale with the face


def test_touch_lands_on_the_same_landmark_of_a_face_with_other_proportions():
    source = _landmarks()[:1]
    reference = source[0].copy()
    reference[:, 1] = (reference[:, 1] - reference[36:48, 1].mean()) * 1.3 + reference[36:48, 1].mean()  # longer
    moved, rigid = transfer_face(source, reference)
    tip = source[:, 30][:, None]  # a fingertip resting on the nose tip (iBUG 30)
    placed = transfer_points(tip, source, moved, rigid, anchors=tip[:, 0])
    assert np.linalg.norm(placed[0, 0] - moved[0, 30]) < 0.05 * np.linalg.norm(moved[0, 45] - moved[0, 36])
    uncorrected = transfer_points(tip, source, moved, rigid, anchors=None)
    assert np.linalg.norm(uncorrected[0, 0] - moved[0, 30]) > np.linalg.norm(placed[0, 0] - moved[0, 30])


def test_mls_reproduces_an_affine_map_exactly():
    rng = np.random.default_rng(1)
    control = rng.normal(size=(68, 2))
    matrix, offset = np.array([[1.2, 0.3], [-0.1, 0.9]]), np.array([0.5, -2.0])
    point = np.array([0.3, 0.7])
    np.testing.assert_allclose(mls_affine(control, control @ matrix + offset, point), point @ matrix + offset,
                               atol=1e-9)
