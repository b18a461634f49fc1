"""Annotating one video: read -> perceive -> track -> clean -> contact -> patterns -> clips -> write.

``annotate_video`` is the unit of work of every engine (local processes or Ray tasks). It is a pure
function of the input file and the config, writes each finished clip atomically through the
dataset writer, skips clips already on disk, and ends by writing the video's log entry atomically,
so a killed run loses at most the video in progress and never duplicates a clip.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from interanimate import __version__
from interanimate.data.annotate.contact import ContactModel, _runs, detect_contact
from interanimate.data.annotate.geometry import face_frame, face_outline
from interanimate.data.annotate.ibug68 import FACE_OVAL, ibug68_from_mesh
from interanimate.data.annotate.identity import IDENTITY_KIND, FaceEmbedder, mean_embedding
from interanimate.data.annotate.masks import contact_mask, hand_mask, polygon_mask
from interanimate.data.annotate.patterns import PatternModel, episode_features, group_episodes
from interanimate.data.annotate.perception import Perceiver
from interanimate.data.annotate.smoothing import fill_gaps, one_euro
from interanimate.data.annotate.tracking import build_tracks
from interanimate.data.annotate.video import ReadLimits, RejectedInput, VideoInput, VideoReader
from interanimate.data.annotations import ClipAnnotations
from interanimate.data.io import atomic_write_json
from interanimate.data.manifest import ClipRecord, clip_dir
from interanimate.data.writer import write_clip_folder
from interanimate.taxonomy import FACE_REGIONS

PRODUCER = "interanimate-annotate"
LOG_DIR = "annotate_log"


@dataclass
class AnnotateConfig:
    """Settings of the annotation pipeline (recorded in the dataset card).

    Args:
        max_side: long side of the working (and output) resolution.
        max_pixels: larger source frames are rejected.
        min_frames: shorter videos are rejected.
        padding_s: context kept before and after an interaction in its clip.
        max_clip_s: longest clip; longer interactions are cut to this around their start.
        keep_unlabelled: videos without any detected interaction still yield unlabelled clips
            (useful negatives for contact detectors); otherwise they yield none.
        mirrored: input is mirrored (front-camera preview); swaps handedness.
        min_face_px: clips whose median face height is below this are rejected (tiny face).
        blur_reject: clips whose face sharpness (variance of the Laplacian on a 128 px face crop)
            is below this are rejected; below ``blur_flag`` they are flagged.
        face_gap_s, hand_gap_s: longest dropout filled by interpolation.
        keep_dense: store the 478-point face mesh (``face_dense``).
        preview: write a frame strip per clip under ``previews/``.
    """

    max_side: int = 960
    max_pixels: int = 8192 * 4320
    min_frames: int = 8
    padding_s: float = 0.5
    max_clip_s: float = 8.0
    keep_unlabelled: bool = True
    mirrored: bool = False
    min_face_px: float = 40.0
    blur_reject: float = 8.0
    blur_flag: float = 40.0
    face_gap_s: float = 0.3
    hand_gap_s: float = 0.2
    keep_dense: bool = True
    preview: bool = False

    def limits(self) -> ReadLimits:
        return ReadLimits(max_side=self.max_side, max_pixels=self.max_pixels, min_frames=self.min_frames)


@dataclass
class VideoResult:
    """The outcome of one input video (also its log entry)."""

    key: str
    path: str
    status: str  # "accepted" (clips written), "rejected" (bad input), "empty" (nothing to cut)
    reason: str = ""
    message: str = ""
    clips: list[dict] = field(default_factory=list)
    rejected_clips: list[dict] = field(default_factory=list)
    embedding: list[float] | None = None
    subject_id: str | None = None
    info: dict = field(default_factory=dict)
    seconds: float = 0.0
    frames: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def log_path(out: Path, key: str) -> Path:
    return Path(out) / LOG_DIR / f"{key}.json"


def read_log(out: Path, key: str) -> VideoResult | None:
    path = log_path(out, key)
    if not path.is_file():
        return None
    try:
        return VideoResult(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError):
        return None  # a damaged entry is redone


@dataclass
class CleanTracks:
    """Smoothed, gap-filled per-frame annotations of the whole video."""

    mesh: np.ndarray  # (F, 478, 3) pixels
    face_present: np.ndarray
    face_filled: np.ndarray
    other_faces: np.ndarray
    hands: np.ndarray  # (F, 2, 21, 3) pixels
    hand_world: np.ndarray
    hand_score: np.ndarray
    hand_present: np.ndarray
    hand_found: np.ndarray
    landmarks: np.ndarray  # (F, 68, 2)


def _thumb_histogram(frame: np.ndarray) -> np.ndarray:
    small = cv2.resize(frame, (64, 36), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    return hist / max(hist.sum(), 1.0)


def perceive(reader: VideoReader, config: AnnotateConfig, timings: dict) -> tuple[list, np.ndarray]:
    """Landmarks of every frame and the shot cuts (Bhattacharyya distance of colour histograms)."""
    info = reader.info
    observations = []
    cuts = np.zeros(info.num_frames, bool)
    previous = None
    decode_time = 0.0
    perceive_time = 0.0
    start = time.perf_counter()
    with Perceiver(mirrored=config.mirrored) as perceiver:
        for index, frame in reader.frames():
            t = time.perf_counter()
            decode_time += t - start
            observations.append(perceiver(frame, int(round(index * 1000.0 / info.fps))))
            hist = _thumb_histogram(frame)
            if previous is not None and index < len(cuts):
                cuts[index] = cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA) > 0.2
            previous = hist
            start = time.perf_counter()
            perceive_time += start - t
    timings["decode"] = timings.get("decode", 0.0) + decode_time
    timings["perception"] = perceive_time
    return observations, cuts[: len(observations)]


def identifier(reader: VideoReader):
    """``identify`` callback for the tracker: dlib embeddings of the requested faces (one decode pass)."""
    def identify(requests: list[tuple[int, np.ndarray]]) -> list[np.ndarray | None]:
        wanted = {f for f, _ in requests}
        frames = dict(reader.frames(wanted))
        embedder = FaceEmbedder()
        out = []
        for f, mesh in requests:
            lo, hi = mesh[:, :2].min(axis=0), mesh[:, :2].max(axis=0)
            out.append(embedder(frames[f], np.concatenate([lo, hi])) if f in frames else None)
        return out
    return identify


def clean(observations: list, fps: float, cuts: np.ndarray | None = None, identify=None) -> CleanTracks:
    tracks = build_tracks(observations, cuts=cuts, identify=identify)
    config_gap_face = max(1, int(round(0.3 * fps)))
    config_gap_hand = max(1, int(round(0.2 * fps)))
    mesh, face_filled = fill_gaps(tracks.face_mesh, tracks.face_found, config_gap_face)
    face_present = tracks.face_found | face_filled
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        box = np.nanmax(mesh[..., :2], axis=1) - np.nanmin(mesh[..., :2], axis=1) if face_present.any() else None
    face_size = np.nan_to_num(box.max(axis=1), nan=1.0) if box is not None else np.ones(len(face_present))
    mesh = one_euro(mesh, face_present, fps, min_cutoff=1.0, beta=0.05, scale=face_size)
    hands = tracks.hands.copy()
    world = tracks.hand_world.copy()
    score = tracks.hand_score.copy()
    present = tracks.hand_found.copy()
    for h in range(2):
        filled_h, filled = fill_gaps(hands[:, h], tracks.hand_found[:, h], config_gap_hand)
        world_h, _ = fill_gaps(world[:, h], tracks.hand_found[:, h], config_gap_hand)
        score_h, _ = fill_gaps(score[:, h], tracks.hand_found[:, h], config_gap_hand)
        present[:, h] = tracks.hand_found[:, h] | filled
        score_h[filled] *= 0.5
        palm = np.linalg.norm(filled_h[:, 9, :2] - filled_h[:, 0, :2], axis=-1)
        # Hands move fast: a higher beta keeps pokes and swipes from lagging behind the image.
        hands[:, h] = one_euro(filled_h, present[:, h], fps, min_cutoff=1.5, beta=0.3,
                               scale=np.nan_to_num(palm, nan=1.0) * 2)
        world[:, h], score[:, h] = world_h, score_h
    landmarks = ibug68_from_mesh(mesh)[..., :2]
    return CleanTracks(mesh, face_present, face_filled, tracks.other_faces, hands, world, score, present,
                       tracks.hand_found, landmarks)


@dataclass
class ClipPlan:
    start: int
    end: int
    pattern: str | None
    confidence: float
    hand: int | None
    segments: list[tuple[int, int]]
    scores: dict = field(default_factory=dict)


def plan_clips(tracks: CleanTracks, contact, fps: float, num_frames: int, config: AnnotateConfig,
               pattern_model: PatternModel) -> list[ClipPlan]:
    """Cut clips around interaction episodes (padding, length cap, no overlap)."""
    frame = face_frame(np.nan_to_num(tracks.landmarks))
    point_face = frame.to_face(np.nan_to_num(contact.point.astype(np.float64)))
    plans = []
    for hand, segments in group_episodes(contact.contact, fps):
        features = episode_features(hand, segments, np.where(contact.contact[:, hand, None], point_face[:, hand], np.nan),
                                    contact.region[:, hand], tracks.hands[:, hand], fps)
        result = pattern_model.recognise(features)
        plans.append(ClipPlan(features.start, features.end, result.pattern.name if result.pattern else None,
                              result.confidence, hand, segments,
                              dict(sorted(result.scores.items(), key=lambda kv: -kv[1])[:3])))
    pad = int(round(config.padding_s * fps))
    max_len = max(8, int(round(config.max_clip_s * fps)))
    plans.sort(key=lambda p: p.start)
    merged: list[ClipPlan] = []
    for p in plans:  # the two hands acting at once form one interaction clip, labelled by the stronger
        if merged and p.start < merged[-1].end:
            last = merged[-1]
            keep = last if last.confidence >= p.confidence else p
            merged[-1] = ClipPlan(min(last.start, p.start), max(last.end, p.end), keep.pattern, keep.confidence,
                                  keep.hand, sorted(last.segments + p.segments), keep.scores)
        else:
            merged.append(p)
    out = []
    for i, p in enumerate(merged):
        lo = 0 if i == 0 else (merged[i - 1].end + p.start) // 2
        hi = num_frames if i == len(merged) - 1 else (p.end + merged[i + 1].start) // 2
        start, end = max(lo, p.start - pad), min(hi, p.end + pad)
        if end - start > max_len:
            start, end = max(lo, p.start - pad), max(lo, p.start - pad) + max_len
        out.append(ClipPlan(start, end, p.pattern, p.confidence, p.hand,
                            [(max(a, start), min(b, end)) for a, b in p.segments if min(b, end) > max(a, start)],
                            p.scores))
    if not out and config.keep_unlabelled:
        # No interaction: cut the stretches with a face into unlabelled clips of at most max_len frames.
        for a, b in _runs(tracks.face_present):
            for s in range(a, b, max_len):
                if min(b, s + max_len) - s >= config.min_frames:
                    out.append(ClipPlan(s, min(b, s + max_len), None, 0.0, None, []))
    return out


def _sharpness(frame: np.ndarray, box: np.ndarray) -> float:
    x0, y0, x1, y1 = [int(round(v)) for v in box]
    crop = frame[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    if crop.size == 0 or min(crop.shape[:2]) < 4:
        return 0.0
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (128, max(4, int(128 * gray.shape[0] / gray.shape[1]))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def build_annotations(tracks: CleanTracks, contact, plan: ClipPlan, width: int, height: int,
                      keep_dense: bool) -> ClipAnnotations:
    s, e = plan.start, plan.end
    num = e - s
    ann = ClipAnnotations.empty(num, height, width)
    fp = tracks.face_present[s:e]
    limit = np.array([width, height], np.float32)
    kp = np.clip(tracks.landmarks[s:e], 0, limit)
    ann.face_keypoints[fp] = kp[fp]
    ann.face_present = fp.copy()
    ann.face_confidence = np.where(fp, np.where(tracks.face_filled[s:e], 0.5, 1.0), 0.0).astype(np.float32)
    mesh = tracks.mesh[s:e]
    lo = np.clip(np.nanmin(mesh[..., :2], axis=1), 0, limit) if fp.any() else None
    hi = np.clip(np.nanmax(mesh[..., :2], axis=1), 0, limit) if fp.any() else None
    if lo is not None:
        ann.face_box[fp] = np.concatenate([lo, hi], axis=1)[fp]
    hands = tracks.hands[s:e].copy()
    present = tracks.hand_present[s:e].copy()
    inside = ((hands[..., 0] >= 0) & (hands[..., 0] <= width) & (hands[..., 1] >= 0) & (hands[..., 1] <= height))
    conf = np.where(present[..., None] & inside, np.clip(tracks.hand_score[s:e], 0.05, 1.0)[..., None], 0.0)
    present &= (conf > 0).any(axis=-1)
    conf[~present] = 0.0
    ann.hand_keypoints[..., :2] = np.where(present[..., None, None], hands[..., :2], np.nan)
    ann.hand_keypoints[..., 2] = conf
    ann.hand_present = present
    c = contact.contact[s:e] & present & fp[:, None]
    ann.contact = c
    ann.contact_point = np.where(c[..., None], contact.point[s:e], np.nan).astype(np.float32)
    ann.contact_region = np.where(c, contact.region[s:e], -1).astype(np.int8)
    frame = face_frame(np.nan_to_num(kp.astype(np.float64)))
    outline = face_outline(kp.astype(np.float64), frame)
    for f in range(num):
        hand_masks = [hand_mask(ann.hand_keypoints[f, h, :, :2], ann.hand_keypoints[f, h, :, 2], height, width)
                      if present[f, h] else np.zeros((height, width), bool) for h in range(2)]
        face_region = np.zeros((height, width), bool)
        if fp[f]:
            oval = mesh[f, list(FACE_OVAL), :2]
            face_region = polygon_mask(outline[f], height, width) | polygon_mask(oval, height, width)
        ann.masks[f, 0] = face_region & ~hand_masks[0] & ~hand_masks[1]
        ann.masks[f, 1], ann.masks[f, 2] = hand_masks
        if c[f].any():
            radius = 0.12 * float(np.linalg.norm(hands[f, c[f].argmax(), 9, :2] - hands[f, c[f].argmax(), 0, :2]))
            ann.masks[f, 3] = contact_mask(ann.contact_point[f][c[f]], radius, face_region, height, width)
    if plan.pattern is not None:
        from interanimate.taxonomy import PATTERN_IDS

        ann.pattern_id = PATTERN_IDS[plan.pattern]
    ann.contact_segments = np.array([(a - s, b - s) for a, b in plan.segments], np.int32).reshape(-1, 2)
    if keep_dense:
        dense = np.array(mesh, np.float32)
        face_width = np.where(fp, (hi[:, 0] - lo[:, 0]) if lo is not None else 1.0, 1.0)
        dense[..., 2] = dense[..., 2] / np.maximum(face_width, 1.0)[:, None]
        dense[~fp] = np.nan
        ann.face_dense = dense
    return ann


def annotate_video(item: VideoInput, out: Path, config: AnnotateConfig, subject_id: str | None = None,
                   contact_model: ContactModel | None = None, pattern_model: PatternModel | None = None) -> VideoResult:
    """Annotate one video into clips under ``out``; never raises for bad input (returns a reject)."""
    out = Path(out)
    started = time.perf_counter()
    result = VideoResult(key=item.key, path=str(item.path), status="rejected")
    timings: dict[str, float] = {}
    try:
        if item.error:
            raise RejectedInput("unreadable", item.error)
        reader = VideoReader(item.path, config.limits())
        info = reader.open()
        result.info = {"fps": info.fps, "frames": info.num_frames, "width": info.width, "height": info.height,
                       "source_size": [info.source_width, info.source_height], "rotation": info.rotation,
                       "codec": info.codec, "variable_frame_rate": info.variable_frame_rate}
        observations, cuts = perceive(reader, config, timings)
        result.frames = len(observations)
        result.info["shot_cuts"] = int(cuts.sum())
        t = time.perf_counter()
        with np.errstate(invalid="ignore", divide="ignore"):
            tracks = clean(observations, info.fps, cuts, identifier(reader))
            frame = face_frame(np.nan_to_num(tracks.landmarks.astype(np.float64)))
            contact = detect_contact(frame, tracks.mesh, tracks.face_present, tracks.hands, tracks.hand_world,
                                     tracks.hand_present, info.fps, (info.width, info.height), contact_model)
            plans = plan_clips(tracks, contact, info.fps, info.num_frames, config, pattern_model or PatternModel())
        timings["post"] = time.perf_counter() - t
        t = time.perf_counter()
        with np.errstate(invalid="ignore", divide="ignore"):
            _write_clips(item, reader, tracks, contact, plans, out, config, subject_id, result)
        timings["write"] = time.perf_counter() - t
        result.status = "accepted" if result.clips else "empty"
        if not result.clips:
            reasons = sorted({c["reason"] for c in result.rejected_clips})
            result.reason = ",".join(reasons) if reasons else "no_interaction"
            result.message = "no clip passed the quality filters" if reasons else "no hand-face interaction found"
    except RejectedInput as rejection:
        result.status, result.reason, result.message = "rejected", rejection.reason, str(rejection)
    result.seconds = time.perf_counter() - started
    result.info["timings"] = {k: round(v, 3) for k, v in timings.items()}
    atomic_write_json(log_path(out, item.key), result.to_dict())
    return result


def _write_clips(item, reader, tracks, contact, plans, out, config, subject_id, result) -> None:
    info = reader.info
    fps = info.fps
    quality: list[tuple[ClipPlan, list[str], str | None]] = []
    for plan in plans:
        s, e = plan.start, plan.end
        flags, reject = [], None
        fp = tracks.face_present[s:e]
        heights = (np.nanmax(tracks.mesh[s:e, :, 1], axis=1) - np.nanmin(tracks.mesh[s:e, :, 1], axis=1))[fp] if fp.any() else []
        if fp.mean() < 0.5:
            reject = "no_face"
        elif np.median(heights) < config.min_face_px:
            reject = "tiny_face"
        if (tracks.other_faces[s:e] > 0).mean() > 0.2:
            flags.append("several_faces")
        if tracks.face_filled[s:e].mean() > 0.1:
            flags.append("face_interpolated")
        if plan.hand is not None and plan.segments:
            span = slice(plan.segments[0][0], plan.segments[-1][1])
            missing = 1.0 - tracks.hand_found[span, plan.hand].mean()
            if missing > 0.6:
                reject = reject or "hand_missing"
            elif missing > 0.2:
                flags.append("hand_dropped")
        if plan.hand is not None and plan.pattern is None:
            flags.append("pattern_unrecognised")
        if plan.hand is None:
            flags.append("no_interaction")
        if info.variable_frame_rate:
            flags.append("variable_frame_rate_resampled")
        quality.append((plan, flags, reject))
    todo = {i: q for i, q in enumerate(quality) if q[2] is None}
    for i, (plan, _, reject) in enumerate(quality):
        if reject:
            result.rejected_clips.append({"start": plan.start, "end": plan.end, "reason": reject})
    wanted = {f for q in todo.values() for f in range(q[0].start, q[0].end)}
    buffers: dict[int, list[np.ndarray]] = {i: [] for i in todo}
    embedder = None
    embeddings = []
    for index, frame in reader.frames(wanted):
        for i, (plan, flags, _) in list(todo.items()):
            if plan.start <= index < plan.end:
                buffers[i].append(frame)
            if index == plan.end - 1:
                frames = np.stack(buffers.pop(i))
                del todo[i]
                clip_id = f"{item.key}-{i:03d}"
                ann = build_annotations(tracks, contact, plan, info.width, info.height, config.keep_dense)
                sharp = [_sharpness(frames[f], ann.face_box[f]) for f in np.flatnonzero(ann.face_present)[::max(1, len(frames) // 5)]]
                sharpness = float(np.median(sharp)) if sharp else 0.0
                if sharpness < config.blur_reject:
                    result.rejected_clips.append({"start": plan.start, "end": plan.end, "reason": "heavy_blur"})
                    continue
                if sharpness < config.blur_flag:
                    flags.append("blurry")
                embedder = embedder or FaceEmbedder()
                picks = np.flatnonzero(ann.face_present & ~tracks.face_filled[plan.start:plan.end])
                vectors = [embedder(frames[f], ann.face_box[f]) for f in picks[np.linspace(0, len(picks) - 1, min(3, len(picks))).astype(int)]] if len(picks) else []
                embedding = mean_embedding(vectors)
                if embedding is not None:
                    ann.identity_embedding, ann.identity_kind = embedding, IDENTITY_KIND
                    embeddings.append(embedding)
                record = ClipRecord(
                    clip_id=clip_id, subject_id=subject_id or f"video-{item.key}", pattern=plan.pattern, fps=float(fps),
                    num_frames=len(frames), width=info.width, height=info.height,
                    source={"kind": "real", "origin": str(item.path)}, quality_flags=sorted(set(flags)),
                    extra={"source_video": str(item.path), "source_key": item.key,
                           "start_frame": plan.start, "end_frame": plan.end,
                           "start_s": round(plan.start / fps, 4), "end_s": round(plan.end / fps, 4),
                           "pattern_confidence": round(plan.confidence, 4), "pattern_scores": plan.scores,
                           "acting_hand": None if plan.hand is None else ("left", "right")[plan.hand],
                           "sharpness": round(sharpness, 2), "rotation": info.rotation,
                           "producer": PRODUCER, "producer_version": __version__})
                if not (clip_dir(out, clip_id)).is_dir():
                    write_clip_folder(out, record, frames, ann)
                result.clips.append({"clip_id": clip_id, "pattern": plan.pattern, "confidence": round(plan.confidence, 4),
                                     "start": plan.start, "end": plan.end, "flags": record.quality_flags,
                                     "contact_frames": int(ann.contact.any(axis=1).sum())})
                if config.preview:
                    from interanimate.data.annotate.preview import write_preview

                    write_preview(out / "previews" / f"{clip_id}.png", frames, ann)
    vector = mean_embedding(embeddings)
    result.embedding = None if vector is None else [round(float(x), 6) for x in vector]
    result.subject_id = subject_id


__all__ = ["AnnotateConfig", "VideoResult", "annotate_video", "read_log", "log_path", "FACE_REGIONS"]
