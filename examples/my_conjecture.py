"""A user's own conjecture, checked by `ufm check --statements examples/my_conjecture.py`.

Conjecture (true, by the convex reformulation): in the one-layer MSE UFM with an unregularised bias, the
optimal bias is the class-frequency vector b* = n / N (for balanced classes 1/K, Dang et al. 2023).
"""

import numpy as np

import ufm
from proofs_check import Case, CaseResult, Statement, search_best


def cases(full, seed):
    return [Case("imbalanced", ufm.Problem(counts=(6, 3, 1), d=3, loss="mse", bias="free",
                                           lambda_W=1e-3, lambda_H=1e-3))]


def check(case, seed):
    p = case.problem
    best, _ = search_best(p, restarts=2, seed=seed)
    predicted = np.asarray(p.counts, float) / p.N
    err = float(np.max(np.abs(best.bias - predicted)))
    verdict = "holds" if err <= 1e-6 else "refuted"
    return CaseResult(case.name, verdict, f"bias {np.round(best.bias, 6)} vs n/N {np.round(predicted, 6)}",
                      {"bias_err": err}, counterexample=None if verdict == "holds" else {"bias": best.bias.tolist()})


STATEMENT = Statement(
    id="my-mse-bias-is-class-frequency", citation="my notes, 2026", expected="holds",
    statement="One-layer MSE UFM with a free bias: b* = n / N", cases=cases, check=check)
