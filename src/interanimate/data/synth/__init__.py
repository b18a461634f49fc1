"""InterHF-Synth: a procedural 3-D hand-face interaction world rendered into InterHF-format datasets.

Modules, from geometry to dataset:

- ``subject``: per-subject parameters (head shape, skin tone, hair, ears, hand size), sampled from a seed.
- ``head``: the parametric head surface, its iBUG-68 landmarks and face regions.
- ``hand``: the 21-joint articulated hand (kinematics, joint limits) and its surface.
- ``choreography``: per-pattern hand trajectories relative to face landmarks (reusable by ``animate``).
- ``physics``: collision detection, penetration resolution and soft-tissue deformation.
- ``raster``: numba z-buffer rasteriser and per-pixel shader.
- ``render``: camera, lights, backgrounds; turns a world state into frames and annotations.
- ``generator``: ``render_clip`` (``plan_clip``: its performance without pixels) and ``generate_dataset``; ``command``: the ``interanimate synth`` CLI.
"""

import importlib

__all__ = ["ClipSpec", "PlannedClip", "RenderedClip", "generate_dataset", "plan_clip", "render_clip"]


def __getattr__(name: str):
    # Resolved on first use, so that importing the ``synth`` command (e.g. to build the CLI's parser) does
    # not load numba and the compiled kernels.
    if name in __all__:
        return getattr(importlib.import_module("interanimate.data.synth.generator"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
