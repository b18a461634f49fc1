"""The hand's organic skin: one closed surface meshed once at rest, posed by linear-blend skinning.

``HandModel.surface`` lofts a tube along every bone: cheap, and a detector trained on photographs of hands does not
take it for one (a boxy palm, polygonal fingers, no knuckles, no web between the fingers, a forearm with no wrist).
``SkinnedHand`` draws the hand as an implicit solid built in the hand-local frame of a spread rest pose:

- every phalanx a round cone between its joints (radii from ``HandModel``), a slightly fuller sphere at every joint
  (the knuckles' width), a dorsal bump over every MCP (the knuckle line of a fist), a fuller pad on every fingertip,
  the fingertip joint on the surface as in the tubes;
- the palm a rounded slab around a palm-shaped core polygon, with thenar, hypothenar and distal (under the fingers)
  pads; every finger and the thumb joined to it by a smooth minimum (Quilez's polynomial ``smin``), which makes the
  webs between the fingers' bases and the thumb's web; fingers are not blended with each other;
- a wrist narrower and flatter than the palm, widening into an elliptical forearm.

The signed distance of one canonical hand is sampled once on a grid and meshed by ``skimage.measure.marching_cubes``
(a closed 2-manifold). Every vertex is skinned to the palm, the forearm and the 15 phalanges with weights that fall
off with the distance to each bone's axis; a subject's hand in a pose is one blend of 17 affine bone transforms
(each phalanx turned into its posed frame and stretched to the subject's bone length and finger thickness). The joints — and every
label computed from them — are exactly ``HandModel.joints_local``'s; only the skin between them changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from interanimate.data.synth.hand import (
    _SPLAY, _THUMB_DIR, FINGERS, HandModel, _cross3, _norm3, _rot, clamp_pose, make_pose,
)

VOXEL_M = 0.0024
# Fingers spread at rest so that no two fingers are close enough to merge; the blend to the palm makes the webs.
REST_POSE = make_pose((-5, 20, 5, 5), (4, 12, 6, 3), (4, 3, 6, 3), (4, -8, 6, 3), (4, -17, 6, 3))
FOREARM_M = 0.30  # forearm length modelled (elbow side beyond the picture)
SKIN_FALLOFF_M = 0.0028  # softness of the skinning weights: the width of the blend across a joint
NUM_INFLUENCES = 4
PALM_BLEND_M, THUMB_BLEND_M, WRIST_BLEND_M, JOINT_BLEND_M = 0.006, 0.009, 0.012, 0.0015
CHAIN_NAMES = ("palm", "arm") + FINGERS  # chain ids as in the composite renderer's texture coordinates


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: ``min(a, b)`` rounded over a band of width ``k``."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from ``p (K, 3)`` to segment ``a–b`` and the position ``t`` in [0, 1] of the nearest point."""
    ab = b - a
    t = np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - a - t[:, None] * ab, axis=1), t


def _round_cone(p: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    """Approximate signed distance to the tapered capsule ``a`` (radius ``ra``) – ``b`` (radius ``rb``)."""
    d, t = _segment(p, a, b)
    return d - (ra + (rb - ra) * t)


def _ellipsoid(p: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (the first-order bound)."""
    q = (p - centre) / radii
    k0 = np.linalg.norm(q, axis=1)
    k1 = np.linalg.norm(q / radii, axis=1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _polygon_distance(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed 2-D distance to a convex counter-clockwise ``polygon (M, 2)``."""
    outside = np.full(len(xy), np.inf)
    inside = np.full(len(xy), -np.inf)
    for i in range(len(polygon)):
        a, b = polygon[i], polygon[(i + 1) % len(polygon)]
        edge = b - a
        normal = np.array([edge[1], -edge[0]]) / np.linalg.norm(edge)  # outward for counter-clockwise order
        t = np.clip((xy - a) @ edge / (edge @ edge), 0.0, 1.0)
        outside = np.minimum(outside, np.linalg.norm(xy - a - t[:, None] * edge, axis=1))
        inside = np.maximum(inside, (xy - a) @ normal)
    return np.where(inside > 0, outside, inside)


def bone_frames(hand: HandModel, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Origins ``(15, 3)`` and rotations ``(15, 3, 3)`` of the phalanges in the unmirrored hand-local frame.

    Bone order: thumb CMC→MCP, MCP→IP, IP→tip, then index..pinky proximal, middle, distal. Each frame's columns are
    the bone's direction, its flexion axis and their cross product — the forward kinematics of ``HandModel``.
    """
    pose = clamp_pose(np.asarray(pose, np.float64))
    joints = hand.joints_local(pose) * np.array([hand.mirror, 1.0, 1.0])
    origins, frames = [], []
    z = np.array([0.0, 0.0, 1.0])
    abd_axis = _cross3(_THUMB_DIR, z)
    d1 = _rot(z, pose[0]) @ (_rot(abd_axis, pose[1]) @ _THUMB_DIR)
    toward_palm = np.array([-1.0, 0.0, 0.7])
    toward_palm = toward_palm - (toward_palm @ d1) * d1
    bend = _cross3(d1, toward_palm)
    bend /= _norm3(bend)
    for k, angle in enumerate((0.0, pose[2], pose[2] + pose[3])):
        d = _rot(bend, angle) @ d1
        origins.append(joints[1 + k])
        frames.append(np.stack([d, bend, _cross3(d, bend)], 1))
    for f in range(4):
        mcp, abd, pip, dip = pose[4 + 4 * f: 8 + 4 * f]
        yaw = _rot(z, -(_SPLAY[f] + abd))
        base_dir, flex = yaw @ np.array([0.0, 1.0, 0.0]), yaw @ np.array([1.0, 0.0, 0.0])
        angle = 0.0
        for k, step in enumerate((mcp, pip, dip)):
            angle += step
            d = _rot(flex, angle) @ base_dir
            origins.append(joints[5 + 4 * f + k])
            frames.append(np.stack([d, flex, _cross3(d, flex)], 1))
    return np.array(origins), np.array(frames)


def _arm_rotation(direction: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the rest forearm direction (-y) to unit ``direction``."""
    a = np.array([0.0, -1.0, 0.0])
    axis = _cross3(a, direction)
    sin, cos = float(_norm3(axis)), float(a @ direction)
    if sin < 1e-9:
        return np.eye(3) if cos > 0 else np.diag([-1.0, -1.0, 1.0])
    return _rot(axis / sin, float(np.arctan2(sin, cos)))


@dataclass
class RestSkin:
    """The meshed skin of the canonical hand at rest (a right hand of unit proportions, hand-local frame, metres).

    Every subject's hand is this mesh carried by its bones (``SkinnedHand``), so all hands share one topology.
    """

    vertices: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (T, 3) int32, counter-clockwise seen from outside (outward normals), as the tube model's
    chain: np.ndarray  # (N,) int8, ``CHAIN_NAMES`` index of the part each vertex belongs to
    weights: np.ndarray  # (N, 17) float32 skinning weights: palm, forearm, then ``bone_frames``' 15 phalanges
    bone_lengths: np.ndarray  # (15,) the canonical phalanges' lengths (metres)


def canonical_hand(subject) -> HandModel:
    """``subject``'s right hand with unit proportions: the shape the rest skin is meshed for."""
    from dataclasses import replace

    return HandModel(replace(subject, hand_scale=1.0, finger_length=1.0, finger_thickness=1.0,
                             bone_jitter=tuple([1.0] * 20)), "right")


def _bone_lengths(hand: HandModel) -> np.ndarray:
    return np.concatenate([hand.thumb_bones, hand.phalanges.ravel()])


class SkinnedHand:
    """``HandModel``'s subject and side with an organic skin; ``surface`` returns what ``HandModel.surface`` does.

    The canonical rest skin (``RestSkin``) is carried by 17 affine bone transforms: the palm and forearm scaled by the
    subject's hand size, every phalanx turned into its posed frame and stretched to this subject's bone length and
    finger thickness. The joints, and every label computed from them, are ``HandModel.joints_local``'s.

    Args:
        hand: the kinematic hand (bone lengths, radii, side); its joints and collision spheres are used unchanged.
    """

    def __init__(self, hand: HandModel):
        self.hand = hand
        self.side = hand.side
        self.subject = hand.subject
        self.template = template = canonical_hand(hand.subject)
        self.rest = rest_skin()
        self.faces = self.rest.faces if hand.mirror > 0 else np.ascontiguousarray(self.rest.faces[:, ::-1])
        self.num_vertices = len(self.rest.vertices)
        (self._rest_origins, self._rest_frames), (self._attributes, self._materials, self._tube_map) = \
            _template_constants(template, self.rest)
        thick = np.concatenate([[hand.thumb_radii[2:].mean() / template.thumb_radii[2:].mean()] * 3,
                                np.repeat(hand.finger_radii.mean(1) / template.finger_radii.mean(1), 3)])
        self._stretch = np.stack([_bone_lengths(hand) / _bone_lengths(template), thick, thick], 1)  # (15, 3)

    def joints_local(self, pose: np.ndarray) -> np.ndarray:
        return self.hand.joints_local(pose)

    def rest_vertices_local(self) -> np.ndarray:
        """The canonical rest skin in this side's hand-local frame: texture coordinates that move with the skin."""
        return self.rest.vertices * np.array([self.hand.mirror, 1.0, 1.0])

    def tube_to_skin(self, values: np.ndarray) -> np.ndarray:
        """Carry per-vertex ``values`` of the tube model (at the rest pose) onto the skin's vertices."""
        index, weight = self._tube_map
        return np.einsum("kn,kn...->k...", weight, np.asarray(values)[index])

    def bone_transforms(self, pose: np.ndarray, arm_local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(17, 3, 3)`` linear parts and ``(17, 3)`` offsets taking canonical rest skin to this hand's ``pose``."""
        origins, frames = bone_frames(self.hand, pose)
        arm = np.asarray(arm_local, np.float64) * np.array([self.hand.mirror, 1.0, 1.0])
        arm /= np.linalg.norm(arm) + 1e-12
        s = self.hand.palm_scale
        phalanges = frames @ (self._stretch[:, :, None] * self._rest_frames.transpose(0, 2, 1))
        linear = np.concatenate([s * np.eye(3)[None], s * _arm_rotation(arm)[None], phalanges])
        offsets = np.concatenate([np.zeros((2, 3)), origins - np.einsum("bij,bj->bi", phalanges, self._rest_origins)])
        return linear, offsets

    def pose_vertices_local(self, pose: np.ndarray, arm_local: np.ndarray) -> np.ndarray:
        """``(N, 3)`` skinned vertices in this side's hand-local frame; ``arm_local`` is the forearm's direction."""
        linear, offsets = self.bone_transforms(pose, arm_local)
        # Linear-blend skinning: every vertex's blended affine map (one small matrix product), then applied.
        blend = self.rest.weights @ np.concatenate([linear.reshape(-1, 9), offsets], 1).astype(np.float32)
        v = self.rest.vertices
        out = np.einsum("nij,nj->ni", blend[:, :9].reshape(-1, 3, 3), v) + blend[:, 9:]
        return out.astype(np.float64) * np.array([self.hand.mirror, 1.0, 1.0])

    def surface(self, joints: np.ndarray, rotation: np.ndarray, wrist: np.ndarray, arm_dir: np.ndarray,
                long_sleeves: bool, pose: np.ndarray | None = None):
        """World-space skin for ``pose`` placed by ``rotation``/``wrist``: vertices, attributes, materials, spheres.

        The collision spheres are the tube model's (from ``joints``); ``pose`` drives the skin and must be the pose
        ``joints`` came from.
        """
        if pose is None:
            raise ValueError("SkinnedHand.surface needs the pose its joints came from (pose=...)")
        spheres = self.hand.collision_spheres(joints, arm_dir, rotation, wrist)  # the tube model's, without its mesh
        arm_local = rotation.T @ (np.asarray(arm_dir, np.float64) / np.linalg.norm(arm_dir))
        local = self.pose_vertices_local(pose, arm_local)
        materials = self._materials.copy()
        if long_sleeves:
            materials[(self.rest.chain == 1) & (self.rest.vertices[:, 1] < -0.05)] = 6
        return local @ rotation.T + wrist, self._attributes.copy(), materials, spheres


_TEMPLATE_CONSTANTS: dict = {}


def _template_constants(template: HandModel, rest: RestSkin):
    """``bone_frames`` of ``template`` at rest and ``_carry_attributes``: the same for every canonical hand of one
    geometry on one rest skin, so computed once (read only: ``SkinnedHand`` hands out copies)."""
    key = (template.geometry_key(), id(rest))
    if key not in _TEMPLATE_CONSTANTS:
        if len(_TEMPLATE_CONSTANTS) >= 8:
            _TEMPLATE_CONSTANTS.clear()
        _TEMPLATE_CONSTANTS[key] = (rest, bone_frames(template, REST_POSE), _carry_attributes(rest, template))
    return _TEMPLATE_CONSTANTS[key][1:]


def _carry_attributes(rest: RestSkin, template: HandModel):
    """Per-vertex (palm side, nail, crease) and materials from the tube model at the rest pose, and the map used.

    Each vertex takes the values of its three nearest tube vertices on the same part, so nails, the palm's lighter
    skin and the crease lines sit where the tube model puts them.
    """
    verts, attr, _, _ = template.surface(template.joints_local(REST_POSE), np.eye(3), np.zeros(3),
                                         np.array([0.0, -1.0, 0.0]), False)
    tube_chain = np.zeros(template.num_vertices, np.int8)
    for c, name in enumerate(CHAIN_NAMES):
        tube_chain[template.offsets[name]:] = c
    index = np.zeros((len(rest.vertices), 3), np.int64)
    weight = np.zeros((len(rest.vertices), 3))
    for c in range(len(CHAIN_NAMES)):
        mine, theirs = rest.chain == c, np.flatnonzero(tube_chain == c)
        if not mine.any():
            continue
        dist, idx = cKDTree(verts[theirs]).query(rest.vertices[mine], k=3)
        w = 1.0 / (dist + 1e-4)
        index[mine], weight[mine] = theirs[idx], w / w.sum(1, keepdims=True)
    attributes = np.einsum("kn,knd->kd", weight, attr[index])
    materials = np.full(len(rest.vertices), 4, np.int8)  # skin of the hand (the hand mask)...
    materials[(rest.chain == 1) & (rest.vertices[:, 1] < -0.02)] = 5  # ...down to 2 cm past the wrist, then arm
    return attributes, materials, (index, weight)


@lru_cache(maxsize=2)
def rest_skin(voxel: float = VOXEL_M) -> RestSkin:
    """Mesh the canonical hand's solid (``_parts``) once: narrow-band sampling, then marching cubes.

    The grid is rectilinear: ``voxel`` over the hand and wrist, coarser along the forearm, where the surface barely
    curves lengthwise; the signed distance is evaluated exactly only near the surface (elsewhere its sign suffices).
    """
    from skimage.measure import marching_cubes
    from interanimate.data.synth.subject import sample_subject

    template = canonical_hand(sample_subject(np.random.default_rng(0), "canonical"))
    joints = template.joints_local(REST_POSE)
    parts = _parts(template, joints)
    lo = np.minimum(joints.min(0), 0.0) - 0.035
    hi = joints.max(0) + 0.03
    xs = np.arange(lo[0], hi[0] + voxel, voxel)
    zs = np.arange(lo[2], hi[2] + voxel, voxel)
    ys = np.concatenate([np.arange(-FOREARM_M - 0.012, -0.05, 3 * voxel), np.arange(-0.05, hi[1] + voxel, voxel)])
    volume = _narrow_band(parts, xs, ys, zs, voxel)
    index_verts, faces, _, _ = marching_cubes(volume, 0.0)
    verts = np.stack([np.interp(index_verts[:, 0], np.arange(len(xs)), xs),
                      np.interp(index_verts[:, 1], np.arange(len(ys)), ys),
                      np.interp(index_verts[:, 2], np.arange(len(zs)), zs)], 1)
    verts, faces = _drop_degenerate(verts, faces.astype(np.int64))
    corner = verts[faces]
    signed_volume = np.einsum("ij,ij->i", corner[:, 0], np.cross(corner[:, 1], corner[:, 2])).sum()
    if signed_volume < 0:  # outward normals (counter-clockwise seen from outside), as the tube model's
        faces = faces[:, ::-1]
    _, part = _field(verts, parts)
    chain = np.array([p.chain for p in parts], np.int8)[part]
    weights = _skin_weights(verts, template, joints, chain)
    return RestSkin(vertices=verts.astype(np.float32), faces=np.ascontiguousarray(faces, np.int32), chain=chain,
                    weights=weights, bone_lengths=_bone_lengths(template))


def _narrow_band(parts, xs, ys, zs, voxel) -> np.ndarray:
    """The signed distance on the grid, exact within a band around the surface, clamped beyond it."""
    coarse = 3
    cx, cy, cz = xs[::coarse], ys[::coarse], zs[::coarse]
    grid = np.stack(np.meshgrid(cx, cy, cz, indexing="ij"), -1).reshape(-1, 3)
    d_coarse = _field(grid, parts)[0].reshape(len(cx), len(cy), len(cz))
    # Nearest coarse sample of every fine one; near the surface (within a coarse cell's reach) evaluate exactly.
    ix, iy, iz = (np.minimum(np.round(np.arange(len(a)) / coarse).astype(int), len(c) - 1)
                  for a, c in ((xs, cx), (ys, cy), (zs, cz)))
    volume = d_coarse[np.ix_(ix, iy, iz)].astype(np.float32)
    reach = 1.8 * coarse * 3 * voxel  # the forearm's rows are three voxels apart
    near = np.abs(volume) < reach
    pts = np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1)[near]
    volume[near] = _field(pts, parts)[0]
    volume[~near] = np.sign(volume[~near]) * reach
    # A positive shell on the grid's faces keeps the surface closed.
    volume[[0, -1]] = reach
    volume[:, [0, -1]] = reach
    volume[:, :, [0, -1]] = reach
    return volume


def _drop_degenerate(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge coincident vertices (marching cubes emits some on grid corners) and drop collapsed triangles."""
    key = np.round(verts / 1e-7).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    faces = inverse.ravel()[faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    faces = faces[keep]
    used, remap = np.unique(faces, return_inverse=True)
    return verts[first][used], remap.reshape(faces.shape)


@dataclass
class _Part:
    chain: int
    distance: object  # callable (K, 3) -> (K,)
    blend: float  # smooth-union width with the palm (0: hard union)


def _parts(hand, joints: np.ndarray) -> list[_Part]:
    """The solid's primitives: palm (chain 0, first), forearm, thumb, fingers; see the module docstring."""
    s = hand.palm_scale
    z = np.array([0.0, 0.0, 1.0])
    parts = []
    # Palm: a slab of rounded rim around a core polygon in the palm plane (the outline shrunk by the half thickness).
    mcp = hand.mcp_base
    core = np.array([[0.018 * s, 0.004 * s], [0.022 * s, 0.040 * s], [mcp[0, 0] + 0.0005, mcp[0, 1] - 0.004],
                     [mcp[1, 0], mcp[1, 1] - 0.002], [mcp[2, 0], mcp[2, 1] - 0.003],
                     [mcp[3, 0] + 0.001, mcp[3, 1] - 0.005], [-0.028 * s, 0.050 * s], [-0.024 * s, 0.016 * s],
                     [-0.020 * s, 0.004 * s]])

    def palm(p):
        flat = _polygon_distance(p[:, :2], core)
        y = p[:, 1] / s
        half = np.interp(y, [0.0, 0.04, 0.07, 0.095], [0.0115, 0.0135, 0.0125, 0.0095]) * s
        centre = np.interp(y, [0.0, 0.09], [0.0, 0.0015]) * s
        dz = p[:, 2] - centre
        d = np.where(flat > 0, np.hypot(flat, dz), np.abs(dz)) - half  # the core swept by a ball of ``half``
        pads = [(np.array([0.021, 0.033, 0.0085]), np.array([0.016, 0.023, 0.0105])),  # thenar
                (np.array([-0.024, 0.040, 0.0065]), np.array([0.011, 0.025, 0.0095])),  # hypothenar
                (np.array([-0.004, 0.078, 0.0055]), np.array([0.030, 0.011, 0.0085]))]  # under the fingers
        for centre_pad, radii in pads:
            d = _smin(d, _ellipsoid(p, centre_pad * s, radii * s), 0.006 * s)
        # Knuckle line on the back: a bump over every MCP head.
        for f in range(4):
            r = hand.finger_radii[f, 0]
            d = _smin(d, np.linalg.norm(p - (mcp[f] - z * 0.45 * r), axis=1) - 0.78 * r, JOINT_BLEND_M * 2)
        return d

    parts.append(_Part(0, palm, 0.0))

    # Wrist and forearm: an elliptical section, narrow and flat at the wrist, fuller toward the elbow.
    def forearm(p):
        y = -p[:, 1] / s
        wide = np.interp(y, [-0.02, 0.012, 0.05, 0.15, FOREARM_M / s], [0.026, 0.0255, 0.028, 0.033, 0.037]) * s
        thick = np.interp(y, [-0.02, 0.012, 0.05, 0.15, FOREARM_M / s], [0.0135, 0.0165, 0.019, 0.024, 0.029]) * s
        centre = np.interp(y, [-0.02, 0.05], [0.001, -0.002]) * s
        q = np.stack([p[:, 0] / wide, (p[:, 2] - centre) / thick], 1)
        radial = (np.linalg.norm(q, axis=1) - 1.0) * np.minimum(wide, thick)
        ends = np.maximum(p[:, 1] - 0.02 * s, -p[:, 1] - FOREARM_M)
        return np.maximum(radial, ends)

    parts.append(_Part(1, forearm, WRIST_BLEND_M))

    def chain_of(points, radii):
        def d(p):
            out = np.full(len(p), np.inf)
            for i in range(len(points) - 1):
                cone = _round_cone(p, points[i], points[i + 1], 0.95 * radii[i], 0.95 * radii[i + 1])
                out = np.minimum(out, cone)
            for i in range(1, len(points) - 1):  # the joints are a little wider than the shafts
                out = _smin(out, np.linalg.norm(p - points[i], axis=1) - radii[i], JOINT_BLEND_M)
            return out
        return d

    # Thumb: metacarpal from inside the thenar eminence, then the two phalanges; the tip joint on the surface.
    tr = hand.thumb_radii
    tip_dir = (joints[4] - joints[3]) / np.linalg.norm(joints[4] - joints[3])
    pts = [joints[1] - 0.3 * (joints[2] - joints[1]), joints[1], joints[2], joints[3], joints[4] - tip_dir * tr[4]]
    thumb = chain_of(pts, [tr[1] * 0.95, tr[1] * 0.9, tr[2], tr[3], tr[4] / 0.95])
    pad_thumb = joints[4] - tip_dir * tr[4] * 1.2
    volar_t = np.cross(tip_dir, np.cross(np.array([-1.0, 0.0, 0.7]), tip_dir))
    volar_t /= np.linalg.norm(volar_t) + 1e-12
    parts.append(_Part(2, lambda p, f=thumb, c=pad_thumb + volar_t * 0.25 * tr[4], r=tr[4]:
                       _smin(f(p), np.linalg.norm(p - c, axis=1) - 0.85 * r, JOINT_BLEND_M), THUMB_BLEND_M))

    for f in range(4):
        j = 5 + 4 * f
        r = hand.finger_radii[f]
        tip_dir = (joints[j + 3] - joints[j + 2]) / np.linalg.norm(joints[j + 3] - joints[j + 2])
        tip_centre = joints[j + 3] - tip_dir * r[3]
        pts = [joints[j] - 0.3 * (joints[j + 1] - joints[j]), joints[j], joints[j + 1], joints[j + 2], tip_centre]
        finger = chain_of(pts, [r[0] * 0.95, r[0], r[1], r[2], r[3] / 0.95])
        volar = z - (z @ tip_dir) * tip_dir
        volar /= np.linalg.norm(volar)
        pad = tip_centre - tip_dir * 0.35 * r[3] + volar * 0.22 * r[3]
        parts.append(_Part(3 + f, lambda p, g=finger, c=pad, rr=r[3]:
                           _smin(g(p), np.linalg.norm(p - c, axis=1) - 0.86 * rr, JOINT_BLEND_M), PALM_BLEND_M))
    return parts


def _field(points: np.ndarray, parts: list[_Part]) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance of the whole hand at ``points (K, 3)`` and the index of the part nearest each point."""
    palm = parts[0].distance(points)
    each = [palm] + [p.distance(points) for p in parts[1:]]
    total = np.full(len(points), np.inf)
    for part, d in zip(parts[1:], each[1:]):
        total = np.minimum(total, _smin(palm, d, part.blend) if part.blend > 0 else np.minimum(palm, d))
    return total, np.argmin(np.stack(each), axis=0)


def _skin_weights(verts: np.ndarray, hand, joints: np.ndarray, chain: np.ndarray) -> np.ndarray:
    """Linear-blend weights from the distance to every bone's axis (softmax over ``SKIN_FALLOFF_M``)."""
    s = hand.palm_scale
    distances = []
    palm_ends = [joints[5], joints[9], joints[13], joints[17], joints[1]]
    palm = np.min([_segment(verts, np.array([0.0, 0.02 * s, 0.0]), e)[0] for e in palm_ends], axis=0)
    palm = np.minimum(palm, _segment(verts, np.array([-0.015, 0.02, 0.0]) * s, np.array([0.015, 0.02, 0.0]) * s)[0])
    distances.append(palm)
    distances.append(_segment(verts, np.array([0.0, 0.0, 0.0]), np.array([0.0, -FOREARM_M, 0.0]))[0])
    for a, b in ((1, 2), (2, 3), (3, 4)):
        distances.append(_segment(verts, joints[a], joints[b])[0])
    for f in range(4):
        j = 5 + 4 * f
        for k in range(3):
            distances.append(_segment(verts, joints[j + k], joints[j + k + 1])[0])
    d = np.stack(distances, 1)  # (N, 17)
    # A digit's skin follows only its own bones and the palm (fingers side by side must not drag each other); the
    # palm's skin may follow any digit near it (the webs).
    owner = np.array([0, 1] + [2] * 3 + [3] * 3 + [4] * 3 + [5] * 3 + [6] * 3)
    allowed = (owner[None, :] == chain[:, None]) | (owner[None, :] <= 1) | (chain[:, None] == 0)
    d = np.where(allowed, d, np.inf)
    order = np.argsort(d, axis=1)[:, :NUM_INFLUENCES]
    near = np.take_along_axis(d, order, 1)
    w = np.where(np.isfinite(near), np.exp(-(near - near[:, :1]) / SKIN_FALLOFF_M), 0.0)
    w[w < 0.01] = 0.0
    dense = np.zeros(d.shape, np.float32)
    np.put_along_axis(dense, order, (w / w.sum(1, keepdims=True)).astype(np.float32), 1)
    return dense
