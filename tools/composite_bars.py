"""The composite renderer's hand bars over every clip of an ``interanimate evaluate --metrics anatomy`` report.

    interanimate evaluate --generated G/dataset --reference G/dataset --metrics anatomy --pck-threshold 0.1 --out R
    PYTHONPATH=src python tools/composite_bars.py R/report.json

The report's summary averages hand metrics only over clips whose ground-truth hands the detector finds in at least
half the frames; the bars ask for all clips. Per person and per family: the mean over clips of the ground-truth
hand detection rate (hands matched to the labels by position) and of the share of those frames where MediaPipe's own
left/right label was right, PCK over all labelled keypoints (an undetected hand scores 0), and contact precision, recall
and F1 pooled from the clips' frame counts (the clip id's first two fields name the person and the pattern), and the
annotator's recognised pattern against the requested one: 18-way and family accuracy, and the share of clips it
left unlabelled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def clip_rows(report: dict) -> list[dict]:
    rows = []
    for clip, metrics in report["per_clip"].items():
        anatomy = metrics["anatomy"]
        person, pattern = clip.split("-")[:2]
        contact = anatomy["contact"]
        rows.append(dict(person=person, family=pattern.split("_")[0],
                         detection=anatomy["ground_truth_detection"]["hand_detection_rate"],
                         handedness=anatomy.get("hand_matching", {}).get("handedness_agreement"),
                         pck=anatomy["hand_pck"]["pck"] or 0.0, keypoints=anatomy["hand_pck"]["num_keypoints"] or 0,
                         predicted=contact["predicted_frames"], labelled=contact["requested_frames"],
                         true_positive=round((contact["recall"] or 0.0) * contact["requested_frames"]),
                         requested=anatomy.get("pattern", {}).get("requested"),
                         recognised=anatomy.get("pattern", {}).get("recognised")))
    return rows


def summarise(rows: list[dict]) -> dict:
    keypoints = sum(r["keypoints"] for r in rows)
    tp, predicted = sum(r["true_positive"] for r in rows), sum(r["predicted"] for r in rows)
    labelled = sum(r["labelled"] for r in rows)
    precision = tp / predicted if predicted else float("nan")
    recall = tp / labelled if labelled else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    handed = [r["handedness"] for r in rows if r.get("handedness") is not None]
    named = [r for r in rows if r.get("requested")]
    family = (lambda name: name.split("_")[0] if name else None)
    return dict(clips=len(rows), detection=float(np.mean([r["detection"] for r in rows])),
                handedness=float(np.mean(handed)) if handed else float("nan"),
                pck=sum(r["pck"] * r["keypoints"] for r in rows) / max(keypoints, 1),
                precision=precision, recall=recall, f1=f1, predicted=predicted, labelled=labelled,
                pattern_accuracy=float(np.mean([r["recognised"] == r["requested"] for r in named])) if named else np.nan,
                family_accuracy=float(np.mean([family(r["recognised"]) == family(r["requested"]) for r in named]))
                if named else np.nan,
                unlabelled=float(np.mean([r["recognised"] is None for r in named])) if named else np.nan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="report.json of evaluate --metrics anatomy")
    args = parser.parse_args()
    rows = clip_rows(json.loads(args.report.read_text()))
    groups = [("all", rows)]
    groups += [(p, [r for r in rows if r["person"] == p]) for p in sorted({r["person"] for r in rows})]
    groups += [(f, [r for r in rows if r["family"] == f]) for f in ("poke", "pinch", "stroke", "swipe")]
    for name, selected in groups:
        if not selected:
            continue
        s = summarise(selected)
        print(f"{name:<14} clips {s['clips']:2d}  detection {100 * s['detection']:5.1f} %  PCK {s['pck']:.3f}  "
              f"handedness kept {100 * s['handedness']:5.1f} %  "
              f"contact P {s['precision']:.3f} R {s['recall']:.3f} F1 {s['f1']:.2f} "
              f"({s['predicted']} predicted, {s['labelled']} labelled)  pattern {100 * s['pattern_accuracy']:.0f} % "
              f"family {100 * s['family_accuracy']:.0f} % unlabelled {100 * s['unlabelled']:.0f} %")


if __name__ == "__main__":
    main()
