"""The pattern's hand, moved from the synthetic actor's head onto the photo's lifted face, frame by frame.

The synthetic generator's choreography plans the hand in its actor's head frame. A similarity (Umeyama 1991) fitted
between the actor's 3-D iBUG-68 landmarks and the photo's lifted ones carries the whole plan over; faces differ in
proportions, so each frame's target is then re-anchored on the photo's own skin: the planned contact point is moved
by the moving-least-squares deformation of the two landmark sets (``pipelines.retarget.mls_affine``), looked up on
the photo's surface, and the anchor is placed at the planned height above it along the photo's normal, with the hand
turned by the difference between the two faces' normals there. What the hand then does to the skin is
``contact.solve_contact``. Before that, ``Retargeter`` re-poses pokes, pinches and swipes the way people hold their
hands against their own faces (``_natural_arm``): the hand turned about the touching fingertips, the forearm from
below and to the side nearly in the image plane, a pointing hand's other fingers loosely curled.

A driving video has no plan: ``head_poses`` reads the photo's head motion off the retargeted driving face, and
``fit_driving_hand`` poses the hand model by inverse kinematics (``ik``) on the retargeted driving hand's keypoints;
``DrivenHand`` hands those frames to the renderer in the photo's reference pose; ``eye_openness`` makes the photo
blink when the driving face does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from interanimate.data.annotate import ibug68_from_mesh
from interanimate.data.synth.choreography import CLEARANCE, InteractionPlan, anchor_point, frame_align, tip_centres
from interanimate.data.synth.hand import ARM_RING_DISTS, NUM_PALM_SPHERES, NUM_POSE, HandModel, make_pose
from interanimate.data.synth.hand_mesh import SkinnedHand
from interanimate.data.synth.head import HeadModel
from interanimate.pipelines.errors import AnimateError
from interanimate.pipelines.retarget import mls_affine
from interanimate.render.composite.face import PhotoFace, sample_map
from interanimate.render.composite.warp import HeadPose

MAX_TURN_RAD = np.deg2rad(35.0)  # the largest normal correction applied to the hand
# Where a real forearm comes from when its hand touches the face (camera frame, wrist toward elbow; x toward the
# hand's own side): from below and to the side, nearly in the image plane, a little toward the camera.
ARM_IN_PLANE = np.array([0.55, 1.0, -0.3])
# Poking or swiping the forehead the elbow goes out to the side: a forearm hanging down from the brow would cross
# the eyes (and a swipe's wrist, kept below its fingertips, would swing from one side of the face to the other).
ARM_FROM_FOREHEAD = np.array([1.0, 0.5, -0.3])
MAX_WRIST_BEND_RAD = np.deg2rad(50.0)  # how far the forearm may turn off the hand's axis toward arm_in_plane
# A pointing hand as people hold it: index straight, the other fingers loosely curled (not a fist), thumb relaxed.
POINT_RELAXED = make_pose((20, 30, 15, 10), (2, 0, 4, 2), (45, 0, 55, 30), (52, 0, 62, 32), (60, -4, 62, 30))
POKE_INTO_SKIN = (0.45, 0.65, 0.9, 1.3)  # candidate weights of the skin's inward normal in the finger's direction
POKE_ROLLS = np.deg2rad(np.arange(-75, 76, 15))  # candidate turns of the palm about the finger
POINT_PALM = np.array([-0.4, 1.0, 0.0])  # camera frame (x toward the hand's side): where a pointing palm faces
POINT_PALM_FOREHEAD = np.array([-0.3, 0.4, 1.0])  # ... on the forehead: toward the face, a little down
ARM_LEANS = (0.3, 0.55, 0.8)  # candidate camera-ward components of the poking forearm
MIN_POKE_COS = 0.4  # the finger meets the skin at no less than ~24 degrees
# Where no poke clears the face as well as the plan (a chin, whose finger comes up from under the jaw), a candidate
# may sink its parts this much (m, summed over the key frames) deeper than the plan: the contact solver backs the
# hand out of what little remains (Grace Hopper's chin needs 2 mm, Barack Obama's between 2 and 5).
POKE_SINK_ALLOWANCE = 0.005
# Where no re-posed candidate clears the face as well as the plan: a swing within this much summed intrusion (m) of
# the least one's, none of its parts deeper in the skin than the plan's, is chosen by its wrist's direction.
REPOSE_WITHIN_CLEARANCE = 0.002
# A swing candidate (pinch, swipe, stroke) counts as clearing the face as well as the plan when its parts come at
# most this much (m, summed over the key frames) further inside the choreography's CLEARANCE band than the plan's,
# none of them deeper in the skin. The band is a margin, not contact: without the allowance only a hand pointing its
# fingers into a convex brow, its wrist at the camera, clears a forehead stroke or swipe (the contact solver resolves
# what a part really presses).
SWING_CLEARANCE_ALLOWANCE = 0.01
MAX_ARM_TOWARD_CAMERA = 0.45  # the camera-ward component of a unit forearm direction (about 27 degrees)
REACH_DEPTH_KEEP = 0.35  # of a reaching hand's camera-ward offset from the touch, what is kept
REACH_DEPTH_FREE = 0.02  # m of offset from the touch left as planned (the hover above the skin)
REACH_DEPTH_BLEND = 0.05  # m over which the shortening blends in beyond that
# The fastest a hand reaching for the face, or leaving it, moves (m/s): a brisk reach peaks near 1 m/s. The
# choreography plans in frames, so a short clip's reach can be several times faster; beyond this the reach starts
# (and the retreat ends) nearer the touch.
MAX_REACH_SPEED = 1.0
REACH_TURN_BLEND = 0.02  # m beyond the hover over which a forehead reach turns toward its forearm
# The palm's points (wrist, thumb base, the four knuckles): a hand detector finds a palm, so a reaching hand whose palm
# is cut off by the frame's edge is seldom found (on the composite gallery, 74 % of the hand-frames with a palm point
# outside the picture against 93 % of the others). A reach or retreat is compressed toward the touch until these lie
# IN_VIEW_MARGIN (of the frame's larger side) inside the picture, its speed cut by at most MAX_REACH_COMPRESSION.
PALM_POINTS = np.array([0, 1, 5, 9, 13, 17])
IN_VIEW_MARGIN = 0.03
MAX_REACH_COMPRESSION = 0.25
SWING_ROLLS = np.deg2rad(np.arange(-150, 151, 15))  # candidate rolls of a pinching/swiping hand about its two tips
SWING_TURNS = np.deg2rad([0.0, -25.0, 25.0, -50.0, 50.0])  # candidate turns of those tips about the skin's normal
STROKE_TURNS = np.zeros(1)  # a stroking hand is only rolled about its two pads
# A hand whose axis (wrist to middle knuckle) points at the camera or away from it is seen end-on, foreshortened to a
# blob that hand detectors miss (on the composite gallery MediaPipe found under half of the hands held within 30
# degrees of the viewing axis, over nine in ten of those within 30 degrees of the image plane). Candidates are
# charged for the part of that axis' camera-ward (or away) component beyond END_ON_FREE: per unit, END_ON_POKE
# metres of intrusion for a poke, END_ON_SWING of a swing's wrist-direction score.
END_ON_FREE = 0.6
END_ON_POKE = 0.05
END_ON_SWING = 1.0


def arm_in_plane(region: str, side_x: float) -> np.ndarray:
    """Camera-frame direction (not unit) a forearm naturally takes from the fingertips touching ``region`` (a poke,
    a pinch, a stroke or a swipe), for a hand on the side ``side_x`` (+1 the subject's left, the image's right):
    down and to the hand's side; from the forehead out to the side, the elbow raised, so that neither the forearm
    nor the hand hangs over the eyes."""
    return (ARM_FROM_FOREHEAD if region == "forehead" else ARM_IN_PLANE) * [side_x, 1.0, 1.0]


def point_palm(region: str) -> np.ndarray:
    """Camera-frame direction a pointing palm faces (x toward the hand's side) for a poke of ``region``: down and
    toward the midline; on the forehead toward the face, the hand seen from its back beside the brow."""
    return POINT_PALM_FOREHEAD if region == "forehead" else POINT_PALM


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation and translation minimising ``|s R src + t - dst|²`` (no reflection)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2, 2] = -1
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / (a ** 2).sum(1).mean())
    return scale, rotation, mu_d - scale * rotation @ mu_s


def _turn(a: np.ndarray, b: np.ndarray, limit: float) -> np.ndarray:
    """Rotation turning unit ``a`` toward unit ``b`` by at most ``limit`` radians."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis)
    angle = min(float(np.arctan2(sin, float(a @ b))), limit)
    if sin < 1e-9 or angle < 1e-6:
        return np.eye(3)
    k = axis / sin
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * (kx @ kx)


@dataclass
class PlacedHand:
    """One frame of the hand on the photo's face (camera frame of the reference pose, metres)."""

    vertices: np.ndarray  # (N, 3)
    attributes: np.ndarray  # (N, 3) palm side, nail, crease
    materials: np.ndarray  # (N,) int8
    spheres: np.ndarray  # (K, 5) centre, radius, finger id
    joints: np.ndarray  # (21, 3)

    def moved(self, offset: np.ndarray) -> "PlacedHand":
        spheres = self.spheres.copy()
        spheres[:, :3] += offset
        return PlacedHand(self.vertices + offset, self.attributes, self.materials, spheres, self.joints + offset)


class Retargeter:
    """Carries a synthetic actor's plan (``InteractionPlan`` on ``head`` with ``hand``) onto ``face``."""

    def __init__(self, face: PhotoFace, head: HeadModel, hand: HandModel, plan: InteractionPlan,
                 long_sleeves: bool, fps: float):
        self.face, self.head, self.plan = face, head, plan
        self.kinematic = hand
        self.hand = SkinnedHand(hand)  # the organic skin drawn over the same joints
        self.long_sleeves = long_sleeves
        lm_head = head.surface_points(*head.landmark_material(1.0).T)
        lm_photo = ibug68_from_mesh(face.vertices)
        self.scale, self.rotation, self.translation = umeyama(lm_head, lm_photo)
        self.mapped_landmarks_px = face.project(self._map(lm_head))
        self.photo_landmarks_px = face.landmarks
        self.targets = np.array(plan.target, np.float64)  # the anchor's path (head frame), as planned for now
        self._offsets = self._anchor_corrections()
        self.pose, self.hand_rotation, self.reposed_arm_dir = self._natural_arm()
        self.arm_dir = self._flatter_forearm(self.reposed_arm_dir)
        # The reach and the retreat reshaped in turn, each from the path the one before left.
        self._follow(self._nearer_reach())
        self._follow(self._reach_from_the_arm())
        self._follow(self._slower_reach(fps))
        self._follow(self._reach_in_view())

    def _follow(self, path: np.ndarray | None) -> None:
        """Take ``path`` as the anchor's (None: keep the current one)."""
        if path is not None:
            self.targets = path
            self._offsets = self._anchor_corrections()

    def _contact_span(self) -> tuple[int, int] | None:
        """The plan's first and last contact frames, or None without contact."""
        contact = np.flatnonzero(self.plan.expect_contact)
        return (int(contact[0]), int(contact[-1])) if len(contact) else None

    def _contact_material(self) -> np.ndarray:
        """Per frame ``(a, y)`` of the plan's contact point; frames without one take the nearest frame's."""
        material = np.array(self.plan.contact_material, np.float64)
        valid = np.isfinite(material).all(1)
        if not valid.any():
            material[:] = self.head.region_anchor(self.plan.pattern.region)
        elif not valid.all():
            index = np.flatnonzero(valid)
            nearest = index[np.abs(np.arange(len(material))[:, None] - index[None]).argmin(1)]
            material = material[nearest]
        return material

    def _natural_arm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame finger pose, hand rotation and forearm direction (head frame), posed as people hold them.

        The choreography aims only the working fingertips; its forearm continues the hand's axis, which for a poke,
        a pinch or a swipe points at the camera. Here the hand is turned about the touching fingertips (the plan's
        target, so contact and labels are untouched): a poke's finger rises from below and to the side of the
        hand's own half, the palm turned down and toward the face's midline (``POINT_PALM``) so the hand is seen
        from the side, the other fingers loosely curled (on the forehead the forearm comes from the side, the elbow
        raised, and the hand is seen from its back beside the brow: ``arm_in_plane``, ``point_palm``); a pinching
        or swiping hand swings about its two working fingertips (a stroking one only rolls about its two pads,
        ``STROKE_TURNS``) until its wrist is below and to the side of them, on the forehead beside them
        (``_swung``), its forearm bent at the wrist (at most ``MAX_WRIST_BEND_RAD``) toward ``arm_in_plane``. Every
        candidate is scored as the choreography scores its own: no part but the working fingertips within
        ``CLEARANCE`` of the skin, the forearm included; of those, a hand seen end-on is charged for it
        (``_end_on``); the plan's own orientation is kept where no candidate clears the face at least as well.
        """
        plan, head = self.plan, self.head
        pose = np.array(plan.pose, np.float64)
        rotation = np.array(plan.rotation, np.float64)
        arm = np.array(plan.arm_dir, np.float64)
        family = plan.pattern.family
        if family not in ("poke", "swipe", "pinch", "stroke"):
            return pose, rotation, arm
        side_x = 1.0 if plan.hand_side == "left" else -1.0
        want_arm = _unit(self.rotation.T @ arm_in_plane(plan.pattern.region, side_x))
        material = self._contact_material()
        normals = head.surface_normals(material[:, 0], material[:, 1])
        expect = np.asarray(plan.expect_contact, bool)
        contact = np.flatnonzero(expect)
        c0, c1 = (int(contact[0]), int(contact[-1])) if len(contact) else (0, plan.num_frames - 1)
        keys = sorted({c0, (c0 + c1) // 2, c1} | {k for k in (c0 - 2, c1 + 2) if 0 <= k < plan.num_frames})

        # What a candidate does not change is computed once per key frame and pose: the spheres of the palm and
        # digits in the hand's frame (``collision_spheres``, no mesh), which of them are the working tip's, the
        # anchor. A batch of candidates is then scored with one height look-up.
        statics: dict = {}

        def static(k: int, pose_k: np.ndarray):
            key = (k, pose_k.tobytes())
            if key not in statics:
                local = self.kinematic.joints_local(pose_k)
                spheres = self.kinematic.collision_spheres(local, np.array([0.0, -1.0, 0.0]))
                anchor_local, _ = anchor_point(self.kinematic, pose_k, plan.anchor)
                working = np.zeros(len(spheres), bool)
                if expect[k]:
                    fingers = {"index_tip": (1,), "pinch": (0, 1)}.get(plan.anchor, (1, 2))
                    for fid in fingers:
                        rows = np.flatnonzero(spheres[:, 4] == fid)
                        tip = spheres[rows[-1], :3]
                        working[rows[np.linalg.norm(spheres[rows, :3] - tip, axis=1) <= 0.015]] = True
                statics[key] = (spheres, local[0], anchor_local, ~working)
            return statics[key]

        arm_rows = slice(NUM_PALM_SPHERES, NUM_PALM_SPHERES + len(ARM_RING_DISTS))

        def clearances(pose_, rotations, arms) -> tuple[np.ndarray, np.ndarray]:
            """Per candidate (``rotations`` ``(C, F, 3, 3)``, ``arms`` ``(C, F, 3)``): summed intrusion (m) inside
            CLEARANCE of the skin of every part but the working tip, at ``keys``, and the summed depth of those
            parts below the skin."""
            count = len(rotations)
            if not count:
                return np.zeros(0), np.zeros(0)
            rotations, arms = np.asarray(rotations)[:, keys], np.asarray(arms)[:, keys]  # (C, K, 3, 3), (C, K, 3)
            worlds, parts = [], []
            for i, k in enumerate(keys):  # every candidate at once, key frame by key frame
                spheres, wrist, anchor_local, others = static(k, pose_[k])
                rot = rotations[:, i]
                arm_local = np.einsum("cji,cj->ci", rot, arms[:, i])
                arm_local /= np.linalg.norm(arm_local, axis=1, keepdims=True)
                centres = np.repeat(spheres[None, :, :3], count, 0)
                centres[:, arm_rows] = wrist + arm_local[:, None] * ARM_RING_DISTS[None, :, None]
                worlds.append(plan.target[k] + (centres - anchor_local) @ rot.transpose(0, 2, 1))
                parts.append((spheres[:, 3], others))
            heights = head.height_above(np.concatenate([w.reshape(-1, 3) for w in worlds]))[0]
            total, depth = np.zeros(count), np.zeros(count)
            for h, (radius, others) in zip(np.split(heights, np.cumsum([w.shape[1] * count for w in worlds])[:-1]),
                                           parts):
                gap = (np.where(np.isfinite(h), h, 1.0).reshape(count, -1) - radius)[:, others]
                total += np.clip(CLEARANCE - gap, 0.0, None).sum(1)
                depth += np.clip(-gap, 0.0, None).sum(1)
            return total, depth

        base = tuple(float(v[0]) for v in clearances(pose, [rotation], [arm]))
        if family in ("pinch", "swipe", "stroke"):
            # A stroke's pads slide along the skin: the hand only pitches about them, never turned about the
            # normal, so its wrist stays on the side of the face the choreography chose.
            turns = STROKE_TURNS if family == "stroke" else SWING_TURNS
            return (pose, *self._swung(pose, rotation, arm, want_arm, normals, clearances, base, c0, c1, turns))
        # Pokes: the other fingers never more curled than a relaxed pointing hand.
        flexion = np.ones(NUM_POSE, bool)
        flexion[4:8] = False  # the index finger stays as planned
        flexion[[9, 13, 17]] = False  # finger spread
        pose[:, flexion] = np.minimum(pose[:, flexion], POINT_RELAXED[flexion])
        joints = [self.kinematic.joints_local(p) for p in pose]

        def poke_rotation(want, want_palm, k_in, roll, frames) -> np.ndarray:
            """Hand rotations at ``frames`` (zero elsewhere): the index finger along ``-want`` tipped ``k_in`` into
            the skin's normal, the palm toward ``want_palm`` turned ``roll`` about the finger."""
            rot = np.zeros_like(rotation)
            for f in frames:
                n = normals[int(np.clip(f, c0, c1))]
                d = _unit(-want - k_in * n)
                palm = _unit(want_palm - (want_palm @ d) * d)
                palm = _unit(palm * np.cos(roll) + np.cross(d, palm) * np.sin(roll))
                j = joints[f]
                rot[f] = frame_align(j[8] - j[5], [0.0, 0.0, 1.0], d, palm)
            return rot

        best = (np.inf, plan.rotation, plan.arm_dir, plan.pose)
        fallback = (np.inf, None, None, None)
        for lean in ARM_LEANS:  # the forearm toward the camera only as far as the face asks
            arm_cam = arm_in_plane(plan.pattern.region, side_x)
            arm_cam[2] = -lean
            want = _unit(self.rotation.T @ arm_cam)
            # The palm turned down and toward the midline: the curled fingers under the pointing one, the hand
            # seen from the side rather than the back of a fist.
            want_palm = _unit(self.rotation.T @ (point_palm(plan.pattern.region) * [side_x, 1.0, 1.0]))
            candidates = []
            for k_in in POKE_INTO_SKIN:
                # The finger's direction depends on the frame only through the skin's normal (constant outside
                # the contact span), so the steepness check needs only the span's frames.
                if any(float(-n @ _unit(-want - k_in * n)) < MIN_POKE_COS for n in normals[c0:c1 + 1]):
                    continue
                for roll in POKE_ROLLS:
                    # Scored at the key frames only; the chosen candidate's other frames are filled in below.
                    candidates.append((k_in, roll, poke_rotation(want, want_palm, k_in, roll, keys)))
            arms = np.repeat(want[None], plan.num_frames, 0)
            rotations = [c[2] for c in candidates]
            intrusions, depths = clearances(pose, rotations, [arms] * len(candidates))
            end_on = self._end_on(rotations, joints, keys)
            for (k_in, roll, _), intrusion, depth, seen in zip(candidates, intrusions, depths, end_on):
                # Intrusion first (none beyond the plan's) against the hand seen end-on, then the flattest forearm,
                # the least inward finger and the least roll.
                score = intrusion + END_ON_POKE * seen + 1e-5 * (3.0 * lean + k_in + abs(roll))
                if intrusion <= base[0] + 1e-6 and score < best[0]:
                    best = (score, (want, want_palm, k_in, roll), arms, pose)
                elif depth <= base[1] + POKE_SINK_ALLOWANCE and score < fallback[0]:
                    fallback = (score, (want, want_palm, k_in, roll), arms, pose)
            if np.isfinite(best[0]):
                break
        if not np.isfinite(best[0]) and np.isfinite(fallback[0]):
            # No candidate clears the face as well as the plan (a chin, whose finger comes up from under the jaw):
            # rather than the choreography's forearm at the camera, the candidate nearest the skin's clearance that
            # sinks its parts no more than ``POKE_SINK_ALLOWANCE`` deeper into the skin than the plan does.
            best = fallback
        if np.isfinite(best[0]):
            best = (best[0], poke_rotation(*best[1], range(plan.num_frames)), best[2], best[3])
        return np.array(best[3]), np.array(best[1]), np.array(best[2])

    def _end_on(self, rotations, joints: list, frames) -> np.ndarray:
        """Per candidate (``rotations`` ``(C, F, 3, 3)``, hand to head frame; ``joints`` the frames' local joints):
        the mean over ``frames`` of how far the hand's axis, wrist to middle knuckle, points along the camera's
        viewing axis beyond ``END_ON_FREE`` (the unit axis' depth component), as the frame places the hand."""
        frames = list(frames)
        axes = np.array([joints[f][9] - joints[f][0] for f in frames])  # (K, 3) hand frame
        # Head frame to camera: the mapping's rotation, then the frame's turn onto the photo's skin normal.
        to_camera = np.array([self._offsets[f][2] @ self.rotation for f in frames])
        seen = np.einsum("kij,ckjl,kl->cki", to_camera, np.asarray(rotations)[:, frames], axes)
        depth = np.abs(seen[..., 2]) / np.linalg.norm(seen, axis=-1)
        return np.clip(depth - END_ON_FREE, 0.0, None).mean(1)

    def _map(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rotation.T + self.translation

    def _swung(self, pose, rotation, arm, want_arm, normals, clearances, base, c0, c1, turns=SWING_TURNS):
        """A pinching or swiping hand turned about the skin's normal at its anchor (``turns``: a pinch's fold, a
        swipe's pads taken at another angle; a stroke, ``STROKE_TURNS``, is not turned), rolled about the line
        through its two working fingertips (thumb and index for a pinch, index and middle for a swipe or a stroke;
        both stay where they are) and its forearm bent at the wrist toward ``arm_in_plane``: of the candidates
        that clear the face as well as the plan (within ``SWING_CLEARANCE_ALLOWANCE``, no part deeper in the skin),
        the one whose wrist lies most nearly below and to the side of the fingertips (on the forehead beside them,
        the elbow out), the way people reach up to pinch a cheek, wipe
        across their mouth or their brow, rather than the choreography's hand pointing into the face with its
        forearm at the camera."""
        plan = self.plan
        other_tip = 4 if plan.anchor == "pinch" else 12
        bends = (1.0, 0.6, 0.3, 0.0)
        axes = []
        for p in pose:
            tips = tip_centres(self.kinematic, p)
            axes.append(_unit(tips[8] - tips[other_tip]))
        reach = []  # the wrist relative to the pinch, hand frame, over the contact span
        for f in range(c0, c1 + 1):
            local, _ = anchor_point(self.kinematic, pose[f], plan.anchor)
            reach.append(self.kinematic.joints_local(pose[f])[0] - local)
        want_cam = _unit(self.rotation @ want_arm)
        frames = np.clip(np.arange(plan.num_frames), c0, c1)
        reach = np.array(reach)
        candidates = []
        for turn in turns:
            spun = _axis_rotations(normals[frames], turn) @ rotation
            for roll in SWING_ROLLS:
                rot = spun @ _axis_rotations(np.array(axes), roll)
                carried = _units(np.einsum("fij,fkj,fk->fi", rot, rotation, arm))
                for bend in bends:
                    candidates.append((turn, roll, bend, rot, _toward_many(carried, want_arm, MAX_WRIST_BEND_RAD * bend)))
        rotations = [c[3] for c in candidates]
        intrusions, depths = clearances(pose, rotations, [c[4] for c in candidates])
        end_on = self._end_on(rotations, [self.kinematic.joints_local(p) for p in pose], range(c0, c1 + 1))
        allowed = (intrusions <= base[0] + SWING_CLEARANCE_ALLOWANCE + 1e-6) & (depths <= base[1] + 1e-6)
        best = self._swing_choice(candidates, allowed, end_on, bends, reach, want_cam, c0, c1,
                                  (np.inf, rotation, arm))
        if not np.isfinite(best[0]):
            # None clears the face as well as the plan: those within the skin's clearance that sink no part deeper
            # into the skin than the plan does, nearest the clearance first (``REPOSE_WITHIN_CLEARANCE``).
            fits = depths <= base[1] + 1e-6
            if fits.any():
                least = float(intrusions[fits].min())
                best = self._swing_choice(candidates, fits & (intrusions <= least + REPOSE_WITHIN_CLEARANCE), end_on,
                                          bends, reach, want_cam, c0, c1, best)
        return best[1], best[2]

    def _swing_choice(self, candidates, allowed, end_on, bends, reach, want_cam, c0, c1, best):
        """Of the ``allowed`` swing candidates, per turn and roll the most bent forearm, the one whose wrist lies
        most nearly in a forearm's natural direction from the fingertips, and whose hand is least seen end-on
        (``end_on``, each candidate's ``_end_on`` over the contact span)."""
        for group in range(0, len(candidates), len(bends)):  # per turn and roll, the most bent forearm that clears
            for i in range(group, group + len(bends)):
                turn, roll, bend, rot, arms = candidates[i]
                if not allowed[i]:
                    continue
                # How far the wrist's direction from the fingertips is from a forearm's natural one (camera frame).
                wrist = np.einsum("ij,fjk,fk->fi", self.rotation, rot[c0:c1 + 1], reach)
                score = float(np.mean(1.0 - _units(wrist) @ want_cam)) + 1e-3 * (1.0 - bend) \
                    + 1e-4 * (abs(roll) + 2.0 * abs(turn)) + END_ON_SWING * float(end_on[i])
                if score < best[0]:
                    best = (score, rot, arms)
                break
        return best

    def _flatter_forearm(self, arms: np.ndarray) -> np.ndarray:
        """Per frame forearm directions (head frame) turned toward the image plane where they point at the camera
        more steeply than ``MAX_ARM_TOWARD_CAMERA`` (the camera-ward part of the unit direction), unless the
        turned forearm would come nearer the skin: a forearm aimed at a camera 0.55 m away is drawn as a wall
        larger than the face (the reach of every pattern keeps the choreography's forearm, which
        continues the hand toward the camera)."""
        arms = np.array(arms, np.float64)
        for f, arm in enumerate(arms):
            cam = self.rotation @ arm
            if -cam[2] <= MAX_ARM_TOWARD_CAMERA:
                continue
            flat = cam[:2] / max(float(np.linalg.norm(cam[:2])), 1e-9) * np.sqrt(1.0 - MAX_ARM_TOWARD_CAMERA ** 2)
            turned = self.rotation.T @ np.array([flat[0], flat[1], -MAX_ARM_TOWARD_CAMERA])
            anchor = self.targets[f]
            if self._intrusion(f, anchor, turned) <= self._intrusion(f, anchor, arm) + 1e-6:
                arms[f] = turned
        return arms

    def _nearer_reach(self) -> np.ndarray | None:
        """The plan's anchor path with the reach and the retreat held nearer the face's depth, or None if unchanged.

        The choreography starts and ends its reach 17–24 cm from the touch along a forearm direction that comes
        toward the camera, so the hand enters the picture drawn up to three times the size of the face. Here, frame
        by frame outside the contact span, the part of the anchor's offset from the first (last) contact point that
        points at the camera is shortened (``REACH_DEPTH_KEEP``; offsets under ``REACH_DEPTH_FREE`` m, the hover
        above the skin, are left as planned, longer ones blend in), unless the hand, forearm included, would then
        come nearer the skin than the planned frame does (the same collision spheres and clearance as the
        re-posing)."""
        plan, span = self.plan, self._contact_span()
        if span is None:
            return None
        c0, c1 = span
        toward = -self.rotation.T[:, 2]  # head-frame direction to the camera
        target = self.targets
        out = target.copy()
        for f in [f for f in range(plan.num_frames) if f < c0 or f > c1]:
            ref = target[c0] if f < c0 else target[c1]
            offset = target[f] - ref
            ahead = float(offset @ toward)
            blend = np.clip((np.linalg.norm(offset) - REACH_DEPTH_FREE) / REACH_DEPTH_BLEND, 0.0, 1.0)
            if ahead <= 0.0 or blend <= 0.0:
                continue
            planned = self._intrusion(f, target[f])
            for keep in (REACH_DEPTH_KEEP, 0.5 * (1.0 + REACH_DEPTH_KEEP)):
                moved = target[f] - toward * ahead * (1.0 - keep) * blend
                if self._intrusion(f, moved) <= planned + 1e-6:
                    out[f] = moved
                    break
        return None if np.array_equal(out, target) else out

    def _reach_from_the_arm(self) -> np.ndarray | None:
        """The anchor's path with the reach and the retreat of a forehead touch turned to come from the side, or None
        if unchanged.

        The choreography's reach starts low and to the hand's side, so a hand reaching for the forehead rises in
        front of the mouth and the eyes; held from the side (``arm_in_plane``), it comes from where its forearm is.
        Per side of the touch, each frame's offset from the first (last) contact point is turned about the camera's
        viewing axis through that point into the forearm's direction as the picture shows it; the turn grows in over
        the part of the offset beyond the hover (``REACH_DEPTH_FREE``, over ``REACH_TURN_BLEND``), so the landing
        is as planned. Where a frame so turned would bring the hand, forearm included, nearer the skin than the frame
        it replaces, the side's angle is reduced by quarters until none does."""
        plan, span = self.plan, self._contact_span()
        if plan.pattern.region != "forehead" or span is None:
            return None
        c0, c1 = span
        side_x = 1.0 if plan.hand_side == "left" else -1.0
        want = arm_in_plane("forehead", side_x)[:2]
        target = self.targets
        out = target.copy()
        view = self.rotation.T[:, 2]  # the camera's viewing axis in the head frame
        for frames, touch in ((np.arange(0, c0), c0), (np.arange(c1 + 1, plan.num_frames), c1)):
            if not len(frames):
                continue
            offsets = target[frames] - target[touch]
            seen = offsets @ self.rotation[:2].T  # as the picture shows them: x right, y down
            # Per frame, the angle about the viewing axis from the offset to the forearm's direction.
            angles = np.arctan2(seen[:, 0] * want[1] - seen[:, 1] * want[0], seen @ want)
            grow = np.clip((np.linalg.norm(offsets, axis=1) - REACH_DEPTH_FREE) / REACH_TURN_BLEND, 0.0, 1.0)
            planned = self._intrusions(frames, target[frames])
            for scale in (1.0, 0.75, 0.5, 0.25):
                turned = np.array([_axis_rotation(view, a * scale * g) @ o for o, a, g in zip(offsets, angles, grow)])
                moved = target[touch] + turned
                if self._no_nearer(frames, moved, planned):
                    out[frames] = moved
                    break
        return None if np.array_equal(out, target) else out

    def _reach_sides(self):
        """Per side of the touch with a frame beyond it: its frames outward from the first (last) contact frame, their
        anchors, the lengths of the steps between them and the arc length from the touch; nothing without contact."""
        span = self._contact_span()
        if span is None:
            return
        for frames in (np.arange(span[0], -1, -1), np.arange(span[1], self.plan.num_frames)):
            if len(frames) >= 2:
                points = self.targets[frames]
                steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
                yield frames, points, steps, np.r_[0.0, np.cumsum(steps)]

    def _slower_reach(self, fps: float) -> np.ndarray | None:
        """The anchor's path with the reach and the retreat no faster than ``MAX_REACH_SPEED``, or None if unchanged.

        The choreography plans in frames, so a short clip's hand covers its reach in two or three frames. Here each
        side of the touch is retimed along its own planned path: walking out from the first (last) contact frame,
        every step keeps its planned length where that is within ``MAX_REACH_SPEED / fps`` (the slow landing and
        hover stay as planned) and is cut to it where longer, so the early (late) frames lie on the planned path
        nearer the touch: the clip catches the reach later in its course, the hand already raised beside the face,
        arriving along the planned direction. Where a frame so placed would bring the hand, forearm included, nearer
        the skin than the frame it replaces (``_intrusion``), the speed allowed on that side is raised by steps
        until none does; the side is kept as planned if only the planned speed passes."""
        if not (np.isfinite(fps) and fps > 0):
            return None
        out = self.targets.copy()
        for frames, points, steps, along in self._reach_sides():
            limit = MAX_REACH_SPEED / fps
            planned = self._intrusions(frames[1:], points[1:])  # the touch itself does not move
            while limit < steps.max():
                reached = np.r_[0.0, np.cumsum(np.minimum(steps, limit))]
                moved = np.stack([np.interp(reached, along, points[:, k]) for k in range(3)], axis=1)
                if self._no_nearer(frames[1:], moved[1:], planned):
                    out[frames] = moved
                    break
                limit *= 1.25
        return None if np.array_equal(out, self.targets) else out

    def _palm_in_view(self, f: int, anchors: np.ndarray) -> np.ndarray:
        """Per row of ``anchors`` ``(S, 3)`` (head frame): whether frame ``f``'s palm points (``PALM_POINTS``), its
        anchor moved there, lie ``IN_VIEW_MARGIN`` inside the picture (as ``frame`` places them, before head motion)."""
        pose, rotation = self.pose[f], self.hand_rotation[f]
        anchor_local, _ = anchor_point(self.kinematic, pose, self.plan.anchor)
        palm = (self.kinematic.joints_local(pose)[PALM_POINTS] - anchor_local) @ rotation.T
        world = np.asarray(anchors, np.float64)[:, None] + palm[None]
        px = self.face.project(self._to_photo(f, world.reshape(-1, 3))).reshape(len(world), len(PALM_POINTS), 2)
        margin = IN_VIEW_MARGIN * max(self.face.width, self.face.height)
        inside = (px >= margin) & (px <= np.array([self.face.width, self.face.height]) - margin)
        return inside.all(axis=(1, 2))

    def _reach_in_view(self, samples: int = 24) -> np.ndarray | None:
        """The anchor's path with the reach and the retreat compressed toward the touch so that the palm stays in the
        picture, or None if unchanged.

        The clip starts (and ends) at a frame of the reach the choreography and ``_slower_reach`` chose, often with
        the wrist below or beside the frame's edge. Per side of the touch, each frame whose palm is out of view
        (``_palm_in_view``) finds the farthest point of the planned path, from its own toward the touch, at which it
        is in view; the side's path beyond the hover (``REACH_DEPTH_FREE`` of arc length from the touch) is then
        compressed toward the touch by the one factor that brings every such frame there, no less than
        ``MAX_REACH_COMPRESSION``: the hand still moves every frame, along its planned path, only slower and nearer
        the face. Frames that are in view nowhere on the path do not count. Where a frame so placed would bring the
        hand, forearm included, nearer the skin than the frame it replaces, the factor is raised by steps until
        none does; the side is kept as planned if only the planned path passes."""
        out = self.targets.copy()
        for frames, points, _, along in self._reach_sides():

            def at(s: float) -> np.ndarray:
                return np.array([np.interp(s, along, points[:, k]) for k in range(3)])

            factor = 1.0
            for i in range(1, len(frames)):
                f, beyond = int(frames[i]), along[i] - REACH_DEPTH_FREE
                if beyond <= 0.0 or self._palm_in_view(f, points[i][None])[0]:
                    continue
                path = np.linspace(along[i], REACH_DEPTH_FREE, samples)[1:]  # from its own point toward the touch
                inside = self._palm_in_view(f, np.stack([at(s) for s in path]))
                if inside.any():
                    factor = min(factor, (path[inside.argmax()] - REACH_DEPTH_FREE) / beyond)
            factor = max(factor, MAX_REACH_COMPRESSION)
            if factor >= 1.0:
                continue
            planned = self._intrusions(frames[1:], points[1:])
            while factor < 1.0:
                reached = np.where(along > REACH_DEPTH_FREE, REACH_DEPTH_FREE + (along - REACH_DEPTH_FREE) * factor, along)
                moved = np.stack([at(s) for s in reached])
                if self._no_nearer(frames[1:], moved[1:], planned):
                    out[frames] = moved
                    break
                factor = min(1.0, factor * 1.25)
        return None if np.array_equal(out, self.targets) else out

    def _intrusions(self, frames: np.ndarray, anchors: np.ndarray) -> list[float]:
        """``_intrusion`` of each of ``frames`` with its anchor at the matching row of ``anchors``."""
        return [self._intrusion(int(f), anchor) for f, anchor in zip(frames, anchors)]

    def _no_nearer(self, frames: np.ndarray, anchors: np.ndarray, planned: list[float]) -> bool:
        """Whether the hand anchored at ``anchors`` comes no nearer the skin in any of ``frames`` than the
        ``planned`` intrusions (``_intrusions`` of the anchors it replaces); stops at the first that does."""
        return all(self._intrusion(int(f), anchor) <= before + 1e-6
                   for f, anchor, before in zip(frames, anchors, planned))

    def _intrusion(self, f: int, anchor: np.ndarray, arm: np.ndarray | None = None) -> float:
        """Summed intrusion (m) inside ``CLEARANCE`` of the skin of every collision sphere of frame ``f``'s hand and
        forearm (along ``arm``, default the frame's) with its anchor at ``anchor`` (head frame)."""
        pose, rotation = self.pose[f], self.hand_rotation[f]
        local = self.kinematic.joints_local(pose)
        spheres = self.kinematic.collision_spheres(local, rotation.T @ (self.arm_dir[f] if arm is None else arm))
        anchor_local, _ = anchor_point(self.kinematic, pose, self.plan.anchor)
        world = anchor + (spheres[:, :3] - anchor_local) @ rotation.T
        height = self.head.height_above(world)[0]
        gap = np.where(np.isfinite(height), height, 1.0) - spheres[:, 3]
        return float(np.clip(CLEARANCE - gap, 0.0, None).sum())

    def _anchor_corrections(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame: (mapped target, photo target, turn) re-anchoring the plan on the photo's skin."""
        plan, head, face = self.plan, self.head, self.face
        material = self._contact_material()
        out = []
        for f in range(plan.num_frames):
            a, y = material[f]
            surf = head.surface_points(np.array([a]), np.array([y]))[0]
            normal = head.surface_normals(np.array([a]), np.array([y]))[0]
            rel = self.targets[f] - surf
            height = float(rel @ normal)
            tangential = rel - height * normal
            mapped_px = face.project(self._map(surf)[None])[0]
            pixel = mls_affine(self.mapped_landmarks_px, self.photo_landmarks_px, mapped_px)
            skin = sample_map(face.points, pixel)
            skin_normal = sample_map(face.normals, pixel)
            skin_normal = skin_normal / (np.linalg.norm(skin_normal) + 1e-12)
            mapped_normal = self.rotation @ normal
            turn = _turn(mapped_normal, skin_normal, MAX_TURN_RAD)
            target = skin + skin_normal * height * self.scale + turn @ (self.scale * self.rotation @ tangential)
            out.append((self._map(self.targets[f]), target, turn))
        # Pixel look-ups make the photo target jitter by fractions of a millimetre: smooth it over time.
        targets = np.array([o[1] for o in out])
        kernel = np.array([0.25, 0.5, 0.25])
        padded = np.concatenate([targets[:1], targets, targets[-1:]])
        smooth = sum(k * padded[i:i + len(targets)] for i, k in enumerate(kernel))
        smooth[plan.expect_contact] = targets[plan.expect_contact]
        return [(m, s, t) for (m, _, t), s in zip(out, smooth)]

    def frame(self, f: int) -> PlacedHand:
        """The hand of frame ``f`` placed on the photo (before contact resolution)."""
        plan, hand = self.plan, self.hand
        pose = self.pose[f]
        joints_local = hand.joints_local(pose)
        anchor_local, _ = anchor_point(self.kinematic, pose, plan.anchor)
        rot = self.hand_rotation[f]
        wrist = self.targets[f] - rot @ anchor_local
        verts, attr, vmat, spheres = hand.surface(joints_local, rot, wrist, self.arm_dir[f], self.long_sleeves,
                                                  pose=pose)
        joints = joints_local @ rot.T + wrist
        spheres = spheres.copy()
        spheres[:, :3] = self._to_photo(f, spheres[:, :3])
        spheres[:, 3] *= self.scale
        return PlacedHand(self._to_photo(f, verts), attr, vmat, spheres, self._to_photo(f, joints))

    def _to_photo(self, f: int, points: np.ndarray) -> np.ndarray:
        """Head-frame ``points`` of frame ``f`` carried onto the photo's skin (the mapping, re-anchored at the frame's
        photo target and turned onto its skin normal: ``_anchor_corrections``)."""
        mapped_target, photo_target, turn = self._offsets[f]
        return (self._map(points) - mapped_target) @ turn.T + photo_target

    def slide(self, f: int) -> np.ndarray:
        """The plan's contact slide of frame ``f`` on the photo (drives stroke and swipe drag)."""
        return self.to_photo_vector(f, self.plan.slide[f])

    def to_photo_vector(self, f: int, vector: np.ndarray) -> np.ndarray:
        """A head-frame displacement (e.g. the plan's slide) in the photo's camera frame, same scale."""
        return self._offsets[f][2] @ (self.scale * self.rotation @ np.asarray(vector, np.float64))


# ------------------------------------------------------------------------------------------ driving video

# Nose (bridge and base) and the eye corners: the iBUG-68 points expressions move least and blinks not at all.
POSE_LANDMARKS = np.r_[27:36, 36, 39, 42, 45]
MAX_YAW_RAD = np.deg2rad(20.0)  # further, the face's far side, edge-on in the photo, folds over itself in the warp
MAX_PITCH_RAD = np.deg2rad(15.0)
TIPS = np.array([4, 8, 12, 16, 20])
MAX_ROLL_RAD = np.deg2rad(20.0)
HAND_SCALE_RANGE = (0.75, 1.33)  # how far a driving person's hand/face proportion may resize the model's hand
EXIT_STEP = 0.25  # image sizes per frame a hand the video does not show moves out of view
ARM_BIAS = np.array([0.0, 0.8, -0.4])  # the forearm hangs down and comes toward the camera, never into the head
PRESS_M = 1.5e-3  # how far behind the skin a touching fingertip is asked to be
BLINK_DEADBAND = 0.2  # of the lid gap: closing less than this is landmark noise, more than 1 - this is shut
PALM_SEGMENTS = ((0, 9), (0, 5), (0, 17), (5, 17))  # pose-independent lengths of the palm


def head_poses(face: PhotoFace, landmarks: np.ndarray) -> list:
    """Per-frame head motion ``HeadPose`` of the photo's face following ``landmarks (F, 68, 2)`` on the photo.

    The photo's own lifted landmarks (metric, ``ibug68_from_mesh``) are posed by perspective-n-point
    (``cv2.solvePnP``, the photo's camera) so that they move in the image as the rigid landmarks
    (``POSE_LANDMARKS``) moved from the photo's to the frame's: the fit is of the displacement, so landmarks that
    equal the photo's give the identity. Its rotation, as roll about the optical axis, yaw and pitch, is clipped to
    what one view can show; its scale is a move in depth.
    """
    lifted = ibug68_from_mesh(face.vertices)[POSE_LANDMARKS].astype(np.float64)
    lifted_px = face.project(lifted)
    cam = face.camera
    matrix = np.array([[cam.fx, 0.0, cam.cx], [0.0, cam.fy, cam.cy], [0.0, 0.0, 1.0]])
    raw = []
    for lm in landmarks:
        target = lifted_px + (lm[POSE_LANDMARKS] - face.landmarks[POSE_LANDMARKS])
        # The lifted points are in the camera frame already: the identity is where the solve starts.
        ok, rvec, tvec = cv2.solvePnP(lifted, target, matrix, None, np.zeros(3), np.zeros(3), True,
                                      cv2.SOLVEPNP_ITERATIVE)
        rotation = cv2.Rodrigues(rvec)[0] if ok else np.eye(3)
        moved = rotation @ face.pivot + (tvec.ravel() if ok else 0.0)  # where the pose takes the pivot
        roll, yaw, pitch = Rotation.from_matrix(rotation).as_euler("ZYX")
        raw.append([roll, yaw, pitch, *face.project(moved[None])[0], moved[2]])
    # Landmarks jitter by fractions of a pixel: smooth the angles and the pivot's path over three frames.
    raw = np.array(raw)
    padded = np.concatenate([raw[:1], raw, raw[-1:]])
    smooth = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    poses = []
    for roll, yaw, pitch, qx, qy, depth in smooth:
        angles = np.clip([roll, yaw, pitch], -np.array([MAX_ROLL_RAD, MAX_YAW_RAD, MAX_PITCH_RAD]),
                         [MAX_ROLL_RAD, MAX_YAW_RAD, MAX_PITCH_RAD])
        rotation = Rotation.from_euler("ZYX", angles).as_matrix()
        depth = float(np.clip(depth, face.pivot[2] / 1.25, face.pivot[2] / 0.8))
        moved = np.array([(qx - cam.cx) * depth / cam.fx, (qy - cam.cy) * depth / cam.fy, depth])
        poses.append(HeadPose(rotation, moved - face.pivot))
    return poses


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """Per frame ``(F,)``: how open the driving eyes are (1 as they usually are, 0 shut), from iBUG-68 lids.

    The lid gap over the eye's width, relative to the clip's usual (80th percentile) value; the first
    ``BLINK_DEADBAND`` of closing is landmark jitter and leaves the lids open.
    """
    lm = np.asarray(landmarks, np.float64)
    gap = (np.abs(lm[:, [41, 40, 47, 46], 1] - lm[:, [37, 38, 43, 44], 1])).mean(1)
    width = (np.linalg.norm(lm[:, 39] - lm[:, 36], axis=1) + np.linalg.norm(lm[:, 45] - lm[:, 42], axis=1)) / 2
    ratio = gap / np.maximum(width, 1e-6)
    usual = max(float(np.percentile(ratio, 80)), 1e-6)
    closing = np.clip(1.0 - ratio / usual, 0.0, 1.0)
    return 1.0 - np.clip((closing - BLINK_DEADBAND) / (1.0 - 2 * BLINK_DEADBAND), 0.0, 1.0)


@dataclass
class DrivenFit:
    """Per frame of a driven clip: the IK solution (camera frame, after head motion) or ``None``."""

    fits: list
    hand_scale: float
    side: str
    rms_px: float


def _hand_scale(hand: HandModel, face: PhotoFace, keypoints: np.ndarray, present: np.ndarray) -> float:
    """Model-hand scale that makes the driving hand's palm, at the face's depth, as large as the video shows it."""
    local = hand.joints_local(np.zeros(NUM_POSE))
    depth = float(np.median(face.vertices[:, 2]))
    ratios = []
    for a, b in PALM_SEGMENTS:
        model_px = float(np.linalg.norm(local[a] - local[b])) * face.camera.fx / depth
        seen = np.linalg.norm(keypoints[present, a] - keypoints[present, b], axis=-1)
        # Foreshortening only shortens a segment: its longer appearances are nearest its true length.
        ratios.append(np.nanpercentile(seen, 90) / model_px)
    return float(np.clip(np.nanmedian(ratios), *HAND_SCALE_RANGE))


def fit_driving_hand(face: PhotoFace, hands: dict, keypoints: np.ndarray, present: np.ndarray,
                     contact_points: np.ndarray, poses: list, side: str | None = None) -> DrivenFit:
    """Inverse kinematics of the driving hand on every frame it is seen (``render.composite.ik``).

    Where the video shows contact, the fingertip nearest its contact point is held on the skin under it; the hand's
    size is first set so that, tracked without that hint, it would already be at that depth (its apparent size then
    agrees with where it touches).

    Args:
        keypoints: ``(F, 21, 3)`` the driving hand's keypoints on the photo (x, y, confidence).
        present: ``(F,)`` frames with that hand.
        contact_points: ``(F, 2)`` the video's contact point on the photo (NaN without contact).
        poses: per-frame ``HeadPose`` (the skin is where the moved head puts it).
        side: the model hand to fit; ``None`` picks the side that fits the first frame better.
    """
    from interanimate.render.composite.ik import MIN_KEYPOINTS, HandIK

    seen = (np.isfinite(keypoints[..., :2]).all(-1) & (np.nan_to_num(keypoints[..., 2]) > 0)).sum(-1)
    present = present & (seen >= MIN_KEYPOINTS)  # a hand mostly outside the picture is not fitted, but filled in
    if not present.any():
        raise AnimateError("the driving hand is never seen whole enough to pose (at least "
                           f"{MIN_KEYPOINTS} of its 21 keypoints in the picture)")
    first = int(np.flatnonzero(present)[0])
    scale = _hand_scale(hands["right"], face, keypoints[..., :2], present)
    if side is None:
        trial = {s: HandIK(hands[s], face.camera, scale).fit(keypoints[first, :, :2], keypoints[first, :, 2]).rms_px
                 for s in ("left", "right")}
        side = min(trial, key=trial.get)
    hints = _depth_hints(face, keypoints, present, contact_points, poses)
    touching = np.array([h is not None for h in hints])
    if touching.any():
        free = _track(HandIK(hands[side], face.camera, scale), keypoints, touching, [None] * len(hints))
        ratios = [hints[f][1][2] / fit.joints[hints[f][0], 2] for f, fit in enumerate(free) if fit is not None]
        scale = float(np.clip(scale * np.median(ratios), *HAND_SCALE_RANGE))
    ik = HandIK(hands[side], face.camera, scale)
    fits = _track(ik, keypoints, present, hints)
    rms = float(np.nanmean([fit.rms_px for fit in fits if fit is not None]))
    return DrivenFit(_fill_gaps(fits, ik, face), scale, side, rms)


def _depth_hints(face: PhotoFace, keypoints: np.ndarray, present: np.ndarray, contact_points: np.ndarray,
                 poses: list) -> list:
    """Per frame ``(fingertip, camera point)`` pressing the tip nearest the video's contact point into the skin where
    the video draws that tip, or None.

    A fingertip joint is the tip's surface (``HandModel``), so it is asked ``PRESS_M`` behind the skin: the contact
    physics then backs the hand out to what the skin allows and the touch is measured, not assumed.
    """
    hints = []
    for f in range(len(keypoints)):
        if not (present[f] and np.isfinite(contact_points[f]).all()):
            hints.append(None)
            continue
        tip = int(TIPS[np.argmin(np.linalg.norm(keypoints[f, TIPS, :2] - contact_points[f], axis=1))])
        # The skin under the tip as the video draws it (the contact point itself may lie a little beside it).
        ref_px = poses[f].image_inverse(face, keypoints[f, tip, :2])
        skin = poses[f].apply(sample_map(face.points, ref_px)[None].astype(np.float64), face.pivot)[0]
        hints.append((tip, skin * (1.0 + PRESS_M / skin[2])))  # along the pixel's ray
    return hints


def _track(ik, keypoints: np.ndarray, present: np.ndarray, hints: list) -> list:
    """Frame-by-frame fits, each warm-started from the motion of the previous ones (None where not present)."""
    fits, history = [], []
    for f in range(len(keypoints)):
        if not present[f]:
            fits.append(None)
            history = []
            continue
        history = history[-1:] + [ik.fit(keypoints[f, :, :2], keypoints[f, :, 2], ik.predict(history), hints[f])]
        fits.append(history[-1])
    return fits


def _fill_gaps(fits: list, ik, face: PhotoFace) -> list:
    """Frames the video lost the hand in: interpolated inside the clip; before it appears and after it goes, the hand
    leaves the picture away from the face (the way it was moving, if that leads away)."""
    from interanimate.render.composite.ik import HandFit, interpolate_fits

    seen = [f for f, fit in enumerate(fits) if fit is not None]
    out = list(fits)
    for a, b in zip(seen[:-1], seen[1:]):
        for f in range(a + 1, b):
            out[f] = interpolate_fits(fits[a], fits[b], (f - a) / (b - a), ik)

    def exited(edge: int, inner: int, steps: int) -> HandFit:
        fit = fits[edge]
        # Away from the face, never across it: the way the hand was moving only if that leads away.
        direction = _unit(np.array([*(fit.wrist - face.pivot)[:2], 0.0]) + np.array([0.0, 0.5, 0.0]))
        moving = (fit.wrist - fits[inner].wrist)[:2]
        if inner != edge and np.linalg.norm(moving) > 1e-3 and moving @ direction[:2] > 0:
            direction = np.array([*_unit(moving), 0.0])
        reach = min(steps * EXIT_STEP, 1.5) * max(face.height, face.width) * float(fit.wrist[2]) / face.camera.fy
        offset = direction * reach
        return HandFit(fit.pose, fit.rotation, fit.wrist + offset, fit.joints + offset, float("nan"))

    first, last = seen[0], seen[-1]
    for f in range(first):
        out[f] = exited(first, min(first + 2, last), first - f)
    for f in range(last + 1, len(fits)):
        out[f] = exited(last, max(last - 2, first), f - last)
    return out


@dataclass
class NoPlannedContact:
    """What ``contact.solve_contact`` reads of a plan, for a hand no choreography drives: no gesture drive field.

    The skin is still dented wherever the fitted hand meets it; contact labels come from that geometry alone.
    """

    num_frames: int

    @property
    def expect_contact(self) -> np.ndarray:
        return np.zeros(self.num_frames, bool)


class DrivenHand:
    """The fitted driving hand as the renderer's hand source: ``frame(f)`` in the photo's reference pose."""

    def __init__(self, face: PhotoFace, hand: HandModel, driven: DrivenFit, poses: list, long_sleeves: bool = False):
        self.face, self.driven, self.poses = face, driven, poses
        self.hand = SkinnedHand(hand)
        self.long_sleeves = long_sleeves
        self.plan = NoPlannedContact(len(poses))
        self.hand_side = driven.side
        self.scale = 1.0  # drive fields (none here) would be scaled by this

    def slide(self, f: int) -> np.ndarray:
        return np.zeros(3)

    def frame(self, f: int) -> PlacedHand:
        fit, pose, k = self.driven.fits[f], self.poses[f], self.driven.hand_scale
        local = self.hand.joints_local(fit.pose)
        arm = _unit(_unit(local[0] - local[9]) @ fit.rotation.T + ARM_BIAS)
        verts, attr, vmat, spheres = self.hand.surface(local, fit.rotation, np.zeros(3), arm, self.long_sleeves,
                                                       pose=fit.pose)

        def place(points: np.ndarray) -> np.ndarray:
            return pose.unapply(points * k + fit.wrist, self.face.pivot)

        spheres = spheres.copy()
        spheres[:, :3] = place(spheres[:, :3])
        spheres[:, 3] *= k
        return PlacedHand(place(verts), attr, vmat, spheres, pose.unapply(fit.joints, self.face.pivot))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-12)


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation by ``angle`` about unit ``axis``."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _units(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)


def _axis_rotations(axes: np.ndarray, angle: float) -> np.ndarray:
    """``(N, 3, 3)`` Rodrigues rotations by one ``angle`` about each unit row of ``axes``."""
    k = np.zeros((len(axes), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axes[:, 2], axes[:, 1], -axes[:, 0]
    k -= k.transpose(0, 2, 1)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _toward_many(a: np.ndarray, b: np.ndarray, limit: float) -> np.ndarray:
    """Unit rows of ``a`` each turned toward unit ``b`` by at most ``limit`` radians (``_turn(a, b, limit) @ a`` for many rows)."""
    dot = a @ b
    off = b[None] - dot[:, None] * a  # b's part perpendicular to each row
    sin = np.linalg.norm(off, axis=1)
    angle = np.minimum(np.arctan2(sin, dot), limit)
    turned = a * np.cos(angle)[:, None] + off / np.maximum(sin, 1e-12)[:, None] * np.sin(angle)[:, None]
    return np.where((sin < 1e-9)[:, None], a, turned)
