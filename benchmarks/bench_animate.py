"""Generation speed of `animate`: seconds per generated frame, and what caching the reference features saves.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/bench_animate.py --checkpoint /work/runs_data/small_run
    python benchmarks/bench_animate.py --preset small            # randomly initialised small model (timing only)
    python benchmarks/bench_animate.py --preset sd15 --device cuda model.pretrained.sd_path=DIR --frames 16

Three measurements in one process, on the same clip (the astronaut photo × poke_cheek_left):

1. **end to end** (``AnimatePipeline``: face detection, motion synthesis and retargeting, condition maps, sampling,
   decoding, watermark): seconds per generated frame;
2. **sampling only** with the ReferenceNet run once per clip (what the sampler does);
3. **sampling only** with the ReferenceNet run at every denoising step (a wrapper recomputes the features inside
   each model call, as a sampler without caching would), giving the speed-up ratio of 2 over 3.

Peak memory is the process's peak RSS on CPU and the CUDA allocator's peak on GPU.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch


class RecomputingReference(torch.nn.Module):
    """The model with reference caching defeated: every call recomputes the ReferenceNet features."""

    def __init__(self, model, reference_latents: torch.Tensor, guided: bool):
        super().__init__()
        self.inner = model
        self.reference_latents = reference_latents
        self.guided = guided

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def forward(self, *args, reference_features=None, **kwargs):
        features = self.inner.compute_reference_features(self.reference_latents)
        if self.guided:
            features = {k: torch.cat([v, v]) for k, v in features.items()}
        return self.inner(*args, reference_features=features, **kwargs)


def _peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="trained model (run folder, final/, step-N/ or model folder)")
    parser.add_argument("--preset", default="small", help="random model of this preset when no checkpoint is given")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="denoising steps")
    parser.add_argument("--sampler", default="ddim", choices=["ddim", "dpmpp"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from skimage import data

    from interanimate.diffusion.sampler import sample
    from interanimate.diffusion.schedule import NoiseSchedule
    from interanimate.pipelines import AnimatePipeline, AnimateRequest
    from interanimate.pipelines.checkpoint_loader import LoadedCheckpoint, load_checkpoint

    device = torch.device(args.device)
    if args.checkpoint:
        checkpoint = load_checkpoint(args.checkpoint, device)
        what = f"checkpoint {checkpoint.path} (stage {checkpoint.stage})"
    else:
        from interanimate.models import InterAnimateModel
        from interanimate.training.config import load_config

        config = load_config(args.preset, args.overrides)
        torch.manual_seed(0)
        model = InterAnimateModel.from_config(config.model, sample_size=config.data.resolution).eval().to(device)
        checkpoint = LoadedCheckpoint(model=model, path=None, sha256="random-init", config=config, config_found=True,
                                      resolution=config.data.resolution, window_frames=config.data.num_frames,
                                      stage=2)
        what = f"randomly initialised {args.preset} model (timing only)"
    pipe = AnimatePipeline(checkpoint, sampler=args.sampler, num_inference_steps=args.steps)
    print(f"{what}; {checkpoint.resolution}x{checkpoint.resolution}, {args.frames} frames, {args.steps} "
          f"{args.sampler} steps, guidance {pipe.guidance_scale}, window {checkpoint.window_frames}, "
          f"torch threads {torch.get_num_threads()}, device {device}")

    request = AnimateRequest(reference=data.astronaut(), reference_name="astronaut", pattern="poke_cheek_left",
                             num_frames=args.frames, seed=0)
    pipe(request)  # warm-up: loads MediaPipe, dlib, numba kernels
    end_to_end = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = pipe(request)
        end_to_end.append(time.perf_counter() - start)
    e2e = min(end_to_end)
    print(f"end to end: {e2e:.2f} s per clip, {e2e / args.frames:.3f} s per generated frame")

    model = checkpoint.model
    reference = torch.from_numpy(result.reference.image).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(device)
    conditions = torch.from_numpy(result.conditions).permute(1, 0, 2, 3)[None].to(device)
    common = dict(schedule=NoiseSchedule.from_config(checkpoint.config.scheduler), sampler=args.sampler,
                  num_inference_steps=args.steps, guidance_scale=pipe.guidance_scale,
                  prediction_type=checkpoint.config.loss.prediction_type, window_frames=checkpoint.window_frames,
                  use_motion_modules=checkpoint.stage != 1, decode=False)
    with torch.no_grad():
        reference_latents = model.encode(reference, sample=False)
    recomputing = RecomputingReference(model, reference_latents, guided=pipe.guidance_scale != 1.0)

    def timed(which) -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            with torch.no_grad():
                sample(which, reference, conditions, [0], **common)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
        return min(times)

    cached, every_step = timed(model), timed(recomputing)
    print(f"sampling, reference features once per clip: {cached:.2f} s ({cached / args.frames:.3f} s/frame)")
    print(f"sampling, reference features every step:    {every_step:.2f} s ({every_step / args.frames:.3f} s/frame)")
    print(f"speed-up from caching: {every_step / cached:.2f}x")
    print(f"peak memory: {_peak_memory_mib(device):.0f} MiB")


if __name__ == "__main__":
    main()
