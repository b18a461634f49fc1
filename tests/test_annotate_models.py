"""The fitted contact and pattern models: shipped files, defaults, and that the fit helps on fresh renders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interanimate.data.annotate.calibration import (clip_cues, contact_counts, measure_clip, pattern_accuracy,
                                                    run_contact)
from interanimate.data.annotate.contact import CONTACT_MODEL_FILE, FEATURES, ContactModel, decide, label_contact
from interanimate.data.annotate.geometry import face_frame
from interanimate.data.annotate.patterns import (PATTERN_MODEL_FILE, VECTOR_NAMES, PatternModel, RulePatternModel)
from interanimate.taxonomy import PATTERN_NAMES

# Subjects far from the fit's (train 2000.., test 3000..): this sample is new to both models.
SUBJECT = 7000


def test_shipped_parameter_files_load_and_record_their_provenance():
    for path in (CONTACT_MODEL_FILE, PATTERN_MODEL_FILE):
        params = json.loads(path.read_text(encoding="utf-8"))
        provenance = params["provenance"]
        assert provenance["date"] and provenance["data"]["generator"] == "interanimate.data.synth"
        assert "fitting half" in provenance["data"]["real"] and provenance["seed"] == 0
        assert provenance["metrics"]["real_fit_in_sample"] and provenance["metrics"]["synthetic_test_mp"]
    contact = ContactModel()
    assert contact == ContactModel.load(CONTACT_MODEL_FILE)
    assert contact != ContactModel.hand_set() and len(contact.weights) == 2 * len(FEATURES)  # cues + window means
    assert 0.0 < contact.leave <= contact.enter < 1.0
    pattern = PatternModel()
    assert np.asarray(pattern.weights).shape == (len(VECTOR_NAMES), len(PATTERN_NAMES) + 1)  # + the OTHER class
    assert 0.0 <= pattern.min_confidence < 1.0


def test_contact_model_round_trips(tmp_path):
    model = ContactModel(weights=(1.0, 2.0, 3.0, 4.0, 5.0), bias=-1.0, mean=(0.1,) * 5, scale=(2.0,) * 5, enter=0.7,
                         leave=0.3, close_gap_s=0.1, min_duration_s=0.05)
    model.save(tmp_path / "c.json", {"date": "today"})
    assert ContactModel.load(tmp_path / "c.json") == model


def test_undefined_cues_contribute_nothing():
    model = ContactModel()
    reach = 0.5
    features = np.array([[reach] + [np.nan] * (len(FEATURES) - 1)])
    w, m, s = (np.asarray(v) for v in (model.weights, model.mean, model.scale))
    n = len(FEATURES)  # inputs: the cues, then their window means (here: the single frame's own value)
    z = model.bias + w[0] * (reach - m[0]) / s[0] + w[n] * (reach - m[n]) / s[n]
    assert model.probability(features)[0] == pytest.approx(1 / (1 + np.exp(-z)))


@pytest.fixture(scope="module")
def fresh_sample():
    """A sample the models never saw: every pattern once (two new subjects) plus two hover clips, as
    ground-truth keypoints with 3 % IOD noise (no MediaPipe, so it renders and scores in seconds)."""
    from interanimate.data.annotate.calibration import hover_offset
    from interanimate.data.synth import ClipSpec

    clips = []
    for i, pattern in enumerate(PATTERN_NAMES):
        spec = ClipSpec(seed=0, subject_index=SUBJECT + i % 2, pattern=pattern, num_frames=48, size=96)
        clips.append(clip_cues(measure_clip(pattern, spec, False, 0.03, perceive=False), "gn"))
    for i, pattern in enumerate(("poke_nose", "stroke_forehead")):  # hands that pass over the face outline
        spec = ClipSpec(seed=0, subject_index=SUBJECT + i, pattern=pattern, clip_index=100, num_frames=48, size=96,
                        hover_offset_m=hover_offset(0, SUBJECT + i, 0))
        clips.append(clip_cues(measure_clip(pattern + "-hover", spec, True, 0.03, perceive=False), "gn"))
    return clips


def test_default_contact_decision_uses_the_shipped_model(fresh_sample):
    clip = fresh_sample[0]
    frame = face_frame(np.nan_to_num(clip.face))
    args = (frame, clip.features, clip.tip, clip.hands, clip.hand_present, clip.face_present, clip.fps,
            (clip.size, clip.size))
    default = label_contact(*args)
    shipped = label_contact(*args, model=ContactModel.load(CONTACT_MODEL_FILE))
    hand_set = label_contact(*args, model=ContactModel.hand_set())
    np.testing.assert_array_equal(default.probability, shipped.probability)
    assert not np.allclose(default.probability, hand_set.probability)


def test_fitted_contact_model_beats_the_hand_set_one(fresh_sample):
    fitted = contact_counts(fresh_sample, ContactModel())
    hand_set = contact_counts(fresh_sample, ContactModel.hand_set())
    assert fitted["f1"] > hand_set["f1"]
    assert fitted["hover_fp_rate"] < hand_set["hover_fp_rate"]


def test_fitted_pattern_model_beats_the_rules(fresh_sample):
    fitted = pattern_accuracy(fresh_sample, ContactModel(), PatternModel())
    rules = pattern_accuracy(fresh_sample, ContactModel.hand_set(), RulePatternModel())
    assert fitted["accuracy"] > rules["accuracy"]


@pytest.mark.xfail(strict=True, reason="known limit of the shipped contact model (docs/annotate.md): fitted with real "
                   "footage, whose apparent-size depth is biased by centimetres, it weighs depth too little to reject "
                   "a hand held 15 cm in front of the face by depth alone")
def test_hand_in_front_of_the_face_is_not_contact():
    # Cues of a hand held ~15 cm in front of the face: fingertips inside the face outline in the image,
    # the palm over a fifth of the face, skin not moving with the finger, slow, the hand a third larger
    # than the face's scale, a flat hand (the tip no deeper than the knuckles). Versus a touch: the tip
    # at the surface's depth, the skin under it dragged along, the finger pointing into the face.
    model = ContactModel()
    assert FEATURES == ("reach", "depth_gap", "coupling", "occlusion", "speed", "size_ratio", "tip_depth", "wobble")
    hover = np.tile([0.5, -1.5, 0.0, 0.2, 0.2, 0.3, -1.0, 0.3], (30, 1))
    touch = np.tile([0.6, 0.0, 0.3, 0.1, 0.1, -0.05, 2.0, 0.0], (30, 1))
    assert not decide(model.probability(hover, 25.0), 25.0, model).any()
    assert decide(model.probability(touch, 25.0), 25.0, model).all()


def test_rendered_hover_clips_are_flagged_less_than_by_the_hand_set_model(fresh_sample):
    hover = [clip for clip in fresh_sample if clip.hover]
    for clip in hover:  # the construction: the hand stays near the face and never touches it
        assert not clip.gt_contact.any() and clip.hover_frames.sum() >= 5
    flagged = {name: sum(int((run_contact(c, model).contact & c.hover_frames).sum()) for c in hover)
               for name, model in (("fitted", ContactModel()), ("hand_set", ContactModel.hand_set()))}
    assert flagged["fitted"] < flagged["hand_set"]


def test_the_recogniser_also_learns_the_episodes_the_detector_gives(fresh_sample):
    from interanimate.data.annotate.calibration import STRETCHES, synthetic_pattern_rows
    from interanimate.data.annotate.patterns import OTHER

    exact = synthetic_pattern_rows(fresh_sample, ContactModel(), detected=False)
    both = synthetic_pattern_rows(fresh_sample, ContactModel(), detected=True)
    patterns = lambda rows: sum(label != OTHER for label in rows[1])
    # Same OTHER rows (the detector's episodes away from any touch); one more row per pacing for each
    # detected episode that overlaps a touch, labelled with the clip's pattern.
    assert sum(label == OTHER for label in both[1]) == sum(label == OTHER for label in exact[1])
    assert patterns(both) - patterns(exact) >= len(STRETCHES) * len(PATTERN_NAMES) * 0.8
    assert set(both[1]) <= set(PATTERN_NAMES) | {OTHER}


def test_shipped_recogniser_names_most_fresh_episodes_as_the_detector_finds_them(fresh_sample):
    # 96 px renders of new subjects, episodes as the shipped detector cuts them (longer than the touch)
    fitted = pattern_accuracy(fresh_sample, ContactModel(), PatternModel())
    assert fitted["accuracy"] > 0.5 and fitted["unlabelled"] < fitted["clips"] / 2, fitted
