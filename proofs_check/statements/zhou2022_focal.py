"""Zhou et al. 2022: the balanced UFM with the focal loss collapses to a simplex ETF, although the loss is not
convex in the logits (so no convex certificate: the verdict rests on the random restarts agreeing with the
prediction, and a lower point would refute it)."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.statements._softmax_cases import random_cases
from ufm.theory import PREDICTIONS, zhou2022

ID = "zhou2022-focal-etf"


def cases(full, seed):
    out = random_cases(ID, seed, 4 if full else 2, "focal", "gamma", 0.5, 4.0)
    if full:
        out.append(Case("gamma = 5, d = K - 1", ufm.Problem.balanced(5, 2, 4, loss="focal(5)", lambda_W=1e-3,
                                                                      lambda_H=1e-3)))
    return out


P = PREDICTIONS["zhou2022_softmax_etf"]
STATEMENT = Statement(
    id=ID, citation=P.source, expected="holds",
    statement="Balanced M = 1 UFM with the focal loss (gamma > 0, not convex in the logits), d >= K - 1: the global "
              "optimum is a simplex ETF, W Hbar = a* (I - J/K), a* from the 1-D problem along the ETF ray",
    hypotheses=lambda p: zhou2022.applies(p) if p.loss.startswith("focal") else (False, "needs the focal loss"),
    cases=cases, check=check_prediction(P.name, restarts=3))
