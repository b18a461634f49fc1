"""The command line: bad input gives one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from interanimate.cli import main
from interanimate.data.manifest import read_manifest


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code, err, *needles):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert lines[0].startswith("interanimate: error:") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("action", [["data", "validate"], ["data", "stats"], ["data", "pack", "--out", "SHARDS"]])
def test_not_a_dataset_empty_folder_and_missing_path(capsys, tmp_path, action):
    action = [a.replace("SHARDS", str(tmp_path / "shards")) for a in action]
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello")
    code, _, err = run(capsys, *action[:2], str(tmp_path / "empty"), *action[2:])
    assert_one_line_error(code, err, "empty")
    code, _, err = run(capsys, *action[:2], str(tmp_path / "other"), *action[2:])
    assert_one_line_error(code, err, "not an InterHF dataset")
    code, _, err = run(capsys, *action[:2], str(tmp_path / "missing"), *action[2:])
    assert_one_line_error(code, err, "no such folder")
    (tmp_path / "file.mp4").write_bytes(b"")
    code, _, err = run(capsys, *action[:2], str(tmp_path / "file.mp4"), *action[2:])
    assert_one_line_error(code, err, "not a folder")


def test_validate_reports_a_truncated_mp4_and_an_unreadable_annotation_file(capsys, dataset_copy):
    records = read_manifest(dataset_copy)
    video = dataset_copy / records[0].files["video"]["path"]
    video.write_bytes(video.read_bytes()[:200])
    (dataset_copy / records[1].files["annotations"]["path"]).write_bytes(b"\x00garbage")
    code, out, err = run(capsys, "data", "validate", str(dataset_copy), "--quiet")
    assert code == 1 and "Traceback" not in err
    assert f"{records[0].clip_id}: files.video: sha256 mismatch" in out
    assert f"{records[1].clip_id}: files.annotations" in out
    assert "FAILED: 2 violations in 2 of 24 clips" in out


def test_validate_ok_exit_zero_and_json_report(capsys, sketch_dataset, tmp_path):
    code, out, _ = run(capsys, "data", "validate", str(sketch_dataset), "--quiet", "--json", str(tmp_path / "r.json"))
    assert code == 0 and out.startswith("OK: 24 clips valid")
    assert '"ok": true' in (tmp_path / "r.json").read_text()


def test_stats_prints_a_table_and_saves_a_chart(capsys, sketch_dataset, tmp_path):
    chart = tmp_path / "chart.png"
    code, out, _ = run(capsys, "data", "stats", str(sketch_dataset), "--chart", str(chart))
    assert code == 0
    assert "clips 24   subjects 4" in out and "poke_nose" in out and "swipe" in out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_with_an_unreadable_annotation_file_names_it_and_fails(capsys, dataset_copy, tmp_path):
    record = read_manifest(dataset_copy)[0]
    (dataset_copy / record.files["annotations"]["path"]).write_bytes(b"broken")
    code, out, err = run(capsys, "data", "stats", str(dataset_copy), "--chart", str(tmp_path / "c.png"))
    assert code == 1 and "Traceback" not in err
    assert "unreadable annotation files: 1" in out and record.clip_id in out


def test_pack_with_a_truncated_mp4_refuses_that_clip(capsys, dataset_copy, tmp_path):
    record = read_manifest(dataset_copy)[0]
    video = dataset_copy / record.files["video"]["path"]
    video.write_bytes(video.read_bytes()[:300])
    code, out, err = run(capsys, "data", "pack", str(dataset_copy), "--out", str(tmp_path / "s"), "--quiet")
    assert code == 1 and "Traceback" not in err
    assert f"refused {record.clip_id}: sha256 mismatch" in out and "packed 23 clips" in out


def test_bad_arguments_are_usage_errors(capsys, sketch_dataset, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "pack", str(sketch_dataset), "--out", str(tmp_path), "--clips-per-shard", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_console_script_runs_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "interanimate.cli", "data", "validate", str(tmp_path / "nope")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"interanimate: error: {tmp_path / 'nope'}: no such folder"


def test_a_command_running_mediapipe_leaves_stderr_to_us(tmp_path):
    """MediaPipe's native notices (graph set-up, first inference, ``DestroyAccelerator`` on close) are silenced,
    while Python warnings, also those issued after the landmarkers ran, still reach stderr."""
    import cv2
    import numpy as np
    from skimage import data

    from interanimate.data.io import encode_video

    frame = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    (tmp_path / "still.mp4").write_bytes(encode_video(np.stack([frame] * 8), 15.0))
    script = ("import sys, warnings\nfrom interanimate.cli import main\n"
              "code = main(sys.argv[1:])\nwarnings.warn('still heard after the landmarkers')\nsys.exit(code)\n")
    argv = ["annotate", str(tmp_path / "still.mp4"), "--out", str(tmp_path / "dataset"), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "INTERANIMATE_VERBOSE"}  # that one keeps the notices
    result = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    for notice in ("DestroyAccelerator", "accelerator_registry", "inference_feedback_manager", "W0000",
                   "TensorFlow Lite", "InitGoogle"):
        assert notice not in result.stderr, result.stderr
    assert "UserWarning: still heard after the landmarkers" in result.stderr
