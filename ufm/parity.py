"""Neural-collapse metrics of the peer libraries that :mod:`ufm.metrics` did not have, each with its formula
and source, all from :class:`ufm.metrics.ClassMoments` (so features in memory and streamed features,
:mod:`ufm.streaming`, go through the same code).

The reference library is rhubarbwu/neural-collapse (Wu & Papyan's PyTorch package, ``measure.py`` and
``kernels.py``); every function below names the function it corresponds to and says where the two differ.

Conventions (as :mod:`ufm.metrics`): features are the columns of H (d x N); the global mean mu_G is
``mean="weighted"`` (sum_c n_c mu_c / N, the sample mean; default) or ``"unweighted"`` (the average of the
class means, rhubarbwu's ``compute(weighted=False)`` default); ``ddof`` is 0 (divide by the number of values,
default) or 1 (by that number minus one). Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T and
Sigma_B = (1/K) Mc Mc^T with Mc = [mu_c - mu_G] (d x K), as in Papyan, Han & Donoho 2020.

Pairwise kernels walk the K(K-1)/2 pairs in square tiles (:func:`ufm.metrics.distance_tiles`), memory
O(tile^2 + K d), and merge the tiles' (count, mean, sum of squared deviations) with Chan et al.'s pairwise
update, one pass and no sum-of-squares cancellation (Chan, Golub & LeVeque 1983, "Algorithms for computing
the sample variance").
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import numpy as np

from ufm import metrics
from ufm.errors import ProblemError
from ufm.metrics import Agreement, ClassMoments

KERNELS = ("log", "dist", "riesz")


def nc1_ratio_from_moments(moments: ClassMoments, mean: str = "weighted") -> float:
    """NC1 as a plain trace ratio: Tr(Sigma_W) / Tr(Sigma_B) = (sum_c scatter_c / N) / (||Mc||_F^2 / K).

    Source: Hui, Belkin & Nakkiran 2022, "Limitations of Neural Collapse for Understanding Generalization in
    Deep Learning", arXiv 2202.08384; Tirer, Huang & Niles-Weed 2023, "Perturbation Analysis of Neural
    Collapse", ICML (arXiv 2210.16658). Reference code: rhubarbwu ``covariance_ratio`` -- which builds its
    between-class matrix as Mc^T Mc / D with D the *feature dimension* (commit c3864c2), so its number is
    ours times D/K. Unlike :func:`ufm.metrics.nc1` no pseudo-inverse: within-class spread outside the span of
    the class means counts too. >= 0; 0 iff every sample is at its class mean; nan when all class means
    coincide (Tr Sigma_B = 0)."""
    centred = moments.means - metrics.global_mean(moments, mean)[:, None]
    K = centred.shape[1]
    between, N = float(np.sum(centred * centred)) / K, float(np.sum(moments.counts))
    if not between > 0 or not N > 0:
        return float("nan")
    return float(np.sum(moments.scatter)) / N / between


def nc1_ratio(H, labels, mean: str = "weighted", weights=None) -> float:
    """:func:`nc1_ratio_from_moments` of :func:`ufm.metrics.class_moments` (features H, d x N)."""
    return nc1_ratio_from_moments(metrics.class_moments(H, labels, weights=weights), mean)


class KernelStats(NamedTuple):
    """Mean and variance of a pairwise kernel over the P = K(K-1)/2 pairs c < c'; ``pairs`` = P."""

    mean: float
    var: float
    pairs: int


def _kernel_values(kernel: str, r, exponent: float):
    """kernel of the distances r (not modified): log 1/r, r, or sign(e) r^(-e)."""
    if kernel == "dist":
        return r
    with np.errstate(divide="ignore"):
        if kernel == "log":
            return -np.log(r)
        return math.copysign(1.0, exponent) * np.power(r, -exponent)


def _merge(a, b):
    """Chan, Golub & LeVeque's pairwise merge of (count, mean, sum of squared deviations)."""
    (na, ma, sa), (nb, mb, sb) = a, b
    n = na + nb
    if nb == 0:
        return a
    if na == 0:
        return b
    delta = mb - ma
    with np.errstate(invalid="ignore"):
        return n, ma + delta * nb / n, sa + sb + delta * delta * na * nb / n


def _add(acc, v):
    """acc (count, mean, sum of squared deviations) merged with the values v (one tile)."""
    if not v.size:
        return acc
    with np.errstate(invalid="ignore"):
        m = float(np.mean(v))
        return _merge(acc, (v.size, m, float(np.sum((v - m) ** 2))))


def _stats(acc, ddof: int) -> KernelStats:
    n, m, ss = acc
    return KernelStats(float(m) if n else float("nan"), float(ss / (n - ddof)) if n > ddof else float("nan"), n)


def kernel_stats(X, kernel: str = "log", *, ddof: int = 0, exponent: Optional[float] = None,
                 tile: Optional[int] = None, progress=None) -> KernelStats:
    """Mean and variance over the pairs c < c' of a kernel of the distance r = ||u_c - u_c'|| between the
    normalised columns u_c = x_c / ||x_c|| of X (pass the centred class means Mc, as rhubarbwu ``kernel_stats
    (M, m_G, kernel)`` normalises M - m_G):

    - ``"log"``: log(1/r), the logarithmic (hyperspherical) energy; its mean is GNC2 (:func:`ufm.metrics.gnc2`;
      Liu et al. 2023, "Generalizing and Decoupling Neural Collapse via Hyperspherical Uniformity Gap", ICLR,
      arXiv 2303.06484; Wu & Papyan 2024 use mean and variance). rhubarbwu ``log_kernel``; its README key
      ``nc2g_log`` is the *variance* (``kernel_stats(...)[1]``).
    - ``"dist"``: r (rhubarbwu ``dist_kernel``).
    - ``"riesz"``: sign(e) r^(-e), the Riesz e-energy, e = ``exponent``, default d - 2 (Liu et al. 2023;
      rhubarbwu ``riesz_kernel`` with e = D - 2, D the feature dimension). e = 0 gives the constant 1 (the
      log kernel is the e -> 0 limit).

    Variance: sum (v - mean)^2 / (P - ddof); ddof 0 is rhubarbwu's (``symm_reduce`` divides by the number of
    pairs). Values: +inf (log, riesz with e > 0) where two directions coincide, then the mean is inf and the
    variance nan; nan if a column is 0 or K < 2. Tiled (:func:`ufm.metrics.distance_tiles`): memory
    O(tile^2 + K d), K = 100,000 is fine; ``progress(done, total)`` after each tile."""
    return kernels_stats(X, (kernel,), ddof=ddof, exponent=exponent, tile=tile, progress=progress)[kernel]


def kernels_stats(X, kernels=KERNELS, *, ddof: int = 0, exponent: Optional[float] = None,
                  tile: Optional[int] = None, progress=None) -> dict:
    """{kernel: :class:`KernelStats`} of several kernels (:func:`kernel_stats`) in one walk over the pairs."""
    kernels = tuple(kernels)
    for kernel in kernels:
        if kernel not in KERNELS:
            raise ProblemError("kernel", f"must be one of {list(KERNELS)}, got {kernel!r}")
    ddof = metrics.check_ddof(ddof)
    X = np.asarray(X, dtype=np.float64)
    d, K = X.shape
    e = float(d - 2) if exponent is None else exponent
    if "riesz" in kernels and (isinstance(e, bool) or not isinstance(e, numbers.Real) or not np.isfinite(e)):
        raise ProblemError("exponent", f"must be a finite number (default d - 2), got {exponent!r}")
    norms = np.linalg.norm(X, axis=0)
    if K < 2 or np.any(norms == 0) or not np.all(np.isfinite(norms)):
        return {k: KernelStats(float("nan"), float("nan"), K * (K - 1) // 2) for k in kernels}
    acc = {k: (0, 0.0, 0.0) for k in kernels}
    for _, _, sq in metrics.distance_tiles(X / norms, tile, progress):
        r = np.sqrt(sq, out=sq)
        for k in kernels:
            acc[k] = _add(acc[k], _kernel_values(k, r, float(e)))
    return {k: _stats(acc[k], ddof) for k in kernels}


def duality_distance(W, centred) -> float:
    """Row-normalised duality distance (Wu & Papyan 2024, "Linguistic Collapse: Neural Collapse in (Large)
    Language Models", NeurIPS, arXiv 2405.17767): the mean over classes of
    || w_c/||w_c|| - (mu_c - mu_G)/||mu_c - mu_G|| ||, each classifier row against its own centred mean.
    rhubarbwu ``distance_norms(W, M, m_G, norm=True)`` returns the K distances; this is their mean. In
    [0, 2]; 0 iff every w_c points along mu_c - mu_G (self-duality up to per-class scale, which
    :func:`ufm.metrics.nc3` does not allow); nan if a row of W or a centred mean is 0."""
    W, centred = np.asarray(W, float), np.asarray(centred, float)
    nw, nm = np.linalg.norm(W, axis=1), np.linalg.norm(centred, axis=0)
    if np.any(nw == 0) or np.any(nm == 0):
        return float("nan")
    return float(np.mean(np.linalg.norm(W / nw[:, None] - (centred / nm).T, axis=1)))


def nc5(means, ood_mean, centre=None) -> float:
    """NC5, in-distribution / out-of-distribution orthogonality (Ben Ammar, Belkhir, Popescu, Manzanera &
    Franchi 2024, "NECO: NEural Collapse Based Out-of-distribution Detection", ICLR, arXiv 2310.06823):
    Avg_c |cos(mu_c - m, mu_G^OOD - m)|, the mean absolute cosine between the K (in-distribution) class
    means and the global mean of out-of-distribution features, ``ood_mean`` (d,). ``centre`` m: ``None``
    (default, m = 0, as rhubarbwu ``orthogonality_deviation(M, m_G_ood)`` is called on the raw means) or a
    vector, e.g. the in-distribution global mean. In [0, 1]; 0 when OOD features average to a direction
    orthogonal to every class mean, the NC5 of NECO; nan if a (shifted) class mean or the OOD mean is 0."""
    means = np.asarray(means, float)
    d = means.shape[0]
    m = np.zeros(d) if centre is None else np.asarray(centre, float)
    for field, v in (("ood_mean", ood_mean), ("centre", m)):
        if np.shape(v) != (d,):
            raise ProblemError(field, f"must be a vector of the feature dimension {d}, got shape {np.shape(v)}")
    M, o = means - m[:, None], np.asarray(ood_mean, float) - m
    nm, no = np.linalg.norm(M, axis=0), np.linalg.norm(o)
    if no == 0 or np.any(nm == 0):
        return float("nan")
    return float(np.mean(np.abs(o @ M) / (nm * no)))


def peer_metrics(moments: ClassMoments, W, *, agreement: Optional[Agreement] = None, mean: str = "weighted",
                 ddof: int = 0, dist_exp: float = 1.0, ood_mean=None, tile: Optional[int] = None,
                 progress=None) -> dict:
    """The metrics of this module (and cdnv with ``dist_exp``, ddof) as a dict, from :class:`ClassMoments`:
    nc1_ratio, cdnv, log_mean, log_var, dist_mean, dist_var, riesz_mean, riesz_var (kernels of the centred
    means; ``ddof`` for the variances and the per-class variance of cdnv), duality_distance, and with
    ``agreement`` (:class:`ufm.metrics.Agreement`) agreement (share of samples) and agreement_classes (mean of
    the per-class rates), and with ``ood_mean`` nc5 (raw means, :func:`nc5`)."""
    W = np.asarray(W, float)
    centred = moments.means - metrics.global_mean(moments, mean)[:, None]
    out = {"nc1_ratio": nc1_ratio_from_moments(moments, mean),
           "cdnv": metrics.cdnv_from_moments(moments, dist_exp, ddof)}
    with np.errstate(all="ignore"):
        for kernel, stats in kernels_stats(centred, KERNELS, ddof=ddof, tile=tile, progress=progress).items():
            out[f"{kernel}_mean"], out[f"{kernel}_var"] = stats.mean, stats.var
    out["duality_distance"] = duality_distance(W, centred)
    if agreement is not None:
        out["agreement"] = metrics.agreement(agreement, "samples")
        out["agreement_classes"] = metrics.agreement(agreement, "classes")
    if ood_mean is not None:
        out["nc5"] = nc5(moments.means, ood_mean)
    return out
