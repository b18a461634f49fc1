import numpy as np

from interanimate.data import schema
from interanimate.data.conditions import (
    CONDITION_CHANNELS,
    NUM_CONDITION_CHANNELS,
    conditions_to_rgb,
    render_condition_maps,
)
from interanimate.data.sketch import SketchConfig, render_sketch_clip
from interanimate.taxonomy import get_pattern


def _clip(size=64):
    return render_sketch_clip(get_pattern("poke_cheek_left"), 3, 4, SketchConfig(10, size))[1]


def _maps(ann, out_size=None):
    return render_condition_maps(ann.face_keypoints, ann.face_present, ann.hand_keypoints, ann.hand_present,
                                 ann.masks, ann.height, ann.width, out_size)


def test_channels_and_ranges():
    maps = _maps(_clip())
    assert NUM_CONDITION_CHANNELS == len(CONDITION_CHANNELS) == 9
    assert maps.shape == (10, 9, 64, 64) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1


def test_skeleton_is_drawn_at_the_hand_keypoints_and_only_there():
    ann = _clip()
    maps = _maps(ann)
    f = int(np.flatnonzero(ann.hand_present.any(axis=1))[0])
    hand = int(np.flatnonzero(ann.hand_present[f])[0])
    skeleton = maps[f, 0:3].max(axis=0) > 0.2
    tips = ann.hand_keypoints[f, hand, list(schema.FINGERTIPS), :2]
    for x, y in tips[np.isfinite(tips).all(axis=1)]:
        assert skeleton[int(y), int(x)]
    far = np.ones_like(skeleton)
    pts = ann.hand_keypoints[f, hand, :, :2]
    for x, y in pts[np.isfinite(pts).all(axis=1)]:
        far[max(0, int(y) - 8):int(y) + 9, max(0, int(x) - 8):int(x) + 9] = False
    assert not skeleton[far].any()


def test_region_channels_copy_the_masks():
    ann = _clip()
    maps = _maps(ann)
    assert np.array_equal(maps[:, 6] > 0.5, ann.masks[:, 1] | ann.masks[:, 2])
    assert np.array_equal(maps[:, 7] > 0.5, ann.masks[:, 0])
    assert np.array_equal(maps[:, 8] > 0.5, ann.masks[:, 3])


def test_maps_describe_the_same_geometry_at_any_resolution():
    ann = _clip(64)
    big, small = _maps(ann), _maps(ann, (32, 32))
    assert small.shape == (10, 9, 32, 32)
    pooled = big.reshape(10, 9, 32, 2, 32, 2).mean(axis=(3, 5))
    # Region channels agree closely; lines agree in where they are (centres of mass).
    assert np.abs(pooled[:, 6:] - small[:, 6:]).mean() < 0.05
    ys, xs = np.mgrid[0:32, 0:32]
    for f in range(10):
        a, b = pooled[f, 3:6].sum(axis=0), small[f, 3:6].sum(axis=0)
        if a.sum() > 0:
            assert abs((a * xs).sum() / a.sum() - (b * xs).sum() / b.sum()) < 1.0


def test_left_and_right_hands_are_distinguishable():
    ann = _clip()
    left = ann.hand_keypoints.copy()
    right = ann.hand_keypoints.copy()
    present = ann.hand_present.copy()
    hand = int(np.flatnonzero(present.any(axis=0))[0])
    left[:, 0], right[:, 1] = ann.hand_keypoints[:, hand], ann.hand_keypoints[:, hand]
    left[:, 1, :, 2], right[:, 0, :, 2] = 0, 0
    pl, pr = present.copy(), present.copy()
    pl[:, 0], pl[:, 1] = present[:, hand], False
    pr[:, 1], pr[:, 0] = present[:, hand], False
    a = render_condition_maps(ann.face_keypoints, ann.face_present, left, pl, None, 64, 64)
    b = render_condition_maps(ann.face_keypoints, ann.face_present, right, pr, None, 64, 64)
    assert a[:, 0:3].max() < b[:, 0:3].max()  # the left hand is drawn dimmer
    # Same drawing, scaled: anti-aliasing rounds to whole levels, hence the tolerance of a few levels.
    assert np.allclose(a[:, 0:3], b[:, 0:3] * 0.6, atol=5 / 255)


def test_viewable_picture():
    rgb = conditions_to_rgb(_maps(_clip()))
    assert rgb.shape == (10, 64, 64, 3) and rgb.dtype == np.uint8 and rgb.max() > 100
