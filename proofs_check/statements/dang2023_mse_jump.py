"""Dang et al. 2023: minority collapse is continuous for M = 1 and discontinuous for M >= 2 -- at the global
threshold (W Hbar)_kk of the minority class jumps from 0 to (M-1)/M."""

import numpy as np

from proofs_check.core import Case, CaseResult, Statement, predicted_point, refuted_by, search_best
from proofs_check.statements._mse_cases import at_ratio
from ufm.theory import PREDICTIONS

ID = "dang2023-mse-jump"
EPS = 1e-6  # structure tolerance (see proofs_check.core.STRUCT_RTOL)


def cases(full, seed):
    out = []
    for M in ((1, 2, 3) if full else (1, 2, 3)):
        for ratio in ((0.97, 1.03) if not full else (0.9, 0.97, 1.03, 1.1)):
            out.append(Case(f"M={M}, n_min = {ratio} x threshold", at_ratio((12, 8, 3), M, ratio),
                            {"M": M, "ratio": ratio}))
    return out


def check(case, seed):
    p, M, ratio = case.problem, case.extra["M"], case.extra["ratio"]
    pred = PREDICTIONS["dang2023_mse_imbalanced"].predict(p)
    x0 = predicted_point(p, pred)
    best, _ = search_best(p, restarts=4, seed=seed, starts=[x0])
    k = int(np.argmin(p.counts))
    found = float((best.mean_logits)[k, k])
    errors = {"minority_WHbar_kk": found, "objective_rel_err": abs(best.objective - pred["objective"]) / pred["objective"]}
    if ratio < 1:
        ok = abs(found) <= EPS
        claim = "0 below the threshold"
    elif M == 1:
        ok = 0 < found <= 1 - (1 / ratio) ** 0.5 + EPS  # continuous: 1 - sqrt(threshold / n_min)
        claim = "small and continuous above the threshold (M = 1)"
    else:
        ok = found >= (M - 1) / M - EPS
        claim = f">= (M-1)/M = {(M - 1) / M:.4g} just above the threshold"
    if refuted_by(best.objective, pred["objective"]):
        return CaseResult(case.name, "refuted", f"found a lower objective {best.objective} < {pred['objective']}",
                          errors, counterexample={"parameters": p.to_dict(), "found_objective": best.objective,
                                                  "predicted_objective": pred["objective"]})
    verdict = "holds" if ok else "refuted"
    return CaseResult(case.name, verdict, f"minority (W Hbar)_kk = {found:.6g}; claim: {claim}", errors,
                      counterexample=None if ok else {"parameters": p.to_dict(), "minority_WHbar_kk": found})


STATEMENT = Statement(
    id=ID, citation="Dang et al. 2023, Thm 4.1 and its discussion (minority collapse)", expected="holds",
    statement="Bias-free deep linear MSE UFM: the minority class's (W Hbar)_kk is 0 below the global threshold; "
              "above it, it grows continuously from 0 for M = 1 but jumps to (M-1)/M for M >= 2",
    hypotheses=PREDICTIONS["dang2023_mse_imbalanced"].applies, cases=cases, check=check)
