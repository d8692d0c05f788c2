"""Reference geometries of neural collapse (classifier / class-mean configurations).

- :func:`simplex_etf`: K unit vectors in R^d with pairwise cosine -1/(K-1) (Papyan et al. 2020); built as
  sqrt(K/(K-1)) P (I - J/K) with P a d x K partial orthogonal matrix (Yang et al. 2022), transposed to K x d.
- :func:`orthogonal_frame`: K orthonormal vectors in R^d (Dang et al. 2023, bias-free MSE).
"""

from __future__ import annotations

import numpy as np


def _partial_orthogonal(d: int, k: int, seed) -> np.ndarray:
    """A d x k matrix with orthonormal columns; Haar-random via sign-fixed QR of a Gaussian (seeded),
    or the first k standard basis vectors when seed is None."""
    if seed is None:
        return np.eye(d, k)
    g = np.random.default_rng(seed).standard_normal((d, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


def simplex_etf(K: int, d: int, seed=None) -> np.ndarray:
    """Simplex ETF as a K x d matrix of unit rows: W W^T = K/(K-1) (I - J/K). Needs d >= K - 1.

    With ``seed=None`` the embedding is deterministic (rows live in the first K coordinates, or in a
    rotated K-1 dimensional copy when d = K - 1); with a seed it is Haar-random.
    """
    if K < 2:
        raise ValueError(f"simplex_etf needs K >= 2, got {K}")
    if d < K - 1:
        raise ValueError(f"simplex_etf needs d >= K - 1 = {K - 1}, got d = {d}")
    centred = np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)  # K x K, rank K-1, rows unit
    if d >= K:
        P = _partial_orthogonal(d, K, seed)  # d x K
        return (P @ centred).T
    # d == K - 1: express the rank-(K-1) configuration in an orthonormal basis of its row space.
    u, s, vt = np.linalg.svd(centred)
    coords = u[:, : K - 1] * s[: K - 1]  # K x (K-1), same Gram matrix
    if seed is not None:
        coords = coords @ _partial_orthogonal(K - 1, K - 1, seed)
    return coords


def orthogonal_frame(K: int, d: int, seed=None) -> np.ndarray:
    """K x d matrix with orthonormal rows (needs d >= K)."""
    if d < K:
        raise ValueError(f"orthogonal_frame needs d >= K = {K}, got d = {d}")
    return _partial_orthogonal(d, K, seed).T
