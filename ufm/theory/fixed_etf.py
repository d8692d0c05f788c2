"""One-layer UFMs with a fixed classifier (docs/theory.md sections 11 and 15): the simplex ETF of Yang et al.
2022 ("Inducing neural collapse in imbalanced learning: do we really need a learnable classifier at the end of
deep neural network?", NeurIPS, arXiv 2203.09081), balanced and imbalanced, and any fixed classifier W
(EBV, FedLoGe's sparse ETF, a given matrix) with MSE (closed form) or CE (K decoupled convex problems).

**Decoupling** [derived]. With W fixed, bias none and M = 1 the objective is
(1/N) sum_i [loss(W h_i, e_{y_i}) + (N lambda_H / 2) ||h_i||^2]: one strictly convex problem per sample
(lambda_H > 0) that depends on the sample's class only, not on the counts. So the optimal features collapse
to h_k* (NC1 exactly), h_k* does not depend on (n_1, ..., n_K) (no minority collapse, for ANY fixed W), and
the optimal value is (1/N) sum_k n_k phi_k(h_k*), phi_k(h) = loss(W h, e_k) + (N lambda_H / 2) ||h||^2.

- MSE: h_k* = (W^T W + N lambda_H I)^{-1} W^T e_k (ridge), so W Hbar = G (G + N lambda_H I)^{-1} with
  G = W W^T, and phi_k* = (N lambda_H / 2) [(G + N lambda_H I)^{-1}]_kk (the ridge identity). For a tight
  frame (W^T W = (K/d) I) h_k* = w_k / (K/d + N lambda_H): the class means are the classifier, scaled.
- CE: h_k* by Newton's method on phi_k (d variables; gradient W^T (softmax(W h) - e_k) + N lambda_H h).

**Fixed simplex ETF** (the one-dimensional case below; the same formula for any counts).

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
from ufm.theory.base import register_predictions


def _etf(problem) -> tuple[bool, str]:
    ok = problem.classifier_name == "etf"
    return ok, "" if ok else "needs the fixed classifier classifier='etf' (unit-row simplex ETF)"


def _positive_decay(problem) -> tuple[bool, str]:
    ok = problem.lambda_H > 0
    return ok, "" if ok else "needs lambda_H > 0 (else the per-class problem has no unique minimiser)"


applies = requires(loss=("ce", "mse"), depth=1, balanced=True, bias="none", learnable_classifier=False,
                   one_hot=True, extra=_etf)
applies_imbalanced = requires(loss=("ce", "mse"), depth=1, balanced=False, bias="none", learnable_classifier=False,
                              one_hot=True, extra=_etf)  # (balanced counts: fixed_etf_balanced, the same formula)
applies_mse = requires(loss="mse", depth=1, bias="none", learnable_classifier=False, one_hot=True,
                       extra=_positive_decay)
applies_ce = requires(loss="ce", depth=1, bias="none", learnable_classifier=False, one_hot=True,
                      extra=_positive_decay)


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
    """The fixed-ETF optimum for any counts: h_k = a w_k, value phi(a) (each sample solves the same problem)."""
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
            "logits": a * (W @ W.T), "feature_norms": np.full(K, a)}


def ridge_features(W: np.ndarray, Nl: float) -> np.ndarray:
    """Hbar = (W^T W + Nl I)^{-1} W^T (d x K): the optimal MSE class means for a fixed classifier W."""
    d = W.shape[1]
    return np.linalg.solve(W.T @ W + Nl * np.eye(d), W.T)


def predict_mse(problem) -> dict:
    W = problem.classifier_matrix()
    K = problem.K
    Nl = problem.N * problem.lambda_H
    Hbar = ridge_features(W, Nl)
    phi = 0.5 * Nl * np.diag(np.linalg.inv(W @ W.T + Nl * np.eye(K)))  # the ridge identity, per class
    return per_class_result(problem, W, Hbar, phi)


def per_class_result(problem, W: np.ndarray, Hbar: np.ndarray, phi: np.ndarray) -> dict:
    """The prediction of a decoupled fixed-classifier UFM from its class means and per-class optimal values:
    objective (1/N) sum_k n_k phi_k, logits W Hbar, feature norms and :func:`collapse_measures`."""
    weights = np.asarray(problem.counts, float) / problem.N
    return {"objective": float(weights @ phi), "class_means": Hbar, "logits": W @ Hbar,
            "feature_norms": np.linalg.norm(Hbar, axis=0), "per_class": phi, **collapse_measures(W, Hbar)}


def ce_feature(W: np.ndarray, k: int, Nl: float, *, tol: float = 1e-15, max_iter: int = 100) -> np.ndarray:
    """argmin_h CE(W h, k) + (Nl/2) ||h||^2 by damped Newton (strictly convex; float64 to ~machine precision)."""
    K, d = W.shape
    e = np.eye(K)[k]

    def value(h):
        z = W @ h
        m = z.max()
        return m + np.log(np.exp(z - m).sum()) - z[k] + 0.5 * Nl * h @ h

    h = np.zeros(d)
    f = value(h)
    for _ in range(max_iter):
        z = W @ h
        p = np.exp(z - z.max())
        p /= p.sum()
        g = W.T @ (p - e) + Nl * h
        if np.linalg.norm(g) <= tol * max(1.0, Nl * np.linalg.norm(h)):
            break
        H = W.T @ ((np.diag(p) - np.outer(p, p)) @ W) + Nl * np.eye(d)
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-12:
            f_new = value(h - t * step)
            if f_new <= f - 1e-4 * t * (g @ step):
                break
            t *= 0.5
        h, f = h - t * step, f_new
    return h


def predict_ce(problem) -> dict:
    W = problem.classifier_matrix()
    K = problem.K
    Nl = problem.N * problem.lambda_H
    Hbar = np.stack([ce_feature(W, k, Nl) for k in range(K)], axis=1)
    Z = W @ Hbar
    m = Z.max(axis=0)
    ce = m + np.log(np.exp(Z - m).sum(axis=0)) - np.diag(Z)
    phi = ce + 0.5 * Nl * np.sum(Hbar ** 2, axis=0)
    return per_class_result(problem, W, Hbar, phi)


def collapse_measures(W: np.ndarray, Hbar: np.ndarray) -> dict:
    """How far the class means Hbar (d x K) are from the fixed classifier's geometry and from a simplex ETF:
    ``self_duality`` = max_k (1 - cos(h_k, w_k)), ``norm_spread`` = (max - min) / mean of ||h_k||,
    ``mean_coherence`` = max_{j != k} |cos(h_j, h_k)| beside the classifier's ``classifier_coherence``, and
    ``etf_gap`` = || Mn Mn^T - (I - J/K)/(K - 1) ||_F with Mn = the normalised class means (rows), the
    Frobenius distance of their cosine matrix (scaled by 1/(K-1)) to that of a simplex ETF."""
    K = W.shape[0]
    norms = np.linalg.norm(Hbar, axis=0)
    Mn = (Hbar / norms).T
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    Cm, Cw = Mn @ Mn.T, Wn @ Wn.T
    off = ~np.eye(K, dtype=bool)
    etf = (K * np.eye(K) - np.ones((K, K))) / (K - 1)
    return {"self_duality": float(np.max(1 - np.sum(Mn * Wn, axis=1))),
            "norm_spread": float((norms.max() - norms.min()) / norms.mean()),
            "mean_coherence": float(np.max(np.abs(Cm[off]))), "classifier_coherence": float(np.max(np.abs(Cw[off]))),
            "etf_gap": float(np.linalg.norm(Cm - etf) / (K - 1))}


register_predictions(
    ("fixed_etf_balanced", applies, predict,
     "Yang et al. 2022 (fixed ETF classifier); derived by symmetry (docs/theory.md section 11)",
     "Balanced one-layer UFM (CE or MSE) with a fixed unit simplex-ETF classifier: every class-k feature equals "
     "a w_k, a the minimiser of a one-dimensional problem"),
    ("fixed_etf_imbalanced", applies_imbalanced, predict,
     "Yang et al. 2022, arXiv 2203.09081 (fixed ETF classifier under imbalance); derived by decoupling "
     "(docs/theory.md section 18)",
     "One-layer UFM (CE or MSE), imbalanced class counts, fixed unit simplex-ETF classifier, no bias: every "
     "class-k feature equals a w_k with the same a for every class (the ETF geometry is kept, no minority "
     "collapse), a the balanced scalar optimum"),
    ("fixed_classifier_mse", applies_mse, predict_mse,
     "derived (ridge regression per class; docs/theory.md section 18); classifiers of Shen et al. 2023 (EBV) and "
     "Xiao et al. 2024 (FedLoGe SSE-C)",
     "One-layer MSE UFM, any counts, any fixed classifier W, no bias, lambda_H > 0: the class means are "
     "Hbar = (W^T W + N lambda_H I)^{-1} W^T whatever the counts; value (N lambda_H / 2N) sum_k n_k "
     "[(W W^T + N lambda_H I)^{-1}]_kk"),
    ("fixed_classifier_ce", applies_ce, predict_ce,
     "derived (the UFM decouples into K strictly convex problems; docs/theory.md section 18)",
     "One-layer CE UFM, any counts, any fixed classifier W, no bias, lambda_H > 0: every class-k feature is the "
     "unique minimiser of CE(W h, k) + (N lambda_H / 2) ||h||^2, whatever the counts"))
