"""What the recogniser is given of a contact episode: the touch itself, not the detector's late edges."""

from __future__ import annotations

import numpy as np

from interanimate.data.annotate.analysis import contact_episodes, recognise_episodes
from interanimate.data.annotate.contact import ContactModel, ContactResult, contact_points, decide, true_runs
from interanimate.data.annotate.geometry import face_frame
from interanimate.data.annotate.patterns import PatternModel, touch_core

FPS = 30.0
# A touch at frames 10-24: the probability rises while the finger lands (the detector's hysteresis enters
# at 0.2, two frames late), stays high while it rests, and falls slowly while the hand retreats (the detector
# leaves at 0.05, three frames late).
TOUCH = (10, 25)
PROBABILITY = np.zeros(40)
PROBABILITY[8:12] = (0.01, 0.02, 0.14, 0.18)
PROBABILITY[12:25] = 0.6
PROBABILITY[25:29] = (0.28, 0.2, 0.1, 0.03)
DETECTOR = ContactModel(weights=(0.0,) * 8, bias=0.0, mean=(0.0,) * 8, scale=(1.0,) * 8, enter=0.2, leave=0.05,
                        close_gap_s=0.0, min_duration_s=0.0, min_reach=-1.5)


def test_the_detected_run_starts_and_ends_late_and_its_core_is_the_touch():
    run = true_runs(decide(PROBABILITY, FPS, DETECTOR))
    assert run == [(12, 28)]  # what the contact flags say (unchanged by the episode's description)
    assert touch_core(run, PROBABILITY, FPS) == [TOUCH]


def test_edges_move_at_most_a_tenth_of_a_second_and_inner_edges_stay():
    slow = np.zeros(60)
    slow[:20] = np.linspace(0.06, 0.19, 20)  # a long, slow rise: a hand that drifts in, not a landing
    slow[20:30] = 0.5
    slow[30:34] = 0.0
    slow[34:44] = np.linspace(0.5, 0.06, 10)  # a second press of the same episode, fading out
    runs = [(20, 30), (34, 44)]
    core = touch_core(runs, slow, FPS)
    assert core[0] == (17, 30)  # 3 frames = 0.1 s back, not down to frame 0
    assert core[1][0] == 34 and 41 <= core[1][1] < 44  # the inner edges as detected, the tail trimmed <= 0.1 s
    flat = np.full(60, 0.5)  # no rise and no fall: nothing to move
    assert touch_core(runs, flat, FPS) == runs


def _frontal_landmarks() -> np.ndarray:
    """An upright iBUG-68 layout from MediaPipe on a real photo (scikit-image's astronaut)."""
    from skimage import data

    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.data.annotate.perception import Perceiver

    with Perceiver() as perceiver:
        faces = perceiver(data.astronaut(), 0).faces
    assert len(faces) == 1
    return ibug68_from_mesh(faces[0])[None, :, :2].astype(np.float64)


def _poke_and_retreat(landmarks: np.ndarray):
    """A still face; the right hand's index finger far off, then on the nose tip for ``TOUCH``, then leaving over
    the subject's right cheek; the contact flags those of ``DETECTOR`` on ``PROBABILITY``."""
    num_frames = len(PROBABILITY)
    face = np.repeat(landmarks, num_frames, axis=0)
    frame = face_frame(face)
    iod = float(frame.iod[0])
    nose, cheek = landmarks[0, 30], (landmarks[0, 2] + landmarks[0, 31]) / 2
    away = cheek + np.array([-3.0 * iod, 0.0])
    tip_path = np.empty((num_frames, 2))
    tip_path[:TOUCH[0]] = away
    tip_path[TOUCH[0]:TOUCH[1]] = nose
    tip_path[TOUCH[1]:TOUCH[1] + 3] = cheek  # the retreat crosses the cheek
    tip_path[TOUCH[1] + 3:] = away
    hands = np.full((num_frames, 2, 21, 2), np.nan)
    for f in range(num_frames):
        pts = np.repeat(tip_path[f][None] + (-0.5 * iod, 1.5 * iod), 21, axis=0)  # wrist and knuckles below-left
        pts[9] = tip_path[f] + (-0.3 * iod, 0.8 * iod)
        pts[4] = tip_path[f] + (-0.9 * iod, 0.6 * iod)  # the thumb well away: no pinch
        pts[8] = tip_path[f]
        hands[f, 1] = pts
    flags = np.zeros((num_frames, 2), bool)
    flags[:, 1] = decide(PROBABILITY, FPS, DETECTOR)
    tip = np.full((num_frames, 2), 8)
    size = (1000, 1000)
    point, region = contact_points(frame, flags, tip, hands, size)
    probability = np.stack([np.zeros(num_frames), PROBABILITY], axis=1)
    result = ContactResult(flags, point, region, probability, np.zeros((num_frames, 2, 8)), tip)
    return frame, result, hands


def test_a_poke_is_described_over_the_touch_not_the_retreat():
    frame, result, hands = _poke_and_retreat(_frontal_landmarks())
    flags_before = result.contact.copy()
    (episode,) = contact_episodes(frame, result, hands, FPS, core=True)
    assert episode.segments == [(12, 28)] and (episode.start, episode.end) == (12, 28)  # the contact flags' run
    assert episode.core == TOUCH
    assert episode.region_share == {"nose": 1.0}  # the retreat over the cheek is not part of the touch
    assert episode.path < 1e-6 and episode.contact_seconds == (TOUCH[1] - TOUCH[0]) / FPS
    np.testing.assert_array_equal(result.contact, flags_before)
    # Described over the detected run, as before, the retreat's cheek and motion are in the description.
    (runs_only,) = contact_episodes(frame, result, hands, FPS)
    assert runs_only.core == (12, 28) and runs_only.region_share.get("cheek_right", 0.0) > 0.15
    assert runs_only.path > 0.5


def test_episodes_of_exact_labels_without_a_probability_are_described_as_labelled():
    frame, result, hands = _poke_and_retreat(_frontal_landmarks())
    exact = ContactResult(result.contact, result.point, result.region, np.zeros_like(result.probability),
                          result.features, result.tip)
    (episode,) = contact_episodes(frame, exact, hands, FPS, core=True)
    assert episode.core == (12, 28) and episode.segments == [(12, 28)]


def test_a_recogniser_is_given_the_episodes_it_was_fitted_on(tmp_path):
    frame, result, hands = _poke_and_retreat(_frontal_landmarks())
    shipped = PatternModel()
    assert shipped.episodes == "runs"  # fitted on the detected runs (its file predates touch_core)
    core_model = PatternModel(**{**vars(shipped), "episodes": "core"})
    core_model.save(tmp_path / "patterns.json")
    assert PatternModel.load(tmp_path / "patterns.json").episodes == "core"
    (as_runs,) = recognise_episodes(frame, result, hands, FPS, shipped)
    (as_core,) = recognise_episodes(frame, result, hands, FPS, PatternModel.load(tmp_path / "patterns.json"))
    assert as_runs.features.core == (12, 28) and as_core.features.core == TOUCH
    assert as_runs.segments == as_core.segments == [(12, 28)]  # the clip is cut around the same contact
