"""Behnia, Kini, Vakilian & Thrampoulidis 2023 ("On the implicit geometry of cross-entropy parameterizations for
label-imbalanced data", AISTATS, arXiv 2303.07608): in the imbalanced UFM with class-dependent temperatures
(CDT; here ``cdt(delta=...)``, l(z, y) = CE(z / delta, y)) and vanishing regularisation, the solution tends in
direction to the UFM's cost-sensitive SVM (CS-SVM)

    min 1/2 ||W||_F^2 + 1/2 sum_k n_k ||h_k||^2   s.t.  w_k^T h_k / delta_k - w_j^T h_k / delta_j >= 1  (j != k),

which is not SELI when the temperatures differ (docs/theory.md section 19). The paper writes the loss
multiplicatively, CE(Delta * z) with Delta_k = 1 / delta_k; its margins are Delta_k w_k^T h_k - Delta_j w_j^T h_k.

Check, per case (counts, d, gamma; delta_k = (n_max / n_k)^gamma, Ye et al. 2020's temperatures): the CS-SVM
solved independently (scipy SLSQP multi-start on the factored problem above); ufm solves the CDT UFM at lambda =
1e-3, 1e-4, 1e-5 (both decays equal) and the normalised distance (``ufm.metrics.gram_distance``) of W Hbar to
the CS-SVM's W Hbar is measured. The statement holds on a case when the distance falls strictly as lambda falls
and distance * log(1/lambda) stays within [0.3, 3] (the 1/log(1/lambda) rate of a max-margin limit, as for
SELI); it is refuted when the distance grows as lambda falls. The paper states the limit; the rate is ufm's
reading (the logits grow like log(1/lambda), so the direction's error is O(1 / log(1/lambda))).
"""

import numpy as np
from scipy.optimize import minimize

from proofs_check.core import CaseResult, Statement
from proofs_check.statements._limits import CITATION, cdt_loss, hypotheses, limit_cases, limit_verdict
from ufm import losses
from ufm.metrics import gram_distance
from ufm.theory.convex_oracle import seli_logits

ID = "behnia2023-cdt-cs-svm"


def cs_svm_logits(delta, counts, d, starts=4, seed=0):
    """Class-mean logits W Hbar (K x K) of the UFM's CS-SVM with temperatures ``delta`` (margins
    z_kk / delta_k - z_jk / delta_j >= 1), and its value: scipy SLSQP on the factored (non-convex) problem from a
    feasible start (W = Hbar^T = c [I; 0], c^2 = 2 max delta) and Gaussian starts, until ``starts`` of them end
    feasible and stationary (at most 3 ``starts`` tries); the best kept. (None, nan) if none does."""
    K, n, delta = len(counts), np.asarray(counts, float), np.asarray(delta, float) * np.ones(len(counts))

    def unpack(x):
        return x[:K * d].reshape(K, d), x[K * d:].reshape(d, K)

    def f(x):
        W, H = unpack(x)
        return 0.5 * np.sum(W ** 2) + 0.5 * np.sum(n * np.sum(H ** 2, axis=0))

    def margins(x):
        W, H = unpack(x)
        Z = (W @ H) / delta[:, None]
        return np.concatenate([Z[k, k] - np.delete(Z[:, k], k) - 1.0 for k in range(K)])

    g, best, found = np.random.default_rng(seed), None, 0
    E = np.eye(d)[:K] * np.sqrt(2.0 * delta.max())
    x0 = np.concatenate([E.ravel(), E.T.ravel()])
    for i in range(3 * starts):
        r = minimize(f, x0 if i == 0 else 2.0 * g.standard_normal(2 * K * d), method="SLSQP",
                     constraints=[{"type": "ineq", "fun": margins}], options={"maxiter": 2000, "ftol": 1e-14})
        # status 8 ("positive directional derivative") is SLSQP stopping at ftol = 1e-14 below its line-search
        # precision: the starts then agree to ~1e-11 in value, so a feasible point with it is kept
        if r.status in (0, 8) and np.all(margins(r.x) > -1e-8):
            found += 1
            best = r if best is None or r.fun < best.fun else best
        if found == starts:
            break
    if best is None:
        return None, float("nan")
    W, H = unpack(best.x)
    return W @ H, float(best.fun)


def cases(full, seed):
    return limit_cases(cdt_loss, "gamma", (0.5, 1.0), full)


def check(case, seed):
    p = case.problem
    delta = dict(losses.get(p.loss).params)["delta"]
    Z_svm, value = cs_svm_logits(delta, p.counts, p.d, seed=seed)
    if Z_svm is None:
        return CaseResult(case.name, "inconclusive", "the reference CS-SVM (scipy SLSQP) found no feasible point")
    return limit_verdict(case, Z_svm, seed, "CS-SVM", {"cs_svm_dist_to_seli": gram_distance(Z_svm, seli_logits(p.K)),
                                                       "cs_svm_value": value})


STATEMENT = Statement(
    id=ID, citation=CITATION, expected="holds",
    statement="Imbalanced UFM with class-dependent temperatures, CE(z / delta) (M = 1, bias none, d >= K): as "
              "lambda -> 0 the normalised W Hbar tends to the cost-sensitive SVM's, at the rate 1/log(1/lambda)",
    hypotheses=hypotheses("cdt", "K"),
    cases=cases, check=check)
