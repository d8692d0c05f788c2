"""Zhou et al. 2022: the balanced UFM with label-smoothed CE collapses to a simplex ETF (scale from a 1-D
problem); the convex certificate applies (the loss is convex, its conjugate is the CE's at the smoothed
target)."""

import ufm
from proofs_check.core import Case
from proofs_check.statements._softmax_cases import etf_statement


def extra_cases(full):
    out = [Case("epsilon = 0.1, lambda = 1e-7 (near the zero-decay logit gap)",
                ufm.Problem.balanced(4, 3, 3, loss="label-smoothing(epsilon=0.1)", lambda_W=1e-7, lambda_H=1e-7))]
    if full:
        out.append(Case("regularised bias", ufm.Problem.balanced(3, 4, 3, loss="label-smoothing(0.2)",
                                                                 bias="regularized", lambda_b=1e-2,
                                                                 lambda_W=3e-3, lambda_H=3e-3)))
        out.append(Case("large decay: W = H = 0", ufm.Problem.balanced(3, 2, 3, loss="label-smoothing(0.2)",
                                                                       lambda_W=0.5, lambda_H=0.5)))
    return out


STATEMENT = etf_statement("zhou2022-label-smoothing-etf", "label-smoothing", "label-smoothed CE", "0 < epsilon < 1",
                          ("epsilon", 0.02, 0.5), extra_cases)
