"""``interanimate data validate|stats|pack``: check, summarise and pack InterHF datasets.

``validate`` exits 1 when it finds contract violations, ``stats`` when clips are unreadable and ``pack`` when it
refuses clips; bad input (no dataset at the path) is a one-line error with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli_types import int_in, positive_int

EXIT_OK, EXIT_VIOLATIONS = 0, 1


def _validate(args: argparse.Namespace) -> int:
    from interanimate.data.io import atomic_write_text
    from interanimate.data.validate import report_to_json, validate_dataset

    report = validate_dataset(args.dataset, deep=args.deep, workers=args.workers, progress=not args.quiet)
    if args.json:
        atomic_write_text(Path(args.json), report_to_json(report))
    shown = report.violations if args.max_violations == 0 else report.violations[: args.max_violations]
    for violation in shown:
        print(violation)
    if len(shown) < len(report.violations):
        print(f"... and {len(report.violations) - len(shown)} more (use --max-violations 0 or --json to see all)")
    rate = report.num_clips / report.seconds if report.seconds else float("inf")
    if report.ok:
        print(f"OK: {report.num_clips} clips valid ({report.seconds:.2f} s, {rate:.0f} clips/s)")
        return EXIT_OK
    clips = len({v.clip_id for v in report.violations})
    print(f"FAILED: {len(report.violations)} violations in {clips} of {report.num_clips} clips "
          f"({report.seconds:.2f} s)")
    return EXIT_VIOLATIONS


def _stats(args: argparse.Namespace) -> int:
    from interanimate.data.io import atomic_write_text
    from interanimate.data.stats import compute_stats, format_table, plot_stats

    stats = compute_stats(args.dataset)
    print(format_table(stats))
    chart = plot_stats(stats, args.chart or Path(args.dataset) / "stats.png")
    print(f"chart: {chart}")
    if args.json:
        atomic_write_text(Path(args.json), stats.to_json())
    return EXIT_VIOLATIONS if stats.unreadable else EXIT_OK


def _pack(args: argparse.Namespace) -> int:
    from interanimate.data.pack import pack_dataset

    report = pack_dataset(args.dataset, args.out, clips_per_shard=args.clips_per_shard, split=args.split,
                          progress=not args.quiet)
    print(f"packed {report.num_clips} clips into {len(report.shards)} shards in {args.out}")
    for item in report.rejected:
        print(f"refused {item['clip_id']}: {item['reason']}")
    if report.rejected:
        print(f"{len(report.rejected)} clips refused (listed in {Path(args.out) / 'index.json'}); "
              "run `interanimate data validate` on the dataset for details")
        return EXIT_VIOLATIONS
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = actions.add_parser("validate", help="check a dataset against the contract; exit 1 on any violation")
    p.add_argument("dataset", type=Path)
    p.add_argument("--deep", action="store_true", help="also decode every video frame (slower)")
    p.add_argument("--workers", type=positive_int, default=1, help="parallel processes")
    p.add_argument("--max-violations", type=int_in(0), default=50, help="violations to print (0 = all)")
    p.add_argument("--json", type=Path, help="write the full report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(action=_validate)
    p = actions.add_parser("stats", help="counts per pattern/family/split/subject, contact fractions, chart")
    p.add_argument("dataset", type=Path)
    p.add_argument("--chart", type=Path, help="PNG path (default: DATASET/stats.png)")
    p.add_argument("--json", type=Path, help="also write the numbers as JSON")
    p.set_defaults(action=_stats)
    p = actions.add_parser("pack", help="write WebDataset-style tar shards for streaming training")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--clips-per-shard", type=positive_int, default=256)
    p.add_argument("--split", choices=("train", "test"), help="pack only this split")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(action=_pack)


def run(args: argparse.Namespace) -> int:
    return args.action(args)
