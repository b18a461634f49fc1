"""A fast 2-D "sketch" clip generator: flat cartoon faces touched by a flat hand, labelled exactly.

It exists to exercise the dataset contract end to end at scale (thousands of clips per minute) without
the 3-D generator: every label is derived from the same geometry that is drawn, so a sketch dataset is
a valid InterHF dataset that validates, trains and packs. It is not a substitute for
``interanimate.data.synth`` when appearance matters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from interanimate import __version__
from interanimate.data import schema
from interanimate.data.annotations import ClipAnnotations
from interanimate.data.manifest import ClipRecord
from interanimate.data.writer import DatasetWriter
from interanimate.taxonomy import FACE_REGIONS, PATTERNS, Pattern, resolve_patterns

# Region centres on a unit face (x right in the image, y down, face ellipse of radii 1 x 1.3).
# The subject's left cheek is on the image's right for a frontal face.
_REGION_CENTRES = {
    "forehead": (0.0, -0.85), "nose": (0.0, 0.05), "chin": (0.0, 1.1), "cheek_left": (0.55, 0.25),
    "cheek_right": (-0.55, 0.25), "mouth": (0.0, 0.55), "jaw": (0.62, 0.85), "eye_left": (0.38, -0.3),
    "eye_right": (-0.38, -0.3), "temple_left": (0.85, -0.45), "temple_right": (-0.85, -0.45),
}


def _unit_face_landmarks() -> np.ndarray:
    """A frontal iBUG-68 layout on the unit face (68, 2)."""
    points = np.zeros((68, 2), np.float64)
    t = np.linspace(np.pi * 0.05, np.pi * 0.95, 17)  # jaw: 0 at the image's left, along the lower half
    points[0:17] = np.stack([-np.cos(t) * 0.98, np.sin(t) * 1.25 - 0.05], axis=1)
    for start, sign in ((17, -1), (22, 1)):  # brows: 17-21 image-left, 22-26 image-right
        xs = np.linspace(0.15, 0.75, 5) * sign
        xs = xs if sign > 0 else xs[::-1]
        points[start:start + 5] = np.stack([xs, -0.55 - 0.12 * np.sin(np.linspace(0, np.pi, 5))], axis=1)
    points[27:31] = np.stack([np.zeros(4), np.linspace(-0.35, 0.05, 4)], axis=1)
    points[31:36] = np.stack([np.linspace(-0.22, 0.22, 5), 0.18 + 0.05 * np.cos(np.linspace(-1.3, 1.3, 5))], axis=1)
    for start, cx in ((36, -0.38), (42, 0.38)):
        a = np.array([np.pi, 2.3, 0.85, 0.0, -0.85, -2.3])  # corner, upper lid, corner, lower lid
        points[start:start + 6] = np.stack([cx + 0.16 * np.cos(a), -0.3 - 0.07 * np.sin(a)], axis=1)
    a = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    points[48:60] = np.stack([0.33 * np.cos(a), 0.55 - 0.12 * np.sin(a)], axis=1)
    a = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    points[60:68] = np.stack([0.22 * np.cos(a), 0.55 - 0.04 * np.sin(a)], axis=1)
    return points


UNIT_FACE = _unit_face_landmarks()


_FACE_DEPTH = 0.5
_HAND_DEPTH = 0.47


@dataclass(frozen=True)
class SketchConfig:
    num_frames: int = 16
    size: int = 64
    fps: float = 15.0


def _rng(seed: int, *keys: object) -> np.random.Generator:
    digest = hashlib.sha256(repr((seed,) + keys).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _hand_pose(tip: np.ndarray, direction: np.ndarray, scale: float, spread: float, curl: float) -> np.ndarray:
    """21 hand keypoints (21, 2) with the index fingertip at ``tip``, the hand extending along ``-direction``."""
    direction = direction / np.linalg.norm(direction)
    normal = np.array([-direction[1], direction[0]])
    wrist = tip - direction * scale * 2.0
    points = np.zeros((21, 2))
    points[0] = wrist
    lengths = np.array([0.55, 0.45, 0.35, 0.3]) * scale
    for finger in range(5):
        angle = (finger - 1.0) * spread  # index (finger 1) points straight at the target
        fdir = direction * np.cos(angle) + normal * np.sin(angle)
        base = wrist + fdir * scale * (0.9 if finger else 0.5) + normal * (0.35 * scale if finger == 0 else 0)
        bend = 0.0 if finger == 1 else curl
        current, heading = base, fdir
        points[1 + 4 * finger] = base
        for joint in range(1, 4):
            rot = np.array([[np.cos(bend), -np.sin(bend)], [np.sin(bend), np.cos(bend)]])
            heading = rot @ heading
            current = current + heading * lengths[joint]
            points[1 + 4 * finger + joint] = current
    return points + (tip - points[8])  # pin the index fingertip exactly on the target


def render_sketch_clip(pattern: Pattern | None, subject_seed: int, clip_seed: int,
                       config: SketchConfig = SketchConfig()) -> tuple[np.ndarray, ClipAnnotations, dict]:
    """Render one sketch clip: ``(frames (F, H, W, 3) uint8, annotations, facts)``."""
    size, num_frames = config.size, config.num_frames
    subject = _rng(subject_seed, "subject")
    rng = _rng(clip_seed, "clip")
    skin = subject.uniform([90, 60, 40], [240, 200, 170])
    background = subject.uniform(20, 120, 3)
    radius = size * subject.uniform(0.22, 0.28)
    centre = np.array([size / 2, size / 2]) + rng.normal(0, size * 0.02, 2)
    aspect = np.array([1.0, 1.3]) * radius
    annotations = ClipAnnotations.empty(num_frames, size, size)
    annotations.pattern_id = pattern.id if pattern else -1
    region = pattern.region if pattern else FACE_REGIONS[int(rng.integers(len(FACE_REGIONS)))]
    target_unit = np.array(_REGION_CENTRES[region]) + rng.normal(0, 0.05, 2)
    hand = int(rng.integers(2))  # 0 = subject's left hand
    # The subject's left hand enters from the image's right for a frontal face.
    approach = np.array([1.0 if hand == 0 else -1.0, 0.6]) + rng.normal(0, 0.15, 2)
    hand_scale = radius * rng.uniform(0.42, 0.5)
    contact_start, contact_end = int(num_frames * 0.35), int(num_frames * 0.7)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    # The sketch world is two flat layers facing a pinhole camera (focal length = image size): the face
    # plane at FACE_DEPTH metres and the hand plane a few centimetres in front of it.
    focal = float(size)
    annotations.depth = np.zeros((num_frames, size, size), np.float16)
    annotations.deformation = np.zeros((num_frames, size, size), np.float16)  # flat skin does not deform
    annotations.penetration = np.zeros(num_frames, np.float32)  # the hand layer never crosses the face layer
    annotations.joints_3d = np.full((num_frames, 2, 21, 3), np.nan, np.float32)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    for f in range(num_frames):
        wobble = np.array([np.sin(f * 0.4), np.cos(f * 0.3)]) * size * 0.005
        face_centre = centre + wobble
        # Unit-face coordinates already include the 1 x 1.3 ellipse, so they scale by the radius alone.
        landmarks = face_centre + UNIT_FACE * radius
        target = face_centre + target_unit * radius
        if f < contact_start:
            distance = (contact_start - f) / max(contact_start, 1)
        elif f < contact_end:
            distance = 0.0
        else:
            distance = (f - contact_end + 1) / max(num_frames - contact_end, 1)
        tip = target + approach / np.linalg.norm(approach) * distance * radius * 1.2
        keypoints = _hand_pose(tip, -approach, hand_scale, spread=0.25, curl=0.5)
        canvas = np.empty((size, size, 3), np.uint8)
        canvas[:] = background.astype(np.uint8)
        face_mask = ((xx - face_centre[0]) / aspect[0]) ** 2 + ((yy - face_centre[1]) / aspect[1]) ** 2 <= 1.0
        canvas[face_mask] = skin.astype(np.uint8)
        fixed = np.round((landmarks - 0.5) * 16).astype(np.int32)
        for part, (start, stop) in schema.FACE_PARTS.items():
            if part != "jaw":
                cv2.polylines(canvas, [fixed[start:stop]], part in schema.FACE_PARTS_CLOSED,
                              (40, 25, 20), 1, cv2.LINE_AA, 4)
        hand_mask_u8 = np.zeros((size, size), np.uint8)
        thickness = max(2, int(round(hand_scale * 0.35)))
        hull = cv2.convexHull(np.round(keypoints[[0, 1, 5, 9, 13, 17]] - 0.5).astype(np.int32))
        cv2.fillConvexPoly(hand_mask_u8, hull, 1)
        for a, b in schema.HAND_BONES:
            pa, pb = (np.round(keypoints[[a, b]] - 0.5)).astype(int)
            cv2.line(hand_mask_u8, tuple(pa), tuple(pb), 1, thickness)
        inside = (keypoints >= 0).all(axis=1) & (keypoints[:, 0] <= size) & (keypoints[:, 1] <= size)
        hand_mask = hand_mask_u8.astype(bool) & bool(inside.any())  # a hand with no joint in view is absent
        outline = cv2.dilate(hand_mask_u8, np.ones((3, 3), np.uint8)).astype(bool) & ~hand_mask
        canvas[outline] = (30, 20, 15)
        canvas[hand_mask] = np.clip(skin * 0.7 + 40, 0, 255).astype(np.uint8)
        in_contact = contact_start <= f < contact_end and pattern is not None
        contact_mask = np.zeros((size, size), bool)
        if in_contact:
            contact_mask = ((xx - target[0]) ** 2 + (yy - target[1]) ** 2 <= (hand_scale * 0.3) ** 2) & face_mask
            canvas[contact_mask] = np.clip(canvas[contact_mask] * 0.8, 0, 255).astype(np.uint8)
        frames[f] = canvas
        annotations.face_keypoints[f] = landmarks
        annotations.face_confidence[f] = 1.0
        annotations.face_box[f] = [*landmarks.min(axis=0), *landmarks.max(axis=0)]
        annotations.face_present[f] = True
        annotations.hand_present[f, hand] = bool(inside.any())
        annotations.hand_keypoints[f, hand, :, :2] = np.where(inside[:, None], keypoints, np.nan)
        annotations.hand_keypoints[f, hand, :, 2] = inside.astype(np.float32)
        annotations.depth[f][face_mask] = _FACE_DEPTH
        annotations.depth[f][hand_mask] = _HAND_DEPTH
        if annotations.hand_present[f, hand]:
            rays = (keypoints - size / 2) / focal
            annotations.joints_3d[f, hand] = np.concatenate([rays * _HAND_DEPTH, np.full((21, 1), _HAND_DEPTH)], axis=1)
        annotations.mask("face")[f] = face_mask & ~hand_mask
        annotations.mask(f"hand_{schema.HAND_SIDES[hand]}")[f] = hand_mask
        annotations.mask("contact")[f] = contact_mask
        if in_contact:
            annotations.contact[f, hand] = True
            annotations.contact_point[f, hand] = target
            annotations.contact_region[f, hand] = FACE_REGIONS.index(region)
    return frames, annotations, {"hand": schema.HAND_SIDES[hand], "region": region}


def write_sketch_dataset(root: Path, num_subjects: int = 4, clips_per_pattern: int = 1, seed: int = 0,
                         config: SketchConfig = SketchConfig(), patterns: list[str] | None = None,
                         progress: bool = False) -> list[ClipRecord]:
    """Write (or resume) a sketch dataset of ``subjects x patterns x clips_per_pattern`` clips."""
    from tqdm import tqdm

    chosen = resolve_patterns(patterns)
    jobs = [(s, p, k) for s in range(num_subjects) for p in chosen for k in range(clips_per_pattern)]
    settings = {"generator": "sketch", "num_subjects": num_subjects, "clips_per_pattern": clips_per_pattern,
                "seed": seed, "num_frames": config.num_frames, "size": config.size, "fps": config.fps}
    writer = DatasetWriter(root, "interanimate-sketch", __version__, config=settings)
    try:
        for subject, pattern, k in tqdm(jobs, desc="sketch clips", disable=not progress, unit="clip"):
            clip_id = f"sketch-s{subject:04d}-{pattern.name}-{k:02d}"
            if writer.has_clip(clip_id):
                continue
            frames, annotations, facts = render_sketch_clip(pattern, seed * 100003 + subject,
                                                            _clip_seed(seed, clip_id), config)
            record = ClipRecord(clip_id=clip_id, subject_id=f"sketch-{seed}-{subject:04d}", pattern=pattern.name,
                                fps=config.fps, num_frames=config.num_frames, width=config.size,
                                height=config.size, source={"kind": "synthetic", "origin": "interanimate-sketch"},
                                extra={"seed": seed, **facts})
            writer.write_clip(record, frames, annotations)
    finally:
        records = writer.finalize()  # also after an interruption, so the manifest matches the clips on disk
    return records


def _clip_seed(seed: int, clip_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()[:8], "little")


__all__ = ["SketchConfig", "render_sketch_clip", "write_sketch_dataset", "UNIT_FACE", "PATTERNS"]
