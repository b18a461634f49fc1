"""``interanimate demo``: the whole path, small, on CPU."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo_output"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="an even smaller run (for smoke tests)")
    parser.add_argument("--checkpoint", type=Path, help="model to animate with (default: the small checkpoint shipped "
                                                        "with the package)")


def run(args: argparse.Namespace) -> int:
    from interanimate.demo import run_demo

    print(run_demo(args.out, seed=args.seed, quick=args.quick, checkpoint=args.checkpoint))
    return 0
