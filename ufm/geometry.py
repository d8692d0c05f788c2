"""Reference geometries of neural collapse, and the registry of named fixed-classifier geometries.

A fixed classifier is one seam: :func:`register` a generator ``(K, d, seed) -> K x d matrix`` under a name,
and ``ufm.Problem(classifier="name")``, the command line's ``--classifier`` choices and the docs' list all
come from :data:`GEOMETRIES`. A generator raises :class:`ufm.errors.ProblemError` (field ``classifier``) when
it does not exist for (K, d).

Built-in:

- ``etf``: :func:`simplex_etf`, K unit vectors in R^d with pairwise cosine -1/(K-1) (Papyan et al. 2020);
  sqrt(K/(K-1)) P (I - J/K) with P a d x K partial orthogonal matrix (Yang et al. 2022), transposed to K x d;
  needs d >= K - 1;
- ``orthogonal``: :func:`orthogonal_frame`, K orthonormal vectors (the bias-free MSE optimum's geometry,
  Dang et al. 2023); needs d >= K;
- ``orthoplex``: :func:`orthoplex`, the vertices +-e_i of the cross-polytope (K <= 2d; cosines 0 and -1);
- ``ebv``: :func:`ufm.frames.ebv`, K unit vectors of small coherence, any K >= 2, d >= 2 (Shen et al. 2023,
  "Equiangular basis vectors", arXiv 2303.11637); K may be far above d;
- ``sparse-etf``: :func:`sparse_etf`, FedLoGe's static sparse ETF classifier SSE-C (Xiao et al. 2024,
  arXiv 2401.08977): 60% of the entries of a rotated simplex ETF zeroed, the rest optimised for angles.

Every generator is deterministic for ``seed=None`` (the registry caches ``generate(name, K, d)``, so a
Problem naming a geometry is reproducible); a seed gives another draw (a Haar rotation, another EBV start,
another sparsity mask). docs/theory.md sections 11 and 15.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from ufm import frames
from ufm.errors import ProblemError


def _partial_orthogonal(d: int, k: int, seed) -> np.ndarray:
    """A d x k matrix with orthonormal columns; Haar-random via sign-fixed QR of a Gaussian (seeded),
    or the first k standard basis vectors when seed is None."""
    if seed is None:
        return np.eye(d, k)
    g = np.random.default_rng(seed).standard_normal((d, k))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


def simplex_etf(K: int, d: int, seed=None, *, basis=None) -> np.ndarray:
    """Simplex ETF as a K x d matrix of unit rows: W W^T = K/(K-1) (I - J/K). Needs d >= K - 1.

    With ``seed=None`` the embedding is deterministic (rows live in the first K coordinates, or in a
    rotated K-1 dimensional copy when d = K - 1); with a seed it is Haar-random; ``basis``, a d x K matrix
    with orthonormal columns P, gives W = (sqrt(K/(K-1)) P (I - J/K))^T (Yang et al. 2022's construction).
    """
    if K < 2:
        raise ProblemError("classifier", f"a simplex ETF needs K >= 2, got {K}")
    if d < K - 1:
        raise ProblemError("classifier", f"'etf' needs d >= K - 1 = {K - 1}, got d = {d}")
    centred = np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)  # K x K, rank K-1, rows unit
    if basis is not None:
        P = np.asarray(basis, dtype=np.float64)
        if P.shape != (d, K) or not np.allclose(P.T @ P, np.eye(K), atol=1e-10):
            raise ProblemError("basis", f"must be a {d} x {K} matrix with orthonormal columns (P^T P = I)")
        return (P @ centred).T
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
        raise ProblemError("classifier", f"'orthogonal' needs d >= K = {K}, got d = {d}")
    return _partial_orthogonal(d, K, seed).T


def orthoplex(K: int, d: int, seed=None) -> np.ndarray:
    """Vertices of the cross-polytope as K x d unit rows e_1, -e_1, e_2, -e_2, ... (needs K <= 2d): cosine
    -1 within a pair, 0 across pairs; Haar-rotated with a seed."""
    if K > 2 * d:
        raise ProblemError("classifier", f"'orthoplex' needs K <= 2d = {2 * d}, got K = {K}")
    W = np.zeros((K, d))
    W[np.arange(K), np.arange(K) // 2] = np.where(np.arange(K) % 2 == 0, 1.0, -1.0)
    return W if seed is None else W @ _partial_orthogonal(d, d, seed).T


def sparse_etf(K: int, d: int, seed=None, *, sparsity: float = frames.SSE_C_SPARSITY) -> np.ndarray:
    """FedLoGe's SSE-C (:func:`ufm.frames.sparse_equiangular`) from the simplex ETF in a Haar-random basis
    (the authors draw P by QR of a random matrix); ``seed=None`` uses ``ufm.frames.DEFAULT_SEED``. Needs
    d >= K - 1."""
    if d < K - 1:
        raise ProblemError("classifier", f"'sparse-etf' needs d >= K - 1 = {K - 1}, got d = {d}")
    seed = frames.DEFAULT_SEED if seed is None else seed
    return frames.sparse_equiangular(simplex_etf(K, d, seed + 1), seed, sparsity=sparsity)


@dataclasses.dataclass(frozen=True)
class Geometry:
    """A named fixed-classifier geometry: ``generate(K, d, seed) -> K x d`` and one line of description."""

    name: str
    generate: Callable
    description: str = ""


GEOMETRIES: dict = {}


def register(geometry: Geometry, *, overwrite: bool = False) -> Geometry:
    if geometry.name in GEOMETRIES and not overwrite:
        raise ValueError(f"a geometry named {geometry.name!r} is already registered")
    GEOMETRIES[geometry.name] = geometry
    return geometry


def names() -> tuple:
    return tuple(GEOMETRIES)


@functools.lru_cache(maxsize=64)
def _cached(name: str, K: int, d: int) -> np.ndarray:
    M = np.asarray(GEOMETRIES[name].generate(K, d, None), dtype=np.float64)
    M.setflags(write=False)
    return M


def generate(name: str, K: int, d: int) -> np.ndarray:
    """The K x d matrix of the named geometry (deterministic embedding; read-only, cached)."""
    if name not in GEOMETRIES:
        raise ProblemError("classifier", f"must be None (learnable), one of {list(GEOMETRIES)} or a {K} x {d} "
                                         f"matrix, got {name!r}")
    return _cached(name, int(K), int(d))


register(Geometry("etf", simplex_etf, "simplex ETF: unit rows, pairwise cosine -1/(K-1) (d >= K - 1)"))
register(Geometry("orthogonal", orthogonal_frame, "orthogonal frame: orthonormal rows (d >= K)"))
register(Geometry("orthoplex", orthoplex, "cross-polytope: rows +-e_i, cosines 0 and -1 (K <= 2d)"))
register(Geometry("ebv", frames.ebv, "equiangular basis vectors: unit rows of small max |cos|, any K (d >= 2)"))
register(Geometry("sparse-etf", sparse_etf, "FedLoGe's SSE-C: a rotated simplex ETF, 60% of entries zero, "
                                            "angles re-optimised (d >= K - 1)"))
