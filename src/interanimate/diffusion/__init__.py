"""Diffusion process, training objective and sampler."""

from interanimate.diffusion.dropout import sample_keep_masks
from interanimate.diffusion.losses import orthogonality_loss, prediction_target, region_weights, weighted_mse
from interanimate.diffusion.objective import compute_loss
from interanimate.diffusion.sampler import (
    SAMPLERS,
    ddim_timesteps,
    make_scheduler,
    sample,
    sample_ddim,
    sample_dpmpp,
    schedule_from_scheduler,
)
from interanimate.diffusion.schedule import NoiseSchedule

__all__ = [
    "NoiseSchedule",
    "SAMPLERS",
    "compute_loss",
    "ddim_timesteps",
    "make_scheduler",
    "orthogonality_loss",
    "prediction_target",
    "region_weights",
    "sample",
    "sample_ddim",
    "sample_dpmpp",
    "sample_keep_masks",
    "schedule_from_scheduler",
    "weighted_mse",
]
