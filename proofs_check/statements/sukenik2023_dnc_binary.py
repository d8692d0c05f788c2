"""Sukenik, Mondelli & Lampert 2023: for binary classification the global optimum of the deep ReLU UFM (MSE,
bias-free) is deep neural collapse at every layer. Checked: the best point the search finds (random starts and
the DNC / low-rank / random starts of ufm.nonlinear) has the DNC value (docs/theory.md section 15), is
collapsed at every layer and has orthogonal post-ReLU class means at every hidden layer; above the
regularisation threshold the optimum is 0 (their trivial case)."""

import ufm
from proofs_check.core import OBJ_RTOL, STRUCT_RTOL, Case, CaseResult, Statement, geometry, refuted_by, search_best
from ufm.theory import PREDICTIONS

ID = "sukenik2023-dnc-binary"
P = PREDICTIONS["sukenik2023_dnc_binary"]
#: per-layer NC1 and orthogonality of a converged DNC point (first order in the stationarity 1e-11 over the
#: curvature: 1e-6 is far above it and far below a non-collapsed point's O(1))
DNC_TOL = 1e-6


def cases(full, seed):
    relu = dict(loss="mse", activation="relu")
    out = [Case("K=2, L=2", ufm.Problem.balanced(2, 2, 2, depth=2, lambda_W=1e-3, lambda_H=1e-3, **relu)),
           Case("K=2, L=3", ufm.Problem.balanced(2, 2, 3, depth=3, lambda_W=5e-3, lambda_H=5e-3, **relu)),
           Case("K=2, L=3, decay above the threshold (optimum 0)",
                ufm.Problem.balanced(2, 2, 2, depth=3, lambda_W=0.5, lambda_H=0.5, **relu))]
    if full:
        out += [Case("K=2, L=4", ufm.Problem.balanced(2, 3, 4, depth=4, lambda_W=2e-3, lambda_H=2e-3, **relu)),
                Case("K=2, L=3, unequal decays", ufm.Problem.balanced(2, 2, 3, depth=3, lambda_W=[1e-3, 4e-3, 2e-3],
                                                                     lambda_H=3e-3, **relu))]
    return out


def check(case, seed):
    p = case.problem
    pred = P.predict(p)
    best, _ = search_best(p, restarts=2, seed=seed)
    errors = P.errors(p, best)
    f_pred = float(pred["objective"])
    if refuted_by(best.objective, f_pred) and best.status.acceptable:
        return CaseResult(case.name, "refuted", f"found objective {best.objective:.15g} < DNC value {f_pred:.15g}",
                          errors, counterexample={"parameters": p.to_dict(), "predicted_objective": f_pred,
                                                  "found_objective": best.objective, "found_geometry": geometry(best)})
    if not best.status.acceptable or errors["objective_rel_err"] > OBJ_RTOL:
        return CaseResult(case.name, "inconclusive",
                          f"DNC value {f_pred:.15g} not reached (best {best.objective:.15g}, {best.status})", errors)
    if pred["rho"] == 0:
        return CaseResult(case.name, "holds", f"objective {best.objective:.15g} = 1/2: the zero solution", errors)
    layers = best.metrics()["per_layer"]
    nc1 = max(layer["nc1"] for layer in layers)
    orth = max(layer["nc2_orthogonal"] for layer in layers[1:])
    errors.update({"max_layer_nc1": nc1, "max_hidden_nc2_orthogonal": orth})
    if nc1 > DNC_TOL or orth > DNC_TOL or errors["logits_err"] > STRUCT_RTOL:
        return CaseResult(case.name, "inconclusive", f"DNC value reached but the geometry is not DNC (NC1 {nc1:.2e}, "
                                                     f"orthogonality {orth:.2e})", errors)
    return CaseResult(case.name, "holds", f"objective {best.objective:.15g} = DNC value; DNC at every layer (NC1 <= "
                                          f"{nc1:.1e}, hidden orthogonality <= {orth:.1e})", errors)


STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="holds", hypotheses=P.applies,
                      cases=cases, check=check)
