"""The pattern's hand, moved from the synthetic actor's head onto the photo's lifted face, frame by frame.

The synthetic generator's choreography plans the hand in its actor's head frame. A similarity (Umeyama 1991) fitted
between the actor's 3-D iBUG-68 landmarks and the photo's lifted ones carries the whole plan over; faces differ in
proportions, so each frame's target is then re-anchored on the photo's own skin: the planned contact point is moved
by the moving-least-squares deformation of the two landmark sets (``pipelines.retarget.mls_affine``), looked up on
the photo's surface, and the anchor is placed at the planned height above it along the photo's normal, with the hand
turned by the difference between the two faces' normals there. What the hand then does to the skin is
``contact.solve_contact``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interanimate.data.annotate import ibug68_from_mesh
from interanimate.data.synth.choreography import InteractionPlan, anchor_point
from interanimate.data.synth.hand import HandModel
from interanimate.data.synth.head import HeadModel
from interanimate.pipelines.retarget import mls_affine
from interanimate.render.composite.face import PhotoFace

MAX_TURN_RAD = np.deg2rad(35.0)  # the largest normal correction applied to the hand


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


def sample_map(values: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``values (H, W, C)`` at a pixel coordinate (centres at +0.5)."""
    h, w = values.shape[:2]
    x = float(np.clip(pixel[0] - 0.5, 0, w - 1.001))
    y = float(np.clip(pixel[1] - 0.5, 0, h - 1.001))
    x0, y0 = int(x), int(y)
    fx, fy = x - x0, y - y0
    top = values[y0, x0] * (1 - fx) + values[y0, x0 + 1] * fx
    bottom = values[y0 + 1, x0] * (1 - fx) + values[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


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
                 long_sleeves: bool):
        self.face, self.head, self.hand, self.plan = face, head, hand, plan
        self.long_sleeves = long_sleeves
        lm_head = head.surface_points(*head.landmark_material(1.0).T)
        lm_photo = ibug68_from_mesh(face.vertices)
        self.scale, self.rotation, self.translation = umeyama(lm_head, lm_photo)
        self.mapped_landmarks_px = face.project(self._map(lm_head))
        self.photo_landmarks_px = face.landmarks
        self._offsets = self._anchor_corrections()

    def _map(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rotation.T + self.translation

    def _anchor_corrections(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame: (mapped target, photo target, turn) re-anchoring the plan on the photo's skin."""
        plan, head, face = self.plan, self.head, self.face
        material = np.array(plan.contact_material, np.float64)
        valid = np.isfinite(material).all(1)
        if not valid.any():
            material[:] = head.region_anchor(plan.pattern.region)
        elif not valid.all():
            index = np.flatnonzero(valid)
            nearest = index[np.abs(np.arange(len(material))[:, None] - index[None]).argmin(1)]
            material = material[nearest]
        out = []
        for f in range(plan.num_frames):
            a, y = material[f]
            surf = head.surface_points(np.array([a]), np.array([y]))[0]
            normal = head.surface_normals(np.array([a]), np.array([y]))[0]
            rel = plan.target[f] - surf
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
            out.append((self._map(plan.target[f]), target, turn))
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
        pose = plan.pose[f]
        joints_local = hand.joints_local(pose)
        anchor_local, _ = anchor_point(hand, pose, plan.anchor)
        rot = plan.rotation[f]
        wrist = plan.target[f] - rot @ anchor_local
        verts, attr, vmat, spheres = hand.surface(joints_local, rot, wrist, plan.arm_dir[f], self.long_sleeves)
        joints = joints_local @ rot.T + wrist
        mapped_target, photo_target, turn = self._offsets[f]

        def place(points: np.ndarray) -> np.ndarray:
            return (self._map(points) - mapped_target) @ turn.T + photo_target

        spheres = spheres.copy()
        spheres[:, :3] = place(spheres[:, :3])
        spheres[:, 3] *= self.scale
        return PlacedHand(place(verts), attr, vmat, spheres, place(joints))

    def to_photo_vector(self, f: int, vector: np.ndarray) -> np.ndarray:
        """A head-frame displacement (e.g. the plan's slide) in the photo's camera frame, same scale."""
        return self._offsets[f][2] @ (self.scale * self.rotation @ np.asarray(vector, np.float64))
