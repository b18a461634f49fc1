"""tools/composite_bars.py: the bars over every clip, not only those the report's summary can measure."""

from __future__ import annotations

import pytest
from project_tools import load_tool


def _tool():
    return load_tool("composite_bars")


def _clip(detection, pck, keypoints, predicted, labelled, recall):
    return {"anatomy": {"ground_truth_detection": {"hand_detection_rate": detection},
                        "hand_pck": {"pck": pck, "num_keypoints": keypoints},
                        "contact": {"predicted_frames": predicted, "requested_frames": labelled, "recall": recall}}}


def test_undetected_clips_count_as_zero_and_contact_is_pooled_from_frame_counts():
    tool = _tool()
    report = {"per_clip": {
        "anna-poke_nose-s0": _clip(0.8, 0.5, 100, 10, 8, 0.75),      # 6 of 8 labelled frames found, 10 predicted
        "anna-pinch_chin-s1": _clip(0.0, None, 50, 0, 12, None),      # hand never found: PCK and recall 0
        "ben-poke_nose-s2": _clip(0.6, 0.2, 50, 2, 0, None),          # contact predicted where none is labelled
    }}
    rows = tool.clip_rows(report)
    everything = tool.summarise(rows)
    assert everything["detection"] == pytest.approx((0.8 + 0.0 + 0.6) / 3)
    assert everything["pck"] == pytest.approx((0.5 * 100 + 0 * 50 + 0.2 * 50) / 200)
    assert everything["precision"] == pytest.approx(6 / 12) and everything["recall"] == pytest.approx(6 / 20)
    assert everything["f1"] == pytest.approx(2 * 0.5 * 0.3 / 0.8)
    anna = tool.summarise([r for r in rows if r["person"] == "anna"])
    assert anna["clips"] == 2 and anna["recall"] == pytest.approx(6 / 20) and anna["precision"] == pytest.approx(0.6)


def test_recognised_patterns_are_scored_18_way_and_by_family():
    tool = _tool()

    def named(requested, recognised):
        clip = _clip(0.5, 0.5, 10, 1, 1, 1.0)
        clip["anatomy"]["pattern"] = {"requested": requested, "recognised": recognised}
        return clip

    report = {"per_clip": {"a-poke_nose-s0": named("poke_nose", "poke_nose"),
                           "a-poke_chin-s1": named("poke_chin", "poke_nose"),        # right family, wrong region
                           "a-stroke_jaw-s2": named("stroke_jaw", "swipe_mouth_leftward"),
                           "a-pinch_chin-s3": named("pinch_chin", None)}}           # left unlabelled
    s = tool.summarise(tool.clip_rows(report))
    assert s["pattern_accuracy"] == pytest.approx(1 / 4)
    assert s["family_accuracy"] == pytest.approx(2 / 4)
    assert s["unlabelled"] == pytest.approx(1 / 4)
