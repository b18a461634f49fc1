"""The ``sd15`` preset at its real size: training-step time and peak memory per stage and precision, then sampling.

    python benchmarks/bench_sd15.py --device cuda                  # SD-1.5 / AnimateDiff architecture, random weights
    python benchmarks/bench_sd15.py --device cuda model.pretrained.sd_path=/models/sd15 \\
        model.pretrained.motion_adapter_path=/models/motion_adapter   # the published weights (the same timing)
    HF_HUB_OFFLINE=1 python benchmarks/bench_sd15.py --preset tiny --architecture preset --steps 1 --sample-steps 2

Without ``model.pretrained.sd_path`` the UNet, ReferenceNet and VAE are built with SD-1.5's architecture and the
motion modules with AnimateDiff's (``SD15_ARCHITECTURE``), all with seeded random weights: time and memory do not
depend on the weights' values. ``--architecture preset`` builds the preset's own from-scratch architecture instead
(a quick CPU check of this script). The model takes the composite conditions (``model.composite_conditions=true``,
the refine setting) unless ``--no-composite``.

Training rows: forward + backward + AdamW step on a random batch of the preset's shape (``train.batch_size`` clips of
``data.num_frames`` frames at ``data.resolution``; stage 1 trains on single frames), gradient checkpointing as the
preset says, in float32 and under bf16 autocast with float32 weights and optimiser states (what
``train.mixed_precision=bf16`` does through accelerate). The first step warms up and is not timed.
Sampling rows: one clip of ``data.num_frames`` frames, ``--sample-steps`` DDIM steps at the preset's guidance: the
plain loop (float32, nothing cached, guidance every step), the default ``SamplingSpeed()``, and the default started
from a composite at strength 0.6 (``animate --renderer refine --strength 0.6``'s SDEdit start).
Peak memory is the CUDA allocator's peak for that row (weights included); on CPU it is the process's peak RSS so far.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from bench_model import time_training_steps  # benchmarks/ is on the path when a script there runs

from interanimate.diffusion import NoiseSchedule
from interanimate.diffusion.sampler import sample
from interanimate.models import InterAnimateModel
from interanimate.pipelines.interanimate_pipeline import PLAIN_SPEED, InterAnimatePipeline, SamplingSpeed
from interanimate.training.batch import random_batch
from interanimate.training.config import load_config

# SD-1.5's UNet (859.5 M parameters) and VAE (83.7 M), AnimateDiff's motion modules (8 heads, 32 positions, a mid
# block), as config overrides of the from-scratch builder; the published configs' values.
SD15_ARCHITECTURE = [
    "model.pretrained.required=false",
    "model.unet.block_out_channels=[320,640,1280,1280]",
    "model.unet.down_block_types=[CrossAttnDownBlock2D,CrossAttnDownBlock2D,CrossAttnDownBlock2D,DownBlock2D]",
    "model.unet.up_block_types=[UpBlock2D,CrossAttnUpBlock2D,CrossAttnUpBlock2D,CrossAttnUpBlock2D]",
    "model.unet.layers_per_block=2",
    "model.unet.attention_head_dim=8",
    "model.unet.cross_attention_dim=768",
    "model.unet.norm_num_groups=32",
    "model.unet.motion_num_attention_heads=8",
    "model.unet.motion_max_seq_length=32",
    "model.unet.use_motion_mid_block=true",
    "model.vae.block_out_channels=[128,256,512,512]",
    "model.vae.layers_per_block=2",
    "model.vae.latent_channels=4",
    "model.vae.norm_num_groups=32",
    "model.vae.scaling_factor=0.18215",
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _millions(module) -> float:
    return 0.0 if module is None else sum(p.numel() for p in module.parameters()) / 1e6


def _batch(config, frames: int, device: torch.device, composite: bool) -> dict:
    batch = random_batch(config.train.batch_size, frames, config.data.resolution,
                         config.model.id_preserver.embedding_dim)
    if composite:  # composite RGB in [-1, 1], then its hand and contact masks (data.composite_pairs' layout)
        g = torch.Generator().manual_seed(1)
        shape = batch["pixel_values"].shape
        rgb = torch.rand(shape, generator=g) * 2 - 1
        batch["conditions"] = torch.cat([batch["conditions"], rgb, batch["hand_mask"], batch["contact_mask"]], 1)
    return {k: v.to(device) for k, v in batch.items()}


def training_rows(model, config, device: torch.device, stages: list[int], precisions: list[str], steps: int,
                  composite: bool) -> None:
    schedule = NoiseSchedule.from_config(config.scheduler)
    print(f"\ntraining: batch {config.train.batch_size}, {config.data.num_frames} frames (stage 2) at "
          f"{config.data.resolution} px, gradient checkpointing {config.train.gradient_checkpointing}, AdamW, "
          f"{steps} timed steps after one warm-up", flush=True)
    print("| stage | precision | frames | trainable M | step s | clips/s | peak GiB |\n|---|---|---|---|---|---|---|")
    for stage in stages:
        for precision in precisions:
            frames = 1 if stage == 1 else config.data.num_frames
            batch = _batch(config, frames, device, composite)
            _reset_peak(device)
            trainable, step_s = time_training_steps(model, batch, config, schedule, stage, steps,
                                                    bf16_autocast=precision == "bf16")
            names = set(trainable)
            n_trainable = sum(p.numel() for n, p in model.named_parameters() if n in names) / 1e6
            print(f"| {stage} | {precision} | {frames} | {n_trainable:.1f} | {step_s:.3f} | "
                  f"{config.train.batch_size / step_s:.2f} | {_peak_gib(device):.1f} |", flush=True)
            del batch
            model.zero_grad(set_to_none=True)


def sampling_rows(model, config, device: torch.device, steps: int, composite: bool, repeats: int) -> None:
    model.requires_grad_(False)
    frames, size = config.data.num_frames, config.data.resolution
    pipe = InterAnimatePipeline.from_model(model, prediction_type=config.loss.prediction_type, resolution=size,
                                           window_frames=frames, guidance_scale=config.sampler.guidance_scale)
    batch = _batch(config, frames, device, composite)
    guidance = config.sampler.guidance_scale
    schedule = NoiseSchedule.from_config(config.scheduler)
    rows = [("plain (float32, nothing cached)", PLAIN_SPEED, 1.0), ("default", SamplingSpeed(), 1.0),
            ("default, from the composite at strength 0.6", SamplingSpeed(), 0.6)]
    print(f"\nsampling: one clip of {frames} frames at {size} px, {steps} DDIM steps, guidance {guidance}, best of "
          f"{repeats} after one warm-up", flush=True)
    print("| setting | seconds | frames/s | speed-up | peak GiB |\n|---|---|---|---|---|")
    plain = None
    for name, speed, strength in rows:
        options = speed.sampler_options(pipe, frames)
        _reset_peak(device)
        best = float("inf")
        for _ in range(repeats + 1):
            start = time.perf_counter()
            with torch.no_grad():
                sample(model, batch["reference_pixel_values"], batch["conditions"], [0] * batch["conditions"].shape[0],
                       schedule=schedule, pattern_id=batch["pattern_id"],
                       identity_embedding=batch["identity_embedding"], num_inference_steps=steps,
                       guidance_scale=guidance, prediction_type=config.loss.prediction_type,
                       init_pixel_values=batch["pixel_values"] if strength < 1 else None, strength=strength,
                       **options)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        plain = plain or best
        print(f"| {name} | {best:.2f} | {frames / best:.2f} | {plain / best:.2f}x | {_peak_gib(device):.1f} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="sd15")
    parser.add_argument("--architecture", choices=("sd15", "preset"), default="sd15",
                        help="sd15: SD-1.5 / AnimateDiff shapes with random weights when no sd_path is given; "
                             "preset: the preset's own from-scratch shapes")
    parser.add_argument("--no-composite", action="store_true", help="the 9 condition channels only")
    parser.add_argument("--stage", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--precision", nargs="+", choices=("bf16", "fp32"), default=["bf16", "fp32"])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per row")
    parser.add_argument("--sample-steps", type=int, default=25, help="DDIM steps per sampled clip")
    parser.add_argument("--repeats", type=int, default=1, help="timed sampling runs per row (the best counts)")
    parser.add_argument("--no-sampling", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("overrides", nargs="*", help="config overrides, key=value")
    args = parser.parse_args()

    overrides = list(args.overrides)
    real_weights = any(o.startswith("model.pretrained.sd_path=") for o in overrides)
    if args.architecture == "sd15" and not real_weights:
        overrides = SD15_ARCHITECTURE + overrides
    composite = not args.no_composite
    overrides.append(f"model.composite_conditions={str(composite).lower()}")
    config = load_config(args.preset, overrides)
    device = torch.device(args.device)
    torch.manual_seed(config.train.seed)
    start = time.perf_counter()
    with torch.device(device):  # built where it runs: random initialisation of ~2 G parameters is slow on a CPU
        model = InterAnimateModel.from_config(config.model, sample_size=config.data.resolution)
    model.to(device)
    if config.train.gradient_checkpointing:
        for module in (model.unet, model.reference_net, model.vae):
            module.enable_gradient_checkpointing()
    _sync(device)
    weights = "published weights" if real_weights else "random weights"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"preset {args.preset}, {args.architecture if not real_weights else 'sd15'} architecture, {weights}, "
          f"composite conditions {composite}, built in {time.perf_counter() - start:.1f} s on {name}, torch "
          f"{torch.__version__}")
    motion = sum(p.numel() for n, p in model.unet.named_parameters() if "motion_modules" in n) / 1e6
    print(f"parameters (M): UNet {_millions(model.unet) - motion:.1f} + motion modules {motion:.1f}, ReferenceNet "
          f"{_millions(model.reference_net):.1f}, VAE {_millions(model.vae):.1f}, pose guider "
          f"{_millions(model.pose_guider):.2f}, interaction {_millions(model.interaction):.2f}, ID preserver "
          f"{_millions(model.id_preserver):.2f}", flush=True)
    training_rows(model, config, device, args.stage, args.precision, args.steps, composite)
    if not args.no_sampling:
        sampling_rows(model, config, device, args.sample_steps, composite, args.repeats)


if __name__ == "__main__":
    main()
