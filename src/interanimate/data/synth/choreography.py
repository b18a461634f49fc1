"""Choreography: per-frame hand plans for the 18 patterns, defined relative to the face.

Every pattern is approach -> contact -> action -> retreat. A plan says, per frame, where the hand's
*anchor* (the index fingertip for pokes, the midpoint of thumb and index tips for pinches, the index
and middle fingertip pads for strokes and swipes) should be relative to the skin, how the fingers are
configured, how the hand is oriented and what the gesture does to the skin (squeeze, pull, slide).
Positions are in the head frame and are built from material coordinates on the face (a target
jittered inside the named region) and its surface normal, so the same plan follows the head when it
moves. ``interanimate.data.face_frame.to_landmark_frame`` re-expresses any head-frame points relative to
the iBUG-68 landmarks, which is how another face (e.g. a reference photo's landmarks) can reuse a plan; it
is the package's one face-frame module, shared with the annotator (its docstring says why the 3-D
landmark frame used here and the annotator's image-plane frame are two constructions on one origin, axis
and unit).

Timing, speed, path, press depth, finger configuration, number of presses and the hand used vary
per clip, all drawn from the clip's own random generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interanimate.data.synth.hand import POSES, HandModel
from interanimate.data.synth.head import F_MOUTH_HW, F_MOUTH_Y, F_NASION_Y, F_NOSE_TIP_Y, HeadModel
from interanimate.taxonomy import FACE_REGIONS, Pattern

PHASES = ("approach", "contact", "action", "retreat")
PH_APPROACH, PH_CONTACT, PH_ACTION, PH_RETREAT = range(4)
ANCHORS = ("index_tip", "pinch", "pads")


@dataclass
class InteractionPlan:
    """A hand trajectory for one clip (head frame, metres; per-frame arrays have length F).

    Args:
        pattern: the interaction pattern.
        hand_side: ``"left"`` or ``"right"`` (subject's side) of the acting hand.
        phase: index into ``PHASES`` per frame.
        expect_contact: frames in which the gesture is meant to touch the skin.
        pose: ``(F, 20)`` finger angles.
        rotation: ``(F, 3, 3)`` hand-local to head frame.
        anchor: which hand point the targets refer to (``ANCHORS``).
        target: ``(F, 3)`` where the anchor sphere's centre should be.
        arm_dir: ``(F, 3)`` unit direction from the wrist toward the elbow.
        contact_material: ``(F, 2)`` material coordinates ``(a, y)`` of the intended contact point.
        squeeze, pull, press: ``(F,)`` pinch closure since touching, pinch pull-out, press depth (m).
        slide: ``(F, 3)`` velocity of the contact point along the skin (m per frame).
        params: the clip's drawn choreography parameters (for records).
    """

    pattern: Pattern
    hand_side: str
    phase: np.ndarray
    expect_contact: np.ndarray
    pose: np.ndarray
    rotation: np.ndarray
    anchor: str
    target: np.ndarray
    arm_dir: np.ndarray
    contact_material: np.ndarray
    squeeze: np.ndarray
    pull: np.ndarray
    press: np.ndarray
    slide: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.phase)

    def contact_window(self) -> tuple[int, int]:
        """First and last frame (inclusive) of the planned contact span."""
        idx = np.nonzero(self.expect_contact)[0]
        return int(idx[0]), int(idx[-1])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


def _min_jerk(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u ** 3 * (10 - 15 * u + 6 * u * u)


def frame_align(local_a, local_b, world_a, world_b) -> np.ndarray:
    """Rotation taking ``local_a`` exactly onto ``world_a`` and ``local_b`` as close as possible to ``world_b``."""
    def basis(a, b):
        e1 = _unit(np.asarray(a, float))
        e2 = np.asarray(b, float) - (np.asarray(b, float) @ e1) * e1
        e2 = _unit(e2)
        return np.stack([e1, e2, np.cross(e1, e2)], 1)
    return basis(world_a, world_b) @ basis(local_a, local_b).T


def anchor_point(hand: HandModel, pose: np.ndarray, anchor: str) -> tuple[np.ndarray, float]:
    """Hand-local centre of the anchor sphere and its radius."""
    j = hand.joints_local(pose)

    def tip(tip_idx, prev_idx, radius):
        d = _unit(j[tip_idx] - j[prev_idx])
        return j[tip_idx] - d * radius

    r_index = hand.finger_radii[0, 3]
    if anchor == "index_tip":
        return tip(8, 7, r_index), r_index
    if anchor == "pinch":
        r_thumb = hand.thumb_radii[4]
        return (tip(8, 7, r_index) + tip(4, 3, r_thumb)) / 2, (r_index + r_thumb) / 2
    r_middle = hand.finger_radii[1, 3]
    return (tip(8, 7, r_index) + tip(12, 11, r_middle)) / 2, (r_index + r_middle) / 2


def tip_centres(hand: HandModel, pose: np.ndarray) -> dict[int, np.ndarray]:
    """Hand-local centres of the thumb, index and middle fingertip spheres (keyed by tip joint)."""
    j = hand.joints_local(pose)
    radii = {4: hand.thumb_radii[4], 8: hand.finger_radii[0, 3], 12: hand.finger_radii[1, 3]}
    return {t: j[t] - _unit(j[t] - j[t - 1]) * r for t, r in radii.items()}


def _pinch_feet(head: HeadModel, centre: np.ndarray, tangent: np.ndarray, half: float, radii: tuple[float, float],
                press: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the index (+tangent side) and thumb sphere centres rest on the skin, ``2 * half`` apart.

    Each centre sits one radius minus ``press`` above its footprint; the lateral offset is rescaled a
    few times because on a curved face (the sides of a nose) the footprints are closer or deeper than
    the straight tangent line suggests.
    """
    offset = half
    for _ in range(4):
        feet = []
        for sign, radius in zip((1.0, -1.0), radii):
            a, y = head.material_of((centre + tangent * sign * offset)[None])
            feet.append(head.surface_points(a, y)[0] + head.surface_normals(a, y)[0] * (radius - press))
        offset *= 2 * half / max(np.linalg.norm(feet[0] - feet[1]), 1e-4)
    return feet[0], feet[1]


def _tip_separation(hand: HandModel, pose: np.ndarray) -> float:
    j = hand.joints_local(pose)
    return float(np.linalg.norm(j[8] - j[4]))


# Hand spheres allowed to touch the skin, per anchor: finger ids and how far from their fingertip.
_WORKING = {"index_tip": ((1,), 0.013), "pinch": ((0, 1), 0.013), "pads": ((1, 2), 0.015)}
CLEARANCE = 0.004  # metres every non-working part of the hand keeps from the skin at contact


def _rotations(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rodrigues rotations ``(N, 3, 3)`` about one unit ``axis``."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    c, s = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _candidate_corrections(hand: HandModel, pose: np.ndarray, anchor: str) -> tuple[np.ndarray, np.ndarray]:
    """Hand-local rotations to try: rolls about the axis through the working tips, small tilts off it.

    Rolling about that axis leaves the working fingertips where the plan put them and swings the rest
    of the hand around them; tilts trade a little of the tips' placement for more room (pinches tilt
    only slightly, as both pads must stay on the skin). Returns ``(C, 3, 3)`` rotations and each one's
    cost in radians of turn (tilts count 1.5x).
    """
    j = hand.joints_local(pose)
    tips = tip_centres(hand, pose)
    axis = {"index_tip": j[8] - j[5], "pinch": tips[8] - tips[4], "pads": tips[8] - tips[12]}[anchor]
    e1 = _unit(axis)
    e2 = _unit(np.cross(e1, [0.0, 0.0, 1.0]))
    e3 = np.cross(e1, e2)
    rolls = np.deg2rad(np.arange(-100, 101, 20))
    tilts2 = np.deg2rad([0.0, -8.0, 8.0] if anchor == "pinch" else [0.0, -15.0, 15.0, -30.0, 30.0])
    tilts3 = np.zeros(1) if anchor == "pinch" else tilts2
    out = np.einsum("aij,bjk,ckl->abcil", _rotations(e1, rolls), _rotations(e2, tilts2), _rotations(e3, tilts3))
    cost = np.abs(rolls)[:, None, None] + 1.5 * np.abs(tilts2)[None, :, None] + 1.5 * np.abs(tilts3)[None, None, :]
    return out.reshape(-1, 3, 3), cost.reshape(-1)


def _clear_the_face(pattern: Pattern, head: HeadModel, hand: HandModel, anchor: str, pose: np.ndarray,
                    rotation: np.ndarray, target: np.ndarray, expect: np.ndarray, c0: int, c1: int):
    """One hand-local rotation for the clip that keeps the non-working hand off the face at contact.

    Scored at a few contact frames and at the two hover frames either side of them: how far
    non-working spheres (all of them while hovering) reach inside ``CLEARANCE`` of the skin, working
    spheres that would touch outside the named region, two pads at unequal heights, and a small
    preference for the nominal orientation. Returns the rotation and the smallest clearance achieved
    by the non-working spheres (mm; negative when no candidate clears the face).
    """
    keys = sorted({c0, (c0 + c1) // 2, c1} | ({c0 + max(1, int(0.3 * (c1 - c0)))} if anchor == "pinch" else set()))
    keys = [k for k in keys if expect[k]] or [c0]
    # Just before landing and just after lifting off nothing may touch: the hand hovers over the target
    # while its fingers are still (or again) in the resting pose.
    keys += [k for k in (c0 - 1, c0 - 2, c1 + 1, c1 + 2) if 0 <= k < len(expect) and not expect[k]]
    want = FACE_REGIONS.index(pattern.region)
    candidates, deviation = _candidate_corrections(hand, pose[keys[0]], anchor)
    fingers, reach = _WORKING[anchor]
    penalty = deviation * 1e-3  # 1 mm of intrusion outweighs a full radian of turn
    worst = np.full(len(candidates), np.inf)
    for k in keys:
        spheres = hand.collision_spheres(hand.joints_local(pose[k]), np.array([0.0, -1.0, 0.3]))  # surface's, no mesh
        spheres = spheres[spheres[:, 4] < 6]  # the forearm is placed later and stays below the face
        ids = spheres[:, 4].astype(int)
        working = np.zeros(len(spheres), bool)
        tip_rows = []
        for fid in fingers if expect[k] else ():
            rows = np.nonzero(ids == fid)[0]
            tip_rows.append(rows[-1])
            tip = spheres[rows[-1], :3]
            working[rows[np.linalg.norm(spheres[rows, :3] - tip, axis=1) <= reach]] = True
        anchor_local, _ = anchor_point(hand, pose[k], anchor)
        local = spheres[:, :3] - anchor_local
        world = target[k] + np.einsum("ij,cjk,nk->cni", rotation[k], candidates, local)  # (C, K, 3)
        height, a, y = head.height_above(world.reshape(-1, 3))
        gap = height.reshape(len(candidates), -1) - spheres[None, :, 3]
        # Regions only matter where a working sphere would touch.
        touch = gap[:, working] < 0.001
        region = np.full(touch.shape, want)
        if touch.any():
            wa = a.reshape(len(candidates), -1)[:, working][touch]
            wy = y.reshape(len(candidates), -1)[:, working][touch]
            region[touch] = head.regions(wa, wy)
        intrusion = np.clip(CLEARANCE - gap[:, ~working], 0.0, None).sum(1)
        stray = np.clip(0.001 - gap[:, working], 0.0, None) * (region != want)
        penalty = penalty + intrusion + 3.0 * stray.sum(1)
        if anchor == "pads" and len(tip_rows) == 2:
            # Both pads should meet the skin: one tip far below the other digs in while the other floats.
            tips_gap = gap[:, tip_rows]
            penalty = penalty + np.clip(np.abs(tips_gap[:, 0] - tips_gap[:, 1]) - 0.001, 0.0, None)
        worst = np.minimum(worst, gap[:, ~working].min(1))
    best = int(np.argmin(penalty))
    return candidates[best], float(worst[best] * 1e3)


def _blend_pose(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    return a + (b - a) * float(np.clip(u, 0, 1))


def _timeline(rng: np.random.Generator, family: str, num_frames: int) -> tuple[int, int]:
    """First and last contact frames for a clip of ``num_frames`` frames."""
    last = num_frames - 1
    if family == "swipe":
        start = rng.uniform(0.34, 0.46)
        span = rng.uniform(0.14, 0.22)
    elif family == "poke":
        start = rng.uniform(0.26, 0.38)
        span = rng.uniform(0.26, 0.38)
    elif family == "pinch":
        start = rng.uniform(0.24, 0.32)
        span = rng.uniform(0.40, 0.50)
    else:
        start = rng.uniform(0.22, 0.32)
        span = rng.uniform(0.42, 0.52)
    c0 = int(np.clip(round(start * last), 2, last - 3))
    c1 = int(np.clip(round((start + span) * last), c0 + 1, last - 2))
    return c0, c1


def plan_interaction(pattern: Pattern, head: HeadModel, hand: HandModel, num_frames: int,
                     rng: np.random.Generator) -> InteractionPlan:
    """Draw one clip's hand plan for ``pattern`` on ``head`` with ``hand``."""
    if num_frames < 8:
        raise ValueError("a pattern needs at least 8 frames (approach, contact, action, retreat)")
    fam = pattern.family
    f = head.features
    s = head.scale
    side_sign = 1.0 if hand.side == "left" else -1.0
    F = num_frames
    c0, c1 = _timeline(rng, fam, F)
    frames = np.arange(F)

    # ---- where on the face: a path in material coordinates over the contact span ----
    a0, y0 = head.region_anchor(pattern.region)
    jitter = {"forehead": (0.14, 0.003), "nose": (0.012, 0.0015), "chin": (0.08, 0.002), "mouth": (0.0, 0.0),
              "jaw": (0.08, 0.002)}.get(pattern.region, (0.06, 0.004))
    a0 += rng.uniform(-1, 1) * jitter[0]
    if fam == "pinch" and pattern.region.startswith("cheek"):
        a0 += np.sign(a0) * 0.08  # room for the thumb on the nose side without touching the nose
    y0 += rng.uniform(-1, 1) * jitter[1] * s
    path_a = np.full(F, a0)
    path_y = np.full(F, y0)
    u_contact = np.clip((frames - c0) / max(c1 - c0, 1), 0, 1)
    params: dict = {"contact_start": c0, "contact_end": c1}
    if fam == "stroke":
        ease = u_contact * u_contact * (3 - 2 * u_contact)  # slow start and end of the slide
        if pattern.region == "forehead":
            half = rng.uniform(0.16, 0.24)
            direction = rng.choice([-1.0, 1.0])
            path_a = a0 + direction * half * (2 * ease - 1)
            params["stroke"] = "horizontal"
        elif pattern.region == "jaw":
            a_start, a_end = side_sign * rng.uniform(1.0, 1.15), side_sign * rng.uniform(0.5, 0.6)
            if rng.random() < 0.5:
                a_start, a_end = a_end, a_start
            path_a = a_start + (a_end - a_start) * ease
            # The jaw band rises toward the ear.
            path_y = y0 + (np.abs(path_a) - 0.85) * -0.012 * s
            params["stroke"] = "along_jaw"
        else:
            length = rng.uniform(0.02, 0.03) * s
            path_y = y0 - length / 2 + length * ease
            path_a = a0 + np.sign(a0) * 0.05 * (ease - 0.5)
            params["stroke"] = "downward"
    elif fam == "swipe":
        if pattern.direction == "downward":
            ytop, ybot = f[F_NASION_Y] + 0.008 * s, f[F_NOSE_TIP_Y] - 0.002 * s
            path_y = ytop + (ybot - ytop) * u_contact
            path_a = np.full(F, 0.0)
        else:
            sign = 1.0 if pattern.direction == "leftward" else -1.0  # subject's left is +a
            if pattern.region == "mouth":
                half = f[F_MOUTH_HW] * rng.uniform(0.95, 1.1)
                path_y = np.full(F, f[F_MOUTH_Y] + rng.uniform(-0.5, 0.5) * 0.001 * s)
            else:
                half = rng.uniform(0.2, 0.3)
            path_a = a0 * 0.3 + sign * half * (2 * u_contact - 1)
    params["target_material"] = [round(float(a0), 5), round(float(y0), 5)]

    # Before contact the path waits at its start, after contact at its end.
    surf = head.surface_points(path_a, path_y)
    normals = head.surface_normals(path_a, path_y)
    up = np.array([0.0, -1.0, 0.0])
    up_t = _unit(up - np.sum(up * normals, -1, keepdims=True) * normals)
    side_t = _unit(np.cross(normals, up_t))  # points toward the subject's left on a frontal face

    # ---- press depth over time ----
    press = np.zeros(F)
    expect = (frames >= c0) & (frames <= c1)
    compliance = {"forehead": 2.0, "nose": 2.5, "chin": 2.5, "mouth": 3.0, "jaw": 3.0}.get(pattern.region, 6.0)
    if fam == "poke":
        presses = int(rng.integers(1, 3)) if c1 - c0 >= 6 else 1
        params["presses"] = presses
        depth = compliance * rng.uniform(0.8, 1.3) * 1e-3
        span = np.linspace(0, 1, c1 - c0 + 1)
        if presses == 1:
            profile = np.sin(np.pi * np.clip(span, 0, 1)) ** 0.6
        else:
            # Two presses separated by a short lift-off.
            profile = np.abs(np.sin(2 * np.pi * span)) ** 0.6
            gap = np.abs(span - 0.5) < 0.12
            profile[gap] = -1.0
            expect[c0:c1 + 1][gap] = False
        press[c0:c1 + 1] = np.where(profile >= 0, np.maximum(profile, 0.15) * depth, -0.006)
    elif fam == "pinch":
        press[c0:c1 + 1] = rng.uniform(1.0, 2.0) * 1e-3
    elif fam == "stroke":
        press[c0:c1 + 1] = rng.uniform(1.5, 3.0) * 1e-3 * np.clip(np.sin(np.pi * np.linspace(0.05, 0.95, c1 - c0 + 1)) * 3, 0.4, 1)
    else:
        press[c0:c1 + 1] = rng.uniform(0.8, 1.5) * 1e-3

    # ---- finger configuration and anchor ----
    anchor = {"poke": "index_tip", "pinch": "pinch"}.get(fam, "pads")
    if pattern.direction == "downward":
        anchor = "index_tip"  # one finger pad runs down the nose ridge; two would straddle it
    if fam == "poke":
        work = _blend_pose(POSES["point"], POSES["point_soft"], rng.uniform(0, 0.6))
    elif fam == "pinch":
        # Aperture sized to the target: a nose is pinched across its width, cheeks and chin take a fold
        # of skin about 2 cm wide. Too wide an opening would land the fingertips in neighbouring regions.
        open_mm, closed_mm = ((22.0, 25.0), (17.0, 19.0)) if pattern.region == "nose" else ((38.0, 44.0), (20.0, 24.0))
        grid = np.linspace(0.0, 1.0, 11)
        seps = np.array([_tip_separation(hand, _blend_pose(POSES["pinch_open"], POSES["pinch_closed"], u)) for u in grid])
        u_open = float(np.interp(-rng.uniform(*open_mm) * 1e-3, -seps, grid))
        u_closed = float(np.interp(-rng.uniform(*closed_mm) * 1e-3, -seps, grid))
        work = _blend_pose(POSES["pinch_open"], POSES["pinch_closed"], u_open)
        params["pinch_mm"] = [round(float(np.interp(u, grid, seps)) * 1e3, 2) for u in (u_open, u_closed)]
    elif fam == "stroke":
        work = _blend_pose(POSES["pads"], POSES["relaxed"], rng.uniform(0, 0.3))
    else:
        work = _blend_pose(POSES["flat"], POSES["pads"], rng.uniform(0, 0.7))
    rest = _blend_pose(POSES["relaxed"], work, rng.uniform(0.0, 0.3))
    pose = np.zeros((F, len(work)))
    aperture = np.zeros(F)
    squeeze = np.zeros(F)
    pull = np.zeros(F)
    if fam == "pinch":
        close_end = c0 + max(1, int(0.3 * (c1 - c0)))
        open_start = c1 - max(1, int(0.25 * (c1 - c0)))
        aperture = np.interp(frames, [c0, close_end, open_start, c1], [0.0, 1.0, 1.0, 0.2])
        pull_amount = rng.uniform(2.5, 5.0) * 1e-3
        pull = np.interp(frames, [close_end, (close_end + open_start) / 2, open_start, c1], [0, pull_amount, pull_amount, 0])
        pull[(frames < close_end) | (frames > c1)] = 0.0
        params["pull_mm"] = round(pull_amount * 1e3, 3)
    for i in range(F):
        if i < c0:
            pose[i] = _blend_pose(rest, work, (i / max(c0 - 1, 1)) * 1.4)
        elif i <= c1:
            pose[i] = work if fam != "pinch" else _blend_pose(POSES["pinch_open"], POSES["pinch_closed"],
                                                              u_open + (u_closed - u_open) * aperture[i])
        else:
            pose[i] = _blend_pose(pose[c1], rest, (i - c1) / max(F - 1 - c1, 1))

    if fam == "pinch":
        # Squeeze = how far the tips have closed since they first touched the skin.
        sep = np.array([np.linalg.norm(hand.joints_local(p)[8] - hand.joints_local(p)[4]) for p in pose])
        squeeze = np.where(expect, np.clip(sep[c0] - sep, 0, None), 0.0)

    # ---- orientation ----
    arm_base = _unit(np.array([side_sign * rng.uniform(0.3, 0.6), 1.0, -rng.uniform(0.35, 0.6)]))
    rotation = np.zeros((F, 3, 3))
    pinch_tilt = rng.uniform(-0.5, 0.5)
    pinch_axis = np.zeros((F, 3))
    # Anchor position with the skin just touched (no press) at each frame's contact point.
    resting = surf.copy()
    if fam == "pinch":
        # A roughly horizontal pinch: the thumb nearer the hand's own side. A vertical one would put
        # the index finger over the eye or the thumb under the chin.
        lateral = -np.sign(a0) if pattern.region.startswith("cheek") else -side_sign  # index toward the nose on cheeks
        r_pair = (hand.finger_radii[0, 3], hand.thumb_radii[4])
        for k in range(c0, c1 + 1):
            tangent = _unit(side_t[k] * lateral * np.cos(pinch_tilt * 0.6) + up_t[k] * np.sin(pinch_tilt * 0.6))
            tips = tip_centres(hand, pose[k])
            foot_index, foot_thumb = _pinch_feet(head, surf[k], tangent, np.linalg.norm(tips[8] - tips[4]) / 2,
                                                 r_pair, press[k])
            # The tips' axis tilts out of the tangent plane so that both land, whatever the curvature.
            pinch_axis[k] = _unit(foot_index - foot_thumb)
            resting[k] = (foot_index + foot_thumb) / 2 + normals[k] * press[k]
        pinch_axis[:c0], pinch_axis[c1 + 1:] = pinch_axis[c0], pinch_axis[c1]
        resting[:c0], resting[c1 + 1:] = resting[c0], resting[c1]
    for i in range(F):
        k = int(np.clip(i, c0, c1))
        n, ut, st = normals[k], up_t[k], side_t[k]
        j = hand.joints_local(pose[i])
        if fam == "poke":
            d = _unit(-n + 0.55 * (-arm_base))
            palm = np.array([0.0, 1.0, 0.0]) - side_sign * 0.3 * st
            rotation[i] = frame_align(j[8] - j[5], [0, 0, 1], d, palm)
        elif fam == "pinch":
            tips = tip_centres(hand, pose[i])
            reach = _unit(-n + 0.45 * (-arm_base))
            rotation[i] = frame_align(tips[8] - tips[4], (tips[8] + tips[4]) / 2, pinch_axis[i], reach)
        else:
            if pattern.direction == "downward":
                # One fingertip down the nose ridge, the finger steep enough that its middle joints clear
                # the tip of the nose as the hand lands and lifts.
                fingers = _unit(ut - 1.7 * n + 0.25 * side_sign * st)
            elif pattern.region != "forehead":
                # Fingertips on the skin, the rest of the hand tilted away so that only the pads touch.
                fingers = _unit(ut - 0.95 * n + 0.25 * side_sign * st)
            else:
                fingers = _unit(-side_sign * st - (1.1 if fam == "swipe" else 0.55) * n + 0.2 * ut)
            rotation[i] = frame_align(j[8] - j[5], [0, 0, 1], fingers, -n)

    # ---- anchor targets ----
    target = np.zeros((F, 3))
    hover = rng.uniform(0.010, 0.016)
    # Reaches start and end low and to the hand's side, where a resting hand would be.
    start = surf[c0] + normals[c0] * rng.uniform(0.05, 0.08) + arm_base * rng.uniform(0.17, 0.24) + rng.normal(0, 0.01, 3)
    end = surf[c1] + normals[c1] * rng.uniform(0.05, 0.08) + arm_base * rng.uniform(0.17, 0.24) + rng.normal(0, 0.01, 3)
    land = max(1, int(round((c0) * 0.3)))
    lift = max(1, int(round((F - 1 - c1) * 0.3)))
    for i in range(F):
        _, radius = anchor_point(hand, pose[i], anchor)
        if fam == "pinch":
            radius = 0.0  # ``resting`` already holds the tips one radius above the skin
        if i < c0 - land:
            u = _min_jerk(np.array(i / max(c0 - land, 1)))
            hover_pt = resting[c0] + normals[c0] * (radius + hover)
            # A curved reach that arrives along the skin normal, so the fingers do not sweep across the
            # chin, cheek or nose on their way to the target.
            mid = hover_pt + normals[c0] * 0.05 + arm_base * 0.02
            target[i] = (1 - u) ** 2 * start + 2 * (1 - u) * u * mid + u ** 2 * hover_pt
        elif i < c0:
            u = (i - (c0 - land)) / land
            target[i] = resting[c0] + normals[c0] * (radius + hover * (1 - u) + 0.0005)
        elif i <= c1 and fam == "pinch":
            target[i] = resting[i] - normals[i] * (press[i] - pull[i])
        elif i <= c1:
            target[i] = surf[i] + normals[i] * (radius - press[i])
        elif i <= c1 + lift:
            u = (i - c1) / lift
            target[i] = resting[c1] + normals[c1] * (radius + hover * u + 0.0005)
        else:
            u = _min_jerk(np.array((i - c1 - lift) / max(F - 1 - c1 - lift, 1)))
            lift_pt = resting[c1] + normals[c1] * (radius + hover)
            mid = lift_pt + normals[c1] * 0.05  # leave along the normal, as the reach arrived
            target[i] = (1 - u) ** 2 * lift_pt + 2 * (1 - u) * u * mid + u ** 2 * end

    # The nominal orientation only aims the working fingertips; turn the whole hand about them so that
    # the rest of it (other fingers, knuckles, palm) clears the face and the pads land in the region.
    correction, clearance_mm = _clear_the_face(pattern, head, hand, anchor, pose, rotation, target, expect, c0, c1)
    rotation = rotation @ correction
    params["clearance_mm"] = round(clearance_mm, 2)
    if anchor == "pads":
        # The anchor is the midpoint between two fingertips side by side; on a convex cheek or forehead
        # both tips then float above the skin. Lower the hand until the tips press ``press`` on average.
        settle = np.zeros(F)
        for k in range(c0, c1 + 1):
            tips = tip_centres(hand, pose[k])
            anchor_local, _ = anchor_point(hand, pose[k], anchor)
            world = target[k] + (np.stack([tips[8], tips[12]]) - anchor_local) @ rotation[k].T
            height, _, _ = head.height_above(world)
            radii = np.array([hand.finger_radii[0, 3], hand.finger_radii[1, 3]])
            gaps = np.where(np.isfinite(height), height - radii, -press[k])
            settle[k] = float(np.clip(gaps.mean() + press[k], 0.0, 0.01))
        # Outside contact the un-lowered targets keep the hover height; the landing and lift-off frames
        # blend between the two.
        land_frames = np.arange(max(c0 - land, 0), c0)
        settle[land_frames] = settle[c0] * (land_frames - (c0 - land) + 1) / (land + 1)
        lift_frames = np.arange(c1 + 1, min(c1 + lift + 1, F))
        settle[lift_frames] = settle[c1] * (1 - (lift_frames - c1) / (lift + 1))
        target = target - normals * settle[:, None]

    arm_dir = np.zeros((F, 3))
    for i in range(F):
        j = hand.joints_local(pose[i])
        hand_axis = rotation[i] @ (j[9] - j[0])
        arm_dir[i] = _unit(-_unit(hand_axis) * 0.55 + arm_base * 0.45)

    slide = np.zeros((F, 3))
    slide[1:] = surf[1:] - surf[:-1]
    slide[~expect] = 0.0

    phase = np.full(F, PH_RETREAT, np.int8)
    phase[:c0] = PH_APPROACH
    landing = max(1, int(round(0.15 * (c1 - c0 + 1))))
    phase[c0:c0 + landing] = PH_CONTACT
    phase[c0 + landing:c1 + 1] = PH_ACTION
    material = np.stack([path_a, path_y], -1)
    params.update({"anchor": anchor, "hover_mm": round(hover * 1e3, 3)})
    return InteractionPlan(pattern, hand.side, phase, expect, pose, rotation, anchor, target, arm_dir, material,
                           squeeze, pull, press, slide, params)


MIN_FPS = 1.0  # slowest frame rate the choreography accepts (the command line's --fps range starts here)


def head_motion(num_frames: int, fps: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Small natural head motion (yaw/pitch/roll radians, translation metres) and eye opening per frame.

    Motion is a sum of a few slow sinusoids (people sway and turn slightly while touching their face);
    blinks are brief lid closures about every 2-5 s, each lasting ~150-250 ms.
    """
    if not (np.isfinite(fps) and fps >= MIN_FPS):
        # The blink loop below runs once per ~3.5 s of clip: a tiny fps would make it run for ever.
        raise ValueError(f"fps must be a finite number of at least {MIN_FPS}, got {fps}")
    t = np.arange(num_frames) / fps
    out = {}
    for name, amp in (("yaw", 0.06), ("pitch", 0.04), ("roll", 0.02)):
        angle = np.zeros(num_frames)
        for _ in range(2):
            freq = rng.uniform(0.15, 0.6)
            angle += rng.uniform(0.3, 1.0) * amp / 2 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        out[name] = angle
    trans = np.zeros((num_frames, 3))
    for axis, amp in enumerate((0.004, 0.003, 0.006)):
        freq = rng.uniform(0.1, 0.4)
        trans[:, axis] = amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    out["translation"] = trans
    eye = np.ones(num_frames)
    next_blink = rng.uniform(0.2, 2.5)
    while next_blink < t[-1] + 1.0:
        duration = rng.uniform(0.15, 0.25)
        closing = np.clip(1 - np.abs(t - next_blink) / (duration / 2), 0, 1)
        eye = np.minimum(eye, 1 - closing ** 0.7)
        next_blink += rng.uniform(2.0, 5.0)
    out["eye_open"] = eye
    return out


__all__ = ["ANCHORS", "PHASES", "InteractionPlan", "anchor_point", "frame_align", "head_motion", "plan_interaction"]
