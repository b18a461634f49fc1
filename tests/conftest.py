"""Shared fixtures: small datasets written by the real writers (no checked-in fixtures)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sketch_dataset(tmp_path_factory) -> Path:
    """A 4-subject sketch dataset over 6 patterns (24 clips of 12 frames at 48x48). Treat as read-only."""
    from interanimate.data.sketch import SketchConfig, write_sketch_dataset

    root = tmp_path_factory.mktemp("sketch") / "dataset"
    write_sketch_dataset(root, num_subjects=4, clips_per_pattern=1, seed=7, config=SketchConfig(12, 48, 12.0),
                         patterns=["poke_nose", "poke_cheek_left", "pinch_chin", "stroke_jaw",
                                   "swipe_mouth_leftward", "swipe_face_downward"])
    return root


@pytest.fixture
def dataset_copy(sketch_dataset, tmp_path) -> Path:
    """A private, writable copy of ``sketch_dataset`` for tests that break things."""
    target = tmp_path / "dataset"
    shutil.copytree(sketch_dataset, target)
    return target


DATA_MEMBER = "./usr/share/doc/opencv-doc/examples/data"


@pytest.fixture(scope="session")
def opencv_media(tmp_path_factory) -> Path:
    """Megamind.avi and messi5.jpg from Debian's opencv-doc package, extracted at test time (never committed)."""
    cache = Path(os.environ.get("INTERANIMATE_TEST_MEDIA", Path.home() / ".cache" / "interanimate" / "test-media"))
    target = cache / "opencv-doc"
    if (target / "Megamind.avi").is_file():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb unavailable: cannot obtain Megamind.avi from Debian's opencv-doc package")
    work = tmp_path_factory.mktemp("opencv-doc")
    download = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=work, capture_output=True, text=True)
    debs = list(work.glob("opencv-doc*.deb"))
    if download.returncode != 0 or not debs:
        pytest.skip(f"apt-get download opencv-doc failed: {download.stderr.strip()[-200:]}")
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(work), f"{DATA_MEMBER}/Megamind.avi", f"{DATA_MEMBER}/messi5.jpg"],
                   stdin=tar.stdout, check=True)
    tar.wait()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("Megamind.avi", "messi5.jpg"):
        shutil.copy(work / DATA_MEMBER / name, target / name)
    return target


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory) -> Path:
    """scikit-image's astronaut (a real portrait) as a PNG file, for commands that take a photo path."""
    import cv2
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    cv2.imwrite(str(path), data.astronaut()[..., ::-1])
    return path


COMPOSITE_SIZE, COMPOSITE_FRAMES = 160, 10  # the composite renderer's test clips: small, and quick to render


@pytest.fixture(scope="session")
def astronaut():
    """The astronaut photo framed for the composite renderer at ``COMPOSITE_SIZE``."""
    from skimage import data

    from interanimate.render.composite.photo import load_photo

    return load_photo(data.astronaut(), COMPOSITE_SIZE, "face", name="astronaut")


@pytest.fixture(scope="session")
def poke(astronaut):
    """A composite ``poke_cheek_left`` clip of the astronaut (seed 3)."""
    from interanimate.render.composite import render_composite

    return render_composite(astronaut, "poke_cheek_left", COMPOSITE_FRAMES, 25.0, seed=3)
