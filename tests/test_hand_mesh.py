"""The hand's organic skin: a closed, outward surface around the joints, skinned to follow them."""

import numpy as np
import pytest

from interanimate.data.synth.generator import subject_models
from interanimate.data.synth.hand import POSES
from interanimate.data.synth.hand_mesh import REST_POSE, SkinnedHand, canonical_hand, rest_skin

ARM_DOWN = np.array([0.0, -1.0, 0.2])


@pytest.fixture(scope="module")
def hands():
    return subject_models(3, 0, 64)[2]


def _edges(faces):
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0, return_counts=True)[1]


def _winding(points, vertices, faces):
    """Generalised winding number of a closed mesh at ``points`` (1 inside, 0 outside; van Oosterom–Strackee)."""
    out = []
    for p in points:
        a, b, c = (vertices[faces[:, k]] - p for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        det = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la \
            + np.einsum("ij,ij->i", c, a) * lb
        out.append(np.arctan2(det, den).sum() / (2 * np.pi))
    return np.array(out)


def test_rest_skin_is_a_closed_outward_surface():
    skin = rest_skin()
    assert (_edges(skin.faces) == 2).all()  # every edge shared by exactly two triangles: watertight
    corner = skin.vertices.astype(np.float64)[skin.faces]
    volume = np.einsum("ij,ij->i", corner[:, 0], np.cross(corner[:, 1], corner[:, 2])).sum() / 6
    assert 2e-4 < volume < 2e-3  # outward (positive) and of a hand with a forearm (≈ 0.2–2 litres)
    assert np.allclose(skin.weights.sum(1), 1.0, atol=1e-5)
    assert set(np.unique(skin.chain)) == set(range(7))  # palm, forearm, thumb and four fingers all present


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("pose", ["relaxed", "point", "pinch_closed", "flat"])
def test_joints_lie_inside_the_posed_skin_and_tips_on_it(hands, side, pose):
    skinned = SkinnedHand(hands[side])
    joints = skinned.joints_local(POSES[pose])
    verts = skinned.pose_vertices_local(POSES[pose], ARM_DOWN)
    inner = [0, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19]  # wrist, thumb MCP/IP, fingers' PIP and DIP
    assert (_winding(joints[inner], verts, skinned.faces) > 0.5).all()
    # The fingertip joints are the tips' surface (as in the tube model, which the labels and contact rely on).
    for tip in (4, 8, 12, 16, 20):
        assert np.linalg.norm(verts - joints[tip], axis=1).min() < 2.5e-3
    if pose not in ("flat", "relaxed"):
        return  # curled fingertips rest against the palm or the thumb: no free space beyond them
    # Just beyond the open fingertips the winding number is 0: the tips close the surface there.
    prev = joints[[3, 7, 11, 15, 19]]
    outside = joints[[4, 8, 12, 16, 20]] + 0.004 * (joints[[4, 8, 12, 16, 20]] - prev) / np.linalg.norm(
        joints[[4, 8, 12, 16, 20]] - prev, axis=1, keepdims=True)
    assert (np.abs(_winding(outside, verts, skinned.faces)) < 0.5).all()


def test_skinning_follows_the_bones(hands):
    right = hands["right"]
    skinned = SkinnedHand(right)
    rest = skinned.pose_vertices_local(REST_POSE, np.array([0.0, -1.0, 0.0]))
    bent = skinned.pose_vertices_local(POSES["point"], np.array([0.0, -1.0, 0.0]))
    moved = np.linalg.norm(bent - rest, axis=1)
    chain = skinned.rest.chain
    # The point pose curls middle, ring and pinky and keeps the index straight: their skin moves accordingly.
    for finger in (4, 5, 6):
        assert np.median(moved[chain == finger]) > 0.02
    assert np.median(moved[chain == 3]) < np.median(moved[chain == 4]) / 3
    assert np.median(moved[(chain == 1) & (skinned.rest.vertices[:, 1] < -0.05)]) < 1e-6  # forearm stays
    # The canonical hand at rest is the rest mesh itself (identity bone transforms).
    canonical = SkinnedHand(canonical_hand(right.subject))
    assert np.allclose(canonical.pose_vertices_local(REST_POSE, np.array([0.0, -1.0, 0.0])),
                       canonical.rest.vertices, atol=1e-6)


def test_left_hand_is_the_mirror_of_the_right(hands):
    right, left = SkinnedHand(hands["right"]), SkinnedHand(hands["left"])
    r = right.pose_vertices_local(POSES["relaxed"], ARM_DOWN)
    arm_left = ARM_DOWN * np.array([-1.0, 1.0, 1.0])
    lv = left.pose_vertices_local(POSES["relaxed"], arm_left)
    assert np.allclose(lv, r * np.array([-1.0, 1.0, 1.0]), atol=1e-9)
    for skinned, v in ((right, r), (left, lv)):
        corner = v[skinned.faces]
        assert np.einsum("ij,ij->i", corner[:, 0], np.cross(corner[:, 1], corner[:, 2])).sum() > 0  # outward


def test_surface_matches_the_tube_interface_and_is_deterministic(hands):
    hand = hands["right"]
    skinned = SkinnedHand(hand)
    pose = POSES["pinch_open"]
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    wrist = np.array([0.01, 0.02, 0.5])
    args = (hand.joints_local(pose), rot, wrist, np.array([0.0, 1.0, 0.2]), False)
    verts, attr, vmat, spheres = skinned.surface(*args, pose=pose)
    tube_spheres = hand.surface(*args)[3]
    assert verts.shape == (skinned.num_vertices, 3) and attr.shape == (skinned.num_vertices, 3)
    assert np.array_equal(spheres, tube_spheres)  # contact physics is unchanged
    assert set(np.unique(vmat)) == {4, 5}
    again = SkinnedHand(hand).surface(*args, pose=pose)
    assert np.array_equal(verts, again[0]) and np.array_equal(attr, again[1])
    # Nails are on the fingers' backs, the palm side on their fronts.
    nails = attr[:, 1] > 0.5
    assert nails.any() and np.isin(skinned.rest.chain[nails], [2, 3, 4, 5, 6]).all()
    with pytest.raises(ValueError, match="pose"):
        skinned.surface(*args)


def test_rest_skin_rebuilds_identically():
    first = rest_skin()
    rest_skin.cache_clear()
    second = rest_skin()
    assert np.array_equal(first.vertices, second.vertices) and np.array_equal(first.faces, second.faces)
    assert np.array_equal(first.weights, second.weights)
