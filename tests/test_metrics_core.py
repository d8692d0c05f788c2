"""Core checks of ufm.metrics: exact geometries give 0 (to rounding), perturbations make metrics grow,
NC1 is never negative, NC4 uses the bias, the two global-mean conventions differ under imbalance."""

import warnings

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


# ------------------------------------------------------------------ ddof (standard deviations)
STD_KEYS = ("nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular", "nc2_equiangular_classifier",
            "unc3")


def generic(K=5, d=7, n=3, seed=6):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(K), n)
    return rng.standard_normal((d, K * n)), labels, rng.standard_normal((K, d))


def test_ddof_one_is_the_bessel_corrected_std():
    H, labels, W = generic()
    K = W.shape[0]
    P = K * (K - 1) // 2
    per_class = np.sqrt(K / (K - 1))  # K values: norms, same-class cosines
    per_pair = np.sqrt(P / (P - 1))  # P values: pairwise cosines
    factor = {"nc2_equinorm_means": per_class, "nc2_equinorm_classifier": per_class, "unc3": per_class,
              "nc2_equiangular": per_pair, "nc2_equiangular_classifier": per_pair}
    for mean in metrics.MEANS:
        m0 = metrics.nc_metrics(H, labels, W, mean=mean)
        m1 = metrics.nc_metrics(H, labels, W, mean=mean, ddof=1)
        assert m0 == metrics.nc_metrics(H, labels, W, mean=mean, ddof=0)  # the default is ddof=0
        for key in STD_KEYS:
            assert m0[key] > 1e-3, key  # a generic point: the ratio below is not 0/0
            assert abs(m1[key] - factor[key] * m0[key]) <= 1e-12 * m1[key], key
        for key in set(m0) - set(STD_KEYS):  # nothing else depends on ddof
            assert m1[key] == m0[key], key
    _, _, centred, _, _ = metrics.class_statistics(H, labels)
    assert abs(metrics.equinorm(W.T, ddof=1) - per_class * metrics.equinorm(W.T)) <= 1e-12
    assert abs(metrics.equiangularity(centred, ddof=1) - per_pair * metrics.equiangularity(centred)) <= 1e-12
    assert abs(metrics.unc3(W, centred, ddof=1) - per_class * metrics.unc3(W, centred)) <= 1e-12


def _sample_std(values, ddof):
    values = list(values)
    avg = sum(values) / len(values)
    return (sum((v - avg) ** 2 for v in values) / (len(values) - ddof)) ** 0.5


def test_ddof_matches_an_independent_computation():
    """Class means, global means, norms and cosines by explicit loops; std from its definition."""
    rng = np.random.default_rng(7)
    counts = [6, 3, 2, 1]  # imbalanced, so the two global means differ
    labels = np.repeat(np.arange(4), counts)
    H = rng.standard_normal((5, labels.size))
    W = rng.standard_normal((4, 5))
    mus = [H[:, labels == c].sum(axis=1) / counts[c] for c in range(4)]
    globals_ = {"weighted": H.sum(axis=1) / labels.size, "unweighted": sum(mus) / 4}

    def cos(a, b):
        return float(a @ b / np.sqrt((a @ a) * (b @ b)))

    for mean, mu_G in globals_.items():
        cm = [mu - mu_G for mu in mus]
        for ddof in (0, 1):
            m = metrics.nc_metrics(H, labels, W, mean=mean, ddof=ddof)
            norms = [float(np.sqrt(v @ v)) for v in cm]
            wnorms = [float(np.sqrt(w @ w)) for w in W]
            expected = {
                "nc2_equinorm_means": _sample_std(norms, ddof) / (sum(norms) / 4),
                "nc2_equinorm_classifier": _sample_std(wnorms, ddof) / (sum(wnorms) / 4),
                "nc2_equiangular": _sample_std([cos(cm[a], cm[b]) for a in range(4) for b in range(a + 1, 4)], ddof),
                "nc2_equiangular_classifier": _sample_std(
                    [cos(W[a], W[b]) for a in range(4) for b in range(a + 1, 4)], ddof),
                "unc3": _sample_std([cos(W[c], cm[c]) for c in range(4)], ddof),
            }
            for key, value in expected.items():
                assert abs(m[key] - value) <= 1e-12 * max(1.0, value), (mean, ddof, key)


def test_ddof_one_with_a_single_pair_is_nan():
    H, labels, W = generic(K=2, d=3)
    m0 = metrics.nc_metrics(H, labels, W)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nan by the rule "fewer than ddof + 1 values", not by numpy's 0/0
        m1 = metrics.nc_metrics(H, labels, W, ddof=1)
    assert m0["nc2_equiangular"] == 0.0 and np.isnan(m1["nc2_equiangular"])  # one cosine: no spread to estimate
    assert abs(m1["unc3"] - np.sqrt(2) * m0["unc3"]) <= 1e-12 and m0["unc3"] > 0


@pytest.mark.parametrize("bad", [2, -1, 0.0, 1.0, 0.5, True, False, "1", None])
def test_bad_ddof_raises_problem_error(bad):
    H, labels, W = generic()
    _, _, centred, _, _ = metrics.class_statistics(H, labels)
    calls = [lambda: metrics.equinorm(W.T, ddof=bad), lambda: metrics.equiangularity(centred, ddof=bad),
             lambda: metrics.unc3(W, centred, ddof=bad), lambda: metrics.nc_metrics(H, labels, W, ddof=bad),
             lambda: metrics.unc3(np.zeros_like(W), centred, ddof=bad)]  # checked before the nan shortcut
    for call in calls:
        with pytest.raises(ufm.ProblemError, match="ddof"):
            call()


def test_solution_metrics_passes_ddof_to_every_layer():
    from ufm.solver import solve

    p = ufm.Problem(counts=(6, 2, 1), d=3, depth=2, loss="ce", lambda_W=5e-3, lambda_H=5e-3)
    sol = solve(p, restarts=2, init_scale=0.5)
    m0, m1 = sol.metrics(), sol.metrics(ddof=1)
    f = np.sqrt(3 / 2)
    for a, b in [(m0, m1)] + list(zip(m0["per_layer"], m1["per_layer"])):
        assert a["nc2_equinorm_means"] > 1e-3  # imbalance: unequal norms, the ratio is meaningful
        for key in ("nc2_equinorm_means", "nc2_equinorm_classifier", "unc3"):
            assert abs(b[key] - f * a[key]) <= 1e-12 * max(1.0, b[key]), key
        assert b["nc1"] == a["nc1"] and b["nc3"] == a["nc3"]
    with pytest.raises(ufm.ProblemError, match="ddof"):
        sol.metrics(ddof=2)


@pytest.mark.parametrize("mean", ["weighted", "unweighted"])
def test_sample_weights_equal_repeated_columns(mean):
    """weights = how many samples a column stands for: the metrics of columns with weights equal those of the
    matrix that repeats each column that often (what a collapsed, class-reduced solution relies on)."""
    from ufm.metrics import nc_metrics

    rng = np.random.default_rng(3)
    K, d = 4, 5
    H = rng.standard_normal((d, 7))
    labels = np.array([0, 1, 2, 3, 0, 1, 2])
    w = np.array([3, 1, 2, 5, 1, 4, 2])
    W, b = rng.standard_normal((K, d)), rng.standard_normal(K)
    rep = np.repeat(np.arange(7), w)
    a = nc_metrics(H[:, rep], labels[rep], W, b, mean=mean)
    c = nc_metrics(H, labels, W, b, mean=mean, weights=w)
    for key in a:
        assert np.isclose(a[key], c[key], rtol=1e-12, atol=1e-14), (key, a[key], c[key])
