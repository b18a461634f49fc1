"""How the composite renderer holds the pattern's hand and forearm against the photo's face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import COMPOSITE_FRAMES as FRAMES


@pytest.fixture(scope="module")
def photo_face(astronaut):
    from interanimate.render.composite.face import build_face

    return build_face(astronaut.image, astronaut.mesh)


def _retarget(face, pattern: str, seed: int, fps: float = 25.0, in_view: bool = True):
    """The retargeter of the pattern's 16-frame plan (planned at 25 fps) onto ``face``, its reach timed at ``fps``
    (``in_view=False``: without keeping the reaching palm in the picture)."""
    from interanimate.pipelines.motion import SYNTH_ACTOR_SIZE, synthesize_performance
    from interanimate.render.composite.placement import Retargeter
    from interanimate.render.composite.renderer import subject_models

    class AsReached(Retargeter):
        def _reach_in_view(self):
            return None

    plan = synthesize_performance(pattern, 16, 25.0, seed, None).plan
    _, head, hands = subject_models(seed, 0, SYNTH_ACTOR_SIZE)
    return (Retargeter if in_view else AsReached)(face, head, hands[plan.hand_side], plan, long_sleeves=False, fps=fps)


def _wrist_seen(retarget, hand_rotation: np.ndarray, f: int) -> np.ndarray:
    """Camera-frame offset of frame ``f``'s wrist from the touching anchor, the hand turned by ``hand_rotation``."""
    from interanimate.data.synth.choreography import anchor_point

    hand, pose = retarget.kinematic, retarget.pose[f]
    anchor_local, _ = anchor_point(hand, pose, retarget.plan.anchor)
    return retarget.rotation @ (hand_rotation @ (hand.joints_local(pose)[0] - anchor_local))


def _contact_frames(retarget) -> np.ndarray:
    frames = np.flatnonzero(retarget.plan.expect_contact)
    assert len(frames) >= 2
    return frames


@pytest.mark.parametrize("pattern,seed", [("poke_nose", 0), ("poke_nose", 2), ("poke_cheek_left", 1),
                                          ("poke_cheek_right", 0)])
def test_a_poking_forearm_rises_from_below_nearly_in_the_image_plane(photo_face, pattern, seed):
    retarget = _retarget(photo_face, pattern, seed)
    chin_row = photo_face.landmarks[8, 1]  # iBUG-68 chin
    for f in _contact_frames(retarget):
        arm = retarget.rotation @ retarget.arm_dir[f]  # camera frame, wrist toward elbow
        assert arm[1] > 0.6  # down the picture
        assert abs(arm[2]) < 0.4  # mostly across the picture, not at the camera
        placed = retarget.frame(f)
        elbow = placed.joints[0] + 0.25 * arm  # a forearm's length from the wrist
        assert photo_face.project(elbow[None])[0, 1] > chin_row


def _as_planned(retarget):
    """The same retargeter holding the hand exactly as the choreography planned it."""
    import copy

    planned = copy.copy(retarget)
    planned.pose, planned.hand_rotation, planned.arm_dir = (np.array(retarget.plan.pose),
                                                            np.array(retarget.plan.rotation),
                                                            np.array(retarget.plan.arm_dir))
    return planned


@pytest.mark.parametrize("pattern,seed", [("poke_nose", 0), ("poke_nose", 1), ("poke_cheek_left", 1),
                                          ("poke_forehead", 0)])
def test_a_poking_hand_comes_nearer_the_face_depth(photo_face, pattern, seed):
    retarget = _retarget(photo_face, pattern, seed)
    planned = _as_planned(retarget)
    for f in _contact_frames(retarget):
        joints, before = retarget.frame(f).joints, planned.frame(f).joints
        # The wrist less far in front of the touching fingertip than the choreography's straight-on reach.
        ahead = joints[8, 2] - joints[0, 2]
        assert ahead < 0.15
        assert ahead < before[8, 2] - before[0, 2] - 0.01


@pytest.mark.parametrize("pattern,seed", [("swipe_mouth_leftward", 0), ("swipe_face_downward", 1)])
def test_a_swiping_forearm_bends_toward_the_image_plane(photo_face, pattern, seed):
    retarget = _retarget(photo_face, pattern, seed)
    planned = _as_planned(retarget)
    ahead = []
    for f in _contact_frames(retarget):
        arm, before = (retarget.rotation @ r.arm_dir[f] for r in (retarget, planned))
        assert arm[1] > 0.3  # down the picture
        assert arm[2] > before[2] + 0.05  # less toward the camera than the plan's forearm
        joints, was = retarget.frame(f).joints, planned.frame(f).joints
        ahead.append((joints[8, 2] - joints[0, 2], was[8, 2] - was[0, 2]))
    now, before = np.mean(ahead, 0)
    assert now <= before + 1e-9  # the wrist, over the pass, no nearer the camera than planned


def test_a_pointing_hand_is_seen_from_the_side_with_its_other_fingers_loosely_curled(photo_face):
    from interanimate.data.synth.hand import POSES
    from interanimate.render.composite.placement import POINT_RELAXED

    retarget = _retarget(photo_face, "poke_nose", 0)
    for f in _contact_frames(retarget):
        j = retarget.frame(f).joints
        palm = np.cross(j[5] - j[0], j[17] - j[0])
        palm /= np.linalg.norm(palm)
        assert abs(palm[2]) < 0.5  # the palm faces sideways, neither the camera nor the face
        assert np.allclose(retarget.pose[f, 4:8], retarget.plan.pose[f, 4:8])  # the index finger as planned
        assert (retarget.pose[f, [8, 10, 11, 12, 14, 15, 16, 18, 19]]
                <= POINT_RELAXED[[8, 10, 11, 12, 14, 15, 16, 18, 19]] + 1e-9).all()
    # Looser than the choreography's fist: the middle fingertip further from the wrist.
    hand = retarget.kinematic
    fist = hand.joints_local(POSES["point"])
    loose = hand.joints_local(retarget.pose[_contact_frames(retarget)[0]])
    assert np.linalg.norm(loose[12] - loose[0]) > np.linalg.norm(fist[12] - fist[0]) + 0.01


@pytest.mark.parametrize("pattern", ["poke_nose", "poke_chin", "swipe_mouth_leftward", "swipe_face_downward"])
def test_the_hand_turns_about_the_touching_fingertip(photo_face, pattern):
    retarget = _retarget(photo_face, pattern, 0)
    planned = _as_planned(retarget)
    hand = retarget.kinematic
    tips = {8: hand.finger_radii[0, 3]} if retarget.plan.anchor == "index_tip" else {
        8: hand.finger_radii[0, 3], 12: hand.finger_radii[1, 3]}

    def pads(joints):  # the working fingertip spheres' centres (the tip joint is the tip's surface)
        return np.mean([joints[t] - retarget.scale * r * (joints[t] - joints[t - 1])
                        / np.linalg.norm(joints[t] - joints[t - 1]) for t, r in tips.items()], 0)

    for f in _contact_frames(retarget):
        now, before = retarget.frame(f), planned.frame(f)
        # Contact is planned at the fingertips: they stay put however the rest of the hand turns.
        assert np.linalg.norm(pads(now.joints) - pads(before.joints)) < 1e-4
        assert np.isfinite(now.vertices).all()


def test_collision_spheres_are_the_surfaces_without_the_mesh():
    from interanimate.data.synth.hand import POSES
    from interanimate.pipelines.motion import SYNTH_ACTOR_SIZE
    from interanimate.render.composite.renderer import subject_models

    rng = np.random.default_rng(0)
    for seed in (0, 1):
        _, _, hands = subject_models(seed, 0, SYNTH_ACTOR_SIZE)
        for hand in hands.values():
            for pose in POSES.values():
                joints, arm = hand.joints_local(pose), rng.normal(size=3)
                expected = hand.surface(joints, np.eye(3), np.zeros(3), arm, False)[3]
                np.testing.assert_array_equal(hand.collision_spheres(joints, arm), expected)


@pytest.mark.parametrize("pattern,seed", [
    ("poke_nose", 0), ("poke_nose", 2), ("poke_cheek_right", 1), ("poke_forehead", 3),
    ("swipe_mouth_leftward", 0), ("swipe_face_downward", 1), ("swipe_forehead_rightward", 2),
    ("pinch_cheek_left", 0), ("pinch_nose", 1),
    ("stroke_jaw", 0), ("stroke_cheek_right", 28),  # pitched about the two pads only
    pytest.param("poke_chin", 0, marks=pytest.mark.slow),  # no candidate clears: every lean is tried
])
def test_the_fast_reposing_search_chooses_what_the_mesh_based_one_chooses(photo_face, pattern, seed):
    from natural_arm_reference import reference_natural_arm

    retarget = _retarget(photo_face, pattern, seed)
    for fast, reference, name in zip((retarget.pose, retarget.hand_rotation, retarget.reposed_arm_dir),
                                     reference_natural_arm(retarget), ("pose", "rotation", "forearm")):
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9, err_msg=f"{pattern} seed {seed}: {name}")


@pytest.mark.parametrize("pattern", ["poke_nose", "swipe_face_downward", "pinch_cheek_left", "pinch_nose"])
def test_rendered_clip_touches_collision_free(astronaut, pattern):
    from interanimate.render.composite import render_composite

    clip = render_composite(astronaut, pattern, FRAMES, 25.0, seed=0)
    ann = clip.annotations
    assert ann.contact.any()
    assert ann.penetration.max() <= 1.0  # mm


@pytest.mark.parametrize("pattern,seed", [("pinch_cheek_left", 0), ("pinch_cheek_right", 0), ("pinch_chin", 0),
                                          ("pinch_nose", 1), ("swipe_mouth_leftward", 1), ("swipe_face_downward", 1)])
def test_a_pinching_or_swiping_hand_reaches_up_from_below_its_two_fingertips(photo_face, pattern, seed):
    from interanimate.data.synth.choreography import tip_centres
    from interanimate.render.composite.placement import ARM_IN_PLANE

    retarget = _retarget(photo_face, pattern, seed)
    planned = _as_planned(retarget)
    hand = retarget.kinematic
    side_x = 1.0 if retarget.plan.hand_side == "left" else -1.0
    want = ARM_IN_PLANE * [side_x, 1.0, 1.0]
    want = want / np.linalg.norm(want)
    gains = []
    for f in _contact_frames(retarget):
        now, before = retarget.frame(f), planned.frame(f)
        # The touch itself is as planned: its anchor (between the two working pads) and the pads' spacing.
        tips = tip_centres(hand, retarget.pose[f])
        assert np.allclose(retarget.pose[f], retarget.plan.pose[f])  # the fingers as planned
        other = 4 if retarget.plan.anchor == "pinch" else 12  # the thumb, or the middle finger
        spacing = [np.linalg.norm(r.hand_rotation[f] @ (tips[8] - tips[other])) for r in (retarget, planned)]
        assert spacing[0] == pytest.approx(spacing[1], abs=1e-9)
        # The wrist below the pinch in the picture and its direction nearer a forearm's natural one.
        wrist_now = _wrist_seen(retarget, retarget.hand_rotation[f], f)
        wrist_was = _wrist_seen(retarget, planned.hand_rotation[f], f)
        assert wrist_now[1] > 0.0  # camera y points down the picture
        gains.append(wrist_now @ want / np.linalg.norm(wrist_now) - wrist_was @ want / np.linalg.norm(wrist_was))
        assert np.isfinite(now.vertices).all() and np.isfinite(before.vertices).all()
    assert np.mean(gains) > 0.1  # cosine with the natural forearm direction, over the contact frames


@pytest.mark.parametrize("pattern,seed", [("stroke_cheek_right", 28), ("stroke_jaw", 0), ("poke_chin", 20),
                                          ("swipe_face_downward", 1)])
def test_no_forearm_aims_at_the_camera_unless_turning_it_would_touch_the_face(photo_face, pattern, seed):
    MAX_ARM_TOWARD_CAMERA = 0.45  # camera-ward part of the unit forearm direction: about 27 degrees
    retarget = _retarget(photo_face, pattern, seed)
    steep = 0
    for f in range(retarget.plan.num_frames):
        toward = -(retarget.rotation @ retarget.arm_dir[f])[2]
        planned = -(retarget.rotation @ retarget.reposed_arm_dir[f])[2]
        assert toward <= max(planned, MAX_ARM_TOWARD_CAMERA) + 1e-9  # never turned further toward the camera
        if toward > MAX_ARM_TOWARD_CAMERA + 1e-9:  # kept: the flatter forearm would have come nearer the skin
            steep += 1
            flat = retarget.rotation @ retarget.reposed_arm_dir[f]
            flat[:2] *= np.sqrt(1 - MAX_ARM_TOWARD_CAMERA ** 2) / np.linalg.norm(flat[:2])
            flat[2] = -MAX_ARM_TOWARD_CAMERA
            turned = retarget.rotation.T @ flat
            assert retarget._intrusion(f, retarget.targets[f], turned) > retarget._intrusion(f, retarget.targets[f])
    assert steep < retarget.plan.num_frames // 2


@pytest.mark.parametrize("pattern,seed", [("stroke_cheek_right", 28), ("poke_nose", 0), ("pinch_chin", 0)])
def test_the_reach_and_retreat_stay_nearer_the_face_depth_and_the_touch_is_as_planned(photo_face, pattern, seed):
    retarget = _retarget(photo_face, pattern, seed)
    plan = retarget.plan
    contact = _contact_frames(retarget)
    span = slice(contact[0], contact[-1] + 1)
    np.testing.assert_array_equal(retarget.targets[span], np.asarray(plan.target)[span])
    camera_z = retarget.rotation[2]  # camera depth of a head-frame point, up to the translation
    first, last = 0, plan.num_frames - 1
    for f, touch in ((first, contact[0]), (last, contact[-1])):
        planned = (np.asarray(plan.target[f]) - np.asarray(plan.target[touch])) @ camera_z
        now = (retarget.targets[f] - retarget.targets[touch]) @ camera_z
        assert planned < -0.03  # the choreography's reach starts well in front of the touch
        assert now > planned + 0.01  # ... and now at least a centimetre less far in front
        assert np.all(np.isfinite(retarget.frame(f).vertices))


@pytest.mark.parametrize("pattern,seed", [("poke_chin", 2), ("pinch_cheek_right", 2), ("stroke_forehead", 11)])
def test_the_reach_and_retreat_keep_to_a_human_hands_speed(photo_face, pattern, seed):
    """The choreography plans in frames: in a 16-frame clip at 25 fps its hand reaches the face at 2-4 m/s. The
    retargeted reach is no faster than a brisk human one, starting nearer the face, and the touch is as planned;
    at a frame rate slow enough for the planned reach nothing changes (the palm's staying in view, which compresses
    the reach further, is left out here)."""
    from interanimate.render.composite.placement import MAX_REACH_SPEED

    fast, slow = (_retarget(photo_face, pattern, seed, fps, in_view=False) for fps in (25.0, 1.0))
    plan = fast.plan
    contact = _contact_frames(fast)
    span = slice(contact[0], contact[-1] + 1)
    np.testing.assert_array_equal(fast.targets[span], slow.targets[span])
    planned = np.linalg.norm(np.diff(slow.targets, axis=0), axis=1) * 25.0  # m/s at 25 fps
    now = np.linalg.norm(np.diff(fast.targets, axis=0), axis=1) * 25.0
    assert planned.max() > 2.0 * MAX_REACH_SPEED
    assert now.max() <= MAX_REACH_SPEED + 1e-6
    touch = fast.targets[contact[0]]
    assert np.linalg.norm(fast.targets[0] - touch) < np.linalg.norm(slow.targets[0] - touch) - 0.05  # m nearer
    for f in range(plan.num_frames):  # no frame comes nearer the skin than its planned one
        assert fast._intrusion(f, fast.targets[f]) <= slow._intrusion(f, slow.targets[f]) + 1e-6


def _palm_in_picture(retarget, f: int) -> bool:
    from interanimate.render.composite.placement import PALM_POINTS

    face = retarget.face
    px = face.project(retarget.frame(f).joints[PALM_POINTS])
    return bool(np.all((px >= 0) & (px < [face.width, face.height])))


@pytest.mark.parametrize("pattern,seed", [("poke_nose", 3), ("stroke_jaw", 2), ("pinch_cheek_right", 2)])
def test_a_reaching_hand_keeps_its_palm_in_the_picture(photo_face, pattern, seed):
    """A clip starts and ends inside the reach: where the wrist or a knuckle would be beyond the frame's edge the
    reach is drawn nearer the touch, along its own path, so more frames show the palm (a hand detector's cue); the
    touch is as planned, the hand still moves in every frame it moved in, and no frame comes nearer the skin."""
    now, before = _retarget(photo_face, pattern, seed), _retarget(photo_face, pattern, seed, in_view=False)
    frames = range(now.plan.num_frames)
    shown = np.array([_palm_in_picture(now, f) for f in frames])
    shown_before = np.array([_palm_in_picture(before, f) for f in frames])
    assert np.all(shown | ~shown_before) and shown.sum() > shown_before.sum()
    contact = _contact_frames(now)
    span = slice(contact[0], contact[-1] + 1)
    np.testing.assert_array_equal(now.targets[span], before.targets[span])
    steps, steps_before = (np.linalg.norm(np.diff(r.targets, axis=0), axis=1) for r in (now, before))
    assert np.all((steps > 0) | (steps_before == 0))
    ends = [(0, contact[0]), (now.plan.num_frames - 1, contact[-1])]  # the clip's first and last frames
    far, far_before = ([np.linalg.norm(r.targets[f] - r.targets[touch]) for f, touch in ends] for r in (now, before))
    assert np.all(np.array(far) <= np.array(far_before) + 1e-12) and min(np.subtract(far, far_before)) < -0.01
    for f in frames:
        assert now._intrusion(f, now.targets[f]) <= before._intrusion(f, before.targets[f]) + 1e-6


@pytest.mark.parametrize("pattern,seed", [("poke_forehead", 0), ("stroke_forehead", 0),
                                          ("swipe_forehead_rightward", 1)])
def test_a_forehead_reach_comes_from_the_side_not_up_across_the_face(photo_face, pattern, seed):
    """The choreography's reach rises from below, in front of the mouth and eyes; reaching for the forehead, the hand
    comes from the side its forearm is on, and leaves that way."""
    retarget = _retarget(photo_face, pattern, seed)
    plan = retarget.plan
    contact = _contact_frames(retarget)
    side_x = 1.0 if plan.hand_side == "left" else -1.0
    for f, touch in ((0, contact[0]), (plan.num_frames - 1, contact[-1])):
        for path, beside in ((np.asarray(plan.target), False), (retarget.targets, True)):
            seen = retarget.rotation @ (path[f] - path[touch])  # camera frame: x right, y down
            assert (seen[0] * side_x > abs(seen[1])) == beside  # more across the picture than up or down it
        assert retarget._intrusion(f, retarget.targets[f]) <= 1e-9  # clear of the skin


@pytest.mark.parametrize("seed", [0, 2])
def test_a_forehead_stroke_pitches_about_its_pads_toward_the_side_on_forearm(photo_face, seed):
    """A stroke's two pads stay where the choreography put them, as far apart; the hand only rolls about them (never
    turned about the skin's normal, so its wrist keeps its side of the face), its wrist toward the side-on forearm of
    a hand touching the forehead rather than down over the eyes."""
    from interanimate.data.synth.choreography import tip_centres
    from interanimate.render.composite.placement import arm_in_plane

    retarget = _retarget(photo_face, "stroke_forehead", seed)
    planned = _as_planned(retarget)
    hand, plan = retarget.kinematic, retarget.plan
    side_x = 1.0 if plan.hand_side == "left" else -1.0
    want = arm_in_plane("forehead", side_x)
    want = want / np.linalg.norm(want)
    gains = []
    for f in _contact_frames(retarget):
        assert np.allclose(retarget.pose[f], plan.pose[f])
        tips = tip_centres(hand, retarget.pose[f])
        pads = [r.hand_rotation[f] @ (tips[8] - tips[12]) for r in (retarget, planned)]
        np.testing.assert_allclose(pads[0], pads[1], atol=1e-9)  # the pads' axis itself is kept: only a roll about it
        wrists = [_wrist_seen(retarget, r.hand_rotation[f], f) for r in (retarget, planned)]
        gains.append(wrists[0] @ want / np.linalg.norm(wrists[0]) - wrists[1] @ want / np.linalg.norm(wrists[1]))
    assert np.mean(gains) > 0.5  # cosine with the side-on forearm's direction, over the contact frames


def _assert_touches_hiding_at_most_one_eye(photo, pattern: str, seed: int) -> None:
    """The rendered clip touches in at least two frames, in none of them covering more than half the eye landmarks,
    without penetrating the skin."""
    from interanimate.render.composite import render_composite

    ann = render_composite(photo, pattern, FRAMES, 25.0, seed=seed).annotations
    hand = np.asarray(ann.mask("hand_left")) | np.asarray(ann.mask("hand_right"))
    touching = np.flatnonzero(ann.contact.any(1))
    assert len(touching) >= 2
    for f in touching:
        eyes = np.clip(np.round(ann.face_keypoints[f, 36:48]).astype(int), 0, hand.shape[1] - 1)  # iBUG-68 eyes
        assert hand[f, eyes[:, 1], eyes[:, 0]].mean() <= 0.5
    assert ann.penetration.max() <= 1.0  # mm


@pytest.mark.parametrize("seed", [0, 1])
def test_a_forehead_poke_comes_from_the_side_and_hides_at_most_one_eye(photo_face, astronaut, seed):
    """Poking the forehead, the elbow goes out to the side: a forearm rising from below would put the fist over the
    eyes (and the face would no longer be the person's to a face recogniser)."""
    retarget = _retarget(photo_face, "poke_forehead", seed)
    for f in _contact_frames(retarget):
        arm = retarget.rotation @ retarget.arm_dir[f]  # camera frame, wrist toward elbow
        assert abs(arm[0]) > arm[1] > 0.0  # more across the picture than down it
        assert abs(arm[2]) < 0.4  # not at the camera
    _assert_touches_hiding_at_most_one_eye(astronaut, "poke_forehead", seed)


@pytest.mark.parametrize("pattern,seed", [("swipe_forehead_leftward", 0), ("swipe_forehead_rightward", 3)])
def test_a_forehead_swipe_comes_from_the_side_and_hides_at_most_one_eye(photo_face, astronaut, pattern, seed):
    """Wiping the brow, the elbow goes out to the side and the wrist stays beside the fingertips: a wrist kept below
    them hangs the palm and the forearm over the eyes."""
    retarget = _retarget(photo_face, pattern, seed)
    side_x = 1.0 if retarget.plan.hand_side == "left" else -1.0
    for f in _contact_frames(retarget):
        arm = retarget.rotation @ retarget.arm_dir[f] * [side_x, 1.0, 1.0]  # camera frame, toward the hand's side
        assert arm[0] > 1.5 * arm[1]  # more across the picture than down it
        assert abs(arm[2]) < 0.4  # not at the camera
        wrist = _wrist_seen(retarget, retarget.hand_rotation[f], f)
        assert wrist[0] * side_x > 0.05  # m: beside the fingertips, on the hand's own side
    _assert_touches_hiding_at_most_one_eye(astronaut, pattern, seed)


@pytest.mark.parametrize("seed", [0, 2])
def test_a_chin_poke_no_candidate_clears_still_turns_its_forearm_from_the_camera(photo_face, astronaut, seed):
    """Under the chin no re-posed hand keeps its curled fingers as far from the skin as the plan's forearm at the
    camera does; the candidate nearest that clearance that sinks (almost) nothing deeper into the skin is taken instead."""
    from interanimate.render.composite import render_composite

    retarget = _retarget(photo_face, "poke_chin", seed)
    for f in _contact_frames(retarget):
        planned = -(retarget.rotation @ retarget.plan.arm_dir[f])[2]  # camera-ward part of the forearm
        reposed = -(retarget.rotation @ retarget.reposed_arm_dir[f])[2]
        assert reposed < planned - 0.1
        assert (retarget.rotation @ retarget.reposed_arm_dir[f])[1] > 0.6  # from below
    clip = render_composite(astronaut, "poke_chin", FRAMES, 25.0, seed=seed)
    assert clip.annotations.contact.any()
    assert clip.annotations.penetration.max() <= 1.0  # mm


def _portrait(path, name: str, size: int = 160):
    """The portrait at ``path`` framed for the composite renderer, and its photo face."""
    import cv2

    from interanimate.render.composite.face import build_face
    from interanimate.render.composite.photo import load_photo

    image = cv2.imread(str(path))[..., ::-1]
    reference = load_photo(np.ascontiguousarray(image), size, "face", name=name)
    return reference, build_face(reference.image, reference.mesh)


def _grace_hopper(size: int = 160):
    """matplotlib's Grace Hopper portrait framed for the composite renderer, and its photo face."""
    import matplotlib.cbook

    return _portrait(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), "grace_hopper", size)


OBAMA = Path(__file__).resolve().parents[1] / "devset" / "portraits" / "obama.jpg"


def _hand_axis_depth(retarget, f: int) -> float:
    """How far frame ``f``'s placed hand, wrist to middle knuckle, points along the viewing axis (0: in the image
    plane, 1: at or away from the camera)."""
    joints = retarget.frame(f).joints
    axis = joints[9] - joints[0]
    return float(abs(axis[2]) / np.linalg.norm(axis))


@pytest.mark.parametrize("pattern,seed", [("poke_nose", 1), ("poke_chin", 1)])
def test_a_poking_hand_is_not_held_end_on_to_the_camera(pattern, seed):
    """Of the re-posed pointing hands that clear the face as well, the one least seen end-on is taken: wrist to
    knuckles along the viewing axis the hand is a foreshortened blob that hand detectors miss. On Grace Hopper's
    nose and chin the hand's axis was 44-46 degrees off the viewing axis through the touch; charged for it
    (``END_ON_POKE``), it comes within ``END_ON_FREE`` of the image plane."""
    from interanimate.render.composite.placement import END_ON_FREE

    _, face = _grace_hopper()
    retarget = _retarget(face, pattern, seed)
    for f in _contact_frames(retarget):
        assert _hand_axis_depth(retarget, f) <= END_ON_FREE + 0.01


def test_a_chin_poke_whose_every_candidate_grazes_the_skin_still_rises_from_below():
    """On Grace Hopper's chin every re-posed pointing hand comes a little nearer the skin than the plan's (its tip
    grazes the jaw in the retreat), so no candidate passed and the choreography's hand stayed: the finger pointing
    straight into the chin, the hand hidden behind its own forearm. Within ``POKE_SINK_ALLOWANCE`` the finger now
    rises from below the chin, and the contact solver leaves no penetration."""
    from interanimate.render.composite import render_composite

    reference, face = _grace_hopper()
    retarget = _retarget(face, "poke_chin", 20)
    for f in _contact_frames(retarget):
        joints = retarget.frame(f).joints  # camera frame: y down the picture, z away from the camera
        finger = (joints[8] - joints[5]) / np.linalg.norm(joints[8] - joints[5])
        assert finger[1] < -0.3  # up the picture, toward the chin from below
        assert (retarget.rotation @ retarget.arm_dir[f])[1] > 0.6  # the forearm hangs down
    clip = render_composite(reference, "poke_chin", FRAMES, 25.0, seed=20, face=face)
    assert clip.annotations.contact.any()
    assert clip.annotations.penetration.max() <= 1.0  # mm


@pytest.mark.skipif(not OBAMA.exists(), reason="devset/portraits/obama.jpg is not fetched: run tools/fetch_devset.py "
                                               "--mirrors DIR (devset/portraits/README.md)")
def test_a_chin_poke_that_must_sink_a_few_millimetres_to_rise_from_below_does():
    """Under Barack Obama's chin every re-posed pointing hand sinks its parts 2–5 mm deeper (summed over the key
    frames) than the plan's; within ``POKE_SINK_ALLOWANCE`` the finger rises from below the chin instead of the
    choreography's fist in front of the mouth, and the contact solver leaves no penetration."""
    from interanimate.render.composite import render_composite

    reference, face = _portrait(OBAMA, "obama")
    retarget = _retarget(face, "poke_chin", 38)
    for f in _contact_frames(retarget):
        joints = retarget.frame(f).joints
        finger = (joints[8] - joints[5]) / np.linalg.norm(joints[8] - joints[5])
        assert finger[1] < -0.15  # up the picture, toward the chin from below (the plan's points down into it, +0.38)
        assert (retarget.rotation @ retarget.arm_dir[f])[1] > 0.7  # the forearm hangs down (the plan's 0.57)
    clip = render_composite(reference, "poke_chin", FRAMES, 25.0, seed=38, face=face)
    assert clip.annotations.contact.any()
    assert clip.annotations.penetration.max() <= 1.0  # mm


@pytest.mark.parametrize("pattern,seed,most", [("stroke_forehead", 0, 0.8), ("swipe_forehead_rightward", 2, 0.55),
                                               ("swipe_forehead_rightward", 14, 0.7)])
def test_a_forehead_stroke_or_swipe_may_graze_the_clearance_rather_than_point_into_the_brow(photo_face, astronaut,
                                                                                               pattern, seed, most):
    """Only the working pads keep clear of nothing; a swing whose knuckles come a little inside the choreography's
    clearance band (``SWING_CLEARANCE_ALLOWANCE``, no part deeper in the skin than the plan's) is allowed, so a hand
    on the brow lies along it instead of pointing its fingers into it with the wrist at the camera (mean share of
    the hand's axis along the viewing axis over the touch, without the allowance 0.86, 0.62, 0.78); the rendered
    clip stays collision-free."""
    from interanimate.render.composite import render_composite

    retarget = _retarget(photo_face, pattern, seed)
    assert np.mean([_hand_axis_depth(retarget, f) for f in _contact_frames(retarget)]) < most
    clip = render_composite(astronaut, pattern, FRAMES, 25.0, seed=seed)
    assert clip.annotations.contact.any()
    assert clip.annotations.penetration.max() <= 1.0  # mm
