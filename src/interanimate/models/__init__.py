"""Model components of InterAnimate (PRODUCT.md §6); each is a diffusers ``ModelMixin`` saved with its config.

Names are resolved on first use, so that importing a light module of this package (``parts``) does not load
torch and diffusers.
"""

import importlib

_LAZY = {
    "AttentionContext": "attention_processors",
    "IdentityCrossAttnProcessor": "attention_processors",
    "PlainAttnProcessor": "attention_processors",
    "ReferenceWriteProcessor": "attention_processors",
    "SpatialSelfAttnProcessor": "attention_processors",
    "TemporalSelfAttnProcessor": "attention_processors",
    "install_reference_processors": "attention_processors",
    "install_unet_processors": "attention_processors",
    "IDPreserver": "id_preserver",
    "InteractionSystem": "interaction_system",
    "InterAnimateModel": "interanimate_model",
    "masks_from_conditions": "interanimate_model",
    "InterAnimateUNet": "interanimate_unet",
    "MODEL_PARTS": "parts",
    "PoseGuider": "pose_guider",
    "PoseGuiderOutput": "pose_guider",
    "ReferenceNet": "reference_net",
    "build_vae": "vae",
    "load_vae": "vae",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"interanimate.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
