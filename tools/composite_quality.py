"""The composite renderer's identity, penetration and deformation bars on a composite dataset.

    PYTHONPATH=src python tools/composite_quality.py DATASET [--refs FOLDER]

Per clip: the dlib 128-d distance between the reference photo's face and every frame's face (same descriptor as the
annotator's identity embedding; the usual same-person threshold is 0.6), the largest penetration label (mm) and the
largest contact-induced image displacement (px, from the clip record), and how the hand's colour matches the face's:
the median CIELAB colour of the hand's pixels (its mask, eroded) over the clip against that of the face's skin (the
face mask minus the hand) in the same frames, as lightness L* and the colour difference ΔE (CIE 1976). Hand re-detection, PCK and contact F1 come
from ``interanimate evaluate --generated DATASET --reference DATASET --metrics anatomy``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

ERODE = np.ones((5, 5), np.uint8)


def skin_tones(frames: np.ndarray, ann) -> tuple[np.ndarray, np.ndarray] | None:
    """Median CIELAB (L* 0-100) of the hand's and of the face's pixels over the frames that show both."""
    hands, faces = [], []
    for f, frame in enumerate(frames):
        hand = np.asarray(ann.mask("hand_left")[f]) | np.asarray(ann.mask("hand_right")[f])
        face = np.asarray(ann.mask("face")[f]) & ~hand
        hand = cv2.erode(hand.astype(np.uint8), ERODE) > 0
        face = cv2.erode(face.astype(np.uint8), ERODE) > 0
        if hand.sum() < 20 or face.sum() < 20:
            continue
        lab = cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        hands.append(lab[hand])
        faces.append(lab[face])
    if not hands:
        return None
    return np.median(np.concatenate(hands), 0), np.median(np.concatenate(faces), 0)


def main() -> None:
    from interanimate.data.annotate.identity import FaceEmbedder
    from interanimate.data.annotations import load_annotations
    from interanimate.data.io import decode_video
    from interanimate.data.manifest import clip_dir, read_manifest

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--json", type=Path, help="also write the per-clip numbers here")
    args = parser.parse_args()
    embed = FaceEmbedder()
    rows = []
    reference_cache: dict[str, np.ndarray] = {}
    for record in read_manifest(args.dataset):
        folder = clip_dir(args.dataset, record.clip_id)
        ann = load_annotations(folder / "annotations.npz", record.height, record.width)
        frames = decode_video(folder / "video.mp4")
        ref = record.extra["reference"]["name"]
        if ref not in reference_cache:
            reference_cache[ref] = ann.identity_embedding.astype(np.float64)  # the photo's own descriptor
        distances = []
        for f, frame in enumerate(frames):
            vector = embed(frame, ann.face_box[f])
            distances.append(np.nan if vector is None else float(np.linalg.norm(vector - reference_cache[ref])))
        d = np.array(distances)
        tones = skin_tones(frames, ann)
        rows.append({"hand_L": float(tones[0][0]) if tones else None, "face_L": float(tones[1][0]) if tones else None,
                     "tone_delta_e": float(np.linalg.norm(tones[0] - tones[1])) if tones else None,"clip": record.clip_id, "person": ref, "pattern": record.pattern,
                     "identity_max": float(np.nanmax(d)), "identity_mean": float(np.nanmean(d)),
                     "identity_missing": int(np.isnan(d).sum()), "penetration_max_mm": float(ann.penetration.max()),
                     "deformation_px": float(record.extra["motion"].get("max_deformation_shift_px", 0.0)),
                     "contact_frames": int(ann.contact.any(1).sum()), "size": record.width})
    print(f"{'clip':<42} {'id max':>6} {'id mean':>7} {'pen mm':>6} {'def px':>6}")
    for r in rows:
        print(f"{r['clip']:<42} {r['identity_max']:>6.3f} {r['identity_mean']:>7.3f} {r['penetration_max_mm']:>6.2f} "
              f"{r['deformation_px']:>6.2f}")
    ids = np.array([r["identity_max"] for r in rows])
    means = np.array([r["identity_mean"] for r in rows])
    pens = np.array([r["penetration_max_mm"] for r in rows])
    defs = np.array([r["deformation_px"] for r in rows])
    print(f"identity distance: max over all frames {ids.max():.3f} (bar < 0.6), mean {means.mean():.3f} (bar <= 0.35); "
          f"penetration: max {pens.max():.2f} mm (bar <= 1), clips over 1 mm {int((pens > 1).sum())}/{len(rows)}; "
          f"deformation: median {np.median(defs):.2f} px, max {defs.max():.2f} px")
    for person in dict.fromkeys(r["person"] for r in rows):
        toned = [r for r in rows if r["person"] == person and r["tone_delta_e"] is not None]
        if toned:
            print(f"{person}: skin L* hand {np.median([r['hand_L'] for r in toned]):.1f} vs face "
                  f"{np.median([r['face_L'] for r in toned]):.1f}, colour difference ΔE median "
                  f"{np.median([r['tone_delta_e'] for r in toned]):.1f} over {len(toned)} clips")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
