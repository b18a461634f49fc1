"""Identity similarity over time; the dlib descriptor on real faces separates identities."""

import matplotlib.cbook
import numpy as np
import pytest
from skimage import data

from interanimate.evaluation import identity


def test_same_identity_scores_one_with_no_drift():
    ref = np.random.default_rng(0).normal(size=128)
    result = identity.identity_scores(np.tile(ref, (10, 1)) * 3.0, ref)  # scale does not matter for cosine
    assert result["mean"] == pytest.approx(1.0) and result["drift"] == pytest.approx(0.0, abs=1e-12)
    assert result["face_coverage"] == 1.0


def test_identity_swap_lowers_similarity():
    rng = np.random.default_rng(1)
    ref, other = rng.normal(size=128), rng.normal(size=128)
    frames = np.tile(ref, (10, 1)) + rng.normal(0, 0.2, (10, 128))
    swapped = frames.copy()
    swapped[5:] = other + rng.normal(0, 0.2, (5, 128))
    kept = identity.identity_scores(frames, ref)
    lost = identity.identity_scores(swapped, ref)
    assert lost["mean"] < kept["mean"] - 0.3
    assert lost["drift"] < 0 and lost["min"] < 0.5


def test_drift_is_slope_per_second_and_missing_faces_are_skipped():
    ref = np.array([1.0, 0.0])
    angles = np.linspace(0, 0.5, 11)
    emb = np.stack([np.cos(angles), np.sin(angles)], 1)
    emb[3] = np.nan
    result = identity.identity_scores(emb, ref, fps=10.0)
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
    kept = identity.identity_scores(same, reference)["mean"]
    swapped = identity.identity_scores(other, reference)["mean"]
    assert kept > swapped + 0.05
    assert np.linalg.norm(same[0] - reference) < 0.6 < np.linalg.norm(other[0] - reference)  # dlib's same-person radius
    assert np.isnan(embed(astronaut, (np.nan, 0, 1, 1))).all()


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
