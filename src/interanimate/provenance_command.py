"""``interanimate provenance check FILE...``: report the synthetic-video tags and watermark of each file.

Exits 1 when any file carries neither mark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.errors import MissingInputError


def _check(args: argparse.Namespace) -> int:
    from interanimate.provenance import check_file

    unmarked = 0
    for path in args.files:
        if not Path(path).is_file():
            raise MissingInputError(f"{path}: no such file")
        report = check_file(path)
        unmarked += not report.synthetic
        print(report.describe())
    return 1 if unmarked else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="provenance_command", metavar="ACTION", required=True)
    p = actions.add_parser("check", help="report container tags and the watermark; exit 1 if any file carries neither")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(action=_check)


def run(args: argparse.Namespace) -> int:
    return args.action(args)
