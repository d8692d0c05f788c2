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
so memory is O(BLOCK K + K d) and K = 100,000 classes fit. A statistic that needs a mean first (a standard
deviation, a Frobenius norm) takes two passes, so no sum-of-squares cancellation. When the whole matrix
fits in one block (K <= BLOCK) the direct formulas are used.

A quantity that is undefined at a degenerate point (e.g. every class mean equal, as at W = H = 0) is
``nan``, never an exception. Exception to know: NC4 at W = H = 0 is 0 (every logit and every distance
ties, and both argmax and argmin pick class 0), not nan.
"""

from __future__ import annotations

import math
import numbers
from typing import Optional

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


def _check_ddof(ddof) -> int:
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


def nc1(H, labels, mean: str = "weighted", weights=None) -> float:
    """NC1 = Tr(Sigma_W Sigma_B^+) / K (Papyan, Han & Donoho 2020; their notebook's ``Sw_invSb`` is
    ``np.trace(Sw @ inv_Sb)`` without the 1/K; rhubarbwu ``covariance_ratio`` divides by K).

    Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sigma_B = (1/K) Mc Mc^T. Computed in the
    class-mean subspace: with the thin SVD Mc = U S V^T (d x K, rank r <= K - 1 by an explicit cut-off
    s_j > max(d, K) eps s_1), Tr(Sigma_W Sigma_B^+) / K = sum_{j<=r} u_j^T Sigma_W u_j / s_j^2 -- a sum of
    non-negative terms, so NC1 is never negative (the d x d pseudo-inverse in float32 of the PyTorch
    peers produced negative values). 0 iff every sample equals its class mean (within the mean subspace);
    nan when all class means coincide.
    """
    _, _, centred, residual, kept = class_statistics(H, labels, mean=mean, weights=weights)
    w = np.ones(kept.shape[0]) if weights is None else np.asarray(weights, float)[np.asarray(labels) >= 0]
    U, s, _ = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return float("nan")
    K = centred.shape[1]
    r = min(int(np.sum(s > max(centred.shape) * np.finfo(float).eps * s[0])), K - 1)
    proj = U[:, :r].T @ residual  # r x N
    within = (proj ** 2) @ w / np.sum(w)  # u_j^T Sigma_W u_j
    return float(np.sum(within / s[:r] ** 2))


def cdnv(H, labels, weights=None) -> float:
    """Class-distance normalised variance (Galanti et al. 2022; Wu & Papyan 2024): the mean over pairs
    c != c' of ((sigma_c^2 + sigma_c'^2) / 2) / ||mu_c - mu_c'||^2, sigma_c^2 = mean_{i in c} ||h_i - mu_c||^2
    (rhubarbwu ``variability_cdnv`` with ``dist_exp=1``; Wu & Papyan's analysis passes ``dist_exp=2``).
    Independent of the global mean. >= 0; 0 iff within-class variability is 0; nan if two class means
    coincide."""
    w = None if weights is None else np.asarray(weights, float)[np.asarray(labels) >= 0]
    means, _, _, residual, labels = class_statistics(H, labels, weights=weights)
    K = means.shape[1]
    w = np.ones(labels.shape[0]) if w is None else w
    res2 = np.sum(residual ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.bincount(labels, weights=w * res2, minlength=K) / np.bincount(labels, weights=w, minlength=K)
    if K > BLOCK:
        def ratios(s, i, j):  # nan where two means coincide, as below
            if np.any(s == 0):
                return float("nan")
            v = var[i] + var[j]
            v /= 2
            with np.errstate(invalid="ignore", divide="ignore"):
                v /= s
            return np.sum(v)

        return _sq_distance_sum(means, ratios) / (K * (K - 1) // 2)
    vals = []
    for c in range(K - 1):  # one row of pairs at a time: O(K d) memory, exact differences
        dist2 = np.sum((means[:, c + 1:] - means[:, c:c + 1]) ** 2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            vals.append(np.where(dist2 > 0, (var[c] + var[c + 1:]) / 2 / np.where(dist2 > 0, dist2, 1.0), np.nan))
    return float(np.mean(np.concatenate(vals)))


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
    ddof = _check_ddof(ddof)
    norms = np.linalg.norm(X, axis=0)
    return _div(_std(norms, ddof), np.mean(norms))


def equiangularity(X, ddof: int = 0) -> float:
    """NC2 equiangularity: Std_{c<c'} cos(x_c, x_c') over the P = K(K-1)/2 pairs of columns of X (Papyan,
    Han & Donoho 2020; their notebook does not compute it). 0 iff all pairwise angles are equal
    (a simplex ETF, but also e.g. an orthogonal frame); nan if a column is 0, or for ddof=1 when K = 2."""
    ddof = _check_ddof(ddof)
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
    ddof = _check_ddof(ddof)
    nw, nm = np.linalg.norm(W, axis=1), np.linalg.norm(centred, axis=0)
    if np.any(nw == 0) or np.any(nm == 0):
        return float("nan")
    cos = np.sum(W * centred.T, axis=1) / (nw * nm)
    return _std(cos, ddof)


def nc4(H, labels, W, b=None, means=None, weights=None) -> float:
    """NC4 (Papyan, Han & Donoho 2020; notebook ``NCC_mismatch``): share of labelled samples where the
    classifier's decision argmax_c(W h + b)_c (bias included) differs from the nearest class mean
    argmin_c ||h - mu_c||. In [0, 1]. Ties go to the lowest class index, so at W = H = 0 it is 0, not nan."""
    H = np.asarray(H, float)
    labels = np.asarray(labels)
    if means is None:
        means = class_statistics(H, labels, weights=weights)[0]
    w = np.ones(labels.shape[0]) if weights is None else np.asarray(weights, float)
    H, w = H[:, labels >= 0], w[labels >= 0]
    if H.shape[1] <= BLOCK:
        Z = W @ H + (0 if b is None else np.asarray(b)[:, None])
        d2 = np.sum(H ** 2, axis=0)[None, :] - 2 * means.T @ H + np.sum(means ** 2, axis=0)[:, None]
        return float(_wmean((np.argmax(Z, axis=0) != np.argmin(d2, axis=0)).astype(float)[None, :], w)[0])
    WT = np.asarray(W, float).T
    bias = None if b is None else np.asarray(b, float)[None, :]
    hsq, msq, means2 = np.sum(H ** 2, axis=0), np.sum(means ** 2, axis=0)[None, :], 2 * means
    differ = np.empty(H.shape[1], dtype=bool)
    for c0, c1 in _blocks(H.shape[1]):  # BLOCK x K logits and distances at a time (transposed), same formulas
        Z = H[:, c0:c1].T @ WT
        if bias is not None:
            Z += bias
        top = np.argmax(Z, axis=1)
        del Z
        d2 = H[:, c0:c1].T @ means2
        np.subtract(hsq[c0:c1, None], d2, out=d2)
        d2 += msq
        differ[c0:c1] = top != np.argmin(d2, axis=1)
        del d2
    return float(_wmean(differ.astype(float)[None, :], w)[0])


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
    ddof = _check_ddof(ddof)
    W = np.asarray(W, float)
    means, _, centred, _, _ = class_statistics(H, labels, K=W.shape[0], mean=mean, weights=weights)
    out = {
        "nc1": nc1(H, labels, mean=mean, weights=weights),
        "cdnv": cdnv(H, labels, weights=weights),
        "nc2_equinorm_means": equinorm(centred, ddof),
        "nc2_equinorm_classifier": equinorm(W.T, ddof),
        "nc2_equiangular": equiangularity(centred, ddof),
        "nc2_equiangular_classifier": equiangularity(W.T, ddof),
        "nc2_maxangle": max_angle(centred),
        "nc2_etf": nc2_etf(W.T),
        "nc2_etf_means": nc2_etf(centred),
        "nc3": nc3(W, centred),
        "unc3": unc3(W, centred, ddof),
        "nc4": nc4(H, labels, W, b, means=means, weights=weights),
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
    ddof = _check_ddof(ddof)
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
