"""Second-order spherical-harmonic lighting: the nine real SH basis functions, a fit and its evaluation.

Under a distant, smooth lighting environment the irradiance of a Lambertian surface is, to within a few per cent,
a quadratic polynomial of its normal (Ramamoorthi & Hanrahan 2001). Fitting that polynomial to the face's pixels
over the face mesh's normals gives the light *and* the face's albedo scale together, per colour channel; the same
polynomial evaluated on the hand's normals lights the hand as the face is lit.
"""

from __future__ import annotations

import numpy as np

NUM_SH = 9


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """``(..., 3)`` unit normals -> ``(..., 9)`` real SH basis values (bands 0-2, constant factors dropped)."""
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    one = np.ones_like(x)
    return np.stack([one, x, y, z, x * y, x * z, y * z, x * x - y * y, 3.0 * z * z - 1.0], axis=-1)


def fit_sh(normals: np.ndarray, colours: np.ndarray, ridge: float = 0.05) -> np.ndarray:
    """Least-squares ``(9, 3)`` coefficients with ``colours (N, 3)`` ≈ ``sh_basis(normals) @ coeffs``.

    The second band is damped (``ridge``) because a face seen from the front only samples normals facing the
    camera: unconstrained quadratic terms would explode on the back of a hand.
    """
    basis = sh_basis(normals)
    damp = np.diag([0.0, 1e-3, 1e-3, 1e-3] + [ridge] * 5) * len(basis)
    return np.linalg.solve(basis.T @ basis + damp, basis.T @ colours)


def eval_sh(coeffs: np.ndarray, normals: np.ndarray, floor: float = 0.15) -> np.ndarray:
    """Shading ``(..., 3)`` for ``normals (..., 3)``, never below ``floor`` × the coefficients' constant term."""
    out = sh_basis(normals) @ coeffs
    return np.maximum(out, floor * np.maximum(coeffs[0], 1e-4))


def dominant_direction(coeffs: np.ndarray) -> np.ndarray:
    """The direction (camera frame, toward the light) in which the first-order lighting is brightest."""
    grey = coeffs[1:4].mean(axis=1)
    norm = np.linalg.norm(grey)
    return grey / norm if norm > 1e-8 else np.array([0.0, 0.0, -1.0])
