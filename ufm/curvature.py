"""Second-order information: is a stationary point a minimum, a saddle, or degenerate?

The extreme eigenvalues of the Hessian of the objective are estimated by Lanczos with full
reorthogonalisation on Hessian-vector products (forward-over-reverse: ``jax.jvp`` of ``jax.grad``), one
compiled Krylov loop per objective and shapes. Ritz values are upper bounds of the smallest eigenvalue, so a
negative one certifies negative curvature (up to the rounding of the products, ~eps ||Hessian||); a
non-negative one means "no negative curvature found in k steps", which is what the verdicts say.

Exact symmetries give exact zero eigenvalues at every stationary point and would make every minimum look
degenerate: :func:`symmetry_basis` spans their tangents -- rotations Q of every hidden space
(W_{m+1} -> W_{m+1} Q^T, W_m -> Q W_m, H -> Q H for the feature space; with a ReLU only the free features'
space, unless they are activated too: a rotation does not commute with the activation) and, for a
shift-invariant loss (``ufm.losses.Loss.shift_invariant``) with a free bias, b -> b + t 1; for a normalised UFM
(``Problem.feature_radius`` / ``classifier_radius``) the ray of every feature column and classifier row (the
objective is ``f(embed(x))``, constant along them: ``ufm.objective.embed``) -- and :func:`second_order` works
on their orthogonal complement. On the spheres that complement, less the rotations, is the tangent space of
the manifold, where the Hessian of ``f(embed(x))`` is the Riemannian Hessian (docs/theory.md, "Normalised
UFMs"): the verdict is the manifold's second-order verdict.

Verdicts: ``minimum`` (lambda_min > rtol lambda_max), ``saddle`` (lambda_min < -rtol lambda_max) or
``degenerate`` (in between).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ufm.loop import executable

#: relative tolerance of the verdicts (lambda_min compared with rtol * max |eigenvalue|): 1000 eps, far above
#: the rounding of Hessian-vector products (~eps ||Hessian||) and far below the genuine curvature ratio of
#: ill-conditioned minima (weight decay 1e-12 against curvatures ~1: ratio ~1e-12 > 2.2e-13)
RTOL = 1000 * np.finfo(float).eps


class Curvature(NamedTuple):
    """Lanczos estimates: ``min_eigenvalue``, ``max_eigenvalue``, ``steps`` taken, and ``direction`` (flat
    unit Ritz vector of the smallest eigenvalue)."""

    min_eigenvalue: float
    max_eigenvalue: float
    steps: int
    direction: np.ndarray

    def verdict(self, rtol: float = RTOL) -> str:
        scale = max(abs(self.max_eigenvalue), abs(self.min_eigenvalue), 1e-300)
        if self.min_eigenvalue > rtol * scale:
            return "minimum"
        return "saddle" if self.min_eigenvalue < -rtol * scale else "degenerate"


@functools.lru_cache(maxsize=32)
def _krylov(f, unravel_key, steps: int):
    """Jitted Lanczos basis: ``(x, data, v0, B) -> (alpha, beta, Q)`` for the flat objective
    ``x -> f(unravel(x), data)``, projected onto the orthogonal complement of the columns of B."""
    unravel = unravel_key.unravel

    def build(x, data, v0, B):
        grad = jax.grad(lambda y: f(unravel(y), data))

        def project(v):
            return v - B @ (v @ B)

        def hvp(v):
            return jax.jvp(grad, (x,), (v,))[1]

        q0 = project(v0)
        q0 = q0 / jnp.linalg.norm(q0)
        Q = jnp.zeros((steps + 1, x.size), x.dtype).at[0].set(q0)

        def step(j, carry):
            Q, alpha, beta = carry
            q = Q[j]
            w = project(hvp(q))
            a = q @ w
            # full reorthogonalisation, twice is enough (Kahan); written (Q w) Q, not Q^T (Q w): XLA:CPU
            # transposed Q for the latter at every step (3x slower at 25,600 parameters and 80 steps)
            w = w - (Q @ w) @ Q
            w = w - (Q @ w) @ Q
            w = project(w)
            b = jnp.linalg.norm(w)
            ok = b > 1e-12 * jnp.maximum(jnp.abs(a), jnp.max(jnp.abs(alpha)))
            Q = Q.at[j + 1].set(jnp.where(ok, w / jnp.where(ok, b, 1.0), 0.0))
            return Q, alpha.at[j].set(a), beta.at[j].set(jnp.where(ok, b, 0.0))

        Q, alpha, beta = jax.lax.fori_loop(0, steps, step, (Q, jnp.zeros(steps, x.dtype), jnp.zeros(steps, x.dtype)))
        return alpha, beta, Q

    return jax.jit(build)


class Flattening:
    """A parameter pytree's ``ravel_pytree`` unravel function, hashable by the pytree structure and shapes (a
    compilation-cache key for functions of the flat parameter vector)."""

    def __init__(self, params):
        _, self.unravel = jax.flatten_util.ravel_pytree(params)
        leaves, tree = jax.tree_util.tree_flatten(params)
        self.key = (tree, tuple(np.shape(v) for v in leaves))

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Flattening) and self.key == other.key


def lanczos(f, params, data, *, steps: int = 80, seed: int = 0, basis: Optional[np.ndarray] = None) -> Curvature:
    """Extreme Hessian eigenvalues of ``f(params, data)`` at ``params`` (module docstring), on the orthogonal
    complement of the orthonormal columns of ``basis`` (flat coordinates) when given."""
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    flat, _ = jax.flatten_util.ravel_pytree(params)
    P = int(flat.size)
    B = np.zeros((P, 0)) if basis is None else np.asarray(basis, float)
    k = int(max(1, min(steps, P - B.shape[1])))
    unravel = Flattening(params)
    build = _krylov(f, unravel, k)
    v0 = np.random.default_rng(seed).standard_normal(P)
    args = (flat, data, jnp.asarray(v0), jnp.asarray(B))
    alpha, beta, Q = executable(build, ("lanczos", f, unravel, k), *args)(*args)
    alpha, beta, Q = np.asarray(alpha), np.asarray(beta), np.asarray(Q)
    m = k  # Krylov dimension: up to the first breakdown
    zero = np.flatnonzero(beta == 0)
    if zero.size:
        m = int(zero[0]) + 1
    T = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    ev, V = np.linalg.eigh(T)
    direction = Q[:m].T @ V[:, 0]
    norm = np.linalg.norm(direction)
    return Curvature(float(ev[0]), float(ev[-1]), m, direction / norm if norm > 0 else direction)


#: step lengths (times a base length) tried along a direction of negative curvature, in both signs
ESCAPE_STEPS = (1e-3, 1e-2, 1e-1, 0.3, 1.0)


def descend_along(value, params, direction, base: float, below: float):
    """The point of lowest finite ``value`` among ``params +- t base direction`` (t in :data:`ESCAPE_STEPS`;
    ``direction`` flat, as :func:`lanczos` returns it), if it is below ``below``; else None. The first step out
    of a saddle (``ufm.solver``, ``ufm.contrastive``)."""
    flat, unravel = jax.flatten_util.ravel_pytree(jax.tree_util.tree_map(jnp.asarray, params))
    v = jnp.asarray(direction)
    best, best_f = None, below
    for t in ESCAPE_STEPS:
        for sign in (1.0, -1.0):
            x = unravel(flat + sign * t * base * v)
            fx = value(x)
            if np.isfinite(fx) and fx < best_f:
                best, best_f = x, fx
    return best


def skew_generators(d: int):
    """The d(d-1)/2 generators A = E_ij - E_ji (i < j) of the rotations of R^d: the tangent of X -> Q X at Q = I
    is A X."""
    for i in range(d):
        for j in range(i + 1, d):
            A = np.zeros((d, d))
            A[i, j], A[j, i] = 1.0, -1.0
            yield A


def column_rays(X: np.ndarray):
    """The radial tangents of the columns of X (column c of X, zero elsewhere): the directions along which a
    column constrained to a sphere (or a ray of the non-negative orthant) has no curvature of its own."""
    for c in range(X.shape[1]):
        T = np.zeros_like(X)
        T[:, c] = X[:, c]
        yield T


def orthonormal_span(vecs: list, size: int) -> np.ndarray:
    """An orthonormal basis (columns) of the span of the flat vectors ``vecs`` (singular values below 1e-10 of
    the largest dropped: zero tangents, e.g. at W = H = 0, and repeated ones)."""
    if not vecs:
        return np.zeros((size, 0))
    U, s, _ = np.linalg.svd(np.stack(vecs, axis=1), full_matrices=False)
    keep = s > 1e-10 * max(s[0], 1e-300) if s.size and s[0] > 1e-12 else np.zeros(s.shape, bool)
    return U[:, keep]


def symmetry_basis(problem, params: dict) -> np.ndarray:
    """Orthonormal basis (columns, flat coordinates of ``params``) of the tangents of the exact symmetries at
    ``params`` (module docstring). Zero tangents (e.g. at W = H = 0) are dropped."""
    flat, _ = jax.flatten_util.ravel_pytree(params)
    Ws = [np.asarray(W) for W in params["W"]]
    H = np.asarray(params["H"])
    learnable = len(Ws)
    d = H.shape[0]
    vecs = []
    spaces = problem.depth if not problem.classifier_fixed else problem.depth - 1
    if not problem.linear:  # rotations commute with no activation: only the free features' space (before W_1)
        spaces = min(spaces, 0 if problem.activate_features else 1)
    zeros = jax.tree_util.tree_map(np.zeros_like, params)

    def flat_tangent(**parts):
        return np.asarray(jax.flatten_util.ravel_pytree({**zeros, **parts})[0])

    for m in range(spaces):  # hidden space m: input of layer m + 1 (0: the features)
        for A in skew_generators(d):
            Wt = [np.zeros_like(W) for W in Ws]
            Ht = A @ H if m == 0 else np.zeros_like(H)
            if m > 0:
                Wt[m - 1] = A @ Ws[m - 1]
            if m < learnable:
                Wt[m] = -Ws[m] @ A
            vecs.append(flat_tangent(W=tuple(Wt), H=Ht))
    if getattr(problem, "feature_radius", None) is not None:  # radial directions of the feature columns
        vecs += [flat_tangent(H=Ht) for Ht in column_rays(H)]
    if getattr(problem, "classifier_radius", None) is not None:  # radial directions of the classifier rows
        for ray in column_rays(Ws[-1].T):
            Wt = [np.zeros_like(W) for W in Ws]
            Wt[-1] = ray.T
            vecs.append(flat_tangent(W=tuple(Wt)))
    if problem.bias_shift_free:
        vecs.append(flat_tangent(b=np.ones_like(params["b"])))
    return orthonormal_span(vecs, flat.size)


def second_order(problem, f, params, data, *, steps: int = 120, seed: int = 0, rtol: float = RTOL) -> dict:
    """The verdict of the module docstring for ``f(params, data)`` at ``params``, modulo the symmetries of
    ``problem``: ``{"verdict", "min_eigenvalue", "max_eigenvalue", "lanczos_steps", "symmetry_dimensions",
    "parameters"}``."""
    B = symmetry_basis(problem, params)
    c = lanczos(f, params, data, steps=steps, seed=seed, basis=B)
    return {"verdict": c.verdict(rtol), "min_eigenvalue": c.min_eigenvalue, "max_eigenvalue": c.max_eigenvalue,
            "lanczos_steps": c.steps, "symmetry_dimensions": int(B.shape[1]), "parameters": int(B.shape[0])}
