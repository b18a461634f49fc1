"""Write -> validate -> read round trips, and every kind of contract violation is caught and named."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from interanimate.data import schema
from interanimate.data.annotations import ClipAnnotations, load_annotations, read_npz_arrays
from interanimate.data.io import decode_video, sha256_bytes
from interanimate.data.manifest import ClipRecord, read_manifest, write_manifest
from interanimate.data.sketch import SketchConfig, render_sketch_clip
from interanimate.data.validate import validate_dataset
from interanimate.data.writer import DatasetWriter
from interanimate.taxonomy import get_pattern


def _record(clip_id: str, subject: str, pattern: str, frames: np.ndarray) -> ClipRecord:
    f, h, w = frames.shape[:3]
    return ClipRecord(clip_id=clip_id, subject_id=subject, pattern=pattern, fps=12.0, num_frames=f, width=w, height=h,
                      source={"kind": "synthetic", "origin": "test"})


def test_write_validate_read_round_trips_exactly(tmp_path):
    written = {}
    with DatasetWriter(tmp_path / "ds", "test", "0", lossless=True) as writer:
        for i, name in enumerate(["poke_nose", "stroke_jaw", "swipe_face_downward"]):
            frames, ann, _ = render_sketch_clip(get_pattern(name), subject_seed=i, clip_seed=10 + i,
                                                config=SketchConfig(10, 40))
            ann.identity_embedding = np.random.default_rng(i).normal(size=128).astype(np.float32)
            ann.identity_kind = "dlib128"
            writer.write_clip(_record(f"clip{i}", f"subject{i}", name, frames), frames, ann)
            written[f"clip{i}"] = (frames, ann)
    report = validate_dataset(tmp_path / "ds", deep=True)
    assert report.ok, report.violations
    records = {r.clip_id: r for r in read_manifest(tmp_path / "ds")}
    assert set(records) == set(written)
    for clip_id, (frames, ann) in written.items():
        record = records[clip_id]
        root = tmp_path / "ds"
        assert np.array_equal(decode_video(root / record.files["video"]["path"]), frames)
        back = load_annotations(root / record.files["annotations"]["path"], record.height, record.width)
        for key, value in ann.to_arrays().items():
            assert np.array_equal(back.to_arrays()[key], value, equal_nan=value.dtype.kind == "f"), key
        assert np.array_equal(back.masks, ann.masks)
        assert record.split in ("train", "test")


def test_annotations_are_compact():
    _, ann, _ = render_sketch_clip(get_pattern("poke_nose"), 0, 0, SketchConfig(16, 64))
    data = ann.to_npz_bytes()
    # 4 masks x 16 frames of 64x64 would be 256 KiB as bytes; bit-packed and zipped it is a small fraction.
    assert len(data) < 60_000
    assert read_npz_arrays(data)["masks_packed"].dtype == np.uint8


# --- helpers that break one thing and keep every checksum honest ------------------------------------

def _rewrite(root: Path, clip_id: str, mutate) -> None:
    records = read_manifest(root)
    record = next(r for r in records if r.clip_id == clip_id)
    path = root / record.files["annotations"]["path"]
    arrays = read_npz_arrays(path)
    mutate(arrays)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    path.write_bytes(data)
    record.files["annotations"].update(sha256=sha256_bytes(data), bytes=len(data))
    _write_records(root, records)


def _write_records(root: Path, records) -> None:
    """Edit a dataset consistently: the manifest and each clip's record.json (else validate names record.json)."""
    write_manifest(root, records)
    for r in records:
        folder = root / "clips" / r.clip_id
        if folder.is_dir():
            (folder / "record.json").write_text(ClipRecord(**{**r.__dict__, "split": None}).to_json() + "\n")


def _fields(report, clip_id=None):
    return {(v.clip_id, v.field) for v in report.violations if clip_id is None or v.clip_id == clip_id}


def _first_clip(root: Path, pattern: str | None = None) -> ClipRecord:
    return next(r for r in read_manifest(root) if pattern is None or r.pattern == pattern)


def test_the_fixture_dataset_is_valid(sketch_dataset):
    report = validate_dataset(sketch_dataset)
    assert report.ok, report.violations[:5]
    assert report.num_clips == 24


def test_wrong_shape_is_named(dataset_copy):
    clip = _first_clip(dataset_copy).clip_id
    _rewrite(dataset_copy, clip, lambda a: a.__setitem__("face_keypoints", a["face_keypoints"][:, :60]))
    report = validate_dataset(dataset_copy)
    assert _fields(report) == {(clip, "face_keypoints")}
    assert "wrong shape" in report.violations[0].message


def test_wrong_dtype_is_named(dataset_copy):
    clip = _first_clip(dataset_copy).clip_id
    _rewrite(dataset_copy, clip, lambda a: a.__setitem__("contact", a["contact"].astype(np.uint8)))
    assert _fields(validate_dataset(dataset_copy)) == {(clip, "contact")}


def test_bad_checksum_is_named(dataset_copy):
    record = _first_clip(dataset_copy)
    path = dataset_copy / record.files["video"]["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = validate_dataset(dataset_copy)
    assert _fields(report) == {(record.clip_id, "files.video")}
    assert "sha256 mismatch" in report.violations[0].message


def test_missing_file_is_named(dataset_copy):
    record = _first_clip(dataset_copy)
    (dataset_copy / record.files["annotations"]["path"]).unlink()
    report = validate_dataset(dataset_copy)
    assert _fields(report) == {(record.clip_id, "files.annotations")}
    assert "missing file" in report.violations[0].message


def test_unknown_pattern_is_named_with_a_suggestion(dataset_copy):
    records = read_manifest(dataset_copy)
    records[0].pattern = "poke_noze"
    _write_records(dataset_copy, records)
    report = validate_dataset(dataset_copy)
    assert (records[0].clip_id, "pattern") in _fields(report)
    assert "poke_nose" in next(v.message for v in report.violations if v.field == "pattern")


def test_subject_in_two_splits_is_leakage(dataset_copy):
    records = read_manifest(dataset_copy)
    subject = records[0].subject_id
    mine = [r for r in records if r.subject_id == subject]
    mine[0].split = "test" if mine[0].split == "train" else "train"
    _write_records(dataset_copy, records)
    report = validate_dataset(dataset_copy)
    assert _fields(report) == {("<dataset>", "split")}
    assert subject in report.violations[0].message and "leakage" in report.violations[0].message


def test_keypoint_outside_frame_is_named_with_its_frame(dataset_copy):
    record = _first_clip(dataset_copy)

    def push_out(a):
        a["face_keypoints"][3, 0, 0] = record.width + 5.0

    _rewrite(dataset_copy, record.clip_id, push_out)
    report = validate_dataset(dataset_copy)
    assert (record.clip_id, "face_keypoints") in _fields(report)
    message = next(v.message for v in report.violations if v.field == "face_keypoints")
    assert "outside the frame" in message and "frames 3" in message


def test_mask_keypoint_mismatch_is_named(dataset_copy):
    record = _first_clip(dataset_copy)

    def shift_hand_mask(a):
        masks = schema.unpack_masks(a["masks_packed"], record.height, record.width)
        present = a["hand_present"]
        side = int(np.flatnonzero(present.any(axis=0))[0])
        masks[:, 1 + side] = np.roll(masks[:, 1 + side], shift=record.width // 2, axis=2)
        a["masks_packed"] = schema.pack_masks(masks)

    _rewrite(dataset_copy, record.clip_id, shift_hand_mask)
    report = validate_dataset(dataset_copy)
    fields = {f for c, f in _fields(report, record.clip_id)}
    assert fields & {"masks.hand_left", "masks.hand_right"}
    assert any("mask/keypoint mismatch" in v.message for v in report.violations)


def test_contact_without_contact_mask_is_named(dataset_copy):
    record = _first_clip(dataset_copy)

    def clear_contact_mask(a):
        masks = schema.unpack_masks(a["masks_packed"], record.height, record.width)
        masks[:, 3] = False
        a["masks_packed"] = schema.pack_masks(masks)

    _rewrite(dataset_copy, record.clip_id, clear_contact_mask)
    assert (record.clip_id, "masks.contact") in _fields(validate_dataset(dataset_copy))


def test_unlisted_clip_folder_and_frame_count_mismatch_are_named(dataset_copy):
    records = read_manifest(dataset_copy)
    dropped = records.pop()
    records[0].num_frames += 1
    _write_records(dataset_copy, records)
    fields = _fields(validate_dataset(dataset_copy))
    assert (dropped.clip_id, "manifest") in fields
    assert (records[0].clip_id, "video") in fields  # header frame count vs manifest


def test_every_violation_of_a_badly_broken_dataset_is_listed(dataset_copy):
    records = read_manifest(dataset_copy)
    (dataset_copy / records[0].files["video"]["path"]).unlink()
    (dataset_copy / records[1].files["annotations"]["path"]).write_bytes(b"not a zip")
    records[1].files["annotations"]["sha256"] = sha256_bytes(b"not a zip")
    _write_records(dataset_copy, records)
    fields = _fields(validate_dataset(dataset_copy, workers=2))
    assert (records[0].clip_id, "files.video") in fields
    assert (records[1].clip_id, "annotations") in fields


def test_empty_annotations_have_contract_shapes():
    ann = ClipAnnotations.empty(5, 20, 30)
    arrays = ann.to_arrays()
    sizes = {"F": 5, "H": 20, "W": 30, "B": schema.packed_mask_bytes(20, 30)}
    for name, value in arrays.items():
        spec = schema.ARRAY_SPECS[name]
        expected = schema.expected_shape(spec, sizes)
        if expected is not None:
            assert value.shape == expected, name
        assert value.dtype == np.dtype(spec.dtype) or spec.dtype.startswith("<U"), name


def test_schema_documents_every_array():
    table = schema.describe()
    for spec in schema.ARRAYS:
        assert f"`{spec.name}`" in table and spec.units and spec.meaning
    assert json.dumps(schema.MASK_CHANNELS)


def test_the_documented_array_table_is_the_schema():
    """docs/dataset.md carries the schema's own table, so the docs cannot drift from the code."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "dataset.md").read_text(encoding="utf-8")
    assert schema.describe() in docs


def test_unknown_source_kind_is_named(dataset_copy):
    records = read_manifest(dataset_copy)
    records[0].source = {"kind": "rendered", "origin": "elsewhere"}
    _write_records(dataset_copy, records)
    report = validate_dataset(dataset_copy)
    assert _fields(report) == {(records[0].clip_id, "source.kind")}
    assert "synthetic, real, generated" in report.violations[0].message
