"""The composite renderer: labels read off the geometry agree with the pixels, contact is physical, runs repeat."""

from __future__ import annotations

import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")

from conftest import COMPOSITE_FRAMES as FRAMES, COMPOSITE_SIZE as SIZE

from interanimate.data.schema import HAND_SIDES


@pytest.fixture(scope="module")
def pinch(astronaut):
    from interanimate.render.composite import render_composite

    return render_composite(astronaut, "pinch_chin", FRAMES, 25.0, seed=1)


def test_frames_and_labels_have_the_photo_size(astronaut, poke):
    assert poke.frames.shape == (FRAMES, SIZE, SIZE, 3) and poke.frames.dtype == np.uint8
    ann = poke.annotations
    assert ann.masks.shape == (FRAMES, 4, SIZE, SIZE)
    assert ann.face_present.all() and np.isfinite(ann.face_keypoints).all()


def test_framing_never_enlarges_the_photo():
    from interanimate.render.composite.photo import load_photo
    from interanimate.pipelines.reference_face import FRAMING_IOD

    ref = load_photo(skimage_data.astronaut(), 4096, "face")
    lm = ref.photo_landmarks
    iod = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
    assert ref.image.shape[0] <= iod / FRAMING_IOD + 2  # scale <= 1
    assert ref.image.shape[0] < 4096
    whole = load_photo(skimage_data.astronaut(), 4096, "photo")
    assert whole.image.shape[:2] == (512, 512)


def test_hand_pixels_differ_from_the_photo_where_the_hand_mask_says(astronaut, poke):
    ann = poke.annotations
    reference = astronaut.image.astype(np.float32)
    frames = np.flatnonzero(ann.hand_present.any(1))
    assert len(frames) >= FRAMES // 2
    for f in frames:
        hand = ann.masks[f, 1] | ann.masks[f, 2]
        if hand.sum() < 0.01 * SIZE * SIZE:  # a hand leaving the frame, smeared by motion blur
            continue
        diff = np.abs(poke.frames[f].astype(np.float32) - reference).mean(-1)
        far = ~(hand | ann.masks[f, 0])  # neither hand nor face: background, hair, clothes
        assert diff[hand].mean() > 4 * diff[far].mean() + 5


def test_contact_is_where_the_fingertip_meets_the_skin(poke):
    ann = poke.annotations
    side = int(np.flatnonzero(ann.hand_present.any(0))[0])
    touching = np.flatnonzero(ann.contact[:, side])
    assert len(touching) >= 2
    iod = np.linalg.norm(ann.face_keypoints[:, 42:48].mean(1) - ann.face_keypoints[:, 36:42].mean(1), axis=1)
    tip = ann.hand_keypoints[touching, side, 8, :2]
    gap = np.linalg.norm(ann.contact_point[touching, side] - tip, axis=1)
    assert (gap < 0.25 * iod[touching]).all()
    # Before the approach ends the fingertip is off the skin and nothing is deformed.
    assert not ann.contact[0].any() and ann.deformation[0].max() == 0
    assert all(ann.deformation[f].max() > 0.2 for f in touching)
    from interanimate.taxonomy import region_id

    assert (ann.contact_region[touching, side] == region_id("cheek_left")).mean() >= 0.5


def test_contact_is_collision_free_and_deforms_the_photo(astronaut, poke, pinch):
    for clip in (poke, pinch):
        ann = clip.annotations
        assert ann.penetration.max() <= 1.0  # mm, the quality bar
        assert clip.info["max_deformation_shift_px"] > 0.3
        assert ann.contact.any()


def test_same_seed_same_clip_other_seed_other_clip(astronaut, poke):
    from interanimate.render.composite import render_composite

    again = render_composite(astronaut, "poke_cheek_left", FRAMES, 25.0, seed=3)
    assert np.array_equal(again.frames, poke.frames)
    assert np.array_equal(again.annotations.hand_keypoints, poke.annotations.hand_keypoints, equal_nan=True)
    other = render_composite(astronaut, "poke_cheek_left", FRAMES, 25.0, seed=4)
    assert not np.array_equal(other.frames, poke.frames)


@pytest.mark.parametrize("pattern,side", [("pinch_cheek_left", "left"), ("stroke_cheek_right", "right")])
def test_a_cheek_is_touched_by_its_own_sides_hand_unless_another_is_asked_for(astronaut, pattern, side):
    """Reaching across the face a hand must hold its knuckles at the camera to clear the nose (end-on, which hand
    detectors miss) and its forearm crosses the mouth: unless told otherwise a cheek gets the hand on its side,
    where the generator gives it to either hand."""
    from interanimate.render.composite import render_composite

    other = "right" if side == "left" else "left"
    for seed in (0, 1, 2):
        clip = render_composite(astronaut, pattern, FRAMES, 25.0, seed=seed)
        assert clip.info["acting_hand"] == side
        assert clip.annotations.hand_present[:, HAND_SIDES.index(side)].any()
    asked = render_composite(astronaut, pattern, FRAMES, 25.0, seed=0, hand=other)
    assert asked.info["acting_hand"] == other


def test_hand_takes_the_face_skin_tone(astronaut, poke):
    from interanimate.render.composite.face import build_face

    face = build_face(astronaut.image, astronaut.mesh)
    ann = poke.annotations
    f = int(np.argmax((ann.masks[:, 1] | ann.masks[:, 2]).sum((1, 2))))
    hand = ann.masks[f, 1] | ann.masks[f, 2]
    hand_rgb = np.median(poke.frames[f][hand].astype(np.float32), axis=0)
    skin = np.median(astronaut.image[face.face_mask].astype(np.float32), axis=0)
    # Same hue family: red over green over blue, and within a wide brightness band of the face.
    assert hand_rgb[0] > hand_rgb[1] > hand_rgb[2]
    assert 0.5 < hand_rgb.mean() / skin.mean() < 1.5


@pytest.fixture(scope="module")
def hand_model():
    from interanimate.data.synth.generator import subject_models

    return subject_models(0, 0, 64)[2]["right"]


def test_hand_texture_coordinates_put_the_joints_on_the_fingers(hand_model):
    from interanimate.render.composite.hand_render import surface_coordinates

    tex = surface_coordinates(hand_model)
    assert tex.rest.shape == (hand_model.num_vertices, 3) and np.isfinite(tex.rest).all()
    assert set(np.unique(tex.chain)) == set(range(7))
    fingers = tex.joint_arcs[2:]
    # Along every finger: base ring < MCP < PIP < DIP < tip; nothing off the fingers.
    assert (np.diff(fingers, axis=1) > 0.01).all() and (fingers[:, 0] > 0).all()
    assert (tex.tip_arcs[2:] > fingers[:, 2] + 0.01).all()
    assert np.isnan(tex.joint_arcs[:2]).all() and (tex.arc[tex.chain < 2] == 0).all()


def test_self_occlusion_darkens_only_concave_places(hand_model):
    from interanimate.data.synth.hand import POSES
    from interanimate.data.synth.mesh import vertex_normals
    from interanimate.render.composite.hand_render import self_occlusion

    def occlusion(pose):
        verts = hand_model.surface(hand_model.joints_local(POSES[pose]), np.eye(3), np.zeros(3),
                                   np.array([0.0, -1.0, 0.0]), False)[0]
        normals = np.zeros_like(verts)
        vertex_normals(verts, hand_model.faces, normals)
        return self_occlusion(verts, hand_model.faces, normals)

    flat, curled = occlusion("flat"), occlusion("point")
    assert flat.min() >= 0 and curled.max() <= 1
    palm = slice(hand_model.offsets["palm"], hand_model.offsets["arm"])
    # Folding the three fingers over the palm hides the palm's sky; the open hand's palm is nearly unoccluded.
    assert curled[palm].mean() > flat[palm].mean() + 0.02
    assert np.median(flat) < 0.1


def test_value_noise_is_smooth_bounded_and_seeded():
    from interanimate.render.composite.hand_render import value_noise

    points = np.random.default_rng(0).uniform(-50, 50, (2000, 3))
    a, b = value_noise(points, 1), value_noise(points, 2)
    assert (np.abs(a) <= 1).all() and a.std() > 0.15 and not np.allclose(a, b)
    assert np.array_equal(a, value_noise(points, 1))
    # Continuous: a step of 1 % of a cell changes the value by a few per cent of its range at most.
    assert np.abs(value_noise(points + 0.01, 1) - a).max() < 0.06


def testcrevice_shading_shade_only_the_skin_just_behind_a_nearer_finger():
    from interanimate.render.composite.hand_render import crevice_shading

    zbuf = np.full((60, 60), 0.50)
    zbuf[20:40, 20:40] = 0.48  # a finger 2 cm in front of the palm
    drawn = np.ones_like(zbuf, bool)
    shade = crevice_shading(zbuf, drawn, drawn, radius_px=4)
    assert np.all(shade[20:40, 20:40] == 1.0)  # the nearer finger itself is not shaded
    assert shade[30, 17] < 0.7 and shade[17, 30] < 0.7  # the palm right next to it is
    assert shade[30, 5] == 1.0 and shade[5, 5] == 1.0  # farther off, nothing
    tilted = np.tile(np.linspace(0.50, 0.51, 60), (60, 1))  # a smooth slope, 1 cm over the box: no crevice
    assert np.all(crevice_shading(tilted, drawn, drawn, radius_px=4) == 1.0)
    assert np.all(crevice_shading(zbuf, drawn, np.zeros_like(drawn), radius_px=4) == 1.0)  # nothing receives
