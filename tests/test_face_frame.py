"""The one face-frame module: the annotator's image-plane frame and the generator's 3-D landmark frame."""

from __future__ import annotations

import numpy as np

from interanimate.data.face_frame import face_frame, from_landmark_frame, landmark_frame, to_landmark_frame
from interanimate.data.synth import ClipSpec, render_clip


def _landmarks() -> np.ndarray:
    ann = render_clip(ClipSpec(seed=2, subject_index=1, pattern="poke_nose", num_frames=8, size=96)).annotations
    return ann.face_keypoints[ann.face_present].astype(np.float64)


def test_both_constructions_agree_on_image_landmarks():
    landmarks = _landmarks()
    frame = face_frame(landmarks)
    for f, lm in enumerate(landmarks):
        origin, axes, scale = landmark_frame(lm)
        assert np.allclose(frame.origin[f], origin[:2]) and np.isclose(frame.iod[f], scale)
        assert np.allclose(frame.u[f], axes[0, :2], atol=1e-9)
        assert np.allclose(frame.v[f], axes[1, :2], atol=1e-9)  # both point from the eyes toward the chin


def test_face_coordinates_do_not_depend_on_where_the_face_is_or_how_it_is_turned():
    landmarks = _landmarks()[:1]
    points = landmarks[:, [30, 8]]  # nose tip, chin
    angle = np.deg2rad(25.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 1.7 * landmarks @ rotation.T + np.array([40.0, -12.0])
    moved_points = 1.7 * points @ rotation.T + np.array([40.0, -12.0])
    assert np.allclose(face_frame(landmarks).to_face(points), face_frame(moved).to_face(moved_points))
    frame = face_frame(moved)
    assert np.allclose(frame.to_pixels(frame.to_face(moved_points)), moved_points)
    assert face_frame(landmarks).to_face(points)[0, 1, 1] > 1.0  # the chin is well below the eyes
    flat = np.concatenate([points[0], np.zeros((2, 1))], axis=1)  # the 3-D frame takes 3-D points
    assert np.allclose(from_landmark_frame(to_landmark_frame(flat, landmarks[0]), moved[0])[:, :2], moved_points[0])


def test_mirrored_face_keeps_the_subjects_sides():
    landmarks = _landmarks()[:1]
    mirrored = landmarks * np.array([-1.0, 1.0])
    # In a mirror image the subject's left eye is on the other side of the image, and u follows it.
    assert np.sign(face_frame(landmarks).u[0, 0]) == -np.sign(face_frame(mirrored).u[0, 0])
    assert face_frame(mirrored).v[0, 1] > 0 and face_frame(landmarks).v[0, 1] > 0  # v still toward the chin
