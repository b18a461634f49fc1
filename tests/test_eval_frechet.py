"""Fréchet distance against closed forms and a direct SciPy computation; statistics and caching."""

import numpy as np
import pytest
from scipy import linalg
from scipy.stats import ortho_group

from interanimate.evaluation import frechet
from interanimate.evaluation.frechet import FeatureStats, FeatureStatsAccumulator


def _closed_form_commuting(mu1, a, mu2, b):
    """FD for covariances Q diag(a) Q^T and Q diag(b) Q^T: |mu1-mu2|^2 + sum (sqrt a - sqrt b)^2."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))


def _random_spd(rng, dim, scale=1.0):
    m = rng.normal(size=(dim, dim))
    return scale * (m @ m.T / dim + 0.1 * np.eye(dim))


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_diagonal_covariances_match_closed_form(method):
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 4, 6), rng.uniform(0.1, 4, 6)
    got = frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method)
    assert got == pytest.approx(_closed_form_commuting(mu1, a, mu2, b), rel=1e-10)


def test_commuting_rotated_covariances_match_closed_form():
    rng = np.random.default_rng(1)
    q = ortho_group.rvs(8, random_state=2)
    a, b = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    got = frechet.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(_closed_form_commuting(mu1, a, mu2, b), rel=1e-9)


def test_one_dimensional_gaussians():
    # FD(N(0, 4), N(3, 1)) = 9 + (2 - 1)^2 = 10
    assert frechet.frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0)


def test_matches_direct_scipy_sqrtm_on_general_covariances():
    rng = np.random.default_rng(3)
    s1, s2 = _random_spd(rng, 20), _random_spd(rng, 20, scale=2.0)
    mu1, mu2 = rng.normal(size=20), rng.normal(size=20)
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.real(np.trace(linalg.sqrtm(s1 @ s2)))
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(direct, rel=1e-9)
    assert frechet.frechet_distance(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(direct, rel=1e-9)


def test_identical_statistics_give_zero_and_distance_is_symmetric():
    rng = np.random.default_rng(4)
    s, mu = _random_spd(rng, 16), rng.normal(size=16)
    assert frechet.frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    s2 = _random_spd(rng, 16)
    assert frechet.frechet_distance(mu, s, mu, s2) == pytest.approx(frechet.frechet_distance(mu, s2, mu, s), rel=1e-9)
    x = rng.normal(size=(50, 16))
    assert frechet.frechet_distance_from_features(x, x.copy()) == pytest.approx(0.0, abs=1e-9)


def test_singular_covariances_fewer_samples_than_dimensions():
    """Rank-deficient covariances (N < D, the usual case for 2048-d features) still give the exact value."""
    a = np.array([2.0, 1.0, 0.0, 0.0, 0.5])
    b = np.array([0.0, 1.0, 3.0, 0.0, 0.5])
    got = frechet.frechet_distance(np.zeros(5), np.diag(a), np.ones(5), np.diag(b))
    assert got == pytest.approx(_closed_form_commuting(np.zeros(5), a, np.ones(5), b), rel=1e-10)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 64)), rng.normal(size=(10, 64)) + 0.5
    value = frechet.frechet_distance_from_features(x, y)
    assert np.isfinite(value) and value > 0


def test_sample_distance_approaches_population_distance():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20000, 3))
    y = rng.normal(size=(20000, 3)) * 2.0 + np.array([1.0, 0.0, 0.0])
    # population: |mu|^2 = 1, covariances I and 4I -> 3 * (1 - 2)^2 = 3
    assert frechet.frechet_distance_from_features(x, y) == pytest.approx(4.0, rel=0.03)


def test_accumulator_equals_numpy_on_concatenation_and_is_stable_with_large_offsets():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 5)) + 1e6  # naive E[xx^T] - mu mu^T would lose every digit here
    acc = FeatureStatsAccumulator(5)
    for chunk in np.array_split(x, 7):
        acc.update(chunk.astype(np.float64))
    stats = acc.finalize()
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(x - 1e6, rowvar=False), rtol=0, atol=1e-9)
    other = FeatureStatsAccumulator(5)
    other.update(x[:100])
    rest = FeatureStatsAccumulator(5)
    rest.update(x[100:])
    other.merge(rest)
    np.testing.assert_allclose(other.finalize().cov, stats.cov, rtol=0, atol=1e-9)


def test_accumulator_rejects_nan():
    acc = FeatureStatsAccumulator(2)
    with pytest.raises(ValueError, match="NaN"):
        acc.update(np.array([[1.0, np.nan]]))


def test_stats_save_load_roundtrip_and_feature_space_guard(tmp_path):
    rng = np.random.default_rng(8)
    stats = FeatureStats.from_features(rng.normal(size=(40, 4)), "dlib_face128", {"note": "ref"})
    stats.save(tmp_path / "ref.npz")
    loaded = FeatureStats.load(tmp_path / "ref.npz")
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    assert loaded.num_samples == 40 and loaded.feature_space == "dlib_face128" and loaded.metadata == {"note": "ref"}
    other = FeatureStats.from_features(rng.normal(size=(40, 4)), "inception_v3_pool3")
    with pytest.raises(ValueError, match="feature spaces"):
        stats.distance(other)


def test_cached_stats_computes_once(tmp_path):
    calls = []
    rng = np.random.default_rng(9)

    def compute():
        calls.append(1)
        return FeatureStats.from_features(rng.normal(size=(30, 3)), "space_a")

    path = tmp_path / "cache" / "stats.npz"
    first = frechet.cached_stats(path, compute, "space_a")
    second = frechet.cached_stats(path, compute, "space_a")
    assert len(calls) == 1
    np.testing.assert_array_equal(first.mean, second.mean)
    with pytest.raises(ValueError, match="expected 'space_b'"):
        frechet.cached_stats(path, compute, "space_b")  # a stale cache of another space is recomputed, and checked
    assert len(calls) == 2


def test_a_different_set_is_farther_than_a_resample_of_the_same_set():
    """Known-bad input: features of another distribution (shifted and reshaped) vs a fresh sample."""
    rng = np.random.default_rng(3)
    mixing = rng.normal(size=(16, 16)) / 4
    same_a, same_b = (rng.normal(size=(400, 16)) @ mixing for _ in range(2))
    other = rng.normal(size=(400, 16)) @ (mixing * 1.5) + 0.3
    resample = frechet.frechet_distance_from_features(same_a, same_b)
    different = frechet.frechet_distance_from_features(same_a, other)
    assert different > 5 * resample
