"""Dang et al. 2023: imbalanced bias-free deep linear MSE UFM -- the global rule (x_k = global argmin g_k)."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import rng
from proofs_check.statements._mse_cases import at_ratio
from ufm.theory import PREDICTIONS, dang2023

ID = "dang2023-mse-imbalanced"


def cases(full, seed):
    g = rng(ID, seed)
    out = []
    for M in ((1, 2, 3) if full else (1, 2)):
        for ratio in ((0.8, 1.25, 3.0) if full else (0.8, 1.25)):
            counts = (12, 8, int(g.integers(2, 5)))
            out.append(Case(f"M={M}, n_min = {ratio} x threshold", at_ratio(counts, M, ratio)))
    out.append(Case("M=3, n_min = 1.25 x threshold", at_ratio((10, 6, 3), 3, 1.25)))
    out.append(Case("M=2, lambda = 1e-10 (f* ~ 1e-9)", ufm.Problem(counts=(6, 3, 1), d=3, depth=2, loss="mse",
                                                                   lambda_W=1e-10, lambda_H=1e-10)))
    if full:
        out.append(Case("M=1, lambda = 1e-12", ufm.Problem(counts=(8, 4, 2, 1), d=4, loss="mse", lambda_W=1e-12,
                                                           lambda_H=1e-12)))
    return out


P = PREDICTIONS["dang2023_mse_imbalanced"]
STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="holds",
                      hypotheses=P.applies, cases=cases, check=check_prediction(P.name),
                      symbolic=dang2023.symbolic_checks)
