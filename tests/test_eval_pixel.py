"""Pixel metrics: SSIM/PSNR agree with scikit-image; crops; degradations move the metrics the right way."""

import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from interanimate.evaluation import pixel


def _sk_ssim(a, b, data_range, channel_axis=None):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=data_range, channel_axis=channel_axis)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()[96:288, 160:400]  # 192 x 240 RGB, face and background (non-square on purpose)


def _noisy(image, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.float64) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def test_ssim_matches_scikit_image_colour_uint8(astronaut):
    other = _noisy(astronaut, 20)
    ours = pixel.ssim(astronaut, other)
    assert ours == pytest.approx(_sk_ssim(astronaut, other, 255, channel_axis=-1), abs=1e-12)
    assert 0.2 < ours < 0.95


def test_ssim_matches_scikit_image_grey_float(astronaut):
    a = astronaut.mean(axis=-1) / 255.0
    b = ndimage.gaussian_filter(a, 1.0)
    assert pixel.ssim(a, b, data_range=1.0) == pytest.approx(_sk_ssim(a, b, 1.0), abs=1e-12)


def test_psnr_matches_scikit_image(astronaut):
    other = _noisy(astronaut, 10)
    assert pixel.psnr(astronaut, other) == pytest.approx(peak_signal_noise_ratio(astronaut, other, data_range=255), abs=1e-10)


def test_identical_frames_are_perfect(astronaut):
    assert pixel.ssim(astronaut, astronaut) == pytest.approx(1.0, abs=1e-12)
    assert pixel.psnr(astronaut, astronaut) == float("inf")
    assert pixel.l1(astronaut, astronaut) == 0.0


def test_more_blur_lowers_ssim_and_psnr(astronaut):
    blurred = [ndimage.gaussian_filter(astronaut, (s, s, 0)) for s in (0.7, 1.5, 3.0)]
    ssims = [pixel.ssim(astronaut, b) for b in blurred]
    psnrs = [pixel.psnr(astronaut, b) for b in blurred]
    assert ssims[0] > ssims[1] > ssims[2]
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert ssims[0] < 1.0


def test_l1_is_mean_absolute_difference_over_range():
    a = np.zeros((16, 16), np.uint8)
    b = np.full((16, 16), 51, np.uint8)
    assert pixel.l1(a, b) == pytest.approx(0.2)
    assert pixel.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 51**2))


def test_float_input_requires_data_range():
    a = np.zeros((16, 16), np.float32)
    with pytest.raises(ValueError, match="data_range"):
        pixel.ssim(a, a)


def test_crop_takes_pixels_whose_centres_are_inside():
    image = np.arange(100).reshape(10, 10)
    # box [1.4, 2.6) in x covers the centre 1.5 and 2.5 -> columns 1 and 2
    out = pixel.crop(image, (1.4, 0.0, 2.6, 1.0))
    np.testing.assert_array_equal(out, image[0:1, 1:3])
    assert pixel.crop(image, (np.nan, 0, 3, 3)).size == 0


def test_face_crop_scores_only_the_face(astronaut):
    """A degradation outside the face box leaves face-crop SSIM at 1 and lowers whole-frame SSIM."""
    video = np.stack([astronaut] * 3)
    face_kp = np.zeros((3, 68, 2), np.float32)
    face_kp[:, :34] = (60, 40)
    face_kp[:, 34:] = (140, 140)  # box (60..140, 40..140) before margin
    boxes = pixel.face_boxes(face_kp, margin=0.0, frame_size=astronaut.shape[:2])
    degraded = video.copy()
    degraded[:, :, 180:] = ndimage.gaussian_filter(degraded[:, :, 180:], (0, 3, 3, 0))
    face = pixel.video_pixel_scores(degraded, video, boxes)
    frame = pixel.video_pixel_scores(degraded, video)
    np.testing.assert_allclose(face.ssim, 1.0, atol=1e-12)
    assert np.all(frame.ssim < 0.99)
    # and the crop scores equal scikit-image on the cropped pixels
    inside = _noisy(astronaut, 15)
    scores = pixel.video_pixel_scores(inside[None], astronaut[None], boxes[:1])
    a, b = pixel.crop(inside, boxes[0]), pixel.crop(astronaut, boxes[0])
    assert scores.ssim[0] == pytest.approx(_sk_ssim(a, b, 255, channel_axis=-1), abs=1e-12)


def test_hand_boxes_follow_contract_layout_and_absent_hands_skip_frames(astronaut):
    rng = np.random.default_rng(1)
    hands = np.concatenate([rng.uniform(50, 120, (2, 2, 21, 2)), np.ones((2, 2, 21, 1))], -1).astype(np.float32)
    hands[1, 1, :, :2] = np.nan
    hands[1, 1, :, 2] = 0
    boxes = pixel.hand_boxes(hands, frame_size=astronaut.shape[:2])
    assert boxes.shape == (2, 2, 4)
    assert np.isnan(boxes[1, 1]).all() and np.isfinite(boxes[0]).all()
    w, h = boxes[0, 0, 2] - boxes[0, 0, 0], boxes[0, 0, 3] - boxes[0, 0, 1]
    assert w == pytest.approx(h, rel=1e-5)  # square crops
    video = np.stack([astronaut, astronaut])
    scores = pixel.region_pixel_scores(_noisy(video, 10), video, hand_keypoints=hands)
    assert set(scores) == {"frame", "hand_left", "hand_right"}
    assert np.isnan(scores["hand_right"].ssim[1]) and np.isfinite(scores["hand_right"].ssim[0])
    assert scores["hand_right"].summary()["frames_scored"] == 1


def test_crop_smaller_than_window_is_nan():
    a = np.zeros((8, 30), np.uint8)
    assert np.isnan(pixel.ssim(a, a))


def test_summary_psnr_video_is_finite_for_partly_identical_video(astronaut):
    video = np.stack([astronaut, astronaut])
    gen = video.copy()
    gen[1] = _noisy(astronaut, 10)
    summary = pixel.video_pixel_scores(gen, video).summary()
    assert np.isfinite(summary["psnr_video"]) and summary["psnr_mean"] == pytest.approx(pixel.psnr(gen[1], video[1]))
