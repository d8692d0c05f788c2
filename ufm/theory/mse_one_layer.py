"""One-layer MSE UFM, any counts, bias none or free: the optimum by singular-value soft-thresholding
(docs/theory.md sections 3 and 6; derived from the master reduction, M = 1).

With Y = Z D^{1/2} (Z = W Hbar, D = diag(n)), the collapsed one-layer MSE objective is

    (1/(2N)) ||(Y - D^{1/2}) P||_F^2 + c ||Y||_*,      c = sqrt(lambda_W lambda_H),

with P = I for bias "none" and, for a free bias (its optimal value b = sum_k n_k (e_k - z_k) / N
eliminated), P = I - u u^T / N with u = sqrt(n). The nuclear norm is not increased by projecting on P (the
singular values of Y P are at most those of Y) while the loss only sees Y P, so Y* = Y* P and Y* is the
proximal point of the nuclear norm: singular-value soft-thresholding of A = D^{1/2} P at N c,

    Y* = U diag((s - N c)_+) V^T,   value = sum_i min(s_i, N c)^2 / (2N) + c sum_i (s_i - N c)_+ .

For bias "none" this is Dang et al. 2023's M = 1 rule (W Hbar)_kk = (1 - N sqrt(lambda_W lambda_H / n_k))_+;
for balanced counts with a free bias it is their simplex-ETF solution with b* = 1/K. The UFM attains it when
rank(Y*) <= d. Balancedness gives the classifier Gram W W^T = sqrt(lambda_H / lambda_W) (Z D Z^T)^{1/2}.
"""

from __future__ import annotations

import numpy as np

from ufm.hypotheses import requires
from ufm.theory.base import Prediction, register


def svt(problem) -> tuple:
    """(value, Z, b, rank) of the closed form of the module docstring."""
    n = np.asarray(problem.counts, float)
    N, K = n.sum(), problem.K
    c = np.sqrt(problem.lambda_W[0] * problem.lambda_H)
    A = np.diag(np.sqrt(n))
    if problem.bias == "free":
        u = np.sqrt(n)
        A = A @ (np.eye(K) - np.outer(u, u) / N)
    U, s, Vt = np.linalg.svd(A)
    kept = np.maximum(s - N * c, 0.0)
    Y = (U * kept) @ Vt
    value = float(np.sum(np.minimum(s, N * c) ** 2) / (2 * N) + c * np.sum(kept))
    Z = Y / np.sqrt(n)[None, :]
    b = (np.eye(K) - Z) @ n / N if problem.bias == "free" else np.zeros(K)
    rank = int(np.sum(kept > K * np.finfo(float).eps * max(s[0], 1e-300)))
    return value, Z, b, rank


def _rank_fits(problem) -> tuple[bool, str]:
    rank = svt(problem)[3]
    return (True, "") if rank <= problem.d else (False, f"needs d >= rank of the optimum ({rank})")


applies = requires(loss="mse", depth=1, bias=("none", "free"), learnable_classifier=True, one_hot=True,
                   extra=_rank_fits)


def predict(problem) -> dict:
    value, Z, b, _ = svt(problem)
    n = np.asarray(problem.counts, float)
    ev, V = np.linalg.eigh(Z @ np.diag(n) @ Z.T)
    root = (V * np.sqrt(np.maximum(ev, 0.0))) @ V.T
    if problem.lambda_W[0] > 0:
        gram = np.sqrt(problem.lambda_H / problem.lambda_W[0]) * root
    else:  # no decay: any factorisation is optimal, the classifier Gram is not determined
        gram = None
    out = {"objective": value, "logits": Z, "bias": b}
    if gram is not None:
        out["classifier_gram"] = gram
    return out


register(Prediction(
    name="mse_one_layer_svt",
    source="derived from the master reduction (docs/theory.md sections 3 and 6); agrees with Dang et al. 2023 "
           "(M = 1)",
    statement="One-layer MSE UFM, any counts, bias none or free: W Hbar D^{1/2} is the singular-value "
              "soft-thresholding of D^{1/2} P at N sqrt(lambda_W lambda_H) (P centres the classes for a free "
              "bias), with the value of the prox",
    applies=applies, predict=predict))
