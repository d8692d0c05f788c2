"""ufm.parity and the new options of ufm.metrics against values computed by hand on a tiny input.

The input (d = 2, K = 3, two samples per class): class 0 at (1, 0) and (3, 0), class 1 at (0, 1) and (0, 3),
class 2 twice at (-2, -2). By hand: mu_0 = (2, 0), mu_1 = (0, 2), mu_2 = (-2, -2), mu_G = (0, 0) (either
convention: balanced); scatters (2, 2, 0); Tr Sigma_W = 4/6, Tr Sigma_B = (4 + 4 + 8)/3; squared distances
between means 8 (0-1), 20 (0-2), 20 (1-2); unit directions u_0 = (1, 0), u_1 = (0, 1), u_2 = -(1, 1)/sqrt 2
with distances sqrt 2, sqrt(2 + sqrt 2), sqrt(2 + sqrt 2).
"""

import math

import numpy as np
import pytest

import ufm
from ufm import metrics, parity

EXACT = 1e-14  # O(1) values from a handful of float64 operations
R2 = math.sqrt(2.0)
FAR = math.sqrt(2.0 + R2)  # ||u_0 - u_2|| = ||u_1 - u_2||


def tiny():
    H = np.array([[1.0, 3.0, 0.0, 0.0, -2.0, -2.0],
                  [0.0, 0.0, 1.0, 3.0, -2.0, -2.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    W = np.array([[5.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])  # rows along u_0, u_0 (not u_1), u_2
    return H, labels, W


def centred():
    H, labels, _ = tiny()
    m = metrics.class_moments(H, labels)
    return m.means - metrics.global_mean(m)[:, None]


def var0(values):
    v = np.asarray(values, float)
    return float(np.sum((v - v.mean()) ** 2) / v.size)


def test_moments_by_hand():
    H, labels, _ = tiny()
    m = metrics.class_moments(H, labels)
    assert np.array_equal(m.counts, [2, 2, 2]) and np.array_equal(m.scatter, [2, 2, 0])
    assert np.array_equal(m.means, [[2, 0, -2], [0, 2, -2]])
    assert np.array_equal(m.within, [[2, 0], [0, 2]])  # (+-1, 0) twice and (0, +-1) twice


@pytest.mark.parametrize("name, compute, expected", [
    ("nc1_ratio", lambda H, y, W: parity.nc1_ratio(H, y), (4 / 6) / (16 / 3)),
    ("cdnv p=1", lambda H, y, W: metrics.cdnv(H, y), (2 / 2 / 8 + 1 / 2 / 20 + 1 / 2 / 20) / 3),
    ("cdnv p=2", lambda H, y, W: metrics.cdnv(H, y, dist_exp=2), (1 / 64 + 1 / 800 + 1 / 800) / 3),
    ("cdnv ddof=1", lambda H, y, W: metrics.cdnv(H, y, ddof=1), 2 * (1 / 8 + 1 / 40 + 1 / 40) / 3),
    ("log mean", lambda H, y, W: parity.kernel_stats(centred(), "log").mean, -(math.log(R2) + 2 * math.log(FAR)) / 3),
    ("log var", lambda H, y, W: parity.kernel_stats(centred(), "log").var, var0([-math.log(R2), -math.log(FAR), -math.log(FAR)])),
    ("log var ddof=1", lambda H, y, W: parity.kernel_stats(centred(), "log", ddof=1).var,
     1.5 * var0([math.log(R2), math.log(FAR), math.log(FAR)])),
    ("dist mean", lambda H, y, W: parity.kernel_stats(centred(), "dist").mean, (R2 + 2 * FAR) / 3),
    ("dist var", lambda H, y, W: parity.kernel_stats(centred(), "dist").var, var0([R2, FAR, FAR])),
    ("riesz d-2 = 0", lambda H, y, W: parity.kernel_stats(centred(), "riesz").mean, 1.0),
    ("riesz e=1 mean", lambda H, y, W: parity.kernel_stats(centred(), "riesz", exponent=1).mean, (1 / R2 + 2 / FAR) / 3),
    ("riesz e=1 var", lambda H, y, W: parity.kernel_stats(centred(), "riesz", exponent=1).var, var0([1 / R2, 1 / FAR, 1 / FAR])),
    ("duality", lambda H, y, W: parity.duality_distance(W, centred()), R2 / 3),
    ("nc5 raw", lambda H, y, W: parity.nc5(metrics.class_moments(H, y).means, np.array([1.0, 0.0])), (1 + 1 / R2) / 3),
    ("nc5 centred", lambda H, y, W: parity.nc5(metrics.class_moments(H, y).means, np.array([3.0, 1.0]),
                                               centre=np.array([1.0, 1.0])),
     (abs(2 * 1 - 1 * 0) / (R2 * 2) + abs(-1 * 2 + 1 * 0) / (R2 * 2)  # mu - (1,1) = (1,-1), (-1,1), (-3,-3)
      + abs(-3 * 2 - 3 * 0) / (3 * R2 * 2)) / 3),  # ood - (1,1) = (2, 0)
])
def test_hand_computed_table(name, compute, expected):
    H, labels, W = tiny()
    assert abs(compute(H, labels, W) - expected) <= EXACT * max(1, abs(expected)), name


def test_agreement_by_hand():
    """Logits W h: class 0 -> 0 (agrees with the nearest mean); class 1, e.g. (0, 1) -> (0, 0, -1), a tie
    going to class 0, nearest mean 1 (disagrees); class 2 -> 2 (agrees). Weights 3, 1 on class 2's samples:
    hits (2, 0, 4) of counts (2, 2, 4)."""
    H, labels, W = tiny()
    w = np.array([1, 1, 1, 1, 3, 1.0])
    counts = metrics.agreement_counts(H, labels, metrics.class_moments(H, labels, weights=w).means, W, weights=w)
    assert np.array_equal(counts.hits, [2, 0, 4]) and np.array_equal(counts.counts, [2, 2, 4])
    assert metrics.agreement(counts) == 6 / 8 and metrics.agreement(counts, "classes") == 2 / 3
    assert metrics.nc4(H, labels, W, weights=w) == 2 / 8
    with pytest.raises(ufm.ProblemError, match="average"):
        metrics.agreement(counts, "median")


def test_gnc2_is_the_mean_of_the_log_kernel_and_kernels_are_tiled():
    """The tiled kernel (tiles of 1, 2, 5, K) equals an explicit loop over the pairs (1e-12: sums of <= 300
    O(1) terms in different orders)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 25))
    U = X / np.linalg.norm(X, axis=0)
    r = np.array([np.linalg.norm(U[:, i] - U[:, j]) for i in range(25) for j in range(i + 1, 25)])
    loops = {"log": -np.log(r), "dist": r, "riesz": r ** -2.0}
    seen = []
    for tile in (1, 2, 5, 25):
        for kernel, values in loops.items():
            s = parity.kernel_stats(X, kernel, tile=tile, ddof=1, progress=lambda done, total: seen.append(total))
            assert s.pairs == 300
            assert abs(s.mean - values.mean()) <= 1e-12 * abs(values.mean())
            assert abs(s.var - values.var(ddof=1)) <= 1e-12 * values.var()
    assert 325 in seen and 1 in seen  # 25 tiles of 1: 25 * 26 / 2 tiles; one tile of 25
    many = parity.kernels_stats(X, tile=5, ddof=1)  # all three in one walk
    for kernel, values in loops.items():
        assert abs(many[kernel].mean - values.mean()) <= 1e-12 * abs(values.mean())
        assert abs(many[kernel].var - values.var(ddof=1)) <= 1e-12 * values.var()
    assert abs(parity.kernel_stats(X).mean - metrics.gnc2(X)) <= 1e-12


def test_degenerate_and_bad_inputs():
    X = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # two equal directions: log 1/0 = inf
    s = parity.kernel_stats(X, "log")
    assert s.mean == np.inf and np.isnan(s.var)
    assert np.isnan(parity.kernel_stats(np.zeros((2, 3))).mean)
    assert np.isnan(parity.duality_distance(np.zeros((3, 2)), X))
    assert np.isnan(parity.nc5(X, np.zeros(2)))
    for call, field in ((lambda: parity.kernel_stats(X, "gauss"), "kernel"),
                        (lambda: parity.kernel_stats(X, ddof=True), "ddof"),
                        (lambda: parity.kernel_stats(X, "riesz", exponent=float("nan")), "exponent"),
                        (lambda: metrics.cdnv(*tiny()[:2], dist_exp=0), "dist_exp"),
                        (lambda: parity.nc5(X, np.ones(3)), "ood_mean"),
                        (lambda: parity.nc1_ratio(*tiny()[:2], mean="median"), "mean")):
        with pytest.raises(ufm.ProblemError, match=field):
            call()


def test_decisions_tiled_over_classes(monkeypatch):
    """The K-tiled nearest-class-mean and argmax (BLOCK 4 < K = 11 classes, 13 columns) equal the direct
    argmin / argmax, ties included (duplicated columns of the means and of W)."""
    rng = np.random.default_rng(1)
    means = rng.standard_normal((3, 11))
    means[:, 7] = means[:, 2]  # a tie: the lower index, 2, must win
    W = rng.standard_normal((11, 3))
    W[9] = W[5]
    H = rng.standard_normal((3, 13))
    H[:, 0] = means[:, 2]
    monkeypatch.setattr(metrics, "BLOCK", 4)
    top, near = metrics.decisions(H, means, W)
    d2 = np.sum((H[:, None, :] - means[:, :, None]) ** 2, axis=0)
    assert np.array_equal(near, np.argmin(d2, axis=0)) and near[0] == 2
    assert np.array_equal(top, np.argmax(W @ H, axis=0))


def test_tiled_kernel_memory_is_bounded():
    """K = 3000 (4.5 million pairs; one K x K float64 matrix is 72 MB): tiles of 128 keep numpy's peak
    allocation under a tenth of that."""
    import tracemalloc

    X = np.random.default_rng(2).standard_normal((8, 3000))
    tracemalloc.start()
    s = parity.kernel_stats(X, "dist", tile=128)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert s.pairs == 3000 * 2999 // 2 and 0 < s.mean < 2
    assert peak < 8 * 3000 * 3000 / 10, peak / 2 ** 20


@pytest.mark.slow
def test_kernel_of_twenty_thousand_classes_in_bounded_memory():
    """K = 20,000 (2e8 pairs; one K x K float64 matrix is 3.2 GB): numpy's peak stays under 64 MB, and the
    mean distance of random directions in d = 8 is near its expectation (> 1.3, < 1.5)."""
    import tracemalloc

    X = np.random.default_rng(3).standard_normal((8, 20_000))
    tracemalloc.start()
    s = parity.kernel_stats(X, "dist")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert s.pairs == 20_000 * 19_999 // 2 and 1.3 < s.mean < 1.5
    assert peak < 64 * 2 ** 20, peak / 2 ** 20
