"""Property tests (Hypothesis) for the validators and the manifest/shard readers: whatever the input, they
accept exactly what is safe and otherwise fail with a one-line user error, never another exception."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interanimate.cli_types import float_in, int_in
from interanimate.data.manifest import (
    CLIP_ID_PATTERN,
    MANIFEST_NAME,
    ClipRecord,
    DatasetFormatError,
    UnsafePathError,
    check_clip_id,
    contained_path,
    read_manifest,
)
from interanimate.errors import UserError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

path_parts = st.sampled_from(["..", ".", "a", "b", "clips", "", "/", "x.mp4", "..a", "a..", "~"])
relative_texts = st.one_of(st.lists(path_parts, max_size=6).map("/".join), st.text(max_size=30))


@FAST
@given(relative=relative_texts)
def test_contained_path_never_returns_a_path_outside_the_root(tmp_path, relative):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    try:
        path = contained_path(root, relative)
    except UnsafePathError as err:
        assert "\n" not in str(err)
        return
    resolved, base = path.resolve(), root.resolve()
    assert resolved == base or base in resolved.parents


@FAST
@given(value=st.one_of(st.text(max_size=140), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)))
def test_check_clip_id_accepts_exactly_the_pattern(value):
    ok = isinstance(value, str) and CLIP_ID_PATTERN.match(value) is not None
    if ok:
        assert check_clip_id(value) == value
        assert "/" not in value and "." not in value and Path(value).name == value
    else:
        with pytest.raises(UnsafePathError):
            check_clip_id(value)


@FAST
@given(text=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=12)),
       low=st.floats(-1e6, 1e6), width=st.floats(0, 1e6), low_open=st.booleans(), high_open=st.booleans())
def test_float_in_returns_only_finite_numbers_in_range(text, low, width, low_open, high_open):
    high = low + width
    parse = float_in(low, high, low_open, high_open)
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as err:
        assert "\n" not in str(err)
        return
    assert math.isfinite(value)
    assert (low < value if low_open else low <= value) and (value < high if high_open else value <= high)


@FAST
@given(text=st.one_of(st.integers(-10**6, 10**6).map(str), st.text(max_size=8)), low=st.integers(-100, 100),
       span=st.one_of(st.none(), st.integers(0, 100)))
def test_int_in_returns_only_integers_in_range(text, low, span):
    high = None if span is None else low + span
    try:
        value = int_in(low, high)(text)
    except argparse.ArgumentTypeError:
        return
    assert isinstance(value, int) and value >= low and (high is None or value <= high)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)
GOOD = {"clip_id": "c0", "subject_id": "s0", "pattern": None, "fps": 25.0, "num_frames": 8, "width": 32,
        "height": 32, "source": {"kind": "synthetic"}, "files": {}, "quality_flags": [], "extra": {}, "split": "train"}


@FAST
@given(field=st.sampled_from(sorted(GOOD)), value=json_values)
def test_manifest_records_with_any_field_value_load_or_fail_in_one_line(tmp_path, field, value):
    record = {**GOOD, field: value}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(record) + "\n")
    try:
        records = read_manifest(tmp_path)
    except DatasetFormatError as err:
        assert "\n" not in str(err) and MANIFEST_NAME in str(err)
        return
    loaded = records[0]
    assert isinstance(loaded.clip_id, str) and isinstance(loaded.files, dict)
    assert isinstance(loaded.num_frames, int) and isinstance(loaded.fps, (int, float))


@FAST
@given(data=st.binary(max_size=200))
def test_manifest_reader_survives_any_bytes(tmp_path, data):
    (tmp_path / MANIFEST_NAME).write_bytes(data)
    try:
        records = read_manifest(tmp_path)
    except DatasetFormatError:
        return
    assert all(isinstance(r, ClipRecord) for r in records)


@FAST
@given(index=json_values, shard=st.dictionaries(st.sampled_from(["path", "clips", "sha256", "split"]), json_values))
def test_shard_index_reader_accepts_only_contained_entries(tmp_path, index, shard):
    from interanimate.data.pack import read_shard_index

    for candidate in (index, {"shards": [shard]}):
        (tmp_path / "index.json").write_text(json.dumps(candidate))
        try:
            read = read_shard_index(tmp_path)
        except UserError as err:
            assert "\n" not in str(err)
            continue
        for entry in read["shards"]:
            resolved = (tmp_path / entry["path"]).resolve()
            assert tmp_path.resolve() in resolved.parents
