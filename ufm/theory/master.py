"""Master reduction of every linear UFM (docs/theory.md section 3; Zhu et al. 2021 for M = 1, Garrod & Keating 2024
and Sukenik et al. 2023 for deep models).

For layers W_M..W_1 and features H with W_M..W_1 H = Z D^{1/2} fixed (collapsed features),

    min  sum_m lambda_m/2 ||W_m||^2 + lambda_H/2 ||H||^2 = ((M+1)/2) Lambda sum_i sigma_i(Z D^{1/2})^{2/(M+1)},
    Lambda = (lambda_H prod_m lambda_m)^{1/(M+1)},

attained by the balanced factorisation (every factor carries sigma^{1/(M+1)}; at the optimum
lambda_{m+1} W_{m+1}^T W_{m+1} = lambda_m W_m W_m^T and lambda_1 W_1^T W_1 = lambda_H H H^T). So the UFM
optimum equals min_Z R(Z) (``ufm.reduced.schatten_value``), convex for M = 1 (nuclear norm).
"""

from __future__ import annotations

import numpy as np

from ufm.reduced import schatten_value as reduced_value  # noqa: F401  (R(Z, b) of the module docstring)

def penalty(M: int):
    """The sympy expression of the factorisation penalty for one singular value x (the positive symbol
    ``x``) and depth M, in symbols lambda_H, lambda_1..lambda_M. (sympy is imported by the symbolic
    functions only.)"""
    import sympy as sp

    x = sp.Symbol("x", positive=True)
    lams = sp.symbols(f"lambda_H lambda_1:{M + 1}", positive=True)
    Lam = sp.Mul(*lams) ** sp.Rational(1, M + 1)
    return sp.Rational(M + 1, 2) * Lam * x ** sp.Rational(2, M + 1), lams


def symbolic_checks(depths=(1, 2, 3)) -> dict:
    """sympy verifies, for each M: the balanced scalar factorisation a_j = (Lambda/lambda_j)^{1/2}
    x^{1/(M+1)} has product x, costs exactly the penalty, and is a stationary point of the Lagrangian of
    min sum_j lambda_j a_j^2 / 2 s.t. prod_j a_j = x (AM-GM: the minimum)."""
    import sympy as sp

    x = sp.Symbol("x", positive=True)
    out = {}
    for M in depths:
        pen, lams = penalty(M)
        Lam = sp.Mul(*lams) ** sp.Rational(1, M + 1)
        a = [sp.sqrt(Lam / lam) * x ** sp.Rational(1, M + 1) for lam in lams]
        prod_ok = sp.simplify(sp.Mul(*a) - x) == 0
        cost_ok = sp.simplify(sum(lam * aj ** 2 / 2 for lam, aj in zip(lams, a)) - pen) == 0
        # Lagrange: lambda_j a_j = mu prod / a_j  <=>  lambda_j a_j^2 equal for all j
        stat_ok = all(sp.simplify(lams[0] * a[0] ** 2 - lam * aj ** 2) == 0 for lam, aj in zip(lams, a))
        out[f"M={M}: balanced factorisation has product x"] = bool(prod_ok)
        out[f"M={M}: its cost equals ((M+1)/2) Lambda x^(2/(M+1))"] = bool(cost_ok)
        out[f"M={M}: it is stationary (equal lambda_j a_j^2)"] = bool(stat_ok)
    return out


def balancedness_errors(solution) -> dict:
    """Relative residuals of the balancedness equations at a solution (0 at every critical point of the
    full UFM with learnable layers): lambda_1 W_1^T W_1 - lambda_H H H^T and
    lambda_{m+1} W_{m+1}^T W_{m+1} - lambda_m W_m W_m^T."""
    p = solution.problem
    Ws, H = solution.weights, solution.features
    lams = p.lambda_W
    errs = {}
    pairs = [(lams[0] * Ws[0].T @ Ws[0], p.lambda_H * H @ H.T)]
    for m in range(len(Ws) - 1):
        pairs.append((lams[m + 1] * Ws[m + 1].T @ Ws[m + 1], lams[m] * Ws[m] @ Ws[m].T))
    for m, (A, B) in enumerate(pairs):
        scale = max(np.max(np.abs(A)), np.max(np.abs(B)), 1e-300)
        errs[f"balance_{m}"] = float(np.max(np.abs(A - B)) / scale)
    return errs
