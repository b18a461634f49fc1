"""Running ``annotate_video`` over many inputs on the job engine (``interanimate.data.jobs``), resumably.

Local processes and Ray do the same thing per video and differ only in who runs it. The driver skips videos
whose log entry exists (resume), gathers the results, assigns subject ids (sidecar, else clustering
of per-video embeddings; clip records are rewritten atomically when an id changes) and finalises the
manifest and card from the clip folders. The result is independent of the engine, the number of
workers and the order in which videos finish.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interanimate import __version__
from interanimate.data.annotate.identity import cluster_subjects, load_sidecar, sidecar_subject
from interanimate.data.annotate.pipeline import (
    LOG_DIR,
    PRODUCER,
    AnnotateConfig,
    VideoResult,
    annotate_video,
    read_log,
)
from interanimate.data.annotate.video import AnnotateError, VideoInput, discover_inputs
from interanimate.data.jobs import JobItem, JobReport, Reject, check_engine, run_jobs
from interanimate.data.io import atomic_write_json, atomic_write_text, make_folder
from interanimate.data.manifest import CLIPS_DIR, RECORD_NAME, ClipRecord
from interanimate.data.writer import finalize_dataset, sweep_staging

SUMMARY_NAME = "annotate_summary.json"
REPORT_NAME = "annotate_report.json"  # the job engine's counts and rejects of the last run


@dataclass
class RunSummary:
    results: list[VideoResult] = field(default_factory=list)
    resumed: int = 0
    report: JobReport | None = None

    @property
    def accepted(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "accepted"]

    @property
    def num_clips(self) -> int:
        return sum(len(r.clips) for r in self.results)

    def table(self) -> str:
        """A fixed-width table: one row per video, then totals and reasons."""
        rows = [("video", "status", "clips", "reason")]
        for r in self.results:
            patterns = ",".join(sorted({c["pattern"] or "unlabelled" for c in r.clips}))
            rows.append((Path(r.path).name[:40], r.status, str(len(r.clips)),
                         (r.reason or patterns)[:70] + (f" ({r.message[:60]})" if r.status == "rejected" else "")))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}" for a, b, c, d in rows]
        counts = {s: sum(r.status == s for r in self.results) for s in ("accepted", "empty", "rejected")}
        reasons: dict[str, int] = {}
        for r in self.results:
            for c in r.rejected_clips:
                reasons[f"clip:{c['reason']}"] = reasons.get(f"clip:{c['reason']}", 0) + 1
            if r.status == "rejected":
                reasons[r.reason] = reasons.get(r.reason, 0) + 1
        lines.append(f"{len(self.results)} videos: {counts['accepted']} accepted, {counts['empty']} without clips, "
                     f"{counts['rejected']} rejected; {self.num_clips} clips ({self.resumed} videos already done)")
        if reasons:
            lines.append("reject reasons: " + ", ".join(f"{k} x{v}" for k, v in sorted(reasons.items())))
        if self.report is not None:
            lines.append(self.report.table())
        return "\n".join(lines)


def _annotate_one(out: str, config: dict, payload: dict) -> dict:
    """The unit of work of ``annotate``: one video into clips and a log entry (``annotate_video``)."""
    item = VideoInput(Path(payload["path"]), payload["key"], payload["error"])
    return annotate_video(item, Path(out), AnnotateConfig(**config), payload["subject"]).to_dict()


def assign_subjects(out: Path, results: list[VideoResult], rewritten: set[str] | None = None) -> dict[str, str]:
    """Final subject id per video key; rewrites clip records whose provisional id differs (their ids are added to
    ``rewritten``). Pass every video of the dataset, earlier runs' too, so a person keeps one subject id."""
    fixed = {r.key: r.subject_id for r in results if r.subject_id}
    embeddings = {r.key: np.asarray(r.embedding, np.float32) for r in results
                  if r.clips and not r.subject_id and r.embedding}
    mapping = {**cluster_subjects(embeddings), **fixed}
    for r in results:
        for clip in r.clips:
            path = Path(out) / CLIPS_DIR / clip["clip_id"] / RECORD_NAME
            if not path.is_file():
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            subject = mapping.get(r.key, data["subject_id"])
            if data["subject_id"] != subject:
                data["subject_id"] = subject
                atomic_write_text(path, ClipRecord.from_dict(data).to_json() + "\n")
                if rewritten is not None:
                    rewritten.add(clip["clip_id"])
    return mapping


def _logged_results(out: Path) -> list[VideoResult]:
    """Every video result logged in ``out`` (by this run or earlier ones)."""
    folder = Path(out) / LOG_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        result = read_log(out, path.stem)
        if result is not None:
            found.append(result)
    return found


def _without_own_output(items: list, out: Path) -> list:
    """Inputs minus videos inside ``out`` (its own clips) and minus repeats of the same content (same key)."""
    base = out.resolve()
    kept, keys = [], set()
    for item in items:
        resolved = Path(item.path).resolve()
        if resolved == base or base in resolved.parents:
            continue
        if item.key in keys:  # the same video under another name: annotate it once
            continue
        keys.add(item.key)
        kept.append(item)
    return kept


def run_annotate(inputs: list[Path | str], out: Path, config: AnnotateConfig | None = None, engine: str = "local",
                 workers: int = 1, address: str | None = None, subjects: Path | None = None,
                 progress: bool = True) -> RunSummary:
    """Annotate ``inputs`` (files, folders, list files) into the dataset at ``out``; resumable.

    Videos run on the job engine (``interanimate.data.jobs``): ``engine`` is ``local`` or ``ray``, ``address`` a
    Ray cluster to join. Subject ids are assigned afterwards, over every video of the dataset.
    """
    config = config or AnnotateConfig()
    check_engine(engine, workers, address)
    out = Path(out)
    items = _without_own_output(discover_inputs(inputs), out)
    if not items:
        raise AnnotateError("no input videos found (pass video files, folders of videos, or a list file; videos "
                            f"inside --out {out} are the dataset's own clips and are not inputs)")
    if out.exists() and not out.is_dir():
        raise AnnotateError(f"{out}: exists and is not a folder")
    make_folder(out / CLIPS_DIR)
    sweep_staging(out)
    sidecar = load_sidecar(subjects) if subjects else {}
    summary = RunSummary()
    done: dict[str, VideoResult] = {}
    jobs = []
    for item in items:
        previous = read_log(out, item.key)
        if previous is not None:
            done[item.key] = previous
        subject = sidecar_subject(sidecar, item.path) if sidecar and previous is None else None
        jobs.append(JobItem(item.key, {"path": str(item.path), "key": item.key, "error": item.error,
                                       "subject": subject}))
    report = run_jobs(jobs, functools.partial(_annotate_one, str(out), dataclasses.asdict(config)),
                      done=lambda job: job.id in done, engine=engine, workers=workers, address=address,
                      progress=progress, desc="annotate", unit="video")
    summary.resumed, summary.report = len(report.skipped), report
    for data in report.results.values():
        done[data["key"]] = VideoResult(**data)
    summary.results = [done[item.key] for item in items if item.key in done]
    # Videos annotated into this folder by earlier runs take part in subject matching, so a person already in the
    # dataset keeps their subject id (and split) instead of becoming a new subject on the other side.
    earlier = [r for r in _logged_results(out) if r.key not in done]
    rewritten: set[str] = set()
    assign_subjects(out, summary.results + earlier, rewritten)
    finalize_dataset(out, PRODUCER, __version__, config={"annotate": dataclasses.asdict(config)}, rewritten=rewritten)
    atomic_write_json(out / SUMMARY_NAME, {"videos": [r.to_dict() for r in summary.results],
                                           "clips": summary.num_clips})
    for r in summary.results:  # a rejected video is a reject of the run, though annotate_video returned normally
        if r.status == "rejected" and report.results.pop(r.key, None) is not None:
            report.rejects.append(Reject(r.key, r.reason, r.message))
    report.write(out / REPORT_NAME)
    return summary


__all__ = ["RunSummary", "run_annotate", "assign_subjects", "SUMMARY_NAME", "REPORT_NAME"]
