"""The supervised-contrastive UFM: free features on a sphere, no classifier, the SupCon loss of the whole batch.

Graf, Hofer, Niethammer & Kwitt 2021, "Dissecting supervised contrastive learning" (ICML 2021, arXiv
2102.08817) compare the cross-entropy UFM with the supervised contrastive loss of Khosla et al. 2020
("Supervised contrastive learning", arXiv 2004.11362) on free features. The SupCon loss couples samples and
has no classifier, so it is not a per-sample loss of logits (the seam of ``ufm.losses``): it is a function of
the features' Gram matrix, and lives here as its own small problem (docs/theory.md, "Supervised contrastive
UFM").

**Problem** (:class:`SupCon`). K classes with n_k >= 2 samples each (every sample needs a positive), N =
sum_k n_k features h_i in R^d on the sphere ||h_i|| = r (``feature_radius``), temperature tau > 0. With
similarities s_ij = <h_i, h_j> / tau and positives P(i) = {p != i : y_p = y_i},

    L(H) = (1/N) sum_i l_i,   l_i = log sum_{a != i} exp(s_ia) - (1/|P(i)|) sum_{p in P(i)} s_ip.

This is the full-batch loss (one batch of all N samples) divided by N; Graf et al. write the sum over the batch
(N L), Khosla et al. the same with unit features (r = 1): only rho^2 = r^2 / tau enters.

**Theorem (Graf et al. 2021, full batch; the derivation sketched below is ours, their theorem number not
verified).** For balanced classes (n_k = n) the loss is bounded below by

    L(H) >= log(n - 1 + n (K - 1) exp(-rho^2 K / (K - 1))),

with equality iff every class collapses to one point (h_i = zeta_{y_i}) and the K points form a regular simplex
inscribed in the sphere (sum_k zeta_k = 0, <zeta_k, zeta_l> = -r^2 / (K - 1)), which exists iff d >= K - 1.
Proof sketch (docs/theory.md): Jensen on the positive and on the negative terms of each l_i, convexity of
x -> log(a + b e^x) over the samples, then ||sum_i h_i||^2 >= 0 and ||sum_{i in k} h_i|| <= n r. So for
d >= K - 1 the bound is the minimum (:func:`bound`; a certificate, not a prediction from the solver), for
d < K - 1 it is a valid lower bound that is not attained, and the gap to the best point found is reported.
For imbalanced counts the bound does not apply; collapse is still observed, but the class means are not a
simplex (the inter-class cosines depend on the counts; Kini, Vakilian, Behnia, Gill & Thrampoulidis 2023,
"Symmetric neural-collapse representations with supervised contrastive loss: the impact of ReLU and
batching", arXiv 2306.07960: "this symmetry breaks under class imbalances").

**Non-negative features** (``nonnegative=True``: a ReLU at the last layer, the UFM+ of Kini et al. 2023). The
features are also entry-wise >= 0. Kini et al. (full batch; read at abstract level, and the condition d >= K is
ours: an orthogonal frame needs it) prove that then, for ANY class counts, the global minimisers form an
orthogonal frame: h_i = r e_{pi(y_i)} for distinct coordinate axes,
with value (1/N) sum_k n_k log(n_k - 1 + (N - n_k) exp(-rho^2)) (:func:`orthogonal_frame_value`). Solved by
the squared parametrisation h = r (v * v) / ||v * v|| (smooth, onto the non-negative part of the sphere; its
stationary points are the KKT points, and a multiplier of the wrong sign shows as negative curvature in v).

**Solving.** Float64 L-BFGS of ``ufm.loop`` on L(embed(H)) (each column rescaled to the sphere, as the
normalised UFM of ``ufm.objective``), from random starts; the best run is moved onto the sphere, its Riemannian
stationarity evaluated there, and its Hessian checked by Lanczos (``ufm.curvature``) modulo the exact
symmetries (rotations H -> Q H and the radial direction of every column): a point with negative curvature is a
``saddle``, never an optimum.

Evaluation: with u_ia = s_ia - mean_{p in P(i)} s_ip (mean 0 over the positives),
l_i = log|P(i)| + log1p([sum_p expm1(u_ip) + sum_{q notin class} exp(u_iq)] / |P(i)|), the bracket >= 0 by
Jensen, so the small excess over log|P(i)| is not lost next to log|P(i)|; a shifted logsumexp where some
u_ia > 1 (no overflow). The similarities themselves carry a rounding error of ~eps rho^2, so the loss has an
absolute error of that order: at n = 2 and large rho^2, where the minimum is below ~1e-14, relative gaps to the
bound are rounding noise and the point is reported as not certified (never the other way round).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ufm import metrics
from ufm.curvature import (RTOL as CURVATURE_RTOL, column_rays, descend_along, lanczos, orthonormal_span,
                           skew_generators)
from ufm.errors import OptionsError, ProblemError, ResourceError
from ufm.loop import F_FLOOR, LoopOptions, Status, check_positive_int, minimize_starts, stationarity
from ufm.objective import to_sphere
from ufm.problem import check_int

#: the most samples a SupCon problem takes (its N x N similarity matrix: 32 MB in float64 at N = 2048)
MAX_SAMPLES = 2048

#: a best point whose value is within this relative distance of the bound is certified optimal (the loop's
#: relative stationarity 1e-12 gives values within ~1e-14 relative of a minimum's; 1e-9 leaves room for the
#: Hessian's conditioning, and is far below the gaps of non-optimal configurations, >= 1e-4 on the tested cases)
CERT_RTOL = 1e-9


def _positive(field: str, value) -> float:
    value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
            or float(value) <= 0:
        raise ProblemError(field, f"must be a finite number > 0, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class SupCon:
    """A supervised-contrastive UFM (module docstring).

    Args:
      counts: samples per class (n_1, ..., n_K); K >= 2, every n_k >= 2 (a sample needs a positive).
      d: feature dimension >= 2 (at d = 1 the sphere is two points).
      temperature: tau > 0 (the similarities are <h_i, h_j> / tau).
      feature_radius: r > 0, every feature on the sphere ||h_i|| = r (Graf et al.'s rho_Z is r / sqrt(tau)).
      nonnegative: features also entry-wise >= 0 (a ReLU after the last layer; Kini et al. 2023's UFM+).
    """

    counts: tuple
    d: int
    temperature: float = 0.1
    feature_radius: float = 1.0
    nonnegative: bool = False

    def __post_init__(self):
        counts = self.counts
        if isinstance(counts, (str, bytes)) or not hasattr(counts, "__len__"):
            raise ProblemError("counts", f"must be a list of per-class sample counts, got {counts!r}")
        counts = tuple(check_int("counts", c, 2) for c in counts)
        if len(counts) < 2:
            raise ProblemError("counts", f"needs at least K = 2 classes, got {len(counts)}")
        object.__setattr__(self, "counts", counts)
        # d = 1: the "sphere" is the two points +-r, a combinatorial problem that gradient steps cannot move on
        object.__setattr__(self, "d", check_int("d", self.d, 2))
        object.__setattr__(self, "temperature", _positive("temperature", self.temperature))
        object.__setattr__(self, "feature_radius", _positive("feature_radius", self.feature_radius))
        if not isinstance(self.nonnegative, (bool, np.bool_)):
            raise ProblemError("nonnegative", f"must be true or false, got {self.nonnegative!r}")
        object.__setattr__(self, "nonnegative", bool(self.nonnegative))
        if self.N > MAX_SAMPLES:
            raise ResourceError("counts", f"N = {self.N} samples exceeds the SupCon limit of {MAX_SAMPLES} (the "
                                          "loss forms the N x N similarity matrix)")

    @classmethod
    def balanced(cls, K: int, n: int, d: int, **kwargs) -> "SupCon":
        """K classes of n samples each."""
        K = check_int("K", K, 2)
        return cls(counts=(n,) * K, d=d, **kwargs)

    @property
    def K(self) -> int:
        return len(self.counts)

    @property
    def N(self) -> int:
        return int(sum(self.counts))

    @property
    def is_balanced(self) -> bool:
        return len(set(self.counts)) == 1

    @property
    def rho2(self) -> float:
        """rho^2 = r^2 / tau: the largest similarity, the only scale of the problem."""
        return self.feature_radius ** 2 / self.temperature

    def labels(self) -> np.ndarray:
        return np.repeat(np.arange(self.K), self.counts)

    def to_dict(self) -> dict:
        return {"model": "supcon", "counts": list(self.counts), "d": self.d, "temperature": self.temperature,
                "feature_radius": self.feature_radius, "nonnegative": self.nonnegative}

    def describe(self) -> str:
        kind = "balanced" if self.is_balanced else "imbalanced"
        return (f"SupCon UFM: K={self.K} classes ({kind}, counts {list(self.counts)}), d={self.d}, temperature "
                f"{self.temperature:g}, features on the sphere of radius {self.feature_radius:g}"
                + (", non-negative" if self.nonnegative else ""))


# ------------------------------------------------------------------------------------------ the loss
def per_sample(H, labels, sizes, temperature):
    """l_i of the module docstring for features H (d x N, already on the sphere), integer labels (N,) and class
    sizes (K,): the excess over log|P(i)| kept to relative precision, an absolute error ~eps rho^2 from the
    similarities (module docstring). Every exponent is masked before ``exp`` (never after: an overflowing entry
    that a mask discards afterwards still sends NaN into the gradient)."""
    S = (H.T @ H) / temperature
    N = S.shape[0]
    same = labels[:, None] == labels[None, :]
    pos = same & ~jnp.eye(N, dtype=bool)
    npos = sizes[labels] - 1.0
    U = S - (jnp.sum(jnp.where(pos, S, 0.0), axis=1) / npos)[:, None]
    others = ~jnp.eye(N, dtype=bool)
    # the shift cancels mathematically; stop_gradient keeps autodiff of max from splitting among ties
    m = jax.lax.stop_gradient(jnp.max(jnp.where(others, U, -jnp.inf), axis=1))
    Uc = jnp.minimum(U, 1.0)  # the branch below is taken only where every u_ia <= 1
    bracket = jnp.sum(jnp.where(pos, jnp.expm1(Uc), 0.0), axis=1) + jnp.sum(jnp.where(same, 0.0, jnp.exp(Uc)),
                                                                            axis=1)
    near = jnp.log(npos) + jnp.log1p(bracket / npos)
    far = m + jnp.log(jnp.sum(jnp.exp(jnp.where(others, U - m[:, None], -jnp.inf)), axis=1))
    return jnp.where(m <= 1.0, near, far)


def embed(H, radius, nonnegative: bool):
    """The features that raw parameters stand for: each column moved onto the sphere, r h / ||h||, or, with
    ``nonnegative``, r (v * v) / ||v * v|| (module docstring)."""
    return to_sphere(H * H if nonnegative else H, radius)


@functools.lru_cache(maxsize=None)
def make_objective(nonnegative: bool):
    """``f(params, data)``: the mean SupCon loss of ``embed(params["H"])`` (module docstring); one function
    object per kind, so one compilation per kind and shapes."""

    def f(params, data):
        H = embed(params["H"], data["radius"], nonnegative)
        return jnp.mean(per_sample(H, data["labels"], data["sizes"], data["temperature"]))

    return f


def objective_of(problem: SupCon):
    return make_objective(problem.nonnegative)


def raw(problem: SupCon, H) -> np.ndarray:
    """Raw parameters standing for features H on the (non-negative part of the) sphere: H itself, or sqrt(H)."""
    H = np.asarray(H, np.float64)
    return np.sqrt(np.maximum(H, 0.0)) if problem.nonnegative else H


def problem_data(problem: SupCon) -> dict:
    return {"labels": jnp.asarray(problem.labels(), jnp.int32),
            "sizes": jnp.asarray(problem.counts, jnp.float64),
            "temperature": jnp.asarray(problem.temperature, jnp.float64),
            "radius": jnp.asarray(problem.feature_radius, jnp.float64)}


def evaluate(problem: SupCon, H) -> float:
    """L at explicit features H (d x N; each column is moved onto the sphere first)."""
    H = np.asarray(H, np.float64)
    if H.shape != (problem.d, problem.N):
        raise ProblemError("features", f"must have shape (d, N) = {(problem.d, problem.N)}, got {H.shape}")
    if problem.nonnegative and np.any(H < 0):
        raise ProblemError("features", "must be entry-wise >= 0 for a problem with nonnegative=True")
    return float(_value(problem.nonnegative)(_tree(raw(problem, H)), problem_data(problem)))


@functools.lru_cache(maxsize=None)
def _value(nonnegative: bool):
    return jax.jit(make_objective(nonnegative))


@functools.lru_cache(maxsize=None)
def _value_grad(nonnegative: bool):
    return jax.jit(jax.value_and_grad(make_objective(nonnegative)))


def _tree(H) -> dict:
    return {"H": jnp.asarray(H, jnp.float64)}


# ------------------------------------------------------------------------------------------ theory
def bound(problem: SupCon) -> Optional[float]:
    """Graf et al.'s lower bound log(n - 1 + n (K - 1) exp(-rho^2 K / (K - 1))) for balanced counts (the
    minimum when d >= K - 1; a lower bound with non-negative features too, where the minimum is larger:
    :func:`orthogonal_frame_value`); None for imbalanced counts, where it does not apply."""
    if not problem.is_balanced:
        return None
    n, K = problem.counts[0], problem.K
    c = problem.rho2 * K / (K - 1)
    return float(math.log(n - 1) + math.log1p(n * (K - 1) * math.exp(-c) / (n - 1)))


def orthogonal_frame_value(problem: SupCon) -> float:
    """L at the orthogonal frame h_i = r e_{y_i}: (1/N) sum_k n_k log(n_k - 1 + (N - n_k) exp(-rho^2)), the
    minimum with non-negative features and d >= K for any counts (Kini et al. 2023, full batch)."""
    N = problem.N
    return float(sum(n * (math.log(n - 1) + math.log1p((N - n) * math.exp(-problem.rho2) / (n - 1)))
                     for n in problem.counts) / N)


def orthogonal_frame_features(problem: SupCon) -> np.ndarray:
    """The orthogonal frame h_i = r e_{y_i} (needs d >= K)."""
    if problem.d < problem.K:
        raise ProblemError("d", f"an orthogonal frame of K = {problem.K} classes needs d >= K, got d = {problem.d}")
    return problem.feature_radius * np.eye(problem.d)[:, problem.labels()]


def simplex_features(problem: SupCon, seed: int = 0) -> np.ndarray:
    """The collapsed regular simplex inscribed in the sphere (needs d >= K - 1): h_i = zeta_{y_i}."""
    from ufm import geometry

    Z = geometry.simplex_etf(problem.K, problem.d, seed)  # K x d, rows unit, sum 0
    Z = problem.feature_radius * Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return Z[problem.labels()].T


# ------------------------------------------------------------------------------------------ solving
class SupConSolution:
    """The result of :func:`solve`: ``status`` (``ufm.loop.Status``), ``objective``, ``features`` (d x N on
    the sphere), ``stationarity`` (relative, Riemannian), ``second_order`` (Lanczos verdict modulo the
    symmetries), ``runs`` [(start, objective, status)], the ``bound`` and its relative ``gap`` (balanced only),
    ``certified`` (balanced, d >= K - 1, status converged or stalled, gap <= :data:`CERT_RTOL`), and :meth:`metrics`."""

    def __init__(self, problem, features, objective, stationarity, iterations, status, second_order, runs):
        self.problem, self.features, self.objective = problem, features, objective
        self.stationarity, self.iterations, self.status = stationarity, iterations, status
        self.second_order, self.runs = second_order, runs
        self.bound = bound(problem)
        self.gap = None if self.bound is None else (objective - self.bound) / max(abs(self.bound), F_FLOOR)
        # a point whose value reaches a proven lower bound is a global minimum whatever its curvature (flat
        # problems, r^2 / tau ~ 1e-15, have a degenerate Hessian); a saddle cannot reach it
        self.certified = bool(self.bound is not None and problem.d >= problem.K - 1 and status.acceptable
                              and self.gap <= CERT_RTOL)

    @property
    def class_means(self) -> np.ndarray:
        """d x K class means of the features."""
        labels = self.problem.labels()
        return np.stack([self.features[:, labels == k].mean(axis=1) for k in range(self.problem.K)], axis=1)

    def metrics(self) -> dict:
        """NC1 (within-class variability, ``ufm.metrics.nc1``), the class means' distance to a simplex ETF
        (``ufm.metrics.nc2_etf``; on the sphere, so uncentred), their norms relative to r, the norm of the global
        mean relative to r, the cosines between class means (min / max; nan if a class mean is 0), their
        smallest angle in degrees, and
        the distance of their Gram to an orthogonal frame's (``ufm.metrics.gram_distance`` to I)."""
        p, M = self.problem, self.class_means
        norms = np.linalg.norm(M, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):  # a class whose features cancel has no direction
            U = M / norms
            C = np.clip(U.T @ U, -1.0, 1.0)
        off = C[~np.eye(p.K, dtype=bool)]
        return {"nc1": metrics.nc1(self.features, p.labels()), "etf_distance": metrics.nc2_etf(M),
                "mean_norm_min": float(np.min(np.linalg.norm(M, axis=0)) / p.feature_radius),
                "global_mean_norm": float(np.linalg.norm(self.features.mean(axis=1)) / p.feature_radius),
                "cosine_min": float(off.min()), "cosine_max": float(off.max()),
                "min_angle_degrees": float(np.degrees(np.arccos(off.max()))),
                "orthogonal_frame_distance": metrics.gram_distance(M.T @ M, np.eye(p.K))}

    def summary(self) -> dict:
        out = {"problem": self.problem.to_dict(), "status": str(self.status), "objective": self.objective,
               "stationarity": self.stationarity, "iterations": self.iterations,
               "second_order": self.second_order, "bound": self.bound, "gap": self.gap,
               "certified": self.certified, "runs": [list(r) for r in self.runs]}
        out["metrics"] = self.metrics()
        return out


def _symmetry_basis(problem: SupCon, V: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the exact symmetries' tangents at raw parameters V (flat, as ravel of {"H": V}): the
    radial direction of every column and, for features on the whole sphere, the rotations A V (A skew); the
    non-negative orthant has no continuous symmetry but the rays."""
    rotations = [] if problem.nonnegative else [(A @ V).ravel() for A in skew_generators(V.shape[0])]
    return orthonormal_span(rotations + [T.ravel() for T in column_rays(V)], V.size)


#: curvature is invisible in float64 when a unit relative step along it would change L by less than this many
#: roundings of L, whose absolute error is ~eps max(|L|, rho^2) (the similarities are of size rho^2): a Ritz
#: value within that floor of 0 has no sign (a collapsed class at large rho^2 has curvature ~exp(-rho^2) there)
CURVATURE_FLOOR = 1e3


def _curvature(problem: SupCon, V: np.ndarray, steps: int, seed: int):
    """Lanczos modulo the symmetries and the verdict: ``saddle`` / ``minimum`` only when the smallest Ritz value
    is beyond both the relative tolerance of ``ufm.curvature`` and the rounding floor (:data:`CURVATURE_FLOOR`),
    else ``degenerate``. Returns (the Lanczos result, the record :func:`second_order` reports)."""
    B = _symmetry_basis(problem, V)
    data = problem_data(problem)
    c = lanczos(objective_of(problem), _tree(V), data, steps=steps, seed=seed, basis=B)
    f = float(_value(problem.nonnegative)(_tree(V), data))
    floor = CURVATURE_FLOOR * np.finfo(float).eps * max(abs(f), problem.rho2) / max(float(np.sum(V * V)), 1e-300)
    tol = max(CURVATURE_RTOL * max(abs(c.min_eigenvalue), abs(c.max_eigenvalue)), floor)
    verdict = "saddle" if c.min_eigenvalue < -tol else "minimum" if c.min_eigenvalue > tol else "degenerate"
    return c, {"verdict": verdict, "min_eigenvalue": c.min_eigenvalue, "max_eigenvalue": c.max_eigenvalue,
               "lanczos_steps": c.steps, "symmetry_dimensions": int(B.shape[1])}


def second_order(problem: SupCon, H, *, steps: int = 120, seed: int = 0) -> dict:
    """Lanczos verdict (``minimum`` / ``saddle`` / ``degenerate``) of the Hessian of L(embed(V)) at the raw
    parameters V of the features H (:func:`raw`), modulo the symmetries (:func:`_symmetry_basis`): on the sphere
    the Riemannian second-order verdict; with non-negative features the second-order KKT verdict (at a zero
    entry the curvature in v is twice the multiplier). ``degenerate`` also when the smallest curvature found is at
    the rounding level of L (:data:`CURVATURE_FLOOR`; e.g. r^2 / tau ~ 1e-15, where L is flat in float64)."""
    return _curvature(problem, raw(problem, H), steps, seed)[1]


def _escape(problem: SupCon, V: np.ndarray, fx: float, direction: np.ndarray, data, max_iter: int, gtol: float):
    """From a saddle: the best of a few steps along the direction of negative curvature (both signs, lengths
    relative to ||V||), then the loop again; None when no step lowers L."""
    value = _value(problem.nonnegative)
    best = descend_along(lambda x: float(value(x, data)), _tree(V), direction, max(float(np.linalg.norm(V)), 1e-3),
                         fx)
    if best is None:
        return None
    return minimize_starts(objective_of(problem), [("escape", best)], data, LoopOptions(), max_iter=max_iter,
                           gtol=gtol)[0][0][1]


def _check_options(restarts, max_iter, gtol, minimum_restarts=1):
    restarts = check_positive_int("restarts", restarts, minimum_restarts)
    max_iter = check_positive_int("max_iter", max_iter)
    if isinstance(gtol, bool) or not isinstance(gtol, numbers.Real) or not 0 < float(gtol) < 1:
        raise OptionsError("gtol", f"must be a number in (0, 1), got {gtol!r}")
    if not jax.config.jax_enable_x64:
        raise OptionsError("precision", "ufm.contrastive solves in float64: call ufm.enable_x64() first")
    return restarts, max_iter, float(gtol)


def solve(problem: SupCon, *, restarts: int = 4, seed: int = 0, gtol: float = 1e-12, max_iter: int = 20000,
          init=None, check: bool = True, escapes: int = 3, progress=None) -> SupConSolution:
    """Minimise the SupCon UFM from ``restarts`` random starts (raw parameters i.i.d. N(0, 1), seeded), plus
    ``init`` (d x N features) when given; the best run, moved onto the sphere, with its stationarity (relative,
    in the raw parameters at the representative :func:`raw`: the Riemannian / KKT one) and (``check``) its
    second-order verdict; a best point at a saddle is continued along its direction of negative curvature (up
    to ``escapes`` times, as ``ufm.solve`` does) and keeps status ``saddle`` if it is still one.
    ``progress(done, total, objective)`` after each start."""
    if not isinstance(problem, SupCon):
        raise ProblemError("problem", f"must be a ufm.contrastive.SupCon, got {type(problem).__name__}")
    restarts, max_iter, gtol = _check_options(restarts, max_iter, gtol, 0 if init is not None else 1)
    escapes = check_positive_int("escapes", escapes, 0, 100)
    rng = np.random.default_rng(seed)
    starts = [(f"random-{i}", _tree(rng.standard_normal((problem.d, problem.N)))) for i in range(restarts)]
    if init is not None:
        H0 = np.asarray(init, np.float64)
        if H0.shape != (problem.d, problem.N) or not np.all(np.isfinite(H0)) \
                or np.any(np.linalg.norm(raw(problem, H0), axis=0) == 0):
            raise ProblemError("init", f"must be finite d x N = {(problem.d, problem.N)} features with no zero "
                                       "column" + (" (entries >= 0 count)" if problem.nonnegative else ""))
        starts.append(("init", _tree(raw(problem, H0))))
    data = problem_data(problem)
    f = objective_of(problem)
    runs, best = minimize_starts(f, starts, data, LoopOptions(), max_iter=max_iter, gtol=gtol, progress=progress)
    name, run = runs[best]
    iterations, order = run.iterations, {}
    for attempt in range(escapes + 1):
        H = np.asarray(embed(jnp.asarray(run.params["H"]), problem.feature_radius, problem.nonnegative))
        V = raw(problem, H)
        fx, g = _value_grad(problem.nonnegative)(_tree(V), data)
        fx, relative = float(fx), float(stationarity(fx, g, _tree(V)))
        status = run.status
        if not (check and status.acceptable):
            break
        c, order = _curvature(problem, V, 120, seed)
        order["escapes"] = attempt
        if order["verdict"] != "saddle":
            break
        status = Status.SADDLE
        escaped = _escape(problem, V, fx, c.direction, data, max_iter, gtol) if attempt < escapes else None
        if escaped is None:
            break
        run = escaped
        iterations += escaped.iterations
        runs.append(("escape", escaped))
    return SupConSolution(problem, H, fx, relative, iterations, status, order,
                          [(n, r.objective, str(r.status)) for n, r in runs])


@functools.lru_cache(maxsize=None)
def _collapsed_objective(nonnegative: bool):
    """L as a function of K class points (d x K), every sample at its class's point (the collapsed problem)."""
    full = make_objective(nonnegative)

    def f(params, data):
        return full({"H": params["M"][:, data["labels"]]}, data)

    return f


def solve_collapsed(problem: SupCon, *, restarts: int = 4, seed: int = 0, gtol: float = 1e-12,
                    max_iter: int = 20000) -> tuple:
    """The best collapsed configuration found: minimise L over the K class points (every sample of class k at
    zeta_k) from ``restarts`` random starts; returns (value, d x N features). Its value bounds the minimum from
    above; a full-problem point below it is a non-collapsed configuration that beats every collapsed one found."""
    restarts, max_iter, gtol = _check_options(restarts, max_iter, gtol)
    rng = np.random.default_rng(seed)
    starts = [(f"random-{i}", {"M": jnp.asarray(rng.standard_normal((problem.d, problem.K)))})
              for i in range(restarts)]
    runs, best = minimize_starts(_collapsed_objective(problem.nonnegative), starts, problem_data(problem),
                                 LoopOptions(), max_iter=max_iter, gtol=gtol)
    M = np.asarray(embed(jnp.asarray(runs[best][1].params["M"]), problem.feature_radius, problem.nonnegative))
    H = M[:, problem.labels()]
    return evaluate(problem, H), H
