"""ufm.metrics for many classes: the pairwise metrics walk blocks of BLOCK rows of the K x K Gram matrix (and
NC4 blocks of feature columns) and give the numbers of the direct formulas, which are used when everything
fits in one block. Here BLOCK is set small (7, with K = 30: four full blocks and a partial one) and the
blocked values are compared with the direct ones (BLOCK >= K), including the edge cases: a zero column
(nan), coincident directions (gnc2 inf, cdnv nan), nearly coincident ones (where ||u||^2 + ||v||^2 - 2 u.v
cancels), K = 2, ddof = 1. Then memory: nc_metrics of a collapsed solution builds nothing K x K."""

import resource
import tracemalloc
import warnings

import numpy as np
import pytest

from ufm import metrics

REL = 1e-13
PAIRWISE = ("nc2_equiangular", "nc2_equiangular_classifier", "nc2_maxangle", "nc2_etf", "nc2_etf_means", "gnc2",
            "cdnv", "nc4")


def direct_and_blocked(monkeypatch, f, block=7):
    """f() with every matrix in one block (the direct formulas), then with blocks of ``block`` rows."""
    monkeypatch.setattr(metrics, "BLOCK", 10 ** 9)
    direct = f()
    monkeypatch.setattr(metrics, "BLOCK", block)
    return direct, f()


def assert_same(a, b, rel=REL, what=""):
    """Equal to ``rel`` relative (values at rounding level, e.g. an exact 0, to 1e-15 absolute); nan and inf
    exactly."""
    if np.isnan(a) or np.isinf(a):
        assert (np.isnan(a) and np.isnan(b)) or a == b, (what, a, b)
    else:
        assert abs(a - b) <= rel * abs(a) + 1e-15, (what, a, b)


def problem(K=30, d=16, n=3, seed=0, noise=0.3):
    """Features near their class means, labels (n per class, then a few unlabelled -1 columns), a classifier
    near the means (so NC4 is neither 0 nor 1) and a bias."""
    rng = np.random.default_rng(seed)
    mus = rng.standard_normal((d, K))
    labels = np.concatenate([np.repeat(np.arange(K), n), [-1, -1]])
    H = mus[:, np.maximum(labels, 0)] + noise * rng.standard_normal((d, labels.size))
    W = mus.T + 0.5 * rng.standard_normal((K, d))
    return H, labels, W, 0.1 * rng.standard_normal(K)


@pytest.mark.parametrize("mean", ["weighted", "unweighted"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_blocked_nc_metrics_equal_the_direct_ones(monkeypatch, mean, ddof):
    H, labels, W, b = problem()
    weights = np.arange(1, labels.size + 1, dtype=float)
    direct, blocked = direct_and_blocked(
        monkeypatch, lambda: metrics.nc_metrics(H, labels, W, b, mean=mean, ddof=ddof, weights=weights))
    assert set(direct) == set(blocked)
    for key in direct:
        assert_same(direct[key], blocked[key], what=key)
    assert 0.05 < direct["nc4"] < 0.95  # the blocks of columns decide some samples each way


@pytest.mark.parametrize("block", [1, 2, 7, 29, 30])
def test_each_pairwise_metric_for_several_block_sizes(monkeypatch, block):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 30))  # d < K: not an orthogonal-ish configuration
    H, labels, W, b = problem(seed=2)
    calls = {
        "equiangularity": lambda: metrics.equiangularity(X),
        "equiangularity ddof=1": lambda: metrics.equiangularity(X, ddof=1),
        "max_angle": lambda: metrics.max_angle(X),
        "nc2_etf": lambda: metrics.nc2_etf(X),
        "gnc2": lambda: metrics.gnc2(X),
        "cdnv": lambda: metrics.cdnv(H, labels),
        "nc4": lambda: metrics.nc4(H, labels, W, b),
        "nc4 without bias": lambda: metrics.nc4(H, labels, W),
    }
    for name, f in calls.items():
        assert_same(*direct_and_blocked(monkeypatch, f, block), what=name)


def independent(X):
    """The pairwise quantities by explicit loops over the pairs c < c' (no Gram matrix)."""
    K = X.shape[1]
    cos, logd = [], []
    for c in range(K):
        for e in range(c + 1, K):
            u, v = X[:, c] / np.linalg.norm(X[:, c]), X[:, e] / np.linalg.norm(X[:, e])
            cos.append(u @ v)
            logd.append(-np.log(np.linalg.norm(u - v)))
    G = X.T @ X
    P = np.eye(K) - 1.0 / K
    etf = np.linalg.norm(G / np.linalg.norm(G) - P / np.sqrt(K - 1))
    return {"equiangularity": np.std(cos), "max_angle": np.mean(np.abs(np.array(cos) + 1 / (K - 1))),
            "gnc2": np.mean(logd), "nc2_etf": etf}


def test_blocked_values_agree_with_explicit_loops(monkeypatch):
    X = np.random.default_rng(3).standard_normal((4, 23))
    monkeypatch.setattr(metrics, "BLOCK", 6)
    ref = independent(X)
    got = {"equiangularity": metrics.equiangularity(X), "max_angle": metrics.max_angle(X),
           "gnc2": metrics.gnc2(X), "nc2_etf": metrics.nc2_etf(X)}
    for key in ref:
        assert abs(got[key] - ref[key]) <= 1e-12 * abs(ref[key]), key


def test_zero_column_is_nan_as_direct(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 30))
    X[:, 17] = 0.0
    for f in (metrics.equiangularity, metrics.max_angle, metrics.gnc2):
        direct, blocked = direct_and_blocked(monkeypatch, lambda: f(X))
        assert np.isnan(direct) and np.isnan(blocked), f.__name__
    # nc2_etf is defined with one zero column, nan only for X = 0
    assert_same(*direct_and_blocked(monkeypatch, lambda: metrics.nc2_etf(X)), what="nc2_etf")
    for f in (metrics.nc2_etf, metrics.equiangularity, metrics.max_angle, metrics.gnc2):
        direct, blocked = direct_and_blocked(monkeypatch, lambda: f(np.zeros((6, 30))))
        assert np.isnan(direct) and np.isnan(blocked), f.__name__


@pytest.mark.parametrize("pair", [(3, 4), (0, 29), (6, 7), (20, 27)])  # within a block, across blocks
def test_coincident_directions(monkeypatch, pair):
    """Two parallel columns: equal unit vectors, gnc2 = +inf; two equal class means: cdnv = nan."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, 30))
    X[:, pair[1]] = 2.0 * X[:, pair[0]]  # scaling by 2 is exact: the unit vectors are equal bit for bit
    direct, blocked = direct_and_blocked(monkeypatch, lambda: metrics.gnc2(X))
    assert direct == blocked == float("inf")
    labels = np.repeat(np.arange(30), 2)
    H = X[:, labels] + 0.01 * rng.standard_normal((8, 60))
    H[:, 2 * pair[1]:2 * pair[1] + 2] = H[:, 2 * pair[0]:2 * pair[0] + 2]  # the same samples: the same mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        direct, blocked = direct_and_blocked(monkeypatch, lambda: metrics.cdnv(H, labels))
    assert np.isnan(direct) and np.isnan(blocked)


@pytest.mark.parametrize("gap", [1e-3, 1e-6, 1e-9])
def test_nearly_coincident_directions_keep_their_digits(monkeypatch, gap):
    """Where ||u - v||^2 = 2 - 2 cos would cancel, the blocked code takes the difference itself: the same
    log distances (gnc2) and distance ratios (cdnv) as the direct formulas, to 1e-13."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((8, 30))
    for c in (2, 11, 25):
        X[:, c + 1] = X[:, c] + gap * rng.standard_normal(8)
    direct, blocked = direct_and_blocked(monkeypatch, lambda: metrics.gnc2(X))
    assert_same(direct, blocked, what="gnc2")
    labels = np.repeat(np.arange(30), 2)
    H = X[:, labels] + 1e-3 * rng.standard_normal((8, 60))
    assert_same(*direct_and_blocked(monkeypatch, lambda: metrics.cdnv(H, labels)), what="cdnv")


def test_two_classes_and_ddof(monkeypatch):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 2))
    direct0, blocked0 = direct_and_blocked(monkeypatch, lambda: metrics.equiangularity(X), block=1)
    assert direct0 == blocked0 == 0.0  # a single pair: no spread
    direct1, blocked1 = direct_and_blocked(monkeypatch, lambda: metrics.equiangularity(X, ddof=1), block=1)
    assert np.isnan(direct1) and np.isnan(blocked1)
    for f in (metrics.max_angle, metrics.gnc2, metrics.nc2_etf):
        assert_same(*direct_and_blocked(monkeypatch, lambda: f(X), block=1), what=f.__name__)
    labels = np.array([0, 0, 1, 1])
    H = rng.standard_normal((3, 4))
    W = rng.standard_normal((2, 3))
    direct, blocked = direct_and_blocked(monkeypatch, lambda: metrics.nc_metrics(H, labels, W, ddof=1), block=1)
    for key in direct:
        assert_same(direct[key], blocked[key], what=key)


def test_exact_geometries_stay_exact_in_blocks(monkeypatch):
    """A simplex ETF (K = 30 in d = 30): 0 for the ETF metrics and gnc2 at -log sqrt(2K/(K-1)), in blocks."""
    from ufm.geometry import simplex_etf

    monkeypatch.setattr(metrics, "BLOCK", 7)
    K = 30
    W = simplex_etf(K, K, seed=0)
    labels = np.arange(K)
    m = metrics.nc_metrics(2.0 * W.T, labels, W)
    for key in ("nc2_equiangular", "nc2_equiangular_classifier", "nc2_maxangle", "nc2_etf", "nc2_etf_means", "nc4"):
        assert abs(m[key]) <= 1e-12, key
    assert abs(m["gnc2"] + np.log(np.sqrt(2 * K / (K - 1)))) <= 1e-12


def collapsed(K, d, seed=0):
    """A collapsed solution as solution_metrics passes it: the class means (d x K), one column per class,
    the class counts as weights."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((d, K))
    W = means.T + 0.1 * rng.standard_normal((K, d))
    return means, np.arange(K), W, 0.01 * rng.standard_normal(K), np.full(K, 5.0)


def peak_bytes(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_nc_metrics_builds_nothing_k_by_k(monkeypatch):
    """K = 3000: one K x K float64 matrix is 72 MB; the metrics (blocks of 128 rows) stay under a quarter."""
    monkeypatch.setattr(metrics, "BLOCK", 128)
    K = 3000
    H, labels, W, b, w = collapsed(K, 16)
    out = {}
    peak = peak_bytes(lambda: out.update(metrics.nc_metrics(H, labels, W, b, weights=w)))
    assert peak < 8 * K * K / 4, peak / 2 ** 20
    assert all(np.isfinite(v) for v in out.values())


@pytest.mark.slow
def test_nc_metrics_of_twenty_thousand_classes():
    """K = 20,000, d = 16 with the default BLOCK: numpy's allocations (tracemalloc) and the resident set grow
    by well under 1 GB (one K x K matrix would be 3.2 GB). About 10 to 20 s on 2 cores."""
    K = 20_000
    H, labels, W, b, w = collapsed(K, 16)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    out = {}
    peak = peak_bytes(lambda: out.update(metrics.nc_metrics(H, labels, W, b, weights=w)))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    assert peak < 0.5 * 2 ** 30 and grown < 2 ** 30, (peak / 2 ** 20, grown / 2 ** 20)
    assert all(np.isfinite(v) for v in out.values())
    assert out["nc1"] <= 1e-20 and out["cdnv"] <= 1e-20  # every sample at its class mean (to rounding)
