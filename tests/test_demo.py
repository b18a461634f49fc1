"""The README's main command runs the whole path and leaves pictures to look at."""

import numpy as np

from interanimate.data.validate import validate_dataset
from interanimate.demo import run_demo


def test_demo_runs_end_to_end(tmp_path):
    summary = run_demo(tmp_path / "demo", quick=True)
    assert "validated: OK" in summary
    assert validate_dataset(tmp_path / "demo" / "dataset").ok
    for picture in ("preview.png", "stats.png"):
        data = (tmp_path / "demo" / picture).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import cv2

    preview = cv2.imread(str(tmp_path / "demo" / "preview.png"))
    assert preview.shape[0] > 100 and preview.std() > 10  # a real picture, not a blank canvas
    assert np.isfinite(preview).all()
