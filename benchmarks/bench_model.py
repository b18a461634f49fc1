"""Training-step time and peak memory of a preset, per stage: forward + backward + AdamW step on a random batch.

    HF_HUB_OFFLINE=1 python benchmarks/bench_model.py --preset tiny --stage 1 2 --steps 5
    python benchmarks/bench_sd15.py --device cuda      # the sd15 size on a GPU, bf16 autocast against float32

Peak memory is the CUDA allocator's peak on GPU and the process's peak RSS on CPU (so on CPU it is cumulative over
the stages run in one process: run one stage per process for exact figures).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from interanimate.diffusion import NoiseSchedule, compute_loss
from interanimate.models import InterAnimateModel
from interanimate.training.batch import random_batch
from interanimate.training.config import load_config
from interanimate.training.stages import apply_stage, uses_motion_modules


def time_training_steps(model, batch: dict, config, schedule: NoiseSchedule, stage: int, steps: int,
                        bf16_autocast: bool = False) -> tuple[list[str], float]:
    """Mean seconds of ``steps`` forward + backward + AdamW steps of ``stage`` on ``batch``, after one untimed
    warm-up step; ``bf16_autocast`` runs the forward under bf16 autocast with float32 weights (what
    ``train.mixed_precision=bf16`` does). Returns the trainable parameters' names too."""
    trainable = apply_stage(model, stage)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.train.learning_rate)
    device = batch["pixel_values"].device
    times = []
    for step in range(steps + 1):  # the first step warms up and is not timed
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_autocast):
            terms = compute_loss(model, batch, schedule, config.loss, config.dropout,
                                 generator=torch.Generator().manual_seed(step),
                                 use_motion_modules=uses_motion_modules(stage))
        terms["loss"].backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step:
            times.append(time.perf_counter() - start)
    return trainable, sum(times) / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--stage", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    config = load_config(args.preset, args.overrides)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.manual_seed(config.train.seed)
    model = InterAnimateModel.from_config(config.model, sample_size=config.data.resolution).to(device, dtype)
    if config.train.gradient_checkpointing:
        model.unet.enable_gradient_checkpointing()
        model.reference_net.enable_gradient_checkpointing()
    schedule = NoiseSchedule.from_config(config.scheduler)
    batch_size = args.batch_size or config.train.batch_size
    print(f"preset={args.preset} resolution={config.data.resolution} frames={config.data.num_frames} "
          f"batch={batch_size} device={device} dtype={args.dtype} threads={torch.get_num_threads()}")
    print(f"{'stage':>5} {'frames':>6} {'trainable M':>11} {'step s':>8} {'clips/s':>8} {'peak MiB':>9}")
    for stage in args.stage:
        frames = 1 if stage == 1 else config.data.num_frames
        batch = random_batch(batch_size, frames, config.data.resolution, config.model.id_preserver.embedding_dim)
        batch = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in batch.items()}
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        trainable, step_time = time_training_steps(model, batch, config, schedule, stage, args.steps)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        n_trainable = sum(p.numel() for n, p in model.named_parameters() if n in set(trainable)) / 1e6
        print(f"{stage:>5} {frames:>6} {n_trainable:>11.3f} {step_time:>8.3f} {batch_size / step_time:>8.2f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
