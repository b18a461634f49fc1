"""``interanimate app``: path confinement, settings and filters, and a real server on 127.0.0.1 driven through
``gradio_client`` and plain HTTP: both endpoints, path traversal, two concurrent requests, upload limits, failed
jobs that leave the server serving. The full /animate check (two clips, the zip validated) and annotating real
footage are marked slow."""

from __future__ import annotations

import concurrent.futures
import json
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app_server import app_server, reference_photo, short_clip  # noqa: F401  (fixture)
from interanimate.app.datasets import ANY, ClipRow, filter_rows, find_datasets
from interanimate.app.errors import AppInputError
from interanimate.app.jobs import expand_patterns, public_record
from interanimate.app.paths import SafePaths
from interanimate.app.settings import AppSettings


# --------------------------------------------------------------------------------------------- fast


def test_paths_outside_the_root_are_refused(tmp_path):
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("x")
    (root / "link").symlink_to(tmp_path)
    paths = SafePaths(root, root / ".app")
    assert paths.under_root("data") == (root / "data").resolve()
    assert paths.under_root("") == root.resolve()
    for bad in ("..", "../secret.txt", "data/../../secret.txt", str(tmp_path / "secret.txt"), "link/secret.txt",
                "/etc/passwd"):
        with pytest.raises(AppInputError, match="outside the app's root"):
            paths.under_root(bad)
    with pytest.raises(AppInputError, match="outside"):
        paths.allowed_file(tmp_path / "secret.txt")
    with pytest.raises(AppInputError, match="outside"):
        paths.allowed_file(root / "link" / "secret.txt")


def test_settings_bind_loopback_unless_told(tmp_path):
    assert AppSettings(root=tmp_path).host == "127.0.0.1"
    with pytest.raises(AppInputError, match="--allow-remote"):
        AppSettings(root=tmp_path, host="0.0.0.0")
    assert AppSettings(root=tmp_path, host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    with pytest.raises(AppInputError, match="no such folder"):
        AppSettings(root=tmp_path / "missing")
    settings = AppSettings(root=tmp_path)
    assert tmp_path.resolve() in settings.temp_dir.parents


def test_cli_refuses_a_missing_root_with_one_line(tmp_path, capsys):
    from interanimate.cli import main

    assert main(["app", "--root", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such folder" in err[0]
    assert main(["app", "--root", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_pattern_names_families_and_all():
    assert expand_patterns("poke_nose, pinch_chin") == ["poke_nose", "pinch_chin"]
    assert len(expand_patterns(["poke"])) == 5
    assert len(expand_patterns("all")) == 18
    assert expand_patterns(None) == []
    with pytest.raises(AppInputError, match="did you mean"):
        expand_patterns("poke_noze")


def test_filters_and_dataset_discovery(sketch_dataset, tmp_path):
    root = tmp_path / "root"
    (root / "nested" / "deeper").mkdir(parents=True)
    import shutil

    shutil.copytree(sketch_dataset, root / "nested" / "deeper" / "ds")
    (root / ".app" / "x").mkdir(parents=True)
    shutil.copytree(sketch_dataset, root / ".app" / "x" / "hidden")
    assert find_datasets(SafePaths(root, root / ".app")) == ["nested/deeper/ds"]
    rows = [ClipRow("a", "poke_nose", "train", "s1", 8, 3, "", "synthetic"),
            ClipRow("b", "poke_nose", "test", "s2", 8, 0, "blurry", "real"),
            ClipRow("c", "pinch_chin", "train", "s10", 8, 2, "blurry, hand_dropped", "real")]
    ids = lambda **kw: [r.clip_id for r in filter_rows(rows, **kw)]  # noqa: E731
    assert ids() == ["a", "b", "c"]
    assert ids(pattern="poke_nose", split="train") == ["a"]
    assert ids(subject="s1") == ["a", "c"]
    assert ids(contact="no contact") == ["b"] and ids(contact="with contact") == ["a", "c"]
    assert ids(flag="blurry") == ["b", "c"] and ids(flag="clean") == ["a"] and ids(flag=ANY) == ["a", "b", "c"]


def test_records_for_clients_carry_no_server_paths(tmp_path):
    record = {"checkpoint": {"path": "/opt/models/x", "sha256": "ab"}, "inside": str(tmp_path / "a" / "b.mp4"),
              "list": [{"path": "/etc/passwd"}]}
    out = public_record(record, tmp_path)
    assert out == {"checkpoint": {"location": "x", "sha256": "ab"}, "inside": "a/b.mp4",
                   "list": [{"location": "passwd"}]}


# --------------------------------------------------------------------------------------------- server

slow = pytest.mark.slow


def _client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def _animate(client, photo: Path, patterns: str = "poke_nose", seed: int = 0):
    from gradio_client import handle_file

    return client.predict(handle_file(str(photo)), patterns, "diffusion", 8, seed, 1, api_name="/animate")


@slow
def test_animate_endpoint_returns_video_labels_record_and_dataset(app_server, tmp_path):
    from interanimate.data.annotations import load_annotations
    from interanimate.data.io import decode_video, read_container_metadata
    from interanimate.data.validate import validate_dataset

    client = _client(app_server)
    assert {"/animate", "/annotate"} <= set(client.view_api(return_format="dict")["named_endpoints"])
    video, labels, record, dataset_zip = _animate(client, reference_photo(tmp_path), "poke_nose, stroke_jaw")
    frames = decode_video(Path(video))
    assert frames.shape == (8, 64, 64, 3)
    assert "synthetic" in json.dumps(read_container_metadata(Path(video))).lower()
    annotations = load_annotations(Path(labels), 64, 64)
    assert annotations.num_frames == 8 and annotations.contact.shape == (8, 2)
    assert record["pattern"] == "poke_nose" and record["num_frames"] == 8
    assert [c["pattern"] for c in record["app"]["clips"]] == ["poke_nose", "stroke_jaw"]
    assert "/" not in record["checkpoint"]["location"]  # no server paths in what clients get
    with zipfile.ZipFile(dataset_zip) as archive:
        archive.extractall(tmp_path / "unzipped")
    report = validate_dataset(tmp_path / "unzipped" / "dataset")
    assert report.ok and report.num_clips == 2, [str(v) for v in report.violations]


@slow
def test_annotate_endpoint_returns_the_record(app_server, opencv_media, tmp_path):
    from gradio_client import handle_file

    client = _client(app_server)
    clip = short_clip(opencv_media / "Megamind.avi", tmp_path / "megamind-200.mp4", 200, 270)
    record = client.predict(handle_file(str(clip)), False, api_name="/annotate")
    assert record["status"] == "accepted" and record["frames"] == 70
    assert len(record["records"]) == len(record["clips"]) >= 1
    first = record["records"][0]
    assert first["source"]["kind"] == "real" and first["num_frames"] == record["clips"][0]["end"]
    assert set(first["files"]) >= {"video", "annotations"} and not str(first["source"]["origin"]).startswith("/")
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is a text file, not a video\n" * 20)
    with pytest.raises(Exception, match="not a readable video"):
        client.predict(handle_file(str(junk)), False, api_name="/annotate")
    assert app_server.alive()


def test_no_path_traversal_through_files_or_inputs(app_server):
    root = app_server.root
    status, body = _get(app_server.url + "gradio_api/file=" + str(root / "datasets" / "sketch" / "dataset_card.json"))
    assert status == 200 and b"format_version" in body  # inside the root: served
    outside = [str(root.parent / "secret.txt"), str(root / ".." / "secret.txt"), "/etc/passwd",
               str(root / "datasets" / ".." / ".." / "secret.txt"), "../secret.txt", "%2e%2e/secret.txt",
               str(Path(__file__).resolve())]
    for path in outside:
        status, body = _get(app_server.url + "gradio_api/file=" + path)
        assert status in (403, 404) and b"outside the root" not in body, path
    # A file input naming a server path (not an upload) is refused, not read.
    request = urllib.request.Request(
        app_server.url + "gradio_api/call/annotate", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"data": [{"path": str(root.parent / "secret.txt"), "meta": {"_type": "gradio.FileData"}},
                                  False]}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(app_server.url + f"gradio_api/call/annotate/{event_id}", timeout=60) as response:
        stream = response.read().decode()
    assert "event: error" in stream and "outside the root" not in stream
    assert app_server.alive()


def test_uploads_over_the_limit_are_refused(app_server, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(6 * 1024 * 1024))  # the fixture's server allows 5 MB
    boundary = "----interanimate"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode() + big.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(app_server.url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413
    assert app_server.alive()


def test_two_concurrent_requests_both_finish_one_at_a_time(app_server, tmp_path):
    photo = reference_photo(tmp_path)
    clients = [_client(app_server), _client(app_server)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_animate, client, photo, pattern, seed)
                   for client, pattern, seed in zip(clients, ("pinch_chin", "swipe_mouth_leftward"), (1, 2))]
        results = [f.result(timeout=600) for f in futures]
    records = [r[2] for r in results]
    assert sorted(r["pattern"] for r in records) == ["pinch_chin", "swipe_mouth_leftward"]
    spans = sorted((r["app"]["started"], r["app"]["finished"]) for r in records)
    assert spans[0][1] <= spans[1][0], spans  # the queue ran the CPU jobs one after the other
    for video, labels, _, _ in results:
        assert Path(video).stat().st_size > 0 and np.load(labels)["contact"].shape == (8, 2)


def test_failed_jobs_leave_the_server_serving(app_server, tmp_path):
    from gradio_client import handle_file

    client = _client(app_server)
    not_a_photo = tmp_path / "photo.png"
    not_a_photo.write_text("not an image")
    with pytest.raises(Exception, match="not a readable image"):
        client.predict(handle_file(str(not_a_photo)), "poke_nose", "diffusion", 8, 0, 1, api_name="/animate")
    with pytest.raises(Exception, match="did you mean"):
        _animate(client, reference_photo(tmp_path), "poke_noze")
    with pytest.raises(Exception, match="nope is not in the list of choices"):
        client.predict(handle_file(str(reference_photo(tmp_path))), "poke_nose", "nope", 8, 0, 1,
                       api_name="/animate")
    with pytest.raises(Exception, match="frames 999"):
        client.predict(handle_file(str(reference_photo(tmp_path))), "poke_nose", "diffusion", 999, 0, 1,
                       api_name="/animate")
    video, _, record, _ = _animate(client, reference_photo(tmp_path), "poke_chin", seed=5)
    assert record["pattern"] == "poke_chin" and Path(video).is_file()
    assert app_server.alive()


def test_uploaded_videos_are_checked_before_any_work(tmp_path):
    from interanimate.app.jobs import check_video_upload
    from interanimate.data.io import encode_video

    settings = AppSettings(root=tmp_path, max_video_seconds=1.0)
    paths = SafePaths(settings.root, settings.temp_dir)
    frames = np.zeros((30, 32, 32, 3), np.uint8)
    short, long = settings.temp_dir / "short.mp4", settings.temp_dir / "long.mp4"
    short.write_bytes(encode_video(frames[:20], 25.0))
    long.write_bytes(encode_video(frames, 10.0))  # 3 s
    assert check_video_upload(settings, paths, short, "video") == short.resolve()
    with pytest.raises(AppInputError, match="longer than the 1 s limit"):
        check_video_upload(settings, paths, long, "video")
    text = settings.temp_dir / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(AppInputError, match="not a readable video"):
        check_video_upload(settings, paths, text, "video")
    (settings.temp_dir / "empty.mp4").write_bytes(b"")
    with pytest.raises(AppInputError, match="empty"):
        check_video_upload(settings, paths, settings.temp_dir / "empty.mp4", "video")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.mp4"
    outside.write_bytes(short.read_bytes())
    with pytest.raises(AppInputError, match="outside"):
        check_video_upload(settings, paths, outside, "video")


@slow
def test_animate_from_a_driving_video(opencv_media, tmp_path):
    from interanimate.app import jobs
    from interanimate.app.renderers import PipelineCache
    from interanimate.data.io import decode_video

    settings = AppSettings(root=tmp_path)
    driving = short_clip(opencv_media / "Megamind.avi", settings.temp_dir / "driving.mp4", 30, 50)  # a hand in view
    photo = reference_photo(settings.temp_dir)
    outcome = jobs.animate(settings, PipelineCache(None), photo, None, "diffusion", 16, 0, 1, driving=driving)
    assert [c.pattern for c in outcome.clips] == [None]
    assert decode_video(outcome.clips[0].video).shape[0] == 16 and outcome.clips[0].overlay.is_file()
    with pytest.raises(AppInputError, match="not both"):
        jobs.animate(settings, PipelineCache(None), photo, ["poke_nose"], "diffusion", 16, 0, 1, driving=driving)


def test_composite_renderer_is_the_default_and_animates_the_photo(tmp_path):
    from interanimate.app import jobs
    from interanimate.app.renderers import PipelineCache, renderer_names
    from interanimate.data.io import decode_video

    assert renderer_names()[0] == "composite"  # the page's and the endpoint's default
    settings = AppSettings(root=tmp_path)
    photo = reference_photo(settings.temp_dir)
    outcome = jobs.animate(settings, PipelineCache(None), photo, ["poke_nose"], "composite", 8, 0, 1)
    clip = outcome.clips[0]
    frames = decode_video(clip.video)
    assert frames.shape[0] == 8 and min(frames.shape[1:3]) > 64  # the photo's own resolution, not the 64 px model
    assert clip.pattern == "poke_nose" and clip.contact_frames > 0 and clip.overlay.is_file()
