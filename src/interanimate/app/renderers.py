"""The renderer choices of the Animate tab and the ``/animate`` endpoint: one list, one entry per renderer.

A renderer turns ``AnimateRequest``s into ``AnimateResult``s (frames, labels, provenance) and writes them; the app
needs nothing else from it. Adding a renderer is one ``Renderer(...)`` entry in ``RENDERERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from interanimate.app.errors import AppInputError


@dataclass(frozen=True)
class Renderer:
    """One renderer.

    Args:
        name: the choice shown in the page and accepted by the API.
        description: one line for the page.
        load: ``load(checkpoint) -> pipeline``; the pipeline is called with an ``AnimateRequest`` and has
            ``write(result, path)``, ``record(result)`` and ``size`` (like ``AnimatePipeline``).
        uses_steps: whether the denoising-steps setting applies (it sets the pipeline's ``num_inference_steps``).
    """

    name: str
    description: str
    load: Callable[[Path | None], object]
    uses_steps: bool = True


def _load_diffusion(checkpoint: Path | None):
    from interanimate.demo import default_checkpoint
    from interanimate.pipelines.animate_pipeline import AnimatePipeline

    return AnimatePipeline.from_checkpoint(checkpoint or default_checkpoint(), progress=True)


def _load_composite(checkpoint: Path | None):
    from interanimate.render.composite import CompositePipeline

    return CompositePipeline()


def _load_refine(checkpoint: Path | None):
    from interanimate.render.refine import RefinePipeline

    if checkpoint is None:
        raise AppInputError("the refine renderer needs a checkpoint trained with composite conditions: start the app "
                            "with --checkpoint RUN (e.g. a small-refine run)")
    return RefinePipeline.from_checkpoint(checkpoint, progress=True)


RENDERERS: tuple[Renderer, ...] = (
    Renderer("composite", "the photo itself, warped by head motion and contact, with a posed 3-D hand lit like the "
                          "face (no model; patterns only)", _load_composite, uses_steps=False),
    Renderer("diffusion", "the region-aware diffusion model sampling from noise (the shipped small model is "
                          "64 px and blurry)", _load_diffusion),
    Renderer("refine", "the composite, then a composite-conditioned model sampling with it as condition (needs such "
                       "a checkpoint)", _load_refine),
)


def renderer_names() -> list[str]:
    return [r.name for r in RENDERERS]


def get_renderer(name: str) -> Renderer:
    for renderer in RENDERERS:
        if renderer.name == name:
            return renderer
    raise AppInputError(f"renderer {name!r} is not available; choose one of {', '.join(renderer_names())}")


class PipelineCache:
    """Loaded pipelines, one per renderer: a model is loaded once and serves every later request.

    Requests run one at a time (the app's queue), so setting a pipeline's steps per request is safe.
    """

    def __init__(self, checkpoint: Path | None):
        self.checkpoint = checkpoint
        self._loaded: dict[str, object] = {}

    def get(self, name: str, num_inference_steps: int | None = None):
        renderer = get_renderer(name)
        if name not in self._loaded:
            self._loaded[name] = renderer.load(self.checkpoint)
        pipeline = self._loaded[name]
        if renderer.uses_steps:
            if not hasattr(pipeline, "default_steps"):
                pipeline.default_steps = pipeline.num_inference_steps
            pipeline.num_inference_steps = int(num_inference_steps or pipeline.default_steps)
        return pipeline
