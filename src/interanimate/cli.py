"""The ``interanimate`` command: a thin layer that parses arguments, calls the API and prints.

Expected failures (bad input, missing files, unknown names) print one line ``interanimate: error: ...``
and exit with status 2; a dataset that fails validation exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from interanimate import __version__
from interanimate.cli_types import positive_int

EXIT_OK, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2

SUBSYSTEM_COMMANDS = (
    ("synth", "interanimate.data.synth.command", "render a procedural InterHF dataset of all 18 patterns (resumable)"),
    ("annotate", "interanimate.data.annotate.command", "turn real videos into an InterHF dataset (resumable)"),
    ("train", "interanimate.training.command", "train a model from a preset + key=value overrides (re-run to resume)"),
    ("animate", "interanimate.pipelines.command",
     "reference photo x pattern or driving video -> video + labels + provenance"),
)


class UserError(Exception):
    """An expected failure whose message is the whole story (no traceback)."""


def _expected_errors() -> tuple[type[BaseException], ...]:
    from interanimate.assets import AssetMissingError
    from interanimate.data.annotations import AnnotationFormatError
    from interanimate.data.io import VideoReadError
    from interanimate.data.annotate.video import AnnotateError
    from interanimate.data.manifest import DatasetFormatError
    from interanimate.evaluation.backbones.weights import WeightsError
    from interanimate.evaluation.runner import EvaluationInputError
    from interanimate.pipelines.errors import AnimateError
    from interanimate.taxonomy import UnknownNameError
    from interanimate.training.checkpoint import IncompatibleRunError
    from interanimate.training.config import ConfigError
    from interanimate.training.data_stream import DataSetupError
    from interanimate.training.trainer import TrainingSetupError

    return (UserError, AnimateError, AnnotateError, DatasetFormatError, EvaluationInputError, WeightsError, ConfigError,
            IncompatibleRunError, DataSetupError, TrainingSetupError, AnnotationFormatError, VideoReadError, AssetMissingError,
            UnknownNameError, FileNotFoundError, NotADirectoryError, PermissionError, FileExistsError)


# --- data -------------------------------------------------------------------------------------------

def _cmd_validate(args: argparse.Namespace) -> int:
    from interanimate.data.validate import report_to_json, validate_dataset

    report = validate_dataset(args.dataset, deep=args.deep, workers=args.workers, progress=not args.quiet)
    if args.json:
        Path(args.json).write_text(report_to_json(report), encoding="utf-8")
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


def _cmd_stats(args: argparse.Namespace) -> int:
    from interanimate.data.stats import compute_stats, format_table, plot_stats

    stats = compute_stats(args.dataset)
    print(format_table(stats))
    chart = plot_stats(stats, args.chart or Path(args.dataset) / "stats.png")
    print(f"chart: {chart}")
    if args.json:
        Path(args.json).write_text(stats.to_json(), encoding="utf-8")
    return EXIT_VIOLATIONS if stats.unreadable else EXIT_OK


def _cmd_pack(args: argparse.Namespace) -> int:
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


# --- assets -----------------------------------------------------------------------------------------

def _cmd_assets_fetch(args: argparse.Namespace) -> int:
    from interanimate.assets import ASSETS, fetch

    for name in args.names or list(ASSETS):
        path, downloaded = fetch(name, force=args.force)
        if downloaded or not args.quiet:
            print(f"{name}: {path} ({'downloaded and verified' if downloaded else 'verified'})")
    return EXIT_OK


def _cmd_assets_list(args: argparse.Namespace) -> int:
    from interanimate.assets import ASSETS, AssetMissingError, model_path

    for name, asset in ASSETS.items():
        try:
            where = str(model_path(name))
        except AssetMissingError:
            where = "missing (run `interanimate assets fetch`)"
        print(f"{name:<18}{asset.description}\n{'':<18}{where}\n{'':<18}env: {asset.env_var}")
    return EXIT_OK


# --- provenance -----------------------------------------------------------------------------------

def _cmd_provenance_check(args: argparse.Namespace) -> int:
    from interanimate.provenance import check_file

    unmarked = 0
    for path in args.files:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
        report = check_file(path)
        unmarked += not report.synthetic
        print(report.describe())
    return EXIT_VIOLATIONS if unmarked else EXIT_OK


# --- evaluate -------------------------------------------------------------------------------------

def _cmd_evaluate(args: argparse.Namespace) -> int:
    from interanimate.evaluation.report import write_report
    from interanimate.evaluation.runner import EvaluateConfig, evaluate

    config = EvaluateConfig(metrics=tuple(args.metrics), max_clips=args.max_clips, frames_per_clip=args.frames_per_clip,
                            fid_weights=args.fid_weights, fvd_weights=args.fvd_weights,
                            lpips_weights=args.lpips_weights, lpips_backbone_weights=args.lpips_backbone_weights,
                            assume_standard=args.assume_standard_weights, arcface_weights=args.arcface,
                            cache_dir=str(args.cache) if args.cache else None)
    redetector = None
    if "anatomy" in config.metrics:
        from interanimate.evaluation.redetect import AnnotatorRedetector

        redetector = AnnotatorRedetector()
    result = evaluate(args.generated, args.reference, config, redetector=redetector, progress=not args.quiet)
    json_path, html_path = write_report(result, args.out)
    width = max((len(k) for k in [*result.summary, *result.unmeasured]), default=10)
    for name, value in result.summary.items():
        print(f"{name:<{width}}  {value:.4g}")
    for name, reason in result.unmeasured.items():
        print(f"{name:<{width}}  -  (not measured: {reason})")
    print(f"report: {json_path}\n        {html_path}")
    return EXIT_OK


# --- demo -------------------------------------------------------------------------------------------

def _cmd_demo(args: argparse.Namespace) -> int:
    from interanimate.demo import run_demo

    summary = run_demo(args.out, seed=args.seed, quick=args.quick, checkpoint=args.checkpoint)
    print(summary)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interanimate", description="Realistic hand-face interaction videos and the "
                                     "InterHF dataset toolchain: annotate, train, evaluate, check provenance.")
    parser.add_argument("--version", action="version", version=f"interanimate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="check, summarise and pack InterHF datasets")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_commands.add_parser("validate", help="check a dataset against the contract; exit 1 on any violation")
    p.add_argument("dataset", type=Path)
    p.add_argument("--deep", action="store_true", help="also decode every video frame (slower)")
    p.add_argument("--workers", type=positive_int, default=1, help="parallel processes")
    p.add_argument("--max-violations", type=int, default=50, help="violations to print (0 = all)")
    p.add_argument("--json", type=Path, help="write the full report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_validate)
    p = data_commands.add_parser("stats", help="counts per pattern/family/split/subject, contact fractions, chart")
    p.add_argument("dataset", type=Path)
    p.add_argument("--chart", type=Path, help="PNG path (default: DATASET/stats.png)")
    p.add_argument("--json", type=Path, help="also write the numbers as JSON")
    p.set_defaults(func=_cmd_stats)
    p = data_commands.add_parser("pack", help="write WebDataset-style tar shards for streaming training")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--clips-per-shard", type=positive_int, default=256)
    p.add_argument("--split", choices=("train", "test"), help="pack only this split")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_pack)

    assets = commands.add_parser("assets", help="model files used offline (MediaPipe landmarkers)")
    asset_commands = assets.add_subparsers(dest="assets_command", metavar="ACTION", required=True)
    p = asset_commands.add_parser("fetch", help="obtain, verify and cache the model files (set-up step)")
    p.add_argument("names", nargs="*", help="which files (default: all)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--quiet", action="store_true", help="print only what was downloaded")
    p.set_defaults(func=_cmd_assets_fetch)
    p = asset_commands.add_parser("list", help="where each model file is found")
    p.set_defaults(func=_cmd_assets_list)

    for name, module, text in SUBSYSTEM_COMMANDS:
        # Each subsystem owns its command's arguments (``add_arguments``) and handler (``run``).
        command = importlib.import_module(module)
        p = commands.add_parser(name, help=text)
        command.add_arguments(p)
        p.set_defaults(func=command.run)

    from interanimate.evaluation.runner import METRIC_GROUPS

    p = commands.add_parser("evaluate", help="score generated clips against a reference dataset (JSON + HTML report)")
    p.add_argument("--generated", type=Path, required=True, help="InterHF dataset of generated clips")
    p.add_argument("--reference", type=Path, required=True, help="InterHF dataset with the ground truth")
    p.add_argument("--out", type=Path, required=True, help="report folder (report.json, report.html)")
    p.add_argument("--metrics", nargs="+", choices=METRIC_GROUPS, default=list(METRIC_GROUPS))
    p.add_argument("--max-clips", type=positive_int)
    p.add_argument("--frames-per-clip", type=positive_int, default=8, help="frames per clip in Frechet feature sets")
    p.add_argument("--fid-weights", help="local FID Inception-v3 weights (pt_inception-2015-12-05-6726825d.pth)")
    p.add_argument("--fvd-weights", help="local I3D (Kinetics-400) weights for FVD")
    p.add_argument("--lpips-weights", help="local LPIPS v0.1 alex.pth (lin layers)")
    p.add_argument("--lpips-backbone-weights", help="local torchvision AlexNet weights (alexnet-owt-7be5be79.pth)")
    p.add_argument("--assume-standard-weights", action="store_true",
                   help="vouch that the weight files are the published ones (converted copies with other hashes)")
    p.add_argument("--arcface", help="local ArcFace ONNX file (e.g. w600k_r50.onnx): adds ArcFace identity metrics")
    p.add_argument("--cache", type=Path, help="where reference statistics are cached")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    provenance = commands.add_parser("provenance", help="check videos for InterAnimate's synthetic-video marks")
    provenance_commands = provenance.add_subparsers(dest="provenance_command", metavar="ACTION", required=True)
    p = provenance_commands.add_parser("check", help="report container tags and the watermark; exit 1 if any file "
                                                     "carries neither")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=_cmd_provenance_check)

    p = commands.add_parser("demo", help="the whole path, small, on CPU")
    p.add_argument("--out", type=Path, default=Path("demo_output"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="an even smaller run (for smoke tests)")
    p.add_argument("--checkpoint", type=Path, help="model to animate with (default: the small checkpoint shipped "
                                                   "with the package)")
    p.set_defaults(func=_cmd_demo)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _expected_errors() as err:
        print(f"interanimate: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interanimate: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
