"""Dang et al. 2023: deep neural collapse -- at the optimum of the bias-free deep linear MSE UFM every
intermediate feature H_m = W_{m-1}..W_1 H collapses (NC1 = 0) onto an orthogonal frame (class means
pairwise orthogonal), balanced or not."""

import numpy as np

from proofs_check.core import Case, CaseResult, Statement, predicted_point, refuted_by, search_best
from proofs_check.statements._mse_cases import at_ratio
from ufm.theory import PREDICTIONS

ID = "dang2023-deep-nc"
TOL = 1e-6


def cases(full, seed):
    out = [Case("M=2, balanced", at_ratio((6, 6, 6), 2, 3.0)), Case("M=3, imbalanced", at_ratio((10, 6, 3), 3, 2.0))]
    if full:
        out.append(Case("M=4, imbalanced", at_ratio((10, 6, 3), 4, 2.0)))
    return out


def check(case, seed):
    p = case.problem
    pred = PREDICTIONS["dang2023_mse_imbalanced"].predict(p)
    best, _ = search_best(p, restarts=4, seed=seed, starts=[predicted_point(p, pred)])
    m = best.metrics()
    errors = {}
    for i, (layer, H) in enumerate(zip(m["per_layer"], best.layer_features)):
        errors[f"nc1_layer{i + 1}"] = layer["nc1"]
        means = np.stack([H[:, p.labels() == k].mean(axis=1) for k in range(p.K)], axis=1)
        G = means.T @ means
        off = G - np.diag(np.diag(G))
        errors[f"offdiag_gram_layer{i + 1}"] = float(np.max(np.abs(off)) / np.max(np.abs(G)))
    if refuted_by(best.objective, pred["objective"]):
        return CaseResult(case.name, "refuted", "found a lower objective than the deep-NC point", errors,
                          counterexample={"parameters": p.to_dict(), "found": best.objective,
                                          "predicted": pred["objective"]})
    bad = {k: v for k, v in errors.items() if not (v <= TOL)}
    if bad:
        return CaseResult(case.name, "refuted", f"a layer does not collapse onto an orthogonal frame: {bad}",
                          errors, counterexample={"parameters": p.to_dict(), "errors": bad})
    return CaseResult(case.name, "holds", f"all {p.depth} layers collapse (worst {max(errors.values()):.2e})", errors)


STATEMENT = Statement(
    id=ID, citation="Dang et al. 2023, Thm 3.1 / 4.1 (deep neural collapse)", expected="holds",
    statement="Bias-free deep linear MSE UFM: at the global optimum the features entering every layer are "
              "collapsed (NC1 = 0) and their class means form an orthogonal frame",
    hypotheses=PREDICTIONS["dang2023_mse_imbalanced"].applies, cases=cases, check=check)
