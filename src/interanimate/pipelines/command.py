"""``interanimate animate``: the command over ``AnimatePipeline``.

```
interanimate animate --reference PHOTO [PHOTO ...] (--pattern NAME [NAME ...] | --driving VIDEO | --batch MANIFEST)
                     [--renderer composite|diffusion|refine] [--checkpoint DIR] [--strength S] [--size N] [--framing face|photo] [--out PATH] [--as-dataset DIR] [--hand left|right] [--frames N] [--fps F]
                     [--seed S] [--num-inference-steps N] [--guidance-scale G] [--sampler ddim|dpmpp]
                     [--gif] [--side-by-side] [--no-identity] [--quiet]
                     [--engine local|ray] [--workers N] [--address ADDR]
```

The renderer is ``composite`` (the photo itself, warped and touched by a posed 3-D hand; no model needed) unless
``--checkpoint`` is given, which selects ``diffusion`` (the trained model). ``--size`` and ``--framing`` apply to the
composite renderer; the diffusion renderer works at its checkpoint's resolution. ``refine`` renders the composite at
the checkpoint's resolution and samples the model conditioned on it (a checkpoint trained with composite conditions,
e.g. ``--preset small-refine``), from noise or, with ``--strength S`` below 1, from the composite noised to S.

Every reference × every pattern (or the driving video) is one clip; with several clips, clip ``i`` (in that order)
uses seed ``S + i``. ``--pattern`` also takes family names (``poke`` = its 5 patterns) and ``all``.
``--batch MANIFEST`` (JSON lines or CSV with a header) lists one clip per line with keys ``reference`` and
``pattern`` or ``driving``, optionally ``seed``, ``hand``, ``frames``, ``fps``, ``name``; relative paths are relative
to the manifest. In batch mode a failing clip is recorded with its reason (``OUT/animate_summary.json`` and the
printed table) and the rest proceed; the exit status is 1 when any clip failed. Otherwise inputs are checked before
any generation and bad input ends the run with one line and status 2.

``--out`` is a ``.mp4`` file for a single clip, otherwise a folder. ``--as-dataset DIR`` writes (also) an InterHF
dataset; re-running resumes it (clips already there are skipped). Clips run on the job engine
(``interanimate.data.jobs``): ``--workers N`` local processes, or ``--engine ray`` (``--address`` to join a
cluster); each worker builds its pipeline once.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import time
from pathlib import Path

from interanimate.cli_types import float_in, fps_float, int_in, positive_int, seed_int
from interanimate.pipelines.clip_job import AnimateJob, ClipOutputs
from interanimate.pipelines.errors import AnimateError

EXIT_OK, EXIT_FAILED = 0, 1
REPORT_NAME = "animate_report.json"  # the job engine's counts and rejects of the last run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", nargs="+", type=Path, metavar="PHOTO",
                        help="reference photo(s) of the person to animate")
    motion = parser.add_mutually_exclusive_group(required=True)
    motion.add_argument("--pattern", nargs="+", metavar="NAME",
                        help="interaction pattern(s), family names (poke, pinch, stroke, swipe) or 'all'")
    motion.add_argument("--driving", type=Path, metavar="VIDEO",
                        help="driving video (or a clip folder / video of an InterHF dataset)")
    motion.add_argument("--batch", type=Path, metavar="MANIFEST", help="JSON-lines or CSV list of clips")
    parser.add_argument("--renderer", choices=("composite", "diffusion", "refine"),
                        help="composite (default without --checkpoint), diffusion (default with one) or refine "
                             "(composite, then the model conditioned on it)")
    parser.add_argument("--strength", type=float_in(0.0, 1.0), default=1.0,
                        help="refine: 1 samples from noise (default); below 1 starts from the composite noised to "
                             "this strength (0: the composite through the VAE)")
    parser.add_argument("--checkpoint", type=Path,
                        help="run folder, its final/ or checkpoints/step-N/, or a model folder (diffusion renderer)")
    parser.add_argument("--size", type=positive_int, default=512,
                        help="composite: longest output side in pixels (default 512; never enlarged past the photo)")
    parser.add_argument("--framing", choices=("face", "photo"), default="face",
                        help="composite: the training framing around the face (default) or the whole photo")
    parser.add_argument("--out", type=Path, help="an .mp4 file (one clip) or a folder")
    parser.add_argument("--as-dataset", type=Path, metavar="DIR", help="also write an InterHF dataset here")
    from interanimate.data.jobs import add_engine_arguments

    add_engine_arguments(parser, noun="clips")
    parser.add_argument("--hand", choices=("left", "right"),
                        help="acting hand for patterns (subject's side; default: the choreography's draw, and with the "
                             "composite renderer a cheek's own side)")
    parser.add_argument("--frames", type=positive_int, help="frames per clip (pattern default 16; driving: all)")
    parser.add_argument("--fps", type=fps_float, help="frame rate (pattern default 25; driving: the video's)")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the first clip (clip i uses seed + i)")
    parser.add_argument("--num-inference-steps", type=int_in(1, 1000), help="default: the checkpoint's config")
    parser.add_argument("--guidance-scale", type=float_in(0.0, 100.0),
                        help="classifier-free guidance, 0-100; default: the checkpoint's")
    parser.add_argument("--sampler", choices=("ddim", "dpmpp"), default="ddim",
                        help="DDIM or DPM-Solver++(2M) (default ddim)")
    parser.add_argument("--gif", action="store_true", help="also write an animated GIF")
    parser.add_argument("--side-by-side", action="store_true", help="also write reference | conditions | video")
    parser.add_argument("--no-identity", action="store_true", help="do not feed the dlib identity embedding")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _expand_patterns(names: list[str]) -> list[str]:
    from interanimate.taxonomy import resolve_patterns

    if any(n == "all" for n in names):
        return [p.name for p in resolve_patterns(None)]
    try:
        return [p.name for p in resolve_patterns(names)]
    except ValueError as exc:  # unknown name: the message carries did-you-mean suggestions
        raise AnimateError(str(exc)) from None


def read_batch_manifest(path: Path) -> list[dict]:
    """Items of a JSON-lines or CSV manifest; paths resolved relative to the manifest's folder."""
    if not path.is_file():
        raise AnimateError(f"batch manifest {path} does not exist")
    text = path.read_text(encoding="utf-8")
    items: list[dict] = []
    if path.suffix.lower() == ".csv":
        for row in csv.DictReader(text.splitlines()):
            items.append({k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()})
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AnimateError(f"{path}:{number}: not a JSON object ({exc.msg}); write one object per line") \
                    from None
            if not isinstance(item, dict):
                raise AnimateError(f"{path}:{number}: expected a JSON object per line")
            items.append(item)
    if not items:
        raise AnimateError(f"batch manifest {path} lists no clips")
    from interanimate.data.manifest import UnsafePathError, contained_path

    for number, item in enumerate(items, 1):
        for key in ("reference", "driving"):
            # Relative paths are relative to the manifest and must stay inside its folder (the one containment
            # rule for paths read from files); absolute paths are the writer's explicit choice.
            if item.get(key) and not Path(str(item[key])).is_absolute():
                try:
                    item[key] = str(contained_path(path.parent, str(item[key]), f"{path}: item {number}: {key}"))
                except UnsafePathError as exc:
                    raise AnimateError(str(exc)) from None
    return items


def _requests(args: argparse.Namespace) -> tuple[list, list[dict]]:
    """``(requests, batch items)``; batch items keep their raw form for the failure report."""
    from interanimate.pipelines.animate_pipeline import AnimateRequest

    common = dict(hand=args.hand, num_frames=args.frames, fps=args.fps)
    if args.batch is not None:
        items = read_batch_manifest(args.batch)
        requests = []
        for i, item in enumerate(items):
            unknown = set(item) - {"reference", "pattern", "driving", "seed", "hand", "frames", "fps", "name"}
            try:
                if unknown:
                    raise AnimateError(f"unknown keys {', '.join(sorted(unknown))}")
                if not item.get("reference"):
                    raise AnimateError("no reference")
                request = AnimateRequest(
                    reference=Path(item["reference"]), pattern=item.get("pattern"), driving=item.get("driving"),
                    hand=item.get("hand", args.hand), num_frames=int(item["frames"]) if item.get("frames") else
                    args.frames, fps=float(item["fps"]) if item.get("fps") else args.fps,
                    seed=int(item.get("seed", args.seed + i)), name=item.get("name"))
                request.check()
            except (AnimateError, ValueError) as exc:
                request = exc  # recorded as this item's failure; the rest proceed
            requests.append(request)
        return requests, items
    if not args.reference:
        raise AnimateError("--reference PHOTO is required (unless --batch lists the references)")
    requests = []
    if args.pattern:
        patterns = _expand_patterns(args.pattern)
        pairs = [(r, {"pattern": p}) for r in args.reference for p in patterns]
    else:
        pairs = [(r, {"driving": args.driving}) for r in args.reference]
    for i, (reference, motion) in enumerate(pairs):
        request = AnimateRequest(reference=reference, seed=args.seed + i, **motion, **common)
        request.check()
        requests.append(request)
    return requests, []


def _job_items(pipe, requests: list, items: list[dict], batch: bool) -> tuple[list, dict[int, tuple[str, str]]]:
    """Engine items (id: the clip's planned name, so a resumed run skips it) and failures known before any work."""
    from interanimate.data.jobs import JobItem

    jobs, failed = [], {}
    for i, request in enumerate(requests):
        label = _describe(request, items[i] if batch else None)
        if isinstance(request, Exception):
            failed[i] = (label, str(request))
            continue
        try:
            name = pipe.planned_name(request)
        except AnimateError as exc:  # an unreadable photo in batch mode (checked up front otherwise)
            failed[i] = (label, str(exc))
            continue
        jobs.append(JobItem(name or f"item-{i:05d}", request))
    return jobs, failed


def _rows(requests: list, jobs: list, failed: dict[int, tuple[str, str]], report) -> list[dict]:
    """One summary row per request, in request order."""
    jobs_left = iter(jobs)
    rejects = {r.id: r for r in report.rejects if r.reason != "duplicate_id"}
    skipped, seen, rows = set(report.skipped), set(), []
    for i, request in enumerate(requests):
        if i in failed:
            rows.append({"clip": failed[i][0], "status": "failed", "reason": failed[i][1]})
            continue
        item = next(jobs_left)
        if item.id in seen:
            rows.append({"clip": item.id, "status": "failed", "reason": "another clip of this run has the same name"})
        elif item.id in report.results:
            rows.append(report.results[item.id])
        elif item.id in rejects:
            rows.append({"clip": _describe(request, None), "status": "failed", "reason": rejects[item.id].message})
        elif item.id in skipped:  # resuming: a clip already in the dataset (and at --out) is not sampled again
            rows.append({"clip": item.id, "status": "ok", "pattern": request.pattern, "seed": request.seed,
                         "frames": 0, "contact_frames": 0, "seconds": 0.0,
                         "files": {"dataset": f"{item.id} (already in the dataset)"}})
        seen.add(item.id)
    return rows


def run(args: argparse.Namespace) -> int:
    if args.out is None and args.as_dataset is None:
        raise AnimateError("nothing to write: give --out PATH and/or --as-dataset DIR")
    from interanimate.data.io import output_errors

    with output_errors(args.out or args.as_dataset):  # a read-only or full output: one line naming it
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from interanimate import __version__
    from interanimate.data.jobs import Reject, check_engine, run_jobs
    from interanimate.pipelines.animate_pipeline import PRODUCER, AnimatePipeline, write_summary

    renderer = args.renderer or ("diffusion" if args.checkpoint is not None else "composite")
    if renderer in ("diffusion", "refine") and args.checkpoint is None:
        raise AnimateError(f"--renderer {renderer} needs --checkpoint DIR (a run folder or model folder)")
    check_engine(args.engine, args.workers, args.address)
    requests, items = _requests(args)
    batch = args.batch is not None
    if not batch:  # check every reference before any generation, so bad input fails fast
        if renderer in ("composite", "refine"):
            from interanimate.render.composite.photo import read_colour_photo as read_photo
        else:
            from interanimate.pipelines.reference_face import read_photo
        for path in {r.reference for r in requests}:
            read_photo(path)
        if args.driving is not None and not Path(args.driving).exists():
            raise AnimateError(f"driving video {args.driving} does not exist")
    if renderer == "composite":
        from interanimate.render.composite import CompositePipeline

        factory = functools.partial(CompositePipeline, size=args.size, framing=args.framing,
                                    use_identity=not args.no_identity)
    elif renderer == "refine":
        from interanimate.render.refine import RefinePipeline

        factory = functools.partial(RefinePipeline.from_checkpoint, args.checkpoint, strength=args.strength,
                                    sampler=args.sampler, num_inference_steps=args.num_inference_steps,
                                    guidance_scale=args.guidance_scale, use_identity=not args.no_identity)
    else:
        factory = functools.partial(AnimatePipeline.from_checkpoint, args.checkpoint, sampler=args.sampler,
                                    num_inference_steps=args.num_inference_steps,
                                    guidance_scale=args.guidance_scale, use_identity=not args.no_identity)
    pipe = factory()
    if not batch:
        for request in requests:  # face checks too (cached: generation reuses them)
            pipe.reference(request.reference)
    writer = None
    if args.as_dataset is not None:
        from interanimate.data.writer import DatasetWriter

        config = pipe.dataset_config() if renderer == "composite" else {
            "checkpoint_sha256": pipe.checkpoint.sha256, "sampler": args.sampler,
            "num_inference_steps": pipe.num_inference_steps, "guidance_scale": pipe.guidance_scale}
        if renderer == "refine":
            config.update(renderer="refine", strength=args.strength)
        writer = DatasetWriter(args.as_dataset, PRODUCER, __version__, config=config)
    started = time.perf_counter()
    single = len(requests) == 1
    outputs = ClipOutputs(out=None if args.out is None else str(args.out), single=single, gif=args.gif,
                          side_by_side=args.side_by_side,
                          dataset=None if args.as_dataset is None else str(args.as_dataset))

    def done(item) -> bool:  # resuming: in the dataset, and at --out when given
        return writer is not None and writer.has_clip(item.id) and outputs.finished(item.id)

    try:
        jobs, failed = _job_items(pipe, requests, items, batch)
        # Outside batch mode inputs were checked up front, so a failing clip ends the run (one line, status 2).
        report = run_jobs(jobs, AnimateJob(factory, outputs).attach(pipe), done=done, engine=args.engine,
                          workers=args.workers, address=args.address, expected=(AnimateError,) if batch else (),
                          num_gpus="auto" if renderer in ("diffusion", "refine") else 0, progress=not (args.quiet or single),
                          desc="animate", unit="clip")
    finally:
        if writer is not None:
            writer.finalize()
    rows = _rows(requests, jobs, failed, report)
    # Requests refused before any work (a bad manifest line, an unreadable photo) are rejects of the run too.
    report.total += len(failed)
    report.rejects += [Reject(label, "AnimateError", reason) for label, reason in failed.values()]
    summary_dir = args.out if args.out is not None and args.out.suffix.lower() != ".mp4" else args.as_dataset
    if summary_dir is not None and (batch or len(rows) > 1):
        write_summary(Path(summary_dir) / "animate_summary.json", rows)
        report.write(Path(summary_dir) / REPORT_NAME)
    _print_table(rows, time.perf_counter() - started, pipe)
    if len(rows) > 1:
        print(report.table())
    return EXIT_FAILED if any(r["status"] == "failed" for r in rows) else EXIT_OK


def _describe(request, item: dict | None) -> str:
    if item is not None and isinstance(request, Exception):
        return f"{item.get('reference', '?')} × {item.get('pattern') or item.get('driving') or '?'}"
    return f"{Path(str(request.reference)).stem} × {request.pattern or request.driving}"


def _print_table(rows: list[dict], seconds: float, pipe) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    width = max([len(r["clip"]) for r in rows] + [4])
    print(f"{'clip':<{width}}  {'status':<6}  {'frames':>6}  {'contact':>7}  detail")
    for r in rows:
        if r["status"] == "ok":
            where = r["files"].get("video") or r["files"].get("dataset", "")
            print(f"{r['clip']:<{width}}  ok      {r['frames']:>6}  {r['contact_frames']:>7}  {where}")
        else:
            print(f"{r['clip']:<{width}}  FAILED  {'':>6}  {'':>7}  {r['reason']}")
    frames = sum(r["frames"] for r in ok)
    rate = f", {seconds / frames:.2f} s/frame" if frames else ""
    if pipe.checkpoint is None:
        print(f"{len(ok)} of {len(rows)} clips generated in {seconds:.1f} s{rate} ({pipe.summary()})")
        return
    print(f"{len(ok)} of {len(rows)} clips generated in {seconds:.1f} s{rate} "
          f"(checkpoint {pipe.checkpoint.sha256[:12]}, {pipe.sampler}, {pipe.num_inference_steps} steps)")
    for note in pipe.checkpoint.notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m interanimate.pipelines.command``); the ``interanimate`` CLI wraps ``run``."""
    import sys

    parser = argparse.ArgumentParser(prog="interanimate animate", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except AnimateError as exc:
        print(f"interanimate animate: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
