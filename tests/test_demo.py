"""The README's main command runs the whole path and leaves pictures to look at."""

import json

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from interanimate.data.validate import validate_dataset
from interanimate.demo import default_checkpoint, default_refine_checkpoint, refine_clip, run_demo
from interanimate.provenance import check_file


def test_the_shipped_checkpoints_are_safetensors_and_config_only():
    for checkpoint in (default_checkpoint(), default_refine_checkpoint()):
        files = [p for p in checkpoint.rglob("*") if p.is_file()]
        assert files and {p.suffix for p in files} <= {".safetensors", ".json", ".yaml", ".md"}, checkpoint


def test_the_demo_refines_the_composite_with_the_shipped_refine_checkpoint(tmp_path):
    written, rows = refine_clip(skdata.astronaut(), "astronaut", "poke_nose", num_frames=8, steps=4, seed=0,
                                videos=tmp_path)
    (composite_label, composite), (refined_label, refined) = rows
    assert "composite" in composite_label and "refined" in refined_label
    assert composite.shape == refined.shape == (8, 64, 64, 3)
    # the model changed the composite it was given (not a pass-through), and kept its layout (not noise)
    difference = np.abs(refined.astype(np.float32) - composite.astype(np.float32)).mean()
    assert 1.0 < difference < 60.0
    assert refined.std() > 10
    assert {"video", "composite", "labels", "side_by_side"} <= set(written)
    assert all(path.is_file() for path in written.values())
    assert check_file(written["video"]).metadata_says_synthetic


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, quick=True)
    assert "validated: OK" in summary and "SYNTHETIC" in summary
    assert validate_dataset(out / "dataset").ok
    assert validate_dataset(out / "generated").ok
    for picture in ("dataset/preview.png", "stats.png", "animate_strips.png", "composite_strips.png",
                    "refine_strips.png"):
        image = cv2.imread(str(out / picture))
        assert image is not None and image.std() > 10, picture  # a real picture, not a blank canvas
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["summary"]["SSIM (frame)"] is not None
    assert (out / "report" / "report.html").is_file()
