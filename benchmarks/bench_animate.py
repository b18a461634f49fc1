"""Sampling speed of `animate`: the plain loop against the default settings, in one run, on one clip.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/bench_animate.py               # shipped small checkpoint
    python benchmarks/bench_animate.py --ablation        # also each switch on its own, added one at a time
    python benchmarks/bench_animate.py --checkpoint RUN --frames 16 --steps 20 --device cuda
    python benchmarks/bench_animate.py --quality --out /tmp/guard   # the quality guard on the demo's held-out clips
    python benchmarks/bench_animate.py --quality --ablation --clips 2 --out /tmp/guard   # also the alternative row
    python benchmarks/bench_animate.py --renderer refine --size 256 --repeats 1   # composite + refine, untrained model

The clip is the astronaut photo × ``poke_cheek_left`` (16 frames, 20 DDIM steps, guidance as the checkpoint says).
Timed per setting (the best of ``--repeats``, the settings interleaved): the clip's constant inputs (reference encoding
and ReferenceNet, and — when cached — pose guider, interaction latents, masks, identity tokens), the denoising loop,
and VAE decoding.
The **plain** loop is how sampling used to run: windows of the trained clip length overlapping by half, one model
call per window, the pose guider and interaction conditioning recomputed in every call, the reference tokens
projected in every attention call, guidance at every step, float32. The **default** is ``SamplingSpeed()`` (see
``interanimate.pipelines.interanimate_pipeline``).
``--renderer refine`` times the whole render-then-refine path instead: the composite renderer (timed once; it is
the same for both settings) and the refine model under plain and default settings, at ``--size``, on the
``small-refine`` preset built with random, untrained weights (timing does not depend on them).
Peak memory is the growth of the process's peak RSS while one setting samples (each runs in a forked child), or
the CUDA allocator's peak on GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import multiprocessing
import resource
import time
from pathlib import Path

import torch


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _time_setting(pipe, inputs: dict, speed, steps: int, repeats: int, device: torch.device) -> dict:
    """Best-of-``repeats`` stage times of one setting."""
    from interanimate.diffusion.sampler import GuidedDenoiser, _initial_noise, denoise

    model = pipe.model
    conditions = inputs["conditions"]
    num_frames = conditions.shape[2]
    options = speed.sampler_options(pipe, num_frames)
    factor = model.latent_scale_factor
    shape = (model.unet.config.in_channels, num_frames, conditions.shape[-2] // factor, conditions.shape[-1] // factor)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    best: dict[str, float] = {}
    for _ in range(repeats):
        times = {}
        with torch.no_grad():
            start = time.perf_counter()
            generators = [torch.Generator().manual_seed(0)]
            latents = _initial_noise(shape, generators, device)
            denoiser = GuidedDenoiser(model, inputs["reference"], conditions, pattern_id=inputs["pattern_id"],
                                      identity_embedding=inputs["identity"], guidance_scale=pipe.config.guidance_scale,
                                      use_motion_modules=pipe.config.use_motion_modules,
                                      num_train_timesteps=pipe.scheduler.config.num_train_timesteps, **options)
            sync()
            times["clip inputs"] = time.perf_counter() - start
            start = time.perf_counter()
            latents = denoise(denoiser, latents, pipe.scheduler_for("ddim"), steps, generators)
            sync()
            times["denoising"] = time.perf_counter() - start
            start = time.perf_counter()
            model.decode(latents)
            sync()
            times["decode"] = time.perf_counter() - start
        times["total"] = sum(times.values())
        if not best or times["total"] < best["total"]:
            best = times
    best["windows"] = len(denoiser.windows)
    return best


def _child(measure, device: torch.device, queue) -> None:
    base = _rss_mib()
    result = measure()
    result["peak MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    queue.put(result)


def measured(measure, device: torch.device) -> dict:
    """``measure()``'s dict plus its peak memory: in a forked child on CPU (so each setting's peak RSS is its own),
    in this process with the CUDA allocator's peak on GPU (CUDA does not survive fork)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        result = measure()
        result["peak MiB"] = torch.cuda.max_memory_allocated(device) / 2**20
        return result
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(measure, device, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def run_setting(pipe, inputs, speed, steps, repeats, device) -> dict:
    return measured(functools.partial(_time_setting, pipe, inputs, speed, steps, repeats, device), device)


def untrained_refine_checkpoint(size: int, folder: Path, device: torch.device):
    """The ``small-refine`` preset at ``size`` px with random (seeded, untrained) weights: only for timing, which
    does not depend on the weights' values."""
    from interanimate.models import InterAnimateModel
    from interanimate.pipelines.checkpoint_loader import load_checkpoint
    from interanimate.training.config import load_config, save_config

    config = load_config("small-refine", [f"data.resolution={size}"])
    torch.manual_seed(0)
    InterAnimateModel.from_config(config.model, sample_size=size).save_pretrained(folder)
    save_config(config, folder / "config.yaml")
    return load_checkpoint(folder, device)


def _time_refine(ckpt, request, rendered, speed, steps: int, strength: float, device: torch.device) -> dict:
    """One refine call under ``speed`` with the composite stage replaced by its already rendered result (timed
    once, outside): ``sampling`` is the model's part (reference, denoising, decoding), ``total`` all but the
    composite."""
    from interanimate.render.refine import RefinePipeline

    pipe = RefinePipeline(ckpt, strength=strength, num_inference_steps=steps, speed=speed)
    pipe.composite = lambda _request: rendered
    times: dict[str, float] = {}
    generate = pipe.model.generate_frames

    def timed_generate(*args, **kwargs):
        start = time.perf_counter()
        frames = generate(*args, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times["sampling"] = time.perf_counter() - start
        return frames

    pipe.model.generate_frames = timed_generate
    start = time.perf_counter()
    pipe(request)
    times["total"] = time.perf_counter() - start
    return times


def refine_benchmark(args, device: torch.device) -> None:
    """``--renderer refine``: composite, then the refine model, plain against default sampling, at ``--size``."""
    import tempfile

    from interanimate.pipelines import AnimateRequest
    from interanimate.pipelines.interanimate_pipeline import PLAIN_SPEED, SamplingSpeed
    from interanimate.render.refine import RefinePipeline

    from skimage import data

    with tempfile.TemporaryDirectory() as folder:
        ckpt = untrained_refine_checkpoint(args.size, Path(folder) / "model", device)
    request = AnimateRequest(reference=data.astronaut(), reference_name="astronaut", pattern="poke_cheek_left",
                             num_frames=args.frames, seed=0)
    composite = RefinePipeline(ckpt, strength=args.strength).composite  # the renderer refine uses
    composite(request)  # warms MediaPipe and dlib
    composite_s = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        rendered = composite(request)
        composite_s.append(time.perf_counter() - start)
    print(f"small-refine preset at {args.size}x{args.size}, UNTRAINED random weights (seed 0; timing does not depend "
          f"on the weights), {args.frames} frames, {args.steps} DDIM steps, strength {args.strength}, guidance "
          f"{ckpt.pipeline.config.guidance_scale}, trained window {ckpt.window_frames}, torch threads "
          f"{torch.get_num_threads()}, device {device}")
    settings = [("plain", PLAIN_SPEED), ("default", SamplingSpeed())]
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, speed in settings:
            result = measured(functools.partial(_time_refine, ckpt, request, rendered, speed, args.steps,
                                                args.strength, device), device)
            if name not in best or result["total"] < best[name]["total"]:
                best[name] = result
    stage = min(composite_s)
    plain = best["plain"]
    print(f"\ncomposite stage (the same for both): {stage:.2f} s (best of {args.repeats})")
    print("| setting | composite s | sampling s | end to end s | sampling speed-up | end-to-end speed-up | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, r in best.items():
        print(f"| {name} | {stage:.2f} | {r['sampling']:.2f} | {stage + r['total']:.2f} | "
              f"{plain['sampling'] / r['sampling']:.2f}x | {(stage + plain['total']) / (stage + r['total']):.2f}x | "
              f"{r['peak MiB']:.0f} |")


def _alternative():
    from interanimate.pipelines.interanimate_pipeline import SamplingSpeed

    return ("default, deep-feature reuse every 3 steps (not the default)", SamplingSpeed(deep_cache_interval=3))


GUARD_METRICS = ("SSIM (frame)", "PSNR dB (frame)", "identity distance (dlib)", "hand detection rate", "hand PCK")


def quality_guard(ckpt, settings: list[tuple[str, object]], out: Path, num_clips: int, steps: int) -> None:
    """``make demo``'s held-out clips (its dataset, seed 0) re-generated from their first frame and labels under each
    setting, scored against the ground truth by ``evaluate``; prints one row per setting."""
    from interanimate.data.manifest import read_manifest
    from interanimate.data.synth import generate_dataset
    from interanimate.data.writer import DatasetWriter
    from interanimate.demo import first_frame_reference
    from interanimate.evaluation.redetect import AnnotatorRedetector
    from interanimate.evaluation.runner import EvaluateConfig, evaluate
    from interanimate.pipelines import AnimatePipeline, AnimateRequest
    from interanimate.pipelines.animate_pipeline import PRODUCER

    dataset = out / "dataset"
    if not (dataset / "manifest.jsonl").is_file():
        generate_dataset(dataset, num_subjects=4, clips_per_pattern=1, num_frames=16, size=64, seed=0, progress=True)
    clips = [r for r in read_manifest(dataset) if r.split == "test"][:num_clips]
    rows, unmeasured = {}, {}
    for name, speed in settings:
        pipe = AnimatePipeline(ckpt, num_inference_steps=steps, speed=speed)
        generated = out / name.replace(" ", "-")
        writer = DatasetWriter(generated, PRODUCER, "bench")
        try:
            for i, record in enumerate(clips):
                if writer.has_clip(f"gen-{record.clip_id}"):
                    continue
                result = pipe(AnimateRequest(reference=first_frame_reference(dataset, record),
                                             reference_name=record.clip_id, driving=dataset / "clips" / record.clip_id,
                                             seed=100 + i))
                writer.write_clip(pipe.record(result, clip_id=f"gen-{record.clip_id}"), result.frames,
                                  result.annotations, video_metadata=result.metadata)
        finally:
            writer.finalize()
        evaluation = evaluate(generated, dataset, EvaluateConfig(cache_dir=str(out / "cache")),
                              redetector=AnnotatorRedetector(), progress=False)
        rows[name] = evaluation.summary
        unmeasured.update({m: why for m, why in evaluation.unmeasured.items() if m in GUARD_METRICS})
    print(f"\nquality guard: {len(clips)} held-out clips of the demo dataset, {steps} DDIM steps")
    print("| setting | " + " | ".join(GUARD_METRICS) + " |")
    print("|---|" + "---|" * len(GUARD_METRICS))
    first = next(iter(rows.values()))
    for name, summary in rows.items():
        cells = []
        for metric in GUARD_METRICS:
            value, base = summary.get(metric), first.get(metric)
            cell = "n/a" if value is None else f"{value:.4f}"
            if value is not None and base is not None and summary is not first:
                cell += f" ({value - base:+.4f})"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")
    for metric, why in unmeasured.items():
        print(f"n/a {metric}: {why}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model (pipeline, run, final/, step-N/ or model folder); "
                                             "default: the shipped small-synth64")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="denoising steps")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ablation", action="store_true",
                        help="also time the switches added one at a time (with --quality: also guard the alternative "
                             "row)")
    parser.add_argument("--quality", action="store_true", help="run the quality guard instead of the timing")
    parser.add_argument("--clips", type=int, default=4, help="held-out clips for --quality")
    parser.add_argument("--out", default="bench_animate_out", help="working folder for --quality")
    parser.add_argument("--renderer", choices=("diffusion", "refine"), default="diffusion",
                        help="refine: the composite + refine path on an untrained small-refine model at --size")
    parser.add_argument("--size", type=int, default=256, help="frame size for --renderer refine")
    parser.add_argument("--strength", type=float, default=1.0, help="SDEdit strength for --renderer refine")
    args = parser.parse_args()
    if args.renderer == "refine":
        refine_benchmark(args, torch.device(args.device))
        return

    from skimage import data

    from interanimate.pipelines import AnimatePipeline, AnimateRequest
    from interanimate.pipelines.checkpoint_loader import load_checkpoint
    from interanimate.pipelines.interanimate_pipeline import PLAIN_SPEED, SamplingSpeed
    from interanimate.taxonomy import PATTERN_IDS

    device = torch.device(args.device)
    checkpoint = Path(args.checkpoint) if args.checkpoint else \
        Path(__file__).resolve().parents[1] / "src" / "interanimate" / "checkpoints" / "small-synth64"
    ckpt = load_checkpoint(checkpoint, device)
    pipe = ckpt.pipeline
    if args.quality:
        settings = [("plain", PLAIN_SPEED), ("default", SamplingSpeed())] + ([_alternative()] if args.ablation else [])
        quality_guard(ckpt, settings, Path(args.out), args.clips, args.steps)
        return
    animate = AnimatePipeline(ckpt, num_inference_steps=args.steps)
    request = AnimateRequest(reference=data.astronaut(), reference_name="astronaut", pattern="poke_cheek_left",
                             num_frames=args.frames, seed=0)
    reference = animate.reference(request.reference, request.reference_name)
    result = animate(request)  # the clip's condition maps and identity (also warms MediaPipe, dlib, kernels)
    identity = result.annotations.identity_embedding
    inputs = {
        "reference": torch.from_numpy(reference.image).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(device),
        "conditions": torch.from_numpy(result.conditions).permute(1, 0, 2, 3)[None].to(device),
        "pattern_id": torch.tensor([PATTERN_IDS[request.pattern]], device=device),
        "identity": None if identity is None else torch.from_numpy(identity)[None].to(device),
    }
    print(f"{ckpt.path}: {ckpt.resolution}x{ckpt.resolution}, {args.frames} frames, {args.steps} DDIM steps, guidance "
          f"{pipe.config.guidance_scale}, trained window {ckpt.window_frames}, motion positions "
          f"{pipe.motion_positions}, torch threads {torch.get_num_threads()}, device {device}")

    default = SamplingSpeed()
    settings = [("plain", PLAIN_SPEED)]
    if args.ablation:
        steps_ = [("+ conditioning once per clip", dict(cache_conditions=True)),
                  ("+ windows in one batch", dict(batch_windows=True)),
                  ("+ one window (fits the motion modules)", dict(window_policy="fit")),
                  ("+ reference keys/values once per clip, single-key cross-attention",
                   dict(precompute_attention=default.precompute_attention)),
                  (f"+ guidance interval {default.guidance_interval}",
                   dict(guidance_interval=default.guidance_interval)),
                  (f"+ deep-feature reuse every {default.deep_cache_interval} steps",
                   dict(deep_cache_interval=default.deep_cache_interval)),
                  (f"+ cache depth: {default.deep_cache_layers} layer(s) of the last up block re-run",
                   dict(deep_cache_layers=default.deep_cache_layers)),
                  ("+ bf16 autocast, attention in float32",
                   dict(autocast=default.autocast, float32_attention=default.float32_attention))]
        current = PLAIN_SPEED
        for name, change in steps_:
            current = dataclasses.replace(current, **change)
            settings.append((name, current))
    settings.append(("default", default))
    if args.ablation:
        settings.append(_alternative())
    # Interleaved: every repeat runs each setting once, so a busy moment of a shared machine hits all of them.
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, speed in settings:
            result = run_setting(pipe, inputs, speed, args.steps, 1, device)
            if name not in best or result["total"] < best[name]["total"]:
                best[name] = result
    rows = [(name, speed, best[name]) for name, speed in settings]
    plain = rows[0][2]["total"]
    stages = ("clip inputs", "denoising", "decode")
    print(f"\n| setting | windows | {' | '.join(stages)} | total s | speed-up | peak MiB |")
    print("|---|---|" + "---|" * (len(stages) + 3))
    for name, _, r in rows:
        print(f"| {name} | {r['windows']} | " + " | ".join(f"{r[s]:.2f}" for s in stages) +
              f" | {r['total']:.2f} | {plain / r['total']:.2f}x | {r['peak MiB']:.0f} |")
    print(f"\ndefault vs plain: {plain / best['default']['total']:.2f}x faster ({default})")


if __name__ == "__main__":
    main()
