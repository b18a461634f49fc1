"""Launching the app safely: loopback by default, Gradio's upload and cache folders inside the app's own temporary
folder, only the root and that folder served, an upload size limit, no telemetry, no share links."""

from __future__ import annotations

import os
import socket

from interanimate.app.settings import AppSettings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def configure_gradio_environment(settings: AppSettings) -> None:
    """Gradio reads these when it is imported: call before the first ``import gradio``."""
    os.environ["GRADIO_TEMP_DIR"] = str(settings.upload_dir)
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(settings.temp_dir / "examples")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def launch_app(settings: AppSettings, block: bool = True, quiet: bool = False):
    """Build and launch the app; returns the ``Blocks`` (with ``block=False`` the server runs in a thread)."""
    configure_gradio_environment(settings)
    try:
        import gradio  # noqa: F401
    except ImportError:
        from interanimate.app.errors import AppInputError

        raise AppInputError("the app needs Gradio, which is not installed; pip install 'interanimate[app]'") from None
    from interanimate.app.ui import build_app

    if settings.port == 0:
        settings.port = free_port(settings.host)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    demo = build_app(settings)
    demo.launch(server_name=settings.host, server_port=int(settings.port), share=False, inbrowser=False,
                prevent_thread_lock=not block, show_error=True, quiet=quiet, allowed_paths=[str(settings.root)],
                max_file_size=settings.max_upload_bytes, ssr_mode=False, mcp_server=False,
                footer_links=["api"], enable_monitoring=False)
    return demo
