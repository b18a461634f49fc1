"""``interanimate annotate INPUT... --out DIR``: real videos -> InterHF dataset (see ``docs/annotate.md``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli_types import float_in, positive_int
from interanimate.data.annotate.video import AnnotateError

EXPECTED_ERRORS = (AnnotateError,)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="video files, folders of videos (searched recursively) or list files (.txt, one path a line)")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (re-running the same command resumes)")
    from interanimate.data.jobs import add_engine_arguments

    add_engine_arguments(parser, noun="videos")
    parser.add_argument("--subjects", type=Path, metavar="SIDECAR",
                        help="JSON {video: subject} or CSV video,subject; otherwise subjects are clustered by face")
    parser.add_argument("--preview", action="store_true", help="write a frame strip per clip under OUT/previews/")
    parser.add_argument("--padding", type=float_in(0.0, 60.0), default=0.5,
                        help="seconds kept around each interaction, 0-60 (0.5)")
    parser.add_argument("--max-clip-seconds", type=float_in(0.0, 3600.0, low_open=True), default=8.0,
                        help="longest clip, up to 3600 (8)")
    parser.add_argument("--max-side", type=positive_int, default=960, help="long side of the output resolution (960)")
    parser.add_argument("--mirrored", action="store_true", help="input is mirrored (front-camera preview)")
    parser.add_argument("--interactions-only", action="store_true",
                        help="no unlabelled clips from videos without a detected interaction")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from interanimate.data.annotate.engine import run_annotate
    from interanimate.data.annotate.pipeline import AnnotateConfig

    if args.padding < 0 or args.max_clip_seconds <= 0:
        raise AnnotateError("--padding must be >= 0 and --max-clip-seconds > 0")
    config = AnnotateConfig(max_side=args.max_side, padding_s=args.padding, max_clip_s=args.max_clip_seconds,
                            mirrored=args.mirrored, keep_unlabelled=not args.interactions_only, preview=args.preview)
    summary = run_annotate(args.inputs, args.out, config, engine=args.engine, workers=args.workers,
                           address=args.address, subjects=args.subjects, progress=not args.quiet)
    print(summary.table())
    print(f"dataset: {args.out} (check it with `interanimate data validate {args.out}`)")
    return 0
