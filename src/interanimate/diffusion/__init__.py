"""Diffusion process, training objective and sampler."""

from interanimate.diffusion.dropout import sample_keep_masks
from interanimate.diffusion.losses import orthogonality_loss, prediction_target, region_weights, weighted_mse
from interanimate.diffusion.objective import compute_loss
from interanimate.diffusion.sampler import ddim_timesteps, sample_ddim
from interanimate.diffusion.schedule import NoiseSchedule

__all__ = [
    "NoiseSchedule",
    "compute_loss",
    "ddim_timesteps",
    "orthogonality_loss",
    "prediction_target",
    "region_weights",
    "sample_ddim",
    "sample_keep_masks",
    "weighted_mse",
]
