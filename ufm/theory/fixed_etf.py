"""Balanced UFM with a fixed simplex-ETF classifier, M = 1 (Yang et al. 2022, "Inducing neural collapse in
imbalanced learning"; docs/theory.md section 11).

With W fixed to unit rows w_k forming a simplex ETF (``classifier="etf"``), the objective is strictly convex
in each feature and invariant under the permutations of the other classes, so the optimal class-k feature is
h_k = a w_k for one scalar a >= 0 (a component orthogonal to every w_j only costs decay). The logits of class
k's feature are a on its own class and -a/(K-1) on the others (margin a K/(K-1)), so a minimises

    CE:   phi(a) = log(1 + (K-1) exp(-a K/(K-1))) + (N lambda_H / 2) a^2,
    MSE:  phi(a) = (1/2) [(a - 1)^2 + (K-1) a^2/(K-1)^2] + (N lambda_H / 2) a^2
          -> a = 1 / (1 + 1/(K-1) + N lambda_H)  (the ridge solution h = (W^T W + N lambda_H I)^{-1} W^T e_k),

and the optimal value is phi(a). The CE stationarity equation K e^{-m}/(1 + (K-1) e^{-m}) = N lambda_H a,
m = a K/(K-1), is solved by bracketing to full precision (:func:`ce_scale`).
"""

from __future__ import annotations

import numpy as np

from ufm.hypotheses import requires
from ufm.theory.base import Prediction, register


def _etf(problem) -> tuple[bool, str]:
    ok = problem.classifier_name == "etf"
    return ok, "" if ok else "needs the fixed classifier classifier='etf' (unit-row simplex ETF)"


applies = requires(loss=("ce", "mse"), depth=1, balanced=True, bias="none", learnable_classifier=False,
                   one_hot=True, extra=_etf)


def ce_scale(K: int, Nl: float) -> float:
    """The root a > 0 of K e^{-m} / (1 + (K-1) e^{-m}) - Nl a = 0, m = a K/(K-1) (Nl = N lambda_H > 0)."""
    from scipy.optimize import brentq  # here, not with the module: scipy.optimize takes ~0.4 s to import

    def grad(a):
        e = np.exp(-a * K / (K - 1))
        return K * e / (1 + (K - 1) * e) - Nl * a

    hi = 1.0
    while grad(hi) > 0:
        hi *= 2.0
    return float(brentq(grad, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))


def predict(problem) -> dict:
    K = problem.K
    Nl = problem.N * problem.lambda_H
    if problem.loss == "mse":
        a = 1.0 / (1.0 + 1.0 / (K - 1) + Nl)
        value = 0.5 * ((a - 1) ** 2 + a ** 2 / (K - 1)) + 0.5 * Nl * a ** 2
    else:
        a = ce_scale(K, Nl)
        value = float(np.log1p((K - 1) * np.exp(-a * K / (K - 1))) + 0.5 * Nl * a ** 2)
    W = problem.classifier_matrix()
    return {"objective": float(value), "scale": a, "class_means": a * W.T,
            "logits": a * (W @ W.T)}


register(Prediction(
    name="fixed_etf_balanced",
    source="Yang et al. 2022 (fixed ETF classifier); derived by symmetry (docs/theory.md section 11)",
    statement="Balanced one-layer UFM (CE or MSE) with a fixed unit simplex-ETF classifier: every class-k "
              "feature equals a w_k, a the minimiser of a one-dimensional problem",
    applies=applies, predict=predict))
