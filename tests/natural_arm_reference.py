"""The re-posing search of pokes, pinches and swipes written plainly: every candidate scored on the collision spheres
of a freshly built tube surface, one key frame and one candidate at a time. The placement's fast search must choose exactly what this
chooses; ``self`` is a ``Retargeter``."""

from __future__ import annotations

import numpy as np

from interanimate.data.synth.choreography import CLEARANCE, anchor_point, frame_align, tip_centres
from interanimate.data.synth.hand import NUM_POSE
from interanimate.render.composite.placement import (ARM_LEANS, END_ON_FREE, END_ON_POKE, END_ON_SWING,
                                                     MAX_WRIST_BEND_RAD, MIN_POKE_COS, POINT_RELAXED,
                                                     POKE_INTO_SKIN, POKE_ROLLS, POKE_SINK_ALLOWANCE,
                                                     REPOSE_WITHIN_CLEARANCE, STROKE_TURNS, SWING_CLEARANCE_ALLOWANCE,
                                                     SWING_ROLLS, SWING_TURNS,
                                                     _axis_rotation, _turn, _unit, arm_in_plane, point_palm)


def reference_natural_arm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame finger pose, hand rotation and forearm direction (head frame), posed as people hold them.

    The choreography aims only the working fingertips; its forearm continues the hand's axis, which for a poke
    or a swipe points at the camera. Here the hand is turned about the touching fingertip (the plan's target,
    so contact and labels are untouched): a poke's finger rises from below and to the side of the hand's own
    half, the palm turned down and toward the face's midline (``POINT_PALM``) so the hand is seen from the side,
    the other fingers loosely curled; a swipe's hand pitches toward the face's plane and its forearm bends at
    the wrist (at most ``MAX_WRIST_BEND_RAD``) toward ``arm_in_plane``. Every candidate is scored as the choreography scores its own: no part but the working
    fingertip within ``CLEARANCE`` of the skin, the forearm included, and a hand seen end-on charged for it. Where
    no candidate clears the face at least as well as the plan, those that sink no part deeper into the skin than
    the plan (a poke: no more than ``POKE_SINK_ALLOWANCE`` deeper) are taken, nearest the clearance first; the
    plan's own orientation is kept where there are none.
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

    def clearance(pose_, rotation_, arm_) -> tuple[float, float]:
        """Summed intrusion (m) inside CLEARANCE of the skin of every part but the working tip, at ``keys``, and
        the summed depth of those parts below the skin."""
        total = depth = 0.0
        for k in keys:
            local = self.kinematic.joints_local(pose_[k])
            spheres = self.kinematic.surface(local, np.eye(3), np.zeros(3), rotation_[k].T @ arm_[k], False)[3]
            anchor_local, _ = anchor_point(self.kinematic, pose_[k], plan.anchor)
            working = np.zeros(len(spheres), bool)
            if expect[k]:
                fingers = {"index_tip": (1,), "pinch": (0, 1)}.get(plan.anchor, (1, 2))
                for fid in fingers:
                    rows = np.flatnonzero(spheres[:, 4] == fid)
                    tip = spheres[rows[-1], :3]
                    working[rows[np.linalg.norm(spheres[rows, :3] - tip, axis=1) <= 0.015]] = True
            world = plan.target[k] + (spheres[:, :3] - anchor_local) @ rotation_[k].T
            height, _, _ = head.height_above(world)
            gap = np.where(np.isfinite(height), height, 1.0) - spheres[:, 3]
            total += float(np.clip(CLEARANCE - gap[~working], 0.0, None).sum())
            depth += float(np.clip(-gap[~working], 0.0, None).sum())
        return total, depth

    def end_on(pose_, rotation_, frames) -> float:
        """Mean over ``frames`` of the hand axis' (wrist to middle knuckle) depth component beyond END_ON_FREE."""
        excess = []
        for f in frames:
            j = self.kinematic.joints_local(pose_[f])
            seen = self._offsets[f][2] @ self.rotation @ (rotation_[f] @ (j[9] - j[0]))
            excess.append(max(abs(seen[2]) / np.linalg.norm(seen) - END_ON_FREE, 0.0))
        return float(np.mean(excess))

    base = clearance(pose, rotation, arm)
    if family in ("pinch", "swipe", "stroke"):
        turns = STROKE_TURNS if family == "stroke" else SWING_TURNS
        return (pose, *_reference_swung(self, pose, rotation, arm, want_arm, normals, clearance, end_on, base, c0, c1,
                                        turns))
    # Pokes: the other fingers never more curled than a relaxed pointing hand.
    flexion = np.ones(NUM_POSE, bool)
    flexion[4:8] = False  # the index finger stays as planned
    flexion[[9, 13, 17]] = False  # finger spread
    pose[:, flexion] = np.minimum(pose[:, flexion], POINT_RELAXED[flexion])
    best = (np.inf, plan.rotation, plan.arm_dir, plan.pose)
    fallback = best
    for lean in ARM_LEANS:  # the forearm toward the camera only as far as the face asks
        arm_cam = arm_in_plane(plan.pattern.region, side_x)
        arm_cam[2] = -lean
        want = _unit(self.rotation.T @ arm_cam)
        # The palm turned down and toward the midline: the curled fingers under the pointing one, the hand
        # seen from the side rather than the back of a fist.
        want_palm = _unit(self.rotation.T @ (point_palm(plan.pattern.region) * [side_x, 1.0, 1.0]))
        for k_in in POKE_INTO_SKIN:
            for roll in POKE_ROLLS:
                rot = np.zeros_like(rotation)
                for f in range(plan.num_frames):
                    n = normals[int(np.clip(f, c0, c1))]
                    d = _unit(-want - k_in * n)
                    if float(-n @ d) < MIN_POKE_COS:
                        break
                    palm = _unit(want_palm - (want_palm @ d) * d)
                    palm = _unit(palm * np.cos(roll) + np.cross(d, palm) * np.sin(roll))
                    j = self.kinematic.joints_local(pose[f])
                    rot[f] = frame_align(j[8] - j[5], [0.0, 0.0, 1.0], d, palm)
                else:
                    arms = np.repeat(want[None], plan.num_frames, 0)
                    # Intrusion first (none beyond the plan's) against the hand seen end-on, then the flattest
                    # forearm, the least inward finger and the least roll.
                    intrusion, depth = clearance(pose, rot, arms)
                    score = intrusion + END_ON_POKE * end_on(pose, rot, keys) + 1e-5 * (3.0 * lean + k_in + abs(roll))
                    if intrusion <= base[0] + 1e-6 and score < best[0]:
                        best = (score, rot, arms, pose)
                    elif depth <= base[1] + POKE_SINK_ALLOWANCE and score < fallback[0]:
                        fallback = (score, rot, arms, pose)
        if np.isfinite(best[0]):
            break
    if not np.isfinite(best[0]):
        best = fallback
    return np.array(best[3]), np.array(best[1]), np.array(best[2])


def _reference_swung(self, pose, rotation, arm, want_arm, normals, clearance, end_on, base, c0, c1, turns):
    """A pinching or swiping hand turned about the skin's normal, rolled about its two working fingertips, its
    forearm bent toward ``arm_in_plane`` (on the forehead out to the side): of the candidates that clear the face
    as well as the plan (within ``SWING_CLEARANCE_ALLOWANCE``, no part deeper in the skin), the one whose wrist lies
    most nearly in that direction from the fingertips."""
    plan = self.plan
    other_tip = 4 if plan.anchor == "pinch" else 12
    want_cam = _unit(self.rotation @ want_arm)
    scored = []  # (turn, roll, bend, rot, arms, intrusion, depth) of every candidate
    for turn in turns:
        for roll in SWING_ROLLS:
            rot = np.zeros_like(rotation)
            for f in range(plan.num_frames):
                tips = tip_centres(self.kinematic, pose[f])
                spin = _axis_rotation(normals[int(np.clip(f, c0, c1))], turn)
                rot[f] = spin @ rotation[f] @ _axis_rotation(_unit(tips[8] - tips[other_tip]), roll)
            carried = [_unit(r @ r0.T @ a) for r, r0, a in zip(rot, rotation, arm)]
            for bend in (1.0, 0.6, 0.3, 0.0):
                arms = np.array([_turn(a, want_arm, MAX_WRIST_BEND_RAD * bend) @ a for a in carried])
                scored.append((turn, roll, bend, rot, arms, *clearance(pose, rot, arms)))

    def choose(allowed) -> tuple:
        best = (np.inf, rotation, arm)
        for group in range(0, len(scored), 4):  # per turn and roll, the most bent forearm allowed
            for turn, roll, bend, rot, arms, intrusion, depth in scored[group: group + 4]:
                if not allowed(intrusion, depth):
                    continue
                away = []
                for f in range(c0, c1 + 1):
                    local, _ = anchor_point(self.kinematic, pose[f], plan.anchor)
                    wrist = self.rotation @ (rot[f] @ (self.kinematic.joints_local(pose[f])[0] - local))
                    away.append(1.0 - float(_unit(wrist) @ want_cam))
                score = float(np.mean(away)) + 1e-3 * (1.0 - bend) + 1e-4 * (abs(roll) + 2.0 * abs(turn)) \
                    + END_ON_SWING * end_on(pose, rot, range(c0, c1 + 1))
                if score < best[0]:
                    best = (score, rot, arms)
                break
        return best

    best = choose(lambda intrusion, depth: intrusion <= base[0] + SWING_CLEARANCE_ALLOWANCE + 1e-6
                  and depth <= base[1] + 1e-6)
    fits = [intrusion for *_, intrusion, depth in scored if depth <= base[1] + 1e-6]
    if not np.isfinite(best[0]) and fits:
        best = choose(lambda intrusion, depth: depth <= base[1] + 1e-6
                      and intrusion <= min(fits) + REPOSE_WITHIN_CLEARANCE)
    return best[1], best[2]
