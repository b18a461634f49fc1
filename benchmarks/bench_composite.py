"""Speed of the composite renderer: milliseconds per frame for each stage, frames per second, peak memory.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_composite.py [--size 512] [--frames 16] [--patterns ...] [--cpu-time]

One process, one thread: the matplotlib Grace Hopper portrait (512 px at the face framing) × one pattern per family,
rendered once to compile the numba kernels and fill caches, then timed. Stages are those of
``render_composite`` (``face``: lifting the mesh, per photo and cached by the pipeline; ``plan``: the synthetic
actor's choreography; then per frame ``contact``, ``warp``, ``shadow``, ``hand`` with motion blur and noise,
``labels``), plus the watermark and the MP4 encoding. Peak memory is the process's peak RSS. ``--cpu-time`` times
everything with this process's CPU clock instead of the wall clock: on a machine shared with other jobs, the time
the renderer itself used.
"""

from __future__ import annotations

import argparse
import resource
import time

PATTERNS = ("poke_cheek_left", "pinch_chin", "stroke_forehead", "swipe_mouth_leftward")


def main() -> None:
    import matplotlib.cbook

    from interanimate import provenance
    from interanimate.data.io import encode_video
    from interanimate.render.composite import render_composite
    from interanimate.render.composite.face import build_face
    from interanimate.render.composite.photo import load_photo

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--patterns", nargs="+", default=list(PATTERNS), help="patterns to time (one clip each)")
    parser.add_argument("--cpu-time", action="store_true", help="time with the process's CPU clock (shared machines)")
    args = parser.parse_args()
    if args.cpu_time:  # every stage timer (the renderer's own included) reads time.perf_counter
        time.perf_counter = time.process_time
    photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    reference = load_photo(photo, args.size, "face")
    start = time.perf_counter()
    face = build_face(reference.image, reference.mesh)
    face_s = time.perf_counter() - start
    render_composite(reference, args.patterns[0], 8, 25.0, 0, face=face)  # warm-up: numba compilation, caches
    totals: dict[str, float] = {}
    frames = 0
    watermark_s = encode_s = 0.0
    wall = time.perf_counter()
    for i, pattern in enumerate(args.patterns):
        clip = render_composite(reference, pattern, args.frames, 25.0, seed=i, face=face)
        for stage, seconds in clip.timings.items():
            if stage == "face":  # the face was given: built once above
                continue
            totals[stage] = totals.get(stage, 0.0) + seconds
        t = time.perf_counter()
        marked = provenance.embed_watermark(clip.frames)
        watermark_s += time.perf_counter() - t
        t = time.perf_counter()
        encode_video(marked, 25.0)
        encode_s += time.perf_counter() - t
        frames += len(clip.frames)
    wall = time.perf_counter() - wall
    totals["watermark"], totals["encode"] = watermark_s, encode_s
    height, width = reference.image.shape[:2]
    print(f"composite renderer, {width}x{height}, {len(args.patterns)} clips x {args.frames} frames, one thread")
    print(f"{'stage':<10} {'ms/frame':>9}")
    for stage, seconds in totals.items():
        print(f"{stage:<10} {1e3 * seconds / frames:>9.1f}")
    print(f"{'face':<10} {1e3 * face_s:>9.1f}  (once per photo)")
    print(f"total: {frames / wall:.2f} frames/s ({1e3 * wall / frames:.0f} ms/frame incl. plan, watermark, encode)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
