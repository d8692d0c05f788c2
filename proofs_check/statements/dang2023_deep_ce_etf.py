"""Dang et al. 2023 (appendix, CE): 'the global optimum of the deep linear CE UFM is a simplex ETF for every
depth'. Expected: refuted -- the reduced-problem search finds low-rank solutions below the best ETF point
for K >= 4, M >= 3 and K >= 6, M = 2 (Garrod & Keating 2024). M = 1 is included and agrees."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from ufm.theory import PREDICTIONS

ID = "dang2023-deep-ce-etf"


def cases(full, seed):
    out = [Case("K=4, M=1 (Zhu et al.: ETF optimal)", ufm.Problem.balanced(4, 2, 4, depth=1, lambda_W=1e-3, lambda_H=1e-3)),
           Case("K=4, M=3", ufm.Problem.balanced(4, 2, 4, depth=3, lambda_W=1e-3, lambda_H=1e-3))]
    if full:
        out += [Case("K=6, M=2", ufm.Problem.balanced(6, 2, 6, depth=2, lambda_W=1e-3, lambda_H=1e-3)),
                Case("K=5, M=4", ufm.Problem.balanced(5, 2, 5, depth=4, lambda_W=5e-4, lambda_H=5e-4))]
    return out


P = PREDICTIONS["dang2023_deep_ce_etf"]
STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="refuted", hypotheses=P.applies,
                      cases=cases, check=check_prediction(P.name),
                      notes="Known error (docs/theory.md section 7).")
