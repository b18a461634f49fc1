"""The Dataset tab's work: find datasets under the root, tabulate and filter clips, show one clip, stats, checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from interanimate.app.errors import AppInputError
from interanimate.app.paths import SafePaths

TABLE_COLUMNS = ("clip_id", "pattern", "split", "subject_id", "frames", "contact_frames", "flags", "source")
ANY = "(any)"
MAX_SEARCH_DEPTH = 3


def find_datasets(paths: SafePaths) -> list[str]:
    """Folders under the root (up to three levels deep) holding a dataset card or manifest, relative to the root;
    the app's own folder is skipped."""
    from interanimate.data.manifest import CARD_NAME, MANIFEST_NAME

    found: list[str] = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / CARD_NAME).is_file() or (folder / MANIFEST_NAME).is_file():
            found.append(paths.relative(folder))
            return
        if depth >= MAX_SEARCH_DEPTH:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            if not child.is_symlink():
                walk(child, depth + 1)

    walk(paths.root, 0)
    return found


def open_dataset(paths: SafePaths, name: str) -> Path:
    from interanimate.data.manifest import DatasetFormatError, check_dataset_root

    folder = paths.under_root(name, "dataset folder")
    try:
        return check_dataset_root(folder)
    except DatasetFormatError as err:
        raise AppInputError(f"{err}") from None


@dataclass
class ClipRow:
    clip_id: str
    pattern: str
    split: str
    subject_id: str
    frames: int
    contact_frames: int
    flags: str
    source: str

    def values(self) -> list:
        return [getattr(self, c) for c in TABLE_COLUMNS]


def clip_rows(root: Path) -> list[ClipRow]:
    """One row per manifest record, with the clip's contact-frame count read from its annotations."""
    from interanimate.data.annotations import AnnotationFormatError, read_npz_arrays
    from interanimate.data.manifest import read_manifest

    rows = []
    for r in read_manifest(root):
        try:
            contact = int(read_npz_arrays(_inside(root, r.files["annotations"]["path"]))["contact"].any(axis=1).sum())
        except (AnnotationFormatError, KeyError, FileNotFoundError, AppInputError):
            contact = -1
        rows.append(ClipRow(r.clip_id, r.pattern or "unlabelled", r.split or "unassigned", r.subject_id,
                            r.num_frames, contact, ", ".join(r.quality_flags), r.source.get("kind", "")))
    return rows


def filter_rows(rows: list[ClipRow], pattern: str = ANY, split: str = ANY, subject: str = "", contact: str = ANY,
                flag: str = ANY) -> list[ClipRow]:
    """Rows matching every filter; ``contact`` is ``with contact`` / ``no contact`` / any; ``subject`` a substring."""
    out = []
    for row in rows:
        if pattern not in (ANY, "", None) and row.pattern != pattern:
            continue
        if split not in (ANY, "", None) and row.split != split:
            continue
        if subject and subject.strip().lower() not in row.subject_id.lower():
            continue
        if contact == "with contact" and row.contact_frames <= 0:
            continue
        if contact == "no contact" and row.contact_frames != 0:
            continue
        if flag not in (ANY, "", None):
            if flag == "clean" and row.flags:
                continue
            if flag != "clean" and flag not in row.flags.split(", "):
                continue
        out.append(row)
    return out


def read_rejects(root: Path) -> list[list[str]]:
    """Inputs and clips an annotate run refused, from its per-video log: ``[input, what, reason, message]``."""
    rows = []
    for path in sorted((root / "annotate_log").glob("*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        name = Path(str(entry.get("path", path.stem))).name
        if entry.get("status") in ("rejected", "empty"):
            rows.append([name, "video", entry.get("reason", ""), entry.get("message", "")])
        for clip in entry.get("rejected_clips", []):
            rows.append([name, f"frames {clip.get('start')}-{clip.get('end')}", clip.get("reason", ""), ""])
    return rows


def _inside(root: Path, relative: str) -> Path:
    """A path read from a manifest, refused unless it resolves inside the dataset."""
    path = (root / relative).resolve()
    if root.resolve() not in path.parents:
        raise AppInputError(f"{relative}: the manifest points outside the dataset {root}")
    return path


def clip_files(root: Path, clip_id: str):
    """``(record, video path, annotations path)`` of one clip of the dataset at ``root``."""
    from interanimate.data.manifest import read_manifest

    for r in read_manifest(root):
        if r.clip_id == clip_id:
            return r, _inside(root, r.files["video"]["path"]), _inside(root, r.files["annotations"]["path"])
    raise AppInputError(f"clip {clip_id!r} is not in {root.name}; pick one from the table")
