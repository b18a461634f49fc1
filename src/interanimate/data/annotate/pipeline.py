"""Annotating one video: ``analyse`` (read -> perceive -> track -> clean -> contact -> patterns) -> clips -> write.

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
from interanimate.data.annotate.analysis import Analysis, analyse
from interanimate.data.annotate.contact import ContactModel, true_runs
from interanimate.data.annotate.ibug68 import FACE_OVAL
from interanimate.data.annotate.identity import IDENTITY_KIND, FaceEmbedder, mean_embedding
from interanimate.data.annotate.labels import counted_hands, keypoint_annotations, track_confidence
from interanimate.data.annotate.patterns import PatternModel
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
class ClipPlan:
    """One clip to cut: frames ``[start, end)``, its label (``pattern`` ``None`` when unrecognised or without
    interaction), the acting hand, the contact runs inside it and the top pattern scores."""

    start: int
    end: int
    pattern: str | None
    confidence: float
    hand: int | None
    segments: list[tuple[int, int]]
    scores: dict = field(default_factory=dict)


def plan_clips(analysis: Analysis, config: AnnotateConfig) -> list[ClipPlan]:
    """Cut clips around the analysis's interaction episodes (padding, length cap, no overlap)."""
    fps, num_frames = analysis.fps, analysis.num_frames
    plans = [ClipPlan(e.start, e.end, e.pattern, e.confidence, e.hand, e.segments,
                      dict(sorted(e.recognition.scores.items(), key=lambda kv: -kv[1])[:3])) for e in analysis.episodes]
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
        for a, b in true_runs(analysis.tracks.face_present):
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


def clip_annotations(analysis: Analysis, plan: ClipPlan, keep_dense: bool) -> ClipAnnotations:
    """The contract annotations of ``plan``'s frames (``labels.keypoint_annotations``, plus the dense mesh)."""
    s, e = plan.start, plan.end
    tracks, width, height = analysis.tracks, analysis.width, analysis.height
    fp = tracks.face_present[s:e]
    limit = np.array([width, height], np.float32)
    mesh = tracks.mesh[s:e]
    lo = np.clip(np.nanmin(mesh[..., :2], axis=1), 0, limit) if fp.any() else None
    hi = np.clip(np.nanmax(mesh[..., :2], axis=1), 0, limit) if fp.any() else None
    hands, present = counted_hands(tracks.hands[s:e], tracks.hand_present[s:e],
                                   track_confidence(tracks.hand_score[s:e]), width, height)
    contact = analysis.contact
    ann = keypoint_annotations(
        np.clip(tracks.landmarks[s:e], 0, limit), fp, analysis.face_confidence[s:e], hands, present,
        contact.contact[s:e], contact.point[s:e], contact.region[s:e], height, width,
        face_box=None if lo is None else np.concatenate([lo, hi], axis=1), face_ovals=mesh[:, list(FACE_OVAL), :2],
        pattern=plan.pattern, contact_segments=[(a - s, b - s) for a, b in plan.segments])
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
        report: dict = {"timings": timings}
        try:
            analysis = analyse(reader, mirrored=config.mirrored, contact_model=contact_model,
                               pattern_model=pattern_model, report=report)
        finally:
            result.frames = report.get("frames", 0)
            if "shot_cuts" in report:
                result.info["shot_cuts"] = report["shot_cuts"]
        t = time.perf_counter()
        with np.errstate(invalid="ignore", divide="ignore"):
            plans = plan_clips(analysis, config)
        timings["post"] += time.perf_counter() - t
        t = time.perf_counter()
        with np.errstate(invalid="ignore", divide="ignore"):
            _write_clips(item, reader, analysis, plans, out, config, subject_id, result)
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


def _write_clips(item, reader, analysis, plans, out, config, subject_id, result) -> None:
    info, tracks = reader.info, analysis.tracks
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
                ann = clip_annotations(analysis, plan, config.keep_dense)
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
