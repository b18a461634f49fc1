"""Samplers: DDIM and DPM-Solver++(2M), classifier-free guidance, long clips by overlapping temporal windows.

Both samplers are loops over one model wrapper, ``GuidedDenoiser``, that turns the latents at timestep ``t`` into
``(ε̂, x̂₀)``. It owns everything the samplers must not special-case:

- the guided prediction ``ε̂ = ε_u + s·(ε_c − ε_u)`` (Ho & Salimans 2022), whose unconditional branch drops the
  reference and the identity and keeps the pose;
- ε- or v-prediction, adapted to ``(ε̂, x̂₀)`` in one place;
- ReferenceNet features, computed once per clip before the loop and reused at every step and in every window;
- clips longer than the motion modules were trained on: the frames are covered by overlapping windows, each window
  is predicted on its own, and the predictions are blended in latent space with weights that ramp linearly across
  each overlap (1 outside overlaps), so neighbouring windows agree smoothly where they meet.

Initial noise (and DDIM's η-noise) is drawn per sample from a generator seeded by that sample's seed, for the whole
clip at once, so a sample's result does not depend on the batch it is in or on the window layout.
"""

from __future__ import annotations

import math

import torch

from interanimate.diffusion.schedule import NoiseSchedule

SAMPLERS = ("ddim", "dpmpp")


def ddim_timesteps(num_train_timesteps: int, num_inference_steps: int) -> list[int]:
    """Evenly spaced, ending at ``T − 1`` ("trailing" spacing, arXiv 2305.08891 §3.3)."""
    step = num_train_timesteps / num_inference_steps
    return [round(num_train_timesteps - i * step) - 1 for i in range(num_inference_steps)]


def _to_eps_x0(prediction: torch.Tensor, x: torch.Tensor, alpha_bar: float, prediction_type: str):
    """Adapt the model output to (ε̂, x̂₀) so the updates below are the same for ε- and v-prediction."""
    a, s = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        eps = prediction
        x0 = (x - s * eps) / a
    else:  # v = a·ε − s·x₀
        x0 = a * x - s * prediction
        eps = s * x + a * prediction
    return eps, x0


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


class GuidedDenoiser:
    """The model as the samplers see it: ``denoiser(latents, t) → (ε̂, x̂₀)`` for the whole clip.

    Args:
        model: an ``InterAnimateModel``.
        reference_pixel_values: ``(b, 3, H, W)`` in [-1, 1]; encoded and run through the ReferenceNet once.
        conditions: ``(b, C, f, H, W)`` condition maps.
        pattern_id, identity_embedding, identity_present: per-sample conditioning (see the model's forward).
        guidance_scale: ``s``; 1 disables guidance (one model call per window and step instead of a doubled batch).
        prediction_type: ``"epsilon"`` or ``"v_prediction"``, as trained.
        schedule: the noise schedule (ᾱ_t).
        use_motion_modules: ``False`` for image-stage models.
        window_frames, window_overlap: temporal windows for long clips (see ``temporal_windows``).
    """

    def __init__(self, model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, *,
                 schedule: NoiseSchedule, pattern_id: torch.Tensor | None = None,
                 identity_embedding: torch.Tensor | None = None, identity_present: torch.Tensor | None = None,
                 guidance_scale: float = 2.0, prediction_type: str = "epsilon", use_motion_modules: bool = True,
                 window_frames: int | None = None, window_overlap: int | None = None):
        self.model = model
        self.schedule = schedule
        self.guidance_scale = guidance_scale
        self.prediction_type = prediction_type
        self.use_motion_modules = use_motion_modules
        batch_size, _, num_frames = conditions.shape[:3]
        device = conditions.device
        if prediction_type == "epsilon" and float(schedule.alphas_cumprod[-1]) == 0.0:
            raise ValueError("a zero-terminal-SNR schedule needs a v-prediction model: an ε-prediction says nothing "
                             "about the image at ᾱ = 0 (pass prediction_type='v_prediction')")
        self.windows = temporal_windows(num_frames, window_frames, window_overlap)
        self.weights = [w.to(device) for w in blend_weights(self.windows, num_frames)]

        reference_latents = model.encode(reference_pixel_values, sample=False)
        reference_features = model.compute_reference_features(reference_latents)  # once per clip
        if identity_present is None and identity_embedding is not None:
            identity_present = torch.ones(batch_size, dtype=torch.bool, device=device)
        self.guided = guidance_scale != 1.0

        def double(x):
            return None if x is None else torch.cat([x, x])

        if self.guided:
            # Batch = [unconditional; conditional]: same latents, the first half without reference and identity.
            self.reference_features = {k: double(v) for k, v in reference_features.items()}
            keep = torch.cat([torch.zeros(batch_size, dtype=torch.bool), torch.ones(batch_size, dtype=torch.bool)])
            present = None if identity_present is None else torch.cat([torch.zeros_like(identity_present),
                                                                       identity_present])
            self.conditions = double(conditions)
            self.inputs = dict(pattern_id=double(pattern_id), identity_embedding=double(identity_embedding),
                               identity_present=present, reference_keep=keep.to(device))
        else:
            self.reference_features = reference_features
            self.conditions = conditions
            self.inputs = dict(pattern_id=pattern_id, identity_embedding=identity_embedding,
                               identity_present=identity_present, reference_keep=None)

    def predict(self, latents: torch.Tensor, t: int) -> torch.Tensor:
        """The guided, window-blended model output (ε or v) for ``latents (b, c, f, h, w)`` at timestep ``t``."""
        blended = torch.zeros_like(latents, dtype=torch.float32)
        for (start, end), weight in zip(self.windows, self.weights):
            window = latents[:, :, start:end]
            model_input = torch.cat([window, window]) if self.guided else window
            timesteps = torch.full((model_input.shape[0],), t, device=latents.device, dtype=torch.long)
            prediction = self.model(model_input, timesteps, self.conditions[:, :, start:end],
                                    reference_features=self.reference_features,
                                    use_motion_modules=self.use_motion_modules, **self.inputs).float()
            if self.guided:
                uncond, cond = prediction.chunk(2)
                prediction = uncond + self.guidance_scale * (cond - uncond)
            blended[:, :, start:end] += prediction * weight.view(1, 1, -1, 1, 1)
        return blended

    def __call__(self, latents: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        alpha_bar = float(self.schedule.alphas_cumprod[t])
        return _to_eps_x0(self.predict(latents, t), latents.float(), alpha_bar, self.prediction_type)


def _initial_noise(shape: tuple[int, ...], generators: list[torch.Generator], device) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)


def _progress(steps: list[int], progress: bool):
    if not progress:
        return steps
    from tqdm.auto import tqdm

    return tqdm(steps, desc="sampling", leave=False)


def ddim_loop(denoiser: GuidedDenoiser, latents: torch.Tensor, steps: list[int], generators: list[torch.Generator],
              eta: float = 0.0, progress: bool = False) -> torch.Tensor:
    """DDIM (Song et al. 2021, arXiv 2010.02502, eq. 12):
    ``x_{t'} = √ᾱ_{t'}·x̂₀ + √(1 − ᾱ_{t'} − σ²)·ε̂ + σ·z``, ``σ = η·√((1−ᾱ_{t'})/(1−ᾱ_t))·√(1 − ᾱ_t/ᾱ_{t'})``."""
    alphas = denoiser.schedule.alphas_cumprod
    shape = tuple(latents.shape[1:])
    dtype = latents.dtype
    for i, t in enumerate(_progress(steps, progress)):
        eps, x0 = denoiser(latents, t)
        alpha_bar = float(alphas[t])
        alpha_bar_prev = float(alphas[steps[i + 1]]) if i + 1 < len(steps) else 1.0
        sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar)) ** 0.5 * (1 - alpha_bar / alpha_bar_prev) ** 0.5
        latents = alpha_bar_prev**0.5 * x0 + max(1 - alpha_bar_prev - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            latents = latents + sigma * _initial_noise(shape, generators, latents.device)
        latents = latents.to(dtype)
    return latents


def dpmpp_2m_loop(denoiser: GuidedDenoiser, latents: torch.Tensor, steps: list[int],
                  progress: bool = False) -> torch.Tensor:
    """DPM-Solver++(2M), the multistep second-order data-prediction solver (Lu et al. 2022, arXiv 2211.01095).

    With ``α_t = √ᾱ_t``, ``σ_t = √(1−ᾱ_t)``, ``λ_t = log(α_t/σ_t)`` and ``h_i = λ_{t_i} − λ_{t_{i−1}}``
    (Algorithm 2 / eq. 10 of the paper):

        D_i = (1 + 1/(2r_i))·x̂₀(t_{i−1}) − 1/(2r_i)·x̂₀(t_{i−2}),  r_i = h_{i−1}/h_i
        x_{t_i} = (σ_{t_i}/σ_{t_{i−1}})·x_{t_{i−1}} − α_{t_i}·(e^{−h_i} − 1)·D_i

    The first step has no history and uses ``D = x̂₀`` (DPM-Solver++(1), which equals DDIM with η = 0). The last step
    goes to ``σ = 0`` (``λ = ∞``, ``r → 0``), where the second-order term is undefined; it is taken first-order, which
    there reduces to ``x = x̂₀``.
    """
    alphas = denoiser.schedule.alphas_cumprod
    dtype = latents.dtype

    def coefficients(t: int | None) -> tuple[float, float, float]:
        alpha_bar = 1.0 if t is None else float(alphas[t])
        alpha, sigma = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
        if sigma == 0:
            return alpha, sigma, math.inf
        # A zero-terminal-SNR schedule starts at ᾱ = 0, λ = −∞: then h = ∞, e^{−h} = 0 and the step is exactly
        # DDIM's; the next step gets r = ∞, so it is first order too (the limit of the formulas, taken exactly).
        return alpha, sigma, (math.log(alpha / sigma) if alpha > 0 else -math.inf)

    previous_x0, previous_h = None, None
    x = latents.float()
    for i, t in enumerate(_progress(steps, progress)):
        _, x0 = denoiser(x.to(dtype), t)
        _, sigma_s, lambda_s = coefficients(t)
        target = steps[i + 1] if i + 1 < len(steps) else None
        alpha_t, sigma_t, lambda_t = coefficients(target)
        if target is None:
            x = x0  # σ_t = 0: the first-order update is exactly x̂₀
            break
        h = lambda_t - lambda_s
        if previous_x0 is None:
            d = x0
        else:
            r = previous_h / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous_x0
        x = (sigma_t / sigma_s) * x - alpha_t * math.expm1(-h) * d
        previous_x0, previous_h = x0, h
    return x.to(dtype)


@torch.no_grad()
def sample(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int], *,
           schedule: NoiseSchedule, sampler: str = "ddim", pattern_id: torch.Tensor | None = None,
           identity_embedding: torch.Tensor | None = None, identity_present: torch.Tensor | None = None,
           num_inference_steps: int = 20, guidance_scale: float = 2.0, eta: float = 0.0,
           prediction_type: str = "epsilon", use_motion_modules: bool = True, window_frames: int | None = None,
           window_overlap: int | None = None, decode: bool = True, progress: bool = False) -> torch.Tensor:
    """Generate clips for ``reference_pixel_values (b, 3, H, W)`` under ``conditions (b, C, f, H, W)``.

    ``sampler`` is ``"ddim"`` or ``"dpmpp"`` (DPM-Solver++(2M); ``eta`` applies to DDIM only). ``seeds`` holds one
    seed per sample: a sample's result does not depend on what else is in the batch. ``window_frames`` splits long
    clips into overlapping windows (``window_overlap`` frames shared, default half a window) blended in latent space.
    Returns pixels ``(b, 3, f, H, W)`` in [-1, 1] (or latents with ``decode=False``).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    batch_size, _, num_frames, height, width = conditions.shape
    if len(seeds) != batch_size:
        raise ValueError(f"need one seed per sample: {batch_size} samples, {len(seeds)} seeds")
    if not 1 <= num_inference_steps <= schedule.num_train_timesteps:
        raise ValueError(f"num_inference_steps must be between 1 and the schedule's {schedule.num_train_timesteps} "
                         f"timesteps, got {num_inference_steps}")
    if not math.isfinite(guidance_scale):
        raise ValueError(f"guidance_scale must be a finite number, got {guidance_scale}")
    factor = model.latent_scale_factor
    shape = (model.unet.config.in_channels, num_frames, height // factor, width // factor)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    latents = _initial_noise(shape, generators, conditions.device).to(conditions.dtype)
    denoiser = GuidedDenoiser(model, reference_pixel_values, conditions, schedule=schedule, pattern_id=pattern_id,
                              identity_embedding=identity_embedding, identity_present=identity_present,
                              guidance_scale=guidance_scale, prediction_type=prediction_type,
                              use_motion_modules=use_motion_modules, window_frames=window_frames,
                              window_overlap=window_overlap)
    steps = ddim_timesteps(schedule.num_train_timesteps, num_inference_steps)
    if sampler == "ddim":
        latents = ddim_loop(denoiser, latents, steps, generators, eta=eta, progress=progress)
    else:
        latents = dpmpp_2m_loop(denoiser, latents, steps, progress=progress)
    return model.decode(latents) if decode else latents


def sample_ddim(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int],
                **kwargs) -> torch.Tensor:
    """``sample(..., sampler="ddim")``."""
    return sample(model, reference_pixel_values, conditions, seeds, sampler="ddim", **kwargs)


def sample_dpmpp(model, reference_pixel_values: torch.Tensor, conditions: torch.Tensor, seeds: list[int],
                 **kwargs) -> torch.Tensor:
    """``sample(..., sampler="dpmpp")``: DPM-Solver++(2M)."""
    return sample(model, reference_pixel_values, conditions, seeds, sampler="dpmpp", **kwargs)
