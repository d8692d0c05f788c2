"""Neural-collapse metrics of features that do not fit in memory: exact float64 accumulators over batches.

Layout: a batch is ``features`` of shape **B x d** (one sample per row, the layout of a PyTorch / NumPy batch;
note that :mod:`ufm.metrics` takes d x N, one sample per column) with integer ``labels`` (B,) in {0..K-1};
a label -1 leaves the sample out of every class statistic, as in :mod:`ufm.metrics`. NumPy arrays, JAX
arrays and PyTorch tensors (CPU or GPU, with or without grad) are accepted: a float64 CPU array or tensor is
read without a copy (``np.asarray`` / DLPack); anything else is converted once per batch to float64 on the
CPU (float32 features are accumulated in float64).

Pass 1, :class:`MomentAccumulator`: per-class counts n_c, means mu_c, scatters sum_{i in c} ||h_i - mu_c||^2
and the pooled within-class scatter matrix (d x d), merged batch by batch with Chan, Golub & LeVeque's update
(Chan et al. 1983, "Algorithms for computing the sample variance: analysis and recommendations"; the
weighted form of Welford's): for a batch with class-c count m, mean b_c and scatter S_c,
delta = b_c - mu_c, mu_c <- mu_c + delta m / (n_c + m), S <- S + S_c + delta delta^T n_c m / (n_c + m),
n_c <- n_c + m. No sum of squares is ever differenced, so the result agrees with the two-pass in-memory
statistics to rounding. Memory O(K d + d^2), independent of N.

Pass 2, :class:`AgreementAccumulator` (needs the means of pass 1): per-class counts of samples where the
classifier and the nearest class mean agree (:func:`ufm.metrics.decisions`, K-tiled), for nc4 and the
agreement rates.

The metrics are then the *same functions* the in-memory path uses, of the same :class:`ufm.metrics.
ClassMoments` and :class:`ufm.metrics.Agreement`: :func:`ufm.metrics.moment_metrics` (the keys of
:func:`ufm.metrics.nc_metrics`) and :func:`ufm.parity.peer_metrics`. :func:`stream_metrics` runs both passes
over a callable that returns a fresh iterable of batches.
"""

from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from ufm import metrics, parity
from ufm.errors import ProblemError
from ufm.metrics import Agreement, ClassMoments


def as_array(x, dtype=np.float64) -> np.ndarray:
    """A NumPy array of ``x`` (NumPy, JAX, PyTorch, a list), without a copy where the memory is already a
    CPU array of ``dtype`` (``np.asarray``, or DLPack for a framework tensor); otherwise one conversion.
    ``dtype=None`` keeps the dtype."""
    if isinstance(x, np.ndarray):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch: off the graph and the GPU (no-ops on CPU)
        x = x.detach().cpu()
    if hasattr(x, "__dlpack__"):
        try:
            a = np.from_dlpack(x)
        except (BufferError, TypeError, RuntimeError, ValueError):
            a = np.asarray(x)
    else:
        a = np.asarray(x)
    return a if dtype is None or a.dtype == dtype else a.astype(dtype)


def _batch(features, labels, weights, K: int, d: int):
    X = as_array(features)
    y = as_array(labels, dtype=None).reshape(-1)
    if X.ndim != 2 or X.shape[1] != d:
        raise ProblemError("features", f"must be a B x d batch (one sample per row) with d = {d}, got shape "
                                   f"{X.shape}")
    if y.shape[0] != X.shape[0]:
        raise ProblemError("labels", f"must have one label per row of features ({X.shape[0]}), got {y.shape[0]}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < -1 or y.max() >= K):
        raise ProblemError("labels", f"must be integers in 0..{K - 1} (or -1 to leave a sample out), got "
                                 f"{y.dtype} values in [{y.min()}, {y.max()}]")
    w = np.ones(y.shape[0]) if weights is None else as_array(weights).reshape(-1)
    if w.shape[0] != y.shape[0] or np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ProblemError("weights", "must be one finite weight >= 0 per row of features")
    keep = (y >= 0) & (w > 0)  # a sample of weight 0 changes nothing
    return X[keep], y[keep], w[keep]


class MomentAccumulator:
    """Pass 1 (module docstring): ``update(features B x d, labels, weights=None)`` any number of times, then
    ``result()`` -> :class:`ufm.metrics.ClassMoments`, identical in meaning to
    :func:`ufm.metrics.class_moments` of all the batches side by side. ``merge(other)`` adds an accumulator
    of other batches (e.g. another worker), by the same update."""

    def __init__(self, K: int, d: int):
        if not isinstance(K, (int, np.integer)) or isinstance(K, bool) or K < 1:
            raise ProblemError("K", f"must be a positive integer, got {K!r}")
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1:
            raise ProblemError("d", f"must be a positive integer, got {d!r}")
        self.K, self.d = int(K), int(d)
        self.counts = np.zeros(self.K)
        self.means = np.zeros((self.K, self.d))  # K x d, one class per row
        self.scatter = np.zeros(self.K)
        self.within = np.zeros((self.d, self.d))
        self.batches = 0

    def _merge(self, cls, n_b, mean_b, scatter_b, within_b):
        n_a = self.counts[cls]
        n = n_a + n_b
        delta = mean_b - self.means[cls]
        self.means[cls] += delta * (n_b / n)[:, None]
        coef = n_a * n_b / n
        self.scatter[cls] += scatter_b + coef * np.sum(delta * delta, axis=1)
        self.within += within_b + (delta * coef[:, None]).T @ delta
        self.counts[cls] = n

    def update(self, features, labels, weights=None) -> "MomentAccumulator":
        X, y, w = _batch(features, labels, weights, self.K, self.d)
        if y.size == 0:
            self.batches += 1
            return self
        nb = np.bincount(y, weights=w, minlength=self.K)
        cls = np.flatnonzero(nb > 0)
        order = np.argsort(y, kind="stable")
        ys = y[order]
        starts = np.searchsorted(ys, cls)
        sums = np.add.reduceat(X[order] * w[order, None], starts, axis=0)
        mean_b = sums / nb[cls][:, None]
        local = np.full(self.K, -1)
        local[cls] = np.arange(cls.size)
        R = X - mean_b[local[y]]  # residuals from the batch's class means (two passes within the batch)
        scatter_b = np.bincount(local[y], weights=w * np.sum(R * R, axis=1), minlength=cls.size)
        self._merge(cls, nb[cls], mean_b, scatter_b, (R * w[:, None]).T @ R)
        self.batches += 1
        return self

    def merge(self, other: "MomentAccumulator") -> "MomentAccumulator":
        if (other.K, other.d) != (self.K, self.d):
            raise ProblemError("other", f"must have K = {self.K} and d = {self.d}, got K = {other.K}, d = {other.d}")
        cls = np.flatnonzero(other.counts > 0)
        if cls.size:
            self._merge(cls, other.counts[cls], other.means[cls], other.scatter[cls], np.zeros_like(self.within))
            self.within += other.within
        self.batches += other.batches
        return self

    def result(self) -> ClassMoments:
        means = self.means.T.copy()
        means[:, self.counts == 0] = np.nan  # an empty class has no mean (as in memory)
        return ClassMoments(self.counts.copy(), means, self.scatter.copy(), self.within.copy())


class AgreementAccumulator:
    """Pass 2 (module docstring): classifier W (K x d), bias b, and the class means (d x K) of pass 1;
    ``update(features B x d, labels, weights=None)``, then ``result()`` -> :class:`ufm.metrics.Agreement`."""

    def __init__(self, means, W, b=None):
        self.means = np.asarray(means, float)
        self.W = as_array(W)
        self.b = None if b is None else as_array(b).reshape(-1)
        self.d, self.K = self.means.shape
        if self.W.shape != (self.K, self.d):
            raise ProblemError("W", f"must be K x d = {self.K} x {self.d}, got shape {self.W.shape}")
        if self.b is not None and self.b.shape != (self.K,):
            raise ProblemError("b", f"must be a vector of K = {self.K} biases, got shape {self.b.shape}")
        self.hits, self.counts = np.zeros(self.K), np.zeros(self.K)

    def update(self, features, labels, weights=None) -> "AgreementAccumulator":
        X, y, w = _batch(features, labels, weights, self.K, self.d)
        part = metrics.agreement_counts(X.T, y, self.means, self.W, self.b, weights=w, K=self.K)
        self.hits += part.hits
        self.counts += part.counts
        return self

    def result(self) -> Agreement:
        return Agreement(self.hits.copy(), self.counts.copy())


def text_progress(label: str, stream=None):
    """A progress callback, progress(done, total), that redraws one line ``label: done/total`` on stderr."""
    out = sys.stderr if stream is None else stream

    def report(done, total=None):
        end = "\n" if total is not None and done >= total else ""
        out.write(f"\r{label}: {done}" + ("" if total is None else f"/{total}") + end)
        out.flush()

    report.finish = lambda: (out.write("\n"), out.flush())  # ends the line when the total was unknown
    return report


def _finish(report, total):
    if report is not None and total is None and hasattr(report, "finish"):
        report.finish()


def _progress(progress, label):
    if progress is True:
        return text_progress(label)
    if progress is None or progress is False or callable(progress):
        return progress or None
    raise ProblemError("progress", f"must be None, True (a line on stderr) or a callable (done, total), got "
                               f"{progress!r}")


def accumulate(batches, K: int, d: int, *, progress=None) -> ClassMoments:
    """:class:`ufm.metrics.ClassMoments` of an iterable of (features B x d, labels[, weights]) batches.
    ``progress``: None, True, or a callable(done, total) called after each batch (total = len(batches) when
    it has one, else None)."""
    report = _progress(progress, "moments")
    total = len(batches) if hasattr(batches, "__len__") else None
    acc = MomentAccumulator(K, d)
    for i, batch in enumerate(batches):
        acc.update(*batch)
        if report:
            report(i + 1, total)
    _finish(report, total)
    return acc.result()


def stream_metrics(batches, K: int, d: int, W, b=None, *, mean: str = "weighted", ddof: int = 0,
                   predicted_gram=None, peers: bool = False, dist_exp: float = 1.0, ood_mean=None,
                   tile: Optional[int] = None, progress=None) -> dict:
    """The metrics of :func:`ufm.metrics.nc_metrics` (and with ``peers`` those of
    :func:`ufm.parity.peer_metrics`) of a data set seen in batches. ``batches``: a callable returning a fresh
    iterable of (features B x d, labels[, weights]) each time (two passes: the class means, then nc4's
    decisions), e.g. ``lambda: loader``. Equal to the in-memory metrics of the concatenated batches to
    rounding (tests: 1e-12)."""
    if not callable(batches):
        raise ProblemError("batches", "must be a callable returning a fresh iterable of batches (two passes)")
    moments = accumulate(batches(), K, d, progress=_progress(progress, "pass 1/2"))
    agree = AgreementAccumulator(moments.means, W, b)
    report = _progress(progress, "pass 2/2")
    second = batches()
    total = len(second) if hasattr(second, "__len__") else None
    for i, batch in enumerate(second):
        agree.update(*batch)
        if report:
            report(i + 1, total)
    _finish(report, total)
    counts = agree.result()
    with np.errstate(all="ignore"):  # undefined quantities are nan by design, as in ufm.metrics
        out = metrics.moment_metrics(moments, agree.W, agree.b, mean=mean, ddof=ddof,
                                     predicted_gram=predicted_gram, agreement=counts)
        if peers:
            extra = parity.peer_metrics(moments, agree.W, agreement=counts, mean=mean, ddof=ddof,
                                        dist_exp=dist_exp, ood_mean=ood_mean, tile=tile)
            out.update({f"peer_{k}" if k in out else k: v for k, v in extra.items()})
    return out
