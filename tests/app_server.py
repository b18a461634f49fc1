"""A real ``interanimate app`` server in a subprocess, bound to 127.0.0.1, for the app's client and browser tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

STARTUP_SECONDS = 180


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    def __init__(self, root: Path, extra: list[str] | None = None):
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = root.parent / f"app-{self.port}.log"
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        src = Path(__file__).resolve().parents[1] / "src"
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "interanimate.cli", "app", "--root", str(root), "--host", "127.0.0.1",
                 "--port", str(self.port), *(extra or [])], stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the app did not start within {STARTUP_SECONDS} s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def make_root(tmp_path_factory, sketch_dataset: Path) -> Path:
    """A root folder holding a small dataset (``datasets/sketch``) and a file outside any dataset."""
    root = tmp_path_factory.mktemp("app") / "root"
    shutil.copytree(sketch_dataset, root / "datasets" / "sketch")
    (root.parent / "secret.txt").write_text("outside the root")
    return root


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, sketch_dataset):
    server = AppServer(make_root(tmp_path_factory, sketch_dataset), ["--max-upload-mb", "5", "--max-frames", "16"])
    yield server
    server.stop()


def reference_photo(folder: Path) -> Path:
    """scikit-image's astronaut (a real frontal face) as a PNG."""
    from PIL import Image
    from skimage import data

    path = folder / "astronaut.png"
    if not path.is_file():
        Image.fromarray(data.astronaut()).save(path)
    return path


def short_clip(source: Path, path: Path, start: int, stop: int) -> Path:
    """Frames ``[start, stop)`` of ``source`` re-encoded as an H.264 MP4."""
    from interanimate.data.io import decode_video, encode_video, probe_video

    fps = probe_video(source)["fps"] or 25.0
    frames = decode_video(source, list(range(start, stop)))
    path.write_bytes(encode_video(frames, fps))
    return path
