"""What one app server may do: where it listens, which folder it serves, how much work one request may ask for."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from interanimate.app.errors import AppInputError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class AppSettings:
    """Settings of one app server.

    Args:
        root: the only folder (besides ``temp_dir``) the app reads datasets from and serves files of.
        host: interface to bind; loopback unless ``allow_remote`` is set.
        port: TCP port (0 picks a free one).
        checkpoint: model for the diffusion renderer (default: the small checkpoint shipped with the package).
        temp_dir: the app's own working folder (uploads, results); default: a fresh folder under ``root/.app``.
        max_upload_mb: largest accepted upload.
        max_video_seconds: longest accepted uploaded video.
        max_frames: most frames one generated clip may have.
        max_patterns: most clips one Animate request may ask for.
        allow_remote: permit binding a non-loopback address (the app has no authentication).
    """

    root: Path
    host: str = "127.0.0.1"
    port: int = 7860
    checkpoint: Path | None = None
    temp_dir: Path | None = None
    max_upload_mb: int = 50
    max_video_seconds: float = 60.0
    max_frames: int = 64
    max_patterns: int = 18
    allow_remote: bool = False
    _owned_temp: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().resolve()
        if not self.root.is_dir():
            raise AppInputError(f"--root {self.root}: no such folder; create it or point --root at your data folder")
        if self.host not in LOCAL_HOSTS and not self.allow_remote:
            raise AppInputError(f"--host {self.host}: the app has no login; bind 127.0.0.1, or add --allow-remote "
                                "to serve other machines on purpose")
        if not 0 <= int(self.port) <= 65535:
            raise AppInputError(f"--port {self.port}: not a TCP port (0-65535)")
        for name in ("max_upload_mb", "max_video_seconds", "max_frames", "max_patterns"):
            if getattr(self, name) <= 0:
                raise AppInputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.checkpoint is not None:
            self.checkpoint = Path(self.checkpoint).expanduser().resolve()
            if not self.checkpoint.exists():
                raise AppInputError(f"--checkpoint {self.checkpoint}: no such folder")
        if self.temp_dir is None:
            base = self.root / ".app"
            base.mkdir(exist_ok=True)
            self.temp_dir = Path(tempfile.mkdtemp(prefix="session-", dir=base))
            self._owned_temp = True
        self.temp_dir = Path(self.temp_dir).resolve()
        self.temp_dir.mkdir(parents=True, exist_ok=True)

    @property
    def owns_temp_dir(self) -> bool:
        """Whether ``temp_dir`` was made for this server (and is removed when it stops)."""
        return self._owned_temp

    @property
    def upload_dir(self) -> Path:
        """Where Gradio stores uploads and the files it serves (inside ``temp_dir``)."""
        return self.temp_dir / "uploads"

    @property
    def jobs_dir(self) -> Path:
        return self.temp_dir / "jobs"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb) * 1024 * 1024
