"""Clip rendering and dataset generation: ``render_clip`` (``plan_clip``: its performance without pixels) and
``generate_dataset``.

Determinism: a clip is a pure function of ``(seed, subject_index, pattern, clip_index)`` and the
render settings. Subjects draw from ``SeedSequence([seed, subject_index, 0])`` and clips from
``SeedSequence([seed, subject_index, pattern_id, clip_index, 1])``, so which worker renders a clip,
and in which order, never changes its content.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interanimate import __version__
from interanimate.data.annotations import CONTACT_CHANNEL, FACE_CHANNEL, HAND_CHANNELS, ClipAnnotations
from interanimate.data.manifest import ClipRecord
from interanimate.data.synth.choreography import InteractionPlan, anchor_point, head_motion, plan_interaction
from interanimate.data.synth.hand import HandModel
from interanimate.data.synth.head import HeadModel
from interanimate.data.synth.mesh import vertex_normals
from interanimate.data.synth.physics import ContactSolver, apply_kernels, make_kernel, mesh_penetration
from interanimate.data.synth.raster import MAT_HAND, OWNER_HAND, P_EYE_OPEN, cover, rasterize, shade, to_srgb8
from interanimate.data.synth.render import make_background, make_camera, make_lights, make_palette, rotation_xyz
from interanimate.data.synth.subject import SubjectParams, sample_subject
from interanimate.data.writer import finalize_dataset, write_clip_folder
from interanimate.taxonomy import Pattern, get_pattern

PRODUCER = "interanimate-synth"
MIN_SIZE, MAX_SIZE, MIN_FRAMES = 64, 512, 8
SYNTH_ORIGIN = "interanimate-synth"
REPORT_NAME = "synth_report.json"  # counts and rejects of the last run


@dataclass(frozen=True)
class ClipSpec:
    """What to render.

    Args:
        seed: dataset seed.
        subject_index: which subject (0-based).
        pattern: pattern name.
        clip_index: which clip of this subject and pattern.
        num_frames: frames per clip (>= 8).
        size: square frame size in pixels (64-512).
        fps: frames per second of the video and of the motion.
        motion_blur: average each frame with a half-frame-earlier sub-frame.
        hover_offset_m: when positive, the hand performs the pattern this many metres in front of the face
            (toward the camera) and never touches it: a hand-near-face negative for contact detection. Such
            a clip is unlabelled (no interaction happens); ``extra`` records the offset and the pattern mimed.
    """

    seed: int
    subject_index: int
    pattern: str
    clip_index: int = 0
    num_frames: int = 48
    size: int = 128
    fps: float = 25.0
    motion_blur: bool = False
    hover_offset_m: float = 0.0

    @property
    def subject_id(self) -> str:
        return f"synth{self.seed}-s{self.subject_index:05d}"

    @property
    def clip_id(self) -> str:
        return f"{self.subject_id}-{self.pattern}-c{self.clip_index:03d}"


@dataclass
class RenderedClip:
    """A rendered clip: frames ``(F, H, W, 3) uint8``, its annotations and its manifest record."""

    frames: np.ndarray
    annotations: ClipAnnotations
    record: ClipRecord
    plan: InteractionPlan | None = field(default=None, repr=False)


@dataclass
class PlannedClip:
    """A clip's performance without its pixels (``plan_clip``): the manifest record ``render_clip`` writes, the
    choreography, and the labels that follow from geometry alone.

    Arrays, as in ``ClipAnnotations``: ``contact (F, 2)``, ``contact_point (F, 2, 2)``, ``contact_region (F, 2)``,
    ``penetration (F,)`` (mm).
    """

    record: ClipRecord
    plan: InteractionPlan
    contact: np.ndarray
    contact_point: np.ndarray
    contact_region: np.ndarray
    penetration: np.ndarray


def check_spec(spec: ClipSpec) -> None:
    """Raise ``ValueError`` with one clear sentence when a spec cannot be rendered."""
    get_pattern(spec.pattern)
    if not MIN_SIZE <= spec.size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {spec.size}")
    if spec.num_frames < MIN_FRAMES:
        raise ValueError(f"frames must be at least {MIN_FRAMES} (approach, contact, action and retreat), got {spec.num_frames}")
    if spec.fps <= 0:
        raise ValueError(f"fps must be positive, got {spec.fps}")
    if spec.subject_index < 0 or spec.clip_index < 0:
        raise ValueError("subject and clip indices must be non-negative")
    if spec.hover_offset_m < 0:
        raise ValueError(f"hover_offset_m must be >= 0, got {spec.hover_offset_m}")


def subject_for(seed: int, subject_index: int) -> SubjectParams:
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject_index, 0]))
    return sample_subject(rng, f"synth{seed}-s{subject_index:05d}")


def _mesh_resolution(size: int) -> tuple[int, int]:
    if size <= 96:
        return 60, 84
    if size <= 192:
        return 80, 108
    return 120, 160


@functools.lru_cache(maxsize=8)
def subject_models(seed: int, subject_index: int, size: int) -> tuple[SubjectParams, HeadModel, dict]:
    subject = subject_for(seed, subject_index)
    rows, cols = _mesh_resolution(size)
    head = HeadModel(subject, rows, cols)
    hands = {side: HandModel(subject, side) for side in ("left", "right")}
    return subject, head, hands


class _FrameRenderer:
    """Per-clip buffers and static geometry, reused across the clip's frames."""

    def __init__(self, head: HeadModel, size: int):
        self.size = size
        self.head = head
        h = w = size
        self.layers = [
            (np.empty((h, w)), np.empty((h, w), np.int32), np.empty((h, w)), np.empty((h, w))) for _ in range(2)
        ]
        self.rgb = np.empty((h, w, 3))
        self.depth = np.empty((h, w))
        self.deformation = np.empty((h, w))
        self.face_mask = np.empty((h, w), bool)
        self.hand_mask = np.empty((h, w), bool)
        self.contact_mask = np.empty((h, w), bool)
        self.owner = np.empty((h, w), np.int8)

    def clear(self):
        for z, t, b1, b2 in self.layers:
            z.fill(np.inf)
            t.fill(-1)
        self.deformation.fill(0.0)
        self.face_mask.fill(False)
        self.hand_mask.fill(False)
        self.contact_mask.fill(False)

    def draw(self, camera, head_v, head_n, head_f, head_mat, head_vmat, head_disp, head_contact,
             hand_v, hand_n, hand_f, hand_attr, hand_vmat, feat, pal, lights, ambient, spheres, bound, background,
             hand_only_f):
        self.clear()
        (hz, ht, hb1, hb2), (kz, kt, kb1, kb2) = self.layers
        rasterize(head_v, head_f, camera.fx, camera.fy, camera.cx, camera.cy, hz, ht, hb1, hb2, 0.05)
        rasterize(hand_v, hand_f, camera.fx, camera.fy, camera.cx, camera.cy, kz, kt, kb1, kb2, 0.05)
        shade(head_v, head_n, head_f, head_mat, head_vmat, head_disp, head_contact, hz, ht, hb1, hb2,
              hand_v, hand_n, hand_f, hand_attr, hand_vmat, kz, kt, kb1, kb2,
              feat, pal, lights, ambient, spheres, bound, background,
              self.rgb, self.depth, self.deformation, self.face_mask, self.hand_mask, self.contact_mask, self.owner)
        # The hand mask is amodal: a finger behind the forearm or the head still belongs to the hand.
        self.hand_mask.fill(False)
        cover(hand_v, hand_only_f, camera.fx, camera.fy, camera.cx, camera.cy, self.hand_mask, 0.05)


def _drive_kernels(plan: InteractionPlan, head: HeadModel, frame: int, joints_head: np.ndarray, hand: HandModel) -> np.ndarray:
    """Gesture-driven skin motion for one frame: pinch gather/bulge/pull, stroke drag and bow wave."""
    rows = []
    if not plan.expect_contact[frame]:
        return np.zeros((0, 16))
    fam = plan.pattern.family
    a, y = plan.contact_material[frame]
    centre = head.surface_points(np.array([a]), np.array([y]))[0]
    normal = head.surface_normals(np.array([a]), np.array([y]))[0]
    if fam == "pinch":
        tip_t, tip_i = joints_head[4], joints_head[8]
        mid = (tip_t + tip_i) / 2
        mid_a, mid_y = head.material_of(mid[None])
        mid_s = head.surface_points(mid_a, mid_y)[0]
        sep = max(np.linalg.norm(tip_i - tip_t), 0.008)
        squeeze = plan.squeeze[frame]
        if plan.pattern.region != "nose":
            rows.append(make_kernel(mid_s, normal, amp_normal=min(0.004, 0.45 * squeeze), length=min(0.3 * sep, 0.01)))
        for tip in (tip_t, tip_i):
            toward = mid - tip
            toward -= (toward @ normal) * normal
            toward /= np.linalg.norm(toward) + 1e-12
            # Skin is gathered toward the midpoint, but slips under the pads beyond a few millimetres.
            rows.append(make_kernel(tip, normal, tangent=toward, amp_tangent=min(0.5 * squeeze, 0.003), length=0.005))
        if plan.pull[frame] > 0:
            # Sized so the skin under both fingertips (half the separation from the middle) rises as far
            # as the hand pulls, and the fold between them a little further.
            length = min(0.3 * sep + 0.005, 0.012)
            under_tips = np.exp(-0.5 * (0.5 * sep / length) ** 2)
            rows.append(make_kernel(mid_s, normal, amp_normal=min(1.25 / under_tips, 3.0) * plan.pull[frame], length=length))
    elif fam in ("stroke", "swipe"):
        velocity = plan.slide[frame]
        speed = np.linalg.norm(velocity)
        if speed > 1e-5:
            direction = velocity / speed
            drag = min(0.003, 0.7 * plan.press[frame]) if fam == "stroke" else min(0.0015, 0.5 * plan.press[frame])
            rows.append(make_kernel(centre, normal, tangent=direction, amp_tangent=drag, length=0.009))
            rows.append(make_kernel(centre + direction * 0.008, normal, amp_normal=0.3 * plan.press[frame], length=0.006))
    return np.array(rows).reshape(-1, 16)


@dataclass
class _Clip:
    """A clip's draws and static state: everything ``render_clip`` fixes before its first frame."""

    spec: ClipSpec
    pattern: Pattern
    subject: SubjectParams
    head: HeadModel
    hand: HandModel
    side: str
    plan: InteractionPlan
    motion: dict
    camera: object
    placement: dict
    lights: object
    ambient: np.ndarray
    light_info: dict
    background: np.ndarray
    background_kind: str
    palette: np.ndarray
    exposure: float
    solver: ContactSolver
    base_rot: np.ndarray
    base_t: np.ndarray
    shake: np.ndarray

    @property
    def hover(self) -> bool:
        return self.spec.hover_offset_m > 0

    @property
    def hand_index(self) -> int:
        return 0 if self.side == "left" else 1


def _set_up(spec: ClipSpec) -> _Clip:
    """The clip's draws, in the order that fixes them (hand, plan, head motion, camera, lights, look)."""
    check_spec(spec)
    pattern: Pattern = get_pattern(spec.pattern)
    subject, head, hands = subject_models(spec.seed, spec.subject_index, spec.size)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, spec.subject_index, pattern.id, spec.clip_index, 1]))
    side = "right" if rng.random() < 0.7 else "left"
    hand = hands[side]
    F, S = spec.num_frames, spec.size
    plan = plan_interaction(pattern, head, hand, F, rng)
    if spec.hover_offset_m > 0:
        # Same performance, moved toward the camera (the head frame's -z) and with no skin drive: skin
        # under a hovering hand does not move.
        plan.target = plan.target + np.array([0.0, 0.0, -spec.hover_offset_m])
        plan.expect_contact = np.zeros_like(plan.expect_contact)
    motion = head_motion(F, spec.fps, rng)
    camera, placement = make_camera(rng, S)
    lights, ambient, light_info = make_lights(rng)
    background, background_kind = make_background(rng, S)
    ambient = ambient * (0.6 + 0.8 * background.reshape(-1, 3).mean(0) / max(background.mean(), 1e-3) * 0.5)
    pal = make_palette(subject, rng)
    exposure = float(rng.uniform(0.85, 1.1))
    base_rot = rotation_xyz(placement["yaw"], placement["pitch"], placement["roll"])
    base_t = np.array([placement["offset"][0], placement["offset"][1], placement["distance"]])
    shake_rng = np.random.default_rng(np.random.SeedSequence([spec.seed, spec.subject_index, pattern.id, spec.clip_index, 2]))
    shake = shake_rng.normal(0, placement["shake"], (F, 3)) if placement["shake"] > 0 else np.zeros((F, 3))
    return _Clip(spec, pattern, subject, head, hand, side, plan, motion, camera, placement, lights, ambient,
                 light_info, background, background_kind, pal, exposure, ContactSolver(head), base_rot, base_t, shake)


def _head_pose(clip: _Clip, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Head rotation and translation in camera coordinates at frame ``f`` (head motion, then camera shake)."""
    motion = clip.motion
    rot = clip.base_rot @ rotation_xyz(motion["yaw"][f], motion["pitch"][f], motion["roll"][f])
    cam_rot = rotation_xyz(clip.shake[f, 0], clip.shake[f, 1], clip.shake[f, 2])
    return cam_rot @ rot, cam_rot @ (clip.base_t + motion["translation"][f])


def _hand_placement(clip: _Clip, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The planned hand at frame ``f`` in the head frame: local joints, rotation, wrist and forearm direction."""
    plan, hand = clip.plan, clip.hand
    pose = plan.pose[f]
    joints_local = hand.joints_local(pose)
    anchor_local, _ = anchor_point(hand, pose, plan.anchor)
    hand_rot = plan.rotation[f]
    wrist = plan.target[f] - hand_rot @ anchor_local
    return joints_local, hand_rot, wrist, plan.arm_dir[f]


@dataclass
class _Contact:
    """The contact solve of one frame (head frame): hand offset, skin displacement and weights, solver result."""

    offset: np.ndarray
    disp: np.ndarray
    contact_w: np.ndarray
    mesh_pen: float
    result: object


def _resolve_contact(clip: _Clip, f: int, spheres: np.ndarray, joints_head: np.ndarray) -> _Contact:
    """Push the planned hand (its collision ``spheres``) out of the skin and deform the skin under it."""
    head, solver = clip.head, clip.solver
    nsurf = head.num_surface_vertices
    head_base = head.vertices
    drive = _drive_kernels(clip.plan, head, f, joints_head, clip.hand)
    finger_rows = spheres[:, 4] < 6
    offset = np.zeros(3)
    disp = np.zeros((nsurf, 3))
    contact_w = np.zeros(nsurf)
    mesh_pen = 0.0
    # Analytic resolution against the radial surface, then a check on the deformed mesh itself
    # (it also catches contacts the radial parametrisation sees poorly, e.g. under the chin).
    for _ in range(8):
        shifted = spheres.copy()
        shifted[:, :3] += offset
        result = solver.solve(shifted, drive)
        offset = offset + result.offset
        shifted[:, :3] += result.offset
        if len(result.kernels):
            apply_kernels(head_base[:nsurf], result.kernels, disp, contact_w)
        else:
            disp[:] = 0.0
            contact_w[:] = 0.0
        skin = head_base[:nsurf] + disp
        finger_spheres = shifted[finger_rows]
        lo = finger_spheres[:, :3].min(0) - 0.02
        hi = finger_spheres[:, :3].max(0) + 0.02
        near = np.all((skin > lo) & (skin < hi), axis=1)
        mesh_pen, push = mesh_penetration(skin[near], finger_spheres) if near.any() else (0.0, np.zeros(3))
        if mesh_pen <= solver.tolerance:
            break
        offset = offset + push * (mesh_pen + 0.1e-3)
    else:
        # Still above tolerance: keep the last skin state and back the hand out until it is free.
        for _ in range(8):
            finger_spheres = spheres[finger_rows].copy()
            finger_spheres[:, :3] += offset
            mesh_pen, push = mesh_penetration(skin[near], finger_spheres) if near.any() else (0.0, np.zeros(3))
            if mesh_pen <= solver.tolerance:
                break
            offset = offset + push * (mesh_pen + 0.1e-3)
    return _Contact(offset, disp, contact_w, mesh_pen, result)


def _contact_label(result, head: HeadModel, head_rot: np.ndarray, head_t: np.ndarray, camera) -> tuple | None:
    """``(pixel, region)`` of the solver's contact centre, or ``None`` when it touches no face skin in the frame.

    Only touches of face skin count (the solver reports none for hair, ears or neck).
    """
    if not result.touching.any() or result.contact_centre is None:
        return None
    centre_head = result.contact_centre
    a, y = head.material_of(centre_head[None])
    region = int(head.regions(a, y)[0])
    centre_cam = centre_head @ head_rot.T + head_t
    cp = camera.project(centre_cam[None])[0]
    S = camera.width
    if region >= 0 and (0 <= cp[0] <= S) and (0 <= cp[1] <= S):
        return np.clip(cp, 0.0, S - 1e-3), region
    return None


def _joints_in_frame(px: np.ndarray, size: int) -> np.ndarray:
    # In the frame = within the span of pixel centres: a joint in the outer half pixel is seen by no pixel
    # sample (a fingertip there has no hand pixel around it), so it is reported as outside.
    return (px[:, 0] >= 0.5) & (px[:, 0] <= size - 0.5) & (px[:, 1] >= 0.5) & (px[:, 1] <= size - 0.5)


def _hand_only_faces(hand: HandModel, materials: np.ndarray) -> np.ndarray:
    """The hand's faces without the forearm's (the amodal hand mask covers these)."""
    return hand.faces[(materials[hand.faces] == MAT_HAND).all(1)]


def _record(clip: _Clip, max_push: float) -> ClipRecord:
    spec, pattern, plan, hover = clip.spec, clip.pattern, clip.plan, clip.hover
    S = spec.size
    return ClipRecord(
        clip_id=spec.clip_id, subject_id=spec.subject_id, pattern=None if hover else pattern.name, fps=float(spec.fps),
        num_frames=spec.num_frames,
        width=S, height=S, source={"kind": "synthetic", "origin": SYNTH_ORIGIN},
        extra={
            "generator": PRODUCER, "generator_version": __version__, "seed": spec.seed,
            "subject_index": spec.subject_index, "clip_index": spec.clip_index, "dominant_hand": clip.side,
            "motion_blur": spec.motion_blur, "subject": clip.subject.to_dict(), "camera": clip.camera.to_dict(),
            "placement": _rounded(clip.placement), "lights": _rounded(clip.light_info),
            "background": clip.background_kind,
            "choreography": _rounded(plan.params), "phases": plan.phase.tolist(),
            "planned_contact": plan.expect_contact.tolist(), "max_hand_pushback_mm": round(max_push * 1e3, 3),
            "penetration_tolerance_mm": clip.solver.tolerance * 1e3,
            **({"hover_offset_m": spec.hover_offset_m, "mimed_pattern": pattern.name} if hover else {}),
        },
    )


def plan_clip(spec: ClipSpec) -> PlannedClip:
    """``render_clip``'s performance without its pixels: the same record, plan, contact labels and penetration.

    The choreography, head motion and contact solve run as in ``render_clip``, but nothing is shaded or rasterised
    except the hand's amodal mask, and that only in frames whose solve touches face skin (a contact is labelled
    only while the hand is present, and presence needs a hand pixel). Contact flags, points, regions and
    penetration equal ``render_clip``'s to the bit.
    """
    clip = _set_up(spec)
    head, hand, camera, hand_index = clip.head, clip.hand, clip.camera, clip.hand_index
    F, S = spec.num_frames, spec.size
    contact = np.zeros((F, 2), bool)
    contact_point = np.full((F, 2, 2), np.nan, np.float32)
    contact_region = np.full((F, 2), -1, np.int8)
    penetration = np.zeros(F, np.float32)
    hand_mask = np.empty((S, S), bool)
    hand_only_faces = None
    max_push = 0.0
    for f in range(F):
        head_rot, head_t = _head_pose(clip, f)
        joints_local, hand_rot, wrist, arm_dir = _hand_placement(clip, f)
        spheres = hand.collision_spheres(joints_local, arm_dir, hand_rot, wrist)  # surface's, without the mesh
        joints_head = joints_local @ hand_rot.T + wrist
        solved = _resolve_contact(clip, f, spheres, joints_head)
        max_push = max(max_push, float(np.linalg.norm(solved.offset)))
        penetration[f] = solved.mesh_pen * 1e3
        label = _contact_label(solved.result, head, head_rot, head_t, camera)
        if label is None:
            continue
        joints_cam = (joints_head + solved.offset) @ head_rot.T + head_t
        if not _joints_in_frame(camera.project(joints_cam), S).any():
            continue
        hand_v, _, hand_vmat, _ = hand.surface(joints_local, hand_rot, wrist, arm_dir, clip.subject.long_sleeves)
        if hand_only_faces is None:  # the materials are the same in every frame
            hand_only_faces = _hand_only_faces(hand, hand_vmat)
        hand_cam = (hand_v + solved.offset) @ head_rot.T + head_t
        hand_mask.fill(False)
        cover(hand_cam, hand_only_faces, camera.fx, camera.fy, camera.cx, camera.cy, hand_mask, 0.05)
        if hand_mask.any():
            contact[f, hand_index] = True
            contact_point[f, hand_index], contact_region[f, hand_index] = label
    return PlannedClip(_record(clip, max_push), clip.plan, contact, contact_point, contact_region, penetration)


def render_clip(spec: ClipSpec, keep_plan: bool = False) -> RenderedClip:
    """Render one clip with every annotation of the contract (synthetic arrays included)."""
    clip = _set_up(spec)
    subject, head, hand, plan, camera = clip.subject, clip.head, clip.hand, clip.plan, clip.camera
    motion, pal = clip.motion, clip.palette
    lights, ambient, background = clip.lights, clip.ambient, clip.background
    hand_index = clip.hand_index
    F, S = spec.num_frames, spec.size
    renderer = _FrameRenderer(head, S)

    base_rot, base_t = clip.base_rot, clip.base_t
    nsurf = head.num_surface_vertices
    head_base = head.vertices
    body_cam = head.body_vertices @ base_rot.T + base_t + np.array([0, 0.004, 0])
    body_normals = np.zeros_like(body_cam)
    vertex_normals(body_cam, head.body_faces, body_normals)
    faces_all = np.concatenate([head.faces, head.body_faces + len(head_base)]).astype(np.int32)
    material_all = np.concatenate([head.material, head.body_material]).astype(np.float64)
    vmat_all = np.concatenate([head.vmat, head.body_vmat])
    disp_all = np.zeros(len(material_all))
    contact_all = np.zeros(len(material_all))
    normals_all = np.zeros((len(material_all), 3))
    feat = head.features

    ann = ClipAnnotations.empty(F, S, S)
    ann.pattern_id = -1 if clip.hover else clip.pattern.id
    ann.depth = np.zeros((F, S, S), np.float32)
    ann.deformation = np.zeros((F, S, S), np.float32)
    ann.penetration = np.zeros(F, np.float32)
    ann.joints_3d = np.full((F, 2, 21, 3), np.nan, np.float32)
    frames = np.zeros((F, S, S, 3), np.uint8)
    previous = None
    max_push = 0.0
    srgb = np.empty((S, S, 3), np.uint8)

    for f in range(F):
        head_rot, head_t = _head_pose(clip, f)
        pal[P_EYE_OPEN] = motion["eye_open"][f]

        # Hand placement in the head frame, then contact resolution.
        joints_local, hand_rot, wrist, arm_dir = _hand_placement(clip, f)
        hand_v, hand_attr, hand_vmat, spheres = hand.surface(joints_local, hand_rot, wrist, arm_dir, subject.long_sleeves)
        if f == 0:
            hand_only_faces = _hand_only_faces(hand, hand_vmat)
        joints_head = joints_local @ hand_rot.T + wrist
        solved = _resolve_contact(clip, f, spheres, joints_head)
        offset, disp, contact_w, result = solved.offset, solved.disp, solved.contact_w, solved.result
        max_push = max(max_push, float(np.linalg.norm(offset)))
        hand_v = hand_v + offset
        spheres = spheres.copy()
        spheres[:, :3] += offset
        joints_head = joints_head + offset
        head_def = head_base.copy()
        head_def[:nsurf] += disp
        lm_material = head.landmark_material(float(motion["eye_open"][f]))
        lm_base = head.surface_points(lm_material[:, 0], lm_material[:, 1])
        lm_disp = np.zeros((68, 3))
        lm_c = np.zeros(68)
        if len(result.kernels):
            apply_kernels(lm_base, result.kernels, lm_disp, lm_c)
        landmarks_head = lm_base + lm_disp
        # Reported on the rendered geometry: the deepest deformed skin vertex inside the hand.
        ann.penetration[f] = solved.mesh_pen * 1e3

        # To camera coordinates.
        head_cam = head_def @ head_rot.T + head_t
        hand_cam = hand_v @ head_rot.T + head_t
        spheres_cam = spheres.copy()
        spheres_cam[:, :3] = spheres[:, :3] @ head_rot.T + head_t
        joints_cam = joints_head @ head_rot.T + head_t
        landmarks_cam = landmarks_head @ head_rot.T + head_t
        verts_all = np.concatenate([head_cam, body_cam])
        head_normals = normals_all[: len(head_cam)]
        vertex_normals(head_cam, head.faces, head_normals)
        normals_all[len(head_cam):] = body_normals
        disp_all[:nsurf] = np.linalg.norm(disp, axis=1) * 1e3
        contact_all[:nsurf] = contact_w
        hand_normals = np.zeros_like(hand_cam)
        vertex_normals(hand_cam, hand.faces, hand_normals)
        bound_c = spheres_cam[:, :3].mean(0)
        bound = np.append(bound_c, np.max(np.linalg.norm(spheres_cam[:, :3] - bound_c, axis=1) + spheres_cam[:, 3]))
        renderer.draw(camera, verts_all, normals_all, faces_all, material_all, vmat_all, disp_all, contact_all,
                      hand_cam, hand_normals, hand.faces, hand_attr, hand_vmat, feat, pal, lights, ambient,
                      spheres_cam, bound, background, hand_only_faces)
        image = renderer.rgb.copy()
        if spec.motion_blur and previous is not None:
            mid = [(a + b) / 2 for a, b in zip(previous, (verts_all, hand_cam, spheres_cam))]
            vertex_normals(mid[0][: len(head_cam)], head.faces, head_normals)
            hand_mid_normals = np.zeros_like(hand_cam)
            vertex_normals(mid[1], hand.faces, hand_mid_normals)
            depth_keep = renderer.depth.copy()
            masks_keep = (renderer.face_mask.copy(), renderer.hand_mask.copy(), renderer.contact_mask.copy(),
                          renderer.deformation.copy(), renderer.owner.copy())
            renderer.draw(camera, mid[0], normals_all, faces_all, material_all, vmat_all, disp_all, contact_all,
                          mid[1], hand_mid_normals, hand.faces, hand_attr, hand_vmat, feat, pal, lights, ambient,
                          mid[2], bound, background, hand_only_faces)
            image = 0.5 * (image + renderer.rgb)
            renderer.depth[:] = depth_keep
            (renderer.face_mask[:], renderer.hand_mask[:], renderer.contact_mask[:], renderer.deformation[:],
             renderer.owner[:]) = masks_keep
        previous = (verts_all.copy(), hand_cam.copy(), spheres_cam.copy())
        to_srgb8(image, clip.exposure, srgb)
        frames[f] = srgb

        # ---- annotations ----
        ann.depth[f] = renderer.depth
        ann.deformation[f] = renderer.deformation
        ann.masks[f, FACE_CHANNEL] = renderer.face_mask
        _fill_frame_annotations(ann, f, camera, renderer, landmarks_cam, joints_cam, hand_index, result, head,
                                head_rot, head_t, offset)

    for f in range(F):
        face = ann.masks[f, FACE_CHANNEL]
        if face.any():
            ys, xs = np.nonzero(face)
            ann.face_box[f] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return RenderedClip(frames, ann, _record(clip, max_push), plan if keep_plan else None)


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 5)
    if isinstance(obj, (np.floating,)):
        return round(float(obj), 5)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


def _fill_frame_annotations(ann, f, camera, renderer, landmarks_cam, joints_cam, hand_index, result, head,
                            head_rot, head_t, offset):
    S = camera.width
    owner = renderer.owner
    depth = renderer.depth
    # Face landmarks: always reported while the face is on screen; confidence drops with hand occlusion.
    lm_px = camera.project(landmarks_cam)
    inside = (lm_px[:, 0] >= 0) & (lm_px[:, 0] <= S) & (lm_px[:, 1] >= 0) & (lm_px[:, 1] <= S)
    if renderer.face_mask.any() and inside.mean() > 0.5:
        ann.face_present[f] = True
        ann.face_keypoints[f] = lm_px
        ix = np.clip(lm_px[:, 0].astype(int), 0, S - 1)
        iy = np.clip(lm_px[:, 1].astype(int), 0, S - 1)
        hidden = (owner[iy, ix] == OWNER_HAND) & (depth[iy, ix] < landmarks_cam[:, 2] - 0.002)
        ann.face_confidence[f] = float(np.clip(1.0 - 0.6 * hidden.mean() - 0.5 * (1 - inside.mean()), 0.05, 1.0))

    # Hand keypoints with occlusion-aware confidence. The contract calls a hand present when at least one
    # keypoint lies in the frame (keypoints outside it have confidence 0); a hand that only grazes the
    # border with its palm or forearm is absent, and so is its mask.
    hand_mask = renderer.hand_mask
    px = camera.project(joints_cam)
    inside = _joints_in_frame(px, S)
    present = bool(inside.any() and hand_mask.any())
    if present:
        ann.joints_3d[f, hand_index] = joints_cam
        ann.hand_present[f, hand_index] = True
        ann.hand_keypoints[f, hand_index, :, :2] = px
        ix = np.clip(px[:, 0].astype(int), 0, S - 1)
        iy = np.clip(px[:, 1].astype(int), 0, S - 1)
        visible = owner[iy, ix] == OWNER_HAND
        conf = np.where(visible, 1.0, 0.5) * inside
        ann.hand_keypoints[f, hand_index, :, 2] = conf
        ann.masks[f, HAND_CHANNELS[hand_index]] = hand_mask
    label = _contact_label(result, head, head_rot, head_t, camera) if present else None
    if label is not None:
        cp, region = label
        ann.contact[f, hand_index] = True
        ann.contact_point[f, hand_index] = cp
        ann.contact_region[f, hand_index] = region
        contact_mask = renderer.contact_mask
        # The contact point is the centre of the deepest dent, so its pixel is in contact even when a
        # small dent covers no mesh vertex at this resolution.
        contact_mask[int(cp[1]), int(cp[0])] = True
        ann.masks[f, CONTACT_CHANNEL] = contact_mask


# ---- datasets ------------------------------------------------------------------------------------

def _render_and_write(root: str, spec: ClipSpec) -> dict:
    """The unit of work of ``synth``: render one clip and publish its folder atomically."""
    start = time.perf_counter()
    clip = render_clip(spec)
    render_s = time.perf_counter() - start
    write_clip_folder(Path(root), clip.record, clip.frames, clip.annotations,
                      video_metadata={"comment": "synthetic: rendered by interanimate-synth", "synthetic": "1"})
    return {"frames": spec.num_frames, "render_s": render_s, "seconds": time.perf_counter() - start}


def dataset_specs(seed: int, num_subjects: int, clips_per_pattern: int, patterns: tuple[Pattern, ...],
                  num_frames: int, size: int, fps: float, motion_blur: bool = False) -> list[ClipSpec]:
    return [ClipSpec(seed, s, p.name, c, num_frames, size, fps, motion_blur)
            for s in range(num_subjects) for p in patterns for c in range(clips_per_pattern)]


def generate_dataset(out: str | Path, num_subjects: int, clips_per_pattern: int, num_frames: int = 48, size: int = 128,
                     seed: int = 0, patterns: tuple[Pattern, ...] | None = None, workers: int = 1, fps: float = 25.0,
                     motion_blur: bool = False, test_fraction: float = 0.1, progress: bool = True,
                     engine: str = "local", address: str | None = None) -> dict:
    """Render a dataset into ``out`` (resumable: finished clips are skipped). Returns a summary dict.

    ``engine``, ``workers`` and ``address`` choose where clips render (``interanimate.data.jobs``); the dataset is
    the same whichever is chosen.
    """
    from interanimate.data.jobs import JobItem, check_engine, run_jobs
    from interanimate.data.writer import DatasetWriter
    from interanimate.taxonomy import PATTERNS

    check_engine(engine, workers, address)
    patterns = tuple(patterns) if patterns else PATTERNS
    specs = dataset_specs(seed, num_subjects, clips_per_pattern, patterns, num_frames, size, fps, motion_blur)
    for spec in specs[:1]:
        check_spec(spec)
    config = {"seed": seed, "subjects": num_subjects, "clips_per_pattern": clips_per_pattern, "frames": num_frames,
              "size": size, "fps": fps, "patterns": [p.name for p in patterns], "motion_blur": motion_blur}
    _check_same_settings(Path(out), config)
    writer = DatasetWriter(Path(out), PRODUCER, __version__, test_fraction=test_fraction, split_seed=seed, config=config)
    work = functools.partial(_render_and_write, str(writer.root))
    try:
        report = run_jobs([JobItem(s.clip_id, s) for s in specs], work,
                          done=lambda item: writer.has_clip(item.id), engine=engine, workers=workers,
                          address=address, progress=progress, desc="synth", unit="clip")
    finally:
        records = finalize_dataset(writer.root, PRODUCER, __version__, test_fraction, seed, config)
    report.write(writer.root / REPORT_NAME)
    rendered_frames = sum(r["frames"] for r in report.results.values())
    render_seconds = sum(r["render_s"] for r in report.results.values())
    elapsed = report.seconds
    return {
        "out": str(writer.root), "clips_total": len(records), "clips_written": len(report.results),
        "clips_skipped": len(report.skipped), "clips_rejected": len(report.rejects), "report": report,
        "frames_rendered": rendered_frames, "seconds": elapsed,
        "frames_per_second": rendered_frames / elapsed if elapsed > 0 else 0.0,
        "render_frames_per_second": rendered_frames / render_seconds if render_seconds > 0 else 0.0,
        "subjects": len({r.subject_id for r in records}),
        "splits": {s: sum(1 for r in records if r.split == s) for s in ("train", "test")},
    }


def _check_same_settings(out: Path, config: dict) -> None:
    """Refuse to extend a dataset rendered with another seed or clip settings: its card could describe only one."""
    from interanimate.data.manifest import CARD_NAME, read_card
    from interanimate.errors import UserError

    if not (out / CARD_NAME).is_file():
        return
    old = read_card(out).get("config", {})
    differ = [key for key in ("seed", "frames", "size", "fps", "motion_blur") if key in old and old[key] != config[key]]
    if differ:
        shown = ", ".join(f"{key} {old[key]!r} (now {config[key]!r})" for key in differ)
        raise UserError(f"--out {out} holds a synthetic dataset made with {shown}; use the same settings to extend "
                        "or resume it, or choose another --out")
