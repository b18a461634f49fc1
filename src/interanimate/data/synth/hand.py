"""The articulated hand: 21-joint kinematics with anatomical limits, and its skinned tube surface.

Hand-local frame of a RIGHT hand (metres): x toward the thumb (radial side), y along the fingers
(distal), z out of the palm (volar side, the side the fingers curl toward); origin at the wrist
joint. A left hand is the mirror image (x negated). Joint order is the contract's: wrist, thumb
CMC-MCP-IP-tip, then index, middle, ring, pinky each MCP-PIP-DIP-tip.

A pose is a vector of 20 angles (radians, ``POSE_NAMES``); ``clamp_pose`` applies the joint limits.
The surface is a set of lofted tubes (fingers with rounded tips, a boxy palm, the forearm) whose
rings follow the joints, so any pose gives a watertight-looking hand without skinning weights.
"""

from __future__ import annotations

import numpy as np
from interanimate.data.synth.subject import SubjectParams

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
POSE_NAMES = tuple(
    [f"thumb_{n}" for n in ("cmc_flex", "cmc_abd", "mcp", "ip")]
    + [f"{f}_{n}" for f in FINGERS[1:] for n in ("mcp", "abd", "pip", "dip")]
)
NUM_POSE = len(POSE_NAMES)

_D = np.pi / 180.0
# Anatomical limits (degrees): flexion positive toward the palm.
_LIMITS_DEG = [(-15, 50), (0, 75), (-10, 65), (-15, 85)] + [(-25, 95), (-20, 20), (0, 110), (-5, 85)] * 4
POSE_LIMITS = np.array(_LIMITS_DEG, np.float64) * _D

_MCP_BASE = np.array([[0.024, 0.088, 0.0], [0.004, 0.092, 0.0], [-0.015, 0.087, 0.0], [-0.031, 0.077, 0.0]])
_PHALANGES = np.array([[0.040, 0.024, 0.021], [0.045, 0.028, 0.022], [0.042, 0.027, 0.022], [0.033, 0.019, 0.019]])
_SPLAY = np.array([6.0, 0.0, -5.0, -12.0]) * _D
_THUMB_CMC = np.array([0.019, 0.024, 0.009])
_THUMB_BONES = np.array([0.042, 0.032, 0.028])
_THUMB_DIR = np.array([0.62, 0.72, 0.30]) / np.linalg.norm([0.62, 0.72, 0.30])
_FINGER_RADII = np.array([  # MCP, PIP, DIP, tip
    [0.0098, 0.0090, 0.0080, 0.0072],
    [0.0102, 0.0094, 0.0083, 0.0074],
    [0.0096, 0.0088, 0.0079, 0.0071],
    [0.0086, 0.0078, 0.0071, 0.0064],
])
_THUMB_RADII = np.array([0.0165, 0.0135, 0.0112, 0.0100, 0.0090])  # thenar, CMC, MCP, IP, tip

SIDES = 9  # vertices around every tube ring
ARM_RING_DISTS = np.array([-0.015, 0.04, 0.12, 0.22, 0.34])  # forearm rings (m from the wrist toward the elbow)
ARM_RING_THICK = np.array([0.018, 0.021, 0.026, 0.031, 0.036])  # their half thickness (times the hand's scale)
NUM_PALM_SPHERES = 9  # collision spheres: the palm's first, then the forearm's (one per ring), then the digits
CAP_ANGLES = np.array([25.0, 50.0, 72.0]) * _D


def clamp_pose(pose: np.ndarray) -> np.ndarray:
    """Apply the anatomical joint limits."""
    return np.clip(pose, POSE_LIMITS[:, 0], POSE_LIMITS[:, 1])


def make_pose(thumb=(5, 20, 10, 10), index=(15, 0, 20, 10), middle=(15, 0, 20, 10), ring=(15, 0, 20, 10),
              pinky=(15, 0, 20, 10)) -> np.ndarray:
    """A pose vector from per-finger angle tuples in degrees."""
    return clamp_pose(np.array(list(thumb) + list(index) + list(middle) + list(ring) + list(pinky), float) * _D)


# Named finger configurations the choreography blends between.
POSES = {
    "relaxed": make_pose((5, 25, 10, 10), (18, 2, 22, 10), (20, 0, 25, 12), (24, -2, 28, 14), (28, -5, 30, 15)),
    "point": make_pose((38, 45, 30, 25), (2, 0, 4, 2), (80, 0, 100, 55), (85, 0, 100, 55), (88, -2, 95, 50)),
    "point_soft": make_pose((30, 40, 25, 20), (8, 0, 10, 5), (65, 0, 85, 45), (72, 0, 90, 50), (78, -4, 90, 45)),
    # Thumb pad opposite the index pad (thumb tip volar and proximal of the index tip): the tips are
    # about 46 mm apart open and 16 mm closed, and only thumb abduction changes between the two, so
    # any blend keeps the pads facing each other along nearly the same axis.
    "pinch_open": make_pose((30, 45, 10, -5), (45, 4, 45, 20), (55, 0, 70, 40), (62, 0, 80, 45), (70, -4, 80, 40)),
    "pinch_closed": make_pose((30, 25, 10, -5), (45, 4, 45, 20), (55, 0, 70, 40), (62, 0, 80, 45), (70, -4, 80, 40)),
    "pads": make_pose((-10, 5, 10, 10), (8, 3, 12, 6), (8, 0, 12, 6), (40, -2, 60, 30), (55, -5, 70, 35)),
    "flat": make_pose((-10, 5, 5, 5), (4, 4, 6, 3), (4, 0, 6, 3), (5, -3, 6, 3), (6, -7, 6, 3)),
}


_ORIENTED_FACES: dict[bytes, np.ndarray] = {}  # HandModel._orient_chains' faces by geometry_key
JOINTS_MEMO_SIZE = 1024  # distinct poses remembered per hand (a clip uses under a hundred)


def _norm3(v: np.ndarray) -> np.float64:
    """``np.linalg.norm`` of one vector, by the same arithmetic (``sqrt(v · v)``) without its generality's cost."""
    v = np.asarray(v)
    if v.dtype.kind != "f":
        v = v.astype(float)
    return np.sqrt(v.dot(v))


def _cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` of two 3-vectors (the same products and differences) without its generality's cost."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / _norm3(axis)
    x, y, z = axis
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.array([[c + x * x * C, x * y * C - z * s, x * z * C + y * s],
                     [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
                     [z * x * C - y * s, z * y * C + x * s, c + z * z * C]])


class HandModel:
    """One subject's hand on one side.

    Args:
        subject: the person (bone lengths, thickness, skin and sleeves come from here).
        side: ``"left"`` or ``"right"`` (the subject's anatomical side).
    """

    def __init__(self, subject: SubjectParams, side: str):
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        self.subject = subject
        self.side = side
        self.mirror = -1.0 if side == "left" else 1.0
        scale = subject.hand_scale
        jitter = np.asarray(subject.bone_jitter).reshape(5, 4)
        self.thumb_bones = _THUMB_BONES * scale * subject.finger_length * jitter[0, :3]
        self.phalanges = _PHALANGES * scale * subject.finger_length * jitter[1:, :3]
        self.mcp_base = _MCP_BASE * scale * np.array([1.0, 1.0 + 0.03 * (jitter[1:, 3:4] - 1).mean(), 1.0])
        self.thumb_cmc = _THUMB_CMC * scale
        thick = scale * subject.finger_thickness
        self.finger_radii = _FINGER_RADII * thick
        self.thumb_radii = _THUMB_RADII * thick
        self.palm_scale = scale
        self._joints_memo: dict[bytes, np.ndarray] = {}  # joints_local by clamped pose: the plan asks for few poses
        self._build_topology()
        self._orient_chains()

    def geometry_key(self) -> bytes:
        """Everything the hand's shape depends on (side, bones, radii), as bytes: equal keys, equal hands."""
        parts = (self.thumb_bones, self.phalanges, self.mcp_base, self.thumb_cmc, self.finger_radii, self.thumb_radii,
                 np.array([self.mirror, self.palm_scale]))
        return b"".join(np.ascontiguousarray(p, np.float64).tobytes() for p in parts)

    def _orient_chains(self) -> None:
        """Make every tube's triangles face outward (mirroring and frame choices can flip them); hands of one
        geometry (every subject's canonical hand, ``hand_mesh.canonical_hand``) share the result."""
        key = self.geometry_key()
        if key not in _ORIENTED_FACES:
            if len(_ORIENTED_FACES) >= 64:
                _ORIENTED_FACES.clear()
            self._orient_chains_now()
            _ORIENTED_FACES[key] = self.faces
        self.faces = _ORIENTED_FACES[key].copy()

    def _orient_chains_now(self) -> None:
        verts, _, _, _ = self.surface(self.joints_local(POSES["relaxed"]), np.eye(3), np.zeros(3),
                                      np.array([0.0, -1.0, 0.3]), False)
        faces = self.faces.copy()
        for first, tube_end, last in self.chain_ranges:
            tube = faces[first:tube_end]
            v0, v1, v2 = verts[tube[:, 0]], verts[tube[:, 1]], verts[tube[:, 2]]
            normal = np.cross(v1 - v0, v2 - v0)
            ring_start = tube[:, 0] - (tube[:, 0] - tube[:, 0].min()) % SIDES
            ring_centre = np.stack([verts[ring_start + k] for k in range(SIDES)]).mean(0)
            outward = np.einsum("ij,ij->i", normal, (v0 + v1 + v2) / 3 - ring_centre)
            if np.sum(outward < 0) > np.sum(outward > 0):
                faces[first:last] = faces[first:last][:, [0, 2, 1]]
        self.faces = faces

    # ---- kinematics ------------------------------------------------------------------------------
    def joints_local(self, pose: np.ndarray) -> np.ndarray:
        """Forward kinematics: ``(21, 3)`` joint positions in the hand-local frame (mirrored for left)."""
        pose = clamp_pose(np.asarray(pose, np.float64))
        # Choreography, re-posing and contact ask for the same few poses hundreds of times per clip: each distinct
        # pose (to the bit) is solved once; callers get their own copy.
        key = pose.tobytes()
        joints = self._joints_memo.get(key)
        if joints is None:
            if len(self._joints_memo) >= JOINTS_MEMO_SIZE:
                self._joints_memo.clear()
            joints = self._joints_memo[key] = self._forward_kinematics(pose)
        return joints.copy()

    def _forward_kinematics(self, pose: np.ndarray) -> np.ndarray:
        joints = np.zeros((21, 3))
        z = np.array([0.0, 0.0, 1.0])
        # Thumb: CMC abduction lifts it out of the palm plane, CMC flexion swings it across the palm.
        d0 = _THUMB_DIR
        abd_axis = _cross3(d0, z)
        d1 = _rot(z, pose[0]) @ (_rot(abd_axis, pose[1]) @ d0)
        toward_palm = np.array([-1.0, 0.0, 0.7])
        toward_palm = toward_palm - (toward_palm @ d1) * d1
        bend_axis = _cross3(d1, toward_palm)
        joints[1] = self.thumb_cmc
        joints[2] = joints[1] + self.thumb_bones[0] * d1
        d2 = _rot(bend_axis, pose[2]) @ d1
        joints[3] = joints[2] + self.thumb_bones[1] * d2
        d3 = _rot(bend_axis, pose[2] + pose[3]) @ d1
        joints[4] = joints[3] + self.thumb_bones[2] * d3
        for f in range(4):
            mcp, abd, pip, dip = pose[4 + 4 * f: 8 + 4 * f]
            yaw = _rot(z, -(_SPLAY[f] + abd))  # positive splay turns toward the thumb (+x)
            base_dir = yaw @ np.array([0.0, 1.0, 0.0])
            flex_axis = yaw @ np.array([1.0, 0.0, 0.0])
            j = 5 + 4 * f
            joints[j] = self.mcp_base[f]
            angle = 0.0
            for k, (length, bend) in enumerate(zip(self.phalanges[f], (mcp, pip, dip))):
                angle += bend
                joints[j + k + 1] = joints[j + k] + length * (_rot(flex_axis, angle) @ base_dir)
        joints[:, 0] *= self.mirror
        return joints

    def palm_frame_local(self) -> np.ndarray:
        """Columns: radial (thumb-side), distal, volar unit axes in the hand-local frame (mirrored)."""
        return np.diag([self.mirror, 1.0, 1.0])

    # ---- surface ---------------------------------------------------------------------------------
    def _build_topology(self) -> None:
        # Chains: palm, forearm, thumb, index..pinky. Each is rings x SIDES (+ end vertex for caps).
        self.finger_rings = 5 + len(CAP_ANGLES)  # inside-palm, MCP, PIP, DIP, tip base, then cap rings
        self.thumb_rings = 5 + len(CAP_ANGLES)
        self.palm_rings = 6
        self.arm_rings = 5
        chains = [("palm", self.palm_rings, True, True), ("arm", self.arm_rings, False, True),
                  ("thumb", self.thumb_rings, True, False)] + [(f, self.finger_rings, True, False) for f in FINGERS[1:]]
        faces, offsets, chain_ranges = [], {}, []
        start = 0
        for name, rings, end_cap, start_cap in chains:
            offsets[name] = start
            ring_faces = _tube_faces(rings, SIDES, start)
            first_face = sum(len(f) for f in faces)
            faces.append(ring_faces)
            count = rings * SIDES
            if end_cap:
                tip = start + count
                last = start + (rings - 1) * SIDES
                k = np.arange(SIDES)
                faces.append(np.stack([last + k, last + (k + 1) % SIDES, np.full(SIDES, tip)], 1))
                count += 1
            if start_cap:
                base = start + count
                k = np.arange(SIDES)
                faces.append(np.stack([start + (k + 1) % SIDES, start + k, np.full(SIDES, base)], 1))
                count += 1
            chain_ranges.append((first_face, first_face + len(ring_faces), sum(len(f) for f in faces)))
            start += count
        self.offsets = offsets
        self.num_vertices = start
        self.faces = np.concatenate(faces).astype(np.int32)
        self.chain_ranges = chain_ranges

    def surface(self, joints: np.ndarray, rotation: np.ndarray, wrist: np.ndarray, arm_dir: np.ndarray,
                long_sleeves: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World-space hand surface for local ``joints`` placed by ``rotation``/``wrist``.

        Returns vertices ``(N, 3)``, per-vertex attributes ``(N, 3)`` (palm side, nail, crease),
        per-vertex material ids and collision spheres ``(K, 5)`` (centre, radius, finger id).
        """
        J = joints @ rotation.T + wrist
        frame = rotation @ self.palm_frame_local()
        radial, distal, volar = frame[:, 0], frame[:, 1], frame[:, 2]
        verts = np.zeros((self.num_vertices, 3))
        attr = np.zeros((self.num_vertices, 3))
        vmat = np.full(self.num_vertices, 4, np.int8)
        spheres = []
        s = self.palm_scale

        # Palm: boxy rings from the wrist to the knuckle line, slanted like the knuckles.
        o = self.offsets["palm"]
        knuckle, wrist_c, axis, length, side = _palm_axes(J, radial, volar)
        mid = (J[5] + J[17]) / 2 - knuckle
        ts = np.array([-0.02, 0.3, 0.62, 0.86, 1.0, 1.06])
        widths = np.array([0.028, 0.038, 0.043, 0.044, 0.041, 0.033]) * s
        thicks = np.array([0.0125, 0.0145, 0.0145, 0.0125, 0.0105, 0.0075]) * s
        slope = ((J[5] - J[17]) @ axis) / max((J[5] - J[17]) @ side, 1e-6)
        phi = 2 * np.pi * np.arange(SIDES) / SIDES
        c, sn = np.cos(phi), np.sin(phi)
        # Superellipse cross-section (exponent 2.6) for a flat, boxy palm.
        sx = np.sign(c) * np.abs(c) ** (2 / 2.6)
        sz = np.sign(sn) * np.abs(sn) ** (2 / 2.6)
        for r, (t, w, th) in enumerate(zip(ts, widths, thicks)):
            centre = wrist_c + axis * (t * length) + mid * t * 0.5
            lateral = sx * w
            ring = centre + np.outer(lateral, side) + np.outer(sz * th, volar) + np.outer(lateral * slope * min(t, 1.0), axis)
            verts[o + r * SIDES: o + (r + 1) * SIDES] = ring
            attr[o + r * SIDES: o + (r + 1) * SIDES, 0] = np.clip(sz * 1.2 + 0.2, 0, 1)
        top = o + self.palm_rings * SIDES
        verts[top] = wrist_c + axis * (1.07 * length)
        verts[top + 1] = wrist_c + axis * (-0.03 * length)
        attr[top, 0] = 0.5
        for t in (0.2, 0.5, 0.8):
            for u in (-0.6, 0.0, 0.6):
                centre = wrist_c + axis * (t * length) + side * u * 0.038 * s
                spheres.append((*centre, 0.0125 * s, 5))

        # Forearm: from the wrist toward the elbow along arm_dir.
        o = self.offsets["arm"]
        arm_dir = arm_dir / _norm3(arm_dir)
        arm_side = _cross3(arm_dir, volar)
        if _norm3(arm_side) < 1e-6:
            arm_side = side.copy()
        arm_side /= _norm3(arm_side)
        arm_up = _cross3(arm_side, arm_dir)
        dists = ARM_RING_DISTS
        aw = np.array([0.027, 0.029, 0.032, 0.036, 0.040]) * s
        at = ARM_RING_THICK * s
        for r, (d, w, th) in enumerate(zip(dists, aw, at)):
            centre = wrist_c + arm_dir * d
            ring = centre + np.outer(c * w, arm_side) + np.outer(sn * th, arm_up)
            verts[o + r * SIDES: o + (r + 1) * SIDES] = ring
            if long_sleeves and d > 0.05:
                vmat[o + r * SIDES: o + (r + 1) * SIDES] = 6
                spheres.append((*centre, th, 6))
            else:
                vmat[o + r * SIDES: o + (r + 1) * SIDES] = 5 if d > 0.02 else 4
                spheres.append((*centre, th, 6))
        verts[o + self.arm_rings * SIDES] = wrist_c + arm_dir * (dists[0] - 0.005)
        vmat[o + self.arm_rings * SIDES] = 4
        if long_sleeves:
            # The sleeve cuff: widen the sleeve rings a little so the cloth reads as separate from skin.
            for r in range(2, self.arm_rings):
                ring = verts[o + r * SIDES: o + (r + 1) * SIDES]
                centre = ring.mean(0)
                verts[o + r * SIDES: o + (r + 1) * SIDES] = centre + (ring - centre) * 1.18

        # Thumb and fingers.
        thenar = J[0] + radial * 0.011 * s + distal * 0.018 * s + volar * 0.006 * s
        toward_palm = -radial * 0.8 + volar * 0.6
        self._finger(verts, attr, spheres, self.offsets["thumb"], np.stack([thenar, J[1], J[2], J[3], J[4]]),
                     self.thumb_radii, toward_palm, 0)
        for f in range(4):
            j = 5 + 4 * f
            inside = J[j] - (J[j + 1] - J[j]) * 0.25 - volar * 0.002
            pts = np.stack([inside, J[j], J[j + 1], J[j + 2], J[j + 3]])
            radii = np.concatenate([[self.finger_radii[f, 0]], self.finger_radii[f]])
            self._finger(verts, attr, spheres, self.offsets[FINGERS[f + 1]], pts, radii, volar, f + 1)
        return verts, attr, vmat, np.array(spheres, np.float64)

    def collision_spheres(self, joints: np.ndarray, arm_dir: np.ndarray, rotation: np.ndarray | None = None,
                          wrist: np.ndarray | None = None) -> np.ndarray:
        """The collision spheres ``(K, 5)`` of ``surface(joints, rotation, wrist, arm_dir, ...)`` without the mesh.

        By default in the hand-local frame (``rotation`` the identity, ``wrist`` 0); the same rows, in the same
        order and to the bit, as ``surface``'s fourth output, which is what a search scoring many orientations of
        one pose needs (``surface`` costs a whole tube mesh).
        """
        if rotation is None:
            J = np.asarray(joints, np.float64)
            radial, distal, volar = np.diag(self.palm_frame_local()).copy() * np.eye(3)
        else:
            J = joints @ rotation.T + wrist
            frame = rotation @ self.palm_frame_local()
            radial, distal, volar = frame[:, 0], frame[:, 1], frame[:, 2]
        s = self.palm_scale
        spheres = []
        _, wrist_c, axis, length, side = _palm_axes(J, radial, volar)
        for t in (0.2, 0.5, 0.8):
            for u in (-0.6, 0.0, 0.6):
                centre = wrist_c + axis * (t * length) + side * u * 0.038 * s
                spheres.append((*centre, 0.0125 * s, 5))
        arm_dir = arm_dir / _norm3(arm_dir)
        for d, th in zip(ARM_RING_DISTS, ARM_RING_THICK * s):
            spheres.append((*(wrist_c + arm_dir * d), th, 6))
        thenar = J[0] + radial * 0.011 * s + distal * 0.018 * s + volar * 0.006 * s
        self._finger_spheres(spheres, np.stack([thenar, J[1], J[2], J[3], J[4]]), self.thumb_radii, 0)
        for f in range(4):
            j = 5 + 4 * f
            inside = J[j] - (J[j + 1] - J[j]) * 0.25 - volar * 0.002
            pts = np.stack([inside, J[j], J[j + 1], J[j + 2], J[j + 3]])
            radii = np.concatenate([[self.finger_radii[f, 0]], self.finger_radii[f]])
            self._finger_spheres(spheres, pts, radii, f + 1)
        return np.array(spheres, np.float64)

    @staticmethod
    def _finger_spheres(spheres, pts, radii, finger_id) -> None:
        """``_finger``'s collision spheres alone: three per segment plus the fingertip."""
        tip_dir = pts[-1] - pts[-2]
        tip_dir /= _norm3(tip_dir) + 1e-12
        r_tip = radii[-1]
        centres = list(pts[:-1]) + [pts[-1] - tip_dir * r_tip]
        rads = list(radii[:-1]) + [r_tip]
        for i in range(len(centres) - 1):
            for u in (0.0, 0.34, 0.67):
                spheres.append((*(centres[i] * (1 - u) + centres[i + 1] * u), rads[i] * (1 - u) + rads[i + 1] * u, finger_id))
        spheres.append((*centres[-1], r_tip, finger_id))

    def _finger(self, verts, attr, spheres, offset, pts, radii, volar_hint, finger_id) -> None:
        """Rings along a finger's joints, ending in a rounded tip exactly at the last joint."""
        n = len(pts)
        tip_dir = pts[-1] - pts[-2]
        tip_dir /= _norm3(tip_dir) + 1e-12
        r_tip = radii[-1]
        centres = list(pts[:-1]) + [pts[-1] - tip_dir * r_tip]
        rads = list(radii[:-1]) + [r_tip]
        tangents = []
        for i in range(len(centres)):
            a = centres[max(i - 1, 0)]
            b = centres[min(i + 1, len(centres) - 1)]
            t = b - a
            tangents.append(t / (_norm3(t) + 1e-12))
        phi = 2 * np.pi * np.arange(SIDES) / SIDES
        c, s = np.cos(phi), np.sin(phi)
        ring_index = 0
        nail_from = len(centres) - 2
        for i, (centre, rad, t) in enumerate(zip(centres, rads, tangents)):
            b1 = volar_hint - (volar_hint @ t) * t
            b1 /= _norm3(b1) + 1e-12
            b2 = _cross3(t, b1)
            ring = centre + rad * (np.outer(c, b1) + np.outer(s, b2))
            sl = slice(offset + ring_index * SIDES, offset + (ring_index + 1) * SIDES)
            verts[sl] = ring
            attr[sl, 0] = np.clip(c * 1.3 + 0.3, 0, 1)
            if i >= nail_from:
                attr[sl, 1] = np.clip(-c * 1.4 - 0.2, 0, 1) * (0.4 if i == nail_from else 1.0)
            if 1 < i < len(centres) - 1:
                attr[sl, 2] = np.clip(c, 0, 1) * 0.6
            ring_index += 1
        t = tip_dir
        b1 = volar_hint - (volar_hint @ t) * t
        b1 /= _norm3(b1) + 1e-12
        b2 = _cross3(t, b1)
        base = centres[-1]
        for ang in CAP_ANGLES:
            ring = base + t * r_tip * np.sin(ang) + r_tip * np.cos(ang) * (np.outer(c, b1) + np.outer(s, b2))
            sl = slice(offset + ring_index * SIDES, offset + (ring_index + 1) * SIDES)
            verts[sl] = ring
            attr[sl, 0] = np.clip(c * 1.3 + 0.3, 0, 1)
            attr[sl, 1] = np.clip(-c * 1.4 - 0.2, 0, 1) * (1.0 - ang / (90 * _D))
            ring_index += 1
        verts[offset + ring_index * SIDES] = pts[-1]
        attr[offset + ring_index * SIDES, 0] = 0.5
        self._finger_spheres(spheres, pts, radii, finger_id)


def _palm_axes(J: np.ndarray, radial: np.ndarray, volar: np.ndarray):
    """The palm's knuckle-line centre, wrist, unit wrist→knuckle axis, its length and the unit radial side."""
    knuckle = (J[5] + J[9] + J[13] + J[17]) / 4
    wrist_c = J[0]
    axis = knuckle - wrist_c
    length = _norm3(axis)
    axis /= length
    side = _cross3(axis, volar)
    side /= _norm3(side)
    side *= np.sign(side @ radial)
    return knuckle, wrist_c, axis, length, side


def _tube_faces(rings: int, sides: int, offset: int) -> np.ndarray:
    i, j = np.meshgrid(np.arange(rings - 1), np.arange(sides), indexing="ij")
    i, j = i.ravel(), j.ravel()
    jn = (j + 1) % sides
    a = offset + i * sides + j
    b = offset + i * sides + jn
    c = offset + (i + 1) * sides + jn
    d = offset + (i + 1) * sides + j
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
