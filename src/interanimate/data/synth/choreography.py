"""Choreography: per-frame hand plans for the 18 patterns, defined relative to the face.

Every pattern is approach -> contact -> action -> retreat. A plan says, per frame, where the hand's
*anchor* (the index fingertip for pokes, the midpoint of thumb and index tips for pinches, the index
and middle fingertip pads for strokes and swipes) should be relative to the skin, how the fingers are
configured, how the hand is oriented and what the gesture does to the skin (squeeze, pull, slide).
Positions are in the head frame and are built from material coordinates on the face (a target
jittered inside the named region) and its surface normal, so the same plan follows the head when it
moves. ``to_landmark_frame`` re-expresses any head-frame points relative to the iBUG-68 landmarks,
which is how another face (e.g. a reference photo's landmarks) can reuse a plan.

Timing, speed, path, press depth, finger configuration, number of presses and the hand used vary
per clip, all drawn from the clip's own random generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interanimate.data.synth.hand import POSES, HandModel
from interanimate.data.synth.head import F_MOUTH_HW, F_MOUTH_Y, F_NASION_Y, F_NOSE_TIP_Y, HeadModel
from interanimate.taxonomy import Pattern

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
        work = POSES["pinch_open"]
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
            pose[i] = work if fam != "pinch" else _blend_pose(POSES["pinch_open"], POSES["pinch_closed"], aperture[i])
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
    for i in range(F):
        k = int(np.clip(i, c0, c1))
        n, ut, st = normals[k], up_t[k], side_t[k]
        j = hand.joints_local(pose[i])
        if fam == "poke":
            d = _unit(-n + 0.55 * (-arm_base))
            palm = np.array([0.0, 1.0, 0.0]) - side_sign * 0.3 * st
            rotation[i] = frame_align(j[8] - j[5], [0, 0, 1], d, palm)
        elif fam == "pinch":
            # A roughly horizontal pinch: the thumb nearer the hand's own side. A vertical one would put
            # the index finger over the eye or the thumb under the chin.
            lateral = -np.sign(a0) if pattern.region.startswith("cheek") else -side_sign  # index toward the nose on cheeks
            axis = _unit(st * lateral * np.cos(pinch_tilt * 0.6) + ut * np.sin(pinch_tilt * 0.6))
            pinch_axis[i] = axis
            tips_mid = (j[8] + j[4]) / 2
            reach = _unit(-n + 0.45 * (-arm_base))
            rotation[i] = frame_align(j[8] - j[4], tips_mid, axis, reach)
        else:
            if pattern.region != "forehead":
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
        if i < c0 - land:
            u = _min_jerk(np.array(i / max(c0 - land, 1)))
            hover_pt = surf[c0] + normals[c0] * (radius + hover)
            # A curved reach: the path bows toward the arm's side.
            mid = (start + hover_pt) / 2 + arm_base * 0.02
            target[i] = (1 - u) ** 2 * start + 2 * (1 - u) * u * mid + u ** 2 * hover_pt
        elif i < c0:
            u = (i - (c0 - land)) / land
            target[i] = surf[c0] + normals[c0] * (radius + hover * (1 - u) + 0.0005)
        elif i <= c1 and fam == "pinch":
            # Each fingertip lands on the skin; on a curved face their midpoint lies below the surface.
            j = hand.joints_local(pose[i])
            sep = np.linalg.norm(j[8] - j[4]) - 0.8 * radius
            feet = []
            for sign in (-1.0, 1.0):
                p = surf[i] + pinch_axis[i] * sign * sep / 2
                fa, fy = head.material_of(p[None])
                foot = head.surface_points(fa, fy)[0]
                foot_n = head.surface_normals(fa, fy)[0]
                feet.append(foot + foot_n * (radius - press[i]))
            target[i] = (feet[0] + feet[1]) / 2 + normals[i] * pull[i]
        elif i <= c1:
            target[i] = surf[i] + normals[i] * (radius - press[i])
        elif i <= c1 + lift:
            u = (i - c1) / lift
            target[i] = surf[c1] + normals[c1] * (radius + hover * u + 0.0005)
        else:
            u = _min_jerk(np.array((i - c1 - lift) / max(F - 1 - c1 - lift, 1)))
            lift_pt = surf[c1] + normals[c1] * (radius + hover)
            target[i] = (1 - u) * lift_pt + u * end

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


def head_motion(num_frames: int, fps: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Small natural head motion (yaw/pitch/roll radians, translation metres) and eye opening per frame.

    Motion is a sum of a few slow sinusoids (people sway and turn slightly while touching their face);
    blinks are brief lid closures about every 2-5 s, each lasting ~150-250 ms.
    """
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


def landmark_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin, axes (rows: subject-left, down, into-face) and scale (inter-ocular distance) of a face.

    Works for 3-D landmarks ``(68, 3)``; 2-D ``(68, 2)`` landmarks get a zero depth axis component.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape[1] == 2:
        lm = np.concatenate([lm, np.zeros((len(lm), 1))], 1)
    right_eye = lm[36:42].mean(0)
    left_eye = lm[42:48].mean(0)
    origin = (right_eye + left_eye) / 2
    x = _unit(left_eye - right_eye)
    down = lm[57] - origin
    y = _unit(down - (down @ x) * x)
    z = np.cross(x, y)
    return origin, np.stack([x, y, z]), float(np.linalg.norm(left_eye - right_eye))


def to_landmark_frame(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Express points (e.g. planned joints) in the face's landmark frame, in inter-ocular units."""
    origin, axes, scale = landmark_frame(landmarks)
    return (np.asarray(points) - origin) @ axes.T / scale


def from_landmark_frame(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Inverse of ``to_landmark_frame`` for another face's landmarks: retargets a plan to that face."""
    origin, axes, scale = landmark_frame(landmarks)
    return np.asarray(points) * scale @ axes + origin


__all__ = ["ANCHORS", "PHASES", "InteractionPlan", "anchor_point", "frame_align", "from_landmark_frame",
           "head_motion", "landmark_frame", "plan_interaction", "to_landmark_frame"]
