"""The README's main command runs the whole path and leaves pictures to look at."""

import json

import cv2
import pytest

from interanimate.data.validate import validate_dataset
from interanimate.demo import default_checkpoint, run_demo


def test_the_shipped_checkpoint_is_safetensors_and_config_only():
    files = [p for p in default_checkpoint().rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".safetensors", ".json", ".yaml", ".md"}


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(out, quick=True)
    assert "validated: OK" in summary and "SYNTHETIC" in summary
    assert validate_dataset(out / "dataset").ok
    assert validate_dataset(out / "generated").ok
    for picture in ("dataset/preview.png", "stats.png", "animate_strips.png", "composite_strips.png"):
        image = cv2.imread(str(out / picture))
        assert image is not None and image.std() > 10, picture  # a real picture, not a blank canvas
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["summary"]["SSIM (frame)"] is not None
    assert (out / "report" / "report.html").is_file()
