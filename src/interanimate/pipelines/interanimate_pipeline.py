"""``InterAnimatePipeline``: the model's parts and its scheduler as one ``diffusers.DiffusionPipeline``.

```python
from interanimate.pipelines.interanimate_pipeline import InterAnimatePipeline
pipe = InterAnimatePipeline.from_pretrained("src/interanimate/checkpoints/small-synth64")
video = pipe(reference_pixel_values, conditions, seeds=[0])           # (b, 3, f, H, W) in [-1, 1]
pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config)   # any diffusers scheduler
pipe.save_pretrained("my-model")
```

The folder describes sampling by itself: ``model_index.json`` names the parts and holds the sampling settings
(resolution, temporal window, the motion modules' positions, condition channels, guidance, steps, η, the training
stage), ``scheduler/scheduler_config.json`` the noise schedule (prediction type, zero-terminal SNR, timestep
spacing). Every part is a ``ModelMixin`` in its own subfolder — the same subfolders ``InterAnimateModel`` uses, and
``interanimate.json`` is written beside them, so one folder loads both ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from interanimate.data.conditions import NUM_CONDITION_CHANNELS
from interanimate.diffusion.sampler import SAMPLERS, make_scheduler, sample, schedule_from_scheduler
from interanimate.models import InterAnimateModel
from interanimate.models.id_preserver import IDPreserver
from interanimate.models.interaction_system import InteractionSystem
from interanimate.models.interanimate_model import CONTAINER_FILE, PART_CLASSES
from interanimate.models.interanimate_unet import InterAnimateUNet
from interanimate.models.pose_guider import PoseGuider
from interanimate.models.reference_net import ReferenceNet

PIPELINE_FILE = "model_index.json"
# Window policies: "fit" = one window whenever the clip fits the motion modules' positions; "trained" = windows of
# the trained clip length, overlapping by half (the model sees exactly the frame count it was trained on).
WINDOW_POLICIES = ("fit", "trained")


def bf16_is_fast(device: torch.device | str, float32_attention: bool = True) -> bool:
    """Whether bf16 autocast pays here: a CUDA GPU with bf16, or a CPU with native bf16 instructions (AVX-512 BF16
    or AMX) when the attention kernel stays in float32 — torch's CPU attention kernel is slower in bf16 than in
    float32 at these head sizes, while the convolutions and linear layers are faster (docs/benchmarks.md)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return float32_attention and torch.backends.mkldnn.is_available() and \
            bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


@dataclass(frozen=True)
class SamplingSpeed:
    """How a clip is sampled, beyond the math: the savings that leave the result (nearly) unchanged.

    Args:
        window_policy: ``"fit"`` — one window when the clip fits the motion modules' positions; ``"trained"`` —
            windows of the trained clip length overlapping by half (``WINDOW_POLICIES``).
        batch_windows: all windows of a step in one model call.
        cache_conditions: pose guider, interaction latents, masks and identity tokens once per clip.
        precompute_attention: the reference tokens' keys and values projected once per clip, and the
            cross-attention over the single context token answered by its value (both exact).
        guidance_interval: guidance only at noise levels ``t / (T − 1)`` in ``[low, high]`` (``None``: every step).
        deep_cache_interval: whole UNet every ``n``-th step, its shallow path on reused deep features between.
        deep_cache_layers: the cache depth — how many layers of the last up block the shallow path re-runs
            (``None``: the whole last up block).
        autocast: ``"bfloat16"`` runs the model under bf16 autocast where bf16 is native (``bf16_is_fast``),
            ``"always"`` anywhere, ``None`` never.
        float32_attention: under autocast, the attention kernel stays in float32 (projections and convolutions
            run in bf16); on CPU, bf16 autocast applies only with it.

    The defaults are the measured ones (``benchmarks/bench_animate.py``, docs/benchmarks.md); ``PLAIN_SPEED`` is
    the loop without any of them.
    """

    window_policy: str = "fit"
    batch_windows: bool = True
    cache_conditions: bool = True
    precompute_attention: bool = True
    guidance_interval: tuple[float, float] | None = (0.0, 0.6)
    deep_cache_interval: int = 2
    deep_cache_layers: int | None = 1
    autocast: str | None = "bfloat16"
    float32_attention: bool = True

    def sampler_options(self, pipe: "InterAnimatePipeline", num_frames: int) -> dict:
        """The keyword arguments of ``diffusion.sampler.sample`` for a clip of ``num_frames`` frames."""
        if self.autocast not in (None, "bfloat16", "always"):
            raise ValueError(f"autocast must be None, 'bfloat16' or 'always', got {self.autocast!r}")
        device = pipe.unet.device
        use_bf16 = self.autocast == "always" or (self.autocast == "bfloat16" and
                                                 bf16_is_fast(device, self.float32_attention))
        return dict(window_frames=pipe.window_for(num_frames, self.window_policy), batch_windows=self.batch_windows,
                    cache_conditions=self.cache_conditions, precompute_attention=self.precompute_attention,
                    guidance_interval=self.guidance_interval, deep_cache_interval=self.deep_cache_interval,
                    deep_cache_layers=self.deep_cache_layers, autocast_dtype=torch.bfloat16 if use_bf16 else None,
                    float32_attention=self.float32_attention)


PLAIN_SPEED = SamplingSpeed(window_policy="trained", batch_windows=False, cache_conditions=False,
                            precompute_attention=False, guidance_interval=None, deep_cache_interval=1,
                            deep_cache_layers=None, autocast=None, float32_attention=False)


class InterAnimatePipeline(DiffusionPipeline):
    """Reference image + condition maps → video, with a diffusers scheduler doing the per-step math.

    Args:
        vae, reference_net, unet, pose_guider, interaction, id_preserver: the model's parts (the last two may be
            ``None``: ablations without interaction latents / ID preserver).
        scheduler: a diffusers scheduler; its config carries the prediction type and the noise schedule.
        resolution: square frame size the model was trained at (pixels).
        window_frames: the video stage's clip length (frames per temporal window under ``"trained"``).
        condition_channels: channels of the condition maps the pose guider reads.
        region_masking, mask_blur_radius: the model's region options (see ``InterAnimateModel``).
        use_motion_modules: ``False`` for image-stage weights (frames generated independently).
        num_inference_steps, guidance_scale, eta: sampling defaults.
        stage: the training stage the weights come from, when known.
    """

    model_cpu_offload_seq = "vae->reference_net->pose_guider->unet->vae"
    _optional_components = ["interaction", "id_preserver"]

    def __init__(self, vae: AutoencoderKL, reference_net: ReferenceNet, unet: InterAnimateUNet,
                 pose_guider: PoseGuider, scheduler: SchedulerMixin, interaction: InteractionSystem | None = None,
                 id_preserver: IDPreserver | None = None, resolution: int = 64, window_frames: int = 16,
                 condition_channels: int = NUM_CONDITION_CHANNELS, region_masking: bool = True,
                 mask_blur_radius: int = 1, use_motion_modules: bool = True, num_inference_steps: int = 20,
                 guidance_scale: float = 2.0, eta: float = 0.0, stage: int | None = None):
        super().__init__()
        if int(pose_guider.config.conditioning_channels) != int(condition_channels):
            raise ValueError(f"the pose guider reads {pose_guider.config.conditioning_channels} condition channels, "
                             f"the pipeline config says {condition_channels}")
        self.register_modules(vae=vae, reference_net=reference_net, unet=unet, pose_guider=pose_guider,
                              scheduler=scheduler, interaction=interaction, id_preserver=id_preserver)
        self.register_to_config(resolution=int(resolution), window_frames=int(window_frames),
                                condition_channels=int(condition_channels), region_masking=bool(region_masking),
                                mask_blur_radius=int(mask_blur_radius), use_motion_modules=bool(use_motion_modules),
                                num_inference_steps=int(num_inference_steps), guidance_scale=float(guidance_scale),
                                eta=float(eta), stage=stage)
        self.model = InterAnimateModel(vae, reference_net, unet, pose_guider, interaction, id_preserver,
                                       region_masking=region_masking, mask_blur_radius=mask_blur_radius)

    # ---------------------------------------------------------------------------------------------- building

    @classmethod
    def from_model(cls, model: InterAnimateModel, scheduler: SchedulerMixin | None = None, *,
                   prediction_type: str = "epsilon", **settings) -> "InterAnimatePipeline":
        """Wrap an ``InterAnimateModel`` (default scheduler: DDIM on the SD-1.5 schedule with ``prediction_type``)."""
        if scheduler is None:
            from interanimate.diffusion.schedule import NoiseSchedule

            scheduler = make_scheduler("ddim", NoiseSchedule(), prediction_type)
        return cls(model.vae, model.reference_net, model.unet, model.pose_guider, scheduler,
                   interaction=model.interaction, id_preserver=model.id_preserver,
                   region_masking=model.region_masking, mask_blur_radius=model.mask_blur_radius, **settings)

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler.config.get("prediction_type", "epsilon"))

    @property
    def motion_positions(self) -> int:
        """How many frames one motion-module window can hold (its positional-encoding length)."""
        return int(self.unet.config.get("motion_max_seq_length", 32) or 32)

    def window_for(self, num_frames: int, policy: str = "fit") -> int:
        """Frames per temporal window for a clip of ``num_frames`` under ``policy`` (``WINDOW_POLICIES``)."""
        if policy not in WINDOW_POLICIES:
            raise ValueError(f"window policy must be one of {', '.join(WINDOW_POLICIES)}, got {policy!r}")
        if policy == "fit" and num_frames <= self.motion_positions:
            return num_frames
        return max(2, min(int(self.config.window_frames), self.motion_positions))

    def scheduler_for(self, sampler: str | SchedulerMixin | None) -> SchedulerMixin:
        """``None``: the registered scheduler; ``"ddim"`` / ``"dpmpp"``: that one on the registered schedule;
        a scheduler instance: itself."""
        if sampler is None:
            return self.scheduler
        if isinstance(sampler, SchedulerMixin):
            return sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)} or a diffusers scheduler, got {sampler!r}")
        if sampler == "ddim" and isinstance(self.scheduler, DDIMScheduler):
            return self.scheduler
        return make_scheduler(sampler, schedule_from_scheduler(self.scheduler), self.prediction_type)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "InterAnimatePipeline":
        """Load a local pipeline folder (``save_pretrained``'s). Parts or settings passed in ``kwargs`` replace the
        folder's. The parts are loaded by their own classes and the scheduler by the diffusers class that
        ``model_index.json`` names, so no class outside the two libraries is looked up by name."""
        import diffusers

        folder = Path(pretrained_model_name_or_path)
        if not (folder / PIPELINE_FILE).is_file():
            raise FileNotFoundError(f"{folder} is not an InterAnimate pipeline folder (no {PIPELINE_FILE})")
        index = json.loads((folder / PIPELINE_FILE).read_text())
        arguments = {k: v for k, v in index.items() if not k.startswith("_") and k not in PART_CLASSES
                     and k != "scheduler"}
        for name, part_class in PART_CLASSES.items():
            entry = index.get(name)
            if isinstance(entry, list) and entry[0] is not None and name not in kwargs:
                arguments[name] = part_class.from_pretrained(folder / name, local_files_only=True,
                                                             use_safetensors=True)
        if "scheduler" not in kwargs:
            library, class_name = index["scheduler"]
            scheduler_class = getattr(diffusers, class_name, None) if library == "diffusers" else None
            if scheduler_class is None:
                raise ValueError(f"{folder}: unknown scheduler {library}.{class_name}")
            arguments["scheduler"] = scheduler_class.from_pretrained(folder / "scheduler")
        arguments.update(kwargs)
        return cls(**arguments)

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """diffusers' folder plus ``interanimate.json``, so ``InterAnimateModel.from_pretrained`` reads it too."""
        super().save_pretrained(save_directory, safe_serialization=True, **kwargs)
        write_container_file(self, Path(save_directory))

    # ---------------------------------------------------------------------------------------------- sampling

    @torch.no_grad()
    def __call__(self, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int], *,
                 pattern_id: torch.Tensor | None = None, identity_embedding: torch.Tensor | None = None,
                 identity_present: torch.Tensor | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, eta: float | None = None,
                 sampler: str | SchedulerMixin | None = None, speed: SamplingSpeed | None = None,
                 window_frames: int | None = None, window_overlap: int | None = None,
                 output_type: str = "pt", progress: bool = False, init_pixel_values: torch.Tensor | None = None,
                 strength: float = 1.0) -> torch.Tensor:
        """Sample clips: ``reference_pixel_values (b, 3, H, W)``, ``conditions (b, C, f, H, W)``, one seed each.

        Settings left ``None`` come from the pipeline config; ``speed`` defaults to ``SamplingSpeed()``
        (``PLAIN_SPEED``: the loop without savings); ``window_frames`` overrides its window policy.
        ``output_type="latent"`` skips decoding. ``init_pixel_values (b, 3, f, H, W)`` in [-1, 1] with ``strength``
        below 1 starts from those frames noised to that strength (SDEdit; ``diffusion.sampler.denoise``).
        Returns ``(b, 3, f, H, W)`` in [-1, 1] (or latents).
        """
        if output_type not in ("pt", "latent"):
            raise ValueError(f"output_type must be 'pt' or 'latent', got {output_type!r}")
        config = self.config
        scheduler = self.scheduler_for(sampler)
        options = (speed or SamplingSpeed()).sampler_options(self, conditions.shape[2])
        if window_frames is not None:
            options["window_frames"] = window_frames
        steps = int(num_inference_steps or config.num_inference_steps)
        return sample(self.model, reference_pixel_values, conditions, list(seeds), sampler=scheduler,
                      pattern_id=pattern_id, identity_embedding=identity_embedding,
                      identity_present=identity_present, num_inference_steps=steps,
                      guidance_scale=float(config.guidance_scale if guidance_scale is None else guidance_scale),
                      eta=float(config.eta if eta is None else eta), use_motion_modules=config.use_motion_modules,
                      window_overlap=window_overlap, decode=output_type == "pt", progress=progress,
                      init_pixel_values=init_pixel_values, strength=strength, **options)


def write_container_file(pipe: InterAnimatePipeline, directory: Path) -> None:
    """``interanimate.json``: the parts and region options as ``InterAnimateModel.from_pretrained`` reads them."""
    components = {name: PART_CLASSES[name].__name__ for name in PART_CLASSES if getattr(pipe, name, None) is not None}
    options = {"components": components, "region_masking": pipe.config.region_masking,
               "mask_blur_radius": pipe.config.mask_blur_radius}
    (directory / CONTAINER_FILE).write_text(json.dumps(options, indent=2))


def write_pipeline_files(pipe: InterAnimatePipeline, directory: str | Path) -> None:
    """Make an ``InterAnimateModel`` folder self-describing without rewriting its weights: add ``model_index.json``
    and ``scheduler/`` (what ``save_pretrained`` adds to the parts' subfolders)."""
    directory = Path(directory)
    pipe.save_config(directory)
    pipe.scheduler.save_pretrained(directory / "scheduler")


def is_pipeline_folder(path: str | Path) -> bool:
    return (Path(path) / PIPELINE_FILE).is_file() and (Path(path) / "scheduler").is_dir()


__all__ = ["InterAnimatePipeline", "PIPELINE_FILE", "PLAIN_SPEED", "SamplingSpeed", "WINDOW_POLICIES", "bf16_is_fast",
           "is_pipeline_folder", "write_pipeline_files"]
