"""The one training loop (PRODUCT.md §6): stages are configuration, resume is re-running the same command.

``train(config, run_dir)`` runs the stage plan of ``config.stage`` (e.g. stage 0 VAE → 1 image → 2 video) on
``accelerate``: one process, or many through ``accelerate launch`` (DDP, or FSDP2 with the ``fsdp*.yaml`` launch
files, see ``sharding.py``; on GPUs, or on CPU processes over gloo). Every ``train.checkpoint_every`` steps it writes a
checkpoint (see ``checkpoint.py``); when the run folder already holds one, training continues from it and
reproduces the uninterrupted run: the per-step randomness is seeded by ``(seed, step, process)``, the learning rate
is a function of the step, and the data stream is restored to its position.

At the end of every stage the EMA weights of that stage replace the raw weights, so the next stage starts from the
averaged model and ``final/`` holds EMA weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate.utils import gather_object

from interanimate.data.images import write_png
from interanimate.diffusion import NoiseSchedule, compute_loss
from interanimate.models import InterAnimateModel
from interanimate.models.interanimate_model import CONTAINER_FILE
from interanimate.training import checkpoint as ckpt
from interanimate.training.config import Config, save_config, to_dict
from interanimate.training.data_stream import BatchStream, DataSetupError, check_data_path, validation_batch
from interanimate.training.ema import EMA
from interanimate.training.sharding import (
    ShardingSetupError,
    device_mesh,
    full_model_state,
    full_optimizer_states,
    load_optimizer_states,
    local_parameter_bytes,
    shard_objective,
    sharding_settings,
)
from interanimate.training.stages import STAGES, apply_stage, uses_motion_modules
from interanimate.training.validation import validation_image
from interanimate.errors import MissingInputError, UserError


class TrainingSetupError(UserError, ValueError):
    """A training setting that cannot work here (missing optional package, unsupported precision, bad folder)."""


@dataclass
class TrainSummary:
    run_dir: Path
    global_step: int
    total_steps: int
    steps_run: int = 0
    seconds: float = 0.0
    seconds_per_step: float | None = None
    final_loss: float | None = None  # mean over the last (up to) 20 steps
    resumed_from: Path | None = None
    checkpoint: Path | None = None
    final_model: Path | None = None
    validation_images: list[Path] = field(default_factory=list)
    is_main_process: bool = True
    model: InterAnimateModel | None = field(default=None, repr=False)  # the trained model, in memory

    @property
    def complete(self) -> bool:
        return self.global_step >= self.total_steps

    def lines(self) -> list[str]:
        state = "complete" if self.complete else f"stopped at step {self.global_step}; re-run the command to continue"
        out = [f"run {self.run_dir}: {self.global_step}/{self.total_steps} steps ({state})"]
        if self.resumed_from is not None:
            out.append(f"  resumed from {self.resumed_from}")
        if self.steps_run:
            out.append(f"  this session: {self.steps_run} steps in {self.seconds:.1f} s "
                       f"({self.seconds_per_step:.3f} s/step), mean loss of the last steps {self.final_loss:.4f}")
        if self.checkpoint is not None:
            out.append(f"  latest checkpoint: {self.checkpoint}")
        if self.validation_images:
            out.append(f"  validation strips: {len(self.validation_images)} in {self.validation_images[-1].parent}")
        if self.final_model is not None:
            out.append(f"  trained model: {self.final_model}")
        return out


# ------------------------------------------------------------------------------------------------ objectives


def vae_loss(vae, pixel_values: torch.Tensor, kl_weight: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Stage 0: ``MSE(x, D(z)) + kl_weight · KL(q(z|x) ‖ N(0, I))`` per latent element, ``z ~ q(z|x)``."""
    frames = pixel_values
    if frames.ndim == 5:  # (b, 3, f, H, W) -> (b f, 3, H, W)
        frames = frames.permute(0, 2, 1, 3, 4).flatten(0, 1)
    posterior = vae.encode(frames).latent_dist
    latents = posterior.sample(generator)
    reconstruction = vae.decode(latents).sample
    mse = F.mse_loss(reconstruction.float(), frames.float())
    kl = posterior.kl().float().mean() / latents[0].numel()
    return {"loss": mse + kl_weight * kl, "mse": mse.detach(), "kl": kl.detach()}


class TrainingObjective(nn.Module):
    """The model plus the stage's loss, as one module, so a DDP/FSDP wrapper sees every trained parameter used in
    one forward call (the diffusion loss runs the VAE, ReferenceNet and UNet through separate entry points)."""

    def __init__(self, model: InterAnimateModel, schedule: NoiseSchedule, config: Config, stage: int):
        super().__init__()
        self.model = model
        self.schedule = schedule
        self.config = config
        self.stage = stage

    def forward(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if self.stage == 0:
            return vae_loss(self.model.vae, batch["pixel_values"], self.config.loss.vae_kl_weight, generator)
        return compute_loss(self.model, batch, self.schedule, self.config.loss, self.config.dropout, generator,
                            use_motion_modules=uses_motion_modules(self.stage))


# --------------------------------------------------------------------------------------------------- helpers


def step_seed(seed: int, step: int, rank: int, micro: int = 0) -> int:
    """The seed of one micro-batch: a hash of ``(seed, step, process, micro-batch)``."""
    key = f"{seed}:{step}:{rank}" if micro == 0 else f"{seed}:{step}:{rank}:{micro}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def learning_rate(config: Config, step_in_stage: int) -> float:
    warmup = config.train.lr_warmup_steps
    return config.train.learning_rate * (min(1.0, (step_in_stage + 1) / warmup) if warmup else 1.0)


def check_optimizer_available(config: Config) -> None:
    if config.train.use_8bit_adam:
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            raise TrainingSetupError("train.use_8bit_adam=true needs bitsandbytes, which is not installed: "
                                     "`pip install bitsandbytes` (CUDA GPUs), or set train.use_8bit_adam=false")


def make_optimizer(config: Config, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.train.use_8bit_adam:
        check_optimizer_available(config)
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=config.train.learning_rate, weight_decay=config.train.weight_decay)
    return torch.optim.AdamW(params, lr=config.train.learning_rate, weight_decay=config.train.weight_decay)


def check_precision(config: Config) -> None:
    if config.train.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise TrainingSetupError("train.mixed_precision=fp16 needs a CUDA GPU; on CPU use bf16 or no")


def _check_run_folder(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise MissingInputError(f"--out {run_dir} exists and is not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / "config.yaml").is_file():
        raise TrainingSetupError(f"--out {run_dir} is a non-empty folder that holds no training run; "
                                 "choose a new or empty folder")


def _hparams(config: Config) -> dict:
    flat = ckpt.flatten_dict(to_dict(config))
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flat.items()}


def _make_accelerator(config: Config, run_dir: Path):
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import ProjectConfiguration

    # accelerate only sets up CPU process groups (gloo) when asked for the CPU explicitly.
    multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    return Accelerator(
        cpu=multi_cpu,
        mixed_precision=config.train.mixed_precision,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        # Condition dropout can leave a branch (e.g. the ID preserver) out of a step's graph.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def _reset_accelerate_state() -> None:
    """Forget accelerate's process-wide singleton so a later ``train`` call in this process may use other settings."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


# ------------------------------------------------------------------------------------------------- the loop


class Trainer:
    """Runs ``config``'s stage plan into ``run_dir`` with ``accelerator``. Use ``train()``."""

    def __init__(self, config: Config, run_dir: Path, accelerator, progress: bool = True, log=print):
        self.config, self.run_dir, self.accelerator = config, Path(run_dir), accelerator
        self.progress, self.log = progress, log
        self.rank, self.world_size = accelerator.process_index, accelerator.num_processes
        self.device = accelerator.device
        self.data_path = check_data_path(config.data.path)
        self.plan = config.stage.plan()
        self.total_steps = sum(steps for _, steps in self.plan)
        self.schedule = NoiseSchedule.from_config(config.scheduler)
        self.seed = config.train.seed
        self.identity_dim = config.model.id_preserver.embedding_dim

        try:
            self.sharding = sharding_settings(accelerator.distributed_type.name, self.world_size)
        except ShardingSetupError as exc:
            raise TrainingSetupError(str(exc)) from None
        if self.sharding is not None and config.train.use_8bit_adam:
            raise TrainingSetupError("train.use_8bit_adam=true is not supported with FSDP launches; set it false or "
                                     "launch with configs/accelerate/ddp.yaml")
        if self.sharding is not None and config.train.mixed_precision == "fp16":
            # fp16 needs a gradient scaler whose overflow check spans every process's shards.
            raise TrainingSetupError("train.mixed_precision=fp16 is not supported with FSDP launches; use bf16")
        self.mesh = device_mesh(self.device) if self.sharding is not None else None
        self.objective = None  # the stage's training objective, sharded in place under FSDP
        accelerator.wait_for_everyone()  # every process reads the folder before the main one writes to it
        ckpt.check_run_config(self.run_dir, config)
        self.resume_from, damaged = ckpt.usable_checkpoint(self.run_dir)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            for folder, problem in damaged:  # e.g. a disk that filled while the newest checkpoint was written
                moved = ckpt.set_aside(folder)
                print(f"note: {folder.name} cannot be resumed from ({problem}); moved to {moved.name}, "
                      f"resuming from {self.resume_from.name if self.resume_from else 'the start'}")
            ckpt.write_run_config(self.run_dir, config)

        self.state = {"global_step": 0, "stage_index": 0, "step_in_stage": 0, "data": None}
        if self.resume_from is not None:
            saved = ckpt.read_state(self.resume_from)
            if saved["world_size"] != self.world_size:
                raise ckpt.IncompatibleRunError(
                    f"{self.resume_from} was written by {saved['world_size']} processes; resume with the same number "
                    f"(this launch has {self.world_size}) so the data order continues exactly")
            self.state = saved
            self.model = InterAnimateModel.from_pretrained(self.resume_from / "model")
        else:
            torch.manual_seed(self.seed)  # same initial weights in every process and every fresh run
            self.model = InterAnimateModel.from_config(config.model, sample_size=config.data.resolution)
            if config.train.init_from:
                self._warm_start(config.train.init_from, tuple(config.train.init_modules))
        self.model.to(self.device)
        self.validation = None
        self.summary = TrainSummary(self.run_dir, self.state["global_step"], self.total_steps,
                                    resumed_from=self.resume_from, checkpoint=self.resume_from)
        self.losses: list[float] = []

    def _warm_start(self, folder: str, parts: tuple[str, ...]) -> None:
        path = Path(folder).expanduser()
        if (path / "model" / CONTAINER_FILE).is_file():  # a checkpoint folder: its weights are in model/
            path = path / "model"
        if not (path / CONTAINER_FILE).is_file():
            raise TrainingSetupError(f"train.init_from={folder} is not a trained model folder; give a run's final/ "
                                     "or a checkpoint folder")
        try:
            copied = self.model.copy_parts_from(path, parts)
        except ValueError as exc:
            raise TrainingSetupError(f"train.init_from: {exc}") from None
        if self.accelerator.is_main_process:
            self.log(f"warm start: {', '.join(copied)} copied from {path}")

    # -------------------------------------------------------------------------------------------- the run

    def run(self, max_steps: int | None = None) -> TrainSummary:
        from tqdm.auto import tqdm

        stop_at = self.total_steps if max_steps is None else min(self.total_steps, max_steps)
        acc = self.accelerator
        if acc.is_main_process:
            what = " → ".join(f"stage {s} ({STAGES[s]}, {n} steps)" for s, n in self.plan)
            origin = f"resuming from {self.resume_from}" if self.resume_from else "new run"
            self.log(f"training {what} on {acc.num_processes} process(es), {self.device}; {origin}")
        acc.init_trackers("interanimate", config=_hparams(self.config))
        bar = tqdm(total=self.total_steps, initial=self.state["global_step"], desc="train", unit="step",
                   disable=not (self.progress and acc.is_main_process), dynamic_ncols=True)
        started = time.perf_counter()
        try:
            while self.state["global_step"] < stop_at:
                self._run_stage(stop_at, bar)
        finally:
            bar.close()
        self.summary.seconds = time.perf_counter() - started
        self.summary.global_step = self.state["global_step"]
        self.summary.model = self.model
        self.summary.is_main_process = acc.is_main_process
        if self.summary.steps_run:
            self.summary.seconds_per_step = self.summary.seconds / self.summary.steps_run
            self.summary.final_loss = sum(self.losses[-20:]) / len(self.losses[-20:])
        if self.summary.complete:
            self._export_final()
        acc.wait_for_everyone()
        return self.summary

    def _stage_bounds(self, index: int) -> tuple[int, int]:
        start = sum(steps for _, steps in self.plan[:index])
        return start, start + self.plan[index][1]

    def _run_stage(self, stop_at: int, bar) -> None:
        acc, config = self.accelerator, self.config
        index, step_in_stage = self.state["stage_index"], self.state["step_in_stage"]
        stage, num_steps = self.plan[index]
        if num_steps == 0:
            self._advance_stage(index)
            return
        trainable = apply_stage(self.model, stage)
        if config.train.gradient_checkpointing:
            for module in (self.model.unet, self.model.reference_net, self.model.vae):
                module.enable_gradient_checkpointing()
        objective = TrainingObjective(self.model, self.schedule, config, stage)
        if self.sharding is not None:  # in place: the model's parameters become this process's shards
            units = shard_objective(objective, stage, self.sharding, self.mesh)
            local, whole = local_parameter_bytes(self.model)
            if acc.is_main_process:
                self.log(f"stage {stage}: FSDP over {self.world_size} processes, {units} units, reshard_after_forward="
                         f"{self.sharding.reshard_after_forward}; this process holds {local / 2**20:.1f} of "
                         f"{whole / 2**20:.1f} MiB of parameters")
        params = [p for p in self.model.parameters() if p.requires_grad]
        names = {p: n for n, p in self.model.named_parameters() if p.requires_grad}
        optimizer = make_optimizer(config, params)
        ema = EMA(self.model, trainable, config.train.ema_decay) if config.train.use_ema else None
        stream = BatchStream(self.data_path, config.data, config.data.num_frames if stage == 2 else 1,
                             config.train.batch_size, self.seed, self.identity_dim, self.rank, self.world_size,
                             composite=config.model.composite_conditions)
        if step_in_stage > 0:  # resuming inside this stage
            self._load_optimizer(objective, optimizer, {n: p for p, n in names.items()})
            if ema is not None:
                ema.load(self.resume_from / "ema.safetensors")
            stream.load_state_dict(self.state["data"][self.rank])
        if self.sharding is None:
            objective, optimizer = acc.prepare(objective, optimizer)
        objective.train()
        self.objective = objective

        if self.state["global_step"] == 0 and config.train.validate_every:
            self._validate(stage, ema)
        start, end = self._stage_bounds(index)
        while self.state["global_step"] < min(end, stop_at):
            step = self.state["global_step"]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step - start)
            terms = self._accumulate_gradients(objective, stream, step)
            if config.train.max_grad_norm > 0:  # under FSDP torch's clip takes the norm over all shards
                clip = acc.clip_grad_norm_ if self.sharding is None else torch.nn.utils.clip_grad_norm_
                clip(params, config.train.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(self.model)
            self.state.update(global_step=step + 1, step_in_stage=step + 1 - start)
            self._after_step(terms, stage, bar)

            stage_done = step + 1 == end
            if stage_done:
                self._finish_stage(index, stage, ema, stream)
            checkpoint_due = config.train.checkpoint_every and (step + 1) % config.train.checkpoint_every == 0
            if stage_done or checkpoint_due or step + 1 == stop_at:
                self._save(optimizer, names, ema, stream, fresh_stage=stage_done)
            if config.train.validate_every and ((step + 1) % config.train.validate_every == 0 or stage_done):
                self._validate(stage, None if stage_done else ema)
        if self._sharded():  # stopped inside the stage: leave an ordinary model behind
            self.model = self._gathered_model(everywhere=True)
        self.objective = None
        acc.free_memory()  # drop the wrappers; the next stage wraps the model with its own trainable set

    def _load_optimizer(self, objective, optimizer, params: dict[str, nn.Parameter]) -> None:
        folder = self.resume_from
        if self.sharding is None:
            ckpt.load_optimizer(optimizer, params, ckpt.read_optimizer(folder), folder)
            return
        try:
            load_optimizer_states(objective, optimizer, ckpt.optimizer_names(folder),
                                  lambda: ckpt.read_optimizer(folder), self.accelerator.is_main_process)
        except ValueError as exc:
            raise ckpt.IncompatibleRunError(f"{folder}: {exc}") from None

    def _sharded(self) -> bool:
        """Whether the model is sharded right now (FSDP, inside a stage)."""
        return self.sharding is not None and self.objective is not None

    def _gathered_model(self, everywhere: bool, ema: EMA | None = None) -> InterAnimateModel | None:
        """Under FSDP: the whole model as an ordinary ``InterAnimateModel``, in every process on its device
        (``everywhere``) or in the main one (on the CPU of a GPU machine; ``None`` elsewhere); with ``ema``, its
        averaged weights. Every process must call this."""
        if ema is not None:
            ema.swap(self.model)
        try:
            state = full_model_state(self.objective, main_process_only=not everywhere, device=self.device)
        finally:
            if ema is not None:
                ema.swap(self.model)
        if not (everywhere or self.accelerator.is_main_process):
            return None
        with torch.device("meta"):  # no memory and no initialisation: the gathered tensors become the weights
            model = self.model.new_like()
        model.load_state_dict(state, strict=True, assign=True)
        return model.to(self.device) if everywhere else model

    def _accumulate_gradients(self, objective, stream: BatchStream, step: int) -> dict[str, torch.Tensor]:
        """Forward and backward ``train.gradient_accumulation_steps`` micro-batches; returns their mean loss terms.

        Each micro-batch's loss is divided by the count, so the gradient is the mean over all of them, as with one
        batch that many times larger. Between processes, gradients are only synchronised on the last micro-batch.
        """
        acc, count = self.accelerator, self.config.train.gradient_accumulation_steps
        totals: dict[str, torch.Tensor] = {}
        for micro in range(count):
            batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in next(stream).items()}
            seed = step_seed(self.seed, step, self.rank, micro)
            torch.manual_seed(seed)  # anything drawing from the global generator replays identically
            last = micro == count - 1
            if self.sharding is not None:  # FSDP: reduce-scatter only in the last micro-batch's backward
                objective.set_requires_gradient_sync(last)
                with acc.autocast():  # DDP's prepared objective sets the mixed-precision context itself
                    terms = objective(batch, torch.Generator().manual_seed(seed))
                acc.backward(terms["loss"] / count)
            else:
                with contextlib.nullcontext() if last else acc.no_sync(objective):
                    terms = objective(batch, torch.Generator().manual_seed(seed))
                    acc.backward(terms["loss"] / count)
            for name, value in terms.items():
                value = value.detach() / count
                totals[name] = value if name not in totals else totals[name] + value
        return totals

    def _after_step(self, terms: dict, stage: int, bar) -> None:
        acc = self.accelerator
        step = self.state["global_step"]
        loss = acc.reduce(terms["loss"].detach(), reduction="mean").item()
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss became {loss} at step {step}; lower train.learning_rate or use "
                                     "mixed_precision=no")
        self.losses.append(loss)
        self.summary.steps_run += 1
        if step % self.config.train.log_every == 0:
            values = {f"train/{k}": acc.reduce(v.detach(), reduction="mean").item() for k, v in terms.items()}
            values.update({"train/stage": stage, "train/lr": learning_rate(self.config, self.state["step_in_stage"] - 1)})
            acc.log(values, step=step)
        bar.set_postfix(stage=stage, loss=f"{loss:.4f}", refresh=False)
        bar.update(1)

    def _advance_stage(self, index: int) -> None:
        self.state.update(stage_index=index + 1, step_in_stage=0, data=None)

    @torch.no_grad()
    def _finish_stage(self, index: int, stage: int, ema: EMA | None, stream: BatchStream) -> None:
        """The stage's EMA becomes the model; after stage 0 the VAE latents are rescaled to unit variance."""
        if ema is not None:
            ema.copy_to(self.model)
        if self._sharded():  # the next stage shards the averaged model with its own trainable set
            self.model = self._gathered_model(everywhere=True)
            self.objective = None
        if stage == 0:
            self._rescale_vae_latents(stream)
        self._advance_stage(index)

    @torch.no_grad()
    def _rescale_vae_latents(self, stream: BatchStream) -> None:
        """Set ``scaling_factor = 1 / std(z)`` so the diffusion stages see unit-variance latents, as Stable
        Diffusion does (Rombach et al. 2022, arXiv 2112.10752, the "scale factor" of the latent space)."""
        vae = self.model.vae
        frames = next(stream)["pixel_values"].to(self.device)
        frames = frames.permute(0, 2, 1, 3, 4).flatten(0, 1)  # (b f, 3, H, W)
        std = vae.encode(frames.to(vae.dtype)).latent_dist.mode().float().std()
        std = self.accelerator.reduce(std, reduction="mean")  # the same factor in every process
        vae.register_to_config(scaling_factor=float(1.0 / std.clamp_min(1e-6)))

    def _save(self, optimizer, names: dict, ema: EMA | None, stream: BatchStream, fresh_stage: bool) -> None:
        acc = self.accelerator
        mine = [None if fresh_stage else stream.state_dict()]
        data_states = gather_object(mine) if acc.num_processes > 1 else mine  # one position per process
        self.state["data"] = None if fresh_stage else data_states
        state = {**self.state, "seed": self.seed, "world_size": self.world_size, "code": ckpt.code_version(),
                 "stage": self.plan[min(self.state["stage_index"], len(self.plan) - 1)][0]}
        # Under FSDP inside a stage, weights, EMA shadows and optimizer states are gathered by every process first.
        sharded = self._sharded()
        model = self._gathered_model(everywhere=False) if sharded else self.model
        shadows = ema.full_shadows(keep=acc.is_main_process) if ema is not None and not fresh_stage else None
        optimizer_states = None
        if sharded:
            optimizer_states = full_optimizer_states(self.objective, optimizer, self.device)
        elif not fresh_stage:
            optimizer_states = ckpt.optimizer_states(getattr(optimizer, "optimizer", optimizer), names)

        def contents(folder: Path) -> None:
            model.save_pretrained(folder / "model")
            save_config(self.config, folder / "config.yaml")
            if not fresh_stage:
                if ema is not None:
                    ema.save(folder / "ema.safetensors", shadows)
                ckpt.save_optimizer(optimizer_states, folder)
            (folder / "state.json").write_text(json.dumps(state, indent=2))

        if acc.is_main_process:
            self.summary.checkpoint = ckpt.write_checkpoint(self.run_dir, self.state["global_step"], contents)
            ckpt.prune_checkpoints(self.run_dir, self.config.train.keep_checkpoints)
        acc.wait_for_everyone()

    def _validate(self, stage: int, ema: EMA | None) -> None:
        acc = self.accelerator
        if self._sharded():  # every process takes part in gathering the (EMA) weights
            model = self._gathered_model(everywhere=False, ema=ema)
            if acc.is_main_process:
                self._write_validation(model.to(self.device), stage)
        elif acc.is_main_process:
            if ema is not None:
                ema.swap(self.model)
            try:
                self._write_validation(self.model, stage)
            finally:
                if ema is not None:
                    ema.swap(self.model)
        acc.wait_for_everyone()

    def _write_validation(self, model: InterAnimateModel, stage: int) -> None:
        if self.validation is None:
            batch = validation_batch(self.data_path, self.config.data, self.seed, self.identity_dim,
                                     self.config.data.num_validation_clips,
                                     composite=self.config.model.composite_conditions)
            self.validation = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        image = validation_image(model, self.validation, stage, self.config, self.seed)
        step = self.state["global_step"]
        path = write_png(image, self.run_dir / "validation" / f"step-{step:07d}-stage{stage}.png")
        self.summary.validation_images.append(path)
        tracker = self.accelerator.get_tracker("tensorboard", unwrap=True)
        if hasattr(tracker, "add_image"):
            tracker.add_image(f"validation/stage{stage}", image, step, dataformats="HWC")

    def _export_final(self) -> None:
        acc = self.accelerator
        if acc.is_main_process:
            final = self.run_dir / "final"
            if not (final / "state.json").is_file():
                self.model.save_pretrained(final)
                save_config(self.config, final / "config.yaml")
                state = {"global_step": self.state["global_step"], "seed": self.seed, "code": ckpt.code_version()}
                (final / "state.json").write_text(json.dumps(state, indent=2))
            self.summary.final_model = final
        acc.wait_for_everyone()


def train(config: Config, run_dir: str | Path, max_steps: int | None = None, progress: bool = True,
          log=print) -> TrainSummary:
    """Train ``config``'s stage plan into ``run_dir``, continuing from its latest checkpoint when there is one.

    ``max_steps`` stops after that many steps in total (counted over the whole plan, checkpoint written), so a run
    can be continued later by calling again without it. Returns a ``TrainSummary``.
    """
    run_dir = Path(run_dir).expanduser()
    check_data_path(config.data.path)
    check_optimizer_available(config)
    check_precision(config)
    _check_run_folder(run_dir)
    if max_steps is not None and max_steps < 1:
        raise TrainingSetupError(f"--max-steps must be at least 1, got {max_steps}")
    try:  # before accelerate reads the launch's FSDP settings itself, which fails on some without a clear message
        sharding_settings("", int(os.environ.get("WORLD_SIZE", "1")))
    except ShardingSetupError as exc:
        raise TrainingSetupError(str(exc)) from None
    accelerator = _make_accelerator(config, run_dir)
    try:
        return Trainer(config, run_dir, accelerator, progress=progress, log=log).run(max_steps)
    finally:
        accelerator.end_training()
        if accelerator.num_processes == 1:
            _reset_accelerate_state()


__all__ = ["DataSetupError", "TrainSummary", "Trainer", "TrainingObjective", "TrainingSetupError", "train",
           "vae_loss"]
