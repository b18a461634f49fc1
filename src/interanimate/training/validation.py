"""Validation frame strips: what the model makes of held-out clips, written as PNG during training.

Stages 1 and 2: one row per frame, columns ``reference | conditions | generated | ground truth``, clips stacked
vertically. Generation is ``sample_ddim`` (ReferenceNet features once per clip, classifier-free guidance, one fixed
seed per clip, so strips of different steps are comparable). Stage 0: columns ``ground truth | reconstruction``.
"""

from __future__ import annotations

import numpy as np
import torch

from interanimate.data.conditions import conditions_to_rgb
from interanimate.data.images import tile_rows
from interanimate.diffusion import NoiseSchedule, sample_ddim

GAP = 2  # pixels of white between tiles


def _to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [-1, 1] → ``(H, W, 3)`` uint8."""
    image = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return image.permute(1, 2, 0).cpu().numpy()


def frame_strip(reference: torch.Tensor, conditions: torch.Tensor, generated: torch.Tensor,
                ground_truth: torch.Tensor) -> np.ndarray:
    """One clip: ``reference (3, H, W)``, ``conditions (C, f, H, W)``, ``generated``/``ground_truth (3, f, H, W)``."""
    ref = _to_uint8(reference)
    maps = conditions_to_rgb(conditions.float().movedim(1, 0).cpu().numpy())  # (f, H, W, 3)
    return tile_rows([[ref, maps[i], _to_uint8(generated[:, i]), _to_uint8(ground_truth[:, i])]
                      for i in range(generated.shape[1])], gap=GAP)


@torch.no_grad()
def validation_image(model, batch: dict, stage: int, config, seed: int) -> np.ndarray:
    """The strip image for a validation batch (collate layout, on the model's device)."""
    was_training = model.training
    model.eval()
    try:
        if stage == 0:
            video = batch["pixel_values"]
            reconstruction = model.decode(model.encode(video, sample=False))
            strips = [tile_rows([[_to_uint8(video[b, :, i]), _to_uint8(reconstruction[b, :, i])]
                                 for i in range(video.shape[2])], gap=GAP) for b in range(video.shape[0])]
        else:
            schedule = NoiseSchedule.from_config(config.scheduler)
            generated = sample_ddim(
                model, batch["reference_pixel_values"], batch["conditions"],
                [seed + i for i in range(batch["conditions"].shape[0])], schedule=schedule,
                pattern_id=batch["pattern_id"], identity_embedding=batch["identity_embedding"],
                identity_present=batch["identity_present"].bool(),
                num_inference_steps=config.sampler.num_inference_steps, guidance_scale=config.sampler.guidance_scale,
                eta=config.sampler.eta, prediction_type=config.loss.prediction_type,
                use_motion_modules=stage == 2)
            strips = [frame_strip(batch["reference_pixel_values"][b], batch["conditions"][b], generated[b],
                                  batch["pixel_values"][b]) for b in range(generated.shape[0])]
    finally:
        model.train(was_training)
    return tile_rows([[strip] for strip in strips], gap=4 * GAP)  # clips further apart than frames
