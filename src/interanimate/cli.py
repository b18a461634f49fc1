"""The ``interanimate`` command: it only registers the subcommands, each of which lives in its own module.

Each command module has ``add_arguments(parser)`` and ``run(args) -> exit status``. Expected failures raise a
subclass of :class:`interanimate.errors.UserError`; they print one line ``interanimate: error: ...`` and exit with
status 2. Any other exception is a bug and keeps its traceback. A dataset that fails validation exits with 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from interanimate import __version__
from interanimate.errors import UserError

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2

# (name, module with add_arguments/run, one-line help); modules are imported when the parser is built, and each
# imports its heavy dependencies only inside ``run``.
COMMANDS = (
    ("data", "interanimate.data.command", "check, summarise and pack InterHF datasets"),
    ("assets", "interanimate.assets_command", "model files used offline (MediaPipe landmarkers)"),
    ("synth", "interanimate.data.synth.command", "render a procedural InterHF dataset of all 18 patterns (resumable)"),
    ("annotate", "interanimate.data.annotate.command", "turn real videos into an InterHF dataset (resumable)"),
    ("train", "interanimate.training.command", "train a model from a preset + key=value overrides (re-run to resume)"),
    ("animate", "interanimate.pipelines.command",
     "reference photo x pattern or driving video -> video + labels + provenance"),
    ("evaluate", "interanimate.evaluation.command",
     "score generated clips against a reference dataset (JSON + HTML report)"),
    ("provenance", "interanimate.provenance_command", "check videos for InterAnimate's synthetic-video marks"),
    ("demo", "interanimate.demo_command", "the whole path, small, on CPU"),
    ("app", "interanimate.app.command", "the browser app: animate, browse a dataset, annotate (127.0.0.1 by default)"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interanimate", description="Realistic hand-face interaction videos and the "
                                     "InterHF dataset toolchain: annotate, train, evaluate, check provenance.")
    parser.add_argument("--version", action="version", version=f"interanimate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module, text in COMMANDS:
        command = importlib.import_module(module)
        p = commands.add_parser(name, help=text)
        command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"interanimate: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interanimate: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
