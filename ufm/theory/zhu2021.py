"""Balanced CE UFM with M = 1 (Zhu, Ding, Zhou, Li, You, Sulam & Qu, NeurIPS 2021), docs/theory.md section 5.

Canonical objective (Zhu et al. use the same: mean CE + lambda/2 penalties). Bias none (or regularised:
then b* = 0). With c = sqrt(n lambda_W lambda_H):

- if K c >= 1 the global minimiser is W = H = 0 (value log K);
- else NC1, hbar_k = sqrt(lambda_W / (n lambda_H)) w_k, W W^T = ||w||^2 K/(K-1) (I - J/K),
  ||w||^2 = sqrt(n lambda_H / lambda_W) (K-1)/K log((1 - (K-1) c) / c),
  f* = -log(1 - (K-1) c) + (K-1) c log((1 - (K-1) c) / c).

Derivation checked by sympy (:func:`symbolic_checks`): along the ETF family Z = a (I - J/K) the master
reduction is phi(a) = log(1 + (K-1) e^{-a}) + (K-1) c a; its stationary point is
a* = log((1 - (K-1) c)/c), positive iff K c < 1, and phi(a*) = f*.

Numerics: :func:`predict` evaluates f* and a* with log1p (log(1 - (K-1) c) = log1p(-(K-1) c)), so the value is
exact to rounding at any weight decay; evaluating the formula as written loses every digit of 1 - (K-1) c
below eps (relative error ~1e-7 at lambda = 1e-12, where f* ~ 1e-10).
"""

from __future__ import annotations

import functools

import numpy as np

from ufm.hypotheses import requires
from ufm.theory.base import Prediction, register


@functools.lru_cache(maxsize=None)
def expressions() -> dict:
    """The sympy expressions of the theorem (symbols K, n, lambda_W, lambda_H, a): c, f_star, w_norm2,
    hbar_over_w, phi (the master reduction along the ETF family) and a_star. sympy is imported here, not
    with the module, so that evaluating a prediction does not pay for importing it."""
    import sympy as sp

    K, n, lW, lH, a = sp.symbols("K n lambda_W lambda_H a", positive=True)
    c = sp.sqrt(n * lW * lH)
    return {"symbols": (K, n, lW, lH, a), "c": c,
            "f_star": -sp.log(1 - (K - 1) * c) + (K - 1) * c * sp.log((1 - (K - 1) * c) / c),
            "w_norm2": sp.sqrt(n * lH / lW) * (K - 1) / K * sp.log((1 - (K - 1) * c) / c),
            "hbar_over_w": sp.sqrt(lW / (n * lH)),
            "phi": sp.log(1 + (K - 1) * sp.exp(-a)) + (K - 1) * c * a,
            "a_star": sp.log((1 - (K - 1) * c) / c)}



def a_star_value(Kv: int, nv: float, lw: float, lh: float) -> float:
    """a* = log((1 - (K-1) c)/c) = log1p(-(K-1) c) - log(c), c = sqrt(n lambda_W lambda_H)."""
    cv = np.sqrt(nv * lw * lh)
    return float(np.log1p(-(Kv - 1) * cv) - np.log(cv))


def f_star_value(Kv: int, nv: float, lw: float, lh: float) -> float:
    """f* = -log1p(-(K-1) c) + (K-1) c a* (the sympy expression ``expressions()['f_star']``, evaluated stably)."""
    cv = np.sqrt(nv * lw * lh)
    return float(-np.log1p(-(Kv - 1) * cv) + (Kv - 1) * cv * a_star_value(Kv, nv, lw, lh))


def symbolic_checks() -> dict:
    import sympy as sp

    e = expressions()
    K, n, lW, lH, a = e["symbols"]
    w_norm2, a_star = e["w_norm2"], e["a_star"]
    cs = sp.Symbol("c", positive=True)
    phi_c = sp.log(1 + (K - 1) * sp.exp(-a)) + (K - 1) * cs * a
    a_c = sp.log((1 - (K - 1) * cs) / cs)
    f_c = -sp.log(1 - (K - 1) * cs) + (K - 1) * cs * sp.log((1 - (K - 1) * cs) / cs)
    stationary = sp.simplify(sp.diff(phi_c, a).subs(a, a_c)) == 0
    # phi(a*) = log(1 + (K-1) e^{-a*}) + (K-1) c a*: check exp of its log part is 1/(1-(K-1)c), and that
    # f* is exactly -log(1-(K-1)c) + (K-1) c a*
    log_part = phi_c.subs(a, a_c) - (K - 1) * cs * a_c
    value = (sp.simplify(sp.exp(log_part) - 1 / (1 - (K - 1) * cs)) == 0
             and sp.simplify(f_c - (-sp.log(1 - (K - 1) * cs) + (K - 1) * cs * a_c)) == 0)
    threshold = sp.solve(sp.Eq(a_c, 0), cs) == [1 / K]
    norm = sp.simplify(w_norm2 * K / (K - 1) * (K - 1) - sp.sqrt(n * lH / lW) * (K - 1) * a_star) == 0
    return {"phi'(a*) = 0 at a* = log((1-(K-1)c)/c)": bool(stationary),
            "phi(a*) = f*": bool(value),
            "a* = 0 exactly at the threshold c = 1/K": bool(threshold),
            "||w||^2 K/(K-1) (K-1) = sqrt(n lambda_H/lambda_W) (K-1) a*": bool(norm)}


def threshold(problem) -> float:
    """K c: the zero solution is optimal iff K c >= 1."""
    return problem.K * float(np.sqrt(problem.counts[0] * problem.lambda_W[0] * problem.lambda_H))


applies = requires(loss="ce", depth=1, balanced=True, bias=("none", "regularized"), learnable_classifier=True,
                   one_hot=True, d_min="K-1")


def predict(problem) -> dict:
    Kv, nv, lw, lh = problem.K, problem.counts[0], problem.lambda_W[0], problem.lambda_H
    if threshold(problem) >= 1:
        return {"objective": float(np.log(Kv)), "logits": np.zeros((Kv, Kv)), "classifier_gram": np.zeros((Kv, Kv)),
                "bias": np.zeros(Kv), "regime": "zero"}
    w2 = float(np.sqrt(nv * lh / lw) * (Kv - 1) / Kv * a_star_value(Kv, nv, lw, lh))
    G = w2 * Kv / (Kv - 1) * (np.eye(Kv) - np.ones((Kv, Kv)) / Kv)
    return {"objective": f_star_value(Kv, nv, lw, lh), "classifier_gram": G,
            "logits": np.sqrt(lw / (nv * lh)) * G, "bias": np.zeros(Kv), "regime": "etf"}


register(Prediction(
    name="zhu2021_balanced_ce",
    source="Zhu et al. 2021, A Geometric Analysis of Neural Collapse with Unconstrained Features, Thm 3.1",
    statement="Balanced CE UFM (M = 1): the global optimum is a simplex ETF with W Hbar = sqrt(lambda_W/(n "
              "lambda_H)) W W^T and value f* when K c < 1, and W = H = 0 when K c >= 1",
    applies=applies, predict=predict))
