"""``render_composite``: the reference photo itself, moved, touched and deformed, with the 3-D hand composited in.

Per clip: lift the photo's face (``face``), act the pattern with the synthetic generator's choreography and carry it
onto this face (``placement``), and fix the appearance (skin tone, lighting, noise) from the photo. Per frame:
resolve the contact on the photo's skin (``contact``), warp the photo by head motion and deformation (``warp``), cast
the hand's shadow (``shadow``), draw the hand in the photo's light, smeared along its motion on fast passes (``hand_render``),
add the photo's sensor noise to it, and read every label off the same geometry (``labels``). The photo blinks at
the generator's natural times (``face.Eyelids``). ``render_driven`` does the same with the hand posed by inverse
kinematics on a driving video's keypoints (``placement.fit_driving_hand``, ``ik``) and the head following its face.
"""

from __future__ import annotations

import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
from numba import njit

from interanimate.data.annotations import ClipAnnotations
from interanimate.data.schema import HAND_SIDES
from interanimate.data.synth.choreography import head_motion
from interanimate.data.synth.generator import subject_models
from interanimate.data.synth.hand import HandModel
from interanimate.data.synth.hand_mesh import SkinnedHand
from interanimate.data.synth.raster import MAT_HAND
from interanimate.data.synth.render import rotation_xyz
from interanimate.pipelines.errors import AnimateError
from interanimate.pipelines.reference_face import ReferenceFace
from interanimate.render.composite.contact import SkinSurface, solve_contact
from interanimate.render.composite.face import PhotoFace, build_face
from interanimate.render.composite.hand_render import (
    SUPERSAMPLE, HandAppearance, occlusion_probes, render_hand, surface_coordinates,
)
from interanimate.render.composite.labels import fill_frame
from interanimate.render.composite.lighting import dominant_direction
from interanimate.render.composite.placement import (
    DrivenHand, Retargeter, eye_openness, fit_driving_hand, head_poses,
)
from interanimate.render.composite.shadow import hand_shadow
from interanimate.render.composite.warp import FaceWarper, HeadPose
from interanimate.taxonomy import PATTERN_IDS, get_pattern

ORIGIN = "interanimate-composite"
HEAD_MOTION_SCALE = 0.5  # of the generator's natural head motion: a photo warp stays convincing for small turns
DRIVEN_KEY = 1000  # seeds a driven clip's draws apart from every pattern's (pattern ids are below it)
BLINKS = True  # the lids close on the photo at the synthetic generator's natural blink times
SHUTTER = 0.25  # exposure as a fraction of the frame interval
BLUR_PX = 1.5  # hand travel during the exposure (px) above which a frame is motion-blurred
SHADOW_TINT = np.array([0.8, 1.0, 1.15])
SHADOW_REACH_M = 0.12  # skin this far (in the image plane) from the hand's spheres is tested for its shadow
HAND_SOFTEN_PX = 0.45  # optical softness given to the drawn hand, like the photo's own lens and resampling
SOFTEN_REACH_PX = 4  # beyond the softening kernel's reach (its radius is 2 px at 0.45 px) and its mirrored border
# Unless a hand is asked for, a cheek is touched by the hand on its own side: reaching across the face, a hand must
# hold its knuckles at the camera to clear the nose, end-on, and its forearm crosses the mouth and chin.
SAME_SIDE_HAND = {"cheek_left": "left", "cheek_right": "right"}
SLEEVES = np.array([[0.05, 0.06, 0.09], [0.12, 0.12, 0.13], [0.20, 0.05, 0.05], [0.03, 0.10, 0.06],
                    [0.30, 0.28, 0.25]])


@dataclass
class CompositeClip:
    """Frames ``(F, H, W, 3) uint8`` (no watermark yet), the labels, and what made them."""

    frames: np.ndarray
    annotations: ClipAnnotations
    info: dict
    timings: dict = field(default_factory=dict)


class _Clock:
    def __init__(self):
        self.seconds = defaultdict(float)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] += now - self._last
        self._last = now


def _appearance(face: PhotoFace, hand: HandModel | SkinnedHand, rng: np.random.Generator) -> HandAppearance:
    # The SH fit is albedo × irradiance; a typical face receives about 0.8 of its peak irradiance on average.
    albedo = np.clip(face.skin_linear / 0.8, 0.02, 1.0)
    skinned = isinstance(hand, SkinnedHand)
    return HandAppearance(sh=face.sh, skin_albedo=albedo, sleeve_albedo=SLEEVES[rng.integers(len(SLEEVES))],
                          mottle=rng.uniform(-1.0, 1.0, hand.num_vertices), texture=surface_coordinates(hand),
                          noise_seed=int(rng.integers(1 << 20)),
                          occluders=occlusion_probes(hand) if skinned else None,
                          occluder_scale=hand.hand.palm_scale if skinned else 1.0)


def _streak(travel: np.ndarray) -> np.ndarray:
    """Normalised line kernel over the image path the hand covered while the shutter was open."""
    reach = int(np.ceil(np.abs(travel).max()))
    size = 2 * reach + 1
    kernel = np.zeros((size, size), np.float32)
    scale = 16  # sub-pixel line ends (cv2's shift)
    # filter2D correlates: the pixel at x collects the hand drawn at x + t·travel, t in [0, 1].
    end = np.round((np.array([reach, reach]) + travel) * scale).astype(int)
    cv2.line(kernel, (reach * scale, reach * scale), (int(end[0]), int(end[1])), 1.0, 1, cv2.LINE_AA, shift=4)
    return kernel / max(float(kernel.sum()), 1e-6)


def _box_around(points_px: np.ndarray, pad: float, height: int, width: int) -> tuple[int, int, int, int]:
    lo = np.floor(points_px.min(0) - pad).astype(int)
    hi = np.ceil(points_px.max(0) + pad).astype(int)
    return max(lo[1], 0), min(hi[1], height), max(lo[0], 0), min(hi[0], width)


@njit(cache=True)
def _srgb255(x):
    """``255 · linear_to_srgb(x)`` of a float32, in single precision."""
    x = min(max(x, np.float32(0.0)), np.float32(1.0))
    if x <= np.float32(0.0031308):
        v = np.float32(12.92) * x
    else:
        v = np.float32(1.055) * x ** np.float32(1 / 2.4) - np.float32(0.055)
    return v * np.float32(255.0)


SRGB_BUCKET_SHIFT = 14  # float32 bit patterns per bucket of the sRGB byte table: 2^14 (65k buckets over [0, 1])


@njit(cache=True)
def _srgb_steps(top):
    """``steps (257,)``: ``steps[k]`` is the first float32 bit pattern in [0, ``top``] whose byte is at least ``k``
    (bisection over the bit patterns: the curve rises monotonically)."""
    steps = np.empty(257, np.int64)
    steps[0], steps[256] = -1, top + 1
    for k in range(1, 256):
        lo, hi = 0, top  # byte(lo) < k <= byte(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if round(_srgb255(np.array(np.int32(mid)).view(np.float32)[()])) >= k:
                hi = mid
            else:
                lo = mid
        steps[k] = hi
    return steps


@lru_cache(maxsize=1)
def _srgb_table() -> tuple[np.ndarray, np.ndarray]:
    """Exact bytes of ``round(_srgb255(x))`` by table: ``_srgb_steps`` and each bucket's byte at its first value."""
    top = int(np.float32(1.0).view(np.int32))
    steps = _srgb_steps(top)
    starts = np.arange(0, top + (1 << SRGB_BUCKET_SHIFT), 1 << SRGB_BUCKET_SHIFT)
    return steps, (np.searchsorted(steps, starts, side="right") - 1).astype(np.int64)


@njit(cache=True)
def _composite_bytes(linear, colour, alpha, y0, x0, noise, steps, buckets, out):
    """``out (H, W, 3) uint8``: the hand layer (premultiplied ``colour``, ``alpha`` of the box at ``y0, x0``) over
    ``linear``, in sRGB, plus the sensor ``noise`` (grey levels, the box's shape; empty for none) weighted by the
    coverage.
    Outside the box the byte comes from ``_srgb_table`` (the same byte, without the power)."""
    one = np.float32(1.0)
    h, w = alpha.shape
    noisy = noise.size > 0
    top = steps[256] - 1  # the bit pattern of 1.0
    photo_bits = linear.view(np.int32)
    for i in range(linear.shape[0]):
        for j in range(linear.shape[1]):
            if y0 <= i < y0 + h and x0 <= j < x0 + w:
                a = alpha[i - y0, j - x0]
                for c in range(3):
                    v = _srgb255(linear[i, j, c] * (one - a) + colour[i - y0, j - x0, c])
                    if noisy:
                        v = np.float32(v + noise[i - y0, j - x0] * a)
                    out[i, j, c] = min(max(round(v), 0), 255)
            else:
                for c in range(3):
                    bits = min(max(np.int64(photo_bits[i, j, c]), 0), top)  # the float's order is its bits' (x >= 0)
                    k = buckets[bits >> SRGB_BUCKET_SHIFT]
                    while bits >= steps[k + 1]:
                        k += 1
                    out[i, j, c] = k


def _grown(box: tuple[int, int, int, int], pad: int, height: int, width: int) -> tuple[slice, slice]:
    """``box`` (y0, y1, x0, x1) grown by ``pad`` pixels and clipped to the frame, as slices."""
    return (slice(max(box[0] - pad, 0), min(box[1] + pad, height)),
            slice(max(box[2] - pad, 0), min(box[3] + pad, width)))


_last_surface: tuple = (lambda: None, None)  # (weak reference to a PhotoFace, its SkinSurface)


def _skin_surface(face: PhotoFace) -> SkinSurface:
    """The photo's ``SkinSurface`` (a per-photo constant: every clip of one photo shares it)."""
    global _last_surface
    if _last_surface[0]() is not face:
        _last_surface = (weakref.ref(face), SkinSurface(face))
    return _last_surface[1]


def _check_reference(reference: ReferenceFace) -> None:
    if reference.mesh is None:
        raise AnimateError(f"reference {reference.name!r} carries no face mesh; load it with load_reference")


def _rngs(seed: int, key: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The clip's draws (head motion, then appearance) and its sensor-noise stream."""
    return (np.random.default_rng(np.random.SeedSequence([seed, key, 13])),
            np.random.default_rng(np.random.SeedSequence([seed, key, 14])))


def _performance(pattern: str, num_frames: int, fps: float, seed: int, hand: str | None):
    """The synthetic performance's plan (not its frames) acted with ``hand``; without one, a cheek with the hand on
    its own side (``SAME_SIDE_HAND``) where the generator has such a performance, else the generator's choice."""
    from interanimate.pipelines.motion import synthesize_performance

    side = hand or SAME_SIDE_HAND.get(get_pattern(pattern).region)
    try:
        return synthesize_performance(pattern, num_frames, fps, seed, side, pixels=False)
    except AnimateError:
        if hand is not None or side is None:
            raise
        return synthesize_performance(pattern, num_frames, fps, seed, None, pixels=False)


def render_composite(reference: ReferenceFace, pattern: str, num_frames: int, fps: float, seed: int,
                     hand: str | None = None, face: PhotoFace | None = None) -> CompositeClip:
    """Render ``pattern`` on ``reference`` (framed, with its mesh); see the module docstring."""
    from interanimate.pipelines.motion import SYNTH_ACTOR_SIZE

    _check_reference(reference)
    clock = _Clock()
    face = face or build_face(reference.image, reference.mesh)
    clock.lap("face")
    info_pattern = get_pattern(pattern)
    actor = _performance(pattern, num_frames, fps, seed, hand)
    plan = actor.plan
    subject, head, hands = subject_models(seed, 0, SYNTH_ACTOR_SIZE)
    retarget = Retargeter(face, head, hands[plan.hand_side], plan, long_sleeves=False, fps=fps)
    rng, noise_rng = _rngs(seed, info_pattern.id)
    motion = head_motion(num_frames, fps, rng)
    poses = [HeadPose(rotation_xyz(*(HEAD_MOTION_SCALE * motion[k][f] for k in ("yaw", "pitch", "roll"))),
                      HEAD_MOTION_SCALE * motion["translation"][f]) for f in range(num_frames)]
    clip = _composite(face, retarget, poses, motion["eye_open"], _appearance(face, retarget.hand, rng),
                      noise_rng, clock)
    clip.annotations.pattern_id = info_pattern.id
    extra = actor.record.extra
    clip.info = {"renderer": ORIGIN, "synthetic_clip_id": actor.record.clip_id, "acting_hand": plan.hand_side,
                 "choreography": extra["choreography"], "planned_contact": extra["planned_contact"],
                 "target_region_share": extra.get("target_region_share"), "retarget_scale": round(retarget.scale, 4),
                 **clip.info}
    return clip


def render_driven(reference: ReferenceFace, motion, seed: int, hand: str | None = None,
                  face: PhotoFace | None = None) -> CompositeClip:
    """Render a driving video's performance (``pipelines.motion.Motion`` on ``reference``) with the 3-D hand.

    The photo's head follows the driving face (``placement.head_poses``) and blinks with it
    (``placement.eye_openness``); the hand model is posed by inverse
    kinematics on the driving hand's 21 keypoints (``placement.fit_driving_hand``); contact, deformation and every
    label then come from the geometry, as for patterns.
    """
    from interanimate.pipelines.motion import SYNTH_ACTOR_SIZE

    _check_reference(reference)
    clock = _Clock()
    face = face or build_face(reference.image, reference.mesh)
    clock.lap("face")
    if motion.acting_hand is None or not motion.hand_present.any():
        raise AnimateError("the driving video shows no hand to follow")
    h = HAND_SIDES.index(motion.acting_hand)
    if not motion.hand_present[:, h].any():
        h = int(np.argmax(motion.hand_present.sum(axis=0)))
    poses = head_poses(face, motion.face_keypoints.astype(np.float64))
    _, _, hands = subject_models(seed, 0, SYNTH_ACTOR_SIZE)
    points = np.where(motion.contact[:, h, None], motion.contact_point[:, h], np.nan).astype(np.float64)
    driven = fit_driving_hand(face, hands, motion.hand_keypoints[:, h].astype(np.float64), motion.hand_present[:, h],
                              points, poses, side=hand)
    source = DrivenHand(face, hands[driven.side], driven, poses)
    clock.lap("ik")
    rng, noise_rng = _rngs(seed, DRIVEN_KEY)
    eye_open = eye_openness(motion.face_keypoints)  # the photo blinks when the driving face does
    clip = _composite(face, source, poses, eye_open, _appearance(face, source.hand, rng), noise_rng, clock)
    clip.annotations.pattern_id = PATTERN_IDS[motion.pattern] if motion.pattern else -1
    clip.info = {"renderer": ORIGIN, "acting_hand": driven.side, "driving": motion.info.get("driving"),
                 "ik_hand_scale": round(driven.hand_scale, 4), "ik_rms_px": round(driven.rms_px, 3),
                 "driving_hand_frames": int(motion.hand_present[:, h].sum()),
                 "driving_contact_frames": int(motion.contact[:, h].sum()), **clip.info}
    return clip


def _composite(face: PhotoFace, source, poses: list, eye_open: np.ndarray, look: HandAppearance,
               noise_rng: np.random.Generator, clock: _Clock) -> CompositeClip:
    """The frame loop shared by patterns and driving videos: ``source.frame(f)`` is the hand before contact."""
    num_frames = len(poses)
    hand_model = source.hand
    surface = _skin_surface(face)
    warper = FaceWarper(face)
    light = dominant_direction(face.sh)
    grey = face.sh.mean(1)
    direct = float(np.clip(1.2 * np.linalg.norm(grey[1:4]) / max(grey[0], 1e-4), 0.2, 0.5))
    hand_index = HAND_SIDES.index(hand_model.side)
    first = source.frame(0)  # also the loop's first frame
    hand_only = hand_model.faces[(first.materials[hand_model.faces] == MAT_HAND).all(1)]
    clock.lap("plan")

    height, width = face.height, face.width
    ann = ClipAnnotations.empty(num_frames, height, width)
    ann.depth = np.zeros((num_frames, height, width), np.float32)
    ann.deformation = np.zeros((num_frames, height, width), np.float32)
    ann.penetration = np.zeros(num_frames, np.float32)
    ann.joints_3d = np.full((num_frames, 2, 21, 3), np.nan, np.float32)
    ann.face_dense = np.zeros((num_frames, 478, 3), np.float32)
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    previous = None
    max_shift, max_pushback = 0.0, 0.0
    for f in range(num_frames):
        placed = first if f == 0 else source.frame(f)
        contact = solve_contact(placed, source.plan, f, surface, source.scale, source.slide(f))
        max_pushback = max(max_pushback, contact.pushback_m)
        clock.lap("contact")
        pose = poses[f]
        blink = float(1.0 - eye_open[f]) if BLINKS else 0.0
        warped = warper(pose, contact.kernels, blink)
        max_shift = max(max_shift, warped.max_shift_px)
        clock.lap("warp")
        vertices = pose.apply(contact.hand.vertices, face.pivot)
        joints = pose.apply(contact.hand.joints, face.pivot)
        spheres = contact.hand.spheres.copy()
        spheres[:, :3] = pose.apply(spheres[:, :3], face.pivot)
        face_depth = np.where(warped.face_mask, warped.depth, np.inf)
        # Shadow and occlusion on the skin near the hand.
        finger_px = face.project(spheres[spheres[:, 4] < 6, :3])
        box = _box_around(finger_px, SHADOW_REACH_M * face.px_per_m, height, width)
        linear = warped.linear
        if box[0] < box[1] and box[2] < box[3]:
            # Only the box is shaded (the shade is 1 outside it): its skin points and normals are all it needs.
            inside = np.s_[box[0]:box[1], box[2]:box[3]]
            shade = hand_shadow(warped.points_in(inside), warped.normals_in(inside), warped.face_mask[inside],
                                spheres[spheres[:, 4] < 6], light, direct, (0, box[1] - box[0], 0, box[3] - box[2]))
            # Skin scatters red light into its own shadows: the shadow deepens least in red.
            linear = linear.copy()
            sy, sx = np.nonzero(shade < 1.0)  # the unshadowed rest keeps its colour exactly
            linear[box[0] + sy, box[2] + sx] *= (shade[sy, sx][:, None] ** SHADOW_TINT).astype(np.float32)
        clock.lap("shadow")
        layer = render_hand(vertices, hand_model.faces, placed.attributes, placed.materials, face.camera, face_depth,
                            look)
        # The layer is zero outside its drawn box: smear, soften and composite only there (and as far as the
        # filters reach), with the same result as over the whole frame.
        drawn = (layer.origin[1], layer.origin[1] + layer.zbuf.shape[0] // SUPERSAMPLE,
                 layer.origin[0], layer.origin[0] + layer.zbuf.shape[1] // SUPERSAMPLE)
        reach = SOFTEN_REACH_PX
        if previous is not None:
            # The shutter is open for the last SHUTTER of the frame interval: smear the layer along the hand's
            # image motion over that time (a line kernel; the hand's motion within a frame is nearly a translation).
            travel = (face.project(joints) - face.project(previous[1])).mean(0) * SHUTTER
            if float(np.linalg.norm(travel)) > BLUR_PX:
                kernel = _streak(travel)
                smear = _grown(drawn, kernel.shape[0] // 2 + 1, height, width)
                layer.colour[smear] = cv2.filter2D(layer.colour[smear], -1, kernel, borderType=cv2.BORDER_CONSTANT)
                layer.alpha[smear] = cv2.filter2D(layer.alpha[smear], -1, kernel, borderType=cv2.BORDER_CONSTANT)
                reach += kernel.shape[0] // 2 + 1
        previous = (vertices, joints)
        inside = _grown(drawn, reach, height, width)
        colour = cv2.GaussianBlur(layer.colour[inside], (0, 0), HAND_SOFTEN_PX)
        alpha = cv2.GaussianBlur(layer.alpha[inside], (0, 0), HAND_SOFTEN_PX)
        # Only the hand receives the sensor noise: it is drawn over the composited box alone.
        noise = (noise_rng.normal(0.0, face.noise_sigma, alpha.shape) if face.noise_sigma > 0 else np.zeros((0, 0)))
        _composite_bytes(linear, colour, alpha, inside[0].start, inside[1].start, noise, *_srgb_table(), frames[f])
        clock.lap("hand")
        lids = warper.eyelids.closed_face(face, blink)  # the mesh with its lids where the warp drew them
        fill_frame(ann, f, lids, pose, contact.kernels, warped, layer, vertices, hand_only, joints, hand_index,
                   contact.contact_point, contact.region, contact.penetration_mm)
        clock.lap("labels")
    from interanimate.data.annotate import true_runs

    ann.contact_segments = np.array(true_runs(ann.contact.any(axis=1)), np.int32).reshape(-1, 2)
    info = {"max_deformation_shift_px": round(max_shift, 2), "max_hand_pushback_mm": round(max_pushback * 1e3, 2),
            "px_per_mm": round(face.px_per_m / 1000, 3), "noise_sigma": round(face.noise_sigma, 2)}
    return CompositeClip(frames=frames, annotations=ann, info=info, timings=dict(clock.seconds))
