"""Sampling: diffusers schedulers over one guided, window-blended model wrapper.

The per-step math is a diffusers scheduler's (``DDIMScheduler`` and ``DPMSolverMultistepScheduler`` by default,
built from the training noise schedule by ``make_scheduler``; any other diffusers scheduler can be passed). The
loop only asks the model for its output at the scheduler's timesteps; ``GuidedDenoiser`` owns everything the
schedulers must not special-case:

- the guided prediction ``ε̂ = ε_u + s·(ε_c − ε_u)`` (Ho & Salimans 2022), whose unconditional branch drops the
  reference and the identity and keeps the pose; optionally only inside an interval of noise levels
  (Kynkäänniemi et al. 2024, arXiv 2404.07724), the conditional prediction alone elsewhere;
- what does not change across steps, computed once per clip: the ReferenceNet features, and the pose-guider
  embedding, interaction latents, region mask and identity tokens (``InterAnimateModel.prepare_conditioning``);
- clips longer than one temporal window: the frames are covered by overlapping windows, predicted together in one
  batch, and blended in latent space with weights that ramp linearly across each overlap (1 outside overlaps);
- optional reuse of the UNet's deep features between adjacent steps (DeepCache, Ma et al. 2023) at a chosen depth,
  the reference keys/values projected once per clip, and bf16 autocast with the attention kernel kept in float32.

``sample(..., init_pixel_values=x, strength=s)`` starts part-way instead of from noise (SDEdit, Meng et al. 2022):
``x``'s latents noised to the first of the last ``round(n · s)`` steps, which are the only steps run (``denoise``).

Initial noise (and DDIM's η-noise) is drawn per sample from a generator seeded by that sample's seed, for the whole
clip at once, so a sample's result does not depend on the batch it is in or on the window layout.
"""

from __future__ import annotations

import contextlib
import inspect
import math

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from interanimate.diffusion.schedule import NoiseSchedule
from interanimate.models.attention_kernel import float32_attention

SAMPLERS = ("ddim", "dpmpp")


def ddim_timesteps(num_train_timesteps: int, num_inference_steps: int) -> list[int]:
    """Evenly spaced, ending at ``T − 1`` ("trailing" spacing, arXiv 2305.08891 §3.3); the schedulers' timesteps."""
    step = num_train_timesteps / num_inference_steps
    return [round(num_train_timesteps - i * step) - 1 for i in range(num_inference_steps)]


def scheduler_settings(schedule: NoiseSchedule, prediction_type: str) -> dict:
    """The diffusers scheduler settings shared by every sampler for a training noise schedule."""
    return dict(num_train_timesteps=schedule.num_train_timesteps, beta_start=schedule.beta_start,
                beta_end=schedule.beta_end, beta_schedule=schedule.beta_schedule, prediction_type=prediction_type,
                rescale_betas_zero_snr=schedule.zero_terminal_snr, timestep_spacing="trailing")


def make_scheduler(sampler: str, schedule: NoiseSchedule, prediction_type: str = "epsilon") -> SchedulerMixin:
    """``"ddim"`` → ``DDIMScheduler`` (η from the call); ``"dpmpp"`` → DPM-Solver++(2M) (Lu et al. 2022,
    arXiv 2211.01095), first order at the last step, which goes to σ = 0."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)} (or a diffusers scheduler), got {sampler!r}")
    settings = scheduler_settings(schedule, prediction_type)
    if sampler == "ddim":
        return DDIMScheduler(**settings, clip_sample=False, set_alpha_to_one=True, steps_offset=0)
    return DPMSolverMultistepScheduler(**settings, algorithm_type="dpmsolver++", solver_order=2,
                                       final_sigmas_type="zero", lower_order_final=True)


def schedule_from_scheduler(scheduler: SchedulerMixin) -> NoiseSchedule:
    """The training noise schedule a diffusers scheduler's config describes."""
    c = scheduler.config
    return NoiseSchedule(c.num_train_timesteps, c.beta_start, c.beta_end, c.beta_schedule,
                         zero_terminal_snr=bool(c.get("rescale_betas_zero_snr", False)))


def temporal_windows(num_frames: int, window: int | None, overlap: int | None = None) -> list[tuple[int, int]]:
    """``[start, end)`` windows covering ``num_frames`` frames; consecutive windows share ``overlap`` frames.

    ``window=None`` or ``window >= num_frames`` gives one window. The last window is aligned to the clip's end, so
    every window has the full length (the motion modules see the frame count they were trained on).
    """
    if window is None or window >= num_frames:
        return [(0, num_frames)]
    if window < 2:
        raise ValueError(f"a temporal window needs at least 2 frames, got {window}")
    overlap = window // 2 if overlap is None else overlap
    if not 0 < overlap < window:
        raise ValueError(f"window overlap must be between 1 and {window - 1} frames, got {overlap}")
    stride = window - overlap
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return [(s, s + window) for s in starts]


def blend_weights(windows: list[tuple[int, int]], num_frames: int) -> list[torch.Tensor]:
    """Per-window frame weights ``(end − start,)``: linear ramps across overlaps, normalised to sum to 1 per frame."""
    raw = []
    for i, (start, end) in enumerate(windows):
        weight = torch.ones(end - start, dtype=torch.float64)
        if i > 0:  # ramp up across the overlap with the previous window
            shared = windows[i - 1][1] - start
            if shared > 0:
                weight[:shared] = torch.arange(1, shared + 1, dtype=torch.float64) / (shared + 1)
        if i + 1 < len(windows):  # ramp down across the overlap with the next window
            shared = end - windows[i + 1][0]
            if shared > 0:
                weight[-shared:] = torch.minimum(
                    weight[-shared:], torch.arange(shared, 0, -1, dtype=torch.float64) / (shared + 1))
        raw.append(weight)
    total = torch.zeros(num_frames, dtype=torch.float64)
    for (start, end), weight in zip(windows, raw):
        total[start:end] += weight
    return [(weight / total[start:end]).float() for (start, end), weight in zip(windows, raw)]


def _double(x):
    return None if x is None else torch.cat([x, x])


class GuidedDenoiser:
    """The model as the schedulers see it: ``denoiser.predict(latents, t, step) → ε or v`` for the whole clip.

    Args:
        model: an ``InterAnimateModel``.
        reference_pixel_values: ``(b, 3, H, W)`` in [-1, 1]; encoded and run through the ReferenceNet once.
        conditions: ``(b, C, f, H, W)`` condition maps.
        pattern_id, identity_embedding, identity_present: per-sample conditioning (see the model's forward).
        guidance_scale: ``s``; 1 disables guidance (one model call per step instead of a doubled batch).
        guidance_interval: ``(low, high)`` noise levels ``t / (T − 1)`` between which guidance is applied; outside
            it the conditional prediction alone is used (half the batch). ``None``: every step.
        use_motion_modules: ``False`` for image-stage models.
        window_frames, window_overlap: temporal windows for long clips (see ``temporal_windows``).
        cache_conditions: compute the pose guider, interaction latents, masks and identity tokens once per clip
            (``False`` recomputes them in every model call; the results are the same).
        deep_cache_interval: ``n > 1`` runs the whole UNet every ``n``-th step and only its shallow path on the
            deep features of the last whole step in between (DeepCache); 1 runs the whole UNet every step.
        deep_cache_layers: how many layers of the UNet's last up block the shallow path re-runs (the cache depth;
            ``None``: all of them, i.e. the deep features are those entering the last up block).
        precompute_attention: project the reference tokens by every reference-attention layer's keys and values
            once per clip, and answer attention over the single context token by its value (both exact).
        autocast_dtype: run the model under ``torch.autocast`` with this dtype (``torch.bfloat16``); ``None``: no.
        float32_attention: under autocast, keep the attention kernel in float32 (the projections stay in bf16).
        batch_windows: predict all windows of a step in one model call (``False``: one call per window).
        num_train_timesteps: ``T``.
    """

    def __init__(self, model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, *,
                 pattern_id: torch.Tensor | None = None, identity_embedding: torch.Tensor | None = None,
                 identity_present: torch.Tensor | None = None, guidance_scale: float = 2.0,
                 guidance_interval: tuple[float, float] | None = None, use_motion_modules: bool = True,
                 window_frames: int | None = None, window_overlap: int | None = None, cache_conditions: bool = True,
                 deep_cache_interval: int = 1, autocast_dtype: torch.dtype | None = None,
                 batch_windows: bool = True, num_train_timesteps: int = 1000, deep_cache_layers: int | None = None,
                 precompute_attention: bool = False, float32_attention: bool = False):
        if deep_cache_interval < 1:
            raise ValueError(f"deep_cache_interval must be at least 1, got {deep_cache_interval}")
        last_layers = len(model.unet.up_blocks[-1].resnets)
        if deep_cache_layers is not None and not 1 <= deep_cache_layers <= last_layers:
            raise ValueError(f"deep_cache_layers must be between 1 and {last_layers} (the layers of the UNet's last "
                             f"up block), got {deep_cache_layers}")
        self.deep_cache_layers = deep_cache_layers
        self.precompute_attention = precompute_attention
        self.float32_attention = float32_attention
        self.model = model
        self.guidance_scale = guidance_scale
        self.guidance_interval = guidance_interval
        self.use_motion_modules = use_motion_modules
        self.deep_cache_interval = deep_cache_interval
        self.autocast_dtype = autocast_dtype
        self.batch_windows = batch_windows
        self.num_train_timesteps = num_train_timesteps
        self.batch_size, _, num_frames = conditions.shape[:3]
        device = conditions.device
        self.device = device
        self.windows = temporal_windows(num_frames, window_frames, window_overlap)
        self.weights = [w.to(device) for w in blend_weights(self.windows, num_frames)]
        self._deep: dict[tuple, dict] = {}

        with self._autocast():
            reference_latents = model.encode(reference_pixel_values, sample=False)
            reference_features = model.compute_reference_features(reference_latents)  # once per clip
            reference_kv = model.reference_keys_values(reference_features) if precompute_attention else None
        if identity_present is None and identity_embedding is not None:
            identity_present = torch.ones(self.batch_size, dtype=torch.bool, device=device)
        self.guided = guidance_scale != 1.0
        self.conditions = conditions
        self.reference_features = reference_features
        self.reference_kv = reference_kv
        self.inputs = dict(pattern_id=pattern_id, identity_embedding=identity_embedding,
                           identity_present=identity_present)
        self.conditioning = None
        if cache_conditions:
            factor = model.latent_scale_factor
            latent_size = (conditions.shape[-2] // factor, conditions.shape[-1] // factor)
            with self._autocast():
                self.conditioning = model.prepare_conditioning(conditions, latent_size, **self.inputs)
        # Batch for a guided step = [unconditional; conditional]: the first half without reference and identity.
        self.uncond_keep = torch.cat([torch.zeros(self.batch_size, dtype=torch.bool),
                                      torch.ones(self.batch_size, dtype=torch.bool)]).to(device)
        if self.guided:
            present = None if identity_present is None else torch.cat([torch.zeros_like(identity_present),
                                                                       identity_present])
            self.guided_inputs = dict(pattern_id=_double(pattern_id), identity_embedding=_double(identity_embedding),
                                      identity_present=present)
            self.guided_features = {k: _double(v) for k, v in reference_features.items()}
            self.guided_kv = None if reference_kv is None else {
                k: (_double(key), _double(value)) for k, (key, value) in reference_kv.items()}
            self.guided_conditioning = None
            if cache_conditions:
                with self._autocast():
                    self.guided_conditioning = model.prepare_conditioning(
                        _double(conditions), latent_size, **self.guided_inputs)

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        stack.enter_context(torch.autocast(self.device.type, dtype=self.autocast_dtype))
        stack.enter_context(float32_attention(self.float32_attention))
        return stack

    def guided_at(self, t: int) -> bool:
        """Whether the step at timestep ``t`` applies guidance."""
        if not self.guided:
            return False
        if self.guidance_interval is None:
            return True
        low, high = self.guidance_interval
        level = float(t) / (self.num_train_timesteps - 1)
        return low <= level <= high

    def _call(self, latents: torch.Tensor, t, guided: bool, windows: list[tuple[int, int]],
              feature_cache: dict | None) -> torch.Tensor:
        """One model call over ``windows`` stacked in the batch: ``(w b, c, f_w, h, w)``, or ``(2 w b, ...)`` guided
        (all unconditional rows first, then all conditional ones)."""
        count = len(windows)
        num_frames = self.conditions.shape[2]
        whole = windows == [(0, num_frames)]
        model_input = torch.cat([latents[:, :, a:b] for a, b in windows])
        if guided:
            model_input = torch.cat([model_input, model_input])
            features, keep, inputs, conditioning = (self.guided_features, self.uncond_keep, self.guided_inputs,
                                                    self.guided_conditioning)
            reference_kv = self.guided_kv
            conditions = _double(self.conditions)
        else:
            features, keep, inputs, conditioning = self.reference_features, None, self.inputs, self.conditioning
            reference_kv = self.reference_kv
            conditions = self.conditions
        halves = 2 if guided else 1

        def per_window(x):  # per-sample inputs, (halves b, ...) -> (halves w b, ...)
            if x is None or count == 1:
                return x
            return torch.cat([torch.cat([part] * count) for part in x.chunk(halves)])

        def window_frames(x):  # per-frame inputs, (halves b, C, f, ...) -> (halves w b, C, f_w, ...)
            if whole:
                return x
            return torch.cat([torch.cat([part[:, :, a:b] for a, b in windows]) for part in x.chunk(halves)])

        kwargs = {}
        if conditioning is not None:
            if whole:
                kwargs["conditioning"] = conditioning
            else:
                size = conditioning.pose_embedding.shape[0] // halves
                parts = [conditioning.select(slice(i * size, (i + 1) * size)) for i in range(halves)]
                kwargs["conditioning"] = _concat_conditionings([p.frames(a, b) for p in parts for a, b in windows])
        else:
            kwargs.update({k: per_window(v) for k, v in inputs.items()})
        if feature_cache is not None:
            kwargs["feature_cache"] = feature_cache
        if reference_kv is not None:
            kwargs["reference_kv"] = {name: (per_window(key), per_window(value))
                                      for name, (key, value) in reference_kv.items()}
        if self.precompute_attention:
            kwargs["single_key_shortcut"] = True
        timesteps = torch.full((model_input.shape[0],), int(t), device=latents.device, dtype=torch.long)
        with self._autocast():
            prediction = self.model(model_input, timesteps, window_frames(conditions),
                                    reference_features={k: per_window(v) for k, v in features.items()},
                                    reference_keep=per_window(keep), use_motion_modules=self.use_motion_modules,
                                    **kwargs)
        return prediction.float()

    def predict(self, latents: torch.Tensor, t, step_index: int = 0) -> torch.Tensor:
        """The guided, window-blended model output (ε or v) for ``latents (b, c, f, h, w)`` at timestep ``t``."""
        guided = self.guided_at(int(t))
        b = self.batch_size
        blended = torch.zeros_like(latents, dtype=torch.float32)
        groups = [list(range(len(self.windows)))] if self.batch_windows else [[i] for i in range(len(self.windows))]
        for group_index, group in enumerate(groups):
            feature_cache = None
            if self.deep_cache_interval > 1:
                key = (guided, group_index)
                feature_cache = self._deep.get(key)
                if step_index % self.deep_cache_interval == 0 or feature_cache is None:
                    feature_cache = self._deep[key] = {}  # a whole step: store fresh deep features
                    if self.deep_cache_layers is not None:
                        feature_cache["shallow_layers"] = self.deep_cache_layers
            prediction = self._call(latents, t, guided, [self.windows[i] for i in group], feature_cache)
            if guided:
                uncond, cond = prediction.chunk(2)
                prediction = uncond + self.guidance_scale * (cond - uncond)
            for j, i in enumerate(group):
                start, end = self.windows[i]
                weight = self.weights[i].view(1, 1, -1, 1, 1)
                blended[:, :, start:end] += prediction[j * b:(j + 1) * b] * weight
        return blended


def _concat_conditionings(parts):
    """Stack ``ClipConditioning`` parts along the batch."""
    first = parts[0]

    def cat(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values)

    return type(first)(pose_embedding=cat("pose_embedding"), spatial_latents=cat("spatial_latents"),
                       temporal_latents=cat("temporal_latents"), region_mask=cat("region_mask"),
                       identity_tokens=cat("identity_tokens"), identity_weight=cat("identity_weight"),
                       mask_blur_radius=first.mask_blur_radius)


def _initial_noise(shape: tuple[int, ...], generators: list[torch.Generator], device) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)


def _progress(steps, progress: bool):
    if not progress:
        return steps
    from tqdm.auto import tqdm

    return tqdm(steps, desc="sampling", leave=False)


def start_step(num_inference_steps: int, strength: float) -> int:
    """Index of the first of ``num_inference_steps`` steps that a start at ``strength`` runs (SDEdit, Meng et al.
    2022, arXiv 2108.01073): ``round(n · strength)`` steps remain; 1 runs them all, 0 none."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return num_inference_steps - int(round(num_inference_steps * strength))


def denoise(denoiser: GuidedDenoiser, latents: torch.Tensor, scheduler: SchedulerMixin, num_inference_steps: int,
            generators: list[torch.Generator], eta: float = 0.0, progress: bool = False,
            init_latents: torch.Tensor | None = None, strength: float = 1.0) -> torch.Tensor:
    """The scheduler's loop from pure noise ``latents`` (unit variance) to clean latents.

    With ``init_latents`` and ``strength < 1`` the loop starts part-way (SDEdit): ``init_latents`` are noised to the
    first remaining timestep with ``latents`` as the noise (``scheduler.add_noise``) and only the remaining steps run;
    strength 0 returns ``init_latents`` unchanged, strength 1 is the loop from noise.
    Stochastic schedulers get per-sample noise: DDIM's η-noise is drawn from each sample's generator for the whole
    clip (``variance_noise``); schedulers whose ``step`` takes a ``generator`` get the list of per-sample ones.
    """
    scheduler.set_timesteps(num_inference_steps, device=latents.device)
    accepts = inspect.signature(scheduler.step).parameters
    shape = tuple(latents.shape[1:])
    dtype = latents.dtype
    timesteps = scheduler.timesteps
    if init_latents is not None and strength < 1.0:
        start = start_step(num_inference_steps, strength) * scheduler.order
        if start >= len(timesteps):
            return init_latents.to(dtype)
        timesteps = timesteps[start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(start)
        latents = scheduler.add_noise(init_latents.float(), latents.float(), timesteps[:1])
    else:
        latents = latents.float() * scheduler.init_noise_sigma
    for i, t in enumerate(_progress(timesteps, progress)):
        model_input = scheduler.scale_model_input(latents, t)
        output = denoiser.predict(model_input.to(dtype), t, i)
        kwargs = {}
        if "eta" in accepts:
            kwargs["eta"] = eta
            if eta > 0:
                kwargs["variance_noise"] = _initial_noise(shape, generators, latents.device)
        elif "generator" in accepts:
            kwargs["generator"] = generators if len(generators) > 1 else generators[0]
        result = scheduler.step(output, t, latents, **kwargs, return_dict=True)
        latents = result.prev_sample.float()
        if i == len(timesteps) - 1 and isinstance(scheduler, DDIMScheduler):
            # DDIM steps to t − T // n, which for trailing spacing with n not dividing T stops at t = 0 instead of
            # the clean sample; the last DDIM step goes to ᾱ = 1, where (σ = 0) the update is exactly x̂₀.
            latents = result.pred_original_sample.float()
    return latents.to(dtype)


@torch.no_grad()
def sample(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int], *,
           schedule: NoiseSchedule | None = None, sampler: str | SchedulerMixin = "ddim",
           pattern_id: torch.Tensor | None = None, identity_embedding: torch.Tensor | None = None,
           identity_present: torch.Tensor | None = None, num_inference_steps: int = 20, guidance_scale: float = 2.0,
           eta: float = 0.0, prediction_type: str = "epsilon", use_motion_modules: bool = True,
           window_frames: int | None = None, window_overlap: int | None = None, decode: bool = True,
           progress: bool = False, guidance_interval: tuple[float, float] | None = None,
           cache_conditions: bool = True, deep_cache_interval: int = 1,
           autocast_dtype: torch.dtype | None = None, batch_windows: bool = True,
           init_pixel_values: torch.Tensor | None = None, strength: float = 1.0,
           deep_cache_layers: int | None = None, precompute_attention: bool = False,
           float32_attention: bool = False) -> torch.Tensor:
    """Generate clips for ``reference_pixel_values (b, 3, H, W)`` under ``conditions (b, C, f, H, W)``.

    ``sampler`` is ``"ddim"``, ``"dpmpp"`` (DPM-Solver++(2M); ``eta`` applies to DDIM only), both built from
    ``schedule`` and ``prediction_type`` — or a diffusers scheduler, whose own config then says the schedule and the
    prediction type. ``seeds`` holds one seed per sample: a sample's result does not depend on what else is in the
    batch. ``window_frames`` splits long clips into overlapping windows (``window_overlap`` frames shared, default
    half a window) blended in latent space. The speed switches are ``GuidedDenoiser``'s.
    ``init_pixel_values (b, 3, f, H, W)`` with ``strength < 1`` starts from those frames, encoded (posterior mode)
    and noised to the timestep at ``strength`` (SDEdit; ``denoise``), instead of from noise.
    Returns pixels ``(b, 3, f, H, W)`` in [-1, 1] (or latents with ``decode=False``).
    """
    if isinstance(sampler, str):
        scheduler = make_scheduler(sampler, schedule or NoiseSchedule(), prediction_type)
    elif isinstance(sampler, SchedulerMixin):
        scheduler = sampler
    else:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)} or a diffusers scheduler, got {sampler!r}")
    config = scheduler.config
    if config.get("prediction_type", "epsilon") == "epsilon" and config.get("rescale_betas_zero_snr", False):
        raise ValueError("a zero-terminal-SNR schedule needs a v-prediction model: an ε-prediction says nothing "
                         "about the image at ᾱ = 0 (pass prediction_type='v_prediction')")
    batch_size, _, num_frames, height, width = conditions.shape
    if len(seeds) != batch_size:
        raise ValueError(f"need one seed per sample: {batch_size} samples, {len(seeds)} seeds")
    num_train_timesteps = int(config.num_train_timesteps)
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be between 1 and the schedule's {num_train_timesteps} "
                         f"timesteps, got {num_inference_steps}")
    if not math.isfinite(guidance_scale):
        raise ValueError(f"guidance_scale must be a finite number, got {guidance_scale}")
    start_step(num_inference_steps, strength)  # checks strength is in [0, 1]
    factor = model.latent_scale_factor
    shape = (model.unet.config.in_channels, num_frames, height // factor, width // factor)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    latents = _initial_noise(shape, generators, conditions.device).to(conditions.dtype)
    denoiser = GuidedDenoiser(model, reference_pixel_values, conditions, pattern_id=pattern_id,
                              identity_embedding=identity_embedding, identity_present=identity_present,
                              guidance_scale=guidance_scale, guidance_interval=guidance_interval,
                              use_motion_modules=use_motion_modules, window_frames=window_frames,
                              window_overlap=window_overlap, cache_conditions=cache_conditions,
                              deep_cache_interval=deep_cache_interval, autocast_dtype=autocast_dtype,
                              batch_windows=batch_windows, num_train_timesteps=int(config.num_train_timesteps),
                              deep_cache_layers=deep_cache_layers, precompute_attention=precompute_attention,
                              float32_attention=float32_attention)
    init_latents = None
    if init_pixel_values is not None and strength < 1.0:
        init_latents = model.encode(init_pixel_values.to(conditions.dtype), sample=False)
    latents = denoise(denoiser, latents, scheduler, num_inference_steps, generators, eta=eta, progress=progress,
                      init_latents=init_latents, strength=strength)
    return model.decode(latents) if decode else latents


def sample_ddim(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int],
                **kwargs) -> torch.Tensor:
    """``sample(..., sampler="ddim")``."""
    return sample(model, reference_pixel_values, conditions, seeds, sampler="ddim", **kwargs)


def sample_dpmpp(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int],
                 **kwargs) -> torch.Tensor:
    """``sample(..., sampler="dpmpp")``: DPM-Solver++(2M)."""
    return sample(model, reference_pixel_values, conditions, seeds, sampler="dpmpp", **kwargs)
