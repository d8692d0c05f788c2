"""Mixup under a fixed centred simplex-ETF classifier (Fisher, Meng & Papyan 2024), docs/theory.md section 10.

Normalisation: ufm's canonical objective, (1/N) sum_samples loss + lambda_H/2 ||H||^2 (+ lambda_W terms for
learnable layers only; a fixed classifier is not penalised). With W fixed to the unit-row simplex ETF
(``Problem(classifier="etf")``: W W^T = K/(K-1) (I - J/K), rows w_k, sum_k w_k = 0), each feature solves its own
strictly convex problem; multiplying by N, with lambda' = N lambda_H:

    min_h  lam CE(W h, i) + (1 - lam) CE(W h, j) + lambda'/2 ||h||^2.

Stationarity: h = (1/lambda') W^T (t - p), p = softmax(W h). By the symmetry of the ETF all other classes get
the same probability p_o, and since sum_k w_k = 0,
    h* = (1/lambda') [(lam - p_i + p_o) w_i + (1 - lam - p_j + p_o) w_j]  in span{w_i, w_j}
(the paper's formula with lambda_H -> N lambda_H). Writing h = a w_i + b w_j (cos(w_i, w_j) = -1/(K-1)) gives a
2-variable strictly convex problem, solved here by Newton's method to 1e-14. Consequences (tested):
same-class pairs (i = i): h* is independent of lam and aligned with w_i; at lam = 1/2, p_i = p_j (h* lies
on the i/j decision boundary). For mixup-MSE the per-sample problem is a ridge regression:
h* = (W^T W + lambda' I)^{-1} W^T t.
"""

from __future__ import annotations

import numpy as np

from ufm.hypotheses import requires
from ufm.theory.base import Prediction, register


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def ce_feature_coefficients(K: int, i: int, j: int, lam: float, lam_prime: float, tol: float = 1e-14):
    """(a, b) with h* = a w_i + b w_j for the mixup-CE sample (i, j, lam) (b = 0 when i = j)."""
    c0 = -1.0 / (K - 1)
    if i == j:
        # h = a w_i: logits a at i, a c0 elsewhere; minimise CE(z, i) + lambda'/2 a^2 (lam irrelevant)
        a = 0.0
        for _ in range(200):
            z = np.full(K, a * c0)
            z[i] = a
            p = _softmax(z)
            dz = np.full(K, c0)
            dz[i] = 1.0
            g = dz @ (p - np.eye(K)[i]) + lam_prime * a
            h = dz @ (np.diag(p) - np.outer(p, p)) @ dz + lam_prime
            step = g / h
            a -= step
            if abs(step) <= tol * max(1.0, abs(a)):
                break
        return a, 0.0
    t = np.zeros(K)
    t[i], t[j] = lam, 1 - lam
    D = np.full((K, 2), c0)  # dz/d(a, b)
    D[i, 0], D[j, 1] = 1.0, 1.0
    D[j, 0], D[i, 1] = c0, c0
    G = np.array([[1.0, c0], [c0, 1.0]])  # Gram of (w_i, w_j)
    x = np.zeros(2)
    for _ in range(200):
        p = _softmax(D @ x)
        g = D.T @ (p - t) + lam_prime * G @ x
        H = D.T @ (np.diag(p) - np.outer(p, p)) @ D + lam_prime * G
        step = np.linalg.solve(H, g)
        x -= step
        if np.max(np.abs(step)) <= tol * max(1.0, np.max(np.abs(x))):
            break
    return float(x[0]), float(x[1])


def predicted_features(problem) -> np.ndarray:
    """d x N_mixed predicted features of the mixed samples (fixed ETF classifier; CE fixed point or MSE ridge)."""
    from ufm.mixup import mixed_columns

    W = problem.classifier_matrix()
    lam_prime = problem.N * problem.lambda_H
    _, mixed = mixed_columns(problem)
    out = np.zeros((problem.d, len(mixed)))
    if problem.loss == "mixup-mse":
        A = W.T @ W + lam_prime * np.eye(problem.d)
        for c, (i, j, lam) in enumerate(mixed):
            t = np.zeros(problem.K)
            t[i] += lam
            t[j] += 1 - lam
            out[:, c] = np.linalg.solve(A, W.T @ t)
        return out
    for c, (i, j, lam) in enumerate(mixed):
        a, b = ce_feature_coefficients(problem.K, i, j, lam, lam_prime)
        out[:, c] = a * W[i] + b * W[j]
    return out


def _mixup_etf(problem) -> tuple[bool, str]:
    from ufm.mixup import MixupDesign

    if not isinstance(problem.samples, MixupDesign):
        return False, "needs a MixupDesign"
    W = problem.classifier_matrix()
    K = problem.K
    if np.max(np.abs(W @ W.T - K / (K - 1) * (np.eye(K) - 1 / K))) > 1e-10:
        return False, "needs the fixed classifier to be a unit-row simplex ETF (classifier='etf')"
    return True, ""


applies = requires(loss=("mixup-ce", "mixup-mse"), depth=1, learnable_classifier=False, bias="none",
                   extra=_mixup_etf)


def predict(problem) -> dict:
    """Predicted mixed-sample features and the objective of the whole problem at the predicted point
    (original samples, if any, sit at the same-class fixed point)."""
    from ufm import objective as obj
    from ufm.mixup import mixed_columns

    cols, mixed = mixed_columns(problem)
    Hm = predicted_features(problem)
    H = np.zeros((problem.d, problem.N))
    H[:, cols] = Hm
    if problem.samples.include_original:
        orig = problem.samples.first_mixed_column(problem.counts)
        labels = problem.labels()[:orig]
        W = problem.classifier_matrix()
        same = {}
        for k in range(problem.K):
            same[k] = predicted_same_class(problem, k, W)
        H[:, :orig] = np.stack([same[k] for k in labels], axis=1)
    value = obj.evaluate(problem, [problem.classifier_matrix()], H)
    return {"objective": value, "features": H, "mixed_features": Hm}


def predicted_same_class(problem, k, W=None):
    W = problem.classifier_matrix() if W is None else W
    lam_prime = problem.N * problem.lambda_H
    if problem.loss == "mixup-mse":
        return np.linalg.solve(W.T @ W + lam_prime * np.eye(problem.d), W.T @ np.eye(problem.K)[k])
    a, _ = ce_feature_coefficients(problem.K, k, k, 1.0, lam_prime)
    return a * W[k]


register(Prediction(
    name="fisher2024_mixup_fixed_etf",
    source="Fisher, Meng & Papyan 2024, Pushing Boundaries: Mixup's Influence on Neural Collapse",
    statement="UFM with mixup and a fixed centred simplex-ETF classifier: every mixed feature is the unique "
              "fixed point h* = (1/(N lambda_H)) [(lam - p_i + p_o) w_i + (1 - lam - p_j + p_o) w_j] "
              "(mixup-CE) or the ridge solution (mixup-MSE)",
    applies=applies, predict=predict))
