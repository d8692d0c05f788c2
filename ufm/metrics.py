"""Neural-collapse metrics (float64 numpy), each with its formula and source.

Notation (docs/theory.md section 12): features H in R^{d x N} with labels y_i in {0..K-1} (samples labelled -1,
e.g. mixed samples, are left out of class statistics), n_c samples in class c, class means mu_c, global
mean mu_G, centred means Mc = [mu_c - mu_G] (d x K), classifier W in R^{K x d} (for a deep model the product
of the layers after the features), bias b. Formulas, sources and the values at the optima ``ufm`` solves:
``docs/metrics.md``.

Global mean (``mean=``):
- ``"weighted"`` (default): mu_G = (1/N) sum_i h_i = sum_c (n_c/N) mu_c, the average of all samples. This is
  the definition written in Papyan, Han & Donoho 2020 (mu_G = Ave_{i,c} h_{i,c}) and the one Zhu et al.
  2021's code computes (tding1/Neural-Collapse, validate_NC.py: sum of all features / number of samples).
- ``"unweighted"``: mu_G = (1/K) sum_c mu_c, the average of the class means. This is what the published
  code computes: Papyan, Han & Donoho's notebook (neuralcollapse/neuralcollapse, ``muG = torch.mean(M,
  dim=1)``), and Wu & Papyan 2024 (rhubarbwu/linguistic-collapse ``compute_means(weighted=False)``; the
  ``neural_collapse`` library's ``MeanAccumulator.compute(weighted=False)`` default).
The two agree for balanced counts and differ under imbalance.

Standard deviations (``ddof=``, equinorm, equiangularity, UNC3): ``0`` (default) divides the sum of squared
deviations by the number of values (numpy's default, population std); ``1`` divides by that number minus
one (torch's default ``torch.std``, used by Papyan et al.'s notebook for the equinorm CoV and by Wu &
Papyan 2024 for per-class statistics). For K values (norms, per-class cosines) ddof=1 is sqrt(K/(K-1))
times ddof=0; for the P = K(K-1)/2 pairwise cosines it is sqrt(P/(P-1)) times, and undefined (nan) for
K = 2, where there is a single pair.

Many classes: no K x K matrix is formed. Every pairwise metric (equiangularity, maximal angle, GNC2, CDNV,
the distance to a simplex ETF) walks the pairs c < c' in blocks of :data:`BLOCK` rows of the Gram matrix,
X[:, rows]^T X[:, rows[0]:] (at most BLOCK x K at a time), and NC4 the feature columns in blocks of BLOCK,
so memory is O(BLOCK K + K d + d^2) (d^2: the pooled within-class scatter of :class:`ClassMoments`)
and K = 100,000 classes fit; NC4's decisions (:func:`decisions`) are blocked over samples and classes. A
statistic that needs a mean first (a standard deviation, a Frobenius norm) takes two passes, so no
sum-of-squares cancellation. When the whole matrix
fits in one block (K <= BLOCK) the direct formulas are used.

A quantity that is undefined at a degenerate point (e.g. every class mean equal, as at W = H = 0) is
``nan``, never an exception. Exception to know: NC4 at W = H = 0 is 0 (every logit and every distance
ties, and both argmax and argmin pick class 0), not nan.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import numpy as np

from ufm import forward

MEANS = ("weighted", "unweighted")
DDOFS = (0, 1)

#: rows of the Gram matrix (and columns of the features, for NC4) per block: memory O(BLOCK K + K d)
BLOCK = 512
#: a pair whose squared distance ||x - y||^2 computed as ||x||^2 + ||y||^2 - 2 x.y is at most CLOSE times
#: ||x||^2 + ||y||^2 is recomputed from the difference x - y (the Gram form loses digits there)
CLOSE = 0.5


def _check_mean(mean: str) -> None:
    if mean not in MEANS:
        from ufm.errors import ProblemError

        raise ProblemError("mean", f"must be one of {list(MEANS)}, got {mean!r}")


def check_ddof(ddof) -> int:
    """0 or 1 (a bool, a float or anything else is refused: ddof=True would silently mean 1)."""
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, numbers.Integral) or int(ddof) not in DDOFS:
        from ufm.errors import ProblemError

        raise ProblemError("ddof", f"must be 0 (population std, numpy's default) or 1 (sample std, torch's "
                                   f"default), got {ddof!r}")
    return int(ddof)


def _std(values, ddof: int) -> float:
    """Standard deviation with ``ddof``; nan when fewer than ddof + 1 values (or any value is nan)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size <= ddof:
        return float("nan")
    return float(np.std(values, ddof=ddof))


def _div(a, b):
    return float(a / b) if b > 0 else float("nan")


# ------------------------------------------------------------------ blocks (many classes)
def _blocks(n: int) -> list:
    """[(start, stop)] of the blocks of :data:`BLOCK` consecutive indices covering range(n)."""
    step = max(1, int(BLOCK))
    return [(r0, min(n, r0 + step)) for r0 in range(0, n, step)]


def _pair_blocks(X):
    """The pairs c < c' of the K columns of X, by blocks of rows of the Gram matrix X^T X: yields
    (r0, r1, G, iu) with G = X[:, r0:r1]^T X[:, r0:] ((r1 - r0) x (K - r0), a fresh array the caller may
    overwrite, and should ``del`` before the next block) and iu the strict upper triangle of its leading
    square. The pairs of the block are G[iu] (r0 <= c < c' < r1) and G[:, r1 - r0:] (c in r0:r1, c' >= r1):
    every pair exactly once over the blocks, O(BLOCK K + K d) memory, half the products of X^T X."""
    XT = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)  # K x d (no copy for X = W.T)
    for r0, r1 in _blocks(XT.shape[0]):
        yield r0, r1, XT[r0:r1] @ XT[r0:].T, np.triu_indices(r1 - r0, 1)


def _fsum(parts) -> float:
    return math.fsum(float(v) for v in parts)


def _cosine_sum(X, norms, f) -> float:
    """sum of f(v) over the pieces v (1-D or 2-D arrays, which f may overwrite) of the pairwise cosines
    x_c.x_c' / (||x_c|| ||x_c'||), c < c', of the columns of X (nonzero ``norms``): every pair once."""
    parts = []
    for r0, r1, G, iu in _pair_blocks(X):
        G /= norms[r0:r1, None]
        G /= norms[None, r0:]
        parts += [f(G[iu]), f(G[:, r1 - r0:])]
        del G
    return _fsum(parts)


def _exact_sq(X, i, j):
    """||x_j - x_i||^2 for index arrays i, j: the squared norm of the difference, summed over the d
    coordinates as the direct formulas do (in chunks of O(BLOCK K) numbers)."""
    out = np.empty(i.size)
    step = max(1, int(BLOCK) * X.shape[1] // max(1, X.shape[0]))
    for s0 in range(0, i.size, step):
        D = X[:, j[s0:s0 + step]] - X[:, i[s0:s0 + step]]
        out[s0:s0 + step] = np.sum(D * D, axis=0)
    return out


def _gram_to_sq(X, g, sq_i, sq_j, where):
    """In place: Gram values g -> squared distances (:func:`_sq_distance_sum`); ``where`` maps np.nonzero of
    a mask of g's shape to the global (i, j) of those entries."""
    u = sq_i + sq_j
    g *= -2.0
    g += u
    u *= CLOSE
    close = g <= u
    del u
    if np.any(close):
        i, j = where(np.nonzero(close))
        g[close] = _exact_sq(X, i, j)
    return g


def _sq_distance_sum(X, f) -> float:
    """sum of f(s, i, j) over the pieces of the squared distances s = ||x_c - x_c'||^2 of the pairs c < c' of
    the columns of X (every pair once; s may be overwritten), with ``i``, ``j`` index tuples such that v[i],
    v[j] broadcast against s for a vector v over the classes. From the Gram block as ||x_c||^2 + ||x_c'||^2 -
    2 x_c.x_c', except where that is at most :data:`CLOSE` (||x_c||^2 + ||x_c'||^2): there the Gram form has
    cancelled digits (nearly coincident vectors), and s is the squared norm of x_c' - x_c (:func:`_exact_sq`),
    exactly as the direct formulas compute it -- so 0 exactly when two columns are equal."""
    X = np.asarray(X, dtype=np.float64)
    sq = np.sum(X * X, axis=0)
    parts = []
    for r0, r1, G, iu in _pair_blocks(X):
        ii, jj = iu[0] + r0, iu[1] + r0
        parts.append(f(_gram_to_sq(X, G[iu], sq[ii], sq[jj], lambda nz: (ii[nz[0]], jj[nz[0]])), (ii,), (jj,)))
        rect = _gram_to_sq(X, G[:, r1 - r0:], sq[r0:r1, None], sq[None, r1:], lambda nz: (r0 + nz[0], r1 + nz[1]))
        parts.append(f(rect, (slice(r0, r1), None), (None, slice(r1, None))))
        del G, rect
    return _fsum(parts)


def distance_tiles(X, tile: Optional[int] = None, progress=None):
    """The squared distances s = ||x_c - x_c'||^2 of every pair c < c' of the K columns of X, exactly once,
    by square tiles of at most ``tile`` x ``tile`` pairs (default :data:`BLOCK`): yields (i, j, s), flat
    arrays of the pair indices and their squared distances. Memory O(tile^2 + K d), whatever K (K = 100,000
    is 5e9 pairs: bounded memory, time ~ K^2 d). Each tile is the Gram form ||x_c||^2 + ||x_c'||^2 - 2 x_c.x_c'
    with the exact difference where it is at most :data:`CLOSE` (||x_c||^2 + ||x_c'||^2), as
    :func:`_sq_distance_sum`, so coincident columns give 0 exactly. ``progress``: called as
    progress(tiles done, tiles in all) after each tile."""
    X = np.asarray(X, dtype=np.float64)
    XT = np.ascontiguousarray(X.T)
    K = XT.shape[0]
    sq = np.sum(XT * XT, axis=1)
    step = max(1, int(BLOCK if tile is None else tile))
    starts = list(range(0, K, step))
    total, done = len(starts) * (len(starts) + 1) // 2, 0
    for a0 in starts:
        a1 = min(K, a0 + step)
        for b0 in starts:
            if b0 < a0:
                continue
            b1 = min(K, b0 + step)
            G = XT[a0:a1] @ XT[b0:b1].T
            if a0 == b0:
                iu = np.triu_indices(a1 - a0, 1)
                g, i, j = G[iu], iu[0] + a0, iu[1] + b0
            else:
                g = G.ravel()
                i = np.repeat(np.arange(a0, a1), b1 - b0)
                j = np.tile(np.arange(b0, b1), a1 - a0)
            del G
            yield i, j, _gram_to_sq(X, g, sq[i], sq[j], lambda nz, i=i, j=j: (i[nz[0]], j[nz[0]]))
            done += 1
            if progress is not None:
                progress(done, total)


def class_statistics(H, labels, K: Optional[int] = None, mean: str = "weighted", weights=None):
    """Class means (d x K), global mean (d,), centred means Mc (d x K), within-class residuals E (d x N')
    and the labels kept (N',), for the labelled samples (label >= 0).

    ``weights`` (N,): how many samples each column stands for (default 1 each). A collapsed solution
    (``Solution.reduced``) passes its class means with the class counts as weights: every statistic is then
    that of the full feature matrix, without forming it."""
    _check_mean(mean)
    H = np.asarray(H, dtype=np.float64)
    labels = np.asarray(labels)
    w = np.ones(labels.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = labels >= 0
    H, labels, w = H[:, keep], labels[keep], w[keep]
    K = int(labels.max()) + 1 if K is None else K
    order = np.argsort(labels, kind="stable")  # each class's columns in their order: those labels == c picks
    bounds = np.searchsorted(labels[order], np.arange(K + 1))
    cols = [order[bounds[c]:bounds[c + 1]] for c in range(K)]  # O(N log N), not K scans of the N labels
    means = np.stack([_wmean(H[:, cols[c]], w[cols[c]]) for c in range(K)], axis=1)
    mu_G = _wmean(H, w) if mean == "weighted" else means.mean(axis=1)
    centred = means - mu_G[:, None]
    residual = H - means[:, labels]
    return means, mu_G, centred, residual, labels


def _wmean(X, w):
    total = float(np.sum(w))
    return X @ w / total if total > 0 else np.full(X.shape[0], np.nan)


class ClassMoments(NamedTuple):
    """Per-class sufficient statistics of labelled features (labels >= 0), everything the moment-based
    metrics need; the same object comes from the features in memory (:func:`class_moments`) and from a
    stream of batches (:class:`ufm.streaming.MomentAccumulator`).

    counts (K,): samples per class (sums of the sample weights); means (d, K): class means mu_c (nan for an
    empty class); scatter (K,): sum_{i in c} ||h_i - mu_c||^2; within (d, d): the pooled within-class scatter
    sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, so Sigma_W = within / N with N = sum_c n_c (ddof 0)."""

    counts: np.ndarray
    means: np.ndarray
    scatter: np.ndarray
    within: np.ndarray


def global_mean(moments: ClassMoments, mean: str = "weighted"):
    """mu_G of the moments: ``"weighted"`` sum_c n_c mu_c / N (the sample mean), ``"unweighted"`` the
    average of the class means (module docstring)."""
    _check_mean(mean)
    if mean == "unweighted":
        return moments.means.mean(axis=1)
    return _wmean(moments.means, moments.counts)


def class_moments(H, labels, K: Optional[int] = None, weights=None) -> ClassMoments:
    """:class:`ClassMoments` of the features H (d x N) in memory, two passes (the means, then the residuals
    h_i - mu_{y_i}): no sum-of-squares cancellation. ``weights`` as in :func:`class_statistics`."""
    means, _, _, residual, kept = class_statistics(H, labels, K=K, weights=weights)
    K = means.shape[1]
    w = np.ones(kept.shape[0]) if weights is None else np.asarray(weights, float)[np.asarray(labels) >= 0]
    counts = np.bincount(kept, weights=w, minlength=K).astype(float)
    scatter = np.bincount(kept, weights=w * np.sum(residual ** 2, axis=0), minlength=K).astype(float)
    return ClassMoments(counts, means, scatter, (residual * w) @ residual.T)


def nc1_from_moments(moments: ClassMoments, mean: str = "weighted") -> float:
    """:func:`nc1` of the :class:`ClassMoments` (the one formula, for features in memory and streamed)."""
    centred = moments.means - global_mean(moments, mean)[:, None]
    if not np.all(np.isfinite(centred)):  # an empty class: no mean, NC1 undefined
        return float("nan")
    U, s, _ = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or not s[0] > 0:
        return float("nan")
    K = centred.shape[1]
    r = min(int(np.sum(s > max(centred.shape) * np.finfo(float).eps * s[0])), K - 1)
    sigma_w = moments.within / np.sum(moments.counts)
    Ur = U[:, :r]
    within = np.sum((Ur.T @ sigma_w) * Ur.T, axis=1)  # u_j^T Sigma_W u_j
    return float(np.sum(within / s[:r] ** 2))


def nc1(H, labels, mean: str = "weighted", weights=None) -> float:
    """NC1 = Tr(Sigma_W Sigma_B^+) / K (Papyan, Han & Donoho 2020; their notebook's ``Sw_invSb`` is
    ``np.trace(Sw @ inv_Sb)`` without the 1/K; rhubarbwu ``covariance_ratio`` divides by K).

    Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sigma_B = (1/K) Mc Mc^T. Computed in the
    class-mean subspace: with the thin SVD Mc = U S V^T (d x K, rank r <= K - 1 by an explicit cut-off
    s_j > max(d, K) eps s_1), Tr(Sigma_W Sigma_B^+) / K = sum_{j<=r} u_j^T Sigma_W u_j / s_j^2 -- a sum of
    non-negative terms, so NC1 is never negative (the d x d pseudo-inverse in float32 of the PyTorch
    peers produced negative values). 0 iff every sample equals its class mean (within the mean subspace);
    nan when all class means coincide. Computed by :func:`nc1_from_moments` of :func:`class_moments`.
    """
    _check_mean(mean)
    return nc1_from_moments(class_moments(H, labels, weights=weights), mean)


def class_variances(moments: ClassMoments, ddof: int = 0):
    """sigma_c^2 = scatter_c / (n_c - ddof) (K,): the per-class variance of :func:`cdnv` (nan where
    n_c <= ddof). ddof 0 is Galanti et al.'s and rhubarbwu's (``VarNormAccumulator``: totals / n_c)."""
    ddof = check_ddof(ddof)
    n = moments.counts - ddof
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, moments.scatter / np.where(n > 0, n, 1.0), np.nan)


def _check_dist_exp(dist_exp) -> float:
    if isinstance(dist_exp, (bool, np.bool_)) or not isinstance(dist_exp, numbers.Real) \
            or not np.isfinite(dist_exp) or dist_exp <= 0:
        from ufm.errors import ProblemError

        raise ProblemError("dist_exp", f"must be a finite number > 0 (1: Galanti et al. 2022; 2: Wu & Papyan "
                                       f"2024's analysis), got {dist_exp!r}")
    return float(dist_exp)


def cdnv_from_moments(moments: ClassMoments, dist_exp: float = 1.0, ddof: int = 0) -> float:
    """:func:`cdnv` of the :class:`ClassMoments` (the one formula, for features in memory and streamed)."""
    p = _check_dist_exp(dist_exp)
    var = class_variances(moments, ddof)
    means = moments.means
    K = means.shape[1]
    if K < 2:
        return float("nan")
    if K > BLOCK:
        def ratios(s, i, j):  # nan where two means coincide, as below
            if np.any(s == 0):
                return float("nan")
            v = var[i] + var[j]
            v /= 2
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                v /= s if p == 1 else s ** p
            return np.sum(v)

        return _sq_distance_sum(means, ratios) / (K * (K - 1) // 2)
    vals = []
    for c in range(K - 1):  # one row of pairs at a time: O(K d) memory, exact differences
        dist2 = np.sum((means[:, c + 1:] - means[:, c:c + 1]) ** 2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            den = np.where(dist2 > 0, dist2, 1.0)
            vals.append(np.where(dist2 > 0, (var[c] + var[c + 1:]) / 2 / (den if p == 1 else den ** p), np.nan))
    return float(np.mean(np.concatenate(vals)))


def cdnv(H, labels, weights=None, dist_exp: float = 1.0, ddof: int = 0) -> float:
    """Class-distance normalised variance (Galanti, Gyorgy & Hutter 2022, "On the Role of Neural Collapse
    in Transfer Learning", arXiv 2112.15121; Wu & Papyan 2024): the mean over pairs c != c' of
    ((sigma_c^2 + sigma_c'^2) / 2) / ||mu_c - mu_c'||^(2 p), sigma_c^2 = sum_{i in c} ||h_i - mu_c||^2 /
    (n_c - ddof) (:func:`class_variances`), p = ``dist_exp`` (rhubarbwu ``variability_cdnv(..., dist_exp)``
    raises the *squared* distance to dist_exp; p = 1 is Galanti et al.'s CDNV, Wu & Papyan's analysis passes
    2). Independent of the global mean. >= 0; 0 iff within-class variability is 0; nan if two class means
    coincide. Computed by :func:`cdnv_from_moments` of :func:`class_moments`."""
    return cdnv_from_moments(class_moments(H, labels, weights=weights), dist_exp, ddof)


def _cosines(X):
    """Pairwise cosines of the columns of X (off-diagonal entries), nan if a column is zero."""
    norms = np.linalg.norm(X, axis=0)
    if np.any(norms == 0):
        return np.full(X.shape[1] * (X.shape[1] - 1) // 2, np.nan)
    G = (X.T @ X) / np.outer(norms, norms)
    return G[np.triu_indices(X.shape[1], 1)]


def equinorm(X, ddof: int = 0) -> float:
    """NC2 equinorm: coefficient of variation Std_c(||x_c||) / Avg_c(||x_c||) of the K column norms of X
    (Papyan, Han & Donoho 2020; their notebook's ``norm_M_CoV`` / ``norm_W_CoV`` use ``torch.std``,
    i.e. ddof=1). 0 iff the norms are equal; nan if the mean norm is 0 (or ddof=1 with one column)."""
    ddof = check_ddof(ddof)
    norms = np.linalg.norm(X, axis=0)
    return _div(_std(norms, ddof), np.mean(norms))


def equiangularity(X, ddof: int = 0) -> float:
    """NC2 equiangularity: Std_{c<c'} cos(x_c, x_c') over the P = K(K-1)/2 pairs of columns of X (Papyan,
    Han & Donoho 2020; their notebook does not compute it). 0 iff all pairwise angles are equal
    (a simplex ETF, but also e.g. an orthogonal frame); nan if a column is 0, or for ddof=1 when K = 2."""
    ddof = check_ddof(ddof)
    K = X.shape[1]
    if K <= BLOCK:
        return _std(_cosines(X), ddof)
    P = K * (K - 1) // 2
    norms = np.linalg.norm(X, axis=0)
    if P <= ddof or np.any(norms == 0):
        return float("nan")
    mean = _cosine_sum(X, norms, np.sum) / P  # two passes (the mean, then the deviations): no cancellation

    def squared_deviations(v):
        v -= mean
        return np.sum(np.square(v, out=v))

    return float(np.sqrt(_cosine_sum(X, norms, squared_deviations) / (P - ddof)))


def max_angle(X) -> float:
    """NC2 maximal angle: Avg_{c != c'} |cos(x_c, x_c') + 1/(K-1)| (Papyan, Han & Donoho 2020; the
    notebook's ``coherence``). 0 iff every pairwise cosine is -1/(K-1) (a simplex ETF); nan if a column is 0."""
    K = X.shape[1]
    if K <= BLOCK:
        return float(np.mean(np.abs(_cosines(X) + 1.0 / (K - 1))))
    norms = np.linalg.norm(X, axis=0)
    if np.any(norms == 0):
        return float("nan")
    shift = 1.0 / (K - 1)

    def deviations(v):
        v += shift
        return np.sum(np.abs(v, out=v))

    return _cosine_sum(X, norms, deviations) / (K * (K - 1) // 2)


def gram_distance(G, G_pred) -> float:
    """|| G/||G||_F - G_pred/||G_pred||_F ||_F: distance between normalised Gram matrices (0 = same shape up
    to scale, at most 2). Use it for non-ETF predictions (orthogonal frame, unequal lengths, SELI). nan if
    either Gram matrix is 0."""
    G, G_pred = np.asarray(G, float), np.asarray(G_pred, float)
    if G.shape != G_pred.shape:
        from ufm.errors import ProblemError

        raise ProblemError("predicted_gram", f"must have shape {G.shape}, got {G_pred.shape}")
    a, b = np.linalg.norm(G), np.linalg.norm(G_pred)
    if a == 0 or b == 0:
        return float("nan")
    return float(np.linalg.norm(G / a - G_pred / b))


def etf_gram(K: int) -> np.ndarray:
    """The simplex-ETF Gram shape I - J/K."""
    return np.eye(K) - np.ones((K, K)) / K


def nc2_etf(X) -> float:
    """NC2 distance to a simplex ETF (Zhu et al. 2021, tding1/Neural-Collapse ``compute_ETF``, there for the
    classifier; rhubarbwu/neural-collapse ``simplex_etf_error`` for the centred means):
    || X^T X/||X^T X||_F - (I - J/K)/sqrt(K-1) ||_F for the K columns of X. In [0, sqrt(2)] (both matrices
    are positive semi-definite; sqrt(2) when all columns are parallel); 0 iff the columns form a simplex ETF
    up to rotation and scale; nan if X = 0. An orthogonal frame gives sqrt(2 - 2 sqrt((K-1)/K)) (0.518 for
    K = 4), not 0. For K > :data:`BLOCK` in two passes over blocks of rows of X^T X (its Frobenius norm,
    then the distance, entry by entry as :func:`gram_distance`)."""
    K = X.shape[1]
    if K <= BLOCK:
        return gram_distance(X.T @ X, etf_gram(K))
    on, off = 1.0 - 1.0 / K, 0.0 - 1.0 / K  # the entries of I - J/K, as etf_gram computes them
    b = math.sqrt(math.fsum([K * on * on, K * (K - 1) * off * off]))  # ||I - J/K||_F = sqrt(K - 1)

    def gram_sum(f, f_diagonal):  # sum over all K^2 entries: the diagonal once, each pair c < c' twice
        parts = []
        for r0, r1, G, iu in _pair_blocks(X):
            B = r1 - r0
            parts += [f_diagonal(np.diagonal(G[:, :B]).copy()), 2 * f(G[iu]), 2 * f(G[:, B:])]
            del G
        return _fsum(parts)

    def squares(v):
        return np.sum(np.square(v, out=v))

    a = math.sqrt(gram_sum(squares, squares))  # ||X^T X||_F, first pass
    if a == 0:
        return float("nan")

    def squared_error(target):  # (G_cc'/a - P_cc'/b)^2, second pass
        def f(v):
            v /= a
            v -= target
            return squares(v)
        return f

    return math.sqrt(gram_sum(squared_error(off / b), squared_error(on / b)))


def nc3(W, centred) -> float:
    """NC3 self-duality (Papyan, Han & Donoho 2020; notebook ``W_M_dist``):
    || W^T/||W||_F - Mc/||Mc||_F ||_F^2. In [0, 4]; 0 iff W^T is a positive multiple of Mc; nan if W = 0 or
    Mc = 0. (Zhu et al. 2021 and rhubarbwu ``self_duality_error`` use a different NC3, the distance of
    W Mc/||W Mc||_F to (I - J/K)/sqrt(K-1).)"""
    a, b = np.linalg.norm(W), np.linalg.norm(centred)
    if a == 0 or b == 0:
        return float("nan")
    return float(np.linalg.norm(W.T / a - centred / b) ** 2)


def unc3(W, centred, ddof: int = 0) -> float:
    """Uniform duality UNC3 (Wu & Papyan 2024): Std_c cos(w_c, mu_c - mu_G) over the K classes -- same-class
    cosines only (nc-toolbox mixes in cross-class cosines, a bug). Wu & Papyan's code takes ``torch.std``
    (ddof=1) of these cosines. 0 iff every classifier row makes the same angle with its centred mean (not
    only at W^T ~ Mc); nan if a row of W or a centred mean is 0."""
    ddof = check_ddof(ddof)
    nw, nm = np.linalg.norm(W, axis=1), np.linalg.norm(centred, axis=0)
    if np.any(nw == 0) or np.any(nm == 0):
        return float("nan")
    cos = np.sum(W * centred.T, axis=1) / (nw * nm)
    return _std(cos, ddof)


def decisions(H, means, W, b=None):
    """(classifier, nearest class mean) decisions for the feature columns of H (d x B): argmax_c (W h + b)_c
    and argmin_c ||h - mu_c||^2, ties to the lowest class index. The fast nearest-class-mean search: one
    product per block, argmin_c (||mu_c||^2 - 2 mu_c.h) (||h||^2 is the same for every c and is left out),
    over blocks of :data:`BLOCK` columns and, for many classes, blocks of :data:`BLOCK` classes with a running
    best (strict improvement, so the lowest index wins ties): memory O(BLOCK^2 + K d), any K. An empty class
    (nan mean) is never the nearest."""
    H = np.asarray(H, dtype=np.float64)
    MT = np.ascontiguousarray(np.asarray(means, dtype=np.float64).T)  # K x d
    WT = np.asarray(W, dtype=np.float64).T
    msq = np.sum(MT * MT, axis=1)
    msq = np.where(np.isnan(msq), np.inf, msq)
    MT = np.where(np.isnan(MT), 0.0, MT)
    bias = None if b is None else np.asarray(b, dtype=np.float64)
    B, K = H.shape[1], MT.shape[0]
    top, near = np.empty(B, dtype=np.int64), np.empty(B, dtype=np.int64)
    for c0, c1 in _blocks(B):
        HT = H[:, c0:c1].T
        best_z = np.full(c1 - c0, -np.inf)
        best_d = np.full(c1 - c0, np.inf)
        arg_z = np.zeros(c1 - c0, dtype=np.int64)
        arg_d = np.zeros(c1 - c0, dtype=np.int64)
        for k0, k1 in _blocks(K):
            Z = HT @ WT[:, k0:k1]
            if bias is not None:
                Z += bias[None, k0:k1]
            j = np.argmax(Z, axis=1)
            z = Z[np.arange(c1 - c0), j]
            better = (z > best_z) | ((k0 == 0) & ~(z < best_z))
            best_z[better], arg_z[better] = z[better], j[better] + k0
            D = HT @ MT[k0:k1].T
            D *= -2.0
            D += msq[None, k0:k1]
            j = np.argmin(D, axis=1)
            dv = D[np.arange(c1 - c0), j]
            better = (dv < best_d) | ((k0 == 0) & ~(dv > best_d))
            best_d[better], arg_d[better] = dv[better], j[better] + k0
            del Z, D
        top[c0:c1], near[c0:c1] = arg_z, arg_d
    return top, near


class Agreement(NamedTuple):
    """Per-class agreement counts of the classifier and the nearest-class-mean rule: ``hits`` (K,) the
    (weighted) number of samples of class c on which the two decide alike, ``counts`` (K,) the samples of
    class c. From features in memory (:func:`agreement_counts`) or streamed
    (:class:`ufm.streaming.AgreementAccumulator`)."""

    hits: np.ndarray
    counts: np.ndarray


def agreement_counts(H, labels, means, W, b=None, weights=None, K: Optional[int] = None) -> Agreement:
    """:class:`Agreement` of the labelled columns of H (d x N) (:func:`decisions`)."""
    labels = np.asarray(labels)
    K = np.asarray(means).shape[1] if K is None else K
    w = np.ones(labels.shape[0]) if weights is None else np.asarray(weights, float)
    keep = labels >= 0
    top, near = decisions(np.asarray(H, float)[:, keep], means, W, b)
    kept, w = labels[keep], w[keep]
    return Agreement(np.bincount(kept, weights=w * (top == near), minlength=K).astype(float),
                     np.bincount(kept, weights=w, minlength=K).astype(float))


AVERAGES = ("samples", "classes")


def agreement(counts: Agreement, average: str = "samples") -> float:
    """Classifier / nearest-class-mean agreement (NC4 as a rate, rhubarbwu ``clf_ncc_agreement``):
    ``"samples"`` sum_c hits_c / sum_c n_c, the share of samples (rhubarbwu ``weighted=True``; equals
    1 - :func:`nc4`); ``"classes"`` (1/K') sum_c hits_c / n_c over the K' classes with samples, every class
    counting the same (rhubarbwu ``weighted=False``), which shows a disagreement confined to small classes.
    In [0, 1]; nan without samples."""
    if average not in AVERAGES:
        from ufm.errors import ProblemError

        raise ProblemError("average", f"must be one of {list(AVERAGES)}, got {average!r}")
    hits, n = np.asarray(counts.hits, float), np.asarray(counts.counts, float)
    if average == "samples":
        return _div(np.sum(hits), np.sum(n))
    present = n > 0
    return float(np.mean(hits[present] / n[present])) if np.any(present) else float("nan")


def nc4_from_agreement(counts: Agreement) -> float:
    """:func:`nc4` of the :class:`Agreement` counts: sum_c (n_c - hits_c) / sum_c n_c."""
    n = np.asarray(counts.counts, float)
    return _div(np.sum(n - np.asarray(counts.hits, float)), np.sum(n))


def nc4(H, labels, W, b=None, means=None, weights=None) -> float:
    """NC4 (Papyan, Han & Donoho 2020; notebook ``NCC_mismatch``): share of labelled samples where the
    classifier's decision argmax_c(W h + b)_c (bias included) differs from the nearest class mean
    argmin_c ||h - mu_c||. In [0, 1]. Ties go to the lowest class index, so at W = H = 0 it is 0, not nan.
    Computed by :func:`nc4_from_agreement` of :func:`agreement_counts` (:func:`decisions` in blocks)."""
    labels = np.asarray(labels)
    if means is None:
        means = class_statistics(H, labels, weights=weights)[0]
    return nc4_from_agreement(agreement_counts(H, labels, means, W, b, weights=weights))


def gnc2(centred) -> float:
    """GNC2 hyperspherical uniformity (Liu et al. 2023; Wu & Papyan 2024): mean over pairs c != c' of
    log(1 / ||muhat_c - muhat_c'||) with muhat_c = (mu_c - mu_G)/||mu_c - mu_G|| (the mean of rhubarbwu
    ``kernel_stats(..., kernel=log_kernel)``). Lower is more uniform; the simplex ETF attains the minimum
    -log(sqrt(2K/(K-1))), so "collapsed" is that value, not 0; inf if two directions coincide; nan if a
    centred mean is 0."""
    norms = np.linalg.norm(centred, axis=0)
    if np.any(norms == 0):
        return float("nan")
    U = centred / norms
    K = U.shape[1]
    if K > BLOCK:  # -log ||u - u'|| = -log sqrt(s), s the squared distances; +inf where s = 0
        with np.errstate(divide="ignore"):
            return _sq_distance_sum(U, lambda s, i, j: -np.sum(np.log(np.sqrt(s, out=s), out=s))) / (K * (K - 1) // 2)
    dists = np.concatenate([np.linalg.norm(U[:, c + 1:] - U[:, c:c + 1], axis=0) for c in range(K - 1)])
    if np.min(dists) == 0:
        return float("inf")
    return float(np.mean(-np.log(dists)))


def procrustes_distance(A, B) -> float:
    """Rotation-invariant distance min_Q ||A - B Q||_F / ||A||_F over orthogonal Q (rows are points);
    Q from the SVD of B^T A (Schoenemann 1966). 0 iff the configurations agree up to a rotation."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    U, _, Vt = np.linalg.svd(B.T @ A)
    return _div(np.linalg.norm(A - B @ (U @ Vt)), np.linalg.norm(A))


def nc_metrics(H, labels, W, b=None, *, mean: str = "weighted", predicted_gram=None, ddof: int = 0,
               weights=None) -> dict:
    """All metrics of one layer: features H (d x N) with labels, classifier W (K x d), bias b.

    Keys: nc1, cdnv, nc2_equinorm_means, nc2_equinorm_classifier, nc2_equiangular (centred means),
    nc2_equiangular_classifier, nc2_maxangle (centred means), nc2_etf (classifier Gram vs ETF),
    nc2_etf_means, nc3, unc3, nc4, gnc2, and nc2_gram (distance of W W^T to ``predicted_gram``) when given
    (the one K x K computation: the caller passes a K x K prediction; every other metric works in blocks,
    memory O(BLOCK K + K d), module docstring).
    ``mean``: the global mean (module docstring); ``ddof``: 0 or 1, for the standard deviations of the
    equinorm, equiangularity and UNC3 metrics; ``weights``: samples per column (:func:`class_statistics`).
    """
    _check_mean(mean)
    ddof = check_ddof(ddof)
    W = np.asarray(W, float)
    moments = class_moments(H, labels, K=W.shape[0], weights=weights)
    return moment_metrics(moments, W, b, mean=mean, predicted_gram=predicted_gram, ddof=ddof,
                          agreement=agreement_counts(H, labels, moments.means, W, b, weights=weights))


def moment_metrics(moments: ClassMoments, W, b=None, *, mean: str = "weighted", predicted_gram=None,
                   ddof: int = 0, agreement: Optional[Agreement] = None) -> dict:
    """The dict of :func:`nc_metrics` from :class:`ClassMoments` (in memory or streamed) and, for nc4, the
    :class:`Agreement` counts (nc4 is nan without them). Every formula is the one :func:`nc_metrics` uses."""
    _check_mean(mean)
    ddof = check_ddof(ddof)
    W = np.asarray(W, float)
    means = moments.means
    centred = means - global_mean(moments, mean)[:, None]
    out = {
        "nc1": nc1_from_moments(moments, mean),
        "cdnv": cdnv_from_moments(moments),
        "nc2_equinorm_means": equinorm(centred, ddof),
        "nc2_equinorm_classifier": equinorm(W.T, ddof),
        "nc2_equiangular": equiangularity(centred, ddof),
        "nc2_equiangular_classifier": equiangularity(W.T, ddof),
        "nc2_maxangle": max_angle(centred),
        "nc2_etf": nc2_etf(W.T),
        "nc2_etf_means": nc2_etf(centred),
        "nc3": nc3(W, centred),
        "unc3": unc3(W, centred, ddof),
        "nc4": float("nan") if agreement is None else nc4_from_agreement(agreement),
        "gnc2": gnc2(centred),
    }
    if predicted_gram is not None:
        out["nc2_gram"] = gram_distance(W @ W.T, predicted_gram)
    return out


def dnc_metrics(H, labels, K: int, *, mean: str = "weighted", ddof: int = 0, weights=None) -> dict:
    """Deep-neural-collapse metrics of the features entering one layer of a non-linear model (Sukenik, Mondelli
    & Lampert 2023, arXiv 2305.13165, DNC1-DNC2): ``nc1``, ``cdnv``, ``nc2_equinorm_means``,
    ``nc2_equiangular``, ``nc2_etf_means`` (centred means) and, for post-ReLU features whose DNC2 is an
    orthogonal frame of the uncentred means, ``nc2_orthogonal`` = || G / mean(diag G) - I ||_F / sqrt(K) with
    G = Mbar^T Mbar (0 for orthogonal equinorm means), and ``rank`` (numerical rank of the class means, singular
    values above 1e-6 times the largest: the low-rank trap of Sukenik et al. 2024 has rank < K) and
    ``singular_ratio`` (smallest over largest singular value of the class means: 1 for DNC, -> 0 at a low-rank
    point; at ReLU kinks L-BFGS stalls with it still ~1e-4, so read it on a log scale)."""
    means, _, centred, _, _ = class_statistics(H, labels, K=K, mean=mean, weights=weights)
    G = means.T @ means
    scale = float(np.mean(np.diag(G)))
    s = np.linalg.svd(means, compute_uv=False) if np.all(np.isfinite(means)) else np.array([np.nan])
    return {"nc1": nc1(H, labels, mean=mean, weights=weights), "cdnv": cdnv(H, labels, weights=weights),
            "nc2_equinorm_means": equinorm(centred, ddof), "nc2_equiangular": equiangularity(centred, ddof),
            "nc2_etf_means": nc2_etf(centred),
            "nc2_orthogonal": _div(float(np.linalg.norm(G / scale - np.eye(K))), np.sqrt(K)) if scale > 0
            else float("nan"),
            "rank": int(np.sum(s > 1e-6 * s[0])) if s.size and np.isfinite(s[0]) and s[0] > 0 else 0,
            "singular_ratio": _div(float(s[-1]), float(s[0])) if s.size and s[0] > 0 else float("nan")}


def solution_metrics(solution, *, mean: str = "weighted", predicted_gram=None, per_layer: bool = True,
                     ddof: int = 0) -> dict:
    """Metrics of a :class:`ufm.solution.Solution`: those of the features against the product classifier
    W_M..W_1 (with the bias), and for depth M > 1 under ``"per_layer"`` one dict per layer m = 1..M: the
    features entering layer m, W_{m-1}..W_1 H, against the classifier W_M..W_m (deep neural collapse,
    Dang et al. 2023). ``mean`` and ``ddof`` as in :func:`nc_metrics`, passed to every layer.

    Non-linear (ReLU) models: the top level is :func:`nc_metrics` of the features entering the classifier
    (post-activation) against W_M, plus :func:`dnc_metrics`; ``per_layer`` holds :func:`dnc_metrics` of the
    (post-activation) features entering every layer m = 1..M (the DNC metrics of Sukenik et al. 2023, 2024)."""
    with np.errstate(all="ignore"):  # undefined quantities are nan by design (module docstring), not warnings
        return _solution_metrics(solution, mean, predicted_gram, per_layer, ddof)


def _solution_metrics(solution, mean, predicted_gram, per_layer, ddof) -> dict:
    _check_mean(mean)
    ddof = check_ddof(ddof)
    K = solution.problem.K
    collapsed = solution.reduced and solution.problem.samples is None
    labels = None if collapsed else solution.problem.labels()  # collapsed: nothing of size N
    missing = [] if solution.problem.samples is None else \
        np.flatnonzero(np.bincount(labels[labels >= 0], minlength=K)[:K] == 0).tolist()  # one-hot: counts >= 1
    if missing:  # e.g. mixup without original samples: class statistics are undefined
        keys = ("nc1", "cdnv", "nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular",
                "nc2_equiangular_classifier", "nc2_maxangle", "nc2_etf", "nc2_etf_means", "nc3", "unc3", "nc4",
                "gnc2")
        out = {k: float("nan") for k in keys}
        out["nc2_etf"] = nc2_etf(solution.product.T)
        out["nc2_equinorm_classifier"] = equinorm(solution.product.T, ddof)
        out["note"] = f"classes {missing} have no single-class samples: class statistics undefined"
        return out
    weights = None
    if not collapsed:
        H = solution.features
    else:  # collapsed: the class means, weighted by counts
        H, labels, weights = solution.class_means, np.arange(K), np.asarray(solution.problem.counts, float)
    p = solution.problem
    if not p.linear:
        feats = forward.layer_inputs(solution.weights, H, p.activation, p.activate_features)
        out = nc_metrics(feats[-1], labels, solution.weights[-1], solution.bias, mean=mean,
                         predicted_gram=predicted_gram, ddof=ddof, weights=weights)
        out.update({k: v for k, v in dnc_metrics(feats[-1], labels, K, mean=mean, ddof=ddof, weights=weights).items()
                    if k not in out})
        if per_layer:
            out["per_layer"] = [dnc_metrics(H_m, labels, K, mean=mean, ddof=ddof, weights=weights) for H_m in feats]
        return out
    out = nc_metrics(H, labels, solution.product, solution.bias, mean=mean, predicted_gram=predicted_gram, ddof=ddof,
                     weights=weights)
    if per_layer and len(solution.weights) > 1:
        layers = []
        feats = forward.layer_inputs(solution.weights, H)
        for H_m, W_after in zip(feats, forward.classifiers_after(solution.weights)):
            layers.append(nc_metrics(H_m, labels, W_after, solution.bias, mean=mean, ddof=ddof, weights=weights))
        out["per_layer"] = layers
    return out
