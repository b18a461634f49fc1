"""``interanimate data validate``: check a dataset against the contract and name every violation.

Dataset-level checks: card and manifest readable and of a known format version, unique clip ids,
clip folders that the manifest does not list, unknown patterns, split values, and subjects that
appear in more than one split (leakage). Per-clip checks (run in parallel): files present, sha256,
video header (codec, size, frame count; ``deep=True`` also decodes every frame), every annotation
array's presence, shape and dtype, value ranges, keypoints inside the frame, presence/contact flag
consistency, and keypoint/mask consistency (keypoints must fall inside their own dilated masks).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from interanimate.data import schema
from interanimate.data.annotations import AnnotationFormatError, read_npz_arrays
from interanimate.data.io import VideoReadError, decode_video, probe_video, sha256_file
from interanimate.data.manifest import (
    CARD_NAME,
    CLIPS_DIR,
    RECORD_NAME,
    SPLITS,
    ClipRecord,
    DatasetFormatError,
    UnsafePathError,
    check_clip_id,
    check_dataset_root,
    contained_path,
    read_card,
    read_manifest,
)
from interanimate.taxonomy import FACE_REGIONS, PATTERN_IDS, UnknownNameError, get_pattern

KEYPOINT_MASK_MIN_FRACTION = 0.8  # share of a hand's confident keypoints that must lie in its dilated mask
_EDGE_TOLERANCE = 1e-3  # pixels; keypoints exactly on the frame border are inside


@dataclass(frozen=True)
class Violation:
    """One broken rule: which clip (``"<dataset>"`` for dataset-level rules), which field, what is wrong."""

    clip_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.clip_id}: {self.field}: {self.message}"


@dataclass
class ValidationReport:
    num_clips: int
    violations: list[Violation]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_clip(self) -> dict[str, list[Violation]]:
        grouped: dict[str, list[Violation]] = defaultdict(list)
        for v in self.violations:
            grouped[v.clip_id].append(v)
        return dict(grouped)


def _dilate(masks: np.ndarray, radius: int) -> np.ndarray:
    """Dilate ``(N, H, W) bool`` masks by a square of side ``2 * radius + 1``."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel).astype(bool) for m in masks]) if len(masks) else masks


def _inside_mask(points: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """For ``(N, K, 2)`` points and ``(N, H, W)`` masks, whether each point's pixel is set: ``(N, K)``."""
    height, width = masks.shape[1:]
    cols = np.clip(np.floor(points[..., 0]).astype(int), 0, width - 1)
    rows = np.clip(np.floor(points[..., 1]).astype(int), 0, height - 1)
    frames = np.broadcast_to(np.arange(points.shape[0])[:, None], cols.shape)
    return masks[frames, rows, cols]


def _check_arrays(clip: str, arrays: dict[str, np.ndarray], record: ClipRecord) -> list[Violation]:
    out: list[Violation] = []
    sizes = {"F": record.num_frames, "H": record.height, "W": record.width,
             "B": schema.packed_mask_bytes(record.height, record.width)}
    synthetic = record.source.get("kind") == "synthetic"
    for spec in schema.ARRAYS:
        if spec.name not in arrays:
            if spec.required == "all" or (spec.required == "synthetic" and synthetic):
                out.append(Violation(clip, spec.name, "missing array"))
            continue
        value = arrays[spec.name]
        shape = schema.expected_shape(spec, sizes)
        if shape is not None and value.shape != shape:
            out.append(Violation(clip, spec.name, f"wrong shape {value.shape}, expected {shape}"))
        elif shape is None and value.ndim != len(spec.shape):
            out.append(Violation(clip, spec.name, f"wrong rank {value.ndim}, expected {len(spec.shape)}"))
        if spec.dtype.startswith("<U"):
            if value.dtype.kind != "U":
                out.append(Violation(clip, spec.name, f"wrong dtype {value.dtype}, expected a string"))
        elif value.dtype != np.dtype(spec.dtype):
            out.append(Violation(clip, spec.name, f"wrong dtype {value.dtype}, expected {spec.dtype}"))
    unknown = sorted(set(arrays) - set(schema.ARRAY_SPECS))
    for name in unknown:
        out.append(Violation(clip, name, "array not in the contract"))
    return out


def _check_values(clip: str, a: dict[str, np.ndarray], record: ClipRecord) -> list[Violation]:
    """Ranges and cross-field consistency; assumes shapes/dtypes already passed."""
    out: list[Violation] = []
    width, height = record.width, record.height

    def add(field: str, message: str, frames: np.ndarray | None = None) -> None:
        if frames is not None:
            idx = np.flatnonzero(frames)
            if not len(idx):
                return
            shown = ", ".join(str(i) for i in idx[:5]) + (" ..." if len(idx) > 5 else "")
            message = f"{message} (frames {shown})"
        out.append(Violation(clip, field, message))

    def outside(xy: np.ndarray) -> np.ndarray:
        return ((xy[..., 0] < -_EDGE_TOLERANCE) | (xy[..., 0] > width + _EDGE_TOLERANCE)
                | (xy[..., 1] < -_EDGE_TOLERANCE) | (xy[..., 1] > height + _EDGE_TOLERANCE))

    face_present = a["face_present"]
    face_kp = a["face_keypoints"]
    conf = a["face_confidence"]
    add("face_confidence", "values outside [0, 1]", ~((conf >= 0) & (conf <= 1)))
    add("face_confidence", "non-zero where no face is present", ~face_present & (conf > 0))
    add("face_keypoints", "NaN where a face is present", face_present & ~np.isfinite(face_kp).all(axis=(1, 2)))
    add("face_keypoints", "keypoint outside the frame",
        face_present & (outside(np.nan_to_num(face_kp, nan=0.0)).any(axis=1)))
    add("face_box", "NaN where a face is present", face_present & ~np.isfinite(a["face_box"]).all(axis=1))
    box = a["face_box"]
    add("face_box", "x1 < x0 or y1 < y0", face_present & ((box[:, 2] < box[:, 0]) | (box[:, 3] < box[:, 1])))

    hands = a["hand_keypoints"]
    hand_conf = hands[..., 2]
    present = a["hand_present"]
    add("hand_keypoints", "confidence outside [0, 1]", ~((hand_conf >= 0) & (hand_conf <= 1)).all(axis=(1, 2)))
    confident = hand_conf > 0
    finite = np.isfinite(hands[..., :2]).all(axis=-1)
    add("hand_keypoints", "NaN coordinates with confidence > 0", (confident & ~finite).any(axis=(1, 2)))
    add("hand_keypoints", "keypoint outside the frame",
        (confident & outside(np.nan_to_num(hands[..., :2], nan=0.0))).any(axis=(1, 2)))
    add("hand_keypoints", "confident keypoints on a hand marked absent", (~present[..., None] & confident).any(axis=(1, 2)))
    add("hand_present", "hand marked present without any confident keypoint", (present & ~confident.any(axis=-1)).any(axis=1))

    masks = schema.unpack_masks(a["masks_packed"], height, width)
    channel = schema.MASK_CHANNELS.index
    face_mask, contact_mask = masks[:, channel("face")], masks[:, channel("contact")]
    hand_masks = masks[:, [channel(f"hand_{side}") for side in schema.HAND_SIDES]]  # (F, 2, H, W), hand 0 left
    radius = max(2, int(round(0.03 * min(width, height))))
    for h, side in enumerate(schema.HAND_SIDES):
        add(f"masks.hand_{side}", "non-empty mask for an absent hand", ~present[:, h] & hand_masks[:, h].any(axis=(1, 2)))
        frames = np.flatnonzero(present[:, h])
        if len(frames):
            dilated = _dilate(hand_masks[frames, h], radius)
            kp = np.nan_to_num(hands[frames, h, :, :2], nan=0.0)
            inside = _inside_mask(kp, dilated)
            ok = confident[frames, h]
            fraction = (inside & ok).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
            bad = np.zeros(len(present), bool)
            bad[frames] = fraction < KEYPOINT_MASK_MIN_FRACTION
            add(f"masks.hand_{side}", f"fewer than {KEYPOINT_MASK_MIN_FRACTION:.0%} of the hand's keypoints "
                "fall inside its mask (mask/keypoint mismatch)", bad)
    frames = np.flatnonzero(face_present)
    if len(frames):
        # The face mask covers visible face skin, so landmarks hidden under a hand count as inside.
        visible = _dilate(face_mask[frames] | hand_masks[frames].any(axis=1), radius)
        fraction = _inside_mask(face_kp[frames], visible).mean(axis=1)
        bad = np.zeros(len(face_present), bool)
        bad[frames] = fraction < KEYPOINT_MASK_MIN_FRACTION
        add("masks.face", f"fewer than {KEYPOINT_MASK_MIN_FRACTION:.0%} of the face landmarks fall inside the "
            "face or hand masks (mask/keypoint mismatch)", bad)

    contact = a["contact"]
    region = a["contact_region"]
    point = a["contact_point"]
    add("contact", "contact by a hand marked absent", (contact & ~present).any(axis=1))
    add("contact_region", "region id outside the taxonomy",
        (contact & ((region < 0) | (region >= len(FACE_REGIONS)))).any(axis=1))
    add("contact_region", "region set without contact", (~contact & (region != schema.NO_REGION)).any(axis=1))
    add("contact_point", "NaN where in contact", (contact & ~np.isfinite(point).all(axis=-1)).any(axis=1))
    add("contact_point", "point outside the frame",
        (contact & outside(np.nan_to_num(point, nan=0.0))).any(axis=1))
    any_contact = contact.any(axis=1)
    add("masks.contact", "empty contact mask in a contact frame", any_contact & ~contact_mask.any(axis=(1, 2)))
    add("masks.contact", "contact mask set without contact", ~any_contact & contact_mask.any(axis=(1, 2)))
    frames = np.flatnonzero(any_contact)
    if len(frames):
        dilated = _dilate(contact_mask[frames], radius)
        pts = np.nan_to_num(point[frames], nan=0.0)
        inside = _inside_mask(pts, dilated) | ~contact[frames]
        bad = np.zeros(len(any_contact), bool)
        bad[frames] = ~inside.all(axis=1)
        add("contact_point", "contact point outside the contact mask", bad)

    pattern_id = int(a["pattern_id"])
    expected = PATTERN_IDS.get(record.pattern, -2) if record.pattern else -1
    if pattern_id != expected:
        add("pattern_id", f"{pattern_id} does not match the manifest's pattern {record.pattern!r}")

    kind = str(a["identity_kind"])
    dim = a["identity_embedding"].shape[0] if a["identity_embedding"].ndim == 1 else -1
    if kind:
        if kind not in schema.IDENTITY_KINDS:
            add("identity_kind", f"unknown kind {kind!r}; expected one of {', '.join(schema.IDENTITY_KINDS)}")
        elif dim != schema.IDENTITY_KINDS[kind]:
            add("identity_embedding", f"{dim} values for kind {kind!r}, expected {schema.IDENTITY_KINDS[kind]}")
        elif not np.isfinite(a["identity_embedding"]).all():
            add("identity_embedding", "non-finite values")
    elif dim > 0:
        add("identity_kind", "an embedding without a kind")

    if "depth" in a:
        depth = a["depth"]
        add("depth", "negative or non-finite depth", ~(np.isfinite(depth) & (depth >= 0)).all(axis=(1, 2)))
    if "deformation" in a:
        deformation = a["deformation"]
        add("deformation", "negative or non-finite deformation",
            ~(np.isfinite(deformation) & (deformation >= 0)).all(axis=(1, 2)))
    if "penetration" in a:
        pen = a["penetration"]
        add("penetration", "negative or non-finite penetration", ~(np.isfinite(pen) & (pen >= 0)))
    if "joints_3d" in a:
        joints = a["joints_3d"]
        add("joints_3d", "NaN joints for a present hand", (present & ~np.isfinite(joints).all(axis=(2, 3))).any(axis=1))
    if "contact_segments" in a and a["contact_segments"].size:
        seg = a["contact_segments"]
        if ((seg[:, 0] < 0) | (seg[:, 1] > record.num_frames) | (seg[:, 1] <= seg[:, 0])).any():
            add("contact_segments", f"segments must satisfy 0 <= start < end <= {record.num_frames}")
    return out


def validate_clip(root: Path, record: ClipRecord, deep: bool = False) -> list[Violation]:
    """Every violation of one clip (files, checksums, video header, annotations)."""
    clip = record.clip_id
    out: list[Violation] = []
    try:
        check_clip_id(clip)
    except UnsafePathError as err:
        return [Violation(str(clip), "clip_id", str(err))]
    try:
        if record.pattern is not None:
            get_pattern(record.pattern)
    except UnknownNameError as err:
        out.append(Violation(clip, "pattern", str(err)))
    for name, value in (("num_frames", record.num_frames), ("width", record.width), ("height", record.height)):
        if not isinstance(value, int) or value < 1:
            out.append(Violation(clip, name, f"must be a positive integer, got {value!r}"))
    if not (isinstance(record.fps, (int, float)) and record.fps > 0):
        out.append(Violation(clip, "fps", f"must be positive, got {record.fps!r}"))
    if record.source.get("kind") not in schema.SOURCE_KINDS:
        out.append(Violation(clip, "source.kind", f"{record.source.get('kind')!r}, expected one of "
                                                  f"{', '.join(schema.SOURCE_KINDS)}"))
    if out:
        return out
    for role in ("video", "annotations"):
        if role not in record.files:
            out.append(Violation(clip, f"files.{role}", "not listed in the manifest"))
    paths: dict[str, Path] = {}
    for role, info in record.files.items():
        try:
            path = contained_path(root, info.get("path") if isinstance(info, dict) else None, "path")
        except UnsafePathError as err:
            out.append(Violation(clip, f"files.{role}", str(err)))
            continue
        if not path.is_file():
            out.append(Violation(clip, f"files.{role}", f"missing file {info.get('path')}"))
            continue
        if sha256_file(path) != info.get("sha256"):
            out.append(Violation(clip, f"files.{role}", f"sha256 mismatch for {info.get('path')} (file changed or truncated)"))
            continue
        paths[role] = path
    if "video" in paths:
        try:
            facts = probe_video(paths["video"])
            if facts["codec"] != "h264":
                out.append(Violation(clip, "video", f"codec {facts['codec']}, expected h264"))
            if (facts["width"], facts["height"]) != (record.width, record.height):
                out.append(Violation(clip, "video", f"size {facts['width']}x{facts['height']}, manifest says "
                                                    f"{record.width}x{record.height}"))
            frames = len(decode_video(paths["video"])) if deep else facts["frames"]
            if frames != record.num_frames:
                out.append(Violation(clip, "video", f"{frames} frames, manifest says {record.num_frames}"))
        except VideoReadError as err:
            out.append(Violation(clip, "video", str(err)))
    if "annotations" in paths:
        try:
            arrays = read_npz_arrays(paths["annotations"])
        except AnnotationFormatError as err:
            out.append(Violation(clip, "annotations", str(err)))
            return out
        structural = _check_arrays(clip, arrays, record)
        out.extend(structural)
        if not structural:
            out.extend(_check_values(clip, arrays, record))
    out.extend(_check_record_file(root, record))
    return out


def _check_record_file(root: Path, record: ClipRecord) -> list[Violation]:
    """The clip folder's ``record.json`` must say what the manifest says (split aside): an edited record is seen."""
    path = root / CLIPS_DIR / record.clip_id / RECORD_NAME
    if not path.is_file():
        return []  # datasets assembled without record files are allowed
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return [Violation(record.clip_id, RECORD_NAME, f"unreadable ({err})")]
    listed = dataclasses.asdict(record)
    if not isinstance(stored, dict):
        return [Violation(record.clip_id, RECORD_NAME, "not a JSON object")]
    stored.pop("split", None)
    listed.pop("split", None)
    changed = sorted(k for k in set(stored) | set(listed) if stored.get(k) != listed.get(k))
    if changed:
        return [Violation(record.clip_id, RECORD_NAME, f"differs from the manifest in {', '.join(changed)} "
                          "(edited after the clip was written); restore it or rewrite the clip")]
    return []


def _validate_chunk(args: tuple[str, list[dict], bool]) -> list[Violation]:
    root, records, deep = args
    out: list[Violation] = []
    for data in records:
        out.extend(validate_clip(Path(root), ClipRecord.from_dict(data), deep))
    return out


def validate_dataset(root: Path, deep: bool = False, workers: int = 1, progress: bool = False) -> ValidationReport:
    """Validate a whole dataset; raises ``DatasetFormatError`` only when it is not a dataset at all."""
    from tqdm import tqdm

    start = time.perf_counter()
    root = check_dataset_root(root)
    violations: list[Violation] = []
    if not (root / CARD_NAME).is_file():
        violations.append(Violation("<dataset>", CARD_NAME, "missing dataset card"))
    else:
        try:
            card = read_card(root)
            if card.get("format") != schema.FORMAT_NAME:
                violations.append(Violation("<dataset>", "format", f"{card.get('format')!r}, expected {schema.FORMAT_NAME!r}"))
            major = str(card.get("format_version", "")).split(".")[0]
            if major != schema.FORMAT_VERSION.split(".")[0]:
                violations.append(Violation("<dataset>", "format_version",
                                            f"{card.get('format_version')!r} is not readable by format {schema.FORMAT_VERSION}"))
        except DatasetFormatError as err:
            violations.append(Violation("<dataset>", CARD_NAME, str(err)))
    records = read_manifest(root)
    seen: set[str] = set()
    subject_splits: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.clip_id in seen:
            violations.append(Violation(r.clip_id, "clip_id", "listed more than once in the manifest"))
        seen.add(r.clip_id)
        if r.split not in SPLITS:
            violations.append(Violation(r.clip_id, "split", f"{r.split!r}, expected one of {', '.join(SPLITS)}"))
        else:
            subject_splits[r.subject_id].add(r.split)
    for subject, splits in sorted(subject_splits.items()):
        if len(splits) > 1:
            violations.append(Violation("<dataset>", "split", f"subject {subject!r} appears in {', '.join(sorted(splits))} (split leakage)"))
    clips_dir = root / CLIPS_DIR
    if clips_dir.is_dir():
        for folder in sorted(clips_dir.iterdir()):
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in seen:
                violations.append(Violation(folder.name, "manifest", "clip folder not listed in the manifest"))
    payload = [dataclasses.asdict(r) for r in records]
    chunk = max(1, min(64, len(payload) // max(1, workers * 4) or 1))
    chunks = [(str(root), payload[i:i + chunk], deep) for i in range(0, len(payload), chunk)]
    bar = tqdm(total=len(payload), desc="validate", unit="clip", disable=not progress)
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for (_, part, _), result in zip(chunks, pool.map(_validate_chunk, chunks)):
                violations.extend(result)
                bar.update(len(part))
    else:
        for item in chunks:
            violations.extend(_validate_chunk(item))
            bar.update(len(item[1]))
    bar.close()
    return ValidationReport(len(records), violations, time.perf_counter() - start)


def report_to_json(report: ValidationReport) -> str:
    return json.dumps({"clips": report.num_clips, "ok": report.ok, "seconds": round(report.seconds, 3),
                       "violations": [dataclasses.asdict(v) for v in report.violations]}, indent=2)
