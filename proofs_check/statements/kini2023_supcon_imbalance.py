"""Kini et al. 2023: without a ReLU, class imbalance breaks the symmetric (simplex) geometry of the
supervised-contrastive UFM."""

import numpy as np

from proofs_check.core import OBJ_RTOL, STRUCT_RTOL, Case, CaseResult, Statement
from proofs_check.draws import rng
from proofs_check.statements._supcon_cases import draw
from ufm import codes, contrastive

ID = "kini2023-supcon-imbalance"

#: the class means count as "not a simplex" when their Gram is this far from a simplex ETF's (nc2_etf; the
#: optimum of a balanced problem is at ~1e-13, the imbalanced cases below at 0.02-0.2)
ASYMMETRY_MIN = 1e-4


def hypotheses(problem):
    if not isinstance(problem, contrastive.SupCon) or problem.nonnegative:
        return False, "needs a ufm.contrastive.SupCon problem with features on the whole sphere"
    if problem.is_balanced:
        return False, "needs imbalanced classes"
    if problem.K < 3:  # two classes have one inter-class angle: antipodal is optimal for any counts
        return False, "needs K >= 3 (with two classes there is no angle to break)"
    return problem.d >= problem.K - 1, "needs d >= K - 1 (so that the simplex exists)"


def cases(full, seed):
    g = rng(ID, seed)
    out = [Case("counts 2, 3, 8, d = 2, tau = 0.3", contrastive.SupCon((2, 3, 8), 2, temperature=0.3)),
           Case("counts 6, 2, 2, 4, d = 3, tau = 0.5", contrastive.SupCon((6, 2, 2, 4), 3, temperature=0.5))]
    # rho^2 <= 5: the asymmetry's gain falls like exp(-rho^2 K / (K - 1)); at rho^2 ~ 10 it is ~1e-9 relative
    # (counts 2, 6, 7, d = 2: 8.7e-10), below OBJ_RTOL, so such a case could only be inconclusive
    out += [Case(f"random-{i}", draw(g, balanced=False, d_extra=(0, 1), rho2_max=5.0, k_min=3))
            for i in range(4 if full else 0)]
    return out


def check(case, seed):
    """Holds when the solver finds a point below the collapsed simplex's value (relative OBJ_RTOL) whose class
    means are not a simplex (nc2_etf >= ASYMMETRY_MIN); inconclusive when the simplex is not beaten (the claim is
    then unsupported on this case, not disproved: no bound covers imbalanced counts). Within-class collapse at
    the best point is reported (``nc1``)."""
    p = case.problem
    f_simplex = contrastive.evaluate(p, contrastive.simplex_features(p))
    sol = contrastive.solve(p, restarts=3, seed=seed, init=contrastive.simplex_features(p))
    m = sol.metrics()
    errors = {"simplex_objective": f_simplex, "best_objective": sol.objective,
              "improvement_rel": (f_simplex - sol.objective) / abs(f_simplex), "etf_distance": m["etf_distance"],
              "nc1": m["nc1"], "cosine_spread": m["cosine_max"] - m["cosine_min"]}
    if not sol.status.acceptable:
        return CaseResult(case.name, "inconclusive", f"best run ended with status {sol.status}", errors)
    if sol.objective < f_simplex - OBJ_RTOL * abs(f_simplex) and m["etf_distance"] >= ASYMMETRY_MIN:
        collapsed = "collapsed within classes" if m["nc1"] <= STRUCT_RTOL else f"not collapsed (NC1 {m['nc1']:.3g})"
        return CaseResult(case.name, "holds", f"the simplex ({f_simplex:.12g}) is beaten by {sol.objective:.12g}: "
                                              f"class-mean cosines from {m['cosine_min']:.4f} to "
                                              f"{m['cosine_max']:.4f}, {collapsed}", errors,
                          counterexample={"parameters": p.to_dict(), "simplex_objective": f_simplex,
                                          "found_objective": sol.objective,
                                          "class_mean_cosines": np.round(codes.cosines(sol.class_means.T),
                                                                         8).tolist()})
    return CaseResult(case.name, "inconclusive", "no point below the collapsed simplex was found", errors)


STATEMENT = Statement(
    id=ID, expected="holds", hypotheses=hypotheses, cases=cases, check=check,
    citation="Kini, Vakilian, Behnia, Gill & Thrampoulidis 2023, 'Symmetric neural-collapse representations with "
             "supervised contrastive loss: the impact of ReLU and batching', arXiv 2306.07960 (abstract and "
             "section 1: the symmetry of balanced SCL breaks under imbalance)",
    statement="Features on the whole sphere (no ReLU), imbalanced counts, K >= 3, d >= K - 1: the collapsed regular "
              "simplex, optimal for balanced classes (Graf et al. 2021), is no longer a global minimiser of the "
              "full-batch supervised contrastive loss: the optimal class means are not equiangular.")
