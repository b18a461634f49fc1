"""Contact and patterns on real footage: occluded-face bridging, the real-data fit's pieces, the OTHER class."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from interanimate.data.annotate.analysis import OCCLUDED_FACE_GAP_S, clean_tracks, occluded_face_gaps
from interanimate.data.annotate.calibration import (STRETCHES, acting_hand_labels, jittered_contact, real_counts,
                                                    stretched)
from interanimate.data.annotate.contact import FEATURES, ContactModel
from interanimate.data.annotate.patterns import (OTHER, PATTERN_CLASSES, VECTOR_NAMES, EpisodeFeatures,
                                                 PatternModel, decide, pattern_vector)

FPS = 30.0


def raw_tracks(num_frames: int, lost: slice, hand_at_face: bool) -> SimpleNamespace:
    """A still face (a 200 px square of mesh points) lost over ``lost``, and one hand either resting
    on the face or held far to the side of it."""
    rng = np.random.default_rng(0)
    mesh = np.zeros((num_frames, 478, 3))
    mesh[..., :2] = 100 + rng.uniform(0, 200, (478, 2))
    found = np.ones(num_frames, bool)
    found[lost] = False
    mesh[~found] = np.nan
    hands = np.full((num_frames, 2, 21, 3), np.nan)
    hands[:, 1, :, :2] = (200.0, 250.0) if hand_at_face else (700.0, 250.0)
    hands[:, 1, :, 2] = 0.0
    world = np.zeros((num_frames, 2, 21, 3))
    hand_found = np.zeros((num_frames, 2), bool)
    hand_found[:, 1] = True
    return SimpleNamespace(face_mesh=mesh, face_found=found, other_faces=np.zeros(num_frames, int), hands=hands,
                           hand_world=world, hand_score=hand_found * 0.9, hand_found=hand_found)


def test_a_face_lost_under_the_touching_hand_is_bridged():
    lost = slice(20, 20 + int(1.5 * FPS))  # 1.5 s: far longer than an ordinary dropout is bridged
    touching = raw_tracks(100, lost, hand_at_face=True)
    assert occluded_face_gaps(touching.face_mesh, touching.face_found, touching.hands, touching.hand_found, FPS)[lost].all()
    cleaned = clean_tracks(touching, FPS)
    assert cleaned.face_present.all() and cleaned.face_filled[lost].all() and not cleaned.face_filled[:20].any()
    assert np.isfinite(cleaned.mesh[lost]).all()


def test_a_face_lost_without_a_hand_at_it_is_not_bridged():
    lost = slice(20, 20 + int(1.5 * FPS))
    away = raw_tracks(100, lost, hand_at_face=False)
    assert not occluded_face_gaps(away.face_mesh, away.face_found, away.hands, away.hand_found, FPS).any()
    assert not clean_tracks(away, FPS).face_present[lost].any()


def test_occluded_bridging_has_a_length_limit_and_needs_both_ends():
    too_long = slice(10, 10 + int((OCCLUDED_FACE_GAP_S + 0.5) * FPS))
    tracks = raw_tracks(150, too_long, hand_at_face=True)
    assert not occluded_face_gaps(tracks.face_mesh, tracks.face_found, tracks.hands, tracks.hand_found, FPS).any()
    at_start = raw_tracks(100, slice(0, 30), hand_at_face=True)  # never seen before: nothing to bridge from
    assert not occluded_face_gaps(at_start.face_mesh, at_start.face_found, at_start.hands, at_start.hand_found,
                                  FPS).any()


def test_real_clip_targets_go_to_the_hand_that_reaches_into_the_face():
    features = np.full((4, 2, len(FEATURES)), np.nan)
    features[:, 0, 0] = [-1.0, -1.0, 0.5, 0.5]  # the left hand reaches in on the last two frames
    features[:, 1, 0] = [0.3, 0.3, -0.5, np.nan]
    clip = SimpleNamespace(features=features, hand_present=np.ones((4, 2), bool),
                           truth=np.array([True, False, True, True]))
    np.testing.assert_array_equal(acting_hand_labels(clip), [[False, True], [False, False], [True, False],
                                                             [True, False]])


def counted_clip(truth, keep, hard_negative=False):
    n = len(truth)
    return SimpleNamespace(truth=np.asarray(truth, bool), keep=np.asarray(keep, bool), hard_negative=hard_negative,
                           fps=FPS, hand_present=np.ones((n, 2), bool), face_present=np.ones(n, bool), region=None)


def test_real_counts_ignore_edge_frames_and_count_hard_negative_clips():
    model = ContactModel(enter=0.5, leave=0.5, close_gap_s=0.0, min_duration_s=0.0)
    touch = counted_clip([0, 0, 1, 1, 1, 1], [1, 0, 0, 1, 1, 1])
    hover = counted_clip([0] * 6, [1] * 6, hard_negative=True)
    p_touch = np.zeros((6, 2))
    p_touch[1:5, 1] = 0.9  # predicted frames 1-4: frame 1 is an edge frame, frame 5 is missed
    p_hover = np.zeros((6, 2))
    p_hover[3, 0] = 0.9
    counts = real_counts([touch, hover], model, [p_touch, p_hover])
    assert (counts["tp"], counts["fp"], counts["fn"]) == (2, 1, 1)
    assert counts["touch_clips_found"] == 1.0 and counts["hard_negative_fp"] == 1.0


def episode(**kw) -> EpisodeFeatures:
    base = dict(hand=1, start=0, end=10, num_contacts=1, contact_seconds=0.4, longest_seconds=0.4,
                region_share={"forehead": 1.0}, pinch_gap=1.0, path=0.1, speed=0.5, displacement=(0.0, 0.05),
                mid_v=-0.8, mean_u=0.0, segments=[(0, 10)])
    return EpisodeFeatures(**{**base, **kw})


def test_stretching_an_episode_changes_its_pacing_only():
    e = episode()
    slow = stretched(e, 2.0)
    assert slow.contact_seconds == pytest.approx(0.8) and slow.speed == pytest.approx(0.25)
    assert slow.path == e.path and slow.region_share == e.region_share and slow.displacement == e.displacement
    assert 1.0 in STRETCHES and min(STRETCHES) < 1.0 < max(STRETCHES)


def test_jittered_contact_moves_run_ends_by_a_few_frames():
    flags = np.zeros((60, 2), bool)
    flags[10:30, 0] = True
    moved = jittered_contact(flags, np.random.default_rng(1), frames=3)
    on = np.flatnonzero(moved[:, 0])
    assert 7 <= on[0] <= 13 and 26 <= on[-1] + 1 <= 33 and not moved[:, 1].any()


def model_with_other(winner: int) -> PatternModel:
    """A model whose bias makes class ``winner`` (index into the 18 patterns + OTHER) the most probable."""
    k = len(PATTERN_CLASSES) + 1
    bias = np.zeros(k)
    bias[winner] = 5.0
    return PatternModel(weights=np.zeros((len(VECTOR_NAMES), k)).tolist(), bias=bias.tolist(),
                        mean=[0.0] * len(VECTOR_NAMES), scale=[1.0] * len(VECTOR_NAMES), min_confidence=0.3)


def test_an_episode_the_model_calls_other_stays_unlabelled():
    e = episode()
    recognised = model_with_other(len(PATTERN_CLASSES)).recognise(e)
    assert recognised.pattern is None and recognised.scores[OTHER] > 0.8
    assert model_with_other(0).recognise(e).pattern.name == PATTERN_CLASSES[0]


def test_a_model_with_the_other_class_round_trips(tmp_path):
    model = model_with_other(3)
    model.save(tmp_path / "p.json", {"date": "today"})
    loaded = PatternModel.load(tmp_path / "p.json")
    np.testing.assert_allclose(loaded.probabilities(episode()), model.probabilities(episode()), atol=1e-6)
    assert len(pattern_vector(episode())) == len(VECTOR_NAMES)


def split_probabilities(other: float) -> np.ndarray:
    """Probabilities where the three pokes share 0.6 evenly and one stroke alone has 0.4 - other."""
    p = np.zeros(len(PATTERN_CLASSES) + 1)
    pokes = [i for i, name in enumerate(PATTERN_CLASSES) if name.startswith("poke_")][:3]
    p[pokes] = 0.6 / 3
    p[PATTERN_CLASSES.index("stroke_jaw")] = 0.4 - other
    p[-1] = other
    return p


def test_the_family_decision_adds_up_a_family_split_over_its_patterns():
    p = split_probabilities(other=0.3)  # every poke 0.2, the jaw stroke 0.1, other 0.3
    assert decide(p, 0.0, "pattern") == (None, pytest.approx(0.3))  # other is the most probable class
    best, confidence = decide(p, 0.0, "family")  # but the pokes together (0.6) beat it
    assert PATTERN_CLASSES[best].startswith("poke_") and confidence == pytest.approx(0.6)
    assert decide(p, 0.7, "family")[0] is None  # below the threshold the episode stays unlabelled
    held = np.zeros(len(PATTERN_CLASSES) + 1)
    held[:len(PATTERN_CLASSES)], held[-1] = 0.4 / len(PATTERN_CLASSES), 0.6
    assert decide(held, 0.0, "family")[0] is None  # other beats every family: a held touch stays unlabelled
    with pytest.raises(ValueError):
        decide(p, 0.0, "majority")


def test_the_decision_is_saved_with_the_model_and_files_without_one_read_the_most_probable_class(tmp_path):
    model = model_with_other(len(PATTERN_CLASSES))
    model.decision = "family"
    model.save(tmp_path / "p.json")
    assert PatternModel.load(tmp_path / "p.json").decision == "family"
    params = json.loads((tmp_path / "p.json").read_text())
    del params["decision"]
    (tmp_path / "old.json").write_text(json.dumps(params))
    assert PatternModel.load(tmp_path / "old.json").decision == "pattern"


def test_calibration_error_is_zero_when_confidence_matches_the_hit_rate_and_large_when_overconfident():
    from interanimate.data.annotate.calibration import calibration_error

    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.05, 0.95, 20000)
    calibrated = rng.uniform(size=confidence.shape) < confidence
    assert calibration_error(confidence, calibrated) < 0.02
    overconfident = rng.uniform(size=confidence.shape) < confidence / 2
    assert calibration_error(confidence, overconfident) > 0.2
