"""`interanimate evaluate`: the runner's numbers move the right way, inputs are checked, reports are written."""

from __future__ import annotations

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


def _generated(reference: Path, out: Path, degrade=lambda f: f, drop_faces: bool = False) -> Path:
    """A generated set made from the reference clips through the real writer."""
    with DatasetWriter(out, "test-generator", "0") as writer:
        for record in read_manifest(reference):
            frames = np.stack([degrade(f) for f in decode_video(reference / record.files["video"]["path"])])
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
    same = _run(reference, _generated(reference, tmp_path / "same"), tmp_path)
    blurred = _run(reference, _generated(reference, tmp_path / "blur", lambda f: cv2.GaussianBlur(f, (0, 0), 2.0)),
                   tmp_path)
    # Re-encoding makes "identical" near-identical, not bit-identical.
    assert same.summary["SSIM (frame)"] > 0.95 and same.summary["identity similarity"] > 0.97
    assert blurred.summary["SSIM (frame)"] < same.summary["SSIM (frame)"] - 0.05
    assert blurred.summary["PSNR dB (frame)"] < same.summary["PSNR dB (frame)"]
    assert blurred.summary["L1 (frame)"] > same.summary["L1 (frame)"]
    assert blurred.summary["frechet_dlib_face"] > same.summary["frechet_dlib_face"]
    assert set(same.per_pattern) == set(PATTERNS)


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


def test_reference_statistics_are_cached(reference, tmp_path):
    generated = _generated(reference, tmp_path / "gen")
    first = _run(reference, generated, tmp_path, metrics=("frechet",))
    cache = Path(first.set_level["frechet_dlib_face"]["reference_cache"])
    stamp = cache.stat().st_mtime_ns
    second = _run(reference, generated, tmp_path, metrics=("frechet",))
    assert cache.stat().st_mtime_ns == stamp
    assert second.summary["frechet_dlib_face"] == pytest.approx(first.summary["frechet_dlib_face"])


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


def test_report_files(reference, tmp_path):
    result = _run(reference, _generated(reference, tmp_path / "gen"), tmp_path)
    json_path, html_path = write_report(result, tmp_path / "report")
    data = json.loads(json_path.read_text())  # strict JSON: NaN became null
    assert data["summary"]["SSIM (frame)"] == pytest.approx(result.summary["SSIM (frame)"])
    assert data["config"]["metrics"] and data["versions"]["interanimate"]
    page = html_path.read_text()
    for section in ("Summary", "Set-level distances", "Per pattern", "Identity over time", "Best and worst clips"):
        assert section in page
    assert page.count("data:image/png;base64,") >= 4


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


def test_arcface_identity_and_frechet_when_an_onnx_file_is_given(reference, tmp_path):
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
    result = evaluate(_generated(reference, tmp_path / "gen"), reference,
                      EvaluateConfig(metrics=("identity", "frechet"), arcface_weights=str(model),
                                     cache_dir=str(tmp_path / "cache")), progress=False)
    # Same faces, re-encoded at 64 px, through an untrained network: high but not perfect similarity.
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
