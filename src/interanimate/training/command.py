"""``interanimate train``: arguments and the function the CLI calls.

    interanimate train --preset tiny|small|sd15 --data DIR --out RUN_DIR [key=value ...] [--max-steps N] [--dry-run]

Re-running the same command continues the run in RUN_DIR from its latest checkpoint. Bad input raises an exception
whose message is one complete line (``ConfigError``, ``IncompatibleRunError``, ``TrainingSetupError``,
``DataSetupError`` — all ``ValueError`` — or ``FileNotFoundError`` / ``NotADirectoryError``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from interanimate.cli_types import positive_int
from interanimate.training.config import load_config, to_dict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="tiny", help="tiny, small, sd15 or a .yaml path (default: tiny)")
    parser.add_argument("--data", type=Path, help="dataset folder or folder of packed shards (sets data.path)")
    parser.add_argument("--out", type=Path, required=True, help="run folder; re-running the same command resumes it")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. train.batch_size=4 stage.stages=[1,2] stage.steps=[500,500]")
    parser.add_argument("--max-steps", type=positive_int, default=None,
                        help="stop after this many steps in total (checkpointed; re-run to continue)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and the stage plan, then exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def resolve(args: argparse.Namespace):
    overrides = list(args.overrides)
    if args.data is not None:
        overrides.append(f"data.path={Path(args.data).expanduser().resolve()}")
    return load_config(args.preset, overrides)


def run(args: argparse.Namespace) -> int:
    from interanimate.training.data_stream import check_data_path

    config = resolve(args)
    check_data_path(config.data.path)
    if args.dry_run:
        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        plan = ", ".join(f"stage {s}: {n} steps" for s, n in config.stage.plan())
        print(f"# plan: {plan}; run folder: {args.out}")
        return 0
    from interanimate.data.io import output_errors
    from interanimate.training.trainer import train

    with output_errors(args.out):  # a full or read-only run folder: one line, the last complete checkpoint kept
        summary = train(config, args.out, max_steps=args.max_steps, progress=not args.no_progress)
    if summary.is_main_process:
        for line in summary.lines():
            print(line)
        from interanimate.training.curves import plot_training_curves

        curves = plot_training_curves(args.out)
        if curves is not None:
            print(f"loss curves: {curves}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m interanimate.training.command``), e.g. under ``accelerate launch``."""
    import sys

    parser = argparse.ArgumentParser(prog="interanimate train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as err:
        print(f"interanimate: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
