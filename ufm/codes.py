"""Spherical codes: the metrics of generalized neural collapse (more classes than dimensions, K > d + 1).

With K > d + 1 no simplex ETF fits in R^d, and the classifier rows (and class means) of a normalised UFM
arrange as a *spherical code* (docs/theory.md, "Generalized collapse"). This module measures K points in
R^d (the rows of ``X``, K x d; only their directions count), in float64 numpy:

- :func:`min_angle`: the minimal pairwise angle theta_min = min_{i != j} arccos <x_i, x_j> / (|x_i| |x_j|),
  against :func:`tammes_bound`, an upper bound on it over all K-point codes of S^{d-1} (the Tammes problem);
- :func:`coherence`: max_{i != j} |cos(x_i, x_j)|, against :func:`welch_bound`
  sqrt((K - d) / (d (K - 1))), the smallest coherence K unit vectors of R^d can have (Welch 1974);
- :func:`one_vs_rest_distance`: min_k dist(x_k, conv{x_j : j != k}) of the unit rows: the quantity a
  *softmax code* maximises (Jiang et al. 2024, "Generalized neural collapse for a large number of classes",
  ICML, arXiv:2310.05351, Definition of the softmax code);
- :func:`polygon_distance` (d = 2): how far the normalised Gram matrix is from that of the regular K-gon
  (the classes in their angular order); :func:`orthoplex_distance` (K = 2d): from that of the orthoplex
  {+-e_1, ..., +-e_d} (Alcala et al. 2026, "Neural collapse in the orthoplex regime", arXiv:2603.20587).

Distances are max-abs entry differences of normalised Gram matrices, so they are invariant under rotations
of R^d and relabelling of the points; 0 means the configuration is exactly the named one.
"""

from __future__ import annotations

import math

import numpy as np

from ufm import frames
from ufm.frames import welch_bound


def unit_rows(X) -> np.ndarray:
    """The rows of ``X`` (K x d) scaled to unit norm (a zero row raises ValueError: it has no direction)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"needs a K x d matrix of K >= 2 points, got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("a zero row has no direction")
    return X / norms


def cosines(X) -> np.ndarray:
    """The normalised Gram matrix cos(x_i, x_j) (K x K), clipped to [-1, 1]."""
    U = unit_rows(X)
    return np.clip(U @ U.T, -1.0, 1.0)


def _off_diagonal(G) -> np.ndarray:
    return G[~np.eye(G.shape[0], dtype=bool)]


def min_angle(X) -> float:
    """theta_min = min_{i != j} arccos cos(x_i, x_j) (radians)."""
    return float(np.arccos(np.max(_off_diagonal(cosines(X)))))


def coherence(X) -> float:
    """max_{i != j} |cos(x_i, x_j)| (``ufm.frames.coherence``, after the checks of :func:`unit_rows`)."""
    return frames.coherence(unit_rows(X))


def tammes_bound(K: int, d: int) -> float:
    """An upper bound on the minimal angle of K points of S^{d-1} (exact where stated):

    - d = 1: pi for K = 2, else 0 (exact);
    - d = 2: 2 pi / K (exact: the regular K-gon);
    - K <= d + 1: arccos(-1/(K - 1)) (Rankin 1955, the simplex bound; exact: the regular simplex);
    - d + 2 <= K <= 2d: pi / 2 (Rankin 1955: more than d + 1 points have a pair at angle <= pi / 2; exact:
      K vertices of the orthoplex);
    - K > 2d: pi / 2 (Rankin's bound, strict but not tight there).
    """
    if d == 1:
        return math.pi if K == 2 else 0.0
    if d == 2:
        return 2 * math.pi / K
    if K <= d + 1:
        return math.acos(-1.0 / (K - 1))
    return math.pi / 2


def _distance_to_hull(x, Y) -> float:
    """dist(x, conv(rows of Y)) = min_{l in the simplex} ||x - Y^T l||, by scipy's SLSQP (a small convex
    quadratic program: K is small wherever this is used)."""
    from scipy.optimize import minimize

    m = Y.shape[0]
    fun = lambda lam: float(np.sum((x - Y.T @ lam) ** 2))  # noqa: E731
    jac = lambda lam: -2.0 * Y @ (x - Y.T @ lam)  # noqa: E731
    res = minimize(fun, np.full(m, 1.0 / m), jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                   constraints=[{"type": "eq", "fun": lambda lam: np.sum(lam) - 1.0,
                                 "jac": lambda lam: np.ones_like(lam)}],
                   options={"ftol": 1e-15, "maxiter": 500})
    return float(math.sqrt(max(res.fun, 0.0)))


def one_vs_rest_distance(X) -> float:
    """min_k dist(u_k, conv{u_j : j != k}) of the unit rows u_k (Jiang et al. 2024's one-vs-rest distance;
    a softmax code maximises it). 0 when some direction lies in the hull of the others."""
    U = unit_rows(X)
    K = U.shape[0]
    return min(_distance_to_hull(U[k], np.delete(U, k, axis=0)) for k in range(K))


def polygon_gram(K: int) -> np.ndarray:
    """cos(2 pi (i - j) / K): the normalised Gram matrix of the regular K-gon, vertices in angular order."""
    i = np.arange(K)
    return np.cos(2 * np.pi * (i[:, None] - i[None, :]) / K)


def polygon_distance(X) -> float:
    """For d = 2: max |G - G_polygon| with the points taken in their angular order (0: a regular K-gon)."""
    U = unit_rows(X)
    if U.shape[1] != 2:
        raise ValueError(f"the regular polygon is a configuration of R^2, got d = {U.shape[1]}")
    order = np.argsort(np.arctan2(U[:, 1], U[:, 0]))
    G = np.clip(U[order] @ U[order].T, -1, 1)
    return float(np.max(np.abs(G - polygon_gram(U.shape[0]))))


def orthoplex_distance(X) -> float:
    """For K = 2d: max |G - G_orthoplex| where each point's antipode is its most negative cosine (the pairing
    made symmetric) and all other pairs should be orthogonal (0: the orthoplex {+-e_i} up to rotation).
    A pairing that is not a perfect matching gives the distance 1 or more."""
    G = cosines(X)
    K, d = G.shape[0], np.asarray(X).shape[1]
    if K != 2 * d:
        raise ValueError(f"the orthoplex of R^{d} has 2d = {2 * d} vertices, got K = {K}")
    partner = np.argmin(G + 3 * np.eye(K), axis=1)
    target = np.eye(K)
    for i, j in enumerate(partner):
        target[i, j] = -1.0
    if not np.all(partner[partner] == np.arange(K)):
        return float(max(1.0, np.max(np.abs(G - target))))
    return float(np.max(np.abs(G - target)))


def summary(X) -> dict:
    """Every code metric of the rows of ``X`` that applies to its (K, d): ``min_angle`` and ``tammes_bound``
    (radians), ``coherence`` and ``welch_bound``, ``one_vs_rest_distance``, and ``polygon_distance`` (d = 2)
    or ``orthoplex_distance`` (K = 2d)."""
    X = np.asarray(X, dtype=np.float64)
    K, d = X.shape
    out = {"min_angle": min_angle(X), "tammes_bound": tammes_bound(K, d), "coherence": coherence(X),
           "welch_bound": welch_bound(K, d), "one_vs_rest_distance": one_vs_rest_distance(X)}
    if d == 2:
        out["polygon_distance"] = polygon_distance(X)
    if K == 2 * d:
        out["orthoplex_distance"] = orthoplex_distance(X)
    return out
