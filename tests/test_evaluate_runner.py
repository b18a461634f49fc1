"""`interanimate evaluate`: the runner's numbers move the right way, inputs are checked, reports are written,
and what cannot be measured is named instead of averaged in."""

from __future__ import annotations

import html
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from interanimate.cli import main
from interanimate.data.annotations import load_annotations
from interanimate.data.io import decode_video
from interanimate.data.manifest import read_manifest, write_manifest
from interanimate.data.sketch import SketchConfig, write_sketch_dataset
from interanimate.data.writer import DatasetWriter
from interanimate.evaluation.report import write_report
from interanimate.evaluation.runner import EvaluateConfig, EvaluationInputError, evaluate

PATTERNS = ["poke_nose", "swipe_mouth_leftward"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval") / "reference"
    write_sketch_dataset(root, num_subjects=1, seed=4, config=SketchConfig(8, 64, 8.0), patterns=PATTERNS)
    return root


def _portrait(name: str) -> np.ndarray:
    """A real, licence-clean portrait: scikit-image's astronaut (NASA, public domain) or matplotlib's
    Grace Hopper (US Navy, public domain)."""
    if name == "astronaut":
        from skimage import data

        return data.astronaut()
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def _portrait_frames(name: str, num_frames: int, size: int) -> np.ndarray:
    """A slow pan over a portrait framed the same way for every person (face 1/3 of the frame, centred),
    ``(F, size, size, 3)``, so one set of face labels fits each."""
    import dlib

    image = _portrait(name)
    face = max(dlib.get_frontal_face_detector()(image, 1), key=lambda r: r.area())
    side = 3 * face.width()
    x0, y0 = face.center().x - side // 2, face.center().y - side // 2
    pad = np.pad(image, ((side, side), (side, side), (0, 0)), mode="edge")
    step = max(1, side // 100)
    return np.stack([cv2.resize(pad[side + y0 + step * f:side + y0 + step * f + side,
                                    side + x0 + step * f:side + x0 + step * f + side], (size, size),
                                interpolation=cv2.INTER_AREA) for f in range(num_frames)])


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """A reference set whose videos are a real face (the astronaut), labelled with the detector's boxes."""
    from interanimate.evaluation.backbones import DlibFaceDescriptor

    sketch = tmp_path_factory.mktemp("faces") / "sketch"
    write_sketch_dataset(sketch, num_subjects=1, seed=4, config=SketchConfig(6, 128, 8.0), patterns=PATTERNS)
    root = sketch.parent / "reference"
    frames = _portrait_frames("astronaut", 6, 128)
    found = DlibFaceDescriptor().detect_video(frames)
    assert found.found.all()
    with DatasetWriter(root, "test-faces", "0") as writer:
        for record in read_manifest(sketch):
            ann = load_annotations(sketch / record.files["annotations"]["path"], record.height, record.width)
            ann.face_box[:] = found.boxes
            record.files = {}
            writer.write_clip(record, frames, ann)
    return root


def _generated(reference: Path, out: Path, degrade=lambda f: f, drop_faces: bool = False,
               replace=None) -> Path:
    """A generated set made from the reference clips through the real writer."""
    with DatasetWriter(out, "test-generator", "0") as writer:
        for record in read_manifest(reference):
            frames = decode_video(reference / record.files["video"]["path"])
            frames = np.stack([degrade(f) for f in (frames if replace is None else replace(len(frames), frames))])
            ann = load_annotations(reference / record.files["annotations"]["path"], record.height, record.width)
            if drop_faces:
                ann.face_present[:] = False
                ann.face_confidence[:] = 0
            record.clip_id = "gen-" + record.clip_id
            record.extra = {"source_clip_id": record.clip_id[4:]}
            record.files, record.split = {}, None
            writer.write_clip(record, frames, ann)
    return out


def _run(reference, generated, tmp_path, metrics=("pixel", "temporal", "identity", "frechet")):
    return evaluate(generated, reference, EvaluateConfig(metrics=metrics, cache_dir=str(tmp_path / "cache")),
                    progress=False)


def test_identical_videos_score_perfectly_and_blur_moves_each_metric_the_right_way(reference, tmp_path):
    same = _run(reference, _generated(reference, tmp_path / "same"), tmp_path, metrics=("pixel", "temporal"))
    blurred = _run(reference, _generated(reference, tmp_path / "blur", lambda f: cv2.GaussianBlur(f, (0, 0), 2.0)),
                   tmp_path, metrics=("pixel", "temporal"))
    # Re-encoding makes "identical" near-identical, not bit-identical.
    assert same.summary["SSIM (frame)"] > 0.95
    assert blurred.summary["SSIM (frame)"] < same.summary["SSIM (frame)"] - 0.05
    assert blurred.summary["PSNR dB (frame)"] < same.summary["PSNR dB (frame)"]
    assert blurred.summary["L1 (frame)"] > same.summary["L1 (frame)"]
    assert set(same.per_pattern) == set(PATTERNS)


def test_identity_tells_the_person_from_a_stranger_and_from_a_lost_face(faces, tmp_path):
    metrics = ("identity", "frechet")
    same = _run(faces, _generated(faces, tmp_path / "same"), tmp_path, metrics)
    stranger = _run(faces, _generated(faces, tmp_path / "stranger", replace=lambda n, _: _portrait_frames(
        "grace_hopper", n, 128)), tmp_path, metrics)
    lost = _run(faces, _generated(faces, tmp_path / "lost", lambda f: cv2.GaussianBlur(f, (0, 0), 6.0)), tmp_path,
                metrics)
    s, x = same.summary, stranger.summary
    assert s["face coverage"] == 1.0 and s["same-person rate (dlib, d < 0.6)"] == 1.0
    assert s["identity distance (dlib)"] < 0.3
    # A different person: faces found in every frame, none of them the reference person.
    assert x["face coverage"] == 1.0 and x["same-person rate (dlib, d < 0.6)"] == 0.0
    assert x["identity distance (dlib)"] > 0.6 > s["identity distance (dlib)"] + 0.3
    # A blurred-away face: the detector finds nothing, coverage says so, identity is not shown as a number.
    assert lost.summary["face coverage"] == 0.0
    assert "identity distance (dlib)" not in lost.summary
    assert "generated frames" in lost.unmeasured["identity distance (dlib)"]
    assert s["identity distance (ground truth)"] == pytest.approx(0.0, abs=0.15)
    # Fréchet over 12 faces in 128-d is kept in the JSON but greyed as too few samples.
    assert stranger.set_level["frechet_dlib_face"]["value"] > same.set_level["frechet_dlib_face"]["value"]
    assert "frechet_dlib_face" in same.unmeasured and "frechet_dlib_face" not in same.summary


def test_a_ground_truth_the_detector_cannot_read_greys_identity(faces, tmp_path):
    """A blurred ground truth has no face for the detector: the reference identity is unmeasurable, even
    against sharp generated faces, and the report says why instead of printing a number."""
    blurred_truth = _generated(faces, tmp_path / "truth", lambda f: cv2.GaussianBlur(f, (0, 0), 6.0))
    sharp = _generated(blurred_truth, tmp_path / "gen", replace=lambda n, _: _portrait_frames("astronaut", n, 128))
    result = _run(blurred_truth, sharp, tmp_path, metrics=("identity",))
    assert result.summary["face coverage (ground truth)"] == 0.0 and result.summary["face coverage"] == 1.0
    assert "identity distance (dlib)" not in result.summary
    assert "ground truth" in result.unmeasured["identity distance (dlib)"]


def test_shuffled_frames_raise_the_warping_error(reference, tmp_path):
    normal = _run(reference, _generated(reference, tmp_path / "normal"), tmp_path, metrics=("temporal",))
    shuffled_root = _generated(reference, tmp_path / "shuffled")
    records = read_manifest(shuffled_root)
    for record in records:  # rewrite each video with its frames shuffled, keeping labels
        frames = decode_video(shuffled_root / record.files["video"]["path"])
        order = np.random.default_rng(0).permutation(len(frames))
        from interanimate.data.io import encode_video, sha256_bytes

        data = encode_video(frames[order], record.fps)
        (shuffled_root / record.files["video"]["path"]).write_bytes(data)
        record.files["video"].update(sha256=sha256_bytes(data), bytes=len(data))
    write_manifest(shuffled_root, records)
    shuffled = _run(reference, shuffled_root, tmp_path, metrics=("temporal",))
    assert shuffled.summary["warping error (frame)"] > normal.summary["warping error (frame)"]


def test_reference_statistics_are_cached(faces, tmp_path):
    generated = _generated(faces, tmp_path / "gen")
    first = _run(faces, generated, tmp_path, metrics=("frechet",))
    cache = Path(first.set_level["frechet_dlib_face"]["reference_cache"])
    stamp = cache.stat().st_mtime_ns
    second = _run(faces, generated, tmp_path, metrics=("frechet",))
    assert cache.stat().st_mtime_ns == stamp
    value = first.set_level["frechet_dlib_face"]["value"]
    assert second.set_level["frechet_dlib_face"]["value"] == pytest.approx(value)


def test_mismatched_inputs_are_clear_errors(reference, tmp_path):
    generated = _generated(reference, tmp_path / "gen")
    records = read_manifest(generated)
    records[0].extra["source_clip_id"] = "nope"
    records[1].num_frames = 7
    write_manifest(generated, records)
    with pytest.raises(EvaluationInputError) as err:
        _run(reference, generated, tmp_path)
    message = str(err.value)
    assert "no reference clip 'nope'" in message and "7 frames" in message
    faceless = _generated(reference, tmp_path / "faceless", drop_faces=True)
    with pytest.raises(EvaluationInputError, match="no generated clip has a face"):
        _run(reference, faceless, tmp_path, metrics=("identity",))


def test_report_files(faces, tmp_path):
    result = _run(faces, _generated(faces, tmp_path / "gen"), tmp_path)
    json_path, html_path = write_report(result, tmp_path / "report")
    data = json.loads(json_path.read_text())  # strict JSON: NaN became null
    assert data["summary"]["SSIM (frame)"] == pytest.approx(result.summary["SSIM (frame)"])
    assert data["config"]["metrics"] and data["versions"]["interanimate"]
    assert data["unmeasured"] == result.unmeasured
    page = html_path.read_text()
    for section in ("Summary", "Set-level distances", "Per pattern", "Identity over time", "Best and worst clips"):
        assert section in page
    assert page.count("data:image/png;base64,") >= 4
    # Greyed rows carry their reason, not a number.
    assert 'class="unmeasured"' in page and html.escape(result.unmeasured["frechet_dlib_face"]) in page


def test_cli_evaluate_and_its_errors(reference, tmp_path, capsys):
    generated = _generated(reference, tmp_path / "gen")
    code = main(["evaluate", "--generated", str(generated), "--reference", str(reference), "--out",
                 str(tmp_path / "r"), "--metrics", "pixel", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "SSIM (frame)" in out and (tmp_path / "r" / "report.html").is_file()
    code = main(["evaluate", "--generated", str(tmp_path / "missing"), "--reference", str(reference), "--out",
                 str(tmp_path / "r2")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("interanimate: error:") and len(err.strip().splitlines()) == 1
    code = main(["evaluate", "--generated", str(generated), "--reference", str(reference), "--out", str(tmp_path / "r3"),
                 "--metrics", "pixel", "--fid-weights", str(tmp_path / "no-such-file.pth")])
    err = capsys.readouterr().err
    assert code == 2 and "no-such-file.pth" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--generated", str(generated), "--reference", str(reference), "--out", str(tmp_path / "r4"),
              "--pck-threshold", "0"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--pck-threshold: must be in (0, 1], got 0" in err


def test_arcface_identity_and_frechet_when_an_onnx_file_is_given(faces, tmp_path):
    import io

    import torch

    pytest.importorskip("onnx")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, 4), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 27 * 27, 512)).eval()
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), buffer, input_names=["input"], output_names=["e"],
                      dynamic_axes={"input": {0: "b"}}, dynamo=False)
    model = tmp_path / "arcface.onnx"
    model.write_bytes(buffer.getvalue())
    result = evaluate(_generated(faces, tmp_path / "gen"), faces,
                      EvaluateConfig(metrics=("identity", "frechet"), arcface_weights=str(model),
                                     cache_dir=str(tmp_path / "cache")), progress=False)
    # Same faces, re-encoded at 128 px, through an untrained network: high but not perfect similarity.
    assert 0.8 < result.summary["identity similarity (ArcFace)"] <= 1.0
    assert "frechet_arcface512" in result.set_level


def test_redetecting_nothing_is_a_measurement_not_an_error(reference, tmp_path):
    """Blank generated videos: the re-detector finds no face and no hand, and the scores say so."""
    from interanimate.evaluation.redetect import AnnotatorRedetector

    blank = _generated(reference, tmp_path / "blank", lambda f: np.full_like(f, 128))
    result = evaluate(blank, reference, EvaluateConfig(metrics=("anatomy",), cache_dir=str(tmp_path / "c")),
                      redetector=AnnotatorRedetector(), progress=False)
    for scores in result.per_clip.values():
        assert scores["anatomy"]["hand_detection"]["detection_rate"] == 0.0
        assert "face_nme" not in scores["anatomy"]
