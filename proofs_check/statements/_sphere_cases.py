"""Shared pieces of the normalised-UFM statements: balanced spherical CE problems and a check that compares
the value with a prediction and the geometry of the classifier rows and class means with a spherical code
(``ufm.codes``), where Gram matrices would depend on which class sits at which vertex."""

import numpy as np

import ufm
from proofs_check.core import OBJ_RTOL, STRUCT_RTOL, CaseResult, refuted_by, search_best


def sphere_ce(K, d, r_H=2.0, r_W=2.0, n=1, **kw):
    """K classes of n samples, CE, features on the sphere of radius r_H and classifier rows on r_W."""
    return ufm.Problem.balanced(K, n, d, loss="ce", lambda_W=kw.pop("lambda_W", 0.0),
                                lambda_H=kw.pop("lambda_H", 0.0), feature_radius=r_H, classifier_radius=r_W, **kw)


def check_code(prediction_name, distance, *, restarts=2):
    """Refuted when a point lower than the predicted value is found; holds when the best point has the
    predicted value (OBJ_RTOL) and ``distance(rows)`` <= STRUCT_RTOL for the classifier rows and the class
    means, with every class mean on its classifier row (cosine 1 - STRUCT_RTOL); inconclusive otherwise."""

    def check(case, seed):
        from ufm import codes
        from ufm.theory import PREDICTIONS

        problem = case.problem
        f_pred = float(PREDICTIONS[prediction_name].predict(problem)["objective"])
        best, _ = search_best(problem, restarts=restarts, seed=seed, search=False)
        W, M = best.classifier, best.class_means.T
        errors = {"objective_rel_err": abs(best.objective - f_pred) / abs(f_pred),
                  "classifier_code_distance": distance(W), "mean_code_distance": distance(M),
                  "misalignment": float(1 - np.min(np.sum(codes.unit_rows(W) * codes.unit_rows(M), axis=1))),
                  "min_angle": codes.min_angle(W), "tammes_bound": codes.tammes_bound(problem.K, problem.d)}
        if refuted_by(best.objective, f_pred) and best.status.acceptable:
            return CaseResult(case.name, "refuted", f"found objective {best.objective:.15g} < predicted "
                                                    f"{f_pred:.15g}", errors,
                              counterexample={"parameters": problem.to_dict(), "predicted_objective": f_pred,
                                              "found_objective": best.objective,
                                              "classifier_cosines": np.round(codes.cosines(W), 8).tolist()})
        if not best.status.acceptable:
            return CaseResult(case.name, "inconclusive", f"best run ended with status {best.status}", errors)
        if errors["objective_rel_err"] > OBJ_RTOL:
            return CaseResult(case.name, "inconclusive", f"predicted value {f_pred:.15g} not reached (best "
                                                         f"{best.objective:.15g})", errors)
        bad = {k: errors[k] for k in ("classifier_code_distance", "mean_code_distance", "misalignment")
               if errors[k] > STRUCT_RTOL}
        if bad:
            return CaseResult(case.name, "inconclusive", f"value agrees but the geometry differs: {bad}", errors)
        return CaseResult(case.name, "holds", f"objective {best.objective:.15g} = predicted {f_pred:.15g}; "
                                              "the predicted code", errors)

    return check
