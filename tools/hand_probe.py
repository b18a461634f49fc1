"""A quick look at how real the composite hand looks to MediaPipe: re-detection rate and PCK on a small subset.

    PYTHONPATH=src python tools/hand_probe.py [--size 256] [--frames 16] [--sheet probe.jpg] [--json probe.json]

Renders both offline portraits (scikit-image's astronaut, matplotlib's Grace Hopper) × two patterns per family with
``render_composite`` (seeds ``--seeds``, default 0; no video encoding), re-detects every clip with the evaluation's own annotator
(``evaluation.redetect.AnnotatorRedetector``: MediaPipe in video mode, the annotator's temporal cleaning) and scores
it with ``evaluation.anatomy`` against the clip's exact labels: the hand detection rate (over every frame the labels
call visible, and over those where at least half the hand's keypoints are inside the picture) and PCK@0.1 / @0.2,
per family and overall. A few minutes on one core at 256 px, where the full bar measurement
(``tools/composite_gallery.py`` + ``interanimate evaluate``) takes much longer. ``--sheet`` writes a contact sheet
(one row per clip, every other frame; green outline where the hand was found).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

IN_VIEW_KEYPOINTS = 11  # of 21: the hand counts as in view when at least this many keypoints are in the picture
SUBSET = ("poke_cheek_left", "poke_nose", "pinch_chin", "pinch_cheek_right", "stroke_forehead", "stroke_jaw",
          "swipe_mouth_leftward", "swipe_face_downward")


def _tile_row(frames: np.ndarray, found: np.ndarray, thumb: int) -> np.ndarray:
    tiles = []
    for f in range(0, len(frames), 2):
        tile = cv2.resize(frames[f], (thumb, thumb), interpolation=cv2.INTER_AREA)
        if found[f]:
            cv2.rectangle(tile, (0, 0), (thumb - 1, thumb - 1), (40, 200, 40), 2)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def _scores(found, ann) -> dict:
    from interanimate.evaluation import anatomy

    # Hands matched to the labels by position and kept where they lie on the labelled hand, as the evaluation does;
    # "wrong side": frames where the matching swapped MediaPipe's left/right label.
    keypoints, present, matching = anatomy.found_on_target(found.hand_keypoints, found.hand_present,
                                                           ann.hand_keypoints, ann.hand_present)
    rate = anatomy.hand_detection_rate(present, ann.hand_present)
    wrong_side = matching["frames_swapped"]
    pck = {a: anatomy.hand_pck(keypoints, ann.hand_keypoints, alpha=a) for a in (0.1, 0.2)}
    # Frames where at least half the hand's 21 keypoints lie inside the picture (a label's confidence is 0 outside).
    in_view = ann.hand_present & ((ann.hand_keypoints[..., 2] > 0).sum(-1) >= IN_VIEW_KEYPOINTS)
    return {"visible": int(ann.hand_present.sum()), "found": int((present & ann.hand_present).sum()),
            "in_view": int(in_view.sum()), "found_in_view": int((present & in_view).sum()),
            "keypoints": pck[0.1]["num_keypoints"],
            "wrong_side": int(wrong_side),
            "detection_rate": rate["detection_rate"],
            "pck@0.1": pck[0.1]["pck"], "pck@0.2": pck[0.2]["pck"],
            "_pred": keypoints, "_tgt": ann.hand_keypoints}


KEYPOINT_NAMES = ["wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip"] + [
    f"{finger}_{joint}" for finger in ("index", "middle", "ring", "little") for joint in ("mcp", "pip", "dip", "tip")]


def keypoint_errors(pred: np.ndarray, tgt: np.ndarray) -> dict[str, np.ndarray]:
    """Per keypoint, over the hand-frames found with all 21 labelled keypoints in the picture: PCK@0.1 and the mean
    offset of the detection from the label in hand sizes, along the hand (wrist → middle knuckle) and across it.
    ``pred``/``tgt``: ``(F, 2, 21, 3)``."""
    found = np.isfinite(pred[..., :2]).all(-1).all(-1) & (tgt[..., 2] > 0).all(-1)
    p, t = pred[found][..., :2].astype(np.float64), tgt[found][..., :2].astype(np.float64)
    if not len(t):
        return {"hands": 0, "pck@0.1": np.full(21, np.nan), "along": np.full(21, np.nan), "across": np.full(21, np.nan)}
    size = np.maximum(np.ptp(t[..., 0], axis=1), np.ptp(t[..., 1], axis=1))[:, None]
    axis = t[:, 9] - t[:, 0]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True) + 1e-12
    normal = np.stack([-axis[:, 1], axis[:, 0]], -1)
    d = (p - t) / size[..., None]
    return {"hands": int(len(t)), "pck@0.1": (np.linalg.norm(d, axis=-1) <= 0.1).mean(0),
            "along": np.einsum("nkd,nd->nk", d, axis).mean(0), "across": np.einsum("nkd,nd->nk", d, normal).mean(0)}


def _pooled(rows: list[dict]) -> dict:
    from interanimate.evaluation import anatomy

    in_view = {"in_view_detection_rate": sum(r.get("found_in_view", 0) for r in rows)
               / max(sum(r.get("in_view", 0) for r in rows), 1)}
    if not all("_pred" in r for r in rows):  # rows read back by --merge: pool the per-clip scores exactly
        visible, keypoints = sum(r["visible"] for r in rows), sum(r["keypoints"] for r in rows)
        return {"clips": len(rows), "detection_rate": sum(r["found"] for r in rows) / max(visible, 1), **in_view,
                "wrong_side_rate": sum(r["wrong_side"] for r in rows) / max(visible, 1),
                **{k: sum(np.nan_to_num(r[k]) * r["keypoints"] for r in rows) / max(keypoints, 1)
                   for k in ("pck@0.1", "pck@0.2")}}
    pred = np.concatenate([r["_pred"] for r in rows])
    tgt = np.concatenate([r["_tgt"] for r in rows])
    visible, found = sum(r["visible"] for r in rows), sum(r["found"] for r in rows)
    return {"clips": len(rows), "detection_rate": found / max(visible, 1), **in_view,
            "wrong_side_rate": sum(r["wrong_side"] for r in rows) / max(visible, 1),
            "pck@0.1": anatomy.hand_pck(pred, tgt, alpha=0.1)["pck"], "pck@0.2": anatomy.hand_pck(pred, tgt, alpha=0.2)["pck"]}


def main() -> None:
    from interanimate.evaluation.redetect import AnnotatorRedetector
    from interanimate.render.composite import render_composite
    from interanimate.render.composite.face import build_face
    from interanimate.render.composite.photo import load_photo
    from interanimate.taxonomy import get_pattern
    from composite_gallery import portraits

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--patterns", nargs="*", default=list(SUBSET))
    parser.add_argument("--refs", type=Path, default=Path("composite_gallery/refs"))
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--keypoints", action="store_true", help="also print PCK and mean offset per keypoint")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--merge", type=Path, nargs="+", help="pool the clips of earlier --json runs (e.g. run in "
                        "parallel, one per --patterns subset) into one summary; renders nothing")
    args = parser.parse_args()
    if args.merge:
        rows = [clip for path in args.merge for clip in json.loads(path.read_text())["clips"]]
        _summarise(rows, args.json)
        return
    redetect = AnnotatorRedetector()
    rows, sheet = [], []
    for photo in portraits(args.refs):
        reference = load_photo(photo, args.size, "face")
        face = build_face(reference.image, reference.mesh)
        for pattern, seed in ((p, s) for p in args.patterns for s in args.seeds):
            clip = render_composite(reference, pattern, args.frames, 25.0, seed, face=face)
            found = redetect(clip.frames, 25.0)
            row = {"person": photo.stem, "pattern": pattern, "seed": seed, "family": get_pattern(pattern).family,
                   **_scores(found, clip.annotations)}
            rows.append(row)
            print(f"{photo.stem:13s} {pattern:22s} seed {seed}  found {row['found']:2d}/{row['visible']:2d} "
                  f"(in view {row['found_in_view']:2d}/{row['in_view']:2d}, wrong side {row['wrong_side']:2d})  "
                  f"PCK@0.1 {row['pck@0.1']:.3f}", flush=True)
            if args.sheet:
                sheet.append(_tile_row(clip.frames, found.hand_present.any(1), 96))
    if args.sheet:
        width = max(r.shape[1] for r in sheet)
        image = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in sheet])
        cv2.imwrite(str(args.sheet), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    _summarise(rows, args.json)
    if args.keypoints:
        errors = keypoint_errors(np.concatenate([r["_pred"] for r in rows]), np.concatenate([r["_tgt"] for r in rows]))
        print(f"per keypoint over {errors['hands']} found hands with every keypoint in the picture "
              "(offset of the detection from the label, hand sizes):")
        for k, name in enumerate(KEYPOINT_NAMES):
            print(f"  {name:11s} PCK@0.1 {errors['pck@0.1'][k]:.2f}  along the hand {errors['along'][k]:+.3f}  "
                  f"across {errors['across'][k]:+.3f}")


def _summarise(rows: list[dict], json_path: Path | None) -> None:
    summary = {"all": _pooled(rows)}
    for key in ("family", "person"):
        for value in dict.fromkeys(r[key] for r in rows):
            summary[value] = _pooled([r for r in rows if r[key] == value])
    for name, s in summary.items():
        print(f"{name:13s} detection {100 * s['detection_rate']:5.1f} % (in view "
              f"{100 * s['in_view_detection_rate']:5.1f} %)  PCK@0.1 {s['pck@0.1']:.3f}  "
              f"PCK@0.2 {s['pck@0.2']:.3f}  wrong side {100 * s['wrong_side_rate']:4.1f} %  ({s['clips']} clips)")
    if json_path:
        json_path.write_text(json.dumps({"summary": summary, "clips": [{k: v for k, v in r.items()
                                                                         if not k.startswith("_")} for r in rows]},
                                        indent=1))


if __name__ == "__main__":
    main()
