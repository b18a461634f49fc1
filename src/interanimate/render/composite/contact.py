"""Contact physics on the photo's skin: collision-free placement, indentation, pinch bulge and stroke drag.

The kernels are the synthetic generator's (``data.synth.physics``: a thin elastic layer over bone for dents, with
per-region compliance and tissue length; Gaussian drive fields for what a gesture does to the skin); here they act on
the photo's lifted surface, sampled as a point cloud of the mesh's pixels. Per frame:

1. Fingers and palm may touch (the choreography brings the working fingertips, its anchors, to the skin); the forearm
   keeps ``CLEARANCE_M`` from it. A sphere may press the skin in as far as the region's compliance allows; any deeper
   intrusion moves the whole hand back along the skin normal.
2. Every touching sphere dents the skin (``dent_kernel``); the gesture adds its drive field.
3. The deformed skin is checked against the hand's spheres (``mesh_penetration``) and the hand is backed out until
   the deepest skin point inside it is under ``TOLERANCE_M``; what remains is the frame's penetration label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from interanimate.data.synth.choreography import InteractionPlan
from interanimate.data.synth.physics import (
    COMPLIANCE, TISSUE, CONTACT_EPS, DEFAULT_TOLERANCE_MM, apply_kernels, dent_kernel, make_kernel,
    mesh_penetration,
)
from interanimate.render.composite.face import PhotoFace
from interanimate.render.composite.placement import PlacedHand

CLEARANCE_M = 0.5e-3
TOLERANCE_M = DEFAULT_TOLERANCE_MM * 1e-3
FAR_M = 0.02  # beyond this distance from the skin, inside/outside is read along the camera ray
MAX_POINTS = 60_000  # the skin point cloud is subsampled to about this many pixels


class SkinSurface:
    """The photo's skin as a point cloud with normals and face regions, for nearest-point queries."""

    def __init__(self, face: PhotoFace):
        ys, xs = np.nonzero(face.face_mask)
        step = max(1, int(np.ceil(np.sqrt(len(ys) / MAX_POINTS))))
        keep = (ys % step == 0) & (xs % step == 0)
        ys, xs = ys[keep], xs[keep]
        self.pixels = np.stack([xs + 0.5, ys + 0.5], 1)
        self.points = face.points[ys, xs].astype(np.float64)
        self.normals = face.normals[ys, xs].astype(np.float64)
        self.regions = face.regions(self.pixels)
        self.tree = cKDTree(self.points)
        self.face = face
        self.spacing = float(np.median(self.tree.query(self.points[:2000], k=2)[0][:, 1]))

    def query(self, centres: np.ndarray, radii: np.ndarray):
        """Signed gap (m, < 0 inside the skin) of spheres, their skin foot points, normals and regions."""
        dist, idx = self.tree.query(centres)
        foot, normal = self.points[idx], self.normals[idx]
        side = np.einsum("ij,ij->i", centres - foot, normal)
        far = dist > FAR_M
        if far.any():
            # Far from the skin the nearest point's normal says little (beside the head it is the silhouette's):
            # a camera-facing surface hides what lies behind it along the pixel's ray, and nothing else.
            pixel = self.face.project(centres[far])
            h, w = self.face.face_mask.shape
            ix = np.clip(pixel[:, 0].astype(int), 0, w - 1)
            iy = np.clip(pixel[:, 1].astype(int), 0, h - 1)
            over = self.face.face_mask[iy, ix] & (pixel[:, 0] >= 0) & (pixel[:, 0] < w) & (pixel[:, 1] >= 0) \
                & (pixel[:, 1] < h)
            behind = over & (centres[far, 2] > self.face.points[iy, ix, 2])
            side[far] = np.where(behind, -1.0, 1.0)
        gap = np.where(side >= 0, dist, -dist) - radii
        return gap, foot, normal, self.regions[idx]

    def near(self, spheres: np.ndarray, margin: float) -> np.ndarray:
        """Indices of skin points within ``margin`` of any sphere's surface."""
        hits = self.tree.query_ball_point(spheres[:, :3], spheres[:, 3] + margin)
        return np.unique(np.concatenate([np.asarray(h, np.int64) for h in hits])) if len(hits) else np.zeros(0, int)


@dataclass
class ContactFrame:
    """One frame's resolved contact (reference-pose camera frame, metres)."""

    hand: PlacedHand
    kernels: np.ndarray  # (K, 16)
    touching: bool
    contact_point: np.ndarray | None  # (3,) the deepest dent's foot on the undeformed skin
    region: int
    penetration_mm: float
    pushback_m: float


def _drive(plan: InteractionPlan, f: int, hand: PlacedHand, surface: SkinSurface, foot: np.ndarray,
           normal: np.ndarray, scale: float, slide: np.ndarray) -> list[np.ndarray]:
    """The gesture's own skin motion (the generator's drive field, on the photo's skin)."""
    family = plan.pattern.family
    rows = []
    if family == "pinch":
        thumb = hand.spheres[np.flatnonzero(hand.spheres[:, 4] == 0)[-1], :3]
        index = hand.spheres[np.flatnonzero(hand.spheres[:, 4] == 1)[-1], :3]
        mid = (thumb + index) / 2
        _, mid_foot, mid_normal, _ = surface.query(mid[None], np.zeros(1))
        sep = max(float(np.linalg.norm(index - thumb)), 0.008)
        squeeze = float(plan.squeeze[f]) * scale
        if plan.pattern.region != "nose":
            rows.append(make_kernel(mid_foot[0], mid_normal[0], amp_normal=min(0.004, 0.45 * squeeze),
                                    length=min(0.3 * sep, 0.01)))
        for tip in (thumb, index):
            toward = mid - tip
            toward -= (toward @ mid_normal[0]) * mid_normal[0]
            toward /= np.linalg.norm(toward) + 1e-12
            rows.append(make_kernel(tip, mid_normal[0], tangent=toward, amp_tangent=min(0.5 * squeeze, 0.003),
                                    length=0.005))
        pull = float(plan.pull[f]) * scale
        if pull > 0:
            length = min(0.3 * sep + 0.005, 0.012)
            under_tips = np.exp(-0.5 * (0.5 * sep / length) ** 2)
            rows.append(make_kernel(mid_foot[0], mid_normal[0], amp_normal=min(1.25 / under_tips, 3.0) * pull,
                                    length=length))
    elif family in ("stroke", "swipe"):
        speed = float(np.linalg.norm(slide))
        if speed > 1e-5:
            direction = slide / speed
            press = float(plan.press[f]) * scale
            drag = min(0.003, 0.7 * press) if family == "stroke" else min(0.0015, 0.5 * press)
            rows.append(make_kernel(foot, normal, tangent=direction, amp_tangent=drag, length=0.009))
            rows.append(make_kernel(foot + direction * 0.008, normal, amp_normal=0.3 * press, length=0.006))
    return rows


def _lift(points: np.ndarray, normals: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """How far the drive field moves skin ``points`` along their ``normals``."""
    if not len(kernels):
        return np.zeros(len(points))
    disp = np.zeros_like(points)
    weight = np.zeros(len(points))
    apply_kernels(np.ascontiguousarray(points), kernels, disp, weight)
    return np.einsum("ij,ij->i", disp, normals)


def solve_contact(hand: PlacedHand, plan: InteractionPlan, f: int, surface: SkinSurface, scale: float,
                  slide: np.ndarray) -> ContactFrame:
    """Resolve frame ``f``'s hand against the skin; see the module docstring."""
    planned = bool(plan.expect_contact[f])
    dentable = hand.spheres[:, 4] < 6
    radii = hand.spheres[:, 3]

    solved: dict[bytes, tuple] = {}  # the second loop starts where the first stopped: that state is known

    def state(offset):
        key = offset.tobytes()
        if key not in solved:
            solved.clear()
            solved[key] = _state(offset)
        return solved[key]

    def _state(offset):
        placed = hand.moved(offset)
        gap, foot, normal, region = surface.query(placed.spheres[:, :3], radii)
        drive = np.zeros((0, 16))
        if planned:
            k = int(np.argmin(np.where(dentable, gap, np.inf)))
            drive = np.array(_drive(plan, f, placed, surface, foot[k], normal[k], scale, slide)).reshape(-1, 16)
        return placed, gap - _lift(foot, normal, drive), foot, normal, region, drive

    offset = np.zeros(3)
    for _ in range(10):
        placed, gap, foot, normal, region, drive = state(offset)
        push = np.zeros(3)
        arm = ~dentable
        if arm.any():
            k = np.flatnonzero(arm)[np.argmin(gap[arm])]
            if gap[k] < CLEARANCE_M:
                push = normal[k] * (CLEARANCE_M - gap[k] + 0.05e-3)
        excess = np.where(dentable, -gap - COMPLIANCE[region], -np.inf)
        k = int(np.argmax(excess))
        if excess[k] > 0:
            push = push + normal[k] * (excess[k] + 0.05e-3)
        if not push.any():
            break
        offset = offset + push
    pushback = float(np.linalg.norm(offset))
    penetration = 0.0
    for _ in range(6):
        placed, gap, foot, normal, region, drive = state(offset)
        depth = np.where(dentable, -gap, 0.0)
        dents = [dent_kernel(foot[i], normal[i], float(depth[i]), float(radii[i]), float(TISSUE[region[i]]))
                 for i in np.flatnonzero(depth > CONTACT_EPS)]
        touching = bool(dents)
        deepest = int(np.argmax(depth)) if touching else -1
        kernels = np.concatenate([drive, np.array(dents).reshape(-1, 16)]) if touching else drive
        fingers = placed.spheres[dentable]
        near = surface.near(fingers, 0.004)
        skin = surface.points[near].copy()
        if len(near) and len(kernels):
            disp = np.zeros_like(skin)
            weight = np.zeros(len(skin))
            apply_kernels(skin, kernels, disp, weight)
            skin += disp
        penetration, direction = mesh_penetration(skin, fingers) if len(skin) else (0.0, np.zeros(3))
        if penetration <= TOLERANCE_M:
            break
        offset = offset + direction * (penetration - 0.5 * TOLERANCE_M + 0.05e-3)
    point = foot[deepest] if touching else None
    return ContactFrame(hand=placed, kernels=kernels, touching=touching, contact_point=point,
                        region=int(region[deepest]) if touching else -1, penetration_mm=float(penetration * 1e3),
                        pushback_m=max(pushback, float(np.linalg.norm(offset))))
