"""Anatomy and interaction metrics on contract-layout arrays."""

import numpy as np
import pytest

from interanimate.data import schema
from interanimate.evaluation import anatomy


def _hand(center, scale=40.0, angle=0.0):
    """A plausible 21-point open hand: wrist at the bottom, five fingers fanned upwards."""
    pts = [(0.0, 0.0)]
    for finger, spread in enumerate(np.linspace(-0.8, 0.8, 5)):
        for joint in range(1, 5):
            r = 0.3 + 0.22 * joint - 0.05 * (finger == 0)
            pts.append((np.sin(spread) * r, -np.cos(spread) * r))
    pts = np.array(pts) * scale
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]]) + np.asarray(center)


def _hands_video(num_frames=12, seed=0):
    """``(F, 2, 21, 3)`` keypoints of two hands moving rigidly (translation + rotation)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((num_frames, 2, 21, 3), np.float32)
    for f in range(num_frames):
        for h, x in enumerate((80.0, 220.0)):
            out[f, h, :, :2] = _hand((x + 2 * f, 150 - f), angle=0.05 * f + 0.1 * rng.random())
            out[f, h, :, 2] = 1.0
    return out


def _remove_hand(keypoints, hand):
    out = keypoints.copy()
    out[:, hand, :, :2] = np.nan
    out[:, hand, :, 2] = 0.0
    return out


def test_identical_keypoints_give_perfect_pck():
    kp = _hands_video()
    result = anatomy.hand_pck(kp, kp)
    assert result == {"pck": 1.0, "pck_left": 1.0, "pck_right": 1.0, "num_keypoints": 12 * 2 * 21}


def test_pck_threshold_is_relative_to_hand_box_size():
    kp = _hands_video(1)
    size = np.ptp(kp[0, 0, :, :2], axis=0).max()
    near, far = kp.copy(), kp.copy()
    near[0, 0, :, 0] += 0.19 * size
    far[0, 0, :, 0] += 0.21 * size
    assert anatomy.hand_pck(near, kp)["pck_left"] == 1.0
    assert anatomy.hand_pck(far, kp)["pck_left"] == 0.0
    assert anatomy.hand_pck(far, kp, alpha=0.3)["pck_left"] == 1.0


def test_removing_a_hand_lowers_pck_and_detection_rate():
    kp = _hands_video()
    missing = _remove_hand(kp, 1)
    pck = anatomy.hand_pck(missing, kp)
    assert pck["pck_right"] == 0.0 and pck["pck_left"] == 1.0 and pck["pck"] == pytest.approx(0.5)
    present = np.ones((12, 2), bool)
    full = anatomy.hand_detection_rate(present, present)
    partial = anatomy.hand_detection_rate(np.stack([present[:, 0], np.zeros(12, bool)], 1), present)
    assert full["detection_rate"] == 1.0 and partial["detection_rate"] == pytest.approx(0.5)
    assert partial["detection_rate_right"] == 0.0


def test_absent_target_hands_are_not_scored_and_false_detections_are_counted():
    kp = _hands_video()
    target = _remove_hand(kp, 0)
    assert anatomy.hand_pck(kp, target)["num_keypoints"] == 12 * 21
    assert np.isnan(anatomy.hand_pck(kp, target)["pck_left"])
    target_present = np.stack([np.zeros(12, bool), np.ones(12, bool)], 1)
    rates = anatomy.hand_detection_rate(np.ones((12, 2), bool), target_present)
    assert rates["detection_rate"] == 1.0 and rates["false_detection_rate"] == 1.0


def _face(num_frames=5):
    rng = np.random.default_rng(0)
    face = np.tile(rng.uniform(100, 200, (1, 68, 2)), (num_frames, 1, 1))
    face[:, 36] = (110.0, 140.0)
    face[:, 45] = (190.0, 140.0)  # outer eye corners 80 px apart
    return face.astype(np.float32)


def test_face_nme_is_error_over_inter_ocular_distance():
    face = _face()
    assert anatomy.face_nme(face, face)["nme"] == 0.0
    shifted = face.copy()
    shifted[..., 0] += 4.0  # every point 4 px off; the target's corners are 80 px apart
    assert anatomy.face_nme(shifted, face)["nme"] == pytest.approx(4.0 / 80.0, rel=1e-5)
    pupil = anatomy.face_nme(shifted, face, normalization="inter_pupil")["nme"]
    centres = [face[0, a:b].mean(0) for a, b in anatomy.EYE_RANGES]
    assert pupil == pytest.approx(4.0 / np.linalg.norm(centres[0] - centres[1]), rel=1e-5)


def test_face_nme_counts_missing_faces_separately():
    face = _face()
    pred = face.copy()
    pred[1] = np.nan
    target = face.copy()
    target[4] = np.nan
    result = anatomy.face_nme(pred, target)
    assert result["frames_scored"] == 3
    assert result["missing_rate"] == pytest.approx(1 / 4)


def test_bone_length_stability_rigid_vs_jittered():
    kp = _hands_video(20)
    rigid = anatomy.bone_length_stability(kp)
    assert rigid["cv"].shape == (2, len(schema.HAND_BONES))
    assert rigid["cv_mean"] < 1e-5
    jittered = kp.copy()
    jittered[..., :2] += np.random.default_rng(1).normal(0, 2.0, jittered[..., :2].shape)
    wobbly = anatomy.bone_length_stability(jittered)
    assert wobbly["cv_mean"] > 0.02
    one_hand = anatomy.bone_length_stability(_remove_hand(jittered, 1))
    assert np.isnan(one_hand["cv_mean_right"]) and one_hand["cv_mean_left"] > 0.02


def test_contact_precision_recall_and_tolerance():
    requested = np.zeros((20, 2), bool)
    requested[5:10, 1] = True
    perfect = anatomy.contact_scores(requested, requested)
    assert (perfect["precision"], perfect["recall"], perfect["f1"]) == (1.0, 1.0, 1.0)
    late = np.roll(requested, 2, axis=0)  # contact shown 2 frames late
    strict = anatomy.contact_scores(late, requested)
    assert strict["precision"] == pytest.approx(3 / 5) and strict["recall"] == pytest.approx(3 / 5)
    tolerant = anatomy.contact_scores(late, requested, tolerance=2)
    assert tolerant["f1"] == 1.0
    none = anatomy.contact_scores(np.zeros_like(requested), requested)
    assert none["recall"] == 0.0 and np.isnan(none["precision"])
    wrong_hand = anatomy.contact_scores(requested[:, ::-1], requested, per_hand=True)
    assert wrong_hand["f1"] == 0.0


def test_pattern_accuracy_and_confusion():
    result = anatomy.pattern_accuracy(["poke_nose", None, "pinch_chin"], ["poke_nose", "poke_nose", "stroke_jaw"])
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["confusion"]["poke_nose"] == {"poke_nose": 1, "none": 1}
    with pytest.raises(ValueError):
        anatomy.pattern_accuracy([1], [1, 2])


def test_penetration_stats_over_contact_frames():
    depth = np.array([0.0, 0.5, 2.0, 3.0, np.nan])
    contact = np.array([False, True, True, False, True])
    stats = anatomy.penetration_stats(depth, contact)
    assert stats == {"mean_mm": 1.25, "max_mm": 2.0, "rate_above_threshold": 0.5, "frames": 2}
    assert anatomy.penetration_stats(depth)["frames"] == 4


def test_hands_found_in_the_other_slot_are_matched_by_position_and_the_swap_is_reported():
    target = _remove_hand(_hands_video(), 0)  # only the right hand (slot 1) is labelled
    present = np.zeros((len(target), 2), bool)
    present[:, 1] = True
    detected = target[:, ::-1].copy()  # the detector calls it a left hand in every frame
    found = present[:, ::-1].copy()
    detected[:4] = target[:4]  # ... except in the first four, where its label is right
    found[:4] = present[:4]
    assert anatomy.hand_detection_rate(found, present)["detection_rate"] == pytest.approx(4 / 12)
    keypoints, matched, stats = anatomy.match_hands(detected, found, target, present)
    assert anatomy.hand_detection_rate(matched, present)["detection_rate"] == 1.0
    assert anatomy.hand_pck(keypoints, target)["pck"] == 1.0
    assert stats["frames_swapped"] == 8 and stats["handedness_agreement"] == pytest.approx(4 / 12)


def test_a_detection_elsewhere_in_the_frame_does_not_find_the_hand():
    target = _remove_hand(_hands_video(), 0)  # the right hand (slot 1) is labelled
    present = np.zeros((len(target), 2), bool)
    present[:, 1] = True
    size = np.ptp(target[0, 1, :, :2], axis=0).max()
    detected = target.copy()
    detected[:, 1, :, :2] += 0.3 * size  # near enough: a slightly misplaced reading of the same hand
    detected[6:, 1, :, :2] = target[6:, 1, :, :2] * 0.2 + 2.0 * size  # a small "hand" far away (a tie, a collar)
    kept = anatomy.localised(detected, present, target, present)
    assert kept[:6, 1].all() and not kept[6:, 1].any()
    assert anatomy.hand_detection_rate(kept, present)["detection_rate"] == pytest.approx(6 / 12)
    assert anatomy.hand_detection_rate(present, present)["detection_rate"] == 1.0  # presence alone counted them
    # Where no hand is labelled, a detection stays a false detection.
    stray = np.zeros_like(present)
    stray[:, 0] = True
    assert anatomy.localised(detected, stray, target, present)[:, 0].all()


def test_found_on_target_moves_a_hand_read_in_the_other_slot_and_drops_one_found_elsewhere():
    target = _remove_hand(_hands_video(), 0)  # the right hand (slot 1) is labelled
    present = np.zeros((len(target), 2), bool)
    present[:, 1] = True
    size = np.ptp(target[0, 1, :, :2], axis=0).max()
    detected = np.full_like(target, np.nan)
    detected[:, 0] = target[:, 1]  # the detector calls it the other hand
    detected[6:, 0, :, :2] = target[6:, 1, :, :2] * 0.2 + 2.0 * size  # and later finds a small "hand" far away
    found = np.zeros_like(present)
    found[:, 0] = True
    keypoints, kept, stats = anatomy.found_on_target(detected, found, target, present)
    assert kept[:6, 1].all() and not kept[6:, 1].any() and not kept[:, 0].any()
    np.testing.assert_array_equal(keypoints[:6, 1], target[:6, 1])
    assert stats["frames_swapped"] >= 6


def test_two_hands_keep_the_detector_order_unless_crossing_lies_nearer():
    target = _hands_video()
    present = np.ones((len(target), 2), bool)
    noisy = target.copy()
    noisy[..., :2] += 1.5  # both hands found where they are, a little off
    keypoints, matched, stats = anatomy.match_hands(noisy, present, target, present)
    np.testing.assert_array_equal(keypoints, noisy)
    assert stats["frames_swapped"] == 0 and stats["handedness_agreement"] == 1.0
    crossed = noisy.copy()
    crossed[5:] = noisy[5:, ::-1]  # from frame 5 on the labels are crossed
    keypoints, _, stats = anatomy.match_hands(crossed, present, target, present)
    np.testing.assert_allclose(keypoints, noisy)
    assert stats["frames_swapped"] == 7
