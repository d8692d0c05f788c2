"""Fixed classifiers under imbalance (docs/theory.md sections 11 and 15): Yang et al. 2022's fixed simplex ETF
keeps its geometry for any counts, and for ANY fixed classifier (EBV, FedLoGe's sparse ETF, the orthoplex) the
one-layer UFM decouples into per-class problems that do not see the counts (MSE: the ridge closed form; CE:
K strictly convex problems solved by Newton), checked against the full solver's search."""

import numpy as np

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS
from ufm.theory import fixed_etf as theory


def _counts(g, K):
    """Imbalanced counts: a geometric profile from 1 to ~10, shuffled (minorities anywhere)."""
    c = np.maximum(1, np.round(10.0 ** np.linspace(1, 0, K))).astype(int)
    return tuple(int(x) for x in g.permutation(c))


def etf_cases(full, seed):
    g = rng("yang2022-fixed-etf-imbalanced", seed)
    out = []
    for loss in ("ce", "mse"):
        for K in ((3, 4, 6) if full else (3, 4)):
            lh = log_uniform(g, 1e-3, 3e-2)
            out.append(Case(f"{loss}, K={K}, counts imbalanced, lambda_H={lh:.2e}", ufm.Problem(
                counts=_counts(g, K), d=K, loss=loss, classifier="etf", lambda_W=0.0, lambda_H=lh)))
    out.append(Case("ce, K=4, ratio 100:1 (extreme imbalance)", ufm.Problem(
        counts=(100, 100, 1, 1), d=3, loss="ce", classifier="etf", lambda_W=0.0, lambda_H=1e-3)))
    return out


def general_cases(loss):
    def cases(full, seed):
        g = rng(f"fixed-classifier-{loss}", seed)
        geoms = [("ebv", 8, 3)]  # default: cheap (each named geometry compiles its generator once per shape)
        if full:
            geoms += [("sparse-etf", 5, 6), ("orthoplex", 6, 3), ("ebv", 12, 4), ("sparse-etf", 8, 10), ("ebv", 5, 5)]
        out = []
        for name, K, d in geoms:
            lh = log_uniform(g, 1e-3, 3e-2)
            out.append(Case(f"{name}, K={K}, d={d}, imbalanced, lambda_H={lh:.2e}", ufm.Problem(
                counts=_counts(g, K), d=d, loss=loss, classifier=name, lambda_W=0.0, lambda_H=lh)))
        out.append(Case("given random matrix, K=5, d=3", ufm.Problem(
            counts=(9, 1, 4, 2, 6), d=3, loss=loss, lambda_W=0.0, lambda_H=5e-3,
            classifier=np.random.default_rng(seed).standard_normal((5, 3)))))
        return out

    return cases


# restarts=1: with a fixed classifier, M = 1 and lambda_H > 0 the problem is strictly convex in the features, so one
# converged run is the optimum (the check still compares it with the prediction, and a lower value would refute)
STATEMENTS = [
    Statement(id="yang2022-fixed-etf-imbalanced", citation=PREDICTIONS["fixed_etf_imbalanced"].source,
              expected="holds", statement=PREDICTIONS["fixed_etf_imbalanced"].statement,
              hypotheses=theory.applies_imbalanced, cases=etf_cases,
              check=check_prediction("fixed_etf_imbalanced", restarts=1)),
    Statement(id="fixed-classifier-mse-ridge", citation=PREDICTIONS["fixed_classifier_mse"].source,
              expected="holds", statement=PREDICTIONS["fixed_classifier_mse"].statement,
              hypotheses=theory.applies_mse, cases=general_cases("mse"),
              check=check_prediction("fixed_classifier_mse", restarts=1)),
    Statement(id="fixed-classifier-ce-decoupled", citation=PREDICTIONS["fixed_classifier_ce"].source,
              expected="holds", statement=PREDICTIONS["fixed_classifier_ce"].statement,
              hypotheses=theory.applies_ce, cases=general_cases("ce"),
              check=check_prediction("fixed_classifier_ce", restarts=1)),
]
