"""Crash-safe, resumable dataset writing shared by every producer (``synth``, ``annotate``, ``animate``).

A clip becomes visible in one atomic step: its video, annotations and record are written into a
hidden staging folder which is then renamed to ``clips/<clip_id>``. A killed writer therefore leaves
either a complete clip or nothing under the clip's name (plus a hidden ``.tmp-*`` folder that the
next writer sweeps). The manifest and card are derived from the clip folders on ``finalize()``, so
re-running a producer after a kill skips finished clips (``has_clip``) and completes the rest,
without duplicates. Distinct clips may be written from several processes at once; ``finalize`` is
called once, by the coordinating process.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from interanimate.data import schema
from interanimate.data.annotations import ClipAnnotations
from interanimate.data.io import atomic_directory, atomic_write_json, encode_video, make_folder, sha256_bytes
from interanimate.data.manifest import (
    ANNOTATIONS_NAME,
    CARD_NAME,
    CLIP_ID_PATTERN,
    CLIPS_DIR,
    RECORD_NAME,
    VIDEO_NAME,
    MANIFEST_NAME,
    ClipRecord,
    DatasetFormatError,
    assign_splits,
    check_clip_id,
    clip_dir,
    make_card,
    read_manifest,
    write_manifest,
)
from interanimate.taxonomy import PATTERN_IDS, get_pattern


def write_clip_folder(
    root: Path,
    record: ClipRecord,
    frames: np.ndarray,
    annotations: ClipAnnotations,
    video_metadata: dict[str, str] | None = None,
    lossless: bool = False,
) -> ClipRecord:
    """Encode and write one clip atomically under ``root/clips/<clip_id>``; return the completed record.

    ``record.files`` is filled in here (paths relative to the dataset root, sha256, sizes); ``num_frames``,
    ``width`` and ``height`` must agree with ``frames`` and ``annotations``.
    """
    if not CLIP_ID_PATTERN.match(record.clip_id):
        raise ValueError(f"clip_id {record.clip_id!r} must be letters, digits, '_', '-' (max 128)")
    if record.pattern is not None:
        get_pattern(record.pattern)  # raises with suggestions on a typo
        if annotations.pattern_id != PATTERN_IDS[record.pattern]:
            raise ValueError(f"{record.clip_id}: annotations.pattern_id {annotations.pattern_id} "
                             f"does not match pattern {record.pattern!r}")
    num_frames, height, width = frames.shape[:3]
    if (num_frames, height, width) != (annotations.num_frames, annotations.height, annotations.width):
        raise ValueError(f"{record.clip_id}: frames {frames.shape[:3]} and annotations "
                         f"({annotations.num_frames}, {annotations.height}, {annotations.width}) disagree")
    if (record.num_frames, record.height, record.width) != (num_frames, height, width):
        raise ValueError(f"{record.clip_id}: record says {record.num_frames} frames of {record.width}x{record.height}, "
                         f"frames are {num_frames} of {width}x{height}")

    video = encode_video(frames, record.fps, metadata=video_metadata, lossless=lossless)
    npz = annotations.to_npz_bytes()
    rel = f"{CLIPS_DIR}/{record.clip_id}"
    record.files = {
        "video": {"path": f"{rel}/{VIDEO_NAME}", "sha256": sha256_bytes(video), "bytes": len(video)},
        "annotations": {"path": f"{rel}/{ANNOTATIONS_NAME}", "sha256": sha256_bytes(npz), "bytes": len(npz)},
    }
    record.split = None  # splits are a property of the whole dataset, assigned in finalize()
    with atomic_directory(clip_dir(root, record.clip_id)) as staging:
        (staging / VIDEO_NAME).write_bytes(video)
        (staging / ANNOTATIONS_NAME).write_bytes(npz)
        (staging / RECORD_NAME).write_text(record.to_json() + "\n", encoding="utf-8")
    return record


def scan_clip_records(root: Path) -> list[ClipRecord]:
    """The records of every complete clip folder under ``root/clips`` (staging folders ignored)."""
    base = Path(root) / CLIPS_DIR
    if not base.is_dir():
        return []
    records = []
    for folder in sorted(base.iterdir()):
        path = folder / RECORD_NAME
        if folder.name.startswith(".") or not path.is_file():
            continue
        try:
            record = ClipRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, DatasetFormatError) as err:
            raise DatasetFormatError(f"{path}: unreadable clip record ({err}); delete the clip folder to rewrite "
                                     "the clip") from None
        check_clip_id(record.clip_id, f"{path}: clip_id")
        if record.clip_id != folder.name:
            raise DatasetFormatError(f"{path}: clip_id {record.clip_id!r} does not match its folder {folder.name!r}; "
                                     "delete the clip folder to rewrite the clip")
        records.append(record)
    return records


def check_records_unchanged(root: Path, records: list[ClipRecord], rewritten: set[str] = frozenset()) -> None:
    """Refuse clip records that differ from the manifest already written (split aside).

    A ``record.json`` edited after its clip was written (another subject, pattern or checksum) would otherwise be
    taken into the next manifest silently, moving a clip between splits.
    """
    root = Path(root)
    if not (root / MANIFEST_NAME).is_file():
        return
    listed = {r.clip_id: r for r in read_manifest(root)}
    for record in records:
        old = listed.get(record.clip_id)
        if old is None or record.clip_id in rewritten:  # new, or rewritten by the producer itself
            continue
        a, b = dataclasses.asdict(old), dataclasses.asdict(record)
        a.pop("split"), b.pop("split")
        if a != b:
            changed = ", ".join(sorted(k for k in a if a[k] != b.get(k)))
            raise DatasetFormatError(f"{clip_dir(root, record.clip_id) / RECORD_NAME}: differs from {MANIFEST_NAME} "
                                     f"in {changed} (edited after the clip was written); restore it, or delete the "
                                     "clip folder to rewrite the clip")


def sweep_staging(root: Path) -> int:
    """Remove staging folders left by killed writers; return how many were removed."""
    base = Path(root) / CLIPS_DIR
    removed = 0
    if base.is_dir():
        for folder in base.glob(".tmp-*"):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def finalize_dataset(root: Path, producer: str, producer_version: str, test_fraction: float = 0.1,
                     split_seed: int = 0, config: dict | None = None,
                     rewritten: set[str] = frozenset()) -> list[ClipRecord]:
    """Assign subject-disjoint splits and write ``manifest.jsonl`` and ``dataset_card.json`` atomically.

    Records that differ from the manifest already written are refused (edited by hand), except the clips in
    ``rewritten``, whose records the producer itself updated in this run (e.g. subjects matched again).
    """
    root = Path(root)
    records = scan_clip_records(root)
    check_records_unchanged(root, records, rewritten)
    splits = assign_splits({r.subject_id for r in records}, test_fraction, split_seed)
    for r in records:
        r.split = splits[r.subject_id]
    write_manifest(root, records)
    card_config = dict(config or {})
    card_config.update({"test_fraction": test_fraction, "split_seed": split_seed})
    created = None
    if (root / CARD_NAME).is_file():  # keep the original creation time across resumed runs
        try:
            created = json.loads((root / CARD_NAME).read_text(encoding="utf-8")).get("created")
        except json.JSONDecodeError:
            created = None
    atomic_write_json(root / CARD_NAME, make_card(records, producer, producer_version, card_config, created))
    return records


class DatasetWriter:
    """Writes clips into an InterHF dataset folder; resumable and safe to kill at any point.

    Args:
        root: dataset folder (created if missing; an existing dataset is extended/resumed).
        producer: name of the program writing the data (goes into the card).
        producer_version: its version.
        test_fraction: share of subjects assigned to the test split.
        split_seed: seed of the subject-to-split assignment.
        config: producer settings to record in the card.
        lossless: store videos bit-exactly (see ``io.encode_video``).

    Use as a context manager; the manifest and card are (re)written on exit, also after an error,
    so they always describe exactly the clips on disk.
    """

    def __init__(self, root: Path, producer: str, producer_version: str, test_fraction: float = 0.1,
                 split_seed: int = 0, config: dict | None = None, lossless: bool = False):
        self.root = Path(root)
        self.producer = producer
        self.producer_version = producer_version
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.config = config or {}
        self.lossless = lossless
        make_folder(self.root / CLIPS_DIR)
        self.swept = sweep_staging(self.root)
        existing = scan_clip_records(self.root)
        check_records_unchanged(self.root, existing)
        self._existing = {r.clip_id for r in existing}
        self.written = 0

    def has_clip(self, clip_id: str) -> bool:
        """True if a complete clip with this id is already on disk (skip it when resuming)."""
        return clip_id in self._existing

    def write_clip(self, record: ClipRecord, frames: np.ndarray, annotations: ClipAnnotations,
                   video_metadata: dict[str, str] | None = None) -> ClipRecord:
        if self.has_clip(record.clip_id):
            raise FileExistsError(f"clip {record.clip_id!r} already exists in {self.root}")
        done = write_clip_folder(self.root, record, frames, annotations, video_metadata, self.lossless)
        self._existing.add(record.clip_id)
        self.written += 1
        return done

    def mark_written(self, clip_id: str) -> None:
        """Record a clip written by another process through ``write_clip_folder``."""
        self._existing.add(clip_id)
        self.written += 1

    def finalize(self) -> list[ClipRecord]:
        return finalize_dataset(self.root, self.producer, self.producer_version, self.test_fraction,
                                self.split_seed, self.config)

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.finalize()


__all__ = [
    "DatasetWriter",
    "finalize_dataset",
    "scan_clip_records",
    "sweep_staging",
    "write_clip_folder",
    "schema",
]
