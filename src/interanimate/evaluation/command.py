"""``interanimate evaluate``: score generated clips against a reference dataset (JSON + HTML report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli_types import float_in, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from interanimate.evaluation.runner import METRIC_GROUPS

    parser.add_argument("--generated", type=Path, required=True, help="InterHF dataset of generated clips")
    parser.add_argument("--reference", type=Path, required=True, help="InterHF dataset with the ground truth")
    parser.add_argument("--out", type=Path, required=True, help="report folder (report.json, report.html)")
    parser.add_argument("--metrics", nargs="+", choices=METRIC_GROUPS, default=list(METRIC_GROUPS))
    parser.add_argument("--max-clips", type=positive_int)
    parser.add_argument("--frames-per-clip", type=positive_int, default=8,
                        help="frames per clip in Frechet feature sets")
    parser.add_argument("--pck-threshold", type=float_in(0.0, 1.0, low_open=True), default=0.2,
                        help="hand PCK threshold as a fraction of the hand box's longer side (default 0.2)")
    parser.add_argument("--fid-weights", help="local FID Inception-v3 weights (pt_inception-2015-12-05-6726825d.pth)")
    parser.add_argument("--fvd-weights", help="local I3D (Kinetics-400) weights for FVD")
    parser.add_argument("--lpips-weights", help="local LPIPS v0.1 alex.pth (lin layers)")
    parser.add_argument("--lpips-backbone-weights", help="local torchvision AlexNet weights (alexnet-owt-7be5be79.pth)")
    parser.add_argument("--assume-standard-weights", action="store_true",
                        help="vouch that the weight files are the published ones (converted copies with other hashes)")
    parser.add_argument("--arcface", help="local ArcFace ONNX file (e.g. w600k_r50.onnx): adds ArcFace identity metrics")
    parser.add_argument("--cache", type=Path, help="where reference statistics are cached")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from interanimate.evaluation.report import write_report
    from interanimate.evaluation.runner import EvaluateConfig, evaluate

    config = EvaluateConfig(metrics=tuple(args.metrics), max_clips=args.max_clips, frames_per_clip=args.frames_per_clip,
                            pck_threshold=args.pck_threshold,
                            fid_weights=args.fid_weights, fvd_weights=args.fvd_weights,
                            lpips_weights=args.lpips_weights, lpips_backbone_weights=args.lpips_backbone_weights,
                            assume_standard=args.assume_standard_weights, arcface_weights=args.arcface,
                            cache_dir=str(args.cache) if args.cache else None)
    redetector = None
    if "anatomy" in config.metrics:
        from interanimate.evaluation.redetect import AnnotatorRedetector

        redetector = AnnotatorRedetector()
    result = evaluate(args.generated, args.reference, config, redetector=redetector, progress=not args.quiet)
    from interanimate.data.io import output_errors

    with output_errors(args.out):
        json_path, html_path = write_report(result, args.out)
    width = max((len(k) for k in [*result.summary, *result.unmeasured]), default=10)
    for name, value in result.summary.items():
        print(f"{name:<{width}}  {value:.4g}")
    for name, reason in result.unmeasured.items():
        print(f"{name:<{width}}  -  (not measured: {reason})")
    print(f"report: {json_path}\n        {html_path}")
    return 0
