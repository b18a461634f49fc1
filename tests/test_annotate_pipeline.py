"""End-to-end ``annotate`` on real footage: handedness, Megamind.avi -> valid dataset, resume, engines."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from interanimate.data.annotate import AnnotateConfig, run_annotate
from interanimate.data.io import decode_video
from interanimate.data.manifest import read_manifest
from interanimate.data.validate import validate_dataset

def _megamind_frame(media: Path, index: int) -> np.ndarray:
    with av.open(str(media / "Megamind.avi")) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("frame not found")


def test_handedness_is_the_subjects_side(opencv_media):
    """Frame 40: the woman holds a glass in her RIGHT hand (image left). Mirrored, it looks like a left hand."""
    from interanimate.data.annotate.perception import Perceiver

    frame = _megamind_frame(opencv_media, 40)
    for image, mirrored, expected in ((frame, False, 1), (frame[:, ::-1], False, 0), (frame[:, ::-1], True, 1)):
        with Perceiver(mirrored=mirrored) as perceiver:
            hands = perceiver(np.ascontiguousarray(image), 0).hands
        assert [h.side for h in hands] == [expected]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _annotation_digests(root: Path) -> dict[str, str]:
    return {p.parent.name: _sha(p) for p in sorted((root / "clips").glob("*/annotations.npz"))}


@pytest.fixture(scope="module")
def megamind_dataset(opencv_media, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("megamind") / "dataset"
    junk = out.parent / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    summary = run_annotate([opencv_media / "Megamind.avi", opencv_media / "messi5.jpg", junk], out,
                           AnnotateConfig(preview=True), progress=False)
    return out, summary


def test_megamind_annotates_into_a_valid_dataset(megamind_dataset):
    out, summary = megamind_dataset
    report = validate_dataset(out)
    assert report.ok, [str(v) for v in report.violations]
    status = {Path(r.path).name: (r.status, r.reason) for r in summary.results}
    assert status["messi5.jpg"] == ("rejected", "too_short")
    assert status["junk.mp4"] == ("rejected", "not_a_video")
    assert status["Megamind.avi"][0] == "accepted"
    records = read_manifest(out)
    # The film cuts between two people; the main one (the man, shots 98-154 and 200-270) is the subject,
    # the woman's shots are left out rather than mixed into his clips.
    spans = sorted((r.extra["start_frame"], r.extra["end_frame"]) for r in records)
    assert spans and all(98 <= a and b <= 270 and not (a < 154 < b - 30) for a, b in spans)
    assert {r.subject_id for r in records} == {records[0].subject_id}
    assert all(r.source["kind"] == "real" and r.source["origin"].endswith("Megamind.avi") for r in records)
    assert "junk.mp4" in summary.table() and "not_a_video" in summary.table()
    assert len(list((out / "previews").glob("*.png"))) == len(records)


def test_rejected_videos_are_listed_with_their_reason_in_the_run_report(megamind_dataset):
    from interanimate.data.annotate.engine import REPORT_NAME

    out, summary = megamind_dataset
    report = json.loads((out / REPORT_NAME).read_text())
    keys = {Path(r.path).name: r.key for r in summary.results}
    assert {(r["id"], r["reason"]) for r in report["rejects"]} == {(keys["messi5.jpg"], "too_short"),
                                                                    (keys["junk.mp4"], "not_a_video")}
    assert report["counts"] == {"items": 3, "done": 1, "resumed": 0, "rejected": 2}
    assert "3 items: 1 done, 0 already done, 2 rejected" in summary.table()


def test_rerun_resumes_without_duplicates(megamind_dataset, opencv_media):
    out, first = megamind_dataset
    before = _annotation_digests(out)
    started = time.perf_counter()
    again = run_annotate([opencv_media / "Megamind.avi"], out, AnnotateConfig(preview=True), progress=False)
    assert time.perf_counter() - started < 5  # nothing is recomputed
    assert again.resumed == 1 and _annotation_digests(out) == before
    assert len(read_manifest(out)) == len(before)


def _moving_face_video(path: Path, shift: int, num_frames: int = 24) -> Path:
    from skimage import data

    face = data.astronaut()[:300, 80:380]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 320, 320, "yuv420p"
        for i in range(num_frames):
            canvas = np.full((320, 320, 3), 40, np.uint8)
            dx = (shift + i) % 20
            canvas[10:310, dx:dx + 300] = face
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_dataset(tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for k in range(3):
        _moving_face_video(inputs / f"v{k}.mp4", shift=5 * k)
    reference = tmp_path / "reference"
    run_annotate([inputs], reference, AnnotateConfig(max_clip_s=1.0), progress=False)
    out = tmp_path / "killed"
    command = [sys.executable, "-c", "import sys; from interanimate.data.annotate import run_annotate, AnnotateConfig; "
               f"run_annotate([{str(inputs)!r}], {str(out)!r}, AnnotateConfig(max_clip_s=1.0), progress=False)"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "annotate_log").glob("*.json")):
        time.sleep(0.05)
    process.kill()
    process.wait()
    finished = len(list((out / "annotate_log").glob("*.json")))
    assert finished < 3, "the run finished before it could be killed"
    summary = run_annotate([inputs], out, AnnotateConfig(max_clip_s=1.0), progress=False)
    assert summary.resumed == finished
    assert _annotation_digests(out) == _annotation_digests(reference)
    assert [r.clip_id for r in read_manifest(out)] == [r.clip_id for r in read_manifest(reference)]
    assert not list((out / "clips").glob(".tmp-*"))
    assert validate_dataset(out).ok


@pytest.mark.slow
def test_ray_engine_matches_local(tmp_path):
    pytest.importorskip("ray", reason="the Ray engine needs the 'ray' extra")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for k in range(2):
        _moving_face_video(inputs / f"v{k}.mp4", shift=7 * k, num_frames=16)
    local, remote = tmp_path / "local", tmp_path / "ray"
    run_annotate([inputs], local, AnnotateConfig(max_clip_s=1.0), progress=False)
    run_annotate([inputs], remote, AnnotateConfig(max_clip_s=1.0), engine="ray", workers=2, progress=False)
    assert _annotation_digests(local) == _annotation_digests(remote) and _annotation_digests(local)
    def records(root: Path) -> list[dict]:
        # H.264 bytes may differ run to run (the writer promises identical annotations, not video bytes).
        rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
        for row in rows:
            row["files"].pop("video")
        return rows

    assert records(local) == records(remote)
    for clip in _annotation_digests(local):
        a, b = (decode_video(root / "clips" / clip / "video.mp4").astype(int) for root in (local, remote))
        assert np.abs(a - b).mean() < 1.0
