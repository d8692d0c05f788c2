"""Deep linear UFM (Dang, Tran, Osher, Tran-The, Ho & Nguyen, ICML 2023), docs/theory.md sections 6 and 7.

Normalisation: Dang et al. minimise 1/(2N)||W_M..W_1 H - Y||^2 + lambda_W/2 sum ||W_m||^2 + lambda_H/2 ||H||^2,
identical to the canonical objective with loss "mse" (per-layer decays: lambda_W^M -> prod_m lambda_m).

**MSE, bias-free, any counts.** The problem splits into K scalar problems

    g_k(x) = n_k / (2N (x^M + 1)) + (M/2) lbar (N lambda_H)^{1/M} x,   x >= 0,   lbar = (prod_m lambda_m)^{1/M},

x_k = the GLOBAL argmin of g_k, optimal value sum_k g_k(x_k), (W Hbar)_kk = x_k^M / (x_k^M + 1), off-diagonal
0, and the product W = W_M..W_1 has W W^T = diag(N lambda_H x_k^M). Stationarity:
b / n_k = M x^{M-1} / (x^M + 1)^2 with b = M N lbar (N lambda_H)^{1/M}.

- M = 1: (W Hbar)_kk = (1 - N sqrt(lambda_W lambda_H / n_k))_+: class k is zeroed iff n_k <= N^2 lambda_W lambda_H.
- M >= 2: x = 0 is always a local minimum; the global optimum is non-zero iff n_k > M b / (M-1)^{(M-1)/M},
  and at that threshold (W Hbar)_kk jumps from 0 to (M-1)/M: minority collapse is discontinuous.
- The authors' public code takes the LARGEST ROOT of the stationarity equation instead of the global
  argmin: :data:`largest_root` is that rule, kept as a separate prediction (it is wrong between the
  root-existence threshold and the global threshold; ``ufm check`` shows it).

**Balanced.** Bias-free: W Hbar = rho I (orthogonal frame), rho = x^M/(x^M+1); with an unregularised bias:
b* = 1/K 1 and W Hbar = rho (I - J/K) (simplex ETF), value (K-1) g(x) instead of K g(x).

**CE (appendix theorem, as published).** For every depth M the global optimum of the balanced bias-free
deep linear CE UFM is a simplex ETF: W Hbar = a (I - J/K) with a minimising
log(1 + (K-1) e^{-a}) + ((M+1)/2) Lambda (K-1) (a sqrt(n))^{2/(M+1)} (master reduction along the ETF family).
Refuted for K >= 4, M >= 3 and K >= 6, M = 2 by Garrod & Keating 2024 (docs/theory.md section 7).
"""

from __future__ import annotations

import numpy as np

from ufm.hypotheses import requires
from ufm.reduced import geometric_mean
from ufm.scalar import grid_then_golden
from ufm.theory.base import Prediction, register

def symbols() -> tuple:
    """The positive sympy symbols x, n_k, N, lambdabar, lambda_H, b (sympy is imported by the symbolic
    functions only, not with the module)."""
    import sympy as sp

    return sp.symbols("x n_k N lambdabar lambda_H b", positive=True)


def g_expr(M: int):
    """sympy g_k(x) for depth M."""
    import sympy as sp

    x, nk, N, lbar, lH, _ = symbols()
    return nk / (2 * N * (x ** M + 1)) + sp.Rational(M, 2) * lbar * (N * lH) ** sp.Rational(1, M) * x


def b_expr(M: int):
    import sympy as sp

    x, nk, N, lbar, lH, _ = symbols()
    return M * N * lbar * (N * lH) ** sp.Rational(1, M)


def symbolic_checks(depths=(1, 2, 3)) -> dict:
    """sympy verifies: the stationarity equation; for M >= 2 that at n_k = M b/(M-1)^{(M-1)/M} the point
    x^M = M - 1 is stationary with g(x) = g(0) (the global threshold) and W Hbar jumps to (M-1)/M; for M = 1
    that g'(0) >= 0 iff n_k <= N^2 lambda_W lambda_H (continuous threshold)."""
    import sympy as sp

    x, nk, N, lbar, lH, _ = symbols()
    out = {}
    for M in depths:
        g = g_expr(M)
        b = b_expr(M)
        stat = sp.simplify(2 * N / nk * sp.diff(g, x) - (b / nk - M * x ** (M - 1) / (x ** M + 1) ** 2)) == 0
        out[f"M={M}: g'(x) = 0 <=> b/n_k = M x^(M-1)/(x^M+1)^2"] = bool(stat)
        if M == 1:
            g0 = sp.diff(g, x).subs(x, 0)
            thr = sp.solve(sp.Eq(g0, 0), nk)
            out["M=1: g'(0) = 0 exactly at n_k = N^2 lambda_W lambda_H"] = bool(
                len(thr) == 1 and sp.simplify(thr[0] - N ** 2 * lbar * lH) == 0)
        else:
            n_thr = M * b / (M - 1) ** sp.Rational(M - 1, M)
            x_thr = (M - 1) ** sp.Rational(1, M)
            gt = g.subs(nk, n_thr)
            tangent = sp.simplify(sp.diff(gt, x).subs(x, x_thr)) == 0
            equal = sp.simplify(gt.subs(x, x_thr) - gt.subs(x, 0)) == 0
            jump = sp.simplify(x_thr ** M / (x_thr ** M + 1) - sp.Rational(M - 1, M)) == 0
            out[f"M={M}: at the global threshold x^M = M-1 is stationary"] = bool(tangent)
            out[f"M={M}: at the global threshold g(x) = g(0)"] = bool(equal)
            out[f"M={M}: the jump is to (M-1)/M"] = bool(jump)
    return out


# ------------------------------------------------------------------------------------------ numerics
def _params(problem):
    M = problem.depth
    lb = geometric_mean(problem.lambda_W)
    Nv = float(problem.N)
    b = M * Nv * lb * (Nv * problem.lambda_H) ** (1 / M)
    return M, lb, Nv, b


def g_value(problem, n_k, xv):
    M, lb, Nv, _ = _params(problem)
    xv = np.asarray(xv, float)
    return n_k / (2 * Nv * (xv ** M + 1)) + M / 2 * lb * (Nv * problem.lambda_H) ** (1 / M) * xv


def stationary_points(problem, n_k) -> np.ndarray:
    """Positive real roots of b (x^M + 1)^2 - n_k M x^{M-1} = 0 (polynomial of degree 2M), Newton-polished."""
    M, _, _, b = _params(problem)
    coeffs = np.zeros(2 * M + 1)  # highest degree first
    coeffs[0] += b
    coeffs[M] += 2 * b
    coeffs[2 * M] += b
    coeffs[2 * M - (M - 1)] -= n_k * M
    roots = np.roots(coeffs)
    real = np.real(roots[(np.abs(np.imag(roots)) <= 1e-7 * np.maximum(1, np.abs(roots))) & (np.real(roots) > 0)])
    out = []
    p = np.poly1d(coeffs)
    dp = p.deriv()
    for r in real:
        for _ in range(5):
            d = dp(r)
            if d == 0:
                break
            r = r - p(r) / d
        out.append(r)
    return np.array(sorted(out))


def global_x(problem, n_k) -> float:
    """Global argmin of g_k over x >= 0 (0 or a stationary point)."""
    cands = np.concatenate([[0.0], stationary_points(problem, n_k)])
    return float(cands[np.argmin(g_value(problem, n_k, cands))])


def largest_root_x(problem, n_k) -> float:
    """The authors' code: the largest root of the stationarity equation (0 if none)."""
    roots = stationary_points(problem, n_k)
    return float(roots[-1]) if roots.size else 0.0


def threshold_formula(N: float, M: int, lbar: float, lambda_H: float) -> float:
    """n_k above which class k is not collapsed to 0: N^2 lbar lambda_H (M = 1), M b/(M-1)^{(M-1)/M} with
    b = M N lbar (N lambda_H)^{1/M} (M >= 2). N may be any positive real."""
    if M == 1:
        return N ** 2 * lbar * lambda_H
    b = M * N * lbar * (N * lambda_H) ** (1 / M)
    return M * b / (M - 1) ** ((M - 1) / M)


def global_threshold(problem) -> float:
    """:func:`threshold_formula` for ``problem``."""
    M, lb, Nv, _ = _params(problem)
    return threshold_formula(Nv, M, lb, problem.lambda_H)


def root_threshold(problem) -> float:
    """n_k above which the stationarity equation has a positive root: b / max_x M x^{M-1}/(x^M+1)^2."""
    M, _, _, b = _params(problem)
    if M == 1:
        return b
    xs = ((M - 1) / (M + 1)) ** (1 / M)  # argmax of M x^{M-1}/(x^M+1)^2
    return b / (M * xs ** (M - 1) / (xs ** M + 1) ** 2)


def _mse_prediction(problem, rule) -> dict:
    K = problem.K
    xs = np.array([rule(problem, n) for n in problem.counts])
    M = problem.depth
    diag = xs ** M / (xs ** M + 1)
    value = float(sum(g_value(problem, n, xv) for n, xv in zip(problem.counts, xs)))
    return {"objective": value, "logits": np.diag(diag), "product_gram": np.diag(problem.N * problem.lambda_H * xs ** M),
            "x": xs, "diag": diag, "bias": np.zeros(K)}


applies_mse = requires(loss="mse", bias="none", learnable_classifier=True, one_hot=True, d_min="K")
applies_mse_balanced = requires(loss="mse", bias=("none", "free"), balanced=True, learnable_classifier=True,
                                one_hot=True, d_min="K")


def predict_global(problem) -> dict:
    return _mse_prediction(problem, global_x)


def predict_largest_root(problem) -> dict:
    return _mse_prediction(problem, largest_root_x)


def predict_balanced(problem) -> dict:
    K = problem.K
    n = problem.counts[0]
    xv = global_x(problem, n)
    rho = xv ** problem.depth / (xv ** problem.depth + 1)
    if problem.bias == "none":
        return {"objective": float(K * g_value(problem, n, xv)), "logits": rho * np.eye(K), "bias": np.zeros(K),
                "rho": rho}
    return {"objective": float((K - 1) * g_value(problem, n, xv)),
            "logits": rho * (np.eye(K) - np.ones((K, K)) / K), "bias": np.full(K, 1.0 / K), "rho": rho}


def etf_family_value(problem) -> tuple[float, float]:
    """min over a >= 0 of the master reduction along Z = a (I - J/K) for balanced CE: returns (value, a*)."""
    K, n, M = problem.K, problem.counts[0], problem.depth
    Lam = geometric_mean([problem.lambda_H, *problem.lambda_W])

    def phi(a):
        return np.log1p((K - 1) * np.exp(-a)) + (M + 1) / 2 * Lam * (K - 1) * (a * np.sqrt(n)) ** (2 / (M + 1))

    grid = np.linspace(0, 80, 16001)
    a, value = grid_then_golden(phi, grid, values=phi(grid))
    return value, a


def predict_deep_ce_etf(problem) -> dict:
    K = problem.K
    value, a = etf_family_value(problem)
    return {"objective": value, "logits": a * (np.eye(K) - np.ones((K, K)) / K), "bias": np.zeros(K)}


applies_deep_ce = requires(loss="ce", balanced=True, bias="none", learnable_classifier=True, one_hot=True,
                           d_min="K")


SOURCE = "Dang et al. 2023, Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data"

register(Prediction(
    name="dang2023_mse_imbalanced", source=SOURCE + ", Thm 4.1 (as derived: global argmin of g_k)",
    statement="Bias-free deep linear MSE UFM, any counts: (W Hbar)_kk = x_k^M/(x_k^M+1) with x_k the global "
              "argmin of g_k, off-diagonals 0, W W^T = diag(N lambda_H x_k^M), value sum_k g_k(x_k)",
    applies=applies_mse, predict=predict_global))
register(Prediction(
    name="dang2023_mse_largest_root", source=SOURCE + ", authors' public code (largest root)",
    statement="As dang2023_mse_imbalanced, but x_k = the largest root of b/n_k = M x^(M-1)/(x^M+1)^2",
    applies=applies_mse, predict=predict_largest_root))
register(Prediction(
    name="dang2023_mse_balanced", source=SOURCE + ", Thm 3.1",
    statement="Balanced deep linear MSE UFM: bias-free W Hbar = rho I (orthogonal frame); with an unregularised "
              "bias b* = 1/K and W Hbar = rho (I - J/K) (simplex ETF)",
    applies=applies_mse_balanced, predict=predict_balanced))
register(Prediction(
    name="dang2023_deep_ce_etf", source=SOURCE + ", appendix theorem (CE)",
    statement="Balanced bias-free deep linear CE UFM: for every depth M the global optimum is a simplex ETF",
    applies=applies_deep_ce, predict=predict_deep_ce_etf))
