"""The master reduction of the linear UFM (docs/theory.md section 3) and the global search built on it.

By the master reduction the UFM optimum equals the minimum over class-mean logits Z (K x K) of

    R(Z, b) = sum_k (n_k/N) l(z_k + b, e_k) + ((M+1)/2) Lambda sum_i sigma_i(Z D^{1/2})^{2/(M+1)} [+ bias term],
    Lambda = (lambda_H prod_m lambda_m)^{1/(M+1)},  D = diag(n)

(:func:`schatten_value`). It is searched in its smooth factored form Z D^{1/2} = W_M ... W_1 Htilde: the
class-reduced objective of ``ufm.objective`` (docs/theory.md section 4) at hidden width r = min(d, K)
(every factor r x r, Htilde r x K), whose minimum over balanced factorisations equals the Schatten term
exactly. :func:`reduced_search` minimises it from many starts -- random, random low rank, simplex ETF,
orthogonal frames with minority classes switched off, paired / block class structures (the low-rank
solutions of Garrod & Keating 2024) at several scales, and Z = 0 -- and returns the best point padded to
width d (:func:`pad`), ready to be polished by ``ufm.solver``.

Hypotheses: linear layers, a learnable classifier and one-hot class targets
(:data:`ufm.hypotheses.MASTER_REDUCTION`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax.numpy as jnp
import numpy as np

from ufm import losses
from ufm import objective as obj
from ufm.errors import ProblemError
from ufm.hypotheses import MASTER_REDUCTION
from ufm.loop import LoopOptions, distinct_values, minimize_starts


def geometric_mean(values) -> float:
    """(prod values)^(1/len) computed in logarithms (no overflow at weight decay 1e300, no underflow at 1e-300);
    0 when a value is 0."""
    v = np.asarray(values, float)
    return 0.0 if np.any(v <= 0) else float(np.exp(np.mean(np.log(v))))


#: the largest K the global search takes on: it keeps about 50 structured K x K starting points and runs
#: a full L-BFGS solve of the K x K problem from each (at K = 2048 the starts alone are 1.6 GB)
MAX_CLASSES = 2048


def applicable(problem) -> tuple[bool, str]:
    """Whether the master reduction applies to ``problem`` and :func:`reduced_search` can run on it
    (K <= :data:`MAX_CLASSES`), with the reason when not."""
    ok, why = MASTER_REDUCTION(problem)
    if ok and problem.K > MAX_CLASSES:
        return False, (f"K = {problem.K} classes is more than the global search takes on (ufm.reduced.MAX_CLASSES "
                       f"= {MAX_CLASSES}: about 50 structured K x K starts, each a full solve)")
    return ok, why


def width(problem) -> int:
    """Hidden width r = min(d, K) of the reduced search."""
    return min(problem.d, problem.K)


def schatten_value(problem, Z, b=None) -> float:
    """R(Z, b) of the master reduction (module docstring) at class-mean logits Z (K x K) and bias b."""
    n = np.asarray(problem.counts, float)
    M = problem.depth
    K = problem.K
    logits = np.asarray(Z) + (0 if b is None else np.asarray(b)[:, None])
    value = float(np.sum(n / n.sum() * np.asarray(losses.get(problem.loss).per_sample(
        jnp.asarray(logits), jnp.eye(K)))))
    lam = geometric_mean([problem.lambda_H, *problem.lambda_W])
    s = np.linalg.svd(np.asarray(Z) * np.sqrt(n)[None, :], compute_uv=False)
    # rounding-level singular values (exact zeros of a rank-deficient Z) would add (1e-16)^{2/(M+1)}
    s = s[s > K * np.finfo(float).eps * s[0]] if s.size and s[0] > 0 else s[:0]
    value += (M + 1) / 2 * lam * np.sum(s ** (2 / (M + 1)))
    if problem.bias == "regularized" and b is not None:
        value += 0.5 * problem.lambda_b * float(np.sum(np.asarray(b) ** 2))
    return value


def factor_logits(problem, Z, b=None, r: Optional[int] = None) -> dict:
    """Balanced factorisation of Z D^{1/2} = U S V^T into reduced parameters of width r (default
    :func:`width`): every factor carries S^{1/(M+1)}, scaled by alpha_j = (Lambda/lambda_j)^{1/2} so that the
    lambda_j ||A_j||^2 are equal and prod alpha_j = 1. Ranks above r are truncated."""
    n = np.asarray(problem.counts, float)
    M, K = problem.depth, problem.K
    r = width(problem) if r is None else r
    U, s, Vt = np.linalg.svd(np.asarray(Z, float) * np.sqrt(n)[None, :])
    U, s, Vt = U[:, :r], s[:r], Vt[:r, :]
    lams = [problem.lambda_H, *problem.lambda_W]
    if any(lam <= 0 for lam in lams):  # no decay: any factorisation costs nothing, use the plain balanced one
        lams = [1.0] * (M + 1)
    Lam = geometric_mean(lams)
    alpha = [np.sqrt(Lam / lam) for lam in lams]
    root = s ** (1 / (M + 1))
    H = alpha[0] * root[:, None] * Vt
    Ws = [alpha[m] * np.diag(root) for m in range(1, M)] + [alpha[M] * U * root[None, :]]
    params = {"W": tuple(Ws), "H": H}
    if problem.bias != "none":
        params["b"] = np.zeros(K) if b is None else np.asarray(b, float)
    return params


def pad(problem, params: dict) -> dict:
    """Reduced parameters of width r <= d padded with zeros to width d (the reduced coordinates of
    ``ufm.objective``; the objective is unchanged)."""
    d, K = problem.d, problem.K
    Ws = []
    for m, W in enumerate(params["W"]):
        W = np.asarray(W)
        full = np.zeros((d, d) if m < problem.depth - 1 else (K, d))
        full[: W.shape[0], : W.shape[1]] = W
        Ws.append(full)
    H = np.zeros((d, K))
    H[: np.shape(params["H"])[0], :] = np.asarray(params["H"])
    out = {"W": tuple(Ws), "H": H}
    if "b" in params:
        out["b"] = np.asarray(params["b"], float)
    return out


def rebalance(problem, params: dict) -> dict:
    """The same product of the learnable factors, balanced (docs/theory.md section 3): with P = W_L ... W_1 H
    (L learnable layers, the fixed classifier excluded) = U S V^T (computed through thin QR factorisations of
    the layers' product and of H, never forming P), the factors become
    H = a_0 S^{1/(L+1)} V^T, W_m = a_m S^{1/(L+1)} (m < L), W_L = a_L U S^{1/(L+1)} (padded to width d),
    a_j = (Lambda / lambda_j)^{1/2}: the minimum of sum_j lambda_j/2 ||A_j||^2 over factorisations of P
    (AM-GM). The loss, which sees only the product (linear layers), does not change; the penalty can only go
    down. At small weight decay the balancing directions have curvature ~lambda beside curvatures ~1, so
    first-order methods take thousands of iterations to find this minimum; here it is exact. Works in full
    and class-reduced coordinates (H: d x C)."""
    d = problem.d
    Ws = [np.asarray(W, float) for W in params["W"]]
    L = len(Ws)
    if L == 0:
        return params
    H = np.asarray(params["H"], float)
    A = Ws[0]
    for W in Ws[1:]:
        A = W @ A  # a x d, a = K or d: the product of the learnable layers
    lams = [problem.lambda_H, *problem.lambda_W[:L]]
    if any(lam <= 0 for lam in lams):
        lams = [1.0] * (L + 1)
    Lam = geometric_mean(lams)
    alpha = [np.sqrt(Lam / lam) for lam in lams]
    # the SVD of P = A H through thin QRs (P itself, a x C, is never formed: cost O((a + C) d^2))
    Qa, Ra = np.linalg.qr(A)
    Qh, Rh = np.linalg.qr(H.T)
    Uc, s, Vct = np.linalg.svd(Ra @ Rh.T)
    U, Vt = Qa @ Uc, (Qh @ Vct.T).T
    r = min(s.size, d)
    U, s, Vt = U[:, :r], s[:r], Vt[:r, :]
    root = s ** (1 / (L + 1))
    newH = np.zeros_like(H)
    newH[:r] = alpha[0] * root[:, None] * Vt
    newWs = []
    for m in range(1, L + 1):
        W = np.zeros_like(Ws[m - 1])
        if m < L:
            W[:r, :r] = alpha[m] * np.diag(root)
        else:
            W[:, :r] = alpha[m] * U * root[None, :]
        newWs.append(W)
    return {**params, "W": tuple(newWs), "H": newH}


def lift_logits(problem, Z, b=None) -> dict:
    """Full UFM parameters realising class-mean logits Z with the balanced factorisation (features at their
    class means): :func:`factor_logits`, :func:`pad`, then ``ufm.objective.lift``."""
    return obj.lift(problem, pad(problem, factor_logits(problem, Z, b)))


def structured_logits(problem, scales=(1.0, 3.0, 8.0)) -> list:
    """Named structured starting points for Z (K x K class-mean logits): simplex ETF a (I - J/K);
    orthogonal frame a I (Dang et al. 2023's MSE geometry) and the frame with the m smallest classes set to 0
    (minority collapse; for balanced counts any m classes, by symmetry), m = 1..K-1 (12 values spread
    geometrically when K > 12); classes paired (own +beta, partner -beta, others 0; Garrod & Keating 2024);
    blocks of 3 classes; and Z = 0 (every class off: the optimum of deep models at large lambda, a stationary
    point random starts only reach by chance). For a loss that attains its minimum (MSE: optimal logits of
    the targets' scale, at most 1) the scales are capped at 0.9 and 0.5 is added."""
    K = problem.K
    starts = [("zero", np.zeros((K, K)))]
    order = np.argsort(problem.counts, kind="stable")
    offs = range(1, K) if K <= 12 else sorted({int(m) for m in np.geomspace(1, K - 1, 12)})
    if losses.get(problem.loss).attains_minimum:
        scales = tuple(min(a, 1.0) * 0.9 for a in scales) + (0.5,)
    for a in scales:
        starts.append(("etf", a * (np.eye(K) - np.ones((K, K)) / K)))
        starts.append(("frame", a * np.eye(K)))
        for m in offs:
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


class SearchResult(NamedTuple):
    """What :func:`reduced_search` returns: ``params`` the best point in reduced coordinates of width d
    (``ufm.objective`` with ``reduce=True``), ``objective`` its value (equal to the full objective at the
    lifted point), ``start`` the name of the start that won, and ``runs`` [(start name, :class:`Run`)] of
    every start (runs at width r)."""

    params: dict
    objective: float
    start: str
    runs: list

    def distinct_values(self) -> list:
        return [{"value": v, "count": c} for v, c in distinct_values(
            [run.objective for _, run in self.runs if run.status != "diverged"])]

    def summary(self) -> dict:
        return {"start": self.start, "reduced_value": self.objective, "n_starts": len(self.runs),
                "distinct_values": self.distinct_values()}


def search_starts(problem, restarts: int, seed: int, init_scale: float = 1.0) -> list:
    """The starts of :func:`reduced_search` as [(name, params of width r)]: every :func:`structured_logits`
    start and ``restarts`` random ones (alternating full-rank Gaussian factors of scale ``init_scale``, random
    low-rank Z of ranks 1..K-1, and random positive diagonals: orthogonal frames of unequal lengths)."""
    rng = np.random.default_rng(seed)
    K, r, M = problem.K, width(problem), problem.depth
    starts = [(name, factor_logits(problem, Z)) for name, Z in structured_logits(problem)]
    for i in range(restarts):
        if i % 2 == 0:
            p = {"W": tuple(init_scale * rng.standard_normal(s) / np.sqrt(s[1])
                            for s in [(r, r)] * (M - 1) + [(K, r)]),
                 "H": init_scale * rng.standard_normal((r, K))}
            if problem.bias != "none":
                p["b"] = np.zeros(K)
            starts.append(("random", p))
        elif i % 4 == 3:
            starts.append(("diagonal", factor_logits(problem, np.diag(rng.uniform(0.2, 1.0, K)) * init_scale)))
        else:
            rank = 1 + (i // 2) % max(K - 1, 1)
            Z = rng.standard_normal((K, rank)) @ rng.standard_normal((rank, K)) * init_scale * 3 / np.sqrt(rank)
            starts.append((f"lowrank{rank}", factor_logits(problem, Z)))
    return starts


def reduced_search(problem, *, restarts: int = 16, seed: int = 0, init_scale: float = 1.0,
                   loop: LoopOptions = LoopOptions(), max_iter: int = 20000, gtol: float = 1e-11,
                   progress=None) -> SearchResult:
    """Global search on the reduced problem (module docstring). Every start of :func:`search_starts` is
    minimised by the loop of ``ufm.loop`` in float64; the best (lowest finite objective) is returned padded
    to width d. ``progress(done, total, objective)`` is called after each start."""
    ok, why = applicable(problem)
    if not ok:
        raise ProblemError("problem", f"the reduced search does not apply: {why}")
    starts = search_starts(problem, restarts, seed, init_scale)
    f = obj.objective_of(problem)
    data = obj.problem_data(problem, jnp.float64, reduce=True)
    runs, best = minimize_starts(f, starts, data, loop, max_iter=max_iter, gtol=gtol, progress=progress)
    name, run = runs[best]
    return SearchResult(pad(problem, run.params), run.objective, name, runs)

