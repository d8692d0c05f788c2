"""The global search of non-linear (ReLU) deep UFMs and the honesty of second order at ReLU kinks
(docs/theory.md section 15).

The master reduction (``ufm.reduced``) and the class reduction need linear layers, so a ReLU model is solved
in full coordinates, and random starts alone are not enough: they stop in the basins of dead units and rarely
reach the two families the literature compares (Sukenik, Mondelli & Lampert 2023, "Deep neural collapse is
provably optimal for the deep unconstrained features model", arXiv 2305.13165; Sukenik, Lampert & Mondelli
2024, "Neural collapse versus low-rank bias: is deep neural collapse really optimal?", arXiv 2405.14468).
:func:`search_starts` therefore adds structured starts:

- ``dnc``: deep neural collapse: class k's features a e_k (orthogonal, non-negative: the ReLU is the identity
  on them), every hidden layer a multiple of the identity, W_M = c [I_K 0];
- ``dnc-centred``: the same with centred first-layer means a (e_k - 1/K sum_j e_j) (a simplex ETF; antipodal
  for K = 2), whose ReLU images are non-negative and of rank K;
- ``lowrank-r`` (r = 1..K-1, at most ``MAX_LOWRANK_STARTS`` ranks spread over that range): class means in an r-dimensional subspace (random directions), a first layer
  whose rows point at the class means (the ReLU lifts rank r to up to K), later hidden layers a non-negative
  rank-r matrix plus half the identity: starts near the low-rank family of Sukenik et al. 2024 and Garrod &
  Keating 2024;
- ``random``: i.i.d. Gaussian starts at a few scales.

Every start is minimised by the loop of ``ufm.loop``; small seeded noise is added to the structured starts so
that no pre-activation starts exactly at a kink.

**Kinks.** ReLU is not differentiable where a pre-activation is 0; there the Hessian of the objective does not
exist and an eigenvalue verdict (minimum / saddle) would be a guess. :func:`kinks` counts the pre-activations
within ``KINK_RTOL`` (relative to the largest in their layer) of 0; the solver then reports the second-order
verdict ``non-smooth point`` instead of a minimum or a saddle.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ufm import forward
from ufm import objective as obj
from ufm.errors import ProblemError
from ufm.loop import LoopOptions, distinct_values, minimize_starts

#: a pre-activation within this fraction of its layer's largest |pre-activation| counts as at the kink of ReLU:
#: far above the float64 rounding of a converged point (~1e-12 relative at gtol 1e-11) and far below the
#: pre-activations of a unit that is genuinely on or off (order 1 relative)
KINK_RTOL = 1e-6
#: at most this many ``lowrank-r`` starts, ranks spread over 1..K-1 (each is a full solve)
MAX_LOWRANK_STARTS = 6
#: the scale of the noise added to structured starts (relative to their entries)
START_NOISE = 1e-3


def applicable(problem) -> tuple[bool, str]:
    """The search of this module is for non-linear layers (linear ones have ``ufm.reduced``)."""
    if problem.linear:
        return False, "linear layers: use the reduced-problem search of ufm.reduced"
    return True, ""


def _scales(problem) -> list:
    """Per-layer scales of the structured starts: products of order 1 (MSE targets) to a few (CE margins)."""
    target = 1.0 if problem.loss not in ("ce",) else 3.0
    return [target ** (1.0 / (problem.depth + 1)) * t for t in (0.6, 1.0, 1.4)]


def _features(problem, means: np.ndarray) -> np.ndarray:
    """d x N features with column i the mean of its class (class means d x K)."""
    labels = problem.labels()
    return means[:, np.clip(labels, 0, problem.K - 1)]


def _pack(problem, Ws: list, H: np.ndarray, rng) -> dict:
    Ws = [W + START_NOISE * max(np.abs(W).max(), 1e-3) * rng.standard_normal(W.shape) for W in Ws]
    H = H + START_NOISE * max(np.abs(H).max(), 1e-3) * rng.standard_normal(H.shape)
    return obj.params_from_arrays(problem, Ws, H, None if problem.bias == "none" else np.zeros(problem.K))


def _embed(A: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols))
    r, c = min(rows, A.shape[0]), min(cols, A.shape[1])
    out[:r, :c] = A[:r, :c]
    return out


def search_starts(problem, restarts: int, seed: int) -> list:
    """[(name, full parameter pytree)]: the structured starts of the module docstring, then ``restarts``
    random ones (scales 0.1, 0.5, 1 in turn)."""
    rng = np.random.default_rng(seed)
    K, d, M = problem.K, problem.d, problem.depth
    k = min(K, d)
    starts = []
    for s in _scales(problem):
        E = _embed(np.eye(K), d, K)  # d x K: e_k
        hidden = [s * np.eye(d) for _ in range(M - 1)]
        last = s * _embed(np.eye(K), K, d)
        starts.append((f"dnc x{s:.2g}", _pack(problem, hidden + [last], _features(problem, s * E), rng)))
        C = _embed(np.eye(k) - np.ones((k, k)) / k, d, K) * K / max(K - 1, 1)  # centred means (first k classes)
        starts.append((f"dnc-centred x{s:.2g}", _pack(problem, hidden + [last], _features(problem, s * C), rng)))
    ranks = sorted({int(round(r)) for r in np.linspace(1, K - 1, min(K - 1, MAX_LOWRANK_STARTS))} if K > 1 else set())
    for r in ranks:
        if r > d:
            break
        s = _scales(problem)[1]
        U = rng.standard_normal((r, K))
        U /= np.linalg.norm(U, axis=0, keepdims=True)
        means = _embed(U, d, K) * s
        W1 = _embed(U.T, d, d) * s  # rows point at the class means: ReLU keeps each class's own unit
        P = rng.standard_normal((d, r)) @ rng.standard_normal((r, d)) / max(r, 1)
        P *= s / max(np.linalg.norm(P, 2), 1e-12)
        hidden = [W1] + [np.abs(P) + s * _embed(np.eye(K), d, d) * 0.5 for _ in range(M - 2)]
        last = s * _embed(np.eye(K), K, d)
        starts.append((f"lowrank-{r}", _pack(problem, (hidden + [last])[:M] if M > 1 else [last],
                                             _features(problem, means), rng)))
    for i in range(restarts):
        scale = (0.1, 0.5, 1.0)[i % 3]
        x = obj.init_params(problem, obj.start_key(seed, 1000 + i), scale)
        starts.append((f"random x{scale}", x))
    return starts


class SearchResult(NamedTuple):
    """What :func:`search` returns: ``params`` the best point (full coordinates), ``objective``, ``start`` the
    name of the start that won and ``runs`` [(start name, :class:`ufm.loop.Run`)]."""

    params: dict
    objective: float
    start: str
    runs: list

    def summary(self) -> dict:
        values = distinct_values([run.objective for _, run in self.runs if run.status != "diverged"])
        return {"start": self.start, "search_value": self.objective, "n_starts": len(self.runs),
                "distinct_values": [{"value": v, "count": c} for v, c in values], "kind": "nonlinear"}


def search(problem, *, restarts: int = 8, seed: int = 0, loop: LoopOptions = LoopOptions(), max_iter: int = 20000,
           gtol: float = 1e-11, progress=None) -> SearchResult:
    """Minimise from every start of :func:`search_starts` (float64) and return the best (module docstring)."""
    ok, why = applicable(problem)
    if not ok:
        raise ProblemError("problem", f"the non-linear search does not apply: {why}")
    starts = search_starts(problem, restarts, seed)
    f = obj.objective_of(problem)
    data = obj.problem_data(problem, jnp.float64)
    runs, best = minimize_starts(f, starts, data, loop, max_iter=max_iter, gtol=gtol, progress=progress)
    name, run = runs[best]
    return SearchResult(run.params, run.objective, name, runs)


def kinks(problem, params: dict, rtol: float = KINK_RTOL) -> dict:
    """Pre-activations at a kink of the activation (module docstring): ``{"count", "total", "smallest"}``, the
    number of entries with |x| <= rtol * max |x| of their layer, how many there are, and the smallest relative
    |x| (``ufm.forward.preactivations``; full parameters). Linear layers: count 0."""
    Ws = [np.asarray(W, np.float64) for W in params["W"]]
    if problem.classifier_fixed:
        Ws.append(problem.classifier_matrix())
    pre = forward.preactivations(Ws, np.asarray(params["H"], np.float64), problem.activation,
                                 problem.activate_features)
    count, total, smallest = 0, 0, float("inf")
    for X in pre:
        scale = float(np.abs(X).max()) if X.size else 0.0
        if scale == 0.0:  # a dead layer: every unit at the kink
            count, total, smallest = count + X.size, total + X.size, 0.0
            continue
        rel = np.abs(X) / scale
        count += int(np.sum(rel <= rtol))
        total += X.size
        smallest = min(smallest, float(rel.min()))
    return {"count": count, "total": total, "smallest": smallest if total else float("nan")}


class NonSmooth(NamedTuple):
    """The second-order record of a point at a kink (:func:`kinks`): no Hessian verdict is given there
    (``verdict()`` is ``"non-smooth point"``); the eigenvalues are nan, ``kinks`` says how many
    pre-activations sit at 0."""

    kinks: dict
    min_eigenvalue: float = float("nan")
    max_eigenvalue: float = float("nan")
    steps: int = 0
    direction: object = None

    def verdict(self, rtol: float = 0.0) -> str:
        return "non-smooth point"


def second_order_record(problem, params: dict, curv):
    """``curv`` (a :class:`ufm.curvature.Curvature` or None) where the objective is smooth at ``params`` (full
    coordinates), else a :class:`NonSmooth` record."""
    if problem.linear:
        return curv
    k = kinks(problem, params)
    return NonSmooth(k) if k["count"] else curv
