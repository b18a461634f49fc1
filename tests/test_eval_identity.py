"""Identity over time, decided the way face recognition decides it; the detector-gated dlib descriptor
on real faces separates identities."""

import matplotlib.cbook
import numpy as np
import pytest
from skimage import data

from interanimate.evaluation import identity


def test_same_identity_is_at_distance_zero_with_no_drift():
    ref = np.random.default_rng(0).normal(size=128) * 0.1
    result = identity.identity_scores(np.tile(ref, (10, 1)), ref)
    assert result["mean"] == pytest.approx(0.0) and result["drift"] == pytest.approx(0.0, abs=1e-12)
    assert result["face_coverage"] == 1.0 and result["same_person_rate"] == 1.0 and result["reliable"]
    assert result["comparison"] == "euclidean" and result["threshold"] == 0.6


def test_identity_swap_raises_distance_and_drops_the_same_person_rate():
    rng = np.random.default_rng(1)
    ref, other = rng.normal(0, 0.09, size=128), rng.normal(0, 0.09, size=128)  # |ref - other| ~ 1.4
    frames = np.tile(ref, (10, 1)) + rng.normal(0, 0.01, (10, 128))
    swapped = frames.copy()
    swapped[5:] = other + rng.normal(0, 0.01, (5, 128))
    kept = identity.identity_scores(frames, ref)
    lost = identity.identity_scores(swapped, ref)
    assert kept["same_person_rate"] == 1.0 and lost["same_person_rate"] == 0.5
    assert lost["mean"] > kept["mean"] + 0.5 and lost["worst"] > 0.6
    assert lost["drift"] > 0  # distance growing over time: the identity fades


def test_scaled_descriptors_are_a_different_point_not_the_same_person():
    """Cosine calls a descriptor and its double identical; face recognition's Euclidean rule does not."""
    ref = np.random.default_rng(2).normal(0, 0.09, size=128)
    assert identity.cosine_similarity((ref * 2)[None], ref)[0] == pytest.approx(1.0)
    assert identity.identity_scores((ref * 2)[None], ref)["same_person_rate"] == 0.0


def test_low_face_coverage_is_marked_unreliable():
    ref = np.zeros(128)
    emb = np.full((10, 128), np.nan)
    emb[:4] = 0.01
    result = identity.identity_scores(emb, ref)
    assert result["face_coverage"] == pytest.approx(0.4) and not result["reliable"]
    assert result["same_person_rate"] == 1.0 and result["faces"] == 4


def test_arcface_uses_cosine_with_its_own_threshold():
    ref = np.array([1.0, 0.0])
    emb = np.array([[np.cos(a), np.sin(a)] for a in (0.1, 1.2, 1.4)])  # cosines 0.995, 0.362, 0.170
    result = identity.identity_scores(emb, ref, kind="arcface512")
    assert result["comparison"] == "cosine" and result["threshold"] == 0.28
    assert result["same_person_rate"] == pytest.approx(2 / 3) and result["worst"] == pytest.approx(np.cos(1.4))
    with pytest.raises(ValueError, match="unknown embedding kind"):
        identity.identity_scores(emb, ref, kind="facenet")


def test_drift_is_slope_per_second_and_missing_faces_are_skipped():
    ref = np.array([1.0, 0.0])
    angles = np.linspace(0, 0.5, 11)
    emb = np.stack([np.cos(angles), np.sin(angles)], 1)
    emb[3] = np.nan
    result = identity.identity_scores(emb, ref, fps=10.0, kind="arcface512")
    sims = np.cos(angles)
    keep = np.arange(11) != 3
    expected = np.polyfit(np.arange(11)[keep] / 10.0, sims[keep], 1)[0]
    assert result["drift"] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(result["per_frame"][3]) and result["face_coverage"] == pytest.approx(10 / 11)
    with pytest.raises(ValueError):
        identity.cosine_similarity(emb, np.zeros(3))


def _face_box(image):
    import dlib

    rects = dlib.get_frontal_face_detector()(image, 1)
    r = max(rects, key=lambda rect: rect.area())  # the portrait's face is the largest detection
    return np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32)


@pytest.fixture(scope="module")
def embed():
    from interanimate.evaluation.backbones import DlibFaceDescriptor

    return DlibFaceDescriptor()


@pytest.fixture(scope="module")
def astronaut_and_box():
    image = data.astronaut()
    return image, _face_box(image)


def test_dlib_descriptor_separates_real_identities(embed, astronaut_and_box):
    astronaut, box_a = astronaut_and_box
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        from PIL import Image

        hopper = np.asarray(Image.open(handle).convert("RGB"))
    box_h = _face_box(hopper)
    reference = embed(astronaut, box_a)
    assert reference.shape == (128,) and np.isfinite(reference).all()
    rng = np.random.default_rng(0)
    noisy = [np.clip(astronaut + rng.normal(0, 6, astronaut.shape), 0, 255).astype(np.uint8) for _ in range(2)]
    same = embed.embed_video(np.stack(noisy), np.stack([box_a + 2, box_a - 2]))
    other = embed(hopper, box_h)[None]
    kept = identity.identity_scores(same, reference)
    swapped = identity.identity_scores(other, reference)
    assert kept["mean"] < 0.6 < swapped["mean"]  # dlib's same-person radius
    assert kept["same_person_rate"] == 1.0 and swapped["same_person_rate"] == 0.0
    assert np.isnan(embed(astronaut, (np.nan, 0, 1, 1))).all()


def test_descriptors_only_on_faces_the_detector_finds(embed, astronaut_and_box):
    import cv2

    astronaut, box = astronaut_and_box
    frames = np.stack([astronaut, cv2.GaussianBlur(astronaut, (0, 0), 16), np.full_like(astronaut, 128), astronaut])
    labels = np.stack([box, box, box, np.array([0, 0, 60, 60], np.float32)])  # last: label box on the wall
    found = embed.detect_video(frames, labels)
    # A face where the label is; none in a blurred or blank frame, nor where a label box sits on no face.
    assert found.found.tolist() == [True, False, False, False] and found.coverage == 0.25
    assert np.isnan(found.descriptors[1:]).all() and np.isfinite(found.landmarks[0]).all()
    assert np.linalg.norm(found.descriptors[0] - embed(astronaut, box)) < 0.1
    unlabelled = embed.detect_video(frames[:1])
    assert unlabelled.found[0] and abs(unlabelled.boxes[0] - found.boxes[0]).max() < 1


def test_frechet_dlib_face_is_zero_for_the_same_faces_and_named_honestly(embed, astronaut_and_box):
    from interanimate.evaluation.backbones.dlib_face import FRECHET_NAME

    astronaut, box = astronaut_and_box
    rng = np.random.default_rng(0)
    frames = np.stack([np.clip(astronaut + rng.normal(0, 4, astronaut.shape), 0, 255).astype(np.uint8) for _ in range(3)])
    boxes = np.stack([box, box + 3, np.full(4, np.nan, np.float32)])
    stats = embed.stats(frames, boxes)
    assert stats.num_samples == 2 and stats.feature_space == "dlib_face128"
    assert stats.distance(stats) == pytest.approx(0.0, abs=1e-9)
    assert FRECHET_NAME == "frechet_dlib_face"
