"""The labelled real development set: the shipped labels are well formed, and the checks reject bad ones."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interanimate.evaluation.devset import (DevsetClip, DevsetError, frame_scores, load_devset, parse_devset)
from interanimate.taxonomy import FACE_REGIONS, FAMILIES, PATTERN_NAMES

LABELS = Path(__file__).resolve().parents[1] / "devset" / "real" / "labels.json"
MIN_CLIPS, MIN_HARD_NEGATIVES = 30, 10


@pytest.fixture(scope="module")
def devset():
    return load_devset(LABELS)


@pytest.fixture
def document():
    return json.loads(LABELS.read_text())


def test_shipped_labels_have_enough_clips_of_each_kind(devset):
    scored = [c for c in devset.clips if c.scored]
    assert len(devset.clips) >= MIN_CLIPS
    assert sum(c.hard_negative for c in scored) >= MIN_HARD_NEGATIVES
    touches = [c for c in scored if c.contact]
    assert len(touches) >= 10
    assert len({c.region for c in touches}) >= 4
    for name in ("fit", "test"):
        half = devset.split(name)
        assert any(c.contact for c in half) and any(c.hard_negative for c in half), name


def test_shipped_labels_agree_with_the_taxonomy(devset):
    for clip in devset.clips:
        assert clip.region is None or clip.region in FACE_REGIONS
        assert clip.family is None or clip.family in FAMILIES
        assert clip.pattern is None or clip.pattern in PATTERN_NAMES
        assert 2 <= clip.num_frames and 1.0 <= clip.num_frames / clip.fps <= 10.0, clip.id


def test_splits_share_no_source_video(devset):
    fit = {c.origin for c in devset.split("fit")}
    test = {c.origin for c in devset.split("test")}
    assert fit and test and not fit & test


def test_fetched_media_match_their_sha256(devset):
    items = [m for m in devset.media(include_ambiguous=True) if not m.clip.clip_file]
    present = [m for m in items if m.path is not None]
    if not present:
        pytest.skip(f"none of the {len(items)} fetch-only clips is fetched: run tools/fetch_devset.py --mirrors DIR")
    altered = [m.reason for m in items if "sha256" in m.reason]
    assert not altered


def test_clip_frame_flags_and_edge_mask():
    clip = DevsetClip("c", "s", "v.mp4", "0" * 64, None, "0" * 64, 30.0, 20, 8, 8, ((0, 3), (10, 12)), "chin",
                      None, None, False, False, "test")
    assert np.flatnonzero(clip.contact_flags()).tolist() == [0, 1, 2, 3, 10, 11, 12]
    keep = clip.scoring_mask(tolerance=2)
    # edges sit before frame 4, 10 and 13; a range that starts with the clip has no edge at frame 0
    assert np.flatnonzero(~keep).tolist() == [2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14]


def test_frame_scores_ignore_edges_and_count_errors():
    clip = DevsetClip("c", "s", "v.mp4", "0" * 64, None, "0" * 64, 30.0, 30, 8, 8, ((10, 19),), "chin", None, None,
                      False, False, "test")
    exact = clip.contact_flags()
    assert frame_scores([(clip, exact)]).f1 == 1.0
    late = np.roll(exact, 3)  # a 3-frame lag stays within the 4-frame tolerance
    assert frame_scores([(clip, late)]).f1 == 1.0
    nothing = frame_scores([(clip, np.zeros(30, bool))])
    assert nothing.true_positive == 0 and nothing.false_negative == 2 and np.isnan(nothing.precision)
    everything = frame_scores([(clip, np.ones(30, bool))])
    assert everything.false_positive == 30 - 10 - 8 and everything.recall == 1.0
    with pytest.raises(ValueError):
        frame_scores([(clip, np.ones(29, bool))])


def _first(document, **where):
    return next(c for c in document["clips"] if all(c[k] == v for k, v in where.items()))


@pytest.mark.parametrize("change, message", [
    (lambda d: _first(d, hard_negative=True).update(contact=[[0, 1]]), "hard negative"),
    (lambda d: _first(d, pattern="stroke_jaw").update(region="chin"), "disagrees"),
    (lambda d: d["clips"][0].update(region="cheek"), "unknown face region"),
    (lambda d: d["clips"][0].update(contact=[[0, 10 ** 6]]), "outside frames"),
    (lambda d: d["clips"][0].update(split="train"), "split"),
    (lambda d: d["clips"][1].update(id=d["clips"][0]["id"]), "duplicate"),
    (lambda d: d["clips"][1].update(path=d["clips"][0]["path"], source=d["clips"][0]["source"],
                                    split="test" if d["clips"][0]["split"] == "fit" else "fit"), "both splits"),
    (lambda d: _first(d, source="equal_voice").update(clip_file="clips/x.mp4"), "redistribution"),
    (lambda d: d["clips"][0].pop("sha256_original"), "missing field"),
    (lambda d: d.update(taxonomy_version="0.1"), "taxonomy"),
])
def test_bad_labels_are_rejected_with_the_reason(document, change, message):
    broken = copy.deepcopy(document)
    change(broken)
    with pytest.raises(DevsetError, match=message):
        parse_devset(broken, LABELS.parent)


def test_missing_media_are_skipped_with_a_reason(devset, tmp_path):
    items = [m for m in devset.media(split="test", media_dir=tmp_path) if not m.clip.clip_file]
    assert items and all(m.path is None and "not fetched" in m.reason for m in items)


def test_fetch_tool_offline_says_one_line_and_fails(tmp_path):
    done = subprocess.run([sys.executable, "tools/fetch_devset.py", "--check", "--out", str(tmp_path)],
                          cwd=LABELS.parents[2], capture_output=True, text=True,
                          env={"PYTHONPATH": str(LABELS.parents[2] / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "clips missing" in lines[0]  # portraits are checked in place: fetched or not


def _score_tool():
    from project_tools import load_tool

    return load_tool("score_devset")


def test_score_summary_counts_clip_level_errors():
    tool = _score_tool()
    touch = DevsetClip("t", "s", "t.mp4", "0" * 64, None, "0" * 64, 30.0, 20, 8, 8, ((5, 14),), "chin", "poke",
                       "poke_chin", False, False, "test")
    hover = DevsetClip("h", "s", "h.mp4", "0" * 64, None, "0" * 64, 30.0, 20, 8, 8, (), None, None, None, True,
                       False, "test")
    found = tool.Prediction(touch.contact_flags(), "chin", "stroke", "accepted")
    fooled = tool.Prediction(np.arange(20) < 3, "jaw", None, "accepted")
    summary = tool.summarise([(touch, found), (hover, fooled)])
    assert summary["hard_negative_false_positive"] == {"rate": 1.0, "n": 1}
    assert summary["region_accuracy"] == {"rate": 1.0, "n": 1}
    assert summary["family_accuracy"] == {"rate": 0.0, "n": 1}
    assert summary["frames"] == {"tp": 2, "fp": 3, "fn": 0}


@pytest.mark.slow
def test_score_tool_runs_the_annotator_on_a_real_clip(devset, tmp_path):
    clip = next(c for c in devset.clips if c.id == "pose_2023-soup")  # a hard negative, 41 frames
    if not devset.media_path(clip).is_file():
        pytest.skip(f"{clip.id} is not fetched: run tools/fetch_devset.py --mirrors DIR")
    prediction = _score_tool().predict(clip, devset.media_path(clip), tmp_path)
    assert prediction.status in ("accepted", "empty")
    assert prediction.contact.shape == (clip.num_frames,)
