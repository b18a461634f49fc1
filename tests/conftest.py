"""Shared fixtures: small datasets written by the real writers (no checked-in fixtures)."""

from __future__ import annotations

import os
import shutil
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
