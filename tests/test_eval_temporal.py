"""Temporal metrics: warping error and flicker respond to shuffles and noise, inside regions too."""

import numpy as np
import pytest
from scipy import ndimage

from interanimate.evaluation import temporal


def _texture(seed=0, size=(220, 220)):
    rng = np.random.default_rng(seed)
    tex = ndimage.gaussian_filter(rng.random(size), 2.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    return np.repeat(tex[..., None], 3, axis=-1).astype(np.float32)


def _panning_video(num_frames=10, step=3, seed=0):
    """A textured scene panning smoothly (step px per frame) — well explained by optical flow."""
    tex = _texture(seed)
    return np.stack([tex[10 + t * step: 10 + t * step + 80, 30:110] for t in range(num_frames)])


def test_static_video_has_zero_error_and_flicker():
    video = np.repeat(_texture()[None, :64, :64], 4, axis=0)
    summary = temporal.temporal_scores(video).summary()
    assert summary["warping_error"] == pytest.approx(0.0, abs=1e-8)
    assert summary["flicker"] == pytest.approx(0.0, abs=1e-6)
    assert summary["pairs_scored"] == 3


def test_warp_with_known_flow_recovers_shifted_frame():
    tex = _texture()[:, :, 0]
    a, b = tex[20:100, 20:100], tex[22:102, 20:100]  # b is a shifted down by 2 rows: a(x) = b(x - (0, 2))
    flow = np.zeros((80, 80, 2), np.float32)
    flow[..., 1] = -2.0
    warped, inside = temporal.warp(b, flow)
    np.testing.assert_allclose(warped[2:], a[2:], atol=1e-6)
    assert not inside[:2].any() and inside[2:].all()


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_frame_shuffle_raises_warping_error(method):
    video = _panning_video()
    shuffled = video[np.random.default_rng(0).permutation(len(video))]
    smooth = temporal.temporal_scores(video, method=method).summary()["warping_error"]
    jumbled = temporal.temporal_scores(shuffled, method=method).summary()["warping_error"]
    assert smooth < 1e-3
    assert jumbled > 3 * smooth


def test_noise_raises_motion_compensated_flicker_on_moving_video():
    video = _panning_video()
    noisy = np.clip(video + np.random.default_rng(1).normal(0, 0.05, video.shape), 0, 1).astype(np.float32)
    clean = temporal.temporal_scores(video).summary()["flicker"]
    flickery = temporal.temporal_scores(noisy).summary()["flicker"]
    assert flickery > 10 * clean
    # without compensation the pan itself reads as flicker, which is why compensation is the default
    assert temporal.temporal_scores(video, compensate_flicker=False).summary()["flicker"] > 20 * clean


def test_noise_raises_raw_flicker_on_static_video():
    video = np.repeat(_texture()[None, :64, :64], 5, axis=0)
    noisy = np.clip(video + np.random.default_rng(1).normal(0, 0.05, video.shape), 0, 1).astype(np.float32)
    assert temporal.temporal_scores(video, compensate_flicker=False).summary()["flicker"] == pytest.approx(0.0, abs=1e-7)
    assert temporal.temporal_scores(noisy, compensate_flicker=False).summary()["flicker"] > 0.02


def test_region_mask_localises_flicker():
    video = np.repeat(_texture()[None, :64, :64], 5, axis=0).copy()
    region = np.zeros(video.shape[:3], bool)
    region[:, 16:48, 16:48] = True
    rng = np.random.default_rng(2)
    for t in range(5):  # the region's brightness jumps from frame to frame; the rest is still
        video[t, 16:48, 16:48] = np.clip(video[t, 16:48, 16:48] + rng.uniform(-0.2, 0.2), 0, 1)
    inside = temporal.temporal_scores(video, region_mask=region, compensate_flicker=False).summary()
    outside = temporal.temporal_scores(video, region_mask=~region, compensate_flicker=False).summary()
    assert inside["flicker"] > 0.02
    assert outside["flicker"] == pytest.approx(0.0, abs=1e-7)


def test_empty_region_pairs_are_nan_and_bad_shapes_raise():
    video = _panning_video(4)
    region = np.zeros(video.shape[:3], bool)
    region[0] = True
    scores = temporal.temporal_scores(video, region_mask=region)
    assert np.isfinite(scores.warping_error[0]) and np.isnan(scores.warping_error[1:]).all()
    with pytest.raises(ValueError, match="region_mask"):
        temporal.temporal_scores(video, region_mask=region[:, :10])
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal.temporal_scores(video[:1])


def test_uint8_input_and_flow_from_a_source_video():
    video = (_panning_video() * 255).astype(np.uint8)
    noisy = np.clip(video.astype(int) + np.random.default_rng(3).integers(-12, 13, video.shape), 0, 255).astype(np.uint8)
    own = temporal.temporal_scores(noisy).summary()["warping_error"]
    guided = temporal.temporal_scores(noisy, flow_source=video).summary()["warping_error"]
    clean = temporal.temporal_scores(video).summary()["warping_error"]
    assert clean < guided and clean < own
