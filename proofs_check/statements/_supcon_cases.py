"""Shared pieces of the supervised-contrastive statements (``ufm.contrastive``): draws of SupCon problems and
one check comparing the best point the solver finds with a predicted value and a predicted geometry."""

import numpy as np

from proofs_check.core import OBJ_RTOL, STRUCT_RTOL, CaseResult, refuted_by
from proofs_check.draws import log_uniform
from ufm import codes, contrastive


def draw(g, *, balanced: bool, nonnegative: bool = False, d_extra=(0, 2), rho2_max: float = 10.0,
         k_min: int = 2) -> contrastive.SupCon:
    """A random SupCon problem: K in k_min..5, n_k in 2..5 (equal when balanced), d = max(K - 1, 2) + extra (K + extra
    with non-negative features), r log-uniform in [0.5, 2] and rho^2 = r^2 / tau log-uniform in [0.5, rho2_max] (beyond
    ~10 the landscape near the optimum is flat to exp(-rho^2 K / (K - 1)) < 1e-6, and the geometry at a point of
    relative stationarity 1e-12 is determined to only ~1e-6 / that curvature: values still agree, STRUCT_RTOL
    would not)."""
    K = int(g.integers(k_min, 6))
    counts = (int(g.integers(2, 6)),) * K if balanced else tuple(int(v) for v in g.integers(2, 9, size=K))
    if not balanced and len(set(counts)) == 1:
        counts = (counts[0] + 3,) + counts[1:]
    d = max(K if nonnegative else K - 1, 2) + int(g.integers(*d_extra))  # d >= 2: the sphere of R^1 is two points
    r = log_uniform(g, 0.5, 2.0)
    return contrastive.SupCon(counts, d, temperature=r * r / log_uniform(g, 0.5, rho2_max), feature_radius=r,
                              nonnegative=nonnegative)


def check_value_and_geometry(predicted, distance, *, restarts=3, init=None):
    """Refuted when the solver finds a point below ``predicted(problem)`` (relative OBJ_RTOL); holds when the
    best point has the predicted value (OBJ_RTOL), within-class collapse (NC1 <= STRUCT_RTOL) and
    ``distance(solution metrics)`` <= STRUCT_RTOL; inconclusive otherwise. ``init(problem)``: an extra start
    (the predicted configuration), so a failure to reach the predicted value is the solver's, not the claim's."""

    def check(case, seed):
        p = case.problem
        f_pred = float(predicted(p))
        sol = contrastive.solve(p, restarts=restarts, seed=seed, init=None if init is None else init(p))
        m = sol.metrics()
        errors = {"objective_rel_err": abs(sol.objective - f_pred) / abs(f_pred), "nc1": m["nc1"],
                  "geometry_distance": distance(m), "stationarity": sol.stationarity}
        if refuted_by(sol.objective, f_pred) and sol.status.acceptable:
            return CaseResult(case.name, "refuted", f"found objective {sol.objective:.15g} < predicted {f_pred:.15g}",
                              errors, counterexample={"parameters": p.to_dict(), "predicted_objective": f_pred,
                                                      "found_objective": sol.objective,
                                                      "class_mean_cosines": np.round(
                                                          codes.cosines(sol.class_means.T), 8).tolist()})
        if not sol.status.acceptable:
            return CaseResult(case.name, "inconclusive", f"best run ended with status {sol.status}", errors)
        if errors["objective_rel_err"] > OBJ_RTOL:
            return CaseResult(case.name, "inconclusive", f"predicted value {f_pred:.15g} not reached (best "
                                                         f"{sol.objective:.15g})", errors)
        if m["nc1"] > STRUCT_RTOL or errors["geometry_distance"] > STRUCT_RTOL:
            return CaseResult(case.name, "inconclusive", "value agrees but the geometry differs", errors)
        return CaseResult(case.name, "holds", f"objective {sol.objective:.15g} = predicted {f_pred:.15g}; collapsed, "
                                              "the predicted geometry", errors)

    return check
