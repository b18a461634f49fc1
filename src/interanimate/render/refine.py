"""``RefinePipeline``: render, then refine — the composite renderer's clip as the diffusion model's condition.

```python
from interanimate.pipelines import AnimateRequest
from interanimate.render.refine import RefinePipeline
pipe = RefinePipeline.from_checkpoint("runs/small-refine", strength=0.6)
result = pipe(AnimateRequest(reference="me.jpg", pattern="poke_cheek_left", seed=3))
pipe.write(result, "out/me-poke.mp4")      # + .composite.mp4: the render the model refined
```

Per clip: the composite renderer (``render.composite``) renders the pattern on the photo at the checkpoint's
resolution; its frames and hand and contact masks become the composite channels (``data.composite_pairs``) after
the usual condition maps; the model then samples, from noise (``strength`` 1) or from the composite's VAE latents
noised to ``strength`` (SDEdit: the remaining ``round(n · strength)`` of the ``n`` steps run; 0 returns the
composite through the VAE). The labels are the composite's: the model is asked to keep its geometry. Needs a
checkpoint trained with ``model.composite_conditions=true`` (e.g. the ``small-refine`` preset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interanimate import __version__, provenance
from interanimate.data.composite_pairs import composite_condition_maps
from interanimate.data.io import atomic_write_bytes, encode_video
from interanimate.pipelines.animate_pipeline import AnimatePipeline, AnimateRequest, AnimateResult
from interanimate.pipelines.checkpoint_loader import LoadedCheckpoint, load_checkpoint
from interanimate.pipelines.errors import AnimateError
from interanimate.render.composite import CompositePipeline

ORIGIN = "interanimate-refine"
MIN_SIZE = 64  # the composite renderer's smallest frame


@dataclass
class RefineResult(AnimateResult):
    """An ``AnimateResult`` that also keeps the composite it refined (``composite_frames (F, S, S, 3) uint8``)."""

    composite_frames: np.ndarray | None = None


class RefinePipeline:
    """Composite first, then the model conditioned on it (see the module docstring).

    Args:
        checkpoint: a ``LoadedCheckpoint`` of a model trained with composite conditions.
        strength: 1 samples from noise; below 1 starts from the composite's latents noised to that strength.
        sampler, num_inference_steps, guidance_scale, use_identity, progress, speed: as ``AnimatePipeline``'s.
    """

    def __init__(self, checkpoint: LoadedCheckpoint, strength: float = 1.0, sampler="ddim",
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 use_identity: bool = True, progress: bool = False, speed=None):
        if not checkpoint.composite_conditions:
            raise AnimateError(f"{checkpoint.path} was not trained with composite conditions "
                               "(model.composite_conditions=true, e.g. --preset small-refine); --renderer refine "
                               "needs such a checkpoint")
        if checkpoint.resolution < MIN_SIZE:
            raise AnimateError(f"{checkpoint.path} works at {checkpoint.resolution} px; the composite it refines "
                               f"is at least {MIN_SIZE} px")
        if not 0.0 <= strength <= 1.0:
            raise AnimateError(f"strength must be between 0 and 1, got {strength}")
        self.model = AnimatePipeline(checkpoint, sampler=sampler, num_inference_steps=num_inference_steps,
                                     guidance_scale=guidance_scale, use_identity=use_identity, progress=progress,
                                     speed=speed)
        self.composite = CompositePipeline(size=checkpoint.resolution, framing="face", use_identity=use_identity)
        self.strength = float(strength)

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> "RefinePipeline":
        return cls(load_checkpoint(path), **kwargs)

    @property
    def checkpoint(self) -> LoadedCheckpoint:
        return self.model.checkpoint

    @property
    def sampler(self):
        return self.model.sampler

    @property
    def size(self) -> int:
        return self.checkpoint.resolution

    @property
    def num_inference_steps(self) -> int:
        return self.model.num_inference_steps

    @num_inference_steps.setter
    def num_inference_steps(self, value: int) -> None:
        self.model.num_inference_steps = int(value)

    @property
    def guidance_scale(self) -> float:
        return self.model.guidance_scale

    def reference(self, source, name: str | None = None):
        return self.composite.reference(source, name)

    def planned_name(self, request: AnimateRequest) -> str:
        return self.composite.planned_name(request)

    def __call__(self, request: AnimateRequest) -> RefineResult:
        rendered = self.composite(request)
        size = self.size
        if rendered.frames.shape[1:3] != (size, size):
            raise AnimateError(f"the face in {rendered.reference.name!r} is too small for a {size} px frame at the "
                               "training framing; use a larger photo")
        ann = rendered.annotations
        hand = ann.mask("hand_left") | ann.mask("hand_right")
        conditions = np.concatenate([rendered.conditions, composite_condition_maps(rendered.frames, hand,
                                                                                   ann.mask("contact"))], axis=1)
        identity = ann.identity_embedding if ann.identity_kind == "dlib128" else None
        if self.checkpoint.identity_dim != 128:
            identity = None
        frames = self.model.generate_frames(rendered.reference, conditions, request.pattern, request.seed, identity,
                                            init_frames=rendered.frames, strength=self.strength)
        frames = provenance.embed_watermark(frames)
        metadata = provenance.provenance_tags(checkpoint_sha256=self.checkpoint.sha256, seed=request.seed,
                                              pattern=request.pattern,
                                              extra={"reference": rendered.reference.name, "renderer": ORIGIN})
        pipe = self.model
        info = {**rendered.info, "renderer": ORIGIN, "strength": self.strength,
                "sampler": {"name": pipe.sampler_name, "num_inference_steps": pipe.num_inference_steps,
                            "guidance_scale": pipe.guidance_scale,
                            "window_frames": self.checkpoint.pipeline.window_for(len(frames),
                                                                                 pipe.speed.window_policy),
                            "speed": dict(vars(pipe.speed))},
                "checkpoint": self.checkpoint.describe(), "generator": ORIGIN, "generator_version": __version__}
        return RefineResult(name=rendered.name, frames=frames, conditions=rendered.conditions, annotations=ann,
                            motion=rendered.motion, reference=rendered.reference, seed=request.seed,
                            metadata=metadata, info=info, composite_frames=rendered.frames)

    def write(self, result: RefineResult, path: str | Path, gif: bool = False,
              side_by_side: bool = False) -> dict[str, Path]:
        """``AnimatePipeline.write``'s files, plus ``<stem>.composite.mp4``: the composite that was refined."""
        written = self.model.write(result, path, gif=gif, side_by_side=side_by_side)
        if result.composite_frames is not None:
            video = written["video"]
            composite = video.with_name(video.stem + ".composite.mp4")
            atomic_write_bytes(composite, encode_video(result.composite_frames, result.motion.fps,
                                                       metadata=result.metadata))
            written["composite"] = composite
        return written

    def record(self, result: RefineResult, clip_id: str | None = None):
        """The dataset record for ``result``: the model's, with this renderer as its origin."""
        record = self.model.record(result, clip_id)
        record.source = {"kind": "generated", "origin": ORIGIN}
        record.extra = {**record.extra, "generator": ORIGIN, "renderer": ORIGIN, "strength": self.strength}
        return record


__all__ = ["ORIGIN", "RefinePipeline", "RefineResult"]
