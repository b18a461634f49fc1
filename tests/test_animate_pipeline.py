"""`interanimate animate` end to end on the tiny preset: real and synthetic photos × patterns, driving clips,
labels that validate, provenance that survives re-encoding, bad input, batch mode."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from interanimate.data.annotate.geometry import face_frame, region_of_points
from interanimate.data.io import decode_video, encode_video, read_container_metadata
from interanimate.data.validate import validate_dataset
from interanimate.models import InterAnimateModel
from interanimate.pipelines import AnimateError, AnimatePipeline, AnimateRequest
from interanimate.pipelines.command import main as animate_main
from interanimate.training.config import load_config


def _tiny_model(folder: Path, size: int) -> Path:
    torch.manual_seed(0)
    InterAnimateModel.from_config(load_config("tiny").model, sample_size=size).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny32(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("tiny32") / "model", 32)


@pytest.fixture(scope="module")
def synthetic_png(tmp_path_factory) -> Path:
    from interanimate.data.synth import ClipSpec, render_clip

    frame = render_clip(ClipSpec(seed=5, subject_index=3, pattern="poke_nose", num_frames=8, size=192)).frames[0]
    path = tmp_path_factory.mktemp("photos") / "synthetic.png"
    cv2.imwrite(str(path), frame[..., ::-1])
    return path


@pytest.fixture(scope="module")
def pipe(tiny32) -> AnimatePipeline:
    return AnimatePipeline.from_checkpoint(tiny32, num_inference_steps=2)


def _run(args: list[str], capsys) -> tuple[int, str]:
    code = animate_main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err.strip()


def test_real_photo_to_video_and_dataset(tiny32, astronaut_png, tmp_path, capsys):
    out, dataset = tmp_path / "out", tmp_path / "ds"
    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_cheek_left", "--hand", "left", "--frames", 12,
                      "--checkpoint", tiny32, "--out", out, "--as-dataset", dataset, "--num-inference-steps", 2,
                      "--sampler", "dpmpp", "--gif", "--side-by-side", "--seed", 4], capsys)
    assert code == 0, err
    video = out / "astronaut-poke_cheek_left-s4.mp4"
    frames = decode_video(video)
    assert frames.shape == (12, 32, 32, 3)
    tags = read_container_metadata(video)
    assert tags["interanimate_synthetic"] == "1" and tags["interanimate_pattern"] == "poke_cheek_left"
    assert tags["interanimate_seed"] == "4" and len(tags["interanimate_checkpoint_sha256"]) == 64
    for suffix in (".labels.npz", ".conditions.npz", ".json", ".gif", ".side.mp4"):
        assert (out / f"astronaut-poke_cheek_left-s4{suffix}").is_file()
    assert decode_video(out / "astronaut-poke_cheek_left-s4.side.mp4").shape == (12, 32, 96, 3)
    report = validate_dataset(dataset, progress=False)
    assert report.ok, report.violations
    record = json.loads(next((dataset / "clips").glob("*/record.json")).read_text())
    assert record["source"] == {"kind": "generated", "origin": "interanimate-animate"}
    arrays = np.load(dataset / record["files"]["annotations"]["path"])
    assert "depth" not in arrays and "joints_3d" not in arrays  # no renderer behind a generated clip
    assert record["pattern"] == "poke_cheek_left" and record["extra"]["seed"] == 4
    assert record["extra"]["checkpoint_sha256"] == tags["interanimate_checkpoint_sha256"]
    assert record["extra"]["acting_hand"] == "left"
    # Re-running resumes: the clip is already in the dataset and is not duplicated.
    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_cheek_left", "--hand", "left", "--frames", 12,
                      "--checkpoint", tiny32, "--as-dataset", dataset, "--num-inference-steps", 2,
                      "--sampler", "dpmpp", "--seed", 4], capsys)
    assert code == 0, err
    assert len(list((dataset / "clips").iterdir())) == 1


def test_synthetic_photo_labels_sit_on_the_named_region(pipe, synthetic_png):
    result = pipe(AnimateRequest(reference=synthetic_png, pattern="poke_forehead", num_frames=10, seed=2))
    ann = result.annotations
    assert result.frames.shape == (10, 32, 32, 3) and ann.num_frames == 10
    assert ann.contact.any(), "the synthesised poke must touch the face"
    assert (ann.contact_region[ann.contact] == 0).mean() >= 0.5  # mostly the forehead (a finger may graze the nose)
    # An independent check: the annotator's geometric region model, run on the retargeted face, agrees with the
    # labels carried over from the synthetic performance.
    frame = face_frame(ann.face_keypoints.astype(float))
    regions = region_of_points(frame.to_face(np.nan_to_num(ann.contact_point.astype(float))),
                               frame.to_face(ann.face_keypoints.astype(float)))
    assert (regions[ann.contact] == ann.contact_region[ann.contact]).mean() >= 0.7
    # Keypoints lie in the masks rebuilt from them.
    f, h = np.argwhere(ann.hand_present)[0]
    xy = ann.hand_keypoints[f, h, :, :2][ann.hand_keypoints[f, h, :, 2] > 0].astype(int).clip(0, 31)
    assert ann.masks[f, 1 + h][xy[:, 1], xy[:, 0]].mean() >= 0.8


def test_reference_features_computed_once_per_clip(pipe, astronaut_png):
    model = pipe.checkpoint.model
    calls = {"reference_net": 0, "unet": 0}
    hooks = [model.reference_net.register_forward_hook(lambda *a: calls.__setitem__("reference_net", calls["reference_net"] + 1)),
             model.unet.register_forward_hook(lambda *a: calls.__setitem__("unet", calls["unet"] + 1))]
    try:
        pipe(AnimateRequest(reference=astronaut_png, pattern="swipe_mouth_leftward", num_frames=20, seed=0))
    finally:
        for hook in hooks:
            hook.remove()
    # 2 steps, one UNet call each (all windows of a step in one batch); ReferenceNet once.
    assert calls == {"reference_net": 1, "unet": 2}


def test_same_seed_same_clip(pipe, astronaut_png):
    a = pipe(AnimateRequest(reference=astronaut_png, pattern="pinch_chin", num_frames=8, seed=9))
    b = pipe(AnimateRequest(reference=astronaut_png, pattern="pinch_chin", num_frames=8, seed=9))
    c = pipe(AnimateRequest(reference=astronaut_png, pattern="pinch_chin", num_frames=8, seed=10))
    assert np.array_equal(a.frames, b.frames) and not np.array_equal(a.frames, c.frames)
    np.testing.assert_array_equal(a.annotations.hand_keypoints, b.annotations.hand_keypoints)


def test_provenance_detected_after_reencode(tmp_path, astronaut_png):
    # Detection power grows with pixels × frames: at 64 px a 32-frame clip gives z ≈ 10 after a CRF-28 re-encode.
    model = _tiny_model(tmp_path / "tiny64", 64)
    pipe64 = AnimatePipeline.from_checkpoint(model, num_inference_steps=1, guidance_scale=1.0)
    result = pipe64(AnimateRequest(reference=astronaut_png, pattern="stroke_cheek_right", num_frames=32, seed=1))
    written = pipe64.write(result, tmp_path / "clip.mp4")
    reencoded = tmp_path / "reencoded.mp4"  # decoded and re-encoded at web quality: container tags are gone
    reencoded.write_bytes(encode_video(decode_video(written["video"]), 25, crf=28))
    assert "interanimate_synthetic" not in read_container_metadata(reencoded)
    from interanimate.cli import main as cli_main
    from interanimate.provenance import check_file

    report = check_file(reencoded)
    assert report.watermark_detected and report.watermark_z > 6, report.describe()
    assert cli_main(["provenance", "check", str(reencoded)]) == 0


def test_driving_from_a_dataset_clip(tiny32, astronaut_png, tmp_path, capsys):
    from interanimate.data.synth import ClipSpec, render_clip
    from interanimate.data.writer import write_clip_folder

    clip = render_clip(ClipSpec(seed=2, subject_index=1, pattern="stroke_cheek_left", num_frames=12, size=64))
    source = tmp_path / "source"
    write_clip_folder(source, clip.record, clip.frames, clip.annotations)
    dataset = tmp_path / "ds"
    code, err = _run(["--reference", astronaut_png, "--driving", source / "clips" / clip.record.clip_id,
                      "--checkpoint", tiny32, "--as-dataset", dataset, "--num-inference-steps", 1], capsys)
    assert code == 0, err
    assert validate_dataset(dataset, progress=False).ok
    record = json.loads(next((dataset / "clips").glob("*/record.json")).read_text())
    assert record["extra"]["source_clip_id"] == clip.record.clip_id and record["num_frames"] == 12
    from interanimate.data.annotations import load_annotations

    ann = load_annotations(dataset / record["files"]["annotations"]["path"], 32, 32)
    # Contact frames are carried over from the driving clip (a hand leaving the frame could only remove some).
    driven = ann.contact.any(axis=1)
    assert driven.any() and not (driven & ~clip.annotations.contact.any(axis=1)).any()


def test_several_references_and_patterns_get_consecutive_seeds(pipe, tiny32, astronaut_png, synthetic_png, tmp_path,
                                                               capsys):
    code, err = _run(["--reference", astronaut_png, synthetic_png, "--pattern", "poke_nose", "swipe_face_downward",
                      "--frames", 8, "--checkpoint", tiny32, "--out", tmp_path, "--num-inference-steps", 1,
                      "--seed", 10, "--quiet"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.glob("*.mp4"))
    assert names == ["astronaut-poke_nose-s10.mp4", "astronaut-swipe_face_downward-s11.mp4",
                     "synthetic-poke_nose-s12.mp4", "synthetic-swipe_face_downward-s13.mp4"]
    summary = json.loads((tmp_path / "animate_summary.json").read_text())
    assert summary["generated"] == 4 and summary["failed"] == 0


def test_batch_records_failures_and_goes_on(tiny32, astronaut_png, tmp_path, capsys):
    manifest = tmp_path / "batch.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in [
        {"reference": str(astronaut_png), "pattern": "poke_chin", "frames": 8, "seed": 1},
        {"reference": "missing.jpg", "pattern": "poke_chin"},
        {"reference": str(astronaut_png), "pattern": "poke_chinn"},
    ]) + "\n")
    out = tmp_path / "out"
    code, err = _run(["--batch", manifest, "--checkpoint", tiny32, "--out", out, "--num-inference-steps", 1,
                      "--quiet"], capsys)
    assert code == 1
    summary = json.loads((out / "animate_summary.json").read_text())
    assert [r["status"] for r in summary["clips"]] == ["ok", "failed", "failed"]
    assert "does not exist" in summary["clips"][1]["reason"]
    assert "did you mean 'poke_chin'" in summary["clips"][2]["reason"]
    assert (out / "astronaut-poke_chin-s1.mp4").is_file()


# ---------------------------------------------------------------------------------------------- bad input


def _photo(tmp_path: Path, name: str, image: np.ndarray) -> Path:
    path = tmp_path / name
    cv2.imwrite(str(path), image[..., ::-1])
    return path


def _bad_photos(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    from skimage import data

    face = data.astronaut()[0:256, 100:356]
    unreadable = tmp_path / "broken.jpg"
    unreadable.write_bytes(b"not an image at all")
    return {
        "unreadable": (unreadable, "not a readable image"),
        "no_face": (_photo(tmp_path, "coffee.png", data.coffee()), "no face found"),
        "several_faces": (_photo(tmp_path, "two.png", np.concatenate([face, face[:, ::-1]], axis=1)), "2 faces found"),
        "tiny_face": (_photo(tmp_path, "tiny.png", cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)),
                      "px high"),
    }


@pytest.mark.parametrize("kind", ["unreadable", "no_face", "several_faces", "tiny_face"])
def test_bad_reference_photo(kind, tiny32, tmp_path, capsys):
    path, message = _bad_photos(tmp_path)[kind]
    code, err = _run(["--reference", path, "--pattern", "poke_nose", "--checkpoint", tiny32, "--out", tmp_path / "o"],
                     capsys)
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_unknown_pattern_suggests(tiny32, astronaut_png, tmp_path, capsys):
    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_cheeck_left", "--checkpoint", tiny32,
                      "--out", tmp_path / "o"], capsys)
    assert code == 2 and "did you mean 'poke_cheek_left'" in err and len(err.splitlines()) == 1


def test_missing_and_incompatible_checkpoints(tiny32, astronaut_png, tmp_path, capsys):
    import shutil

    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_nose", "--checkpoint", tmp_path / "nowhere",
                      "--out", tmp_path / "o"], capsys)
    assert code == 2 and "does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_nose", "--checkpoint", empty,
                      "--out", tmp_path / "o"], capsys)
    assert code == 2 and "holds no InterAnimate model" in err
    broken = tmp_path / "broken"
    shutil.copytree(tiny32, broken)
    config = json.loads((broken / "pose_guider" / "config.json").read_text())
    config["conditioning_channels"] = 7  # a model from a version that rendered other condition maps
    (broken / "pose_guider" / "config.json").write_text(json.dumps(config))
    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_nose", "--checkpoint", broken,
                      "--out", tmp_path / "o"], capsys)
    assert code == 2 and "incompatible" in err and len(err.splitlines()) == 1, err
    (tmp_path / "run").mkdir()
    shutil.copytree(tiny32, tmp_path / "run" / "final")
    (tmp_path / "run" / "final" / "state.json").write_text("{}")
    (tmp_path / "run" / "final" / "config.yaml").write_text("model:\n  unknown_key: 1\n")
    code, err = _run(["--reference", astronaut_png, "--pattern", "poke_nose", "--checkpoint", tmp_path / "run",
                      "--out", tmp_path / "o"], capsys)
    assert code == 2 and "incompatible version" in err, err


def test_driving_video_without_face_or_hands(pipe, astronaut_png, tmp_path):
    from skimage import data

    rng = np.random.default_rng(0)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(encode_video(rng.integers(0, 255, (10, 96, 96, 3), dtype=np.uint8), 10))
    with pytest.raises(AnimateError, match="no face"):
        pipe(AnimateRequest(reference=astronaut_png, driving=noise))
    face = cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)
    still = tmp_path / "still.mp4"
    still.write_bytes(encode_video(np.repeat(face[None], 10, axis=0), 10))
    with pytest.raises(AnimateError, match="no hand found"):
        pipe(AnimateRequest(reference=astronaut_png, driving=still))
    with pytest.raises(AnimateError, match="does not exist"):
        pipe(AnimateRequest(reference=astronaut_png, driving=tmp_path / "none.mp4"))


@pytest.mark.slow
def test_driving_video_through_perception(pipe, astronaut_png, tmp_path):
    """A synthetic clip as a plain video file: keypoints come from the annotator's perception."""
    from interanimate.data.synth import ClipSpec, render_clip

    clip = render_clip(ClipSpec(seed=0, subject_index=0, pattern="stroke_cheek_right", num_frames=24, size=256))
    video = tmp_path / "driving.mp4"
    video.write_bytes(encode_video(clip.frames, 25))
    try:
        result = pipe(AnimateRequest(reference=astronaut_png, driving=video, seed=0))
    except AnimateError as exc:  # MediaPipe finds synthetic hands in only about a third of frames
        pytest.skip(f"perception found no usable hand in this render: {exc}")
    assert result.frames.shape[0] == 24 and result.annotations.hand_present.any()
    assert result.info["motion"]["labels"] == "annotator contact and pattern stages"


def test_rerun_into_a_dataset_does_not_sample_finished_clips(tiny32, astronaut_png, tmp_path, capsys, monkeypatch):
    dataset = tmp_path / "ds"
    argv = ["--reference", astronaut_png, "--pattern", "poke_chin", "poke_nose", "--frames", 8, "--checkpoint", tiny32,
            "--as-dataset", dataset, "--num-inference-steps", 1, "--quiet"]
    assert _run(argv, capsys)[0] == 0
    before = sorted(p.name for p in (dataset / "clips").iterdir())
    assert len(before) == 2

    def no_sampling(self, request):
        raise AssertionError("a finished clip was sampled again")

    monkeypatch.setattr(AnimatePipeline, "__call__", no_sampling)
    code, err = _run(argv, capsys)
    assert code == 0, err
    assert sorted(p.name for p in (dataset / "clips").iterdir()) == before
