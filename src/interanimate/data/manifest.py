"""Dataset card, manifest records and subject-disjoint split assignment."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from interanimate import __version__
from interanimate.data import schema
from interanimate.taxonomy import TAXONOMY_VERSION
from interanimate.errors import UserError

CARD_NAME = "dataset_card.json"
MANIFEST_NAME = "manifest.jsonl"
CLIPS_DIR = "clips"
RECORD_NAME = "record.json"
VIDEO_NAME = "video.mp4"
ANNOTATIONS_NAME = "annotations.npz"
SPLITS = ("train", "test")
CLIP_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")  # no dots: shard keys split at them


class DatasetFormatError(UserError, ValueError):
    """A folder that is not an InterHF dataset, or whose card/manifest cannot be read."""


class UnsafePathError(DatasetFormatError):
    """A path or clip id read from a dataset, shard index or batch file that points outside its root."""


def check_clip_id(clip_id: object, where: str = "clip id") -> str:
    """``clip_id`` if it is a safe id (``CLIP_ID_PATTERN``: no dots, slashes or spaces); else ``UnsafePathError``.

    Clip ids become folder names and tar member names, so one like ``../x`` would write or read outside the
    dataset; every reader checks ids with this before using them.
    """
    if not isinstance(clip_id, str) or not CLIP_ID_PATTERN.match(clip_id):
        raise UnsafePathError(f"{where} {clip_id!r} is not a valid clip id (letters, digits, '_', '-', at most 128, "
                              "starting with a letter or digit); the file was edited or is not from InterAnimate")
    return clip_id


def contained_path(root: Path, relative: object, where: str = "path") -> Path:
    """``root / relative`` when it resolves inside ``root``; otherwise ``UnsafePathError`` naming it.

    The one containment rule for every path read from a dataset manifest, a shard index or a batch file:
    the path must be a non-empty relative path whose resolved location (symbolic links followed) lies
    inside the resolved ``root``. Absolute paths, ``..`` escapes and links pointing out are all refused.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise UnsafePathError(f"{where} {relative!r} is not a relative path inside {root}")
    if Path(relative).is_absolute():
        raise UnsafePathError(f"{where} {relative!r} is absolute; paths must be relative to {root} and stay inside it")
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"{where} {relative!r} points outside {root}; paths must stay inside it "
                              "(the file was edited or is not from InterAnimate)")
    return Path(root) / relative


def clip_file(root: Path, record: "ClipRecord", role: str) -> Path:
    """The path of a clip's ``role`` file (``video``, ``annotations``), checked by ``contained_path``."""
    check_clip_id(record.clip_id)
    info = record.files.get(role) if isinstance(record.files, dict) else None
    if not isinstance(info, dict):
        raise DatasetFormatError(f"{root}: clip {record.clip_id}: no {role} file in the manifest; "
                                 "run `interanimate data validate` on it")
    return contained_path(root, info.get("path"), f"clip {record.clip_id}: files.{role}.path")


@dataclass
class ClipRecord:
    """One clip's manifest record.

    Args:
        clip_id: unique id, also the clip's folder name (letters, digits, ``_``, ``-``).
        subject_id: who is in the clip; splits never share a subject.
        pattern: taxonomy pattern name, or ``None`` for unlabelled clips.
        split: ``"train"`` or ``"test"``; assigned when the manifest is written.
        fps, num_frames, width, height: the video's timing and size.
        source: ``{"kind": "synthetic" | "real", "origin": str, ...}``.
        files: ``{role: {"path": relative path, "sha256": hex, "bytes": int}}`` for every file of the clip.
        quality_flags: reasons a clip may deserve care (e.g. ``"hand_dropped"``); empty when clean.
        extra: producer-specific facts (generator parameters, source video and time span, ...).
    """

    clip_id: str
    subject_id: str
    pattern: str | None
    fps: float
    num_frames: int
    width: int
    height: int
    source: dict
    files: dict[str, dict] = field(default_factory=dict)
    quality_flags: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    split: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict) -> "ClipRecord":
        if not isinstance(data, dict):
            raise DatasetFormatError(f"a record must be a JSON object, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise DatasetFormatError(f"unknown manifest fields: {', '.join(sorted(map(str, unknown)))}")
        missing = [f for f in ("clip_id", "subject_id", "pattern", "fps", "num_frames", "width", "height", "source")
                   if f not in data]
        if missing:
            raise DatasetFormatError(f"missing manifest fields: {', '.join(missing)}")
        for name, kinds in _FIELD_TYPES.items():
            if name not in data:
                continue
            value = data[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and name in _NUMBER_FIELDS):
                raise DatasetFormatError(f"field {name} has the wrong type ({type(value).__name__})")
        files = data.get("files", {})
        if not all(isinstance(k, str) and isinstance(v, dict) for k, v in files.items()):
            raise DatasetFormatError("field files must map each role to an object with path, sha256 and bytes")
        return cls(**data)


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "clip_id": str, "subject_id": str, "pattern": (str, type(None)), "fps": (int, float), "num_frames": int,
    "width": int, "height": int, "source": dict, "files": dict, "quality_flags": list, "extra": dict,
    "split": (str, type(None)),
}
_NUMBER_FIELDS = ("fps", "num_frames", "width", "height")


def clip_dir(root: Path, clip_id: str) -> Path:
    return Path(root) / CLIPS_DIR / clip_id


def assign_splits(subject_ids: list[str] | set[str], test_fraction: float = 0.1, seed: int = 0) -> dict[str, str]:
    """Map each subject to ``"train"`` or ``"test"`` so that no subject is in both.

    Subjects are ranked by a seeded hash of their id and the first ``round(n * test_fraction)`` go to
    test (at least one when there are two or more subjects and the fraction is positive). The ranking
    depends only on ``(seed, subject_id)``, so a subject's position never depends on the order in
    which clips were written, and re-running a producer reproduces the same split.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    subjects = sorted(set(subject_ids))
    n = len(subjects)
    num_test = int(math.floor(n * test_fraction + 0.5))
    if test_fraction > 0 and n >= 2:
        num_test = max(1, num_test)
    num_test = min(num_test, max(0, n - 1))

    def rank(subject: str) -> str:
        return hashlib.sha256(f"{seed}:{subject}".encode()).hexdigest()

    ranked = sorted(subjects, key=rank)
    test = set(ranked[:num_test])
    return {s: ("test" if s in test else "train") for s in subjects}


def write_manifest(root: Path, records: list[ClipRecord]) -> None:
    from interanimate.data.io import atomic_write_text

    ordered = sorted(records, key=lambda r: r.clip_id)
    atomic_write_text(Path(root) / MANIFEST_NAME, "".join(r.to_json() + "\n" for r in ordered))


def read_manifest(root: Path) -> list[ClipRecord]:
    """Read ``manifest.jsonl``; raise ``DatasetFormatError`` naming the line that is wrong."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise DatasetFormatError(f"{root}: no {MANIFEST_NAME}; is this an InterHF dataset folder?")
    records = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as err:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); the manifest is "
                                 "damaged: rewrite it with the producer that made the dataset") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(ClipRecord.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError, RecursionError, DatasetFormatError) as err:
            raise DatasetFormatError(f"{path}:{number}: unreadable manifest record ({err})") from None
    return records


def make_card(records: list[ClipRecord], producer: str, producer_version: str, config: dict | None = None,
              created: str | None = None) -> dict:
    """The dataset card: versions, producer, counts and creation time."""
    per_split: dict[str, int] = {}
    per_pattern: dict[str, int] = {}
    for r in records:
        per_split[r.split or "unassigned"] = per_split.get(r.split or "unassigned", 0) + 1
        key = r.pattern or "unlabelled"
        per_pattern[key] = per_pattern.get(key, 0) + 1
    return {
        "format": schema.FORMAT_NAME,
        "format_version": schema.FORMAT_VERSION,
        "taxonomy_version": TAXONOMY_VERSION,
        "producer": producer,
        "producer_version": producer_version,
        "interanimate_version": __version__,
        "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "clips": len(records),
            "subjects": len({r.subject_id for r in records}),
            "frames": sum(r.num_frames for r in records),
            "per_split": dict(sorted(per_split.items())),
            "per_pattern": dict(sorted(per_pattern.items())),
        },
        "config": config or {},
    }


def read_card(root: Path) -> dict:
    path = Path(root) / CARD_NAME
    if not path.is_file():
        raise DatasetFormatError(f"{root}: no {CARD_NAME}; is this an InterHF dataset folder?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFormatError(f"{path}: unreadable dataset card ({err})") from None


def check_dataset_root(root: Path) -> Path:
    """Return ``root`` as a Path if it looks like a dataset folder; raise a one-line error otherwise."""
    root = Path(root)
    if not root.exists():
        raise DatasetFormatError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetFormatError(f"{root}: not a folder; pass the dataset's root folder")
    if not (root / CARD_NAME).is_file() and not (root / MANIFEST_NAME).is_file():
        if not any(root.iterdir()):
            raise DatasetFormatError(f"{root}: the folder is empty; write a dataset there first (e.g. `interanimate synth`)")
        raise DatasetFormatError(f"{root}: not an InterHF dataset (no {CARD_NAME} or {MANIFEST_NAME})")
    return root
