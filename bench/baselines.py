"""What users run today, written faithfully, on exactly the canonical objective of ``ufm``.

Each runner takes a :class:`ufm.Problem` and a start (a ufm parameter pytree, converted to the runner's own
arrays: every method starts from the same point) and returns a :class:`Trace`: the wall-clock time and the
float64 objective of the iterates the method produced, in order, plus its final point. Time-to-accuracy is
read off the trace (``Trace.time_to``).

- ``scipy_lbfgsb``: ``scipy.optimize.minimize(method="L-BFGS-B")`` in float64 on numpy with the analytic
  gradient (:func:`numpy_value_and_grad`), history 10, gtol = ftol = 0 (runs until it can make no progress,
  the iteration cap or the time budget). Every function evaluation is logged (time, value).
- ``torch_lbfgs``: ``torch.optim.LBFGS(line_search_fn="strong_wolfe", history_size=10)`` in float64, the
  objective (loss + every weight-decay term) in the closure, tolerance_grad = tolerance_change = 0. Every
  closure call is logged.
- ``torch_sgd_recipe``: the papers' recipe (Dang et al. 2023; Zhu et al. 2021; Han et al. 2022): full-batch
  ``torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=lambda)`` in float32 for 30,000 steps; weight decay
  lambda in torch's SGD adds lambda * p to the gradient, i.e. exactly the lambda/2 ||p||^2 term of the
  canonical objective. The objective is recomputed in float64 at logged steps (log-spaced and every 250
  steps); the time spent on that logging is excluded from the clock.
- ``cvxpy_convex``: the M = 1 convex program of ``ufm.convex`` (docs/theory.md section 8) written in cvxpy,
  ``min_{Y,b} sum_k (n_k/N) l(Y e_k / sqrt(n_k) + b, e_k) + sqrt(lambda_W lambda_H) ||Y||_*``, solved by an
  interior-point method (Clarabel) at a given tolerance; its value is a feasible UFM value only when the
  optimal rank is <= d (always here: d >= K in the convex cases).

Objective definitions are checked against ``ufm.objective.evaluate`` to 1e-12 in ``tests/test_bench.py``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Optional

import numpy as np

import ufm
from ufm.problem import Problem


class BudgetExceeded(Exception):
    """Raised inside a baseline's callback when its time budget is spent."""


class TargetReached(Exception):
    """Raised inside a baseline's callback when an evaluated value is at or below ``stop_below``."""


@dataclasses.dataclass
class Trace:
    """Wall-clock times (s, from the start of the method, set-up included) and float64 objective values of
    the iterates a method produced, in order; ``final`` is the last point (a ufm parameter pytree of numpy
    arrays) and ``info`` what the method said when it stopped."""

    method: str
    times: np.ndarray
    values: np.ndarray
    final: Optional[dict] = None
    info: str = ""
    iterations: int = 0
    evaluations: int = 0

    def best(self) -> float:
        return float(np.min(self.values)) if self.values.size else float("nan")

    def time_to(self, target: float, reference: float) -> float:
        """First time at which the relative gap (f - f*) / |f*| is <= target; inf if never."""
        gap = (self.values - reference) / max(abs(reference), 1e-300)
        hit = np.nonzero(gap <= target)[0]
        return float(self.times[hit[0]]) if hit.size else float("inf")


# --------------------------------------------------------------------------------------------- problem data

@dataclasses.dataclass(frozen=True)
class Arrays:
    """The problem as plain numpy arrays (float64): targets T (K x N), lambdas, the fixed classifier."""

    T: np.ndarray
    lambda_W: np.ndarray  # one per learnable layer
    lambda_H: float
    lambda_b: float
    loss: str
    bias: str
    classifier: Optional[np.ndarray]

    @classmethod
    def of(cls, problem: Problem) -> "Arrays":
        data = problem.data()
        lw = np.asarray(problem.lambda_W, float)
        fixed = data.get("classifier")
        if fixed is not None:
            lw = lw[:-1]
        if problem.loss not in ("ce", "mse"):
            raise ufm.ProblemError("loss", f"the baselines implement 'ce' and 'mse', got {problem.loss!r}")
        if getattr(problem, "normalized", False):
            raise ufm.ProblemError("feature_radius", "the baselines implement the free UFM, not features or "
                                                     "classifier rows on spheres")
        return cls(np.asarray(data["targets"], float), lw, float(problem.lambda_H), float(problem.lambda_b),
                   problem.loss, problem.bias, None if fixed is None else np.asarray(fixed, float))


def numpy_params(params: dict) -> dict:
    """A ufm parameter pytree as float64 numpy arrays (W a list)."""
    out = {"W": [np.array(W, dtype=np.float64) for W in params["W"]], "H": np.array(params["H"], dtype=np.float64)}
    if "b" in params:
        out["b"] = np.array(params["b"], dtype=np.float64)
    return out


def numpy_value_and_grad(params: dict, a: Arrays):
    """The canonical objective and its analytic gradient, numpy float64 (hand-written backpropagation
    through the linear layers, as a user of scipy writes it).

    L = (1/N) sum_i loss(W_M..W_1 h_i + b, t_i) + sum_m lambda_m/2 ||W_m||^2 + lambda_H/2 ||H||^2
        [+ lambda_b/2 ||b||^2];  d loss / dZ = (softmax(Z) - T)/N (CE) or (Z - T)/N (MSE).
    """
    Ws = list(params["W"]) + ([a.classifier] if a.classifier is not None else [])
    H = params["H"]
    N = H.shape[1]
    acts = [H]
    for W in Ws:
        acts.append(W @ acts[-1])
    Z = acts[-1] + (params["b"][:, None] if "b" in params else 0.0)
    if a.loss == "ce":
        m = Z.max(axis=0, keepdims=True)
        E = np.exp(Z - m)
        s = E.sum(axis=0, keepdims=True)
        value = float(np.sum(np.log(s) + m - np.sum(a.T * Z, axis=0, keepdims=True)) / N)
        G = (E / s - a.T) / N
    else:
        R = Z - a.T
        value = 0.5 * float(np.sum(R * R)) / N
        G = R / N
    grads_W = [None] * len(Ws)
    delta = G
    for m in range(len(Ws) - 1, -1, -1):
        grads_W[m] = delta @ acts[m].T
        delta = Ws[m].T @ delta
    grad = {"W": [], "H": delta + a.lambda_H * H}
    value += 0.5 * a.lambda_H * float(np.sum(H * H))
    for m, (W, lam) in enumerate(zip(params["W"], a.lambda_W)):
        value += 0.5 * lam * float(np.sum(W * W))
        grad["W"].append(grads_W[m] + lam * W)
    if "b" in params:
        grad["b"] = G.sum(axis=1)
        if a.bias == "regularized":
            value += 0.5 * a.lambda_b * float(np.sum(params["b"] ** 2))
            grad["b"] = grad["b"] + a.lambda_b * params["b"]
    return value, grad


def _flatten(params: dict) -> np.ndarray:
    parts = [W.ravel() for W in params["W"]] + [params["H"].ravel()] + ([params["b"]] if "b" in params else [])
    return np.concatenate(parts)


def _unflatten(x: np.ndarray, like: dict) -> dict:
    out, i = {"W": []}, 0
    for W in like["W"]:
        out["W"].append(x[i:i + W.size].reshape(W.shape))
        i += W.size
    out["H"] = x[i:i + like["H"].size].reshape(like["H"].shape)
    i += like["H"].size
    if "b" in like:
        out["b"] = x[i:i + like["b"].size]
    return out


# --------------------------------------------------------------------------------------------- scipy

def scipy_lbfgsb(problem: Problem, start: dict, *, budget: float = 60.0, max_iter: int = 100_000,
                 memory: int = 10, gtol: float = 0.0, stop_below: Optional[float] = None) -> Trace:
    """scipy L-BFGS-B, float64, analytic gradient; logs every evaluation; stops at the time budget, at
    max-abs gradient <= ``gtol`` (0: never), when it can make no more progress (ftol = 0), or (an oracle
    stop for time-to-target benchmarks) at the first evaluation with a value <= ``stop_below``."""
    from scipy.optimize import minimize

    a = Arrays.of(problem)
    like = numpy_params(start)
    times, values = [], []
    t0 = time.perf_counter()

    def fun(x):
        value, grad = numpy_value_and_grad(_unflatten(x, like), a)
        times.append(time.perf_counter() - t0)
        values.append(value)
        if times[-1] > budget:
            raise BudgetExceeded
        if stop_below is not None and value <= stop_below:
            last["x"] = x.copy()
            raise TargetReached
        return value, _flatten(grad)

    x0 = _flatten(like)
    last = {"x": x0}
    try:
        res = minimize(fun, x0, jac=True, method="L-BFGS-B", callback=lambda xk: last.update(x=xk.copy()),
                       options=dict(maxcor=memory, maxiter=max_iter, maxfun=10 * max_iter, gtol=gtol, ftol=0.0))
        x, info, nit = res.x, str(res.message), int(res.nit)
    except BudgetExceeded:
        x, info, nit = last["x"], f"time budget {budget:g} s", -1
    except TargetReached:
        x, info, nit = last["x"], f"target value {stop_below!r} reached", -1
    return Trace("scipy L-BFGS-B", np.asarray(times), np.asarray(values), _unflatten(x, like), info, nit, len(values))


# --------------------------------------------------------------------------------------------- torch

def _torch_objective(torch, params: dict, a: Arrays, Tt, classifier):
    Ws = list(params["W"]) + ([classifier] if classifier is not None else [])
    Z = params["H"]
    for W in Ws:
        Z = W @ Z
    if "b" in params:
        Z = Z + params["b"][:, None]
    N = Z.shape[1]
    if a.loss == "ce":
        data_term = (torch.logsumexp(Z, dim=0) - (Tt * Z).sum(dim=0)).mean()
    else:
        data_term = 0.5 * ((Z - Tt) ** 2).sum() / N
    return data_term


def torch_full_objective(torch, params: dict, a: Arrays, Tt, classifier):
    """The whole canonical objective in torch: the data term plus every weight-decay term (what a user puts in
    torch LBFGS's closure, which has no weight_decay)."""
    value = _torch_objective(torch, params, a, Tt, classifier) + 0.5 * a.lambda_H * (params["H"] ** 2).sum()
    for W, lam in zip(params["W"], a.lambda_W):
        value = value + 0.5 * float(lam) * (W ** 2).sum()
    if "b" in params and a.bias == "regularized":
        value = value + 0.5 * a.lambda_b * (params["b"] ** 2).sum()
    return value


def _torch_setup(problem: Problem, start: dict, dtype_name: str):
    import torch

    dtype = getattr(torch, dtype_name)
    a = Arrays.of(problem)
    p = numpy_params(start)
    params = {"W": [torch.tensor(W, dtype=dtype, requires_grad=True) for W in p["W"]],
              "H": torch.tensor(p["H"], dtype=dtype, requires_grad=True)}
    if "b" in p:
        params["b"] = torch.tensor(p["b"], dtype=dtype, requires_grad=True)
    Tt = torch.tensor(a.T, dtype=dtype)
    classifier = None if a.classifier is None else torch.tensor(a.classifier, dtype=dtype)
    return torch, a, params, Tt, classifier


def _torch_to_numpy(params: dict) -> dict:
    out = {"W": [W.detach().double().numpy().copy() for W in params["W"]],
           "H": params["H"].detach().double().numpy().copy()}
    if "b" in params:
        out["b"] = params["b"].detach().double().numpy().copy()
    return out


def torch_lbfgs(problem: Problem, start: dict, *, budget: float = 60.0, max_iter: int = 100_000,
                memory: int = 10, gtol: float = 0.0, ftol: float = 0.0, stop_below: Optional[float] = None) -> Trace:
    """torch.optim.LBFGS with the strong-Wolfe line search, float64; the full objective (loss and every decay
    term; LBFGS has no weight_decay) in the closure; logs every closure call. Stops at max-abs gradient <=
    ``gtol``, an objective change < ``ftol`` (``tolerance_grad``/``tolerance_change``; 0: run until no
    progress), ``max_iter``, the time budget, or (an oracle stop for time-to-target benchmarks) at the first
    closure call with a value <= ``stop_below``."""
    torch, a, params, Tt, classifier = _torch_setup(problem, start, "float64")
    flat = list(params["W"]) + [params["H"]] + ([params["b"]] if "b" in params else [])
    opt = torch.optim.LBFGS(flat, lr=1.0, max_iter=max_iter, max_eval=10 * max_iter, tolerance_grad=gtol,
                            tolerance_change=ftol, history_size=memory, line_search_fn="strong_wolfe")
    times, values = [], []
    t0 = time.perf_counter()

    def closure():
        opt.zero_grad()
        value = torch_full_objective(torch, params, a, Tt, classifier)
        value.backward()
        times.append(time.perf_counter() - t0)
        values.append(float(value.detach()))
        if times[-1] > budget:
            raise BudgetExceeded
        if stop_below is not None and values[-1] <= stop_below:
            raise TargetReached
        return value

    info = "finished max_iter or no progress"
    try:
        opt.step(closure)
    except BudgetExceeded:
        info = f"time budget {budget:g} s"
    except TargetReached:
        info = f"target value {stop_below!r} reached"
    state = opt.state[opt._params[0]]
    return Trace("torch LBFGS (strong Wolfe, float64)", np.asarray(times), np.asarray(values),
                 _torch_to_numpy(params), info, int(state.get("n_iter", 0)), len(values))


def torch_sgd_recipe(problem: Problem, start: dict, *, steps: int = 30_000, lr: float = 0.1, momentum: float = 0.9,
                     budget: float = 60.0, dtype: str = "float32", log_every: int = 250) -> Trace:
    """The papers' recipe: full-batch SGD, lr 0.1, momentum 0.9, weight decay lambda per block, float32,
    30,000 steps (or the time budget). The objective of the iterate is recomputed in float64 at log-spaced
    steps and every ``log_every`` steps, off the clock."""
    torch, a, params, Tt, classifier = _torch_setup(problem, start, dtype)
    groups = [{"params": [params["H"]], "weight_decay": a.lambda_H}]
    groups += [{"params": [W], "weight_decay": float(lam)} for W, lam in zip(params["W"], a.lambda_W)]
    if "b" in params:
        groups.append({"params": [params["b"]], "weight_decay": a.lambda_b if a.bias == "regularized" else 0.0})
    opt = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    logged = set(np.unique(np.round(np.logspace(0, np.log10(steps), 60)).astype(int)).tolist())
    times, values = [], []
    clock, step = 0.0, 0

    def log():
        p = _torch_to_numpy(params)
        times.append(clock)
        values.append(numpy_value_and_grad(p, a)[0])

    log()
    info = f"{steps} steps"
    for step in range(1, steps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        loss = _torch_objective(torch, params, a, Tt, classifier)
        loss.backward()
        opt.step()
        clock += time.perf_counter() - t
        if step in logged or step % log_every == 0 or step == steps:
            log()
            if not np.isfinite(values[-1]):
                info = f"diverged at step {step}"
                break
        if clock > budget:
            log()
            info = f"time budget {budget:g} s after {step} steps"
            break
    return Trace(f"torch SGD recipe ({dtype}, lr {lr:g}, momentum {momentum:g})", np.asarray(times),
                 np.asarray(values), _torch_to_numpy(params), info, step, step)


# --------------------------------------------------------------------------------------------- cvxpy

def cvxpy_convex(problem: Problem, *, tol: float = 1e-8, solver: str = "CLARABEL", budget: float = 60.0) -> Trace:
    """The M = 1 convex program (ufm.convex) in cvxpy; returns a one-point trace (solve time, value of the
    problem's objective at the returned Z, b recomputed in numpy float64). ``info`` carries the status; the
    solver stops at its time limit ``budget`` (the cvxpy compilation before it is not limited)."""
    import cvxpy as cp

    if problem.depth != 1 or problem.classifier_fixed or problem.samples is not None \
            or getattr(problem, "normalized", False):
        raise ufm.ProblemError("problem", "the convex program needs M = 1, a learnable classifier, one-hot targets, "
                                          "free features and classifier")
    K = problem.K
    n = np.asarray(problem.counts, float)
    N = n.sum()
    c = float(np.sqrt(problem.lambda_W[0] * problem.lambda_H))
    t0 = time.perf_counter()
    Y = cp.Variable((K, K))
    Z = Y @ np.diag(1.0 / np.sqrt(n))
    b = cp.Variable(K) if problem.bias != "none" else None
    logits = Z + (cp.reshape(b, (K, 1), order="F") @ np.ones((1, K)) if b is not None else 0)
    w = n / N
    if problem.loss == "ce":
        data_term = cp.sum(cp.multiply(w, cp.log_sum_exp(logits, axis=0) - cp.diag(logits)))
    else:
        data_term = 0.5 * cp.sum(cp.multiply(np.tile(w, (K, 1)), cp.square(logits - np.eye(K))))
    objective = data_term + c * cp.normNuc(Y)
    if problem.bias == "regularized":
        objective = objective + 0.5 * problem.lambda_b * cp.sum_squares(b)
    prob = cp.Problem(cp.Minimize(objective))
    opts = {}
    if solver == "CLARABEL":
        opts = dict(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500, time_limit=budget)
    elif solver == "SCS":
        opts = dict(eps_abs=tol, eps_rel=tol, max_iters=1_000_000, time_limit_secs=budget)
    try:
        prob.solve(solver=solver, **opts)
        status = prob.status
    except cp.error.SolverError as e:  # reported, not hidden
        status = f"solver error: {e}"
    elapsed = time.perf_counter() - t0
    if Y.value is None:
        return Trace(f"cvxpy {solver} tol {tol:g}", np.asarray([elapsed]), np.asarray([np.inf]), None, status)
    Zv = Y.value / np.sqrt(n)[None, :]
    bv = np.zeros(K) if b is None else np.asarray(b.value)
    from ufm.reduced import schatten_value

    value = float(schatten_value(problem, Zv, bv if problem.bias != "none" else None))
    return Trace(f"cvxpy {solver} tol {tol:g}", np.asarray([elapsed]), np.asarray([value]), None, status)
