"""``interanimate assets fetch|list``: the model files used offline (MediaPipe landmarkers)."""

from __future__ import annotations

import argparse


def _fetch(args: argparse.Namespace) -> int:
    from interanimate.assets import ASSETS, fetch

    for name in args.names or list(ASSETS):
        path, downloaded = fetch(name, force=args.force)
        if downloaded or not args.quiet:
            print(f"{name}: {path} ({'downloaded and verified' if downloaded else 'verified'})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from interanimate.assets import ASSETS, AssetMissingError, model_path

    for name, asset in ASSETS.items():
        try:
            where = str(model_path(name))
        except AssetMissingError:
            where = "missing (run `interanimate assets fetch`)"
        print(f"{name:<18}{asset.description}\n{'':<18}{where}\n{'':<18}env: {asset.env_var}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="assets_command", metavar="ACTION", required=True)
    p = actions.add_parser("fetch", help="obtain, verify and cache the model files (set-up step)")
    p.add_argument("names", nargs="*", help="which files (default: all)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--quiet", action="store_true", help="print only what was downloaded")
    p.set_defaults(action=_fetch)
    p = actions.add_parser("list", help="where each model file is found")
    p.set_defaults(action=_list)


def run(args: argparse.Namespace) -> int:
    return args.action(args)
