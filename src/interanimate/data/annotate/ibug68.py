"""iBUG-68 face landmarks from MediaPipe's 478-vertex face mesh.

``IBUG68_MESH_INDEX[i]`` is the mesh vertex that best stands for iBUG point ``i``. The map was derived
from data, not by eye: dlib's 68-point predictor (trained on iBUG-300W) and the MediaPipe face
landmarker were run on the same 214 real face images (scikit-image's astronaut, matplotlib's Grace
Hopper and frames of OpenCV's ``Megamind.avi``, each also mirrored, rotated by +-12 degrees and
rescaled), and for each iBUG point the vertex with the smallest mean distance to it was chosen
(``tools/derive_ibug68_map.py`` reproduces it). ``IBUG68_MEAN_ERROR`` is that mean distance as a
fraction of the face box size: 3.4 % overall, 2-3 % for eyes, nose and mouth, 4-6 % on the jaw line,
where the two models disagree about where the face contour lies.
"""

from __future__ import annotations

import numpy as np

IBUG68_MESH_INDEX: tuple[int, ...] = (
    127, 227, 177, 215, 172, 136, 149, 148, 152, 377, 378, 365, 397, 435, 401, 447, 264,  # jaw 0-16
    156, 53, 52, 65, 55,  # brow 17-21 (subject's right)
    285, 295, 443, 283, 383,  # brow 22-26 (subject's left)
    168, 197, 5, 4,  # nose bridge 27-30
    75, 97, 2, 326, 305,  # lower nose 31-35
    7, 159, 157, 112, 153, 144,  # eye 36-41 (subject's right)
    341, 384, 386, 249, 373, 380,  # eye 42-47 (subject's left)
    61, 74, 72, 11, 302, 272, 291, 405, 314, 17, 84, 181,  # outer lips 48-59
    96, 82, 13, 312, 325, 316, 15, 86,  # inner lips 60-67
)

IBUG68_MEAN_ERROR: tuple[float, ...] = (
    0.052, 0.059, 0.0452, 0.0385, 0.0402, 0.047, 0.0349, 0.0442, 0.0459, 0.0469, 0.0354, 0.0519, 0.0414,
    0.0381, 0.0439, 0.0583, 0.0506, 0.044, 0.0389, 0.0447, 0.0475, 0.0331, 0.0355, 0.0513, 0.047, 0.0392,
    0.0454, 0.0354, 0.0233, 0.033, 0.0345, 0.0289, 0.0293, 0.0314, 0.0295, 0.0292, 0.0301, 0.0289, 0.0247,
    0.0188, 0.0209, 0.0276, 0.0183, 0.0234, 0.0301, 0.0313, 0.0286, 0.0211, 0.0294, 0.0314, 0.028, 0.0265,
    0.0284, 0.0327, 0.0309, 0.0276, 0.0273, 0.0265, 0.0257, 0.0262, 0.0273, 0.0328, 0.0337, 0.0329, 0.0298,
    0.0236, 0.0223, 0.0225,
)

# MediaPipe's face-oval ring (the mesh's outer silhouette, forehead to chin), in order around the face.
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
    149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)

_INDEX = np.asarray(IBUG68_MESH_INDEX, np.int64)


def ibug68_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """``(..., 478, C)`` dense mesh -> ``(..., 68, C)`` iBUG-68 points (same channels)."""
    if mesh.shape[-2] < 468:
        raise ValueError(f"expected a MediaPipe face mesh of 468/478 vertices, got {mesh.shape[-2]}")
    return mesh[..., _INDEX, :]
