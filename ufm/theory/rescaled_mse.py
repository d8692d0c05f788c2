"""Balanced bias-free M = 1 UFM with the rescaled square loss (Hui & Belkin 2021, "Evaluation of neural
architectures trained with square loss vs cross-entropy in classification tasks", arXiv 2006.07322; the loss
is ``ufm.losses`` family ``mse-rescaled(scale=M, weight=k)``): l(z, e_y) = 1/2 [k (z_y - M)^2 +
sum_{j != y} z_j^2]. Derived here (docs/theory.md section 15), the same argument as the bias-free MSE UFM
(Zhou et al. 2022, "On the optimization landscape of neural collapse under MSE loss", ICML; Dang et al. 2023).

The master reduction at M = 1 is convex: F(Z) = (1/K) sum_k l(Z e_k, e_k) + c ||Z||_*, c = sqrt(n lambda_W
lambda_H). At Z = rho I its gradient part is (k/K)(rho - M) I, and for rho > 0 the subdifferential of
c ||Z||_* at rho I contains c I, so Z = rho* I is optimal with

    rho* = max(0, M - c K / k),     f* = k/2 (rho* - M)^2 + c K rho*,

an orthogonal frame (W W^T = sqrt(n lambda_H / lambda_W) rho* I); W = H = 0 when c K >= k M. Needs d >= K
(rank K). The derivation's stationarity condition and value are verified by sympy (:func:`symbolic_checks`).
"""

from __future__ import annotations

import numpy as np

from ufm import losses
from ufm.hypotheses import requires
from ufm.theory.base import Prediction, register


def _rescaled(problem) -> tuple[bool, str]:
    ok = problem.loss.partition("(")[0] in ("mse-rescaled", "mse")
    return ok, "" if ok else f"needs the (rescaled) square loss, got {problem.loss!r}"


applies = requires(depth=1, balanced=True, bias="none", learnable_classifier=True, one_hot=True, d_min="K",
                   extra=_rescaled)


def parameters(problem) -> tuple[float, float]:
    """(M, k): the target scale and the weight of the true class (1, 1 for ``mse``)."""
    params = dict(losses.get(problem.loss).params)
    return params.get("scale", 1.0), params.get("weight", 1.0)


def predict(problem) -> dict:
    K, n = problem.K, problem.counts[0]
    M, k = parameters(problem)
    c = float(np.sqrt(n * problem.lambda_W[0] * problem.lambda_H))
    rho = max(0.0, M - c * K / k)
    return {"objective": 0.5 * k * (rho - M) ** 2 + c * K * rho, "logits": rho * np.eye(K),
            "classifier_gram": float(np.sqrt(n * problem.lambda_H / problem.lambda_W[0])) * rho * np.eye(K),
            "rho": rho}


def symbolic_checks() -> dict:
    import sympy as sp

    rho, M, k, c, K = sp.symbols("rho M k c K", positive=True)
    F = k / 2 * (rho - M) ** 2 + c * K * rho  # (1/K) sum_k l + c ||rho I||_*
    star = M - c * K / k
    return {"d/d rho of the family value vanishes at rho* = M - c K / k": sp.simplify(sp.diff(F, rho).subs(rho, star))
            == 0,
            "gradient (k/K)(rho* - M) I equals -c I (the nuclear norm's subgradient at rho I, times -c / K ... K)":
            sp.simplify(k * (star - M) + c * K) == 0}


register(Prediction(
    name="rescaled_mse_balanced",
    source="derived here for the rescaled square loss of Hui & Belkin 2021 (arXiv 2006.07322)",
    statement="Balanced bias-free M = 1 UFM, loss 1/2 [k (z_y - M)^2 + sum_{j != y} z_j^2], d >= K: W Hbar = rho* I "
              "with rho* = max(0, M - c K / k), c = sqrt(n lambda_W lambda_H), value k/2 (rho* - M)^2 + c K rho*",
    applies=applies, predict=predict))
