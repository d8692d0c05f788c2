"""ufm.streaming: the metrics of features seen in batches equal the in-memory metrics of the same features
(the same formula functions of the same ClassMoments / Agreement), on random and on exactly collapsed inputs,
for NumPy, PyTorch and JAX batches, any batch split, sample weights and left-out (-1) samples.

Tolerance: 1e-12 relative (absolute for values below 1). The two paths differ only in the order of the
float64 additions (Chan merges vs. one two-pass sum), a few units in the last place on the moments; the
metrics here are well conditioned (separated class means), so 1e-12 leaves a wide margin and still fails for
any wrong term (which would be O(1)).
"""

import numpy as np
import pytest

import ufm
from ufm import metrics, parity, streaming
from ufm.geometry import simplex_etf

TOL = 1e-12


def close(a, b):
    if np.isnan(b) or np.isinf(b):
        return (np.isnan(a) and np.isnan(b)) or a == b
    return abs(a - b) <= TOL * max(1.0, abs(b))


def random_data(K=6, d=5, N=257, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, N)
    labels[:7] = -1  # left out of every class statistic
    H = 3.0 * rng.standard_normal((d, K))[:, labels] + rng.standard_normal((d, N)) + 5.0  # offset: no cancellation
    W = rng.standard_normal((K, d))
    b = rng.standard_normal(K)
    return H, labels, W, b


def collapsed_data(K=5, d=7, n=9):
    W = simplex_etf(K, d, seed=3)
    labels = np.tile(np.arange(K), n)
    return 2.5 * W.T[:, labels], labels, W, None


def batches_of(H, labels, sizes, kind="numpy", weights=None):
    """A callable returning a fresh list of (features B x d, labels[, weights]) batches of the given sizes."""
    cuts = np.cumsum([0] + list(sizes))
    assert cuts[-1] == H.shape[1]

    def convert(x):
        if kind == "torch":
            import torch
            return torch.from_numpy(np.ascontiguousarray(x))
        if kind == "jax":
            import jax.numpy as jnp
            return jnp.asarray(x)
        return x

    def make():
        out = []
        for a, c in zip(cuts[:-1], cuts[1:]):
            batch = (convert(H[:, a:c].T), convert(labels[a:c]))
            out.append(batch + ((weights[a:c],) if weights is not None else ()))
        return out

    return make


@pytest.mark.parametrize("data, sizes, kind", [
    (random_data, [257], "numpy"),
    (random_data, [1, 100, 3, 0, 153], "torch"),
    (random_data, [64] * 4 + [1], "jax"),
    (collapsed_data, [45], "numpy"),
    (collapsed_data, [2, 17, 26], "torch"),
])
def test_stream_equals_in_memory(data, sizes, kind):
    H, labels, W, b = data()
    K, d = W.shape
    ref = metrics.nc_metrics(H, labels, W, b)
    moments = metrics.class_moments(H, labels, K=K)
    ref.update(parity.peer_metrics(moments, W, agreement=metrics.agreement_counts(H, labels, moments.means, W, b),
                                   ood_mean=np.ones(d)))
    out = streaming.stream_metrics(batches_of(H, labels, sizes, kind), K, d, W, b, peers=True, ood_mean=np.ones(d))
    out["cdnv"] = out.pop("peer_cdnv")  # same function, same dist_exp = 1: identical to nc_metrics' cdnv
    assert set(out) == set(ref)
    bad = {k: (out[k], ref[k]) for k in ref if not close(out[k], ref[k])}
    assert not bad, bad


def test_collapsed_stream_is_collapsed():
    H, labels, W, _ = collapsed_data()
    out = streaming.stream_metrics(batches_of(H, labels, [10, 35]), 5, 7, W)
    assert out["nc1"] <= 1e-24 and out["cdnv"] <= 1e-24 and out["nc4"] == 0  # to rounding of the means
    assert abs(out["nc2_etf"]) <= 1e-12 and abs(out["gnc2"] + np.log(np.sqrt(2 * 5 / 4))) <= 1e-12


def test_weights_merge_and_moments():
    """Weighted batches equal the in-memory weighted moments; merging two accumulators equals one."""
    H, labels, W, b = random_data(seed=4)
    w = np.random.default_rng(5).uniform(0.5, 2.0, H.shape[1])
    w[np.flatnonzero(labels == 2)[:3]] = 0.0  # samples of weight 0 count for nothing, in memory and streamed
    ref = metrics.class_moments(H, labels, K=6, weights=w)
    one = streaming.MomentAccumulator(6, 5)
    for batch in batches_of(H, labels, [100, 157], weights=w)():
        one.update(*batch)
    a, c = streaming.MomentAccumulator(6, 5), streaming.MomentAccumulator(6, 5)
    a.update(H[:, :80].T, labels[:80], w[:80])
    c.update(H[:, 80:].T, labels[80:], w[80:])
    lone = streaming.MomentAccumulator(6, 5).update(H[:, :2].T, np.array([2, 4]), np.array([0.0, 1.0])).result()
    assert np.array_equal(lone.counts, [0, 0, 0, 0, 1, 0]) and np.array_equal(lone.means[:, 4], H[:, 1])
    for got in (one.result(), a.merge(c).result()):
        for field in ("counts", "means", "scatter", "within"):
            x, y = getattr(got, field), getattr(ref, field)
            assert np.max(np.abs(x - y)) <= TOL * max(1.0, np.max(np.abs(y))), field


def test_empty_class_and_progress():
    H, labels, W, b = random_data()
    labels = np.where(labels == 3, -1, labels)  # class 3 never seen: nan mean, as in memory
    seen = []
    m = streaming.accumulate(batches_of(H, labels, [200, 57])(), 6, 5, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 2), (2, 2)]
    import io
    line = io.StringIO()
    streaming.accumulate(iter(batches_of(H, labels, [200, 57])()), 6, 5, progress=streaming.text_progress("m", line))
    assert line.getvalue() == "\rm: 1\rm: 2\n"  # no total known: counts, and the line is ended
    assert m.counts[3] == 0 and np.all(np.isnan(m.means[:, 3]))
    ref = metrics.class_moments(H, labels, K=6)
    assert np.all(np.isnan(ref.means[:, 3])) and np.array_equal(m.counts, ref.counts)
    out = streaming.stream_metrics(batches_of(H, labels, [257]), 6, 5, W, b, peers=True)
    assert np.isnan(out["nc1"]) and np.isnan(out["nc1_ratio"]) and np.isnan(out["gnc2"])  # not an exception
    assert 0 <= out["nc4"] <= 1 and np.isfinite(out["nc2_etf"])  # what does not need class 3's mean


def test_bad_batches_are_refused():
    acc = streaming.MomentAccumulator(3, 2)
    cases = [((np.zeros((4, 3)), np.zeros(4, int)), "features"),  # d x B instead of B x d
             ((np.zeros((4, 2)), np.zeros(3, int)), "labels"),
             ((np.zeros((2, 2)), np.array([0, 3])), "labels"),
             ((np.zeros((2, 2)), np.array([0.0, 1.0])), "labels"),
             ((np.zeros((2, 2)), np.array([0, 1]), np.array([1.0, -1.0])), "weights")]
    for args, field in cases:
        with pytest.raises(ufm.ProblemError, match=field):
            acc.update(*args)
    with pytest.raises(ufm.ProblemError, match="K"):
        streaming.MomentAccumulator(0, 2)
    with pytest.raises(ufm.ProblemError, match="batches"):
        streaming.stream_metrics([(np.zeros((2, 2)), np.array([0, 1]))], 3, 2, np.zeros((3, 2)))
    with pytest.raises(ufm.ProblemError, match="W"):
        streaming.AgreementAccumulator(np.zeros((2, 3)), np.zeros((2, 3)))


def test_float64_cpu_input_is_not_copied():
    torch = pytest.importorskip("torch")
    x = np.arange(6.0).reshape(3, 2)
    t = torch.from_numpy(x)
    assert np.shares_memory(streaming.as_array(t), x) and streaming.as_array(x) is x
    assert streaming.as_array(torch.ones(2, dtype=torch.float32)).dtype == np.float64
