"""Temporal cleaning, contact decisions, face regions and pattern rules, on controlled inputs."""

from __future__ import annotations

import numpy as np
import pytest

from interanimate.data.annotate.contact import ContactModel, decide
from interanimate.data.annotate.geometry import face_frame, region_of_points
from interanimate.data.annotate.patterns import EpisodeFeatures, RulePatternModel, group_episodes
from interanimate.data.annotate.smoothing import fill_gaps, one_euro
from interanimate.taxonomy import FACE_REGIONS


def test_one_euro_removes_jitter_but_follows_fast_motion():
    rng = np.random.default_rng(0)
    fps, n = 30.0, 90
    still = 100 + rng.normal(0, 2.0, (n, 1))
    smooth = one_euro(still, np.ones(n, bool), fps, scale=np.full(n, 100.0))
    assert smooth[10:].std() < 0.5 * still[10:].std()
    ramp = np.linspace(0, 300, n)[:, None]  # a fast swipe: 100 px per second of a 100 px face
    followed = one_euro(ramp + rng.normal(0, 2.0, (n, 1)), np.ones(n, bool), fps, scale=np.full(n, 100.0))
    assert np.abs(followed[20:] - ramp[20:]).mean() < 6.0  # lag stays under a few pixels


def test_fill_gaps_only_bridges_short_dropouts():
    track = np.arange(12, dtype=float)[:, None]
    valid = np.ones(12, bool)
    valid[[3, 4]] = False  # short: filled
    valid[7:11] = False  # long: left empty
    filled_track, filled = fill_gaps(np.where(valid[:, None], track, np.nan), valid, max_gap=2)
    assert filled.tolist() == [i in (3, 4) for i in range(12)]
    assert filled_track[3, 0] == pytest.approx(3.0) and np.isnan(filled_track[8, 0])


def test_contact_decision_uses_hysteresis_and_minimum_duration():
    model = ContactModel(enter=0.6, leave=0.4, close_gap_s=0.1, min_duration_s=0.1)
    p = np.array([0.1, 0.7, 0.5, 0.5, 0.3, 0.45, 0.7, 0.1, 0.1, 0.1, 0.1, 0.65, 0.1, 0.1])
    on = decide(p, fps=20.0, model=model)
    # enters at 0.7, holds through 0.5 (above "leave"), the 1-frame dip is closed, the lone 0.65 blip is dropped
    assert on.tolist() == [False, True, True, True, True, True, True] + [False] * 7


def _frontal_landmarks() -> np.ndarray:
    """An upright iBUG-68 layout from MediaPipe on a real photo (scikit-image's astronaut)."""
    from skimage import data

    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.data.annotate.perception import Perceiver

    with Perceiver() as perceiver:
        faces = perceiver(data.astronaut(), 0).faces
    assert len(faces) == 1
    return ibug68_from_mesh(faces[0])[None, :, :2].astype(np.float64)


def test_regions_follow_the_subjects_sides():
    landmarks = _frontal_landmarks()
    frame = face_frame(landmarks)
    coords = frame.to_face(landmarks)
    probe = {
        "nose": landmarks[0, 30],
        "chin": landmarks[0, 8] + (landmarks[0, 57] - landmarks[0, 8]) * 0.3,
        "mouth": landmarks[0, [62, 66]].mean(0),
        "forehead": landmarks[0, 27] + (landmarks[0, 27] - landmarks[0, 33]) * 0.9,
        # iBUG 0-4 run down the image-left jaw, which is the subject's RIGHT side on a frontal photo
        "cheek_right": (landmarks[0, 2] + landmarks[0, 31]) / 2,
        "cheek_left": (landmarks[0, 14] + landmarks[0, 35]) / 2,
        "eye_left": landmarks[0, 42:48].mean(0),
    }
    points = np.stack(list(probe.values()))[None]
    regions = region_of_points(frame.to_face(points), coords)[0]
    assert [FACE_REGIONS[r] for r in regions] == list(probe)
    # Mirroring the picture swaps the subject's sides: the same probe now reads as the other cheek.
    mirrored = landmarks.copy()
    mirrored[..., 0] = 1000 - mirrored[..., 0]
    mirrored = mirrored[:, list(range(16, -1, -1)) + list(range(17, 68))]  # keep jaw order plausible
    mirrored[:, 36:48] = np.concatenate([mirrored[:, 42:48], mirrored[:, 36:42]], axis=1)  # eyes swap roles
    frame_m = face_frame(mirrored)
    point_m = np.array([[[1000 - probe["cheek_right"][0], probe["cheek_right"][1]]]])
    assert FACE_REGIONS[region_of_points(frame_m.to_face(point_m), frame_m.to_face(mirrored))[0, 0]] == "cheek_left"



def test_nose_mouth_and_chin_follow_a_turned_heads_midline():
    """A head turned toward the camera's left moves its nose and mouth off the point between the eyes; a
    fingertip on the side of the nose is still on the nose, one beside the mouth corner still on the cheek."""
    landmarks = _frontal_landmarks()
    frame = face_frame(landmarks)
    iod = float(frame.iod[0])
    turned = landmarks.copy()
    shift = np.array([0.35 * iod, 0.0])  # image x; the eye centres, and so the frame, stay where they were
    # The nose's tip, which stands out furthest, moves most; its bridge least.
    turned[:, 27:36] += shift * np.array([0.3, 0.5, 0.7, 1.0, 0.8, 0.8, 0.8, 0.8, 0.8])[:, None]
    turned[:, 48:68] += shift
    turned[:, 6:11] += shift * 0.6
    coords = frame.to_face(turned)
    nose_wing = turned[0, 35] + np.array([0.05 * iod, 0.0])  # just outside the far nostril wing
    probe = {"nose": nose_wing, "mouth": turned[0, [62, 66]].mean(0),
             "chin": turned[0, 8] + (turned[0, 57] - turned[0, 8]) * 0.3,
             "cheek_right": turned[0, 31] - np.array([0.3 * iod, 0.0])}
    regions = region_of_points(frame.to_face(np.stack(list(probe.values()))[None]), coords)[0]
    assert [FACE_REGIONS[r] for r in regions] == list(probe)


def _episode(**kw) -> EpisodeFeatures:
    base = dict(hand=1, start=0, end=10, num_contacts=1, contact_seconds=0.3, longest_seconds=0.3,
                region_share={"nose": 1.0}, pinch_gap=0.9, path=0.05, speed=0.2, displacement=(0.0, 0.0), mid_v=0.5)
    base.update(kw)
    return EpisodeFeatures(**base)


@pytest.mark.parametrize("features, expected", [
    (dict(num_contacts=2, region_share={"cheek_left": 1.0}), "poke_cheek_left"),
    (dict(region_share={"chin": 1.0}, pinch_gap=0.2, longest_seconds=1.2, contact_seconds=1.2), "pinch_chin"),
    (dict(region_share={"jaw": 1.0}, path=0.8, speed=0.8, longest_seconds=1.5, contact_seconds=1.5,
          displacement=(0.6, 0.1)), "stroke_jaw"),
    (dict(region_share={"forehead": 1.0}, path=1.2, speed=5.0, displacement=(-1.1, 0.05), mid_v=-0.6),
     "swipe_forehead_rightward"),
    (dict(region_share={"mouth": 1.0}, path=1.0, speed=5.0, displacement=(0.9, 0.0), mid_v=1.3), "swipe_mouth_leftward"),
    (dict(region_share={"nose": 0.5, "mouth": 0.5}, path=1.4, speed=6.0, displacement=(0.05, 1.3), mid_v=0.9),
     "swipe_face_downward"),
])
def test_pattern_rules(features, expected):
    result = RulePatternModel().recognise(_episode(**features))
    assert result.pattern is not None and result.pattern.name == expected and result.confidence > 0.35


def test_ambiguous_episode_stays_unlabelled():
    # a contact spread over the temple with middling slide and speed: no pattern is convincing
    result = RulePatternModel().recognise(_episode(region_share={"temple_left": 0.5, "eye_right": 0.5}, path=0.35,
                                               speed=2.2, pinch_gap=0.42, displacement=(0.2, 0.2), mid_v=0.3))
    assert result.pattern is None


def test_episodes_group_nearby_contacts_per_hand():
    contact = np.zeros((60, 2), bool)
    contact[5:8, 1] = contact[12:15, 1] = True  # two presses 4 frames apart: one episode
    contact[50:55, 1] = True  # much later: another
    contact[20:30, 0] = True
    episodes = group_episodes(contact, fps=20.0, max_break_s=0.5)
    assert [(h, [tuple(s) for s in segs]) for h, segs in episodes] == [
        (1, [(5, 8), (12, 15)]), (0, [(20, 30)]), (1, [(50, 55)])]


def _face_at(x: float, y: float, size: float) -> np.ndarray:
    mesh = np.zeros((478, 3), np.float32)
    mesh[:, :2] = np.random.default_rng(0).uniform(-size / 2, size / 2, (478, 2)) + (x, y)
    return mesh


def test_a_face_lost_for_seconds_in_one_shot_stays_the_subject_without_an_embedding():
    from interanimate.data.annotate.perception import FrameObservation
    from interanimate.data.annotate.tracking import track_faces

    def identify(requests):
        raise AssertionError("tracks of one shot at one place need no embedding")

    seen = [FrameObservation(faces=[_face_at(300, 200, 150)]) for _ in range(20)]
    gone = [FrameObservation() for _ in range(45)]  # a hand covers the face for 1.8 s at 25 fps
    back = [FrameObservation(faces=[_face_at(310, 205, 145)]) for _ in range(20)]
    mesh, found, _ = track_faces(seen + gone + back, identify=identify)
    assert found[:20].all() and found[65:].all() and not found[20:65].any()


def test_faces_in_other_shots_or_other_places_are_still_told_apart_by_embedding():
    from interanimate.data.annotate.perception import FrameObservation
    from interanimate.data.annotate.tracking import track_faces

    asked = []

    def identify(requests):  # two different people
        asked.extend(requests)
        return [np.full(128, float(i)) for i, _ in enumerate(requests)]

    first = [FrameObservation(faces=[_face_at(300, 200, 150)]) for _ in range(30)]
    second = [FrameObservation(faces=[_face_at(300, 200, 120)]) for _ in range(20)]
    cuts = np.zeros(50, bool)
    cuts[30] = True  # a shot cut: the same place may show someone else
    mesh, found, _ = track_faces(first + second, cuts=cuts, identify=identify)
    assert len(asked) == 2 and found[:30].all() and not found[30:].any()
    elsewhere = [FrameObservation(faces=[_face_at(700, 200, 150)]) for _ in range(20)]
    gap = [FrameObservation() for _ in range(20)]
    asked.clear()
    track_faces(first + gap + elsewhere, identify=identify)
    assert len(asked) == 2  # no cut, but the face reappears somewhere else: the embedding decides
