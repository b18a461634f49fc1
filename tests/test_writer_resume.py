"""A writer killed mid-clip leaves no visible partial clip, and re-running it completes the dataset."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from interanimate.data.io import decode_video
from interanimate.data.manifest import read_manifest
from interanimate.data.sketch import SketchConfig, write_sketch_dataset
from interanimate.data.validate import validate_dataset

PATTERNS = ["poke_nose", "pinch_chin", "stroke_jaw"]
CONFIG = SketchConfig(8, 32, 8.0)

# Runs in a child process: write the dataset, but die abruptly (as SIGKILL would: no cleanup, no
# finally blocks) at the moment the third clip's files are staged and about to be published.
KILLED_WRITER = textwrap.dedent("""
    import os, sys
    import interanimate.data.io as io_module
    from interanimate.data.sketch import SketchConfig, write_sketch_dataset
    real_replace = os.replace
    published = 0
    def replace(src, dst):
        global published
        if os.path.basename(str(src)).startswith(".tmp-"):
            if published == 2:
                os._exit(137)
            published += 1
        real_replace(src, dst)
    io_module.os.replace = replace
    write_sketch_dataset(sys.argv[1], num_subjects=2, clips_per_pattern=1, seed=5,
                         config=SketchConfig(8, 32, 8.0), patterns=%r)
""" % PATTERNS)


def test_killed_writer_leaves_no_partial_clip_and_rerun_completes(tmp_path):
    root = tmp_path / "ds"
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root)], capture_output=True, text=True)
    assert result.returncode == 137, result.stderr
    clips = root / "clips"
    visible = sorted(p.name for p in clips.iterdir() if not p.name.startswith("."))
    staged = [p for p in clips.iterdir() if p.name.startswith(".tmp-")]
    assert len(visible) == 2, visible  # the two finished clips, nothing of the third under its name
    assert len(staged) == 1  # the half-published clip is hidden in a staging folder

    records = write_sketch_dataset(root, num_subjects=2, clips_per_pattern=1, seed=5, config=CONFIG,
                                   patterns=PATTERNS)
    assert len(records) == 6
    assert not [p for p in clips.iterdir() if p.name.startswith(".")]  # staging swept
    report = validate_dataset(root)
    assert report.ok, report.violations

    # The resumed dataset is the dataset an uninterrupted run writes: identical annotation bytes, ids and
    # splits, and videos that decode to the same frames within the codec's tolerance.
    clean = write_sketch_dataset(tmp_path / "clean", num_subjects=2, clips_per_pattern=1, seed=5, config=CONFIG,
                                 patterns=PATTERNS)
    assert [(r.clip_id, r.files["annotations"], r.split) for r in records] == \
        [(r.clip_id, r.files["annotations"], r.split) for r in clean]
    for resumed, fresh in zip(records, clean):
        a = decode_video(root / resumed.files["video"]["path"]).astype(int)
        b = decode_video(tmp_path / "clean" / fresh.files["video"]["path"]).astype(int)
        assert a.shape == b.shape and np.abs(a - b).mean() < 2.0


def test_rerunning_a_finished_writer_duplicates_nothing(tmp_path):
    root = tmp_path / "ds"
    first = write_sketch_dataset(root, num_subjects=2, seed=1, config=CONFIG, patterns=PATTERNS)
    mtimes = {p: p.stat().st_mtime_ns for p in (root / "clips").rglob("*")}
    second = write_sketch_dataset(root, num_subjects=2, seed=1, config=CONFIG, patterns=PATTERNS)
    assert [r.clip_id for r in first] == [r.clip_id for r in second]
    assert mtimes == {p: p.stat().st_mtime_ns for p in (root / "clips").rglob("*")}  # nothing rewritten
    assert len(read_manifest(root)) == 6


def test_extending_a_dataset_keeps_existing_clips_and_adds_new_ones(tmp_path):
    root = tmp_path / "ds"
    write_sketch_dataset(root, num_subjects=2, seed=1, config=CONFIG, patterns=PATTERNS)
    records = write_sketch_dataset(root, num_subjects=3, seed=1, config=CONFIG, patterns=PATTERNS)
    assert len(records) == 9 and validate_dataset(root).ok


def test_real_sigkill_during_a_long_write_then_resume(tmp_path):
    """The same guarantee under a real SIGKILL at an arbitrary moment."""
    import signal
    import time

    root = tmp_path / "ds"
    code = ("import sys; from interanimate.data.sketch import SketchConfig, write_sketch_dataset; "
            "write_sketch_dataset(sys.argv[1], num_subjects=40, seed=2, config=SketchConfig(8, 32, 8.0))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(root)], env=dict(os.environ))
    deadline = time.time() + 60
    while time.time() < deadline:
        done = [p for p in (root / "clips").glob("sketch-*")] if (root / "clips").is_dir() else []
        if len(done) >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    survivors = {p.name for p in (root / "clips").iterdir() if not p.name.startswith(".")}
    assert survivors and len(survivors) < 40 * 18
    records = write_sketch_dataset(root, num_subjects=40, seed=2, config=SketchConfig(8, 32, 8.0))
    assert len(records) == 40 * 18 and len({r.clip_id for r in records}) == 40 * 18
    assert validate_dataset(root, workers=2).ok
