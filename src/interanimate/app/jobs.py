"""The work behind each tab and endpoint, independent of Gradio: plain functions over ``AppSettings``.

Every function takes paths that the page or the API handed in, checks them (``SafePaths``, size and length limits),
does the work in a fresh job folder under the app's temporary folder and returns the paths of what it wrote.
Expected failures raise ``AppInputError`` or the pipelines' own input errors, whose messages the page shows.
"""

from __future__ import annotations

import json
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from interanimate.app.errors import AppInputError
from interanimate.app.paths import SafePaths
from interanimate.app.renderers import PipelineCache
from interanimate.app.settings import AppSettings

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, text: str) -> None:
    pass


def new_job_dir(settings: AppSettings, kind: str) -> Path:
    folder = settings.jobs_dir / f"{kind}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    return folder


def zip_folder(folder: Path, path: Path) -> Path:
    """``path``: a zip of ``folder``'s files (names relative to it), written next to it."""
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(file, str(file.relative_to(folder.parent)))
    tmp.replace(path)
    return path


def write_video(frames: np.ndarray, fps: float, path: Path, metadata: dict[str, str] | None = None) -> Path:
    from interanimate.data.io import atomic_write_bytes, encode_video

    atomic_write_bytes(path, encode_video(frames, fps, metadata=metadata))
    return path


def check_video_upload(settings: AppSettings, paths: SafePaths, video: str | Path, what: str) -> Path:
    """An uploaded video that exists, is within the size limit, opens as a video and is short enough."""
    from interanimate.data.io import VideoReadError, probe_video

    path = paths.allowed_file(video, what)
    size = path.stat().st_size
    if size == 0:
        raise AppInputError(f"{what} {path.name}: the file is empty; upload a video file (MP4, MOV, AVI, WebM)")
    if size > settings.max_upload_bytes:
        raise AppInputError(f"{what} {path.name}: {size / 2**20:.1f} MB is over the {settings.max_upload_mb} MB "
                            "upload limit; trim or compress it")
    try:
        info = probe_video(path)
    except VideoReadError as err:
        raise AppInputError(f"{what} {path.name}: not a readable video ({err}); upload an MP4, MOV, AVI or "
                            "WebM file") from None
    if info["fps"] > 0 and info["frames"] > 0 and info["frames"] / info["fps"] > settings.max_video_seconds:
        raise AppInputError(f"{what} {path.name}: {info['frames'] / info['fps']:.1f} s is longer than the "
                            f"{settings.max_video_seconds:g} s limit; cut it shorter")
    if info["frames"] > settings.max_video_seconds * 240:
        raise AppInputError(f"{what} {path.name}: {info['frames']} frames is over the limit; cut it shorter")
    return path


def check_photo_upload(settings: AppSettings, paths: SafePaths, photo: str | Path) -> Path:
    path = paths.allowed_file(photo, "photo")
    if path.stat().st_size > settings.max_upload_bytes:
        raise AppInputError(f"photo {path.name}: over the {settings.max_upload_mb} MB upload limit; scale it down")
    return path


def public_record(value, root: Path):
    """A record fit to hand to a client: absolute paths become paths relative to the root (or bare names), and
    ``path`` keys are named ``location`` (API clients take ``{"path": ...}`` objects for files to download)."""
    if isinstance(value, dict):
        return {("location" if k == "path" else k): public_record(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [public_record(v, root) for v in value]
    if isinstance(value, str) and value.startswith("/") and len(value) < 4096:
        path = Path(value)
        try:
            return str(path.resolve().relative_to(Path(root).resolve()))
        except (ValueError, OSError):
            return path.name
    return value


# ------------------------------------------------------------------------------------------------ animate

@dataclass
class AnimatedClip:
    """One generated clip and the files written for it."""

    name: str
    pattern: str | None
    video: Path
    overlay: Path
    labels: Path
    info: Path
    timeline: Path
    contact_frames: int
    num_frames: int


@dataclass
class AnimateOutcome:
    clips: list[AnimatedClip]
    dataset_zip: Path
    job_dir: Path
    summary: dict = field(default_factory=dict)


def expand_patterns(names: list[str] | str | None) -> list[str]:
    """Pattern names, family names or ``all`` (a list, or one comma/space-separated string) → pattern names."""
    from interanimate.taxonomy import UnknownNameError, resolve_patterns

    if isinstance(names, str):
        names = [n for n in names.replace(",", " ").split() if n]
    names = [str(n).strip() for n in names or [] if str(n).strip()]
    if not names:
        return []
    if "all" in names:
        return [p.name for p in resolve_patterns(None)]
    try:
        return list(dict.fromkeys(p.name for p in resolve_patterns(names)))
    except (UnknownNameError, ValueError) as err:
        raise AppInputError(str(err)) from None


def animate(settings: AppSettings, cache: PipelineCache, photo: str | Path | None, patterns: list[str] | str | None,
            renderer: str, num_frames: int, seed: int, num_inference_steps: int | None = None,
            driving: str | Path | None = None, progress: Progress = _no_progress) -> AnimateOutcome:
    """Generate one clip per pattern (or one from the driving video) for the photo; write videos, labels, records,
    an overlay video and a contact timeline per clip, and the whole set as a zipped InterHF dataset."""
    from interanimate import __version__
    from interanimate.data.writer import DatasetWriter
    from interanimate.pipelines.animate_pipeline import PRODUCER, AnimateRequest

    paths = SafePaths(settings.root, settings.temp_dir)
    if not photo:
        raise AppInputError("no photo: upload a reference photo of one person (or pick a sample)")
    photo = check_photo_upload(settings, paths, photo)
    names = expand_patterns(patterns)
    if driving:
        if names:
            raise AppInputError("give either patterns or a driving video, not both; clear one of them")
        driving = check_video_upload(settings, paths, driving, "driving video")
    elif not names:
        raise AppInputError("no pattern chosen: tick at least one pattern (or 'all'), or upload a driving video")
    if len(names) > settings.max_patterns:
        raise AppInputError(f"{len(names)} patterns asked for; this server allows {settings.max_patterns} per request")
    num_frames = int(num_frames)
    if not 1 <= num_frames <= settings.max_frames:
        raise AppInputError(f"frames {num_frames}: choose 1 to {settings.max_frames}")
    steps = None if num_inference_steps in (None, 0) else int(num_inference_steps)
    if steps is not None and not 1 <= steps <= 200:
        raise AppInputError(f"steps {steps}: choose 1 to 200")
    seed = int(seed)
    progress(0.0, f"loading the {renderer} renderer")
    pipe = cache.get(renderer, steps)
    progress(0.02, "finding the face in the photo")
    pipe.reference(photo, photo.stem)  # fails fast on a photo without one usable face
    job = new_job_dir(settings, "animate")
    dataset_dir = job / "dataset"
    requests = ([AnimateRequest(reference=photo, reference_name=photo.stem, pattern=name, num_frames=num_frames,
                                seed=seed + i) for i, name in enumerate(names)] if names else
                [AnimateRequest(reference=photo, reference_name=photo.stem, driving=driving, num_frames=num_frames,
                                seed=seed)])
    clips: list[AnimatedClip] = []
    writer = DatasetWriter(dataset_dir, PRODUCER, __version__, config={"renderer": renderer, "app": True})
    try:
        for i, request in enumerate(requests):
            progress(0.05 + 0.9 * i / len(requests), f"clip {i + 1} of {len(requests)}: "
                                                      f"{request.pattern or 'driving video'}")
            result = pipe(request)
            written = pipe.write(result, job / f"{result.name}.mp4")
            overlay = write_video(_overlay(result.frames, result.annotations), result.motion.fps,
                                  job / f"{result.name}.overlay.mp4", metadata=result.metadata)
            from interanimate.app.overlay import plot_contact_timeline

            timeline = plot_contact_timeline(result.annotations, result.motion.fps, job / f"{result.name}.contact.png",
                                             title=f"{result.name}: contact timeline")
            record = pipe.record(result)
            if not writer.has_clip(record.clip_id):
                writer.write_clip(record, result.frames, result.annotations, video_metadata=result.metadata)
            clips.append(AnimatedClip(result.name, result.pattern, written["video"], overlay, written["labels"],
                                      written["info"], timeline, int(result.annotations.contact.any(axis=1).sum()),
                                      int(len(result.frames))))
    finally:
        writer.finalize()
    progress(0.97, "packing the InterHF dataset")
    dataset_zip = zip_folder(dataset_dir, job / "interhf-dataset.zip")
    summary = {"renderer": renderer, "clips": [{"name": c.name, "pattern": c.pattern, "frames": c.num_frames,
                                                 "contact_frames": c.contact_frames} for c in clips]}
    return AnimateOutcome(clips, dataset_zip, job, summary)


def _overlay(frames: np.ndarray, annotations) -> np.ndarray:
    from interanimate.app.overlay import overlay_frames

    return overlay_frames(frames, annotations)


# ------------------------------------------------------------------------------------------------ annotate

@dataclass
class AnnotateOutcome:
    record: dict
    overlay: Path | None
    timeline: Path | None
    dataset_zip: Path | None
    job_dir: Path


def annotate(settings: AppSettings, video: str | Path | None, mirrored: bool = False,
             progress: Progress = _no_progress) -> AnnotateOutcome:
    """Annotate one uploaded video into an InterHF dataset; the first clip's overlay and timeline; the zip."""
    from interanimate import __version__
    from interanimate.data.annotate import PRODUCER, AnnotateConfig, VideoInput, annotate_video, content_key
    from interanimate.data.annotations import load_annotations
    from interanimate.data.io import decode_video
    from interanimate.data.manifest import clip_dir, read_manifest
    from interanimate.data.writer import finalize_dataset

    paths = SafePaths(settings.root, settings.temp_dir)
    if not video:
        raise AppInputError("no video: upload a video of a person touching their face")
    source = check_video_upload(settings, paths, video, "video")
    job = new_job_dir(settings, "annotate")
    local = job / "input" / source.name
    local.parent.mkdir()
    shutil.copyfile(source, local)
    dataset_dir = job / "dataset"
    progress(0.05, "finding faces and hands in every frame")
    config = AnnotateConfig(mirrored=bool(mirrored))
    result = annotate_video(VideoInput(local, content_key(local)), dataset_dir, config)
    if result.status == "rejected":
        raise AppInputError(f"video {source.name}: {result.message or result.reason}")
    progress(0.8, "writing the dataset")
    records = finalize_dataset(dataset_dir, PRODUCER, __version__, config={"annotate": config.__dict__})
    record = {"video": source.name, "status": result.status, "reason": result.reason, "message": result.message,
              "frames": result.frames, "info": result.info, "clips": result.clips,
              "rejected_clips": result.rejected_clips,
              "records": [json.loads(r.to_json()) for r in records]}
    record = public_record(record, settings.root)
    if not result.clips:
        return AnnotateOutcome(record, None, None, None, job)
    best = max(result.clips, key=lambda c: (c["pattern"] is not None, c["contact_frames"]))
    rec = next(r for r in read_manifest(dataset_dir) if r.clip_id == best["clip_id"])
    folder = clip_dir(dataset_dir, rec.clip_id)
    frames = decode_video(folder / "video.mp4")
    ann = load_annotations(folder / "annotations.npz", rec.height, rec.width)
    progress(0.9, "drawing the labels")
    overlay = write_video(_overlay(frames, ann), rec.fps, job / f"{rec.clip_id}.overlay.mp4")
    from interanimate.app.overlay import plot_contact_timeline

    label = f"{best['pattern']} ({best['confidence']:.0%})" if best["pattern"] else "no pattern recognised"
    timeline = plot_contact_timeline(ann, rec.fps, job / f"{rec.clip_id}.contact.png", title=f"{rec.clip_id}: {label}")
    record["shown_clip"] = rec.clip_id
    dataset_zip = zip_folder(dataset_dir, job / "interhf-dataset.zip")
    return AnnotateOutcome(record, overlay, timeline, dataset_zip, job)
