"""Neural-collapse metrics (float64 numpy), each with its formula and source.

Notation (theory.md section 7): features H in R^{d x N} with labels y_i in {0..K-1} (samples labelled -1,
e.g. mixed samples, are left out of class statistics), class means mu_c, global mean mu_G, centred means
Mc = [mu_c - mu_G] (d x K), classifier W in R^{K x d} (for a deep model the product of the layers after the
features), bias b.

Global mean (``mean=``):
- ``"weighted"``: mu_G = (1/N) sum_i h_i, count-weighted (Wu & Papyan 2024);
- ``"unweighted"``: mu_G = (1/K) sum_c mu_c (Papyan, Han & Donoho 2020). They differ under imbalance.

A quantity that is undefined at a degenerate point (e.g. every class mean equal, as at W = H = 0) is
``nan``, never an exception and never a misleading number.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

MEANS = ("weighted", "unweighted")


def _check_mean(mean: str) -> None:
    if mean not in MEANS:
        from ufm.problem import ProblemError

        raise ProblemError("mean", f"must be one of {list(MEANS)}, got {mean!r}")


def _div(a, b):
    return float(a / b) if b > 0 else float("nan")


def class_statistics(H, labels, K: Optional[int] = None, mean: str = "weighted"):
    """Class means (d x K), global mean (d,), centred means Mc (d x K), within-class residuals E (d x N')
    and the labels kept (N',), for the labelled samples (label >= 0)."""
    _check_mean(mean)
    H = np.asarray(H, dtype=np.float64)
    labels = np.asarray(labels)
    keep = labels >= 0
    H, labels = H[:, keep], labels[keep]
    K = int(labels.max()) + 1 if K is None else K
    means = np.stack([H[:, labels == c].mean(axis=1) for c in range(K)], axis=1)
    mu_G = H.mean(axis=1) if mean == "weighted" else means.mean(axis=1)
    centred = means - mu_G[:, None]
    residual = H - means[:, labels]
    return means, mu_G, centred, residual, labels


def nc1(H, labels, mean: str = "weighted") -> float:
    """NC1 = Tr(Sigma_W Sigma_B^+) / K (Papyan et al. 2020; Papyan's notebook omits the 1/K).

    Sigma_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T, Sigma_B = (1/K) Mc Mc^T. Computed in the
    class-mean subspace: with the thin SVD Mc = U S V^T (d x K, rank r <= K - 1 by an explicit cut-off
    s_j > max(d, K) eps s_1), Tr(Sigma_W Sigma_B^+) / K = sum_{j<=r} u_j^T Sigma_W u_j / s_j^2 -- a sum of
    non-negative terms, so NC1 is never negative (the d x d pseudo-inverse in float32 of the PyTorch
    peers produced negative values). nan when all class means coincide.
    """
    _, _, centred, residual, _ = class_statistics(H, labels, mean=mean)
    U, s, _ = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return float("nan")
    K = centred.shape[1]
    r = min(int(np.sum(s > max(centred.shape) * np.finfo(float).eps * s[0])), K - 1)
    proj = U[:, :r].T @ residual  # r x N
    within = np.sum(proj ** 2, axis=1) / residual.shape[1]  # u_j^T Sigma_W u_j
    return float(np.sum(within / s[:r] ** 2))


def cdnv(H, labels) -> float:
    """Class-distance normalised variance (Galanti et al. 2022; Wu & Papyan 2024): the mean over pairs
    c != c' of ((sigma_c^2 + sigma_c'^2) / 2) / ||mu_c - mu_c'||^2, sigma_c^2 = mean_{i in c} ||h_i - mu_c||^2."""
    means, _, _, residual, labels = class_statistics(H, labels)
    K = means.shape[1]
    var = np.array([np.mean(np.sum(residual[:, labels == c] ** 2, axis=0)) for c in range(K)])
    vals = []
    for c in range(K):
        for c2 in range(c + 1, K):
            vals.append(_div((var[c] + var[c2]) / 2, np.sum((means[:, c] - means[:, c2]) ** 2)))
    return float(np.mean(vals))


def _cosines(X):
    """Pairwise cosines of the columns of X (off-diagonal entries), nan if a column is zero."""
    norms = np.linalg.norm(X, axis=0)
    if np.any(norms == 0):
        return np.full(X.shape[1] * (X.shape[1] - 1) // 2, np.nan)
    G = (X.T @ X) / np.outer(norms, norms)
    return G[np.triu_indices(X.shape[1], 1)]


def equinorm(X) -> float:
    """NC2 equinorm: std / mean of the column norms of X (Papyan et al. 2020); 0 for equal norms."""
    norms = np.linalg.norm(X, axis=0)
    return _div(np.std(norms), np.mean(norms))


def equiangularity(X) -> float:
    """NC2 equiangularity: std of the pairwise cosines of the columns of X (Papyan et al. 2020)."""
    return float(np.std(_cosines(X)))


def max_angle(X) -> float:
    """NC2 maximal angle: mean over pairs of |cos(x_c, x_c') + 1/(K-1)| (Papyan et al. 2020); 0 for a simplex."""
    K = X.shape[1]
    return float(np.mean(np.abs(_cosines(X) + 1.0 / (K - 1))))


def gram_distance(G, G_pred) -> float:
    """|| G/||G||_F - G_pred/||G_pred||_F ||_F: distance between normalised Gram matrices (0 = same shape up
    to scale). Use it for non-ETF predictions (orthogonal frame, unequal lengths, SELI)."""
    G, G_pred = np.asarray(G, float), np.asarray(G_pred, float)
    if G.shape != G_pred.shape:
        from ufm.problem import ProblemError

        raise ProblemError("predicted_gram", f"must have shape {G.shape}, got {G_pred.shape}")
    a, b = np.linalg.norm(G), np.linalg.norm(G_pred)
    if a == 0 or b == 0:
        return float("nan")
    return float(np.linalg.norm(G / a - G_pred / b))


def etf_gram(K: int) -> np.ndarray:
    """The simplex-ETF Gram shape I - J/K."""
    return np.eye(K) - np.ones((K, K)) / K


def nc2_etf(X) -> float:
    """Zhu et al. 2021: || X^T X/||X^T X||_F - (I - J/K)/sqrt(K-1) ||_F for the K columns of X."""
    return gram_distance(X.T @ X, etf_gram(X.shape[1]))


def nc3(W, centred) -> float:
    """NC3 self-duality (Papyan et al. 2020): || W^T/||W||_F - Mc/||Mc||_F ||_F^2."""
    a, b = np.linalg.norm(W), np.linalg.norm(centred)
    if a == 0 or b == 0:
        return float("nan")
    return float(np.linalg.norm(W.T / a - centred / b) ** 2)


def unc3(W, centred) -> float:
    """Uniform duality UNC3 (Wu & Papyan 2024): std over classes of cos(w_c, mu_c - mu_G) -- same-class
    cosines only (nc-toolbox mixes in cross-class cosines, a bug)."""
    nw, nm = np.linalg.norm(W, axis=1), np.linalg.norm(centred, axis=0)
    if np.any(nw == 0) or np.any(nm == 0):
        return float("nan")
    cos = np.sum(W * centred.T, axis=1) / (nw * nm)
    return float(np.std(cos))


def nc4(H, labels, W, b=None, means=None) -> float:
    """NC4 (Papyan et al. 2020): share of labelled samples where the classifier's decision argmax_c(W h + b)_c
    (bias included) differs from the nearest class mean argmin_c ||h - mu_c||."""
    H = np.asarray(H, float)
    labels = np.asarray(labels)
    if means is None:
        means = class_statistics(H, labels)[0]
    H = H[:, labels >= 0]
    Z = W @ H + (0 if b is None else np.asarray(b)[:, None])
    d2 = np.sum(H ** 2, axis=0)[None, :] - 2 * means.T @ H + np.sum(means ** 2, axis=0)[:, None]
    return float(np.mean(np.argmax(Z, axis=0) != np.argmin(d2, axis=0)))


def gnc2(centred) -> float:
    """GNC2 hyperspherical uniformity (Liu et al. 2023; Wu & Papyan 2024): mean over pairs c != c' of
    log(1 / ||muhat_c - muhat_c'||) with muhat_c = (mu_c - mu_G)/||mu_c - mu_G||. Lower is more uniform;
    the simplex ETF attains the minimum -log(sqrt(2K/(K-1)))."""
    norms = np.linalg.norm(centred, axis=0)
    if np.any(norms == 0):
        return float("nan")
    U = centred / norms
    K = U.shape[1]
    dists = [np.linalg.norm(U[:, c] - U[:, c2]) for c in range(K) for c2 in range(c + 1, K)]
    if min(dists) == 0:
        return float("inf")
    return float(np.mean(np.log(1.0 / np.array(dists))))


def procrustes_distance(A, B) -> float:
    """Rotation-invariant distance min_Q ||A - B Q||_F / ||A||_F over orthogonal Q (rows are points);
    Q from the SVD of B^T A (Schoenemann 1966). 0 iff the configurations agree up to a rotation."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    U, _, Vt = np.linalg.svd(B.T @ A)
    return _div(np.linalg.norm(A - B @ (U @ Vt)), np.linalg.norm(A))


def nc_metrics(H, labels, W, b=None, *, mean: str = "weighted", predicted_gram=None) -> dict:
    """All metrics of one layer: features H (d x N) with labels, classifier W (K x d), bias b.

    Keys: nc1, cdnv, nc2_equinorm_means, nc2_equinorm_classifier, nc2_equiangular (centred means),
    nc2_equiangular_classifier, nc2_maxangle (centred means), nc2_etf (classifier Gram vs ETF),
    nc2_etf_means, nc3, unc3, nc4, gnc2, and nc2_gram (distance of W W^T to ``predicted_gram``) when given.
    """
    _check_mean(mean)
    W = np.asarray(W, float)
    means, _, centred, _, _ = class_statistics(H, labels, K=W.shape[0], mean=mean)
    out = {
        "nc1": nc1(H, labels, mean=mean),
        "cdnv": cdnv(H, labels),
        "nc2_equinorm_means": equinorm(centred),
        "nc2_equinorm_classifier": equinorm(W.T),
        "nc2_equiangular": equiangularity(centred),
        "nc2_equiangular_classifier": equiangularity(W.T),
        "nc2_maxangle": max_angle(centred),
        "nc2_etf": nc2_etf(W.T),
        "nc2_etf_means": nc2_etf(centred),
        "nc3": nc3(W, centred),
        "unc3": unc3(W, centred),
        "nc4": nc4(H, labels, W, b, means=means),
        "gnc2": gnc2(centred),
    }
    if predicted_gram is not None:
        out["nc2_gram"] = gram_distance(W @ W.T, predicted_gram)
    return out


def solution_metrics(solution, *, mean: str = "weighted", predicted_gram=None, per_layer: bool = True) -> dict:
    """Metrics of a :class:`ufm.solution.Solution`: those of the features against the product classifier
    W_M..W_1 (with the bias), and for depth M > 1 under ``"per_layer"`` one dict per layer m = 1..M: the
    features entering layer m, W_{m-1}..W_1 H, against the classifier W_M..W_m (deep neural collapse,
    Dang et al. 2023)."""
    labels = solution.problem.labels()
    K = solution.problem.K
    missing = [k for k in range(K) if not np.any(labels == k)]
    if missing:  # e.g. mixup without original samples: class statistics are undefined
        keys = ("nc1", "cdnv", "nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular",
                "nc2_equiangular_classifier", "nc2_maxangle", "nc2_etf", "nc2_etf_means", "nc3", "unc3", "nc4",
                "gnc2")
        out = {k: float("nan") for k in keys}
        out["nc2_etf"] = nc2_etf(solution.product.T)
        out["nc2_equinorm_classifier"] = equinorm(solution.product.T)
        out["note"] = f"classes {missing} have no single-class samples: class statistics undefined"
        return out
    out = nc_metrics(solution.features, labels, solution.product, solution.bias, mean=mean,
                     predicted_gram=predicted_gram)
    if per_layer and len(solution.weights) > 1:
        layers = []
        feats = solution.layer_features
        for m in range(len(solution.weights)):
            W = solution.weights[m]
            for Wn in solution.weights[m + 1:]:
                W = Wn @ W
            layers.append(nc_metrics(feats[m], labels, W, solution.bias, mean=mean))
        out["per_layer"] = layers
    return out
