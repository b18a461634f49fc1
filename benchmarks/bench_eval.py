"""Evaluation throughput per metric group on CPU, with peak memory.

Each group runs in a fresh subprocess so its peak resident memory (``ru_maxrss``) is its own.
Backbones run with random weights (throughput does not depend on the weight values).

    python benchmarks/bench_eval.py                     # all groups, default sizes
    python benchmarks/bench_eval.py --size 256 --frames 32 --threads 2
    python benchmarks/bench_eval.py --group pixel       # one group in-process
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

GROUPS = ("pixel", "temporal", "anatomy", "identity_dlib", "frechet", "fid_inception", "fvd_i3d", "lpips_alex")


def _video(num_frames: int, size: int, seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    tex = ndimage.gaussian_filter(rng.random((size + 4 * num_frames, size + 8, 3)), (2, 2, 0))
    tex = ((tex - tex.min()) / (tex.max() - tex.min()) * 255).astype(np.uint8)
    return np.stack([tex[4 * t: 4 * t + size, :size] for t in range(num_frames)])


def _timed(fn, units: int) -> dict:
    fn()  # warm-up (allocations, lazy imports, first-call overheads)
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "units": units, "per_second": units / seconds}


def run_group(group: str, size: int, frames: int) -> dict:
    import torch

    video = _video(frames, size)
    noisy = np.clip(video.astype(np.int16) + 8, 0, 255).astype(np.uint8)
    if group == "pixel":
        from interanimate.evaluation import pixel

        result = _timed(lambda: pixel.video_pixel_scores(noisy, video), frames)
        unit = "frames (SSIM+PSNR+L1, whole frame)"
    elif group == "temporal":
        from interanimate.evaluation import temporal

        result = _timed(lambda: temporal.temporal_scores(video), frames)
        unit = "frames (DIS flow both ways + warping error + flicker)"
    elif group == "anatomy":
        from interanimate.evaluation import anatomy

        n = 1000
        rng = np.random.default_rng(0)
        hands = np.concatenate([rng.uniform(0, size, (n, 2, 21, 2)), np.ones((n, 2, 21, 1))], -1)
        faces = rng.uniform(0, size, (n, 68, 2))

        def go():
            anatomy.hand_pck(hands, hands + 1)
            anatomy.face_nme(faces, faces + 1)
            anatomy.bone_length_stability(hands)
            anatomy.hand_detection_rate(np.ones((n, 2), bool), np.ones((n, 2), bool))
            anatomy.contact_scores(np.ones((n, 2), bool), np.ones((n, 2), bool), tolerance=2)

        result = _timed(go, n)
        unit = "frames (PCK + NME + bone CV + detection + contact)"
    elif group == "identity_dlib":
        from interanimate.evaluation.backbones import DlibFaceDescriptor

        embed = DlibFaceDescriptor()
        box = np.array([size * 0.25, size * 0.2, size * 0.75, size * 0.8])
        n = min(frames, 8)
        result = _timed(lambda: embed.embed_video(video[:n], np.tile(box, (n, 1))), n)
        unit = "faces (68-pt alignment + 128-d descriptor)"
    elif group == "frechet":
        from interanimate.evaluation import frechet

        rng = np.random.default_rng(0)
        a, b = rng.normal(size=(2000, 2048)), rng.normal(size=(2000, 2048))
        sa, sb = frechet.FeatureStats.from_features(a), frechet.FeatureStats.from_features(b)
        result = _timed(lambda: frechet.frechet_distance(sa.mean, sa.cov, sb.mean, sb.cov), 1)
        result["stats_seconds_2000x2048"] = _timed(lambda: frechet.FeatureStats.from_features(a), 2000)["seconds"]
        unit = "distances (2048-d, eigh method)"
    elif group == "fid_inception":
        from interanimate.evaluation.backbones import FIDInceptionV3

        model = FIDInceptionV3()
        batch = torch.from_numpy(video[:8]).permute(0, 3, 1, 2).float() / 255
        result = _timed(lambda: model(batch), batch.shape[0])
        unit = "frames (resize to 299, pool3)"
    elif group == "fvd_i3d":
        from interanimate.evaluation.backbones import InceptionI3D

        model = InceptionI3D()
        clip = torch.from_numpy(video[:16]).permute(3, 0, 1, 2)[None].float() / 255  # (1, 3, 16, h, w)
        if clip.shape[2] < 16:
            clip = clip.repeat(1, 1, 16 // clip.shape[2] + 1, 1, 1)[:, :, :16]
        result = _timed(lambda: model(clip), 16)
        unit = "frames (16-frame clips at 224, logits)"
    elif group == "lpips_alex":
        from interanimate.evaluation.backbones import LPIPSAlex

        model = LPIPSAlex()
        x = torch.from_numpy(video[:8]).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = torch.from_numpy(noisy[:8]).permute(0, 3, 1, 2).float() / 127.5 - 1
        result = _timed(lambda: model(x, y), x.shape[0])
        unit = "frame pairs"
    else:
        raise SystemExit(f"unknown group {group!r}; choose from {', '.join(GROUPS)}")
    result["unit"] = unit
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", choices=GROUPS, help="run one group in this process")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    parser.add_argument("--frames", type=int, default=16, help="frames per video")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads")
    parser.add_argument("--json", action="store_true", help="print one JSON line (used for subprocesses)")
    args = parser.parse_args()

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.group:
        result = run_group(args.group, args.size, args.frames)
        print(json.dumps(result) if args.json else result)
        return
    print(f"frames {args.size}x{args.size} RGB, {args.frames} per video, {args.threads} thread(s), torch {torch.__version__}")
    print(f"{'group':<15} {'throughput':>14}  {'peak RSS':>10}  unit")
    for group in GROUPS:
        cmd = [sys.executable, __file__, "--group", group, "--size", str(args.size), "--frames", str(args.frames),
               "--threads", str(args.threads), "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{group:<15} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{group:<15} {r['per_second']:>12.2f}/s  {r['peak_rss_mib']:>7.0f} MiB  {r['unit']}")


if __name__ == "__main__":
    main()
