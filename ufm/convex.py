"""The convex reformulation of the one-layer UFM, solved to high accuracy, with a certified lower bound.

For M = 1 and d >= K (docs/theory.md sections 3 and 8; Zhu et al. 2021, Hong & Ling 2023), collapsing the features
and balancing the factorisation W Hbar = Z gives

    P = min_{Z in R^{K x K}, b}  sum_k (n_k/N) l(z_k + b, e_k) + c ||Z D^{1/2}||_*  [+ lambda_b/2 ||b||^2]

with c = sqrt(lambda_W lambda_H), D = diag(n), z_k the logits of the class-k mean, b = 0 for bias "none".
We solve it in the variables Y = Z D^{1/2} and beta = sqrt(N) b (which make the smooth part's curvature
uniform, L = 2 L_l / N with L_l = 1/2 for CE and 1 for MSE) by FISTA with the nuclear-norm prox (singular
value soft-thresholding) and function-value adaptive restart (O'Donoghue & Candes 2015), finished by Newton
steps on the factorised form f(A B^T, beta) + c/2 (||A||^2 + ||B||^2) (:func:`refine`; docs/theory.md section 8).

Certificate (weak Fenchel duality): for any G in R^{K x K} with ||G||_2 <= c (spectral norm),
c ||Y||_* >= <G, Y>, hence

    P >= D(G) = sum_k -(n_k/N) l*(-N g_k / sqrt(n_k))  - [bias term],

with l* the convex conjugate of the per-class loss: for CE l*(v) = sum_i p_i log p_i when p = v + e_k is a
probability vector (else +inf), for MSE l*(v) = ||v||^2/2 + <v, e_k>. The bias term is 0 for bias "none",
||sum_k sqrt(n_k) g_k||^2 / (2 lambda_b) for "regularized", and "free" needs sum_k sqrt(n_k) g_k = 0. We build G
from any primal point (the negative gradient of the smooth part, corrected to satisfy the constraints
exactly and scaled into the spectral ball), so ``lower_bound`` is rigorous whatever the primal accuracy and
``gap = value - lower_bound >= 0`` certifies the optimum to within ``gap``.

For d < K the UFM forces rank(Z) <= d: ``lower_bound`` is still a valid lower bound on the UFM optimum, but it
is attained only if the convex optimum has rank <= d (``ConvexResult.rank``); ``certify`` says so.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ufm import losses
from ufm.errors import ProblemError
from ufm.hypotheses import requires
from ufm.loop import F_FLOOR
from ufm.newton import MAX_PARAMS as NEWTON_MAX_PARAMS, polish
from ufm.problem import Problem
from ufm.scalar import grid_then_golden

#: the convex reformulation needs these (and a loss with a conjugate: ``ufm.losses.Loss.conjugate``)
APPLIES = requires(depth=1, linear=True, learnable_classifier=True, one_hot=True)


def applicable(problem) -> tuple[bool, str]:
    """Whether the convex program (and its certificate) exists for ``problem``."""
    ok, why = APPLIES(problem)
    if ok and not losses.get(problem.loss).convex:
        return False, f"loss {problem.loss!r} is not convex in the logits"
    if ok and losses.get(problem.loss).conjugate is None:
        return False, f"loss {problem.loss!r} has no convex conjugate registered"
    return ok, why


@dataclasses.dataclass(frozen=True)
class ConvexResult:
    """Solution of the convex program.

    Attributes:
      Z: K x K class-mean logits W Hbar (bias excluded); b: K bias (zeros for bias "none").
      value: primal objective at (Z, b) (an upper bound on the optimum P).
      lower_bound: certified lower bound D(G) <= P (weak duality).
      gap: value - lower_bound (>= 0 up to rounding).
      rank: numerical rank of Z D^{1/2} (the UFM attains P only if rank <= d).
      iterations: FISTA iterations; converged: gap <= tol * |value| (relative).
      newton_steps: Newton steps of the refinement (:func:`refine`; 0 when it did not run or did not help).
    """

    Z: np.ndarray
    b: np.ndarray
    value: float
    lower_bound: float
    gap: float
    rank: int
    iterations: int
    converged: bool
    newton_steps: int = 0


def _check(problem: Problem) -> None:
    if not isinstance(problem, Problem):
        raise ProblemError("problem", f"must be a ufm.Problem, got {type(problem).__name__}")
    ok, why = applicable(problem)
    if not ok:
        field = ("depth" if "depth" in why else "classifier" if "classifier" in why else
                 "samples" if "target" in why else "loss" if "loss" in why else "problem")
        hint = " (use ufm.reduced.reduced_search for deep models)" if field == "depth" else ""
        raise ProblemError(field, f"the convex reformulation {why}{hint}")


def _per_class_loss(loss: str, Zfull):
    """l(z_k, e_k) per column k of the K x K logit matrix."""
    return losses.get(loss).per_sample(Zfull, jnp.eye(Zfull.shape[0]))


def _smooth(loss, bias, Y, beta, sqrt_n, N, lambda_b):
    """f(Y, beta) = sum_k (n_k/N) l(y_k/sqrt(n_k) + beta/sqrt(N)) [+ lambda_b/(2N) ||beta||^2]."""
    Zfull = Y / sqrt_n[None, :] + (beta / jnp.sqrt(N))[:, None]
    value = jnp.sum(sqrt_n ** 2 / N * _per_class_loss(loss, Zfull))
    if bias == "regularized":
        value = value + lambda_b / (2 * N) * jnp.sum(beta ** 2)
    return value


def _dual_bound(loss, bias, Y, beta, sqrt_n, N, c, lambda_b):
    """Certified lower bound from a primal point (module docstring). Returns (bound, primal value).

    The dual point: V = grad l at the primal class-mean logits (Fenchel-Young equality holds there), made
    feasible for the free-bias constraint by the loss's ``center_dual``, then scaled by s in [0, 1] into
    the spectral ball ||G||_2 <= c (scaling keeps V in dom l*, a convex set containing 0).

    Precision: the gap at a float64 primal point is first order in the point's distance to the optimum. Where
    the optimal logits sit next to the loss's minimiser (the squared error at weight decay lambda <= 1e-10:
    residuals ~ lambda N / sqrt(n) beside logits ~ 1 rounded to ~1e-16), that distance is the rounding of the
    logits, and the relative gap cannot go below ~ eps / residual (5e-8 at 1e-10, 1e-5 at 1e-12)."""
    lo = losses.get(loss)
    n = sqrt_n ** 2
    K = Y.shape[0]
    T = jnp.eye(K)
    Zfull = Y / sqrt_n[None, :] + (beta / jnp.sqrt(N))[:, None]

    V = jax.grad(lambda u: jnp.sum(lo.per_sample(u, T)))(Zfull)
    if bias == "free":
        V = lo.center_dual(V, T, n)
    G = -(sqrt_n[None, :] / N) * V
    s = jnp.minimum(1.0, c / jnp.maximum(jnp.linalg.norm(G, ord=2), 1e-300))
    G, V = s * G, s * V
    bound = -jnp.sum(n / N * lo.conjugate(V, T))
    if bias == "regularized":
        r = G @ sqrt_n
        bound = bound - jnp.sum(r ** 2) / (2 * lambda_b)
    primal = _smooth(loss, bias, Y, beta, sqrt_n, N, lambda_b) + c * jnp.sum(jnp.linalg.svd(Y, compute_uv=False))
    return bound, primal


@functools.lru_cache(maxsize=16)
def _fista(loss: str, bias: str):
    L_loss = losses.get(loss).smoothness

    def run(Y0, beta0, sqrt_n, N, c, lambda_b, tol, max_iter):
        L = 2 * L_loss / N + (lambda_b / N if bias == "regularized" else 0.0)
        step = 1.0 / L
        smooth = functools.partial(_smooth, loss, bias, sqrt_n=sqrt_n, N=N, lambda_b=lambda_b)
        grad = jax.grad(lambda Y, beta: smooth(Y=Y, beta=beta), argnums=(0, 1))
        use_b = bias != "none"

        def F(Y, beta):
            return smooth(Y=Y, beta=beta) + c * jnp.sum(jnp.linalg.svd(Y, compute_uv=False))

        def prox(Y):
            U, s, Vt = jnp.linalg.svd(Y, full_matrices=False)
            return (U * jnp.maximum(s - step * c, 0.0)) @ Vt

        def body(state):
            Y, beta, Yx, bx, t, k, f_prev, gap = state
            gY, gb = grad(Yx, bx)
            Y_new = prox(Yx - step * gY)
            b_new = bx - step * gb if use_b else bx
            f_new = F(Y_new, b_new)
            restart = f_new > f_prev
            t_new = jnp.where(restart, 1.0, (1 + jnp.sqrt(1 + 4 * t * t)) / 2)
            mom = jnp.where(restart, 0.0, (t - 1) / t_new)
            Yx_new = Y_new + mom * (Y_new - Y)
            bx_new = b_new + mom * (b_new - beta)
            lb, primal = _dual_bound(loss, bias, Y_new, b_new, sqrt_n, N, c, lambda_b)
            return (Y_new, b_new, Yx_new, bx_new, t_new, k + 1, f_new, primal - lb)

        def cond(state):
            *_, k, f_prev, gap = state
            return (k < max_iter) & (gap > tol * jnp.maximum(jnp.abs(f_prev), F_FLOOR))

        state = (Y0, beta0, Y0, beta0, jnp.asarray(1.0), jnp.asarray(0), F(Y0, beta0), jnp.asarray(jnp.inf))
        Y, beta, *_, k, f, gap = jax.lax.while_loop(cond, body, state)
        return Y, beta, k

    return jax.jit(run)


#: the bound at a given point, compiled once per (loss, bias) (evaluated op by op, it cost ~40 small
#: compilations per process)
_dual_bound_at = jax.jit(_dual_bound, static_argnums=(0, 1))


def _arrays(problem: Problem):
    n = np.asarray(problem.counts, dtype=np.float64)
    return (jnp.asarray(np.sqrt(n)), float(n.sum()), float(np.sqrt(problem.lambda_W[0] * problem.lambda_H)),
            float(problem.lambda_b))


def certificate(problem: Problem, Z, b=None) -> tuple[float, float]:
    """Certified lower bound and primal value of the convex program at class-mean logits ``Z`` (K x K,
    bias excluded) and bias ``b``: ``(lower_bound, value)`` with lower_bound <= optimum <= value."""
    _check(problem)
    sqrt_n, N, c, lambda_b = _arrays(problem)
    Y = jnp.asarray(Z, jnp.float64) * sqrt_n[None, :]
    beta = jnp.sqrt(N) * jnp.asarray(np.zeros(problem.K) if b is None else b, jnp.float64)
    lb, primal = _dual_bound_at(problem.loss, problem.bias, Y, beta, sqrt_n, N, c, lambda_b)
    return float(lb), float(primal)


def ray_start(problem: Problem, grid: int = 49) -> np.ndarray:
    """A starting point for FISTA: the best Z = a (I - J/K) over a geometric grid of a in [1e-3, 1e3], refined
    by golden section (``ufm.scalar``; the primal objective at each point, evaluated by the jitted bound). The
    program is convex, so the start changes only the speed, never the answer; but at small weight decay the
    optimal logits are large (a ~ log(1/lambda)) and the smooth part nearly flat there, so FISTA from Z = 0
    would need millions of steps to get there (at lambda = 1e-12 it stopped 29% above the optimum). Exact for balanced problems with bias none (the optimum
    lies on this ray, Zhu et al. 2021)."""
    K = problem.K
    sqrt_n, N, c, lambda_b = _arrays(problem)
    E = np.eye(K) - np.ones((K, K)) / K
    ES, beta = E * np.asarray(sqrt_n)[None, :], np.zeros(K)  # numpy: no op-by-op compilation per point

    def value(log_a):  # the same compiled bound as solve_convex's last step (one program per shape)
        return float(_dual_bound_at(problem.loss, problem.bias, np.exp(log_a) * ES, beta, sqrt_n, N, c,
                                    lambda_b)[1])

    log_a, best = grid_then_golden(value, np.log(np.geomspace(1e-3, 1e3, grid)), iterations=50)
    if value(-np.inf) <= best:  # a = 0
        return 0.0 * E
    best_a = float(np.exp(log_a))
    return best_a * E


def solve_convex(problem: Problem, *, tol: float = 1e-12, max_iter: int = 200_000,
                 Z0: Optional[np.ndarray] = None, b0: Optional[np.ndarray] = None) -> ConvexResult:
    """Solve the one-layer convex program of ``problem`` (module docstring) to relative gap ``tol``
    (gap <= tol |value|: relative, so meaningful at small weight decay too).

    ``Z0``, ``b0``: optional warm start (e.g. W Hbar of a UFM solution); by default the best point of the
    simplex-ETF ray (:func:`ray_start`).
    """
    from ufm._precision import require_x64

    _check(problem)
    require_x64("ufm.convex.solve_convex")
    sqrt_n, N, c, lambda_b = _arrays(problem)
    K = problem.K
    Y0 = jnp.asarray(ray_start(problem) if Z0 is None else Z0, jnp.float64) * sqrt_n[None, :]
    beta0 = jnp.sqrt(N) * (jnp.zeros(K) if b0 is None or problem.bias == "none" else jnp.asarray(b0, jnp.float64))
    Y, beta, k = _fista(problem.loss, problem.bias)(Y0, beta0, sqrt_n, N, c, lambda_b, tol, max_iter)
    lb, primal = _dual_bound_at(problem.loss, problem.bias, Y, beta, sqrt_n, N, c, lambda_b)
    steps = 0
    if 2 * K * K + K <= NEWTON_MAX_PARAMS:  # the size up to which ufm.newton polishes UFM solves
        # FISTA's certified gap bounds the value, not the point: along weak curvature (the squared error's free
        # bias, small weight decay) a relative gap of 1e-12 left W Hbar 7e-7 off, and at small weight decay FISTA
        # stalls (the loss flattens where the optimal logits sit). Newton steps on the factorised form finish
        # it; their point is kept unless its value is above FISTA's beyond rounding, and the bound is the
        # larger of the two (both are rigorous: where the bound is limited by rounding, e.g. the squared error at
        # small weight decay, either may be the better one)
        Yr, br, steps = refine(problem, Y, beta)
        lb_r, primal_r = _dual_bound_at(problem.loss, problem.bias, Yr, br, sqrt_n, N, c, lambda_b)
        if float(primal_r) <= float(primal) + 4 * np.finfo(float).eps * abs(float(primal)):
            Y, beta, lb, primal = Yr, br, jnp.maximum(lb, lb_r), primal_r
        else:
            steps = 0
    s = np.linalg.svd(np.asarray(Y), compute_uv=False)
    rank = int(np.sum(s > max(K, 1) * np.finfo(float).eps * max(s[0], 1e-300))) if s[0] > 0 else 0
    gap = float(primal - lb)
    return ConvexResult(Z=np.asarray(Y) / np.asarray(sqrt_n)[None, :], b=np.asarray(beta) / np.sqrt(N),
                        value=float(primal), lower_bound=float(lb), gap=gap, rank=rank, iterations=int(k),
                        converged=bool(gap <= tol * max(abs(float(primal)), F_FLOOR)), newton_steps=steps)


#: relative stationarity the refinement aims at (``ufm.newton.polish`` then goes on while its steps still move
#: the point): far below the UFM solver's default 1e-11, since the oracle is what the solver is checked against
REFINE_GTOL = 1e-14


@functools.lru_cache(maxsize=16)
def _factorised(loss: str, bias: str):
    """The convex program in factorised form, F(A, B, beta) = f(A B^T, beta) + c/2 (||A||^2 + ||B||^2) (A, B:
    K x K; ``beta`` absent for bias "none"): smooth, and min F = P, since c ||Y||_* = min over A B^T = Y of
    c/2 (||A||^2 + ||B||^2) (the variational form of the nuclear norm; attained at A = U S^1/2, B = V S^1/2)."""
    def F(params, data):
        Y = params["A"] @ params["B"].T
        beta = params["beta"] if "beta" in params else jnp.zeros(Y.shape[0], Y.dtype)
        return (_smooth(loss, bias, Y, beta, data["sqrt_n"], data["N"], data["lambda_b"])
                + data["c"] / 2 * (jnp.sum(params["A"] ** 2) + jnp.sum(params["B"] ** 2)))

    return F


def refine(problem: Problem, Y, beta, max_steps: int = 20) -> tuple:
    """Newton steps (``ufm.newton.polish``) on the factorised form of the program (:func:`_factorised`), from
    Y = U S V^T split as A = U S^1/2, B = V S^1/2. Returns (Y, beta, steps). At small weight decay FISTA's
    relative gap stalls (2.4e-5 after 200,000 steps at lambda = 2.4e-7, imbalanced CE), and where FISTA
    converges its point is only as good as the gap allows along weak curvature (the squared error's free bias:
    W Hbar 7e-7 off at a relative gap of 1e-12); these steps take both to rounding (gap 2e-15, W Hbar equal to
    the closed forms to 1e-14) in at most a few dozen Hessians of 2 K^2 + K parameters. The certificate is the
    dual bound at the result, as for FISTA's point."""
    sqrt_n, N, c, lambda_b = _arrays(problem)
    U, s, Vt = np.linalg.svd(np.asarray(Y, np.float64))
    params = {"A": U * np.sqrt(s), "B": Vt.T * np.sqrt(s)}
    if problem.bias != "none":
        params["beta"] = np.asarray(beta, np.float64)
    data = {"sqrt_n": sqrt_n, "N": jnp.asarray(N), "c": jnp.asarray(c), "lambda_b": jnp.asarray(lambda_b)}
    run, _ = polish(_factorised(problem.loss, problem.bias), params, data, gtol=REFINE_GTOL, max_steps=max_steps)
    out = run.params
    beta = out["beta"] if "beta" in out else np.zeros(problem.K)
    return jnp.asarray(out["A"] @ out["B"].T), jnp.asarray(beta), int(run.iterations)


def lift(problem: Problem, Z, b=None) -> dict:
    """Full one-layer UFM parameters attaining the convex objective at ``Z``: with Z D^{1/2} = U S V^T,
    W = (lambda_H/lambda_W)^{1/4} U S^{1/2} Q^T and Hbar = (lambda_W/lambda_H)^{1/4} Q S^{1/2} V^T D^{-1/2}
    (balanced: lambda_W ||W||^2 = lambda_H ||Hbar D^{1/2}||^2 = c ||Z D^{1/2}||_*), features at the class
    means; Q = the first r columns of the identity of R^d (needs rank r <= d). Returns a parameter pytree."""
    from ufm.objective import params_from_arrays

    _check(problem)
    n = np.asarray(problem.counts, float)
    Y = np.asarray(Z) * np.sqrt(n)[None, :]
    U, s, Vt = np.linalg.svd(Y)
    r = int(np.sum(s > problem.K * np.finfo(float).eps * max(s[0], 1e-300))) if s[0] > 0 else 0
    if r > problem.d:
        raise ProblemError("d", f"the convex optimum has rank {r} > d = {problem.d}: no UFM point attains it")
    ratio = (problem.lambda_H / problem.lambda_W[0]) ** 0.25
    W = np.zeros((problem.K, problem.d))
    Hbar = np.zeros((problem.d, problem.K))
    W[:, :r] = ratio * U[:, :r] * np.sqrt(s[:r])
    Hbar[:r, :] = (np.sqrt(s[:r])[:, None] * Vt[:r, :]) / np.sqrt(n)[None, :] / ratio
    H = Hbar[:, problem.labels()]
    return params_from_arrays(problem, [W], H, None if problem.bias == "none" else np.asarray(b))
