"""Finding, checking and loading an InterAnimate model for inference.

``--checkpoint`` may name any of:

- a pipeline folder (``InterAnimatePipeline.save_pretrained``: ``model_index.json`` + ``scheduler/`` + one subfolder
  per part), which says by itself how to sample it;
- a model folder (``InterAnimateModel.save_pretrained``: ``interanimate.json`` + one subfolder per component);
- a training checkpoint ``RUN/checkpoints/step-N/`` (its ``model/`` holds the raw weights; the stage's EMA shadows
  in ``ema.safetensors`` replace them, as the trainer's validation does);
- a run folder: its ``final/`` (EMA weights of the completed plan) or, while training runs, its newest checkpoint.

A pipeline folder's own files give the noise schedule, the prediction type, the sampler defaults, the trained
resolution and window length. For a model folder they come from the resolved training config (``config.yaml`` beside
the model); a bare model folder falls back to the defaults and to the resolution in its UNet config. Either way the
result carries an ``InterAnimatePipeline`` over the loaded parts.

The checkpoint's identity, recorded in every output, is the sha256 over the sorted relative paths and sha256 of
every weight and config file of the model folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from interanimate.data.conditions import NUM_CONDITION_CHANNELS
from interanimate.data.io import sha256_file
from interanimate.pipelines.errors import AnimateError

CONTAINER_FILE = "interanimate.json"


@dataclass
class LoadedCheckpoint:
    """A model ready for sampling and what is known about how it was trained.

    Args:
        model: the ``InterAnimateModel`` (eval mode).
        path: the model folder that was loaded.
        sha256: identity of the weights (see the module docstring).
        config: the training ``Config`` (defaults when none was saved).
        config_found: whether a ``config.yaml`` was found.
        resolution: square frame size the model was trained at (pixels).
        window_frames: frames per temporal window (the video stage's clip length).
        stage: training stage the weights come from, when known (2 = video stage reached).
        ema: whether EMA shadows were applied.
        notes: facts worth reporting (e.g. "image-stage weights: motion modules untrained").
        pipeline: the ``InterAnimatePipeline`` over ``model``'s parts (scheduler and sampling settings).
    """

    model: torch.nn.Module
    path: Path
    sha256: str
    config: object
    config_found: bool
    resolution: int
    window_frames: int
    stage: int | None = None
    ema: bool = False
    notes: list[str] = field(default_factory=list)
    pipeline: object = None

    def __post_init__(self):
        if self.pipeline is None:
            self.pipeline = pipeline_from_config(self.model, self.config, self.config_found, self.resolution,
                                                 self.window_frames, self.stage)

    @property
    def identity_dim(self) -> int | None:
        preserver = self.model.id_preserver
        return None if preserver is None else int(preserver.config.embedding_dim)

    @property
    def composite_conditions(self) -> bool:
        """Whether the model was built to read composite channels (``data.composite_pairs``) after its maps."""
        return bool(self.model.pose_guider.config.get("composite_channels", 0))

    def describe(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "resolution": self.resolution,
                "window_frames": self.window_frames, "stage": self.stage, "ema": self.ema,
                "config_found": self.config_found, "notes": list(self.notes)}


def _is_model_folder(path: Path) -> bool:
    return (path / CONTAINER_FILE).is_file()


def resolve_model_folder(path: Path) -> tuple[Path, Path | None]:
    """``(model folder, checkpoint folder or None)`` for any accepted ``--checkpoint`` form."""
    from interanimate.training.checkpoint import latest_checkpoint

    path = Path(path)
    if not path.exists():
        raise AnimateError(f"checkpoint {path} does not exist; pass a trained run folder (RUN_DIR), its final/ "
                           "folder or a checkpoints/step-N/ folder")
    if not path.is_dir():
        raise AnimateError(f"checkpoint {path} is a file; pass a run folder, final/ or checkpoints/step-N/")
    if _is_model_folder(path):
        return path, None
    if _is_model_folder(path / "model") and (path / "state.json").is_file():
        return path / "model", path
    if _is_model_folder(path / "final") and (path / "final" / "state.json").is_file():
        return path / "final", None
    newest = latest_checkpoint(path)
    if newest is not None and _is_model_folder(newest / "model"):
        return newest / "model", newest
    raise AnimateError(f"{path} holds no InterAnimate model (no {CONTAINER_FILE}, final/ or checkpoints/step-N/); "
                       "train one with `interanimate train` or pass the folder that holds it")


def checkpoint_sha256(model_dir: Path, extra_files: list[Path] = ()) -> str:
    """sha256 over ``relative path + file sha256`` of every weight/config file (sorted), plus ``extra_files``."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and p.suffix in (".safetensors", ".json"))
    for p in files:
        digest.update(f"{p.relative_to(model_dir).as_posix()}\0{sha256_file(p)}\n".encode())
    for p in extra_files:
        digest.update(f"{p.name}\0{sha256_file(p)}\n".encode())
    return digest.hexdigest()


def _read_config(candidates: list[Path]):
    from interanimate.training.config import Config, ConfigError, config_from_dict

    for path in candidates:
        if path.is_file():
            try:
                return config_from_dict(yaml.safe_load(path.read_text()) or {}), True
            except (ConfigError, yaml.YAMLError) as exc:
                raise AnimateError(f"{path} is not a training config this version can read ({exc}); the checkpoint "
                                   "was made by an incompatible version") from None
    return Config(), False


def _apply_ema(model: torch.nn.Module, ema_file: Path) -> int:
    from safetensors.torch import load_file

    shadows = load_file(str(ema_file))
    params = dict(model.named_parameters())
    unknown = [name for name in shadows if name not in params]
    if unknown:
        raise AnimateError(f"{ema_file} holds EMA weights for {unknown[0]!r}, which this model does not have; "
                           "the checkpoint is incompatible with its model folder")
    with torch.no_grad():
        for name, value in shadows.items():
            if params[name].shape != value.shape:
                raise AnimateError(f"{ema_file}: EMA weight {name!r} has shape {tuple(value.shape)}, the model "
                                   f"{tuple(params[name].shape)}; the checkpoint is incompatible")
            params[name].copy_(value)
    return len(shadows)


def pipeline_from_config(model, config, config_found: bool, resolution: int, window_frames: int,
                         stage: int | None):
    """The ``InterAnimatePipeline`` a training config describes for ``model`` (for folders without their own)."""
    from interanimate.diffusion.sampler import make_scheduler
    from interanimate.diffusion.schedule import NoiseSchedule
    from interanimate.pipelines.interanimate_pipeline import InterAnimatePipeline

    scheduler = make_scheduler("ddim", NoiseSchedule.from_config(config.scheduler), config.loss.prediction_type)
    return InterAnimatePipeline.from_model(
        model, scheduler, resolution=resolution, window_frames=window_frames,
        condition_channels=int(model.pose_guider.config.conditioning_channels), use_motion_modules=stage != 1,
        num_inference_steps=int(config.sampler.num_inference_steps),
        guidance_scale=float(config.sampler.guidance_scale), eta=float(config.sampler.eta), stage=stage)


def _load_parts(model_dir: Path):
    """``(model, pipeline or None)``: a pipeline folder loads as a pipeline, a model folder as a model."""
    from interanimate.models import InterAnimateModel
    from interanimate.pipelines.interanimate_pipeline import InterAnimatePipeline, is_pipeline_folder

    if is_pipeline_folder(model_dir):
        pipe = InterAnimatePipeline.from_pretrained(model_dir)
        return pipe.model, pipe
    return InterAnimateModel.from_pretrained(model_dir), None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Resolve, check and load ``path`` (see the module docstring); raise ``AnimateError`` with one clear line."""
    model_dir, checkpoint_dir = resolve_model_folder(Path(path))
    candidates = [model_dir / "config.yaml"] + ([checkpoint_dir / "config.yaml"] if checkpoint_dir else []) + \
        [model_dir.parent / "config.yaml"]
    config, found = _read_config(candidates)
    try:
        model, pipe = _load_parts(model_dir)
    except AnimateError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnimateError(f"cannot load the model in {model_dir}: {first[:300]}; the checkpoint is incomplete or "
                           "was made by an incompatible version") from None
    channels = int(model.pose_guider.config.conditioning_channels)
    if channels != NUM_CONDITION_CHANNELS:
        raise AnimateError(f"{model_dir}: the pose guider expects {channels} condition channels but this version "
                           f"renders {NUM_CONDITION_CHANNELS}; the checkpoint is incompatible")
    if found and model.id_preserver is not None and \
            int(model.id_preserver.config.embedding_dim) != int(config.model.id_preserver.embedding_dim):
        raise AnimateError(f"{model_dir}: its ID preserver takes {model.id_preserver.config.embedding_dim}-d "
                           f"embeddings but its config.yaml says {config.model.id_preserver.embedding_dim}; "
                           "the checkpoint is incompatible with its config")
    notes: list[str] = []
    stage = None
    ema = False
    extra_files: list[Path] = []
    state_file = (checkpoint_dir or model_dir) / "state.json"
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        stage = state.get("stage")
    if checkpoint_dir is not None and (checkpoint_dir / "ema.safetensors").is_file():
        _apply_ema(model, checkpoint_dir / "ema.safetensors")
        extra_files.append(checkpoint_dir / "ema.safetensors")
        ema = True
    if checkpoint_dir is not None:
        notes.append(f"mid-training checkpoint {checkpoint_dir.name} (stage {stage})")
    if stage == 0:
        raise AnimateError(f"{checkpoint_dir or model_dir} was saved during stage 0 (VAE only): its denoiser is "
                           "untrained; use a later checkpoint or the run's final/ model")
    if stage == 1:
        notes.append("image-stage weights: motion modules are untrained, frames are generated independently")
    model.eval().to(device)
    if pipe is not None:
        resolution, window = int(pipe.config.resolution), int(pipe.config.window_frames)
        stage = pipe.config.stage if stage is None else stage
        if stage == 1 and pipe.config.use_motion_modules:
            pipe.register_to_config(use_motion_modules=False)
    else:
        factor = model.latent_scale_factor
        resolution = int(config.data.resolution) if found else int(model.unet.config.sample_size) * factor
        window = int(config.data.num_frames) if found else 16
    window = max(2, min(window, int(getattr(model.unet.config, "motion_max_seq_length", 32) or 32)))
    return LoadedCheckpoint(model=model, path=model_dir, sha256=checkpoint_sha256(model_dir, extra_files),
                            config=config, config_found=found, resolution=resolution, window_frames=window,
                            stage=stage, ema=ema, notes=notes, pipeline=pipe)
