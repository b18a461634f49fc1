"""Inference: reference photo × (pattern | driving video) → video + labels + provenance.

``AnimatePipeline`` is the API; ``command`` is the ``interanimate animate`` CLI over it. Modules:
``checkpoint_loader`` (find, check, load a model), ``reference_face`` (detect and frame the reference),
``retarget`` (move a performance onto another face), ``motion`` (pattern and driving-video motion, labels),
``animate_pipeline`` (sampling, watermark, outputs), ``errors``.
"""

from interanimate.pipelines.animate_pipeline import AnimatePipeline, AnimateRequest, AnimateResult
from interanimate.pipelines.checkpoint_loader import LoadedCheckpoint, load_checkpoint
from interanimate.pipelines.errors import AnimateError

__all__ = ["AnimateError", "AnimatePipeline", "AnimateRequest", "AnimateResult", "LoadedCheckpoint",
           "load_checkpoint"]
