"""Inference: reference photo × (pattern | driving video) → video + labels + provenance.

``AnimatePipeline`` is the API; ``command`` is the ``interanimate animate`` CLI over it. Modules:
``checkpoint_loader`` (find, check, load a model), ``reference_face`` (detect and frame the reference),
``retarget`` (move a performance onto another face), ``motion`` (pattern and driving-video motion, labels),
``animate_pipeline`` (sampling, watermark, outputs), ``errors``.
"""

import importlib

from interanimate.pipelines.errors import AnimateError

_LAZY = {"AnimatePipeline": "animate_pipeline", "AnimateRequest": "animate_pipeline",
         "AnimateResult": "animate_pipeline", "LoadedCheckpoint": "checkpoint_loader",
         "load_checkpoint": "checkpoint_loader"}


def __getattr__(name: str):
    # Resolved on first use, so that importing the ``animate`` command (e.g. to build the CLI's parser)
    # does not load torch.
    if name in _LAZY:
        return getattr(importlib.import_module(f"interanimate.pipelines.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AnimateError", "AnimatePipeline", "AnimateRequest", "AnimateResult", "LoadedCheckpoint",
           "load_checkpoint"]
