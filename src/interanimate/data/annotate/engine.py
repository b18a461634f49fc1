"""Running ``annotate_video`` over many inputs: locally (processes) or on Ray, resumably.

Both engines do the same thing per video and differ only in who runs it. The driver skips videos
whose log entry exists (resume), gathers the results, assigns subject ids (sidecar, else clustering
of per-video embeddings; clip records are rewritten atomically when an id changes) and finalises the
manifest and card from the clip folders. The result is independent of the engine, the number of
workers and the order in which videos finish.
"""

from __future__ import annotations

import dataclasses
import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
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
from interanimate.data.io import atomic_write_json, atomic_write_text, make_folder
from interanimate.data.manifest import CLIPS_DIR, RECORD_NAME, ClipRecord
from interanimate.data.writer import finalize_dataset, sweep_staging

SUMMARY_NAME = "annotate_summary.json"


@dataclass
class RunSummary:
    results: list[VideoResult] = field(default_factory=list)
    resumed: int = 0

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
        return "\n".join(lines)


def _work(args: tuple[dict, str, dict, str | None]) -> dict:
    item, out, config, subject = args
    result = annotate_video(VideoInput(Path(item["path"]), item["key"], item["error"]), Path(out),
                            AnnotateConfig(**config), subject)
    return result.to_dict()


def _run_local(jobs: list[tuple], workers: int, progress) -> list[dict]:
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(_work(job))
            progress(out[-1])
        return out
    import multiprocessing

    results = []
    # "spawn": MediaPipe's and dlib's native threads do not survive fork safely.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(_work, job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results.append(future.result())
                progress(results[-1])
    return results


def _run_ray(jobs: list[tuple], workers: int, address: str | None, progress) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise AnnotateError("--engine ray needs Ray: pip install 'interanimate[ray]' (or \"ray[data]\")") from None
    started_here = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        ray.init(log_to_driver=False, **kwargs)
        started_here = True
    try:
        import ray.data

        rows = [{"payload": json.dumps(job)} for job in jobs]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))

        def run_row(row: dict) -> dict:
            item, out, config, subject = json.loads(row["payload"])
            return {"result": json.dumps(_work((item, out, config, subject)))}

        results = []
        for row in dataset.map(run_row, num_cpus=1, concurrency=max(1, workers)).iter_rows():
            results.append(json.loads(row["result"]))
            progress(results[-1])
        return results
    finally:
        if started_here:
            ray.shutdown()


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
    """Annotate ``inputs`` (files, folders, list files) into the dataset at ``out``; resumable."""
    from tqdm import tqdm

    config = config or AnnotateConfig()
    if engine not in ("local", "ray"):
        raise AnnotateError(f"unknown engine {engine!r}; choose local or ray")
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
            summary.resumed += 1
            continue
        subject = sidecar_subject(sidecar, item.path) if sidecar else None
        jobs.append(({"path": str(item.path), "key": item.key, "error": item.error}, str(out),
                     dataclasses.asdict(config), subject))
    bar = tqdm(total=len(jobs), desc="annotate", unit="video", disable=not progress)

    def advance(result: dict) -> None:
        bar.update(1)
        bar.set_postfix_str(f"{Path(result['path']).name}: {result['status']}")

    try:
        raw = _run_ray(jobs, workers, address, advance) if engine == "ray" and jobs else _run_local(jobs, workers, advance)
    finally:
        bar.close()
    for data in raw:
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
    return summary


__all__ = ["RunSummary", "run_annotate", "assign_subjects", "SUMMARY_NAME", "os"]
