"""Core checks of ufm.metrics: exact geometries give 0 (to rounding), perturbations make metrics grow,
NC1 is never negative, NC4 uses the bias, the two global-mean conventions differ under imbalance."""

import numpy as np
import pytest

import ufm
from ufm import metrics
from ufm.geometry import simplex_etf

EXACT = 1e-12  # float64 rounding on O(1) quantities of size <= 50


def collapsed(K=4, d=6, n=5, scale=2.0, seed=0):
    W = simplex_etf(K, d, seed=seed)  # K x d
    labels = np.repeat(np.arange(K), n)
    H = scale * W.T[:, labels]
    return H, labels, W


def test_perfect_collapse_is_zero():
    H, labels, W = collapsed()
    m = metrics.nc_metrics(H, labels, W, predicted_gram=W @ W.T)
    for key in ("nc1", "cdnv", "nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular",
                "nc2_maxangle", "nc2_etf", "nc2_etf_means", "nc3", "unc3", "nc4", "nc2_gram"):
        assert abs(m[key]) <= EXACT, key
    K = W.shape[0]
    assert abs(m["gnc2"] + np.log(np.sqrt(2 * K / (K - 1)))) <= EXACT


def test_metrics_grow_with_perturbation():
    H, labels, W = collapsed()
    rng = np.random.default_rng(1)
    noise_H, noise_W = rng.standard_normal(H.shape), rng.standard_normal(W.shape)
    previous = None
    for eps in (1e-4, 1e-3, 1e-2, 1e-1):
        m = metrics.nc_metrics(H + eps * noise_H, labels, W + eps * noise_W)
        vals = np.array([m["nc1"], m["nc2_etf"], m["nc3"], m["nc2_equiangular"], m["cdnv"]])
        assert np.all(vals > 0)
        if previous is not None:
            assert np.all(vals > previous)
        previous = vals


def test_nc1_nonnegative_and_matches_pinv_definition():
    rng = np.random.default_rng(2)
    for _ in range(20):
        K, d, n = rng.integers(2, 6), rng.integers(2, 9), rng.integers(2, 6)
        labels = np.repeat(np.arange(K), n)
        H = rng.standard_normal((d, K * n))
        value = metrics.nc1(H, labels)
        means, mu_G, centred, residual, _ = metrics.class_statistics(H, labels)
        Sw = residual @ residual.T / residual.shape[1]
        Sb = centred @ centred.T / K
        ref = np.trace(Sw @ np.linalg.pinv(Sb, rcond=1e-10)) / K
        assert value >= 0 and abs(value - ref) <= 1e-8 * max(ref, 1)


def test_nc4_uses_the_bias():
    H, labels, W = collapsed(K=3, d=3, n=4)
    assert metrics.nc4(H, labels, W) == 0
    b = np.array([100.0, 0.0, 0.0])  # the bias makes class 0 win everywhere
    assert abs(metrics.nc4(H, labels, W, b) - 2 / 3) <= EXACT


def test_global_mean_conventions_differ_under_imbalance():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), [10, 2, 1])
    H = rng.standard_normal((4, 3))[:, labels] + 0.1 * rng.standard_normal((4, 13))
    a = metrics.nc1(H, labels, mean="weighted")
    b = metrics.nc1(H, labels, mean="unweighted")
    assert a > 0 and b > 0 and abs(a - b) > 1e-6
    with pytest.raises(ufm.ProblemError, match="mean"):
        metrics.nc1(H, labels, mean="median")


def test_zero_solution_is_nan_not_crash():
    labels = np.repeat(np.arange(3), 2)
    m = metrics.nc_metrics(np.zeros((4, 6)), labels, np.zeros((3, 4)))
    assert np.isnan(m["nc1"]) and np.isnan(m["nc3"]) and np.isnan(m["nc2_etf"])


def test_invariances_rotation_scale_permutation():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 3)
    H = rng.standard_normal((5, 12))
    W = rng.standard_normal((4, 5))
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    base = metrics.nc_metrics(H, labels, W)
    rotated = metrics.nc_metrics(Q @ H, labels, W @ Q.T)
    scaled = metrics.nc_metrics(3.0 * H, labels, 0.5 * W)
    perm = np.array([2, 0, 3, 1])
    inv = np.argsort(perm)
    permuted = metrics.nc_metrics(H, inv[labels], W[perm])
    for key in ("nc1", "cdnv", "nc2_etf", "nc3", "unc3", "nc4", "nc2_equiangular"):
        assert abs(rotated[key] - base[key]) <= 1e-10 * max(1, abs(base[key])), key
        assert abs(permuted[key] - base[key]) <= 1e-10 * max(1, abs(base[key])), key
    for key in ("nc1", "nc2_etf", "nc3", "nc2_equiangular"):
        assert abs(scaled[key] - base[key]) <= 1e-10 * max(1, abs(base[key])), key


def test_procrustes_distance():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((4, 3))
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    assert metrics.procrustes_distance(A, A @ Q) <= EXACT
    assert metrics.procrustes_distance(A, A + 0.1 * rng.standard_normal(A.shape)) > 1e-3


def test_solution_metrics_of_a_deep_solve():
    from ufm.solver import solve

    p = ufm.Problem.balanced(3, 4, 4, loss="mse", depth=2, lambda_W=2e-3, lambda_H=2e-3)
    m = solve(p, restarts=2, init_scale=0.5).metrics()
    assert m["nc1"] <= 1e-8 and len(m["per_layer"]) == 2
    for layer in m["per_layer"]:  # deep neural collapse: every layer's features collapse
        assert layer["nc1"] <= 1e-8
