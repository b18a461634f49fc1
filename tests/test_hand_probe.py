"""tools/hand_probe.py: where a detector's hand keypoints lie against the labels, per keypoint."""

from __future__ import annotations

import numpy as np
import pytest
from project_tools import load_tool


def _hands(frames=5):
    rng = np.random.default_rng(0)
    out = np.full((frames, 2, 21, 3), np.nan)
    for f in range(frames):
        pts = np.concatenate([[[0.0, 0.0]], rng.uniform(-40, 40, (20, 2)) + [0.0, -60.0]])
        pts[9] = [0.0, -60.0]  # the middle knuckle straight up the picture from the wrist
        out[f, 1, :, :2] = pts + [100.0 + f, 200.0]
        out[f, 1, :, 2] = 1.0
    return out


def test_a_wrist_read_toward_the_fingers_shows_as_an_offset_along_the_hand():
    tool = load_tool("hand_probe")
    target = _hands()
    size = np.maximum(np.ptp(target[:, 1, :, 0], 1), np.ptp(target[:, 1, :, 1], 1))
    pred = target.copy()
    pred[:, 1, 0, 1] -= 0.2 * size  # the wrist moved a fifth of the hand toward the knuckles (up the picture)
    errors = tool.keypoint_errors(pred, target)
    assert errors["hands"] == 5
    assert errors["along"][0] == pytest.approx(0.2) and errors["across"][0] == pytest.approx(0.0, abs=1e-9)
    assert errors["pck@0.1"][0] == 0.0 and (errors["pck@0.1"][1:] == 1.0).all()
    missing = pred.copy()
    missing[:, 1, :, :2] = np.nan  # not found: not scored
    assert tool.keypoint_errors(missing, target)["hands"] == 0
