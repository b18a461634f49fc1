"""``AnimatePipeline``: reference photo × (pattern | driving video) → video + labels + provenance.

```python
from interanimate.pipelines import AnimatePipeline, AnimateRequest
pipe = AnimatePipeline.from_checkpoint("runs/small")                 # run folder, final/, step-N/ or model folder
result = pipe(AnimateRequest(reference="me.jpg", pattern="poke_cheek_left", seed=3))
result.frames        # (F, S, S, 3) uint8, watermarked
result.annotations   # ClipAnnotations in the dataset contract
pipe.write(result, "out/me-poke.mp4", gif=True, side_by_side=True)
```

Steps: frame the reference (``reference_face``), build the motion on it (``motion``), render the condition maps with
the one renderer (``data.conditions.render_condition_maps``), sample with the checkpoint's ``InterAnimatePipeline``
(a diffusers scheduler — DDIM, DPM-Solver++ or any other — guidance, one seed per clip, ReferenceNet once per clip,
temporal windows for clips longer than one window), decode, add the provenance watermark, and label.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from interanimate import __version__, provenance
from interanimate.data.annotations import ClipAnnotations
from interanimate.data.conditions import conditions_to_rgb, render_condition_maps
from interanimate.data.io import atomic_write_bytes, atomic_write_json, encode_video, json_safe
from interanimate.pipelines.checkpoint_loader import LoadedCheckpoint, load_checkpoint
from interanimate.pipelines.errors import AnimateError
from interanimate.pipelines.motion import Motion, build_annotations, contact_summary, driving_motion, pattern_motion
from interanimate.pipelines.reference_face import ReferenceFace, identity_embedding, load_reference
from interanimate.taxonomy import PATTERN_IDS, get_pattern

PRODUCER = "interanimate-animate"
DEFAULT_FRAMES = 16
DEFAULT_FPS = 25.0


@dataclass
class AnimateRequest:
    """One clip to generate.

    Args:
        reference: photo path, or an ``(H, W, 3) uint8`` RGB array.
        pattern: a taxonomy pattern name (synthesised motion) — or
        driving: a driving video, or a clip folder / video of an InterHF dataset (exactly one of the two).
        hand: ``"left"``/``"right"``: the acting hand for a pattern (default: as the choreography draws it).
        num_frames: frames (pattern: default 16; driving: default the whole video).
        fps: frame rate (pattern: default 25; driving: the video's).
        seed: the clip's seed (noise and synthesised motion).
        name: output name; default ``<reference>-<pattern or driving>-s<seed>``.
    """

    reference: str | Path | np.ndarray
    pattern: str | None = None
    driving: str | Path | None = None
    hand: str | None = None
    num_frames: int | None = None
    fps: float | None = None
    seed: int = 0
    name: str | None = None
    reference_name: str | None = None

    def check(self) -> None:
        if (self.pattern is None) == (self.driving is None):
            raise AnimateError("give exactly one of a pattern or a driving video per clip")
        if self.pattern is not None:
            try:
                get_pattern(self.pattern)
            except ValueError as exc:
                raise AnimateError(str(exc)) from None
        if self.hand not in (None, "left", "right"):
            raise AnimateError(f"hand must be 'left' or 'right', got {self.hand!r}")
        if self.num_frames is not None and self.num_frames < 1:
            raise AnimateError(f"frames must be at least 1, got {self.num_frames}")
        if self.fps is not None and self.fps <= 0:
            raise AnimateError(f"fps must be positive, got {self.fps}")


@dataclass
class AnimateResult:
    """A generated clip.

    ``frames (F, S, S, 3) uint8`` carry the watermark; ``conditions (F, 9, S, S)`` are the maps the model saw;
    ``annotations`` are the clip's labels in the dataset contract; ``metadata`` the container tags written with
    every video; ``info`` everything else worth recording (reference, motion source, sampler settings).
    """

    name: str
    frames: np.ndarray
    conditions: np.ndarray
    annotations: ClipAnnotations
    motion: Motion
    reference: ReferenceFace
    seed: int
    metadata: dict[str, str]
    info: dict = field(default_factory=dict)

    @property
    def pattern(self) -> str | None:
        return self.motion.pattern


def _clip_name(request: AnimateRequest, reference_name: str, source_clip_id: str | None) -> str:
    motion_name = source_clip_id or request.pattern or Path(str(request.driving)).stem
    return safe_name(request.name or f"{reference_name}-{motion_name}-s{request.seed}")


def safe_name(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    return (cleaned or "clip")[:100]


class AnimatePipeline:
    """Generates clips with one loaded model.

    Args:
        checkpoint: a ``LoadedCheckpoint`` (``from_checkpoint`` loads one).
        sampler: ``"ddim"``, ``"dpmpp"`` (DPM-Solver++(2M)) or a diffusers scheduler.
        num_inference_steps, guidance_scale: default to the checkpoint's sampling settings.
        use_identity: feed the reference's dlib identity embedding to the ID preserver (and record it in the labels).
        progress: tqdm bar over the denoising steps.
        speed: ``SamplingSpeed`` (default: the measured defaults; ``PLAIN_SPEED`` for the loop without savings).
    """

    def __init__(self, checkpoint: LoadedCheckpoint, sampler="ddim", num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, use_identity: bool = True, progress: bool = False,
                 speed=None):
        from diffusers.schedulers.scheduling_utils import SchedulerMixin

        from interanimate.diffusion.sampler import SAMPLERS

        if not isinstance(sampler, SchedulerMixin) and sampler not in SAMPLERS:
            raise AnimateError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
        settings = checkpoint.pipeline.config
        self.checkpoint = checkpoint
        self.sampler = sampler
        self.scheduler = checkpoint.pipeline.scheduler_for(sampler)
        self.num_inference_steps = int(num_inference_steps or settings.num_inference_steps)
        self.guidance_scale = float(settings.guidance_scale if guidance_scale is None else guidance_scale)
        timesteps = int(self.scheduler.config.num_train_timesteps)
        if not 1 <= self.num_inference_steps <= timesteps:
            raise AnimateError(f"--num-inference-steps must be between 1 and the schedule's {timesteps} timesteps, "
                               f"got {self.num_inference_steps}")
        if not math.isfinite(self.guidance_scale):
            raise AnimateError(f"--guidance-scale must be a finite number, got {self.guidance_scale}")
        self.use_identity = use_identity
        self.progress = progress
        from interanimate.pipelines.interanimate_pipeline import SamplingSpeed

        self.speed = speed or SamplingSpeed()
        self._references: dict[tuple, ReferenceFace] = {}
        self._identities: dict[str, np.ndarray | None] = {}

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> "AnimatePipeline":
        return cls(load_checkpoint(path), **kwargs)

    @property
    def size(self) -> int:
        return self.checkpoint.resolution

    # ------------------------------------------------------------------------------------------- inputs

    @property
    def sampler_name(self) -> str:
        """``"ddim"``, ``"dpmpp"`` or the scheduler's class name."""
        return self.sampler if isinstance(self.sampler, str) else type(self.sampler).__name__

    def reference(self, source, name: str | None = None) -> ReferenceFace:
        """Load and frame a reference (cached per path, or per content for arrays, so several patterns reuse one
        detection)."""
        key = (str(source), name) if not isinstance(source, np.ndarray) else (array_digest(source), name)
        if key not in self._references:
            self._references[key] = load_reference(source, self.size, name)
        return self._references[key]

    def _identity(self, reference: ReferenceFace) -> np.ndarray | None:
        dim = self.checkpoint.identity_dim
        if not self.use_identity or dim is None or dim != 128:
            return None  # only the offline dlib descriptor (128-d) is computed here
        if reference.digest not in self._identities:
            self._identities[reference.digest] = identity_embedding(reference)
        return self._identities[reference.digest]

    def motion(self, request: AnimateRequest, reference: ReferenceFace) -> Motion:
        if request.pattern is not None:
            return pattern_motion(reference, request.pattern, request.num_frames or DEFAULT_FRAMES,
                                  request.fps or DEFAULT_FPS, request.seed, request.hand)
        motion = driving_motion(reference, request.driving, request.num_frames)
        if request.fps:
            motion.fps = float(request.fps)
        return motion

    # ------------------------------------------------------------------------------------------- sampling

    @torch.no_grad()
    def generate_frames(self, reference: ReferenceFace, conditions: np.ndarray, pattern: str | None, seed: int,
                        identity: np.ndarray | None, init_frames: np.ndarray | None = None,
                        strength: float = 1.0) -> np.ndarray:
        """``(F, S, S, 3) uint8`` frames (no watermark yet) for condition maps ``(F, C, S, S)``; with ``init_frames
        (F, S, S, 3) uint8`` and ``strength < 1``, sampled from those frames noised to ``strength`` (SDEdit)."""
        return self.sample_frames(reference.image, conditions, pattern, seed, identity, init_frames, strength)

    @torch.no_grad()
    def sample_frames(self, reference_image: np.ndarray, conditions: np.ndarray, pattern: str | None, seed: int,
                      identity: np.ndarray | None, init_frames: np.ndarray | None = None,
                      strength: float = 1.0) -> np.ndarray:
        """``generate_frames`` for an already framed ``reference_image (S, S, 3) uint8`` — e.g. a dataset clip's
        first frame with the conditions its loader builds (``data.dataset.build_sample``), composite ones included,
        to re-generate held-out clips exactly as the model was trained on them."""
        ckpt = self.checkpoint
        pipe = ckpt.pipeline
        device = next(ckpt.model.parameters()).device
        reference_pixels = torch.from_numpy(reference_image).permute(2, 0, 1)[None].float().div(127.5).sub(1)
        cond = torch.from_numpy(conditions).permute(1, 0, 2, 3)[None]  # (1, C, f, S, S)
        pattern_id = torch.tensor([PATTERN_IDS[pattern] if pattern else -1], dtype=torch.long)
        identity_tensor = None if identity is None else torch.from_numpy(identity)[None]
        init = None
        if init_frames is not None:
            init = torch.from_numpy(init_frames).permute(3, 0, 1, 2)[None].float().div(127.5).sub(1).to(device)
        video = pipe(reference_pixels.to(device), cond.to(device), [seed], sampler=self.scheduler,
                     pattern_id=pattern_id.to(device),
                     identity_embedding=None if identity_tensor is None else identity_tensor.to(device),
                     num_inference_steps=self.num_inference_steps, guidance_scale=self.guidance_scale,
                     eta=float(pipe.config.eta) if self.sampler == "ddim" else 0.0, speed=self.speed,
                     progress=self.progress, init_pixel_values=init, strength=strength)
        pixels = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().byte()  # (3, f, S, S)
        return pixels.permute(1, 2, 3, 0).cpu().numpy()

    def planned_name(self, request: AnimateRequest) -> str | None:
        """The clip's name before any sampling (``None`` when it depends on a driving clip's own id)."""
        if request.name or request.driving is None:
            return _clip_name(request, self.reference(request.reference, request.reference_name).name, None)
        return None

    def __call__(self, request: AnimateRequest) -> AnimateResult:
        request.check()
        if self.checkpoint.composite_conditions:
            raise AnimateError(f"{self.checkpoint.path} was trained with composite conditions: animate with it "
                               "through --renderer refine")
        reference = self.reference(request.reference, request.reference_name)
        motion = self.motion(request, reference)
        size = reference.size
        annotations = build_annotations(motion, None)
        conditions = render_condition_maps(annotations.face_keypoints, annotations.face_present,
                                           annotations.hand_keypoints, annotations.hand_present, annotations.masks,
                                           size, size)
        identity = self._identity(reference)
        if identity is not None:
            annotations.identity_embedding, annotations.identity_kind = identity, "dlib128"
        frames = self.generate_frames(reference, conditions, motion.pattern, request.seed, identity)
        frames = provenance.embed_watermark(frames)
        name = _clip_name(request, reference.name, motion.info.get("source_clip_id"))
        metadata = provenance.provenance_tags(checkpoint_sha256=self.checkpoint.sha256, seed=request.seed,
                                              pattern=motion.pattern, extra={"reference": reference.name})
        info = {
            "reference": {"name": reference.name, "source": reference.source, "sha256": reference.digest},
            "motion": motion.info, "pattern": motion.pattern, "acting_hand": motion.acting_hand, "seed": request.seed,
            "sampler": {"name": self.sampler_name, "num_inference_steps": self.num_inference_steps,
                        "guidance_scale": self.guidance_scale,
                        "window_frames": self.checkpoint.pipeline.window_for(len(frames), self.speed.window_policy),
                        "speed": dict(vars(self.speed))},
            "checkpoint": self.checkpoint.describe(), "identity": "dlib128" if identity is not None else None,
            "contact": contact_summary(motion), "generator": PRODUCER, "generator_version": __version__,
        }
        return AnimateResult(name=name, frames=frames, conditions=conditions, annotations=annotations, motion=motion,
                             reference=reference, seed=request.seed, metadata=metadata, info=info)

    # --------------------------------------------------------------------------------------------- outputs

    def write(self, result: AnimateResult, path: str | Path, gif: bool = False,
              side_by_side: bool = False) -> dict[str, Path]:
        """Write ``PATH`` (H.264 MP4 with provenance tags) and, beside it, ``<stem>.labels.npz`` (contract arrays),
        ``<stem>.conditions.npz`` (the maps, uint8), ``<stem>.json`` (what made it); optionally ``<stem>.gif`` and
        ``<stem>.side.mp4`` (reference | conditions | generated, watermarked and tagged as well)."""
        path = Path(path)
        if path.suffix.lower() != ".mp4":
            path = path.with_suffix(".mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        stem = path.with_suffix("")
        fps = result.motion.fps
        written = {"video": path}
        atomic_write_bytes(path, encode_video(result.frames, fps, metadata=result.metadata))
        labels = stem.with_name(stem.name + ".labels.npz")
        atomic_write_bytes(labels, result.annotations.to_npz_bytes())
        written["labels"] = labels
        maps = stem.with_name(stem.name + ".conditions.npz")
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, conditions=(result.conditions * 255).round().astype(np.uint8))
        atomic_write_bytes(maps, buffer.getvalue())
        written["conditions"] = maps
        if side_by_side:
            side = stem.with_name(stem.name + ".side.mp4")
            atomic_write_bytes(side, encode_video(side_by_side_frames(result), fps, metadata=result.metadata))
            written["side_by_side"] = side
        if gif:
            written["gif"] = write_gif(result.frames, fps, stem.with_name(stem.name + ".gif"),
                                       result.metadata["comment"])
        description = {"name": result.name, "files": {k: v.name for k, v in written.items()}, "fps": fps,
                       "num_frames": int(len(result.frames)), "size": int(result.frames.shape[1]),
                       "provenance": result.metadata, **result.info}
        info_path = stem.with_name(stem.name + ".json")
        atomic_write_json(info_path, json_safe(description))
        written["info"] = info_path
        return written

    def record(self, result: AnimateResult, clip_id: str | None = None):
        """The dataset record for ``result`` (``--as-dataset``)."""
        from interanimate.data.manifest import ClipRecord

        num, size = result.frames.shape[:2]
        extra = {"reference": result.info["reference"], "pattern": result.pattern, "seed": result.seed,
                 "checkpoint_sha256": self.checkpoint.sha256, "acting_hand": result.motion.acting_hand,
                 "motion": {k: v for k, v in result.motion.info.items() if k not in ("phases", "planned_contact")},
                 "sampler": result.info["sampler"], "generator": PRODUCER, "generator_version": __version__}
        if result.motion.info.get("source_clip_id"):
            extra["source_clip_id"] = result.motion.info["source_clip_id"]
        return ClipRecord(clip_id=clip_id or result.name, subject_id=f"ref-{safe_name(result.reference.name)[:40]}-"
                          f"{result.reference.digest[:10]}", pattern=result.pattern, fps=float(result.motion.fps),
                          num_frames=int(num), width=int(size), height=int(size),
                          source={"kind": "generated", "origin": PRODUCER}, quality_flags=[],
                          extra=json_safe(extra))


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes: a cache key that a new array never shares with an old one."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.shape}|{array.dtype}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def side_by_side_frames(result: AnimateResult) -> np.ndarray:
    """``(F, S, 3S, 3)``: reference | condition maps | generated frame."""
    num = len(result.frames)
    reference = np.repeat(result.reference.image[None], num, axis=0)
    maps = conditions_to_rgb(result.conditions)
    return np.ascontiguousarray(np.concatenate([reference, maps, result.frames], axis=2))


def write_gif(frames: np.ndarray, fps: float, path: Path, comment: str) -> Path:
    """An animated GIF with the synthetic-video notice in its comment block (the pixel watermark does not survive
    GIF's 256-colour palette; the MP4 is the marked deliverable)."""
    import io

    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=int(round(1000 / fps)), comment=comment.encode("utf-8"))
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_summary(path: Path, rows: list[dict]) -> None:
    atomic_write_json(path, {"clips": rows, "generated": sum(r["status"] == "ok" for r in rows),
                             "failed": sum(r["status"] == "failed" for r in rows)})


__all__ = ["AnimatePipeline", "AnimateRequest", "AnimateResult", "PRODUCER", "side_by_side_frames", "write_gif",
           "write_summary"]
