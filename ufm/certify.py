"""How sure is a solve? Convex certificates, reduced-problem global search, second-order checks.

Random restarts of the full UFM are weak evidence: for deep CE (theory.md section 3) a large share of
restarts stop at the simplex-ETF value, which is not the global optimum. This module adds:

1. **Convex certificate** (M = 1, CE/MSE, any counts, every bias mode): ``ufm.convex`` gives a rigorous
   lower bound; ``gap = objective - lower_bound`` certifies the optimum when it is below tolerance
   (and the convex optimum has rank <= d; for d < K the bound may not be attained -- reported).
2. **Reduced-problem global search** (any M): by the master reduction (theory.md section 0) the UFM optimum
   equals the minimum over class-mean logits Z (K x K) of
       R(Z, b) = sum_k (n_k/N) l(z_k + b, e_k) + ((M+1)/2) Lambda sum_i sigma_i(Z D^{1/2})^{2/(M+1)} [+ bias],
   Lambda = (lambda_H prod_m lambda_m)^{1/(M+1)}. We search it in its smooth factored form
   Z D^{1/2} = W_M ... W_1 Htilde (factors of width r = min(d, K): the collapsed UFM, whose minimum over
   balanced factorisations equals the Schatten term exactly) from many starts: random, random low rank,
   simplex ETF, and paired / block class structures (the low-rank solutions of Garrod & Keating 2024) at
   several scales. The best point is lifted to full parameters (layers padded to width d, every feature at
   its class mean: the full objective is identical) and polished by the full solver.
3. **Second-order check**: the extreme eigenvalues of the Hessian of the full objective by Lanczos on
   Hessian-vector products (forward-over-reverse, jax.jvp of jax.grad), restricted to the orthogonal
   complement of the exact symmetry directions (rotations Q of every hidden space:
   W_{m+1} -> W_{m+1} Q^T, W_m -> Q W_m, whose tangents give exact zero eigenvalues).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ufm import losses
from ufm import objective as obj
from ufm.problem import Problem, ProblemError
from ufm.solution import Solution
from ufm.solve import SolverOptions, minimize, solve

#: relative tolerance under which a gap certifies the optimum and two objective values are equal.
CERT_RTOL = 1e-8


# ============================================================================ reduced problem
def reduced_width(problem: Problem) -> int:
    return min(problem.d, problem.K)


def search_applicable(problem: Problem) -> tuple[bool, str]:
    """The reduced search needs a learnable classifier and one-hot targets."""
    if problem.classifier_fixed:
        return False, "fixed classifier: the master reduction does not apply"
    if problem.samples is not None:
        return False, "sample design (e.g. mixup): the reduced problem assumes one-hot class targets"
    return True, ""


@functools.lru_cache(maxsize=16)
def _collapsed_objective(loss: str, bias: str):
    """The UFM objective restricted to collapsed features, in the factored reduced variables:
    params {"W": (W_1..W_M), "H": Htilde (r x K), "b"}, logits z_k = W_M..W_1 htilde_k / sqrt(n_k) + b."""
    loss_obj = losses.get(loss)

    def f(params, data):
        Z = params["H"] / jnp.sqrt(data["n"])[None, :]
        for W in params["W"]:
            Z = W @ Z
        if "b" in params:
            Z = Z + params["b"][:, None]
        K = Z.shape[0]
        value = jnp.sum(data["n"] / jnp.sum(data["n"]) * loss_obj.per_sample(Z, jnp.eye(K)))
        return value + obj.penalty(params, data, bias)

    return f


def _reduced_data(problem: Problem) -> dict:
    return {"n": np.asarray(problem.counts, float), "lambda_W": np.asarray(problem.lambda_W, float),
            "lambda_H": np.float64(problem.lambda_H), "lambda_b": np.float64(problem.lambda_b)}


def schatten_value(problem: Problem, Z, b=None) -> float:
    """R(Z, b) of the master reduction (module docstring) at class-mean logits Z (K x K) and bias b."""
    n = np.asarray(problem.counts, float)
    M = problem.depth
    K = problem.K
    logits = np.asarray(Z) + (0 if b is None else np.asarray(b)[:, None])
    value = float(np.sum(n / n.sum() * np.asarray(losses.get(problem.loss).per_sample(
        jnp.asarray(logits), jnp.eye(K)))))
    lam = (problem.lambda_H * np.prod(problem.lambda_W)) ** (1 / (M + 1))
    s = np.linalg.svd(np.asarray(Z) * np.sqrt(n)[None, :], compute_uv=False)
    # rounding-level singular values (exact zeros of a rank-deficient Z) would add (1e-16)^{2/(M+1)}
    s = s[s > K * np.finfo(float).eps * s[0]] if s.size and s[0] > 0 else s[:0]
    value += (M + 1) / 2 * lam * np.sum(s ** (2 / (M + 1)))
    if problem.bias == "regularized" and b is not None:
        value += 0.5 * problem.lambda_b * float(np.sum(np.asarray(b) ** 2))
    return value


def factor_logits(problem: Problem, Z, b=None) -> dict:
    """Balanced factorisation of Z D^{1/2} = U S V^T into reduced parameters (width r): every factor carries
    S^{1/(M+1)}, scaled by alpha_j = (Lambda/lambda_j)^{1/2} so that lambda_j ||A_j||^2 are equal and
    prod alpha_j = 1. Ranks above r are truncated."""
    n = np.asarray(problem.counts, float)
    M, K, r = problem.depth, problem.K, reduced_width(problem)
    U, s, Vt = np.linalg.svd(np.asarray(Z, float) * np.sqrt(n)[None, :])
    U, s, Vt = U[:, :r], s[:r], Vt[:r, :]
    lams = [problem.lambda_H, *problem.lambda_W]
    Lam = np.prod(lams) ** (1 / (M + 1))
    alpha = [np.sqrt(Lam / lam) for lam in lams]
    root = s ** (1 / (M + 1))
    H = alpha[0] * root[:, None] * Vt
    Ws = [alpha[m] * np.diag(root) for m in range(1, M)] + [alpha[M] * U * root[None, :]]
    params = {"W": tuple(Ws), "H": H}
    if problem.bias != "none":
        params["b"] = np.zeros(K) if b is None else np.asarray(b, float)
    return params


def structured_logits(problem: Problem, scales=(1.0, 3.0, 8.0)) -> list:
    """Named structured starting points for Z (K x K class-mean logits): simplex ETF a (I - J/K);
    orthogonal frame a I (Dang et al. 2023's MSE geometry) and the frame with the m smallest classes set to 0
    (minority collapse; for balanced counts any m classes, by symmetry), m = 1..K-1 (12 values spread
    geometrically when K > 12); classes paired (own +beta, partner -beta, others 0; Garrod & Keating 2024);
    blocks of 3 classes; and Z = 0 (every class off: the optimum of deep models at large lambda, a stationary
    point random starts only reach by chance). Scales are relative to the loss (MSE targets are 1)."""
    K = problem.K
    starts = [("zero", np.zeros((K, K)))]
    order = np.argsort(problem.counts, kind="stable")
    offs = range(1, K) if K <= 12 else sorted({int(m) for m in np.geomspace(1, K - 1, 12)})
    if problem.loss in ("mse", "mixup-mse"):
        scales = tuple(min(a, 1.0) * 0.9 for a in scales) + (0.5,)
    for a in scales:
        starts.append(("etf", a * (np.eye(K) - np.ones((K, K)) / K)))
        starts.append(("frame", a * np.eye(K)))
        for m in offs:  # minority collapse: frames with the m smallest classes switched off
            mask = np.ones(K)
            mask[order[:m]] = 0.0
            starts.append((f"frame-{m}-minority-off", a * np.diag(mask)))
        for g in (2, 3):
            if K < g + 1 and g == 3:
                continue
            Z = np.zeros((K, K))
            for start in range(0, K, g):
                block = list(range(start, min(start + g, K)))
                for k in block:
                    Z[k, k] = a
                    for j in block:
                        if j != k:
                            Z[j, k] = -a / max(len(block) - 1, 1)
            starts.append(("paired" if g == 2 else "blocks3", Z))
    return starts


def reduced_search(problem: Problem, *, restarts: int = 16, seed: int = 0, init_scale: float = 1.0,
                   polish: bool = True, options: Optional[SolverOptions] = None, progress=None) -> Solution:
    """Global search on the reduced problem (module docstring), lifted to a full :class:`Solution`.

    Starts: every :func:`structured_logits` start, ``restarts`` random starts (half full-rank Gaussian
    factors of scale ``init_scale``, half random low-rank Z of ranks 1..K-1), all minimised by L-BFGS in
    float64. The best is lifted and (``polish=True``) polished by the full solver. In the returned Solution,
    ``restart_objectives`` are the final objectives of all reduced starts (comparable with full solves: the
    collapsed objective equals the full one at lifted points) and ``certificate["search"]`` names the start
    that won.
    """
    ok, why = search_applicable(problem)
    if not ok:
        raise ProblemError("problem", f"reduced search not applicable: {why}")
    options = options or SolverOptions()
    rng = np.random.default_rng(seed)
    K, r, M = problem.K, reduced_width(problem), problem.depth
    starts = [(name, factor_logits(problem, Z)) for name, Z in structured_logits(problem)]
    for i in range(restarts):
        if i % 2 == 0:
            p = {"W": tuple(init_scale * rng.standard_normal(s) / np.sqrt(s[1])
                            for s in [(r, r)] * (M - 1) + [(K, r)]),
                 "H": init_scale * rng.standard_normal((r, K))}
            if problem.bias != "none":
                p["b"] = np.zeros(K)
            starts.append(("random", p))
        elif i % 4 == 3:  # random positive diagonal: orthogonal frames of unequal lengths (imbalanced MSE)
            starts.append(("diagonal", factor_logits(problem, np.diag(rng.uniform(0.2, 1.0, K)) * init_scale)))
        else:
            rank = 1 + (i // 2) % max(K - 1, 1)
            Z = rng.standard_normal((K, rank)) @ rng.standard_normal((rank, K)) * init_scale * 3 / np.sqrt(rank)
            starts.append((f"lowrank{rank}", factor_logits(problem, Z)))
    f = _collapsed_objective(problem.loss, problem.bias)
    data = _reduced_data(problem)
    runs = []
    for i, (name, x0) in enumerate(starts):
        runs.append((name, *minimize(f, x0, data, options)))
        if progress is not None:
            progress(i + 1, len(starts), runs[-1][2])
    values = np.array([run[2] for run in runs])
    finite = [i for i, run in enumerate(runs) if run[5] != "diverged" and np.isfinite(run[2])]
    best = min(finite, key=lambda i: values[i])
    name, params, value, gnorm, iters, status = runs[best]
    lifted = lift_reduced(problem, params)
    if polish:
        sol = solve(problem, options, init=lifted)
    else:
        sol = Solution.from_runs(problem, [(lifted, value, gnorm, iters, status)], method="reduced-search")
    reduced = {"start": name, "reduced_value": float(value), "n_starts": len(runs),
               "distinct_values": _distinct(values[finite])}
    return dataclasses.replace(sol, restart_objectives=values, restart_statuses=tuple(run[5] for run in runs),
                               restart_grad_norms=np.array([run[3] for run in runs]),
                               restart_iterations=np.array([run[4] for run in runs]),
                               method="reduced-search+" + sol.method,
                               certificate={**(sol.certificate or {}), "search": reduced})


def lift_reduced(problem: Problem, params: dict) -> dict:
    """Full UFM parameters from reduced ones: hidden width r padded with zeros to d, features at the class
    means hbar_k = htilde_k / sqrt(n_k). The full objective equals the collapsed one exactly."""
    d, r, K = problem.d, reduced_width(problem), problem.K
    n = np.asarray(problem.counts, float)
    Ws = []
    for m, W in enumerate(params["W"]):
        W = np.asarray(W)
        full = np.zeros((d, d) if m < problem.depth - 1 else (K, d))
        full[: W.shape[0], : W.shape[1]] = W
        Ws.append(full)
    Hbar = np.zeros((d, K))
    Hbar[:r, :] = np.asarray(params["H"]) / np.sqrt(n)[None, :]
    return obj.params_from_arrays(problem, Ws, Hbar[:, problem.labels()], params.get("b"))


def _distinct(values, rtol=CERT_RTOL) -> list:
    out = []
    for v in sorted(float(x) for x in values):
        if out and abs(v - out[-1][0]) <= rtol * max(1.0, abs(out[-1][0])):
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return [{"value": v, "count": c} for v, c in out]


# ============================================================================ second order
def _symmetry_basis(problem: Problem, params: dict) -> np.ndarray:
    """Orthonormal basis (columns) of the tangent space of the exact symmetries at ``params``: for each
    hidden space m (features, then the outputs of W_1..W_{M-1}) and skew A: W_m -> A W_m (or H -> A H for
    the feature space) and W_{m+1} -> -W_{m+1} A; and, for CE with a free bias, b -> b + t 1.
    Zero tangents (e.g. at W = H = 0) are dropped."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    Ws = list(params["W"])
    learnable = len(Ws)
    d = problem.d
    vecs = []
    spaces = problem.depth if not problem.classifier_fixed else problem.depth - 1
    for m in range(spaces):  # hidden space m: input of layer m+1 (0: features)
        for i in range(d):
            for j in range(i + 1, d):
                A = np.zeros((d, d))
                A[i, j], A[j, i] = 1.0, -1.0
                tangent = jax.tree_util.tree_map(jnp.zeros_like, params)
                Wt = [jnp.zeros_like(W) for W in Ws]
                if m == 0:
                    Ht = A @ params["H"]
                else:
                    Ht = tangent["H"]
                    Wt[m - 1] = A @ Ws[m - 1]
                if m < learnable:
                    Wt[m] = -Ws[m] @ A
                tangent = {**tangent, "W": tuple(Wt), "H": Ht}
                vecs.append(np.asarray(jax.flatten_util.ravel_pytree(tangent)[0]))
    if problem.bias == "free" and problem.loss in ("ce", "mixup-ce"):
        # softmax is invariant to adding a constant to every logit: b -> b + t 1 is an exact symmetry
        tangent = jax.tree_util.tree_map(jnp.zeros_like, params)
        tangent = {**tangent, "b": jnp.ones_like(params["b"])}
        vecs.append(np.asarray(jax.flatten_util.ravel_pytree(tangent)[0]))
    if not vecs:
        return np.zeros((flat.size, 0))
    T = np.stack(vecs, axis=1)
    U, s, _ = np.linalg.svd(T, full_matrices=False)
    keep = s > 1e-10 * max(s[0], 1e-300) if s.size and s[0] > 1e-12 else np.zeros(s.shape, bool)
    return U[:, keep]


def second_order(solution: Solution, *, steps: int = 120, seed: int = 0, rtol: float = 1e-6) -> dict:
    """Extreme Hessian eigenvalues of the full objective at ``solution`` modulo rotation symmetries, by
    Lanczos (full reorthogonalisation) on Hessian-vector products. Verdict: ``"minimum"`` (lambda_min >
    rtol * lambda_max), ``"saddle"`` (lambda_min < -rtol * lambda_max) or ``"degenerate"`` (in between)."""
    problem = solution.problem
    params = solution.params()
    data = obj.problem_data(problem)
    f = obj.make_objective(problem.loss, problem.bias)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    grad = jax.grad(lambda x: f(unravel(x), data))
    hvp = jax.jit(lambda v: jax.jvp(grad, (flat,), (v,))[1])
    B = _symmetry_basis(problem, params)

    def project(v):
        return v - B @ (B.T @ v) if B.shape[1] else v

    n = flat.size - B.shape[1]
    k = int(min(steps, n))
    rng = np.random.default_rng(seed)
    q = project(rng.standard_normal(flat.size))
    q /= np.linalg.norm(q)
    Q = [q]
    alphas, betas = [], []
    for i in range(k):
        w = project(np.asarray(hvp(jnp.asarray(Q[-1]))))
        a = float(Q[-1] @ w)
        alphas.append(a)
        Qm = np.stack(Q, axis=1)
        w = w - Qm @ (Qm.T @ w)
        w = w - Qm @ (Qm.T @ w)  # twice is enough (Kahan)
        w = project(w)
        b = float(np.linalg.norm(w))
        if b < 1e-12 * max(1.0, abs(a)) or i == k - 1:
            break
        betas.append(b)
        Q.append(w / b)
    T = np.diag(alphas) + np.diag(betas[: len(alphas) - 1], 1) + np.diag(betas[: len(alphas) - 1], -1)
    ev = np.linalg.eigvalsh(T)
    lo, hi = float(ev[0]), float(ev[-1])
    scale = max(abs(hi), abs(lo), 1e-300)
    verdict = "minimum" if lo > rtol * scale else ("saddle" if lo < -rtol * scale else "degenerate")
    return {"verdict": verdict, "min_eigenvalue": lo, "max_eigenvalue": hi, "lanczos_steps": len(alphas),
            "symmetry_dimensions": int(B.shape[1]), "parameters": int(flat.size)}


# ============================================================================ certify
def certify(solution: Solution, *, search: Optional[bool] = None, hessian: bool = True,
            search_restarts: int = 16, seed: int = 0, rtol: float = CERT_RTOL) -> Solution:
    """Attach a certificate to ``solution`` (returns a new Solution; a better point found replaces it).

    ``certificate`` keys: ``lower_bound``, ``gap``, ``certified`` (M = 1 convex certificate; for d < K
    ``bound_attained`` says whether the convex optimum has rank <= d), ``search`` (reduced search result,
    by default for depth > 1), ``improved_by`` when a certificate step found a lower objective,
    ``distinct_objectives`` across restarts, ``second_order`` (Hessian verdict).
    """
    from ufm import convex

    problem = solution.problem
    cert = dict(solution.certificate or {})
    tol = rtol * max(1.0, abs(solution.objective))
    cert["distinct_objectives"] = [{"value": v, "count": c} for v, c in solution.distinct_objectives()]
    convex_ok = (problem.depth == 1 and problem.loss in convex.SUPPORTED_LOSSES and not problem.classifier_fixed
                 and problem.samples is None)
    if convex_ok:
        Z0 = solution.product() @ solution.class_means()
        res = convex.solve_convex(problem, Z0=Z0, b0=solution.bias)
        attained = res.rank <= problem.d
        if attained and res.value < solution.objective - tol:
            better = solve(problem, init=convex.lift(problem, res.Z, res.b))
            cert["improved_by"] = {"step": "convex", "from": solution.objective, "to": better.objective}
            solution = _keep_runs(better, solution)
        cert["lower_bound"] = res.lower_bound
        cert["gap"] = solution.objective - res.lower_bound
        cert["bound_attained"] = attained
        cert["certified"] = bool(attained and cert["gap"] <= tol)
    else:
        cert["certified"] = False
        cert["why_not_certified"] = ("no convex reformulation for depth > 1" if problem.depth > 1 else
                                     "no convex reformulation for this loss / classifier / sample design")
    if search is None:
        search = problem.depth > 1
    if search and search_applicable(problem)[0]:
        found = reduced_search(problem, restarts=search_restarts, seed=seed)
        cert["search"] = {**found.certificate["search"], "polished_objective": found.objective}
        if found.objective < solution.objective - tol:
            cert["improved_by"] = {"step": "reduced search", "from": solution.objective, "to": found.objective}
            solution = _keep_runs(found, solution)
    if hessian:
        cert["second_order"] = second_order(solution)
    return dataclasses.replace(solution, certificate=cert)


def _keep_runs(better: Solution, original: Solution) -> Solution:
    """``better``'s point with ``original``'s restart record (so the basins the user's restarts found stay
    visible) plus the better value appended."""
    return dataclasses.replace(
        better,
        restart_objectives=np.append(original.restart_objectives, better.objective),
        restart_statuses=tuple(original.restart_statuses) + (better.status,),
        restart_grad_norms=np.append(original.restart_grad_norms, better.grad_norm),
        restart_iterations=np.append(original.restart_iterations, better.iterations))
