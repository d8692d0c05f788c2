"""Dang et al. 2023: balanced deep linear MSE -- orthogonal frame (bias-free), simplex ETF with b* = 1/K (free
bias)."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS

ID = "dang2023-mse-balanced"


def cases(full, seed):
    g = rng(ID, seed)
    out = []
    for M in (1, 2, 3):
        for bias in ("none", "free"):
            if not full and (M, bias) in ((1, "free"), (3, "none")):
                continue
            lam = log_uniform(g, 5e-4, 5e-3)
            out.append(Case(f"M={M}, bias={bias}, lambda={lam:.2e}",
                            ufm.Problem.balanced(3, 4, 3, loss="mse", depth=M, bias=bias, lambda_W=lam,
                                                 lambda_H=lam)))
    return out


P = PREDICTIONS["dang2023_mse_balanced"]
STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="holds", hypotheses=P.applies,
                      cases=cases, check=check_prediction(P.name))
