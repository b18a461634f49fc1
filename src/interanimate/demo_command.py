"""``interanimate demo``: the whole path, small, on CPU."""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli_types import seed_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--quick", action="store_true", help="an even smaller run (for smoke tests)")
    parser.add_argument("--checkpoint", type=Path, help="model to animate with (default: the small checkpoint shipped "
                                                        "with the package)")


def run(args: argparse.Namespace) -> int:
    from interanimate.data.io import output_errors
    from interanimate.demo import run_demo

    with output_errors(args.out):
        summary = run_demo(args.out, seed=args.seed, quick=args.quick, checkpoint=args.checkpoint)
    print(summary)
    return 0
