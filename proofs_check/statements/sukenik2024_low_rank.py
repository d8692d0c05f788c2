"""Sukenik, Lampert & Mondelli 2024: in the deep ReLU UFM (MSE, bias-free, balanced) with more classes and
layers, solutions of lower rank than DNC have a strictly lower objective. Checked: the search of
ufm.nonlinear finds a point below the DNC value (docs/theory.md section 15) whose class means have rank < K at
some layer."""

import ufm
import numpy as np

from proofs_check.core import Case, CaseResult, Statement, refuted_by, search_best
from ufm.theory import sukenik2023

ID = "sukenik2024-low-rank"
#: the rank of a layer's class means is read at singular values above RANK_RTOL times the largest: the low-rank
#: points sit at ReLU kinks, where L-BFGS stalls while the vanishing singular values are still ~1e-4..1e-3
#: relative (still decreasing), against >= 0.2 for the kept ones; DNC has K equal singular values
RANK_RTOL = 1e-2


def cases(full, seed):
    relu = dict(loss="mse", activation="relu")
    out = [Case("K=4, L=4", ufm.Problem.balanced(4, 1, 4, depth=4, lambda_W=3e-3, lambda_H=3e-3, **relu))]
    if full:
        out.append(Case("K=6, L=4", ufm.Problem.balanced(6, 1, 6, depth=4, lambda_W=1e-3, lambda_H=1e-3, **relu)))
    return out


def check(case, seed):
    p = case.problem
    dnc = sukenik2023.dnc_value(p)["objective"]
    best, _ = search_best(p, restarts=2, seed=seed)
    svals = [np.linalg.svd(F @ np.eye(p.K)[p.labels()].T / np.asarray(p.counts, float), compute_uv=False)
             for F in best.layer_features]  # singular values of each layer's class means
    ranks = [int(np.sum(sv > RANK_RTOL * sv[0])) for sv in svals]
    errors = {"dnc_value": dnc, "found": best.objective, "margin": dnc - best.objective, "min_layer_rank": min(ranks),
              "smallest_relative_singular_value": min(float(sv[-1] / sv[0]) for sv in svals)}
    if refuted_by(best.objective, dnc, 1e-6) and min(ranks) < p.K:
        return CaseResult(case.name, "holds", f"found {best.objective:.10g} < DNC {dnc:.10g}; class-mean ranks per "
                                              f"layer {ranks} (DNC: {p.K} everywhere)", errors)
    return CaseResult(case.name, "inconclusive", "no low-rank solution below the DNC value found", errors)


STATEMENT = Statement(
    id=ID, citation="Sukenik, Lampert & Mondelli 2024, Neural collapse versus low-rank bias: is deep neural collapse "
                    "really optimal? (arXiv 2405.14468)", expected="holds",
    statement="Deep ReLU UFM, MSE, bias-free, balanced, K >= 3 classes and L >= 3 layers (some regularisation): a "
              "solution of lower rank than DNC has a strictly lower objective than every DNC point",
    hypotheses=sukenik2023.applies_dnc, cases=cases, check=check)
