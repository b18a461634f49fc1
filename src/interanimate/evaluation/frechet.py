"""The Fréchet distance between Gaussians fitted to feature sets, and cacheable feature statistics.

For ``N(mu1, S1)`` and ``N(mu2, S2)`` the squared Fréchet (2-Wasserstein) distance is (Dowson & Landau
1982; used as FID by Heusel et al. 2017, Eq. 6, and as FVD by Unterthiner et al. 2018)::

    d^2 = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})

The only delicate term is ``Tr((S1 S2)^{1/2})``. ``S1 S2`` is not symmetric, and a general matrix
square root (``scipy.linalg.sqrtm``, Schur based) can return complex values or fail to converge when
the covariances are singular — which they are whenever there are fewer samples than feature
dimensions (2048-d Inception features from a few hundred frames). We therefore use (``method="eigh"``,
the default) the identity ``Tr((S1 S2)^{1/2}) = Tr((A S2 A)^{1/2})`` with ``A = S1^{1/2}``: ``S1 S2`` is
similar to ``A S2 A`` (``A^{-1} (A S2 A) A = S1 S2`` when ``A`` is invertible; by continuity otherwise),
and ``A S2 A`` is symmetric positive semi-definite, so its square root's trace is the sum of the square
roots of its eigenvalues, which ``numpy.linalg.eigh`` computes stably. Eigenvalues that round-off
makes slightly negative are clipped to zero. No offset is needed, so singular covariances give the
exact distance. ``method="sqrtm"`` reproduces the conventional computation (``scipy.linalg.sqrtm`` of
``S1 S2``, retried with ``eps * I`` added to both covariances when the result is not finite, and the
imaginary part discarded) for comparison with published numbers; the two agree to round-off on
well-conditioned inputs (tested).

Statistics are accumulated in float64 with Chan et al.'s pairwise update (1979), so the covariance
of many batches equals the covariance of their concatenation without the cancellation of the naive
``E[x x^T] - mu mu^T``. ``FeatureStats`` saves to and loads from ``.npz`` (no pickles), so a reference
set's statistics are computed once and cached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import linalg


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    sym = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(sym)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, method: str = "eigh", eps: float = 1e-6) -> float:
    """``Tr((S1 S2)^{1/2})`` for covariance matrices (see the module docstring for the methods)."""
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    if method == "eigh":
        root1 = _sqrt_psd(s1)
        middle = root1 @ s2 @ root1
        values = np.linalg.eigvalsh((middle + middle.T) / 2)
        return float(np.sqrt(np.clip(values, 0.0, None)).sum())
    if method == "sqrtm":
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
        return float(np.real(np.trace(covmean)))
    raise ValueError(f"unknown method {method!r}; use 'eigh' or 'sqrtm'")


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, method: str = "eigh"
) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (never negative).

    This is the quantity reported as "FID"/"FVD" (which, despite the name, is the *squared* distance).
    """
    m1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    m2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    s2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if m1.shape != m2.shape or s1.shape != s2.shape or s1.shape != (m1.size, m1.size):
        raise ValueError(f"shape mismatch: mu {m1.shape} / {m2.shape}, sigma {s1.shape} / {s2.shape}")
    diff = m1 - m2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2, method)
    return float(max(value, 0.0))  # round-off can push identical distributions to -1e-12


@dataclass
class FeatureStats:
    """Mean and covariance of a feature set, with what produced them.

    Attributes:
        mean: ``(D,)`` float64.
        cov: ``(D, D)`` float64 unbiased covariance (``ddof=1``, as ``numpy.cov``).
        num_samples: number of feature vectors.
        feature_space: name of the feature space (e.g. ``"dlib_face128"``, ``"fid_inception_pool3"``);
            distances are only comparable within one feature space.
        metadata: free-form JSON-serialisable provenance (weights sha256, preprocessing, dataset).
    """

    mean: np.ndarray
    cov: np.ndarray
    num_samples: int
    feature_space: str = ""
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_features(cls, features: np.ndarray, feature_space: str = "", metadata: dict | None = None) -> "FeatureStats":
        acc = FeatureStatsAccumulator(np.asarray(features).shape[-1])
        acc.update(features)
        return acc.finalize(feature_space, metadata)

    def save(self, path: str | Path) -> None:
        """Write to ``.npz`` (plain arrays plus a JSON string; loadable without pickle)."""
        info = json.dumps({"feature_space": self.feature_space, "num_samples": self.num_samples, "metadata": self.metadata})
        np.savez(Path(path), mean=self.mean, cov=self.cov, info=np.array(info))

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        with np.load(Path(path), allow_pickle=False) as data:
            info = json.loads(str(data["info"]))
            return cls(
                mean=data["mean"].astype(np.float64),
                cov=data["cov"].astype(np.float64),
                num_samples=int(info["num_samples"]),
                feature_space=info["feature_space"],
                metadata=info["metadata"],
            )

    def distance(self, other: "FeatureStats", method: str = "eigh") -> float:
        """Squared Fréchet distance to ``other``; refuses to compare different feature spaces."""
        if self.feature_space and other.feature_space and self.feature_space != other.feature_space:
            raise ValueError(f"cannot compare feature spaces {self.feature_space!r} and {other.feature_space!r}")
        if self.num_samples < 2 or other.num_samples < 2:
            raise ValueError("a Fréchet distance needs at least 2 samples on each side")
        return frechet_distance(self.mean, self.cov, other.mean, other.cov, method)


class FeatureStatsAccumulator:
    """Streaming mean/covariance in float64 (Chan, Golub & LeVeque 1979 pairwise update).

    Args:
        dim: feature dimension ``D``.
    """

    def __init__(self, dim: int):
        self.dim = int(dim)
        self.count = 0
        self.mean = np.zeros(self.dim, np.float64)
        self.scatter = np.zeros((self.dim, self.dim), np.float64)  # sum of centred outer products

    def update(self, features: np.ndarray) -> None:
        """Add a batch ``(N, D)`` (any float dtype; rows with NaN are rejected)."""
        x = np.asarray(features, dtype=np.float64).reshape(-1, self.dim)
        if x.shape[0] == 0:
            return
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or inf")
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        scatter_b = centred.T @ centred
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.scatter = self.scatter + scatter_b + np.outer(delta, delta) * (n_a * n_b / n)
        self.count = n

    def merge(self, other: "FeatureStatsAccumulator") -> None:
        """Combine with another accumulator (e.g. from another worker)."""
        if other.count == 0:
            return
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.scatter = self.scatter + other.scatter + np.outer(delta, delta) * (n_a * n_b / n)
        self.count = n

    def finalize(self, feature_space: str = "", metadata: dict | None = None) -> FeatureStats:
        cov = self.scatter / (self.count - 1) if self.count > 1 else np.full_like(self.scatter, np.nan)
        return FeatureStats(self.mean.copy(), cov, self.count, feature_space, dict(metadata or {}))


def frechet_distance_from_features(a: np.ndarray, b: np.ndarray, method: str = "eigh") -> float:
    """Squared Fréchet distance between Gaussians fitted to two ``(N, D)`` feature sets."""
    return FeatureStats.from_features(a).distance(FeatureStats.from_features(b), method)


def cached_stats(path: str | Path, compute, feature_space: str) -> FeatureStats:
    """Load ``path`` if it holds statistics of ``feature_space``; otherwise call ``compute()`` (returning
    ``FeatureStats``), save the result to ``path`` and return it. Reference sets are scored this way
    once and reused."""
    p = Path(path)
    if p.exists():
        stats = FeatureStats.load(p)
        if stats.feature_space == feature_space:
            return stats
    stats = compute()
    if stats.feature_space != feature_space:
        raise ValueError(f"compute() returned {stats.feature_space!r} statistics, expected {feature_space!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npz")
    stats.save(tmp)
    tmp.replace(p)  # atomic: a killed run never leaves a half-written cache
    return stats
