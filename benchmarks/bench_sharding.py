"""Per-process training-step time and memory under DDP and FSDP: run it under ``accelerate launch``.

    accelerate launch --multi_gpu --num_processes 2 benchmarks/bench_sharding.py --preset small --stage 1 2
    accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 2 benchmarks/bench_sharding.py ...
    accelerate launch --config_file configs/accelerate/fsdp_zero2.yaml --num_processes 2 benchmarks/bench_sharding.py ...

Each step is what the training loop does (forward + backward + AdamW step on a random batch per process, the model
wrapped as the loop wraps it: DDP, or FSDP2 with the loop's units). Printed per stage, by the main process:
step time, clips per second over all processes, the parameters this process holds, its model state (parameters +
gradients + AdamW moments, float32: what sharding divides) and the peak memory (CUDA allocator peak on GPU,
process peak RSS on CPU: cumulative over the stages run in one launch, and dominated by activations and the
runtime for small models).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from interanimate.diffusion import NoiseSchedule
from interanimate.models import InterAnimateModel
from interanimate.training.batch import random_batch
from interanimate.training.config import load_config
from interanimate.training.sharding import (
    device_mesh,
    local_bytes,
    local_parameter_bytes,
    shard_objective,
    sharding_settings,
)
from interanimate.training.stages import apply_stage
from interanimate.training.trainer import TrainingObjective


def main() -> None:
    from accelerate import Accelerator, DistributedDataParallelKwargs

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--stage", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    config = load_config(args.preset, args.overrides)
    cpu = not torch.cuda.is_available()
    acc = Accelerator(cpu=cpu and int(os.environ.get("WORLD_SIZE", "1")) > 1,
                      mixed_precision=config.train.mixed_precision,
                      kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    sharding = sharding_settings(acc.distributed_type.name, acc.num_processes)
    mode = "DDP" if sharding is None else f"FSDP (reshard_after_forward={sharding.reshard_after_forward})"
    mesh = device_mesh(acc.device) if sharding is not None else None
    schedule = NoiseSchedule.from_config(config.scheduler)
    batch_size = args.batch_size or config.train.batch_size
    if acc.is_main_process:
        print(f"preset={args.preset} {mode} processes={acc.num_processes} resolution={config.data.resolution} "
              f"frames={config.data.num_frames} batch/process={batch_size} device={acc.device} "
              f"precision={config.train.mixed_precision} threads={torch.get_num_threads()}")
        print(f"{'stage':>5} {'step s':>8} {'clips/s':>8} {'params MiB':>10} {'state MiB':>10} {'peak MiB':>9}")
    for stage in args.stage:
        torch.manual_seed(config.train.seed)
        model = InterAnimateModel.from_config(config.model, sample_size=config.data.resolution).to(acc.device)
        apply_stage(model, stage)
        if config.train.gradient_checkpointing:
            for module in (model.unet, model.reference_net, model.vae):
                module.enable_gradient_checkpointing()
        objective = TrainingObjective(model, schedule, config, stage)
        if sharding is not None:
            shard_objective(objective, stage, sharding, mesh)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.train.learning_rate)
        if sharding is None:
            objective, optimizer = acc.prepare(objective, optimizer)
        frames = 1 if stage == 1 else config.data.num_frames
        batch = random_batch(batch_size, frames, config.data.resolution, config.model.id_preserver.embedding_dim,
                             seed=acc.process_index)
        batch = {k: v.to(acc.device) for k, v in batch.items()}
        if acc.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = []
        for step in range(args.steps + 1):  # the first step warms up and is not timed
            acc.wait_for_everyone()
            start = time.perf_counter()
            with acc.autocast() if sharding is not None else torch.enable_grad():
                terms = objective(batch, torch.Generator().manual_seed(step))
            acc.backward(terms["loss"])
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)  # keep the gradients allocated, as in a steady-state step
            if acc.device.type == "cuda":
                torch.cuda.synchronize()
            acc.wait_for_everyone()
            if step:
                times.append(time.perf_counter() - start)
        step_time = sum(times) / len(times)
        local_params, _ = local_parameter_bytes(model)
        state = local_params + local_bytes(p.grad for p in params if p.grad is not None)
        state += local_bytes(v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)
                              and v.dim() > 0)
        if acc.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if acc.is_main_process:
            clips = batch_size * acc.num_processes / step_time
            print(f"{stage:>5} {step_time:>8.3f} {clips:>8.2f} {local_params / 2**20:>10.1f} {state / 2**20:>10.1f} "
                  f"{peak:>9.0f}")
        del objective, optimizer, model
    acc.end_training()


if __name__ == "__main__":
    main()
