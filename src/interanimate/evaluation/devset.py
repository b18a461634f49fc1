"""The labelled real development set: hand-labelled clips of people's hands at their own faces.

``devset/real/labels.json`` (described in ``devset/real/README.md``) lists each clip's source (repository,
commit, path, licence), the sha256 of the original file and of the clip used for scoring, and its labels:
contact ranges (inclusive frame indices), the face region touched, the interaction family and the 18-way
pattern where one fits, a hard-negative flag (a hand near or in front of the face without touching), an
ambiguity flag (excluded from scoring) and a ``fit``/``test`` split that never puts one source video in
both halves.

No clip is kept in the repository (a record's ``clip_file`` could name one whose licence allows it); every
clip is rebuilt from its source by ``tools/fetch_devset.py`` into ``devset/real/media/``. This module reads and checks the
labels, finds each clip's media (skipping missing or altered files with a reason), and holds the
frame-level scoring used by ``tools/score_devset.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interanimate.data.io import sha256_file
from interanimate.errors import UserError
from interanimate.taxonomy import FACE_REGIONS, FAMILIES, TAXONOMY_VERSION, get_pattern

FORMAT = "interanimate-devset-real"
SPLITS = ("fit", "test")
EDGE_TOLERANCE = 4  # frames either side of a labelled contact edge that frame scores ignore
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class DevsetError(UserError, ValueError):
    """The labels file is missing, malformed, or disagrees with the taxonomy; the message names the clip."""


def default_labels_path() -> Path:
    """``devset/real/labels.json`` of the source checkout this module was imported from."""
    return Path(__file__).resolve().parents[3] / "devset" / "real" / "labels.json"


@dataclass(frozen=True)
class DevsetSource:
    """Where a group of clips comes from and what its licence allows."""

    name: str
    repo: str
    commit: str
    license: str
    license_evidence: str
    redistributable: bool


@dataclass(frozen=True)
class DevsetClip:
    """One labelled clip; ``contact`` holds inclusive ``(first, last)`` frame ranges of hand-face contact."""

    id: str
    source: str
    path: str
    sha256_original: str
    clip_file: str | None
    sha256_clip: str
    fps: float
    num_frames: int
    width: int
    height: int
    contact: tuple[tuple[int, int], ...]
    region: str | None
    family: str | None
    pattern: str | None
    hard_negative: bool
    ambiguous: bool
    split: str
    notes: str = ""

    @property
    def origin(self) -> tuple[str, str]:
        """The source video this clip was cut from (its source name and path)."""
        return self.source, self.path

    @property
    def scored(self) -> bool:
        """Ambiguous clips are kept for reference but never scored."""
        return not self.ambiguous

    def contact_flags(self) -> np.ndarray:
        """``(num_frames,) bool``: True inside a labelled contact range."""
        flags = np.zeros(self.num_frames, bool)
        for first, last in self.contact:
            flags[first:last + 1] = True
        return flags

    def scoring_mask(self, tolerance: int = EDGE_TOLERANCE) -> np.ndarray:
        """``(num_frames,) bool``: frames that count in frame scores.

        A contact edge is the boundary before frame ``first`` or after frame ``last``; the ``tolerance``
        frames on each side of it are left out. A range that starts or ends with the clip has no edge there.
        """
        keep = np.ones(self.num_frames, bool)
        for first, last in self.contact:
            for edge in (first, last + 1):
                if 0 < edge < self.num_frames:
                    keep[max(0, edge - tolerance):edge + tolerance] = False
        return keep


@dataclass(frozen=True)
class MediaItem:
    """A clip with the file to read it from, or ``path=None`` and the reason it cannot be read."""

    clip: DevsetClip
    path: Path | None
    reason: str = ""


@dataclass(frozen=True)
class Devset:
    """The parsed labels file; ``root`` is the folder holding it (``clip_file`` paths are relative to it)."""

    root: Path
    sources: dict[str, DevsetSource]
    clips: tuple[DevsetClip, ...]

    def split(self, name: str) -> tuple[DevsetClip, ...]:
        """The clips of one split (``"fit"`` or ``"test"``), ambiguous ones included."""
        if name not in SPLITS:
            raise DevsetError(f"unknown devset split {name!r}; choose from: {', '.join(SPLITS)}")
        return tuple(c for c in self.clips if c.split == name)

    def media_path(self, clip: DevsetClip, media_dir: Path | None = None) -> Path:
        """Where the clip's file should be: the committed clip, else the fetched original in ``media_dir``."""
        if clip.clip_file:
            return self.root / clip.clip_file
        folder = Path(media_dir) if media_dir is not None else self.root / "media"
        return folder / f"{clip.id}{Path(clip.path).suffix}"

    def media(self, split: str | None = None, media_dir: Path | None = None, include_ambiguous: bool = False,
              verify: bool = True) -> Iterator[MediaItem]:
        """Each clip with its readable file; missing or altered media come with ``path=None`` and a reason."""
        clips = self.clips if split is None else self.split(split)
        for clip in clips:
            if clip.ambiguous and not include_ambiguous:
                continue
            path = self.media_path(clip, media_dir)
            if not path.is_file():
                how = "committed clip is missing" if clip.clip_file else "not fetched (run tools/fetch_devset.py)"
                yield MediaItem(clip, None, f"{clip.id}: {how}: {path}")
            elif verify and sha256_file(path) != clip.sha256_clip:
                yield MediaItem(clip, None, f"{clip.id}: {path} does not match its recorded sha256")
            else:
                yield MediaItem(clip, path)


def _require(record: dict, key: str, kind: type | tuple[type, ...], where: str):
    if key not in record:
        raise DevsetError(f"{where}: missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DevsetError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _source(name: str, record: dict) -> DevsetSource:
    where = f"source {name!r}"
    source = DevsetSource(name, _require(record, "repo", str, where), _require(record, "commit", str, where),
                          _require(record, "license", str, where), _require(record, "license_evidence", str, where),
                          _require(record, "redistributable", bool, where))
    if not _COMMIT.match(source.commit):
        raise DevsetError(f"{where}: commit {source.commit!r} is not a 40-digit hash")
    return source


def _contact(value: list, num_frames: int, where: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            raise DevsetError(f"{where}: contact ranges must be [first, last] integer pairs, got {item!r}")
        first, last = item
        if not 0 <= first <= last < num_frames:
            raise DevsetError(f"{where}: contact range {item} is outside frames 0..{num_frames - 1}")
        if ranges and first <= ranges[-1][1] + 1:
            raise DevsetError(f"{where}: contact ranges must be sorted and separated, got {item} after {ranges[-1]}")
        ranges.append((first, last))
    return tuple(ranges)


def _check_labels(clip: DevsetClip, where: str) -> None:
    if clip.region is not None and clip.region not in FACE_REGIONS:
        raise DevsetError(f"{where}: unknown face region {clip.region!r}")
    if clip.family is not None and clip.family not in FAMILIES:
        raise DevsetError(f"{where}: unknown family {clip.family!r}")
    if clip.pattern is not None:
        pattern = get_pattern(clip.pattern)
        if (pattern.family, pattern.region) != (clip.family, clip.region):
            raise DevsetError(f"{where}: pattern {clip.pattern!r} disagrees with family {clip.family!r} / "
                              f"region {clip.region!r}")
    touches = bool(clip.contact)
    if clip.hard_negative and (touches or clip.ambiguous):
        raise DevsetError(f"{where}: a hard negative has no contact and is not ambiguous")
    if not touches and (clip.region or clip.family):
        raise DevsetError(f"{where}: region/family are labelled but there is no contact")
    if touches and clip.region is None:
        raise DevsetError(f"{where}: contact is labelled without the region touched")
    if clip.split not in SPLITS:
        raise DevsetError(f"{where}: split {clip.split!r} is not one of {', '.join(SPLITS)}")
    for key in ("sha256_original", "sha256_clip"):
        if not _SHA256.match(getattr(clip, key)):
            raise DevsetError(f"{where}: {key} is not a lowercase sha256 hex digest")


def _clip(record: dict, sources: dict[str, DevsetSource]) -> DevsetClip:
    where = f"clip {record.get('id', '?')!r}"
    num_frames = _require(record, "num_frames", int, where)
    clip = DevsetClip(
        id=_require(record, "id", str, where), source=_require(record, "source", str, where),
        path=_require(record, "path", str, where), sha256_original=_require(record, "sha256_original", str, where),
        clip_file=_require(record, "clip_file", (str, type(None)), where),
        sha256_clip=_require(record, "sha256_clip", str, where), fps=float(_require(record, "fps", (int, float), where)),
        num_frames=num_frames, width=_require(record, "width", int, where), height=_require(record, "height", int, where),
        contact=_contact(_require(record, "contact", list, where), num_frames, where),
        region=_require(record, "region", (str, type(None)), where),
        family=_require(record, "family", (str, type(None)), where),
        pattern=_require(record, "pattern", (str, type(None)), where),
        hard_negative=_require(record, "hard_negative", bool, where),
        ambiguous=_require(record, "ambiguous", bool, where), split=_require(record, "split", str, where),
        notes=record.get("notes", ""))
    if clip.source not in sources:
        raise DevsetError(f"{where}: unknown source {clip.source!r}")
    if clip.clip_file and not sources[clip.source].redistributable:
        raise DevsetError(f"{where}: a clip is committed but its source's licence does not allow redistribution")
    _check_labels(clip, where)
    return clip


def parse_devset(document: dict, root: Path) -> Devset:
    """Check a parsed labels document and build the :class:`Devset` (``root``: its folder)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DevsetError(f"not a devset labels file (expected format {FORMAT!r})")
    if document.get("taxonomy_version") != TAXONOMY_VERSION:
        raise DevsetError(f"devset labels use taxonomy {document.get('taxonomy_version')!r}, "
                          f"this code has {TAXONOMY_VERSION!r}")
    sources = {name: _source(name, rec) for name, rec in _require(document, "sources", dict, "labels").items()}
    clips = tuple(_clip(rec, sources) for rec in _require(document, "clips", list, "labels"))
    ids = [c.id for c in clips]
    if len(set(ids)) != len(ids):
        raise DevsetError(f"duplicate clip ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    halves = {name: {c.origin for c in clips if c.split == name} for name in SPLITS}
    shared = halves["fit"] & halves["test"]
    if shared:
        raise DevsetError(f"source videos in both splits: {sorted(shared)}")
    return Devset(Path(root), sources, clips)


def load_devset(path: Path | str | None = None) -> Devset:
    """Read and check ``labels.json`` (default: the checkout's ``devset/real/labels.json``)."""
    path = Path(path) if path is not None else default_labels_path()
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise DevsetError(f"devset labels not found: {path}") from None
    except json.JSONDecodeError as err:
        raise DevsetError(f"{path}: not valid JSON ({err})") from None
    return parse_devset(document, path.parent)


@dataclass(frozen=True)
class FrameScores:
    """Frame-level contact precision/recall/F1 over the frames that count (edges excluded)."""

    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def precision(self) -> float:
        predicted = self.true_positive + self.false_positive
        return self.true_positive / predicted if predicted else float("nan")

    @property
    def recall(self) -> float:
        actual = self.true_positive + self.false_negative
        return self.true_positive / actual if actual else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else float("nan")


def frame_scores(pairs: list[tuple[DevsetClip, np.ndarray]], tolerance: int = EDGE_TOLERANCE) -> FrameScores:
    """Pool frame-level contact counts over clips; ``pairs`` holds each clip with its predicted ``(F,) bool``."""
    tp = fp = fn = 0
    for clip, predicted in pairs:
        predicted = np.asarray(predicted, bool)
        if predicted.shape != (clip.num_frames,):
            raise ValueError(f"{clip.id}: predicted {predicted.shape} frames, labels have {clip.num_frames}")
        keep, truth = clip.scoring_mask(tolerance), clip.contact_flags()
        tp += int((predicted & truth & keep).sum())
        fp += int((predicted & ~truth & keep).sum())
        fn += int((~predicted & truth & keep).sum())
    return FrameScores(tp, fp, fn)


__all__ = ["Devset", "DevsetClip", "DevsetError", "DevsetSource", "EDGE_TOLERANCE", "FrameScores",
           "MediaItem", "SPLITS", "default_labels_path", "frame_scores", "load_devset", "parse_devset"]
