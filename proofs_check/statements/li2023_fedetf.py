"""FedETF's claim in the UFM (docs/theory.md, "Federated UFMs"): Li, Shang, He, Lin & Wu 2023, "No fear of
classifier biases: neural collapse inspired federated learning with synthetic and fixed classifier" (ICCV 2023,
arXiv:2303.10058) fix a simplex-ETF classifier so that label skew across clients cannot bias the classifier.

Checked as a statement about the federated UFM (``ufm.federated``): with a fixed ETF classifier (one layer),
FedAvg under Dirichlet label skew with E local steps per round (i) keeps the global classifier an exact simplex
ETF with equal row norms, (ii) leaves no local classifier norm correlated with its client's counts, and (iii)
has no client drift: its fixed point is the centralised optimum of the pooled counts (``ufm.solve``) for every
E. (iii) is the non-trivial part: with the classifier fixed and M = 1 nothing else is shared, each client's
features solve their own per-class problems, which are those of the pooled problem (the decay lambda_H N/N_c
keeps each sample's loss-to-penalty ratio). Each case also runs the learnable classifier as the control: its
local classifiers do follow the local majority classes (the bias FedETF removes), recorded in ``errors``."""

import numpy as np

import ufm
from proofs_check.core import Case, CaseResult, Statement
from proofs_check.draws import log_uniform, rng
from ufm import federated
from ufm.hypotheses import Hypothesis

#: relative gap to the centralised optimum allowed for "no drift": the run is ~1500 local GD steps on a
#: strictly convex problem (fixed classifier, lambda_H > 0), which settles to ~1e-9 relative; E > 1 drift of a
#: learnable classifier is ~1e-4..1e-2, so 1e-6 separates the two
GAP_RTOL = 1e-6


def _applies(problem):
    if not problem.classifier_fixed or problem.depth != 1:
        return False, "needs a fixed classifier and one layer (FedETF's fixed ETF; deeper shared layers can drift)"
    return True, ""


def cases(full, seed):
    g = rng("li2023-fedetf", seed)
    shapes = [("etf", 4, 4, 4, 0.3, 10)]
    if full:  # EBV (Shen et al. 2023): the same claim for another fixed geometry, d < K
        shapes += [("etf", 5, 4, 6, 0.1, 5), ("etf", 6, 6, 8, 1.0, 20), ("etf", 3, 2, 3, 0.05, 10),
                   ("ebv", 6, 3, 5, 0.2, 10)]
    out = []
    for geom, K, d, C, alpha, E in shapes:
        lh = log_uniform(g, 2e-3, 2e-2)
        p = ufm.Problem(counts=(12,) * K, d=d, loss="ce", classifier=geom, lambda_W=0.0, lambda_H=lh)
        counts = federated.dirichlet_counts(p.counts, C, alpha, seed=int(g.integers(2 ** 31)))
        out.append(Case(f"{geom}, K={K}, d={d}, {C} clients, alpha={alpha}, E={E}, lambda_H={lh:.2e}", p,
                        {"counts": counts.tolist(), "E": E}))
    return out


def check(case: Case, seed: int) -> CaseResult:
    p, E = case.problem, case.extra["E"]
    fed = federated.Federation(problem=p, counts=case.extra["counts"], rounds=max(60, 1500 // E), local_steps=E,
                               lr=0.5, seed=seed)
    r = federated.run(fed)
    central = ufm.solve(fed.pooled, restarts=1).objective
    gap = (r.objective - central) / abs(central)
    learn = federated.run(federated.Federation(problem=p.replace(classifier=None, lambda_W=p.lambda_H),
                                               counts=case.extra["counts"], rounds=max(60, 1500 // E),
                                               local_steps=E, lr=0.5, seed=seed))
    errors = {"relative_gap_to_centralised": gap, "norm_ratio_minus_1": float(r.norms.max() / r.norms.min() - 1),
              "classifier_moved": float(np.max(np.abs(r.classifier - p.classifier_matrix()))), "nc2_etf": r.nc2_etf,
              "learnable_local_norm_count_corr": float(np.nanmean(learn.local_norm_count_corr))}
    if gap < -GAP_RTOL:
        return CaseResult(case.name, "refuted", f"federated objective {r.objective:.15g} below the centralised "
                                                f"optimum {central:.15g}", errors)
    etf_broken = p.classifier_name == "etf" and (r.nc2_etf > 1e-10 or errors["norm_ratio_minus_1"] > 1e-12)
    if etf_broken or errors["classifier_moved"] > 0 or np.any(np.isfinite(r.local_norm_count_corr)):
        return CaseResult(case.name, "refuted", "the fixed classifier's geometry moved or depends on the counts",
                          errors)
    settled = abs(r.history[-1] - r.history[-2]) <= 1e-12 * abs(r.history[-1])
    if gap > GAP_RTOL and not settled:
        return CaseResult(case.name, "inconclusive", f"the federated run has not settled (gap {gap:.2e})", errors)
    if gap > GAP_RTOL:
        return CaseResult(case.name, "refuted", f"client drift: federated objective {r.objective:.15g} above the "
                                                f"centralised optimum {central:.15g} (relative {gap:.2e})", errors)
    return CaseResult(case.name, "holds", f"fixed {p.classifier_name}: unchanged, unbiased, federated = centralised", errors)


STATEMENTS = [
    Statement(id="li2023-fedetf-no-classifier-bias",
              citation="Li, Shang, He, Lin & Wu 2023, No fear of classifier biases: neural collapse inspired "
                       "federated learning with synthetic and fixed classifier, ICCV (arXiv:2303.10058)",
              statement="In the federated UFM (one layer, CE) under Dirichlet label skew with E local steps per "
                        "round, a fixed simplex-ETF classifier (or any fixed geometry, e.g. EBV) stays exact (an ETF: equal "
                        "norms and angles), no local classifier depends on its client's counts, and FedAvg's fixed point is the centralised "
                        "optimum of the pooled counts for every E (no client drift).",
              expected="holds", hypotheses=Hypothesis(_applies, "fixed classifier, one layer"), cases=cases,
              check=check),
]
