"""Zhou et al. 2022: the balanced UFM with label-smoothed CE collapses to a simplex ETF (scale from a 1-D
problem); the convex certificate applies (the loss is convex, its conjugate is the CE's at the smoothed
target)."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.statements._softmax_cases import random_cases
from ufm.theory import PREDICTIONS, zhou2022

ID = "zhou2022-label-smoothing-etf"


def cases(full, seed):
    out = random_cases(ID, seed, 4 if full else 2, "label-smoothing", "epsilon", 0.02, 0.5)
    out.append(Case("epsilon = 0.1, lambda = 1e-7 (near the zero-decay logit gap)",
                    ufm.Problem.balanced(4, 3, 3, loss="label-smoothing(epsilon=0.1)", lambda_W=1e-7,
                                         lambda_H=1e-7)))
    if full:
        out.append(Case("regularised bias", ufm.Problem.balanced(3, 4, 3, loss="label-smoothing(0.2)",
                                                                 bias="regularized", lambda_b=1e-2,
                                                                 lambda_W=3e-3, lambda_H=3e-3)))
        out.append(Case("large decay: W = H = 0", ufm.Problem.balanced(3, 2, 3, loss="label-smoothing(0.2)",
                                                                       lambda_W=0.5, lambda_H=0.5)))
    return out


P = PREDICTIONS["zhou2022_softmax_etf"]
STATEMENT = Statement(
    id=ID, citation=P.source, expected="holds",
    statement="Balanced M = 1 UFM with label-smoothed CE (0 < epsilon < 1), d >= K - 1: the global optimum is a "
              "simplex ETF, W Hbar = a* (I - J/K), a* from the 1-D problem along the ETF ray",
    hypotheses=lambda p: zhou2022.applies(p) if p.loss.startswith("label-smoothing") else
    (False, "needs label-smoothed CE"),
    cases=cases, check=check_prediction(P.name))
