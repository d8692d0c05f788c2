"""Zhou et al. 2022: the balanced UFM with the focal loss collapses to a simplex ETF, although the loss is not
convex in the logits (so no convex certificate: the verdict rests on the random restarts agreeing with the
prediction, and a lower point would refute it)."""

import ufm
from proofs_check.core import Case
from proofs_check.statements._softmax_cases import etf_statement


def extra_cases(full):
    if not full:
        return []
    return [Case("gamma = 5, d = K - 1", ufm.Problem.balanced(5, 2, 4, loss="focal(5)", lambda_W=1e-3,
                                                                lambda_H=1e-3))]


STATEMENT = etf_statement("zhou2022-focal-etf", "focal", "the focal loss", "gamma > 0, not convex in the logits",
                          ("gamma", 0.5, 4.0), extra_cases, restarts=3)
