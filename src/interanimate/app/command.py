"""``interanimate app``: the browser app over animate, the dataset tools and annotate.

```
interanimate app [--host 127.0.0.1] [--port 7860] [--root DIR] [--checkpoint DIR]
                 [--max-upload-mb 50] [--max-video-seconds 60] [--max-frames 64] [--allow-remote]
```

Serves only files under ``--root`` (default: the current folder) and the app's own temporary folder inside it
(``ROOT/.app/session-*``). Named API endpoints for ``gradio_client``: ``/animate`` and ``/annotate`` (docs/app.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interanimate.cli_types import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="TCP port (0: any free port)")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the folder the app may read datasets from and serve (default: the current folder)")
    parser.add_argument("--checkpoint", type=Path,
                        help="model for the diffusion renderer (default: the shipped small checkpoint) and the refine "
                             "renderer (a checkpoint trained with composite conditions)")
    parser.add_argument("--max-upload-mb", type=positive_int, default=50, help="largest upload (MB)")
    parser.add_argument("--max-video-seconds", type=float, default=60.0, help="longest uploaded video (seconds)")
    parser.add_argument("--max-frames", type=positive_int, default=64, help="most frames per generated clip")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (the app has no login: anyone who reaches it can use it)")
    parser.add_argument("--quiet", action="store_true", help="do not print Gradio's start-up lines")


def run(args: argparse.Namespace) -> int:
    from interanimate.app.errors import AppInputError
    from interanimate.app.settings import AppSettings
    from interanimate.cli import UserError

    import shutil

    from interanimate.app.server import launch_app

    try:
        settings = AppSettings(root=args.root, host=args.host, port=args.port, checkpoint=args.checkpoint,
                               max_upload_mb=args.max_upload_mb, max_video_seconds=args.max_video_seconds,
                               max_frames=args.max_frames, allow_remote=args.allow_remote)
    except AppInputError as err:
        raise UserError(str(err)) from None
    print(f"interanimate app: serving {settings.root} (working folder {settings.temp_dir})", flush=True)
    try:
        launch_app(settings, block=True, quiet=args.quiet)
    except AppInputError as err:
        raise UserError(str(err)) from None
    finally:
        if settings.owns_temp_dir:
            shutil.rmtree(settings.temp_dir, ignore_errors=True)  # this session's uploads and results
    return 0
