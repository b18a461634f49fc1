"""``interanimate demo``: the product's whole path, small enough for a CPU, with pictures to look at.

1. render a small labelled dataset of all 18 patterns with the procedural 3-D generator;
2. validate it against the InterHF contract, chart its statistics, pack it into training shards and
   stream a batch from them exactly as training does;
3. animate real photographs (scikit-image's astronaut, matplotlib's Grace Hopper) with one pattern per family:
   with the composite renderer (the photo itself, touched by a posed 3-D hand), and, for the astronaut, with
   the `small` checkpoint that ships with the package (trained on CPU on synthetic data; see docs/training.md)
   beside it, and render then refine one clip with the shipped `small-refine` checkpoint (the composite at 64 px,
   refined from its noised latents); check the provenance marks of the results;
4. re-generate held-out test clips from their first frame and their labels, and evaluate them against
   the ground truth (JSON + HTML report).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DEMO_PATTERNS = ("poke_cheek_left", "pinch_chin", "stroke_forehead", "swipe_mouth_rightward")
COMPOSITE_SIZE = 256  # the composite renderer's output size in the demo (it runs at the photo's resolution)
# Render then refine: the refine model starts from the composite noised to this strength (SDEdit), so only
# round(steps * strength) sampling steps run; one clip keeps the demo's added time to seconds on a CPU.
REFINE_STRENGTH = 0.6


def _demo_people() -> list[tuple[str, np.ndarray]]:
    """Licence-clean real portraits that ship with installed packages (both public domain)."""
    import cv2
    from matplotlib import cbook
    from skimage import data as skdata

    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))[..., ::-1]
    return [("astronaut", skdata.astronaut()), ("grace_hopper", np.ascontiguousarray(hopper))]


def default_checkpoint() -> Path:
    """The `small` checkpoint shipped inside the package for the demo."""
    return Path(__file__).resolve().parent / "checkpoints" / "small-synth64"


def default_refine_checkpoint() -> Path:
    """The `small-refine` checkpoint shipped inside the package (composite conditions; ``--renderer refine``)."""
    return Path(__file__).resolve().parent / "checkpoints" / "small-refine64"


def refine_clip(photo: np.ndarray, name: str, pattern: str, num_frames: int, steps: int, seed: int, videos: Path,
                checkpoint: Path | None = None) -> tuple[dict[str, Path], list[tuple[str, np.ndarray]]]:
    """Render then refine one clip of ``photo``: the written files (video, composite, labels, side-by-side) and
    the strip rows (the 64 px composite the model was given, the refined frames)."""
    from interanimate.pipelines import AnimateRequest
    from interanimate.render.refine import RefinePipeline

    pipe = RefinePipeline.from_checkpoint(checkpoint or default_refine_checkpoint(), strength=REFINE_STRENGTH,
                                          num_inference_steps=steps)
    result = pipe(AnimateRequest(reference=photo, reference_name=name, pattern=pattern, num_frames=num_frames,
                                 seed=seed))
    written = pipe.write(result, videos / f"{name}-{pattern}-refine.mp4", side_by_side=True)
    rows = [(f"{pattern}: composite at {pipe.size} px", result.composite_frames),
            (f"{pattern}: refined (strength {REFINE_STRENGTH})", result.frames)]
    return written, rows


def write_frame_strip(rows: list[tuple[str, np.ndarray]], path: Path, frames_per_row: int = 8) -> Path:
    """A PNG of labelled frame rows (each row: ``(label, (F, H, W, 3) uint8)``)."""
    import cv2

    from interanimate.data.images import spread_indices, text_tile, tile_rows, write_png

    picture_rows = []
    for label, frames in rows:
        row = tile_rows([list(frames[spread_indices(len(frames), frames_per_row)])])
        scale = max(1, 128 // row.shape[0])  # small clips are enlarged to stay visible
        row = cv2.resize(row, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        picture_rows += [[text_tile(label, 18, row.shape[1], (4, 13), 0.45, (255, 255, 255), 0)], [row]]
    return write_png(tile_rows(picture_rows), path)


def run_demo(out: Path, seed: int = 0, quick: bool = False, checkpoint: Path | None = None) -> str:
    """Run the demo into ``out`` and return a short summary of what was made and where."""
    from skimage import data as skdata
    from tqdm import tqdm

    from interanimate.data.dataset import collate_samples
    from interanimate.data.manifest import read_manifest
    from interanimate.data.pack import ShardDataset, pack_dataset
    from interanimate.data.stats import compute_stats, format_table, plot_stats
    from interanimate.data.synth import generate_dataset
    from interanimate.data.synth.preview import dataset_preview
    from interanimate.data.validate import validate_dataset
    from interanimate.data.writer import DatasetWriter
    from interanimate.evaluation.redetect import AnnotatorRedetector
    from interanimate.evaluation.report import write_report
    from interanimate.evaluation.runner import EvaluateConfig, evaluate
    from interanimate.pipelines import AnimatePipeline, AnimateRequest
    from interanimate.pipelines.animate_pipeline import PRODUCER
    from interanimate.provenance import check_file
    from interanimate.render.composite import CompositePipeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frames, steps = (8, 4) if quick else (16, 20)
    subjects = 2 if quick else 4

    dataset = out / "dataset"
    print(f"[1/6] rendering a labelled dataset ({subjects} subjects x 18 patterns, {frames} frames, 64 px)")
    generate_dataset(dataset, num_subjects=subjects, clips_per_pattern=1, num_frames=max(frames, 16), size=64,
                     seed=seed, progress=True)
    preview = dataset_preview(dataset)

    print("[2/6] validating it against the InterHF contract")
    report = validate_dataset(dataset, progress=True)
    if not report.ok:
        raise RuntimeError("the demo dataset failed validation:\n" + "\n".join(map(str, report.violations[:10])))
    stats = compute_stats(dataset)
    print(format_table(stats))
    chart = plot_stats(stats, out / "stats.png")

    print("[3/6] packing training shards and streaming a batch from them")
    shards = out / "shards"
    pack = pack_dataset(dataset, shards, clips_per_shard=32, progress=True)
    batch = collate_samples([s for s, _ in zip(ShardDataset(shards, num_frames=8, seed=seed, shuffle_buffer=8), range(4))])

    checkpoint = Path(checkpoint) if checkpoint else default_checkpoint()
    print(f"[4/6] animating real photos with one pattern per family: composite renderer, the diffusion "
          f"renderer ({checkpoint}), and render then refine ({default_refine_checkpoint()})")
    videos = out / "videos"
    videos.mkdir(exist_ok=True)
    patterns = DEMO_PATTERNS[:2] if quick else DEMO_PATTERNS
    people = _demo_people()[:1] if quick else _demo_people()
    composite = CompositePipeline(size=COMPOSITE_SIZE)
    composite_rows, composite_written = [], []
    jobs = [(name, photo, i, pattern) for name, photo in people for i, pattern in enumerate(patterns)]
    for name, photo, i, pattern in tqdm(jobs, desc="composite", unit="clip"):
        result = composite(AnimateRequest(reference=photo, reference_name=name, pattern=pattern, num_frames=frames,
                                          seed=seed + i))
        composite_written.append(composite.write(result, videos / f"{name}-{pattern}-composite.mp4"))
        composite_rows.append((f"{name} {pattern}: composite", result.frames))
    composite_strips = write_frame_strip(composite_rows, out / "composite_strips.png")
    pipe = AnimatePipeline.from_checkpoint(checkpoint, num_inference_steps=steps)
    rows, written = [], []
    for i, pattern in enumerate(tqdm(patterns, desc="animate", unit="clip")):
        result = pipe(AnimateRequest(reference=skdata.astronaut(), reference_name="astronaut", pattern=pattern,
                                     num_frames=frames, seed=seed + i))
        paths = pipe.write(result, videos / f"astronaut-{pattern}.mp4", side_by_side=True)
        written.append(paths)
        rows.append((f"{pattern}: generated", result.frames))
    strips = write_frame_strip(rows, out / "animate_strips.png")
    refined, refine_rows = refine_clip(skdata.astronaut(), "astronaut", patterns[0], frames, steps, seed, videos)
    refine_strips = write_frame_strip(refine_rows, out / "refine_strips.png")
    marks = check_file(written[0]["video"])
    refine_marks = check_file(refined["video"])
    composite_marks = check_file(composite_written[0]["video"])

    print("[5/6] re-generating held-out test clips from their first frame and labels")
    generated = out / "generated"
    test_clips = [r for r in read_manifest(dataset) if r.split == "test"][: 2 if quick else 4]
    writer = DatasetWriter(generated, PRODUCER, "demo")
    try:
        for i, record in enumerate(tqdm(test_clips, desc="re-generate", unit="clip")):
            if writer.has_clip(f"gen-{record.clip_id}"):
                continue
            result = pipe(AnimateRequest(reference=first_frame_reference(dataset, record),
                                         reference_name=record.clip_id, driving=dataset / "clips" / record.clip_id,
                                         seed=seed + 100 + i))
            writer.write_clip(pipe.record(result, clip_id=f"gen-{record.clip_id}"), result.frames, result.annotations,
                              video_metadata=result.metadata)
    finally:
        writer.finalize()

    print("[6/6] evaluating the generated clips against the ground truth")
    evaluation = evaluate(generated, dataset, EvaluateConfig(cache_dir=str(out / "cache")),
                          redetector=AnnotatorRedetector(), progress=True)
    json_path, html_path = write_report(evaluation, out / "report")
    headline = ", ".join(f"{k} {v:.3g}" for k, v in evaluation.summary.items()
                         if k in ("SSIM (frame)", "PSNR dB (frame)", "identity distance (dlib)", "face coverage",
                                  "hand PCK"))
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in batch.items() if hasattr(v, "shape") and v.ndim >= 4)
    return "\n".join([
        "",
        f"demo finished in {time.perf_counter() - started:.0f} s",
        f"  dataset     {dataset}  ({report.num_clips} clips, validated: OK)",
        f"  preview     {preview}  (a frame strip per pattern; red borders mark contact)",
        f"  stats       {chart}",
        f"  shards      {shards}  ({len(pack.shards)} shards; batch {shapes})",
        f"  videos      {videos}  ({len(composite_written)} composite MP4s of {len(people)} people; "
        f"{len(written)} diffusion MP4s with side-by-side conditions; 1 refined MP4 with its composite)",
        f"  composite   {composite_strips}  (the photos themselves, touched by a posed 3-D hand)",
        f"  strips      {strips}  (the shipped 64 px diffusion model on the same requests)",
        f"  provenance  {composite_marks.describe()}",
        f"  refine      {refine_strips}  (the shipped 64 px refine model on the composite it was given)",
        f"  provenance  {marks.describe()}",
        f"  provenance  {refine_marks.describe()}",
        f"  evaluation  {html_path}  ({headline})",
    ])


def first_frame_reference(dataset: Path, record) -> np.ndarray:
    """The clip's first frame as the reference photo, upsampled 2x: face detection wants faces of 40+ px."""
    import cv2

    from interanimate.data.io import decode_video
    from interanimate.data.manifest import clip_file

    frame = decode_video(clip_file(dataset, record, "video"), [0])[0]
    return cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
