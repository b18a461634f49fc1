"""Typed configuration: dataclasses are the schema, YAML presets are merged over them, ``key=value`` overrides last.

Unknown keys are errors everywhere (in presets and overrides), so a typo never silently trains the wrong model.
The resolved config is what gets written next to every checkpoint (``to_dict`` / ``save_config``).

Ablation switches (PRODUCT.md §6, each a single override):

- ``model.interaction.enabled=false``: no interaction latents;
- ``model.interaction.region_masking=false``: latents act everywhere instead of only in the hand/contact region;
- ``model.id_preserver.enabled=false``: no ID preserver;
- ``loss.orthogonality=false``: no orthogonality loss;
- ``model.composite_conditions=true``: render then refine: the pose guider also reads a composite of each frame
  (``data.composite_pairs``) through zero-initialised input channels, and training pairs are built with it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interanimate.configs import CONFIGS_DIR, preset_names
from interanimate.data.conditions import NUM_CONDITION_CHANNELS
from interanimate.data.io import json_safe
from interanimate.errors import UserError
from interanimate.models.parts import MODEL_PARTS  # noqa: F401 (also importable from here)


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit the schema; the message names the key and the fix."""


@dataclass
class VAEConfig:
    """Architecture of a from-scratch ``AutoencoderKL`` (ignored when ``pretrained.sd_path`` is set)."""

    block_out_channels: tuple[int, ...] = (32, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 8
    scaling_factor: float = 1.0


@dataclass
class UNetConfig:
    """Architecture of the denoising UNet and the ReferenceNet built from scratch (both share it).

    ``down_block_types`` use the 2-D names; the motion version of each block is derived from them.
    """

    block_out_channels: tuple[int, ...] = (8, 16)
    down_block_types: tuple[str, ...] = ("CrossAttnDownBlock2D", "DownBlock2D")
    up_block_types: tuple[str, ...] = ("UpBlock2D", "CrossAttnUpBlock2D")
    layers_per_block: int = 1
    attention_head_dim: int = 4
    cross_attention_dim: int = 16
    norm_num_groups: int = 4
    motion_num_attention_heads: int = 2
    motion_max_seq_length: int = 32
    use_motion_mid_block: bool = True


@dataclass
class PoseGuiderConfig:
    conditioning_channels: int = NUM_CONDITION_CHANNELS
    block_out_channels: tuple[int, ...] = (8, 16)


@dataclass
class InteractionConfig:
    """Region-aware Interaction System (arXiv 2504.10905 §3.2)."""

    enabled: bool = True
    num_spatial_latents: int = 8  # n
    num_temporal_latents: int = 4  # m
    latent_dim: int = 16  # d
    attention_head_dim: int = 8
    # UNet blocks whose spatial self-attention reads L_s and whose motion modules read L_t (name prefixes).
    blocks: tuple[str, ...] = ("down_blocks.0", "mid_block", "up_blocks.1")
    region_masking: bool = True
    # Radius (in cells of each UNet level) of the box blur that softens the downsampled region mask.
    mask_blur_radius: int = 1


@dataclass
class IDPreserverConfig:
    enabled: bool = True
    embedding_dim: int = 128  # 128 = dlib descriptor, 512 = ArcFace
    num_tokens: int = 4


@dataclass
class PretrainedConfig:
    """Local diffusers-format folders for the ``sd15`` preset; nothing is ever downloaded."""

    sd_path: str | None = None  # holds unet/ and vae/ subfolders
    motion_adapter_path: str | None = None  # a MotionAdapter saved with save_pretrained
    vae_path: str | None = None  # overrides <sd_path>/vae
    required: bool = False  # the preset only makes sense with sd_path set (sd15)


@dataclass
class ModelConfig:
    vae: VAEConfig = field(default_factory=VAEConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    pose_guider: PoseGuiderConfig = field(default_factory=PoseGuiderConfig)
    interaction: InteractionConfig = field(default_factory=InteractionConfig)
    id_preserver: IDPreserverConfig = field(default_factory=IDPreserverConfig)
    pretrained: PretrainedConfig = field(default_factory=PretrainedConfig)
    # Render then refine: condition on a composite of each frame as well (data/composite_pairs.py).
    composite_conditions: bool = False


@dataclass
class LossConfig:
    prediction_type: str = "epsilon"  # "epsilon" or "v_prediction"
    lambda_hand: float = 1.0
    lambda_face: float = 0.5
    lambda_contact: float = 2.0
    orthogonality: bool = True
    lambda_orth: float = 0.01
    # Stage 0 (VAE): pixel MSE + vae_kl_weight · KL(q(z|x) ‖ N(0, I)) per latent element (a lightly regularised
    # autoencoder as in Rombach et al. 2022, arXiv 2112.10752 §3; no perceptual/GAN terms offline).
    vae_kl_weight: float = 1e-4


@dataclass
class DropoutConfig:
    """Per-sample condition dropout for classifier-free guidance; each condition is dropped independently."""

    reference: float = 0.1
    identity: float = 0.1
    pose: float = 0.05


@dataclass
class SchedulerConfig:
    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    zero_terminal_snr: bool = False  # rescale so ᾱ_T = 0 (needs loss.prediction_type=v_prediction); see schedule.py


@dataclass
class SamplerConfig:
    num_inference_steps: int = 10
    guidance_scale: float = 2.0
    eta: float = 0.0


@dataclass
class DataConfig:
    """Training data. ``path`` is a dataset folder or a folder of packed shards (recognised by ``index.json``)."""

    path: str | None = None  # set by ``interanimate train --data DIR``
    resolution: int = 32
    num_frames: int = 4  # frames per clip in the video stage and validation (stages 0 and 1 train on single frames)
    stride: int = 1
    split: str = "train"  # clips trained on; validation clips come from "test" (or the first training clip)
    num_validation_clips: int = 1
    num_workers: int = 0
    shuffle_buffer: int = 16  # packed shards only


@dataclass
class StageConfig:
    """What the run trains. See ``training/stages.py`` for what each stage trains.

    A single stage: ``stage`` for ``max_steps`` steps. A chain: ``stages`` (e.g. ``[0, 1, 2]``) with ``steps``
    (one count per stage); the chain, when set, replaces ``stage``/``max_steps``.
    """

    stage: int = 1  # 0 = VAE, 1 = image, 2 = video
    max_steps: int = 100
    stages: tuple[int, ...] = ()
    steps: tuple[int, ...] = ()

    def plan(self) -> list[tuple[int, int]]:
        """``[(stage, num_steps), …]`` in training order."""
        if self.stages:
            return list(zip(self.stages, self.steps))
        return [(self.stage, self.max_steps)]


@dataclass
class TrainConfig:
    batch_size: int = 1  # per process and micro-batch
    # Micro-batches per optimizer step: the effective batch is batch_size × this × processes. Steps (and so
    # checkpoint_every, validate_every, stage.steps, lr_warmup_steps) count optimizer steps.
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    checkpoint_every: int = 50
    validate_every: int = 50
    ema_decay: float = 0.999
    use_ema: bool = True
    mixed_precision: str = "no"  # "no", "fp16", "bf16"
    gradient_checkpointing: bool = False
    use_8bit_adam: bool = False
    seed: int = 0
    lr_warmup_steps: int = 0  # linear warm-up at the start of every stage, then constant
    keep_checkpoints: int = 3  # newest checkpoints kept (0 = keep all)
    # Warm start: a new run copies weights from a trained model folder (a run's final/ or a checkpoint's model/)
    # before its first step; init_modules names which parts (vae, reference_net, unet, pose_guider, interaction,
    # id_preserver), empty = all. Copying the VAE copies its latent scaling factor too. A resumed run ignores this.
    init_from: str | None = None
    init_modules: tuple[str, ...] = ()
    log_every: int = 1


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    dropout: DropoutConfig = field(default_factory=DropoutConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------------------------------- merging


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a dataclass field annotation, converting lists to tuples and ints to floats."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_type, _ellipsis) = typing.get_args(annotation)
        return tuple(_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {annotation!r}")


def _merge(obj: Any, updates: dict[str, Any], prefix: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with nested ``updates`` applied; unknown keys raise ``ConfigError``."""
    if not isinstance(updates, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {updates!r}")
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in updates.items():
        full = f"{prefix}{key}"
        if key not in names:
            close = sorted(names)
            raise ConfigError(f"unknown config key {full!r}; valid keys here: {', '.join(close)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value, full + ".")
        else:
            changes[key] = _coerce(value, hints[key], full)
    return dataclasses.replace(obj, **changes)


def parse_override(text: str) -> dict[str, Any]:
    """``"model.unet.layers_per_block=2"`` → ``{"model": {"unet": {"layers_per_block": 2}}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value (e.g. train.learning_rate=1e-4)")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"override {text!r}: the value is not plain YAML (a number, string, true/false or "
                          "[list]); quote it") from None
    # YAML reads "1e-4" as a string; accept scientific notation for numbers.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else value
        except ValueError:
            pass
    nested: dict[str, Any] = {}
    cursor = nested
    parts = key.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


PRESETS_DIR = CONFIGS_DIR


def resolve_preset(preset: str | Path) -> Path:
    """A preset name (``tiny``, ``small``, ``sd15``) or a path to a YAML file."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = PRESETS_DIR / f"{preset}.yaml"
    if candidate.is_file():
        return candidate
    known = preset_names()
    raise ConfigError(f"unknown preset {str(preset)!r}; use one of {', '.join(known) or '(none found)'} or a .yaml path")


def load_config(preset: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults ← preset YAML ← ``key=value`` overrides, each layer checked against the schema."""
    config = Config()
    if preset is not None:
        path = resolve_preset(preset)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:  # broken YAML, or a !!python tag that safe_load refuses
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{path}: not a plain YAML config{line}: {problem}; only plain mappings, lists, "
                              "numbers and strings are read") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
        try:
            config = _merge(config, data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for text in overrides:
        config = _merge(config, parse_override(text))
    validate_config(config)
    return config


def config_from_dict(data: dict[str, Any]) -> Config:
    config = _merge(Config(), data)
    validate_config(config)
    return config


def validate_config(config: Config) -> None:
    if config.loss.prediction_type not in ("epsilon", "v_prediction"):
        raise ConfigError(f"loss.prediction_type must be 'epsilon' or 'v_prediction', got {config.loss.prediction_type!r}")
    unknown = sorted(set(config.train.init_modules) - set(MODEL_PARTS))
    if unknown:
        raise ConfigError(f"train.init_modules: unknown part(s) {', '.join(unknown)}; use {', '.join(MODEL_PARTS)}")
    if config.train.init_modules and not config.train.init_from:
        raise ConfigError("train.init_modules is set but train.init_from is not; name the model folder to copy from")
    if config.scheduler.zero_terminal_snr and config.loss.prediction_type != "v_prediction":
        raise ConfigError("scheduler.zero_terminal_snr=true needs loss.prediction_type=v_prediction (at zero SNR an "
                          "ε-prediction says nothing about the image)")
    if config.stage.stage not in (0, 1, 2):
        raise ConfigError(f"stage.stage must be 0, 1 or 2, got {config.stage.stage}")
    if len(config.stage.stages) != len(config.stage.steps):
        raise ConfigError(f"stage.stages {list(config.stage.stages)} and stage.steps {list(config.stage.steps)} "
                          "must have one step count per stage")
    for stage, steps in config.stage.plan():
        if stage not in (0, 1, 2):
            raise ConfigError(f"stage.stages may hold 0, 1 or 2, got {stage}")
        if steps < 0:
            raise ConfigError(f"stage steps must be >= 0, got {steps}")
    if 0 in [s for s, _ in config.stage.plan()] and (config.model.pretrained.sd_path or config.model.pretrained.vae_path):
        raise ConfigError("stage 0 trains a VAE from scratch, but this config loads a pretrained VAE; "
                          "drop 0 from stage.stages")
    for name in ("checkpoint_every", "validate_every", "lr_warmup_steps", "keep_checkpoints"):
        if getattr(config.train, name) < 0:
            raise ConfigError(f"train.{name} must be >= 0, got {getattr(config.train, name)}")
    for name in ("batch_size", "gradient_accumulation_steps", "log_every"):
        if getattr(config.train, name) < 1:
            raise ConfigError(f"train.{name} must be at least 1, got {getattr(config.train, name)}")
    if config.train.mixed_precision not in ("no", "fp16", "bf16"):
        raise ConfigError(f"train.mixed_precision must be no, fp16 or bf16, got {config.train.mixed_precision!r}")
    if config.model.pretrained.required and config.model.pretrained.sd_path is None:
        raise ConfigError("this preset loads SD-1.5 weights: set model.pretrained.sd_path=DIR (a local diffusers "
                          "folder with unet/ and vae/) and optionally model.pretrained.motion_adapter_path=DIR")
    if config.model.id_preserver.embedding_dim not in (128, 512):
        raise ConfigError("model.id_preserver.embedding_dim must be 128 (dlib) or 512 (ArcFace)")
    for name, p in dataclasses.asdict(config.dropout).items():
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"dropout.{name} must be in [0, 1], got {p}")
    _validate_data(config)


def _validate_data(config: Config) -> None:
    """Clip sizes the models can take, checked at load time rather than when a later stage first builds them."""
    data = config.data
    for name in ("num_frames", "stride", "resolution", "num_validation_clips"):
        if getattr(data, name) < 1:
            raise ConfigError(f"data.{name} must be at least 1, got {getattr(data, name)}")
    if data.num_workers < 0 or data.shuffle_buffer < 0:
        raise ConfigError("data.num_workers and data.shuffle_buffer must be >= 0")
    limit = config.model.unet.motion_max_seq_length
    if data.num_frames > limit:
        raise ConfigError(f"data.num_frames={data.num_frames} exceeds the motion modules' {limit} positions "
                          f"(model.unet.motion_max_seq_length); use at most {limit} frames or raise that limit")
    if config.model.pretrained.sd_path is None:
        vae_levels, unet_levels = len(config.model.vae.block_out_channels), len(config.model.unet.block_out_channels)
        factor = 2 ** (vae_levels - 1) * 2 ** (unet_levels - 1)
        if data.resolution < factor or data.resolution % factor:
            raise ConfigError(f"data.resolution={data.resolution} must be a multiple of {factor} (the VAE and UNet "
                              f"downsample by that much), e.g. {max(factor, data.resolution // factor * factor)}")


def to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict (tuples as lists) suitable for YAML/JSON."""
    return json_safe(dataclasses.asdict(config))


def save_config(config: Config, path: Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
