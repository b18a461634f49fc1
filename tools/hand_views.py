"""How the hand is held against whether MediaPipe finds it: re-detection rate by the labelled hand's view, per frame.

    PYTHONPATH=src python tools/hand_views.py composite_gallery/dataset

For every labelled hand in every frame of a composite dataset (``tools/composite_gallery.py`` writes one): the hand's
axis (wrist to middle knuckle, from the exact 3-D joints, camera frame) as the share of it along the viewing axis
(0: in the image plane, 1: end-on, pointing at or away from the camera), and whether the evaluation's re-detection
(``evaluation.redetect.AnnotatorRedetector`` on the decoded video, hands matched and localised as ``evaluate`` does)
found it. Prints the detection rate per bin of that share, overall and per family, then the rate of the hand-frames
whose palm points (wrist, thumb base, the four knuckles: ``placement.PALM_POINTS``) all lie in the picture against
those with one beyond its edge, split into the clip's first and last two frames and the others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

BINS = (0.0, 0.34, 0.52, 0.69, 0.86, 1.0)  # sin of 0, 20, 31, 44, 59, 90 degrees out of the image plane


EDGE_FRAMES = 2  # frames at each end of a clip counted as its reach and retreat


def hand_views(dataset: Path) -> list[tuple[str, float, bool, bool, bool]]:
    """``(family, axis depth share, found, palm in the picture, in the first or last EDGE_FRAMES)`` of every
    labelled hand-frame of ``dataset``."""
    from interanimate.data.annotations import load_annotations
    from interanimate.data.io import decode_video
    from interanimate.data.manifest import clip_dir, read_manifest
    from interanimate.evaluation import anatomy
    from interanimate.evaluation.redetect import AnnotatorRedetector
    from interanimate.render.composite.placement import PALM_POINTS
    from interanimate.taxonomy import get_pattern

    redetect = AnnotatorRedetector()
    rows = []
    for record in read_manifest(dataset):
        folder = clip_dir(dataset, record.clip_id)
        frames = decode_video(folder / "video.mp4")
        ann = load_annotations(folder / "annotations.npz", frames.shape[1], frames.shape[2])
        found = redetect(frames, record.fps)
        _, present, _ = anatomy.found_on_target(found.hand_keypoints, found.hand_present, ann.hand_keypoints,
                                                ann.hand_present)
        family = get_pattern(record.pattern).family
        height, width = frames.shape[1:3]
        for f, h in zip(*np.nonzero(ann.hand_present)):
            axis = ann.joints_3d[f, h, 9].astype(np.float64) - ann.joints_3d[f, h, 0]
            palm = ann.hand_keypoints[f, h, PALM_POINTS, :2]
            in_picture = bool(np.all((palm >= 0) & (palm < [width, height])))
            edge = f < EDGE_FRAMES or f >= len(frames) - EDGE_FRAMES
            rows.append((family, float(abs(axis[2]) / np.linalg.norm(axis)), bool(present[f, h]), in_picture, edge))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    args = parser.parse_args()
    rows = hand_views(args.dataset)
    edges = list(zip(BINS[:-1], BINS[1:]))
    print("axis along the view | " + " | ".join(f"{a:.2f}-{b:.2f}" for a, b in edges) + " | all")
    for family in [None, *dict.fromkeys(r[0] for r in rows)]:
        chosen = [r for r in rows if family is None or r[0] == family]
        cells = []
        for a, b in edges:
            inside = [r[2] for r in chosen if a <= r[1] < b or (b == BINS[-1] and r[1] == b)]
            cells.append(f"{100 * np.mean(inside):.0f} % of {len(inside)}" if inside else "-")
        print(f"{family or 'every family':19s} | " + " | ".join(cells) +
              f" | {100 * np.mean([r[2] for r in chosen]):.1f} % of {len(chosen)}")
    print("\npalm points              | in the picture | one beyond the edge")
    for name, chosen in (("first/last frames", [r for r in rows if r[4]]), ("other frames", [r for r in rows if not r[4]]),
                         ("every frame", rows)):
        cells = []
        for inside in (True, False):
            found = [r[2] for r in chosen if r[3] == inside]
            cells.append(f"{100 * np.mean(found):.1f} % of {len(found)}" if found else "-")
        print(f"{name:24s} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
