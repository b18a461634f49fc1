"""Where the hands and face are in every generated frame, and the labels that follow from it.

Two sources of motion, one result (``Motion``, at the output resolution, already on the reference face):

- ``pattern_motion``: the synthetic generator renders a synthetic person doing the pattern (exact keypoints,
  contacts and the choreography's planned contact frames), and ``retarget`` moves that performance onto the
  reference face. Contact flags, points and regions come from the synthetic ground truth.
- ``driving_motion``: a driving video's keypoints, from the annotator's perception and cleaning (or, for a clip of
  an InterHF dataset, from its annotation file), moved onto the reference face the same way. Contact and pattern
  come from the annotator's contact and pattern stages run on the driving video's own geometry (their cues are
  normalised by face size, and the depth cue needs the driving video's true image scale), or from the dataset
  clip's labels.

``build_annotations`` turns a ``Motion`` into contract annotations: keypoints, masks rebuilt from the retargeted
geometry with the annotator's ``keypoint_annotations`` (so every keypoint lies in its mask), contact labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interanimate.data.annotate import SUBJECT_REJECTIONS, RejectedInput, analyse, counted_hands, keypoint_annotations
from interanimate.data.annotations import ClipAnnotations
from interanimate.pipelines.errors import AnimateError
from interanimate.pipelines.reference_face import ReferenceFace
from interanimate.pipelines.retarget import anchor_points, fill_missing_frames, transfer_face, transfer_points
from interanimate.taxonomy import FACE_REGIONS, get_pattern

SYNTH_ACTOR_SIZE = 128  # the synthetic performance is rendered at this size (keypoint precision), then retargeted
MAX_HAND_SEARCH = 32  # synthetic clips tried to find one acted with the requested hand
MAX_QUALITY_TRIES = 6  # synthetic clips tried to find one that touches the named region


@dataclass
class Motion:
    """Per-frame geometry and labels of one clip on the reference face (pixels of the ``size × size`` output).

    Arrays: ``face_keypoints (F, 68, 2)``, ``face_confidence (F,)``, ``hand_keypoints (F, 2, 21, 3)``,
    ``hand_present (F, 2)``, ``contact (F, 2)``, ``contact_point (F, 2, 2)``, ``contact_region (F, 2)``.
    ``pattern`` is a taxonomy name or ``None`` (unrecognised); ``info`` records where the motion came from.
    """

    size: int
    fps: float
    face_keypoints: np.ndarray
    face_confidence: np.ndarray
    hand_keypoints: np.ndarray
    hand_present: np.ndarray
    contact: np.ndarray
    contact_point: np.ndarray
    contact_region: np.ndarray
    pattern: str | None
    acting_hand: str | None
    penetration: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.face_keypoints.shape[0])


# ----------------------------------------------------------------------------------------- shared geometry


def _retarget(size: int, fps: float, source_landmarks: np.ndarray, source_face_confidence: np.ndarray,
              source_hands: np.ndarray, source_hand_present: np.ndarray, source_contact: np.ndarray,
              source_contact_point: np.ndarray, source_contact_region: np.ndarray, reference: ReferenceFace,
              family: str | None) -> dict:
    """Move the source performance onto the reference (see ``retarget``) and clean it up for the contract."""
    faces, rigid = transfer_face(source_landmarks, reference.landmarks)
    num_frames = len(faces)
    hands = np.full((num_frames, 2, 21, 3), np.nan)
    hands[..., 2] = 0.0
    points = np.full((num_frames, 2, 2), np.nan)
    for h in range(2):
        if not source_hand_present[:, h].any():
            continue
        anchors = anchor_points(source_hands[:, h], family)
        xy = transfer_points(source_hands[:, h, :, :2], source_landmarks, faces, rigid, anchors)
        cp = transfer_points(source_contact_point[:, h, None], source_landmarks, faces, rigid, anchors)[:, 0]
        present = source_hand_present[:, h]
        hands[present, h, :, :2] = xy[present]
        hands[present, h, :, 2] = source_hands[present, h, :, 2]
        points[:, h] = cp
    hands, hand_present = counted_hands(hands, source_hand_present, hands[..., 2], size, size)
    contact = source_contact & hand_present
    points = np.where(contact[..., None], np.clip(points, 0.0, size - 1e-3), np.nan)
    contact &= np.isfinite(points).all(-1)
    region = np.where(contact, source_contact_region, -1).astype(np.int8)
    return dict(face_keypoints=np.clip(faces, 0.0, size).astype(np.float32),
                face_confidence=np.asarray(source_face_confidence, np.float32),
                hand_keypoints=hands.astype(np.float32), hand_present=hand_present, contact=contact,
                contact_point=np.where(contact[..., None], points, np.nan).astype(np.float32), contact_region=region)


# --------------------------------------------------------------------------------------------- patterns


def _predicted_side(seed: int, subject_index: int, pattern_id: int, clip_index: int) -> str:
    # A cheap look at the generator's first draw (which hand acts), so only a promising clip is rendered; the
    # rendered record is always checked, so a change in the generator costs time, never correctness.
    rng = np.random.default_rng(np.random.SeedSequence([seed, subject_index, pattern_id, clip_index, 1]))
    return "right" if rng.random() < 0.7 else "left"


def synthesize_performance(pattern: str, num_frames: int, fps: float, seed: int, hand: str | None = None,
                           pixels: bool = True):
    """A synthetic clip of ``pattern`` (``RenderedClip`` with its plan), acted with ``hand`` when given.

    With ``pixels=False`` the same clip is chosen but not rendered: a ``PlannedClip`` (its record, plan and
    contact labels, those of the rendered clip to the bit), for callers that need the performance and not its
    frames, keypoints or masks.
    """
    from interanimate.data.synth import ClipSpec, plan_clip, render_clip
    from interanimate.data.synth.generator import MIN_FRAMES

    info = get_pattern(pattern)
    if num_frames < MIN_FRAMES:
        raise AnimateError(f"a pattern needs at least {MIN_FRAMES} frames (approach, contact, action, retreat); "
                           f"got --frames {num_frames}")
    if hand not in (None, "left", "right"):
        raise AnimateError(f"hand must be 'left' or 'right', got {hand!r}")
    subject_index = 0
    candidates = range(MAX_HAND_SEARCH)
    if hand is not None:
        ordered = [k for k in candidates if _predicted_side(seed, subject_index, info.id, k) == hand]
        candidates = ordered + [k for k in candidates if k not in ordered]
    best, best_score = None, -1.0
    for tried, clip_index in enumerate(candidates):
        spec = ClipSpec(seed=seed, subject_index=subject_index, pattern=pattern, clip_index=clip_index,
                        num_frames=num_frames, size=SYNTH_ACTOR_SIZE, fps=fps)
        clip = render_clip(spec, keep_plan=True) if pixels else plan_clip(spec)
        if hand is not None and clip.record.extra["dominant_hand"] != hand:
            continue
        # Quality gate: the generator's choreography occasionally misses its target (docs/synth.md, known
        # limitations); prefer a performance that touches the named region in most of its contact frames.
        labels = clip.annotations if pixels else clip
        touched = labels.contact_region[labels.contact]
        score = float((touched == info.region_id).mean()) if len(touched) else 0.0
        if score > best_score:
            best, best_score = clip, score
        if score >= 0.5 or tried + 1 >= MAX_QUALITY_TRIES + (0 if hand is None else MAX_HAND_SEARCH // 2):
            break
    if best is None:
        raise AnimateError(f"no synthetic performance of {pattern} with the {hand} hand in {MAX_HAND_SEARCH} tries; "
                           "try another --seed or the other --hand")
    best.record.extra["target_region_share"] = round(best_score, 3)
    return best


def pattern_motion(reference: ReferenceFace, pattern: str, num_frames: int, fps: float, seed: int,
                   hand: str | None = None) -> Motion:
    """Synthesise ``pattern`` with the synthetic generator and retarget it onto ``reference``."""
    clip = synthesize_performance(pattern, num_frames, fps, seed, hand)
    ann = clip.annotations
    if not ann.face_present.any():
        raise AnimateError(f"the synthetic performance of {pattern} (seed {seed}) lost the face; try another --seed")
    landmarks = fill_missing_frames(ann.face_keypoints.astype(np.float64), ann.face_present)
    family = get_pattern(pattern).family
    geometry = _retarget(reference.size, fps, landmarks, ann.face_confidence.clip(0.05, 1.0),
                         ann.hand_keypoints.astype(np.float64), ann.hand_present, ann.contact,
                         ann.contact_point.astype(np.float64), ann.contact_region, reference, family)
    side = clip.record.extra["dominant_hand"]
    extra = clip.record.extra
    info = {"kind": "pattern", "synthetic_clip_id": clip.record.clip_id, "synthetic_seed": seed,
            "synthetic_subject_index": extra["subject_index"], "synthetic_clip_index": extra["clip_index"],
            "choreography": extra["choreography"], "phases": extra["phases"],
            "planned_contact": extra["planned_contact"], "target_region_share": extra["target_region_share"]}
    return Motion(size=reference.size, fps=fps, pattern=pattern, acting_hand=side,
                  penetration=ann.penetration.astype(np.float32), info=info, **geometry)


# ------------------------------------------------------------------------------------------ driving video


def _dataset_clip(path: Path) -> tuple[Path, dict] | None:
    """``(clip folder, record)`` when ``path`` is a clip folder of an InterHF dataset or its video file."""
    from interanimate.data.manifest import ANNOTATIONS_NAME, RECORD_NAME

    folder = path if path.is_dir() else path.parent
    if (folder / RECORD_NAME).is_file() and (folder / ANNOTATIONS_NAME).is_file():
        return folder, json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    return None


def _analyse_video(path: Path, max_frames: int | None):
    """The annotator's analysis of a driving video (``interanimate.data.annotate.analyse``)."""
    try:
        return analyse(path, max_frames=max_frames)
    except RejectedInput as rejection:
        hint = ("; use a video of one person whose hand touches their face"
                if rejection.reason in SUBJECT_REJECTIONS else "")
        raise AnimateError(f"driving video {path}: {rejection}{hint}") from None


def driving_motion(reference: ReferenceFace, driving: str | Path, max_frames: int | None = None) -> Motion:
    """Keypoints of a driving video (or InterHF clip), moved onto ``reference``; labels recomputed or carried."""
    from interanimate.data.annotations import load_annotations

    path = Path(driving)
    if not path.exists():
        raise AnimateError(f"driving video {path} does not exist")
    clip = _dataset_clip(path)
    if clip is not None:
        folder, record = clip
        from interanimate.data.manifest import ANNOTATIONS_NAME

        ann = load_annotations(folder / ANNOTATIONS_NAME, record["height"], record["width"])
        stop = ann.num_frames if max_frames is None else min(max_frames, ann.num_frames)
        face_present = ann.face_present[:stop]
        landmarks, face_conf = ann.face_keypoints[:stop], ann.face_confidence[:stop]
        hands, hand_present = ann.hand_keypoints[:stop].astype(np.float64), ann.hand_present[:stop]
        contact, point, region = ann.contact[:stop], ann.contact_point[:stop], ann.contact_region[:stop]
        fps, pattern = float(record["fps"]), record.get("pattern")
        acting = int(np.argmax(ann.hand_present.sum(axis=0))) if ann.hand_present.any() else None
        info = {"kind": "driving", "driving": str(path), "source_clip_id": record["clip_id"],
                "labels": "carried from the dataset clip"}
    else:
        analysis = _analyse_video(path, max_frames)
        face_present, landmarks = analysis.tracks.face_present, analysis.tracks.landmarks
        face_conf = analysis.face_confidence
        hands, hand_present = analysis.hand_keypoints()
        contact, point, region = analysis.contact.contact, analysis.contact.point, analysis.contact.region
        best = analysis.strongest
        fps, pattern = analysis.fps, analysis.pattern
        acting = best.hand if best else (int(np.argmax(hand_present.sum(axis=0))) if hand_present.any() else None)
        info = {"kind": "driving", "driving": str(path), "labels": "annotator contact and pattern stages",
                "pattern_confidence": round(float(best.confidence if best else 0.0), 4)}
    num = len(face_present)
    if num == 0 or face_present.mean() < 0.5:
        raise AnimateError(f"driving video {path}: a face is visible in only {face_present.mean() if num else 0:.0%} "
                           "of its frames (at least 50% needed); use a video of one person facing the camera")
    if not hand_present.any():
        raise AnimateError(f"driving video {path}: no hand found in any frame; use a video where a hand touches "
                           "the face")
    filled = fill_missing_frames(np.asarray(landmarks, np.float64), face_present)
    family = get_pattern(pattern).family if pattern else None
    hands = np.where(hand_present[..., None, None], hands, np.nan)
    geometry = _retarget(reference.size, fps, filled, np.clip(np.where(face_present, face_conf, 0.5), 0.05, 1.0),
                         hands, hand_present, contact & hand_present, np.asarray(point, np.float64),
                         np.asarray(region), reference, family)
    info["frames"] = num
    return Motion(size=reference.size, fps=fps, pattern=pattern,
                  acting_hand=None if acting is None else ("left", "right")[acting], info=info, **geometry)


# ---------------------------------------------------------------------------------------------- labels


def build_annotations(motion: Motion, identity: np.ndarray | None = None) -> ClipAnnotations:
    """Contract annotations for ``motion``: masks drawn from the retargeted keypoints (the annotator's
    ``keypoint_annotations``), so every keypoint lies in its mask and both producers label alike.

    Generated clips (source kind ``"generated"``) carry no renderer measurements, so depth, deformation and 3-D
    joints are absent; the penetration of the synthetic performance that drove the motion is kept, where there was
    one, because it describes the requested interaction.
    """
    size = motion.size
    ann = keypoint_annotations(motion.face_keypoints, np.ones(motion.num_frames, bool), motion.face_confidence,
                               motion.hand_keypoints, motion.hand_present, motion.contact, motion.contact_point,
                               motion.contact_region, size, size, pattern=motion.pattern)
    if identity is not None:
        ann.identity_embedding, ann.identity_kind = identity.astype(np.float32), "dlib128"
    if motion.penetration is not None:
        ann.penetration = motion.penetration.astype(np.float32)
    return ann


def contact_summary(motion: Motion) -> dict:
    frames = np.flatnonzero(motion.contact.any(axis=1))
    regions = motion.contact_region[motion.contact]
    counts = {FACE_REGIONS[r]: int(c) for r, c in zip(*np.unique(regions, return_counts=True)) if r >= 0}
    return {"contact_frames": frames.tolist(), "regions": counts}
