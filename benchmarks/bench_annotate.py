"""Benchmark ``annotate``: perception speed on real video, and contact / pattern accuracy on synthetic renders.

    .venv/bin/python benchmarks/bench_annotate.py [--subjects 2] [--size 256] [--frames 48] [--video Megamind.avi]
                                                  [--hand-set] [--repeat N]
    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_annotate.py --video V --subjects 0

1. Speed: frames/s of the whole per-video pipeline (decode + perception + post-processing, without
   clip writing) on the given real video, and where the time goes: wall ms/frame and the process's CPU
   ms/frame (all threads, ``time.process_time``) per stage, post-processing split into cleaning, contact
   and patterns. On a shared machine the CPU figure is the one that means something; pinned to one core
   (``taskset -c 0``, OpenCV limited to one thread here) 1000 / CPU ms/frame is the frames/s one idle
   core gives. ``--repeat`` runs the analysis several times and reports each run and the fastest.
2. Accuracy: synthetic clips (``interanimate.data.synth``, exact ground truth) for every pattern and
   subject are run through the same analysis as real video (``interanimate.data.annotate.analyse``:
   perception -> tracking -> cleaning -> contact -> pattern). Reported: face NME (iBUG-68, by inter-ocular distance), contact precision / recall
   / F1 per frame and hand, the false-positive rate on "hand in front of the face" frames (a
   fingertip inside the face outline in the image without touching), 18-way pattern accuracy and
   the confusion matrix. ``--hand-set`` runs the unfitted baseline models instead of the shipped,
   fitted ones. The calibration itself (subject-disjoint train/test splits, hover negatives, the fit
   and the test-split numbers in ``docs/annotate.md``) is ``tools/fit_annotate_models.py``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from interanimate.data.annotate import AnnotateConfig, analyse, face_frame, face_outline, signed_distance
from interanimate.data.annotate.analysis import recognise_episodes, strongest
from interanimate.data.annotate.contact import ContactModel, detect_contact
from interanimate.data.annotate.patterns import PatternModel, RulePatternModel
from interanimate.data.annotate.pipeline import plan_clips
from interanimate.data.io import encode_video
from interanimate.taxonomy import PATTERN_NAMES


MODELS = {"contact": None, "pattern": None}  # None: the shipped, fitted models


def models() -> tuple[ContactModel, PatternModel | RulePatternModel]:
    return MODELS["contact"] or ContactModel(), MODELS["pattern"] or PatternModel()


def run_stages(path: Path, config: AnnotateConfig):
    """The annotator's analysis of ``path`` (``analyse``) and its clip plans, with the time of each stage."""
    report: dict = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    contact_model, pattern_model = models()
    analysis = analyse(path, mirrored=config.mirrored, limits=config.limits(), contact_model=contact_model,
                       pattern_model=pattern_model, report=report)
    with np.errstate(all="ignore"):
        plans = plan_clips(analysis, config)
    timings = report["timings"]
    timings["total"] = time.perf_counter() - start
    cpu = report["cpu"]
    cpu["total"] = time.process_time() - cpu_start
    timings["cpu"] = cpu
    return analysis, plans, timings


def speed(video: Path, repeat: int = 1) -> None:
    import cv2

    cv2.setNumThreads(1)
    config = AnnotateConfig()
    run_stages(video, config)  # warm-up (model loading)
    runs = [run_stages(video, config) for _ in range(repeat)]
    analysis, plans, timings = min(runs, key=lambda run: run[2]["cpu"]["total"])
    info, tracks, contact = analysis.video, analysis.tracks, analysis.contact
    n = len(tracks.face_present)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\n## speed: {video.name} ({info.source_width}x{info.source_height}, worked at {info.width}x{info.height}, "
          f"{n} frames, one process on {cores} core(s); {repeat} run(s), the one with least CPU shown)")
    print(f"  {'stage':<11}{'wall':>8}{'cpu':>8}  ms/frame")
    cpu = timings["cpu"]
    for key in ("decode", "perception", "post", "clean", "contact", "patterns", "total"):
        wall = f"{timings[key] * 1000 / n:8.1f}" if key in timings else " " * 8
        print(f"  {key:<11}{wall}{cpu[key] * 1000 / n:8.1f}")
    for i, (_, _, t) in enumerate(runs):
        print(f"  run {i + 1}: {n / t['total']:.1f} frames/s wall, {n / t['cpu']['total']:.1f} frames/s per CPU second "
              f"(post {t['cpu']['post'] * 1000 / n:.1f} ms/frame CPU)")
    print(f"  end-to-end {n / timings['total']:.1f} frames/s wall, {n / cpu['total']:.1f} frames/s per CPU second; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    # What the contact and pattern models make of this footage (no ground truth: to be read with the video).
    with np.errstate(all="ignore"):
        for h, side in enumerate(("left", "right")):
            present = tracks.hand_present[:, h] & tracks.face_present
            p = contact.probability[present, h]
            print(f"  {side} hand: seen with the face in {int(present.sum())} frames, contact in "
                  f"{int(contact.contact[:, h].sum())}; probability median {np.median(p) if len(p) else float('nan'):.2f}, "
                  f"max {p.max() if len(p) else float('nan'):.2f}")
    for plan in plans:
        print(f"  clip {plan.start}-{plan.end}: hand {plan.hand}, pattern {plan.pattern} ({plan.confidence:.2f})")


def from_ground_truth(gt, fps: float, size: int, noise: float, rng: np.random.Generator):
    """The contact and pattern stages on ground-truth keypoints plus Gaussian noise (``noise`` x IOD):
    isolates them from perception failures. No landmark depth is available this way, so the
    ``depth_gap`` cue is absent (contributes 0)."""
    from interanimate.data.annotate.calibration import ground_truth_tracks

    face, hands = ground_truth_tracks(gt, fps, noise, rng)
    with np.errstate(all="ignore"):
        frame = face_frame(np.nan_to_num(face))
        contact = detect_contact(frame, face, gt.face_present, hands, None, gt.hand_present, fps, (size, size),
                                 models()[0])
        best = strongest(recognise_episodes(frame, contact, hands, fps, models()[1]))
    return contact, best


def accuracy(num_subjects: int, size: int, num_frames: int, seed: int, ground_truth_noise: float | None = None) -> None:
    from interanimate.data.synth import ClipSpec, render_clip

    config = AnnotateConfig(max_side=size)
    rng = np.random.default_rng(seed)
    tp = fp = fn = 0
    hover_frames = hover_fp = 0
    nme, confusion = [], Counter()
    perceived_faces = perceived_hands = total_hand_frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        for subject in range(num_subjects):
            for pattern in PATTERN_NAMES:
                clip = render_clip(ClipSpec(seed=seed, subject_index=1000 + subject, pattern=pattern,
                                            num_frames=num_frames, size=size))
                gt = clip.annotations
                if ground_truth_noise is not None:
                    contact, best = from_ground_truth(gt, clip.record.fps, size, ground_truth_noise, rng)
                    tracks = type("T", (), {"face_present": gt.face_present, "hand_found": gt.hand_present,
                                            "landmarks": gt.face_keypoints})
                else:
                    path = Path(tmp) / "clip.mp4"
                    path.write_bytes(encode_video(clip.frames, clip.record.fps))
                    analysis, _, _ = run_stages(path, config)
                    tracks, contact, best = analysis.tracks, analysis.contact, analysis.strongest
                perceived_faces += int(tracks.face_present.sum())
                total_hand_frames += int(gt.hand_present.sum())
                perceived_hands += int((tracks.hand_found & gt.hand_present).sum())
                both = tracks.face_present & gt.face_present
                if both.any():
                    iod = np.linalg.norm(gt.face_keypoints[both, 36:42].mean(1) - gt.face_keypoints[both, 42:48].mean(1), axis=-1)
                    err = np.linalg.norm(tracks.landmarks[both] - gt.face_keypoints[both], axis=-1).mean(1) / iod
                    nme.extend(err.tolist())
                pred, true = contact.contact, gt.contact
                tp += int((pred & true).sum())
                fp += int((pred & ~true).sum())
                fn += int((~pred & true).sum())
                # Hover: a ground-truth fingertip projects inside the face outline but nothing touches.
                outline = face_outline(gt.face_keypoints.astype(np.float64))
                for f in range(len(true)):
                    for h in range(2):
                        if not gt.hand_present[f, h] or true[f, h] or not gt.face_present[f]:
                            continue
                        tips = gt.hand_keypoints[f, h, [4, 8, 12, 16, 20], :2]
                        if (signed_distance(tips, outline[f]) > 0).any():
                            hover_frames += 1
                            hover_fp += int(pred[f, h])
                confusion[(pattern, best.pattern if best else "none")] += 1
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    n = num_subjects * len(PATTERN_NAMES)
    correct = sum(v for (a, b), v in confusion.items() if a == b)
    family = sum(v for (a, b), v in confusion.items() if b != "none" and a.split("_")[0] == b.split("_")[0])
    source = "MediaPipe on the renders" if ground_truth_noise is None else f"ground-truth keypoints + {ground_truth_noise:.0%} IOD noise"
    print(f"\n## synthetic accuracy ({source}): {n} clips ({num_subjects} subjects x 18 patterns, {num_frames} frames, {size}px)")
    print(f"  perception: face found in {perceived_faces} frames; hands found in {perceived_hands}/{total_hand_frames} "
          f"ground-truth hand frames ({perceived_hands / max(1, total_hand_frames):.0%})")
    print(f"  face NME (iBUG-68 / IOD): {np.mean(nme):.3f}")
    print(f"  contact per frame and hand: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f} "
          f"(tp {tp}, fp {fp}, fn {fn})")
    print(f"  hand in front of the face without touching: {hover_fp}/{hover_frames} frames flagged as contact "
          f"({hover_fp / max(1, hover_frames):.1%})")
    print(f"  pattern accuracy: {correct}/{n} = {correct / n:.1%}; family accuracy {family / n:.1%}; "
          f"unlabelled {sum(v for (a, b), v in confusion.items() if b == 'none')}")
    print("  confusions (true -> predicted: count):")
    for (a, b), v in sorted(confusion.items(), key=lambda kv: -kv[1]):
        if a != b:
            print(f"    {a} -> {b}: {v}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="real video for the speed test (e.g. Megamind.avi)")
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ground-truth-noise", type=float, default=None,
                        help="also run the contact/pattern stages on ground-truth keypoints with this noise (x IOD)")
    parser.add_argument("--hand-set", action="store_true", help="measure the unfitted hand-set models instead")
    parser.add_argument("--repeat", type=int, default=1, help="speed: analyse the video this many times (after a warm-up)")
    args = parser.parse_args()
    if args.hand_set:
        MODELS.update(contact=ContactModel.hand_set(), pattern=RulePatternModel())
    if args.video:
        speed(args.video, args.repeat)
    if args.subjects > 0:
        accuracy(args.subjects, args.size, args.frames, args.seed)
        if args.ground_truth_noise is not None:
            accuracy(args.subjects, args.size, args.frames, args.seed, args.ground_truth_noise)


if __name__ == "__main__":
    main()
