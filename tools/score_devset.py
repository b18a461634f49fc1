"""Score the annotator's contact and pattern recognition on the real development set (test half by default).

Each clip is run through ``interanimate.data.annotate.annotate_video`` (the same code as
``interanimate annotate``) into a scratch folder; the per-frame contact flags and regions of the clips it
writes are mapped back onto the source frames and compared with the hand labels::

    PYTHONPATH=src nice -n 5 python tools/score_devset.py [--split test] [--json OUT.json]

Printed: frame-level contact precision/recall/F1 (frames within 4 of a labelled edge ignored), the
share of hard negatives (and of all no-touch clips) with any predicted contact frame, region accuracy
over labelled touches (majority region of the predicted contact frames), and family accuracy over
touches whose family is labelled. Ambiguous clips and clips without media are skipped and counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interanimate.data.annotate import AnnotateConfig, annotate_video
from interanimate.data.annotate.video import VideoInput
from interanimate.data.annotations import load_annotations
from interanimate.data.manifest import ANNOTATIONS_NAME, clip_dir
from interanimate.evaluation.devset import DevsetClip, frame_scores, load_devset
from interanimate.taxonomy import FACE_REGIONS, get_pattern


@dataclass
class Prediction:
    """What the annotator said about one clip, on the clip's own frames."""

    contact: np.ndarray  # (F,) bool: any hand in contact
    region: str | None  # majority region over contact frames
    family: str | None  # family of the recognised pattern of the longest contact episode
    status: str


def predict(clip: DevsetClip, path: Path, scratch: Path) -> Prediction:
    """Run the annotator on one clip and collect per-frame contact, the region and the family."""
    result = annotate_video(VideoInput(path, key=clip.id), scratch, AnnotateConfig(keep_dense=False))
    contact = np.zeros(clip.num_frames, bool)
    regions: Counter = Counter()
    families: Counter = Counter()
    for written in result.clips:
        # annotations are at the annotator's working resolution, not necessarily the clip's
        ann = load_annotations(clip_dir(scratch, written["clip_id"]) / ANNOTATIONS_NAME, result.info["height"],
                               result.info["width"])
        touching = ann.contact  # (f, 2) bool, frames start..end-1 of the source
        span = slice(written["start"], written["start"] + len(touching))
        contact[span] |= touching.any(axis=1)
        for region in ann.contact_region[touching]:
            if region >= 0:
                regions[FACE_REGIONS[region]] += 1
        if written["pattern"]:
            families[get_pattern(written["pattern"]).family] += int(touching.any(axis=1).sum())
    region = regions.most_common(1)[0][0] if regions else None
    family = families.most_common(1)[0][0] if families else None
    return Prediction(contact, region, family, result.status)


def summarise(rows: list[tuple[DevsetClip, Prediction]]) -> dict:
    """The baseline numbers over scored clips."""
    scores = frame_scores([(clip, p.contact) for clip, p in rows])
    hard = [p.contact.any() for clip, p in rows if clip.hard_negative]
    no_touch = [p.contact.any() for clip, p in rows if not clip.contact]
    regions = [p.region == clip.region for clip, p in rows if clip.contact]
    families = [p.family == clip.family for clip, p in rows if clip.family]
    detected = [p.contact.any() for clip, p in rows if clip.contact]

    def share(values):
        return {"rate": float(np.mean(values)) if values else float("nan"), "n": len(values)}

    return {"clips": len(rows), "frame_precision": scores.precision, "frame_recall": scores.recall,
            "frame_f1": scores.f1, "frames": {"tp": scores.true_positive, "fp": scores.false_positive,
                                              "fn": scores.false_negative},
            "touch_clips_with_any_contact": share(detected), "hard_negative_false_positive": share(hard),
            "no_touch_false_positive": share(no_touch), "region_accuracy": share(regions),
            "family_accuracy": share(families)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--split", default="test", choices=["fit", "test"])
    parser.add_argument("--media", type=Path, default=None, help="fetched media folder (default devset/real/media)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers and per-clip rows here")
    args = parser.parse_args(argv)
    devset = load_devset(args.labels)
    items = list(devset.media(split=args.split, media_dir=args.media))
    missing = [m.reason for m in items if m.path is None]
    ambiguous = sum(c.ambiguous for c in devset.split(args.split))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for item in items:
            if item.path is None:
                continue
            prediction = predict(item.clip, item.path, Path(scratch) / item.clip.id)
            rows.append((item.clip, prediction))
            print(f"{item.clip.id:40s} truth={int(item.clip.contact_flags().sum()):4d} "
                  f"pred={int(prediction.contact.sum()):4d} region={item.clip.region}/{prediction.region} "
                  f"family={item.clip.family}/{prediction.family} [{prediction.status}]")
    if not rows:
        print(f"devset: no clip of the {args.split} half has media ({len(missing)} missing): "
              "run tools/fetch_devset.py first", file=sys.stderr)
        return 1
    summary = summarise(rows)
    summary.update(split=args.split, skipped_missing=len(missing), skipped_ambiguous=ambiguous)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "clips": [
            {"id": c.id, "truth": np.flatnonzero(c.contact_flags()).tolist(),
             "predicted": np.flatnonzero(p.contact).tolist(), "region": p.region, "family": p.family,
             "status": p.status} for c, p in rows]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
