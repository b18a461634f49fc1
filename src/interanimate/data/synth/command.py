"""``interanimate synth``: render a procedural InterHF-format dataset."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from interanimate.cli_types import float_in, fps_float, seed_int
from interanimate.taxonomy import FAMILIES, PATTERN_NAMES, UnknownNameError, resolve_patterns

DESCRIPTION = (
    "Render a procedural hand-face interaction dataset (InterHF format) with exact labels: keypoints, masks, "
    "contact frames and regions, depth, deformation, penetration and 3-D joints. Re-running the same command "
    "resumes: finished clips are kept and skipped."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = parser.description or DESCRIPTION
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to create or resume")
    parser.add_argument("--subjects", type=int, default=4, help="number of synthetic people (default 4)")
    parser.add_argument("--clips-per-pattern", type=int, default=1, help="clips per subject and pattern (default 1)")
    parser.add_argument("--frames", type=int, default=48, help="frames per clip, at least 8 (default 48)")
    parser.add_argument("--size", type=int, default=128, help="frame width and height in pixels, 64-512 (default 128)")
    parser.add_argument("--seed", type=seed_int, default=0,
                        help="dataset seed, 0-4294967295; the same seed gives identical annotations")
    parser.add_argument("--patterns", nargs="+", metavar="NAME",
                        help=f"patterns or families to render (default: all 18); families: {', '.join(FAMILIES)}")
    from interanimate.data.jobs import add_engine_arguments

    add_engine_arguments(parser, noun="clips")
    parser.add_argument("--fps", type=fps_float, default=25.0, help="frames per second, 1-240 (default 25)")
    parser.add_argument("--motion-blur", action="store_true", help="blur fast motion (renders two sub-frames per frame)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0, high_open=True), default=0.1,
                        help="share of subjects in the test split, [0, 1) (default 0.1)")
    parser.add_argument("--preview", action="store_true", help="also write OUT/preview.png, a frame strip per pattern")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> SystemExit:
    print(f"interanimate synth: error: {message}", file=sys.stderr)
    return SystemExit(2)


def validate_args(args: argparse.Namespace):
    """Check the arguments; raise ``SystemExit`` after one clear line on stderr when they are wrong."""
    try:
        patterns = resolve_patterns(args.patterns)
    except UnknownNameError as err:
        raise _fail(f"{err} (patterns: {', '.join(PATTERN_NAMES)})") from None
    if args.subjects <= 0:
        raise _fail(f"--subjects must be a positive number, got {args.subjects}")
    if args.clips_per_pattern <= 0:
        raise _fail(f"--clips-per-pattern must be a positive number, got {args.clips_per_pattern}")
    if args.frames < 8:
        raise _fail(f"--frames must be at least 8 (approach, contact, action, retreat), got {args.frames}")
    if not 64 <= args.size <= 512:
        raise _fail(f"--size must be between 64 and 512 pixels, got {args.size}")
    if args.workers <= 0:
        raise _fail(f"--workers must be at least 1, got {args.workers}")
    if args.address and args.engine != "ray":
        raise _fail("--address is only used with --engine ray")
    if args.fps <= 0:
        raise _fail(f"--fps must be positive, got {args.fps}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise _fail(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} exists and is not a folder; choose a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise _fail(f"--out {out} is not writable ({err.strerror or err}); choose a folder you can write to") from None
    if not os.access(out, os.W_OK):
        raise _fail(f"--out {out} is not writable; choose a folder you can write to")
    return patterns


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    patterns = validate_args(args)
    from interanimate.data.synth.generator import generate_dataset

    summary = generate_dataset(
        args.out, args.subjects, args.clips_per_pattern, num_frames=args.frames, size=args.size, seed=args.seed,
        patterns=patterns, workers=args.workers, fps=args.fps, motion_blur=args.motion_blur,
        test_fraction=args.test_fraction, progress=not args.no_progress, engine=args.engine, address=args.address,
    )
    preview = None
    if args.preview:
        from interanimate.data.synth.preview import dataset_preview

        preview = dataset_preview(Path(args.out))
    rows = [
        ("dataset", summary["out"]),
        ("clips", f"{summary['clips_total']} ({summary['clips_written']} written, {summary['clips_skipped']} resumed, "
                  f"{summary['clips_rejected']} rejected)"),
        ("subjects", f"{summary['subjects']} (train {summary['splits']['train']} clips, test {summary['splits']['test']} clips)"),
        ("patterns", str(len(patterns))),
        ("frames rendered", str(summary["frames_rendered"])),
        ("time", f"{summary['seconds']:.1f} s ({summary['frames_per_second']:.1f} frames/s with encoding)"),
    ]
    if preview:
        rows.append(("preview", str(preview)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(summary["report"].table())
    return 1 if summary["clips_rejected"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="interanimate synth", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
