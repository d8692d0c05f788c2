"""Garrod & Keating 2024 ("The persistence of neural collapse despite low-rank bias", arXiv 2410.23169) extend
their low-rank result for the deep CE UFM to ReLU layers "under reasonable assumptions": DNC is not generally
optimal, lower solutions of low rank exist. An empirical claim for ReLU, checked by search: the DNC point (the
end of the ``dnc`` starts of ufm.nonlinear, verified collapsed with orthogonal post-ReLU class means) against
the best point of every start (DNC, low-rank, random). Expected: inconclusive -- on these cases the search finds
nothing below the DNC point (the ReLU forces non-negative hidden class means, which makes the linear model's
low-rank solutions unavailable as they are; docs/theory.md section 15)."""

import numpy as np

import ufm
from proofs_check.core import Case, CaseResult, Statement, refuted_by
from ufm import nonlinear
from ufm.hypotheses import requires
from ufm.metrics import dnc_metrics

ID = "garrod2024-relu"
#: per-layer NC1 / orthogonality of a converged DNC point (first order in the stationarity; see
#: sukenik2023_dnc_binary)
DNC_TOL = 1e-6


def _size(problem):
    K, M = problem.K, problem.depth
    ok = (K >= 4 and M >= 3) or (K >= 6 and M == 2)
    return ok, "" if ok else "needs K >= 4 and M >= 3, or K >= 6 and M = 2"


hypotheses = requires(loss="ce", bias="none", balanced=True, learnable_classifier=True, one_hot=True, d_min="K",
                      equal_decay=True, activation="relu", activate_features=False, extra=_size)


def cases(full, seed):
    relu = dict(loss="ce", activation="relu")
    # extra "restarts": random starts of the search besides its 9 structured ones (more under full)
    out = [Case("K=4, M=3", ufm.Problem.balanced(4, 1, 4, depth=3, lambda_W=2e-3, lambda_H=2e-3, **relu),
                {"restarts": 0})]
    if full:
        out += [Case("K=4, M=3, more random starts", out[0].problem, {"restarts": 8}),
                Case("K=6, M=2", ufm.Problem.balanced(6, 1, 6, depth=2, lambda_W=1e-3, lambda_H=1e-3, **relu),
                     {"restarts": 8}),
                Case("K=4, M=4", ufm.Problem.balanced(4, 1, 4, depth=4, lambda_W=5e-3, lambda_H=5e-3, **relu),
                     {"restarts": 8})]
    return out


def check(case, seed):
    p = case.problem
    found = nonlinear.search(p, restarts=case.extra.get("restarts", 0), seed=seed)
    runs = [run for _, run in found.runs if run.status.acceptable]
    dnc_runs = [run for name, run in found.runs if name.startswith("dnc") and run.status.acceptable]
    if not dnc_runs:
        return CaseResult(case.name, "inconclusive", "no DNC start ended at an acceptable point", {})
    dnc = min(dnc_runs, key=lambda r: r.objective)
    best = min(runs, key=lambda r: r.objective)
    sol = ufm.Solution.at(p, dnc.params)
    labels = p.labels()
    layers = [dnc_metrics(F, labels, p.K) for F in sol.layer_features]
    nc1 = max(m["nc1"] for m in layers)
    orth = max(m["nc2_orthogonal"] for m in layers[1:])
    errors = {"dnc_point": dnc.objective, "found": best.objective, "margin": dnc.objective - best.objective,
              "dnc_max_layer_nc1": nc1, "dnc_max_hidden_nc2_orthogonal": orth}
    if nc1 > DNC_TOL or orth > DNC_TOL:
        return CaseResult(case.name, "inconclusive", "the DNC start did not end at a DNC point", errors)
    if refuted_by(best.objective, dnc.objective, 1e-6):
        Ws = [np.asarray(W) for W in best.params["W"]]
        sv = np.linalg.svd(Ws[-1], compute_uv=False)
        return CaseResult(case.name, "holds", f"found {best.objective:.10g} < DNC point {dnc.objective:.10g} "
                                              f"(classifier singular values {np.round(sv, 4).tolist()})", errors)
    return CaseResult(case.name, "inconclusive", f"nothing below the DNC point {dnc.objective:.10g} found "
                                                 f"({len(found.runs)} starts)", errors)


STATEMENT = Statement(
    id=ID, citation="Garrod & Keating 2024, The persistence of neural collapse despite low-rank bias "
                    "(arXiv 2410.23169), ReLU extension", expected="inconclusive",
    statement="Deep ReLU CE UFM, equal weight decay, K >= 4 and M >= 3 (or K >= 6, M = 2): a solution with a strictly "
              "lower objective than the deep-neural-collapse point exists (low-rank bias persists with ReLU)",
    hypotheses=hypotheses, cases=cases, check=check,
    notes="Empirical claim for ReLU: the verdict records what the search finds (docs/theory.md section 15).")
