"""``CompositePipeline``: the ``animate`` pipeline with the composite renderer (no model, runs on a CPU).

```python
from interanimate.pipelines import AnimateRequest
from interanimate.render.composite import CompositePipeline
pipe = CompositePipeline(size=512, framing="face")
result = pipe(AnimateRequest(reference="me.jpg", pattern="poke_cheek_left", seed=3))
result.frames        # (F, H, W, 3) uint8, watermarked: the photo itself, touched
result.annotations   # exact labels in the dataset contract, synthetic arrays included
pipe.write(result, "out/me-poke.mp4", gif=True, side_by_side=True)
driven = pipe(AnimateRequest(reference="me.jpg", driving="me-touching-my-cheek.mp4"))  # hand posed by IK
```

Same requests, results, files and dataset records as ``AnimatePipeline``; ``source.origin`` names this renderer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interanimate import __version__, provenance
from interanimate.data.conditions import render_condition_maps
from interanimate.data.io import json_safe
from interanimate.pipelines.animate_pipeline import (
    DEFAULT_FPS, DEFAULT_FRAMES, AnimatePipeline, AnimateRequest, AnimateResult, array_digest, safe_name,
)
from interanimate.pipelines.errors import AnimateError
from interanimate.pipelines.motion import Motion, contact_summary, driving_motion
from interanimate.pipelines.reference_face import ReferenceFace, identity_embedding
from interanimate.render.composite.face import PhotoFace, build_face
from interanimate.render.composite.photo import load_photo
from interanimate.render.composite.renderer import ORIGIN, CompositeClip, render_composite, render_driven

DEFAULT_SIZE = 512


class CompositePipeline:
    """Generates clips by compositing a posed 3-D hand into the warped reference photo.

    A pattern request acts the synthetic generator's choreography on the photo; a driving request runs the annotator
    on the video (``pipelines.motion.driving_motion``) and poses the hand by inverse kinematics on its keypoints.

    Args:
        size: longest output side in pixels (never more than the photo holds at the chosen framing).
        framing: ``"face"`` (the training data's square framing around the eyes) or ``"photo"`` (the whole photo).
        use_identity: record the reference's dlib identity embedding in the labels.
    """

    sampler = "composite"
    num_inference_steps = 0
    guidance_scale = 0.0
    checkpoint = None
    write = AnimatePipeline.write  # same files as the model's pipeline

    def __init__(self, size: int = DEFAULT_SIZE, framing: str = "face", use_identity: bool = True):
        if size < 64:
            raise AnimateError(f"size must be at least 64 pixels, got {size}")
        self.size, self.framing, self.use_identity = int(size), framing, use_identity
        self._references: dict[tuple, ReferenceFace] = {}
        self._faces: dict[str, PhotoFace] = {}
        self._identities: dict[str, np.ndarray | None] = {}
        self.timings: dict[str, float] = {}

    def reference(self, source, name: str | None = None) -> ReferenceFace:
        key = (str(source), name) if not isinstance(source, np.ndarray) else (array_digest(source), name)
        if key not in self._references:
            self._references[key] = load_photo(source, self.size, self.framing, name)
        return self._references[key]

    def _face(self, reference: ReferenceFace) -> PhotoFace:
        key = f"{reference.digest}-{reference.image.shape}"
        if key not in self._faces:
            self._faces[key] = build_face(reference.image, reference.mesh)
        return self._faces[key]

    def planned_name(self, request: AnimateRequest) -> str:
        """The clip's name before any rendering (lets a resumed ``--as-dataset`` run skip finished clips)."""
        reference = self.reference(request.reference, request.reference_name)
        motion = request.pattern or Path(str(request.driving)).stem
        return safe_name(request.name or f"{reference.name}-{motion}-s{request.seed}")

    def _render(self, request: AnimateRequest,
                reference: ReferenceFace) -> tuple[CompositeClip, str | None, float, dict]:
        """The clip, its pattern (a driving video's is recognised, or ``None``), frame rate and motion info."""
        if request.pattern is not None:
            num_frames, fps = request.num_frames or DEFAULT_FRAMES, request.fps or DEFAULT_FPS
            clip = render_composite(reference, request.pattern, num_frames, fps, request.seed, request.hand,
                                    face=self._face(reference))
            return clip, request.pattern, fps, {"kind": "pattern", **clip.info}
        driving = driving_motion(reference, request.driving, request.num_frames)
        if request.fps:
            driving.fps = float(request.fps)
        clip = render_driven(reference, driving, request.seed, request.hand, face=self._face(reference))
        return clip, driving.pattern, driving.fps, {**driving.info, **clip.info}

    def __call__(self, request: AnimateRequest) -> AnimateResult:
        request.check()
        reference = self.reference(request.reference, request.reference_name)
        clip, pattern, fps, motion_info = self._render(request, reference)
        for stage, seconds in clip.timings.items():
            self.timings[stage] = self.timings.get(stage, 0.0) + seconds
        ann = clip.annotations
        if self.use_identity:
            if reference.digest not in self._identities:
                self._identities[reference.digest] = identity_embedding(reference)
            identity = self._identities[reference.digest]
            if identity is not None:
                ann.identity_embedding, ann.identity_kind = identity, "dlib128"
        height, width = ann.height, ann.width
        motion = Motion(size=width, fps=fps, face_keypoints=ann.face_keypoints, face_confidence=ann.face_confidence,
                        hand_keypoints=ann.hand_keypoints, hand_present=ann.hand_present, contact=ann.contact,
                        contact_point=ann.contact_point, contact_region=ann.contact_region, pattern=pattern,
                        acting_hand=clip.info["acting_hand"], penetration=ann.penetration, info=motion_info)
        conditions = render_condition_maps(ann.face_keypoints, ann.face_present, ann.hand_keypoints, ann.hand_present,
                                           ann.masks, height, width)
        frames = provenance.embed_watermark(clip.frames)
        name = self.planned_name(request)
        metadata = provenance.provenance_tags(checkpoint_sha256="none (composite renderer)", seed=request.seed,
                                              pattern=pattern,
                                              extra={"reference": reference.name, "renderer": ORIGIN})
        info = {"reference": {"name": reference.name, "source": reference.source, "sha256": reference.digest},
                "motion": motion.info, "pattern": pattern, "acting_hand": motion.acting_hand,
                "seed": request.seed, "renderer": ORIGIN, "framing": self.framing,
                "identity": ann.identity_kind or None, "contact": contact_summary(motion), "generator": ORIGIN,
                "generator_version": __version__}
        return AnimateResult(name=name, frames=frames, conditions=conditions, annotations=ann, motion=motion,
                             reference=reference, seed=request.seed, metadata=metadata, info=info)

    def record(self, result: AnimateResult, clip_id: str | None = None):
        """The dataset record for ``result``."""
        from interanimate.data.manifest import ClipRecord

        num, height, width = result.frames.shape[:3]
        extra = {"reference": result.info["reference"], "pattern": result.pattern, "seed": result.seed,
                 "renderer": ORIGIN, "framing": self.framing, "acting_hand": result.motion.acting_hand,
                 "motion": {k: v for k, v in result.motion.info.items() if k not in ("planned_contact",)},
                 "generator": ORIGIN, "generator_version": __version__}
        return ClipRecord(clip_id=clip_id or result.name,
                          subject_id=f"ref-{safe_name(result.reference.name)[:40]}-{result.reference.digest[:10]}",
                          pattern=result.pattern, fps=float(result.motion.fps), num_frames=int(num),
                          width=int(width), height=int(height), source={"kind": "generated", "origin": ORIGIN},
                          quality_flags=[], extra=json_safe(extra))

    def dataset_config(self) -> dict:
        return {"renderer": ORIGIN, "size": self.size, "framing": self.framing}

    def summary(self) -> str:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        return f"composite renderer, framing {self.framing}, size ≤ {self.size} ({stages})"
