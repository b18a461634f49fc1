"""InterHF-Synth: a procedural 3-D hand-face interaction world rendered into InterHF-format datasets.

Modules, from geometry to dataset:

- ``subject``: per-subject parameters (head shape, skin tone, hair, ears, hand size), sampled from a seed.
- ``head``: the parametric head surface, its iBUG-68 landmarks and face regions.
- ``hand``: the 21-joint articulated hand (kinematics, joint limits) and its surface.
- ``choreography``: per-pattern hand trajectories relative to face landmarks (reusable by ``animate``).
- ``physics``: collision detection, penetration resolution and soft-tissue deformation.
- ``raster``: numba z-buffer rasteriser and per-pixel shader.
- ``render``: camera, lights, backgrounds; turns a world state into frames and annotations.
- ``generator``: ``render_clip`` and ``generate_dataset``; ``command``: the ``interanimate synth`` CLI.
"""

from interanimate.data.synth.generator import ClipSpec, RenderedClip, generate_dataset, render_clip

__all__ = ["ClipSpec", "RenderedClip", "generate_dataset", "render_clip"]
