"""Model components of InterAnimate (PRODUCT.md §6); each is a diffusers ``ModelMixin`` saved with its config."""

from interanimate.models.attention_processors import (
    AttentionContext,
    IdentityCrossAttnProcessor,
    PlainAttnProcessor,
    ReferenceWriteProcessor,
    SpatialSelfAttnProcessor,
    TemporalSelfAttnProcessor,
    install_reference_processors,
    install_unet_processors,
)
from interanimate.models.id_preserver import IDPreserver
from interanimate.models.interaction_system import InteractionSystem
from interanimate.models.interanimate_model import InterAnimateModel, masks_from_conditions
from interanimate.models.interanimate_unet import InterAnimateUNet
from interanimate.models.pose_guider import PoseGuider, PoseGuiderOutput
from interanimate.models.reference_net import ReferenceNet
from interanimate.models.vae import build_vae, load_vae

__all__ = [
    "AttentionContext",
    "IDPreserver",
    "IdentityCrossAttnProcessor",
    "InterAnimateModel",
    "InterAnimateUNet",
    "InteractionSystem",
    "PlainAttnProcessor",
    "PoseGuider",
    "PoseGuiderOutput",
    "ReferenceNet",
    "ReferenceWriteProcessor",
    "SpatialSelfAttnProcessor",
    "TemporalSelfAttnProcessor",
    "build_vae",
    "install_reference_processors",
    "install_unet_processors",
    "load_vae",
    "masks_from_conditions",
]
