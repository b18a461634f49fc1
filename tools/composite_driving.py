"""A driving video through the composite renderer, and its contact sheet (driving frames above composite frames).

    PYTHONPATH=src python tools/composite_driving.py --out composite_driving [--pattern stroke_cheek_right] [--seed 0]

The driving video is a synthetic clip (the generator acting ``--pattern``) written as a plain MP4, so its keypoints
come from the annotator's perception like any video's. ``interanimate animate --driving`` animates Grace Hopper's
portrait with it (``OUT/driven.mp4``, ``OUT/dataset/``); ``OUT/sheet.jpg`` shows evenly spaced frames: the driving
video on top, the composite below, labelled contact frames outlined in red.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pattern", default="stroke_cheek_right")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--thumb", type=int, default=128)
    args = parser.parse_args(argv)

    import matplotlib.cbook

    from interanimate.data.annotations import load_annotations
    from interanimate.data.io import decode_video, encode_video
    from interanimate.data.manifest import clip_dir, read_manifest
    from interanimate.data.synth import ClipSpec, render_clip
    from interanimate.pipelines.command import main as animate

    args.out.mkdir(parents=True, exist_ok=True)
    photo = args.out / "grace_hopper.jpg"
    photo.write_bytes(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes())
    actor = render_clip(ClipSpec(seed=args.seed, subject_index=0, pattern=args.pattern, num_frames=args.frames,
                                 size=256))
    video = args.out / "driving.mp4"
    video.write_bytes(encode_video(actor.frames, 25))
    code = animate(["--reference", str(photo), "--driving", str(video), "--size", str(args.size), "--seed",
                    str(args.seed), "--out", str(args.out / "driven.mp4"), "--as-dataset", str(args.out / "dataset"),
                    "--quiet"])
    if code:
        return code
    record = read_manifest(args.out / "dataset")[0]
    folder = clip_dir(args.out / "dataset", record.clip_id)
    frames = decode_video(folder / "video.mp4")
    ann = load_annotations(folder / "annotations.npz", record.height, record.width)
    picks = np.linspace(0, len(frames) - 1, args.columns).round().astype(int)
    size = (args.thumb, args.thumb)
    top = [cv2.resize(actor.frames[f], size, interpolation=cv2.INTER_AREA) for f in picks]
    bottom = []
    for f in picks:
        tile = cv2.resize(frames[f], size, interpolation=cv2.INTER_AREA)
        if ann.contact[f].any():
            cv2.rectangle(tile, (0, 0), (args.thumb - 1, args.thumb - 1), (230, 30, 30), 3)
        bottom.append(tile)
    sheet = np.concatenate([np.concatenate(top, 1), np.concatenate(bottom, 1)], 0)
    cv2.imwrite(str(args.out / "sheet.jpg"), sheet[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    motion = record.extra["motion"]
    print(f"driving video: hand found in {motion.get('driving_hand_frames')} frames, annotator contact in "
          f"{motion.get('driving_contact_frames')}")
    print(f"{args.out / 'sheet.jpg'}: {len(frames)} frames, hand labelled in {int(ann.hand_present.any(1).sum())}, "
          f"contact in {int(ann.contact.any(1).sum())}, max penetration {float(ann.penetration.max()):.2f} mm, "
          f"IK reprojection RMS {motion.get('ik_rms_px')} px, hand scale {motion.get('ik_hand_scale')}, "
          f"recognised pattern {record.pattern}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
