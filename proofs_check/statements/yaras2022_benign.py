"""Yaras et al. 2022: the normalised CE UFM on the oblique manifold has a benign landscape (d >= K): every
local minimiser is the global simplex ETF, every other critical point a strict saddle."""

from proofs_check.core import OBJ_RTOL, Case, CaseResult, Statement
from proofs_check.statements._sphere_cases import sphere_ce
from ufm.theory import spherical

ID = "yaras2022-benign"
SOURCE = ("Yaras, Wang, Zhu, Balzano & Qu 2022, Neural collapse with normalized features: a geometric analysis "
          "over the Riemannian manifold, NeurIPS (arXiv:2209.09211)")


def hypotheses(problem):
    ok, why = spherical.applies_etf(problem)
    if ok and problem.d < problem.K:
        return False, "needs d >= K"
    return spherical.both_radii(problem) if ok else (ok, why)


def cases(full, seed):
    out = [Case("K = 4, d = 4, n = 2, rho = 4, 4 random starts", sphere_ce(4, 4, n=2), {"restarts": 4})]
    if full:
        out.append(Case("K = 5, d = 6, rho = 1, 10 random starts", sphere_ce(5, 6, 1.0, 1.0), {"restarts": 10}))
        out.append(Case("K = 3, d = 3, n = 4, rho = 9, 10 starts, full problem",
                        sphere_ce(3, 3, 3.0, 3.0, n=4), {"restarts": 10, "reduce": "never"}))
    return out


def check(case, seed):
    """Every random start that ends at a second-order minimum (the solver's Riemannian saddle check: status
    converged or stalled, never saddle) must reach the global value (the sphere bound, attained for d >= K - 1):
    a minimum above it is a spurious local minimum and refutes the statement."""
    from ufm import sphere
    from ufm.solver import solve

    problem = case.problem
    f_star = sphere.bound(problem).value
    sol = solve(problem, restarts=case.extra["restarts"], seed=seed, reduce=case.extra.get("reduce", "auto"),
                second_order="always")
    values = [r.objective for r in sol.runs if r.status.acceptable]
    errors = {"runs": len(sol.runs), "minima": len(values),
              "worst_rel_excess": max((v - f_star) / abs(f_star) for v in values) if values else float("nan")}
    spurious = [v for v in values if v > f_star + OBJ_RTOL * abs(f_star)]
    if spurious:
        return CaseResult(case.name, "refuted", f"{len(spurious)} run(s) stopped at a minimum above the global value "
                                                f"{f_star:.15g}: {spurious[0]:.15g}", errors,
                          counterexample={"parameters": problem.to_dict(), "predicted_objective": f_star,
                                          "found_objective": spurious[0]})
    if not values:
        return CaseResult(case.name, "inconclusive", "no run ended at a minimum", errors)
    return CaseResult(case.name, "holds", f"all {len(values)} minima found have the global value {f_star:.15g}",
                      errors)


STATEMENT = Statement(
    id=ID, citation=SOURCE, expected="holds",
    statement="Normalised CE UFM (features and classifier rows on spheres), balanced, d >= K: every local minimum "
              "is global (the simplex ETF); random starts never stop at a spurious minimum",
    hypotheses=hypotheses, cases=cases, check=check)
