"""Zhu et al. 2021: the balanced CE UFM's global optimum (simplex ETF, closed-form value; zero above K c = 1)."""

import numpy as np

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS, zhu2021

ID = "zhu2021-balanced-ce"


def with_Kc(K, n, d, Kc, ratio=1.0, **kw):
    """lambda_W = ratio * lambda_H chosen so that K sqrt(n lambda_W lambda_H) = Kc."""
    prod = (Kc / K) ** 2 / n
    lh = np.sqrt(prod / ratio)
    return ufm.Problem.balanced(K, n, d, loss="ce", lambda_W=ratio * lh, lambda_H=lh, **kw)


def cases(full, seed):
    g = rng(ID, seed)
    out = []
    for i in range(6 if full else 2):
        K = int(g.integers(3, 7))
        out.append(Case(f"random-{i}", with_Kc(K, int(g.integers(2, 6)), K + 1, log_uniform(g, 0.05, 0.9),
                                            ratio=log_uniform(g, 0.2, 5.0))))
    out.append(Case("K c = 0.98 (just below the threshold)", with_Kc(4, 3, 4, 0.98)))
    out.append(Case("K c = 1.02 (just above: W = H = 0)", with_Kc(4, 3, 4, 1.02)))
    out.append(Case("regularised bias (b* = 0)", with_Kc(3, 4, 3, 0.5, bias="regularized", lambda_b=1e-2)))
    # small weight decay: f* ~ 1e-10, where absolute tolerances called a point 3.3 x above it optimal
    out.append(Case("lambda = 1e-12 (f* ~ 2e-10)", ufm.Problem.balanced(4, 5, 4, loss="ce", lambda_W=1e-12,
                                                                        lambda_H=1e-12)))
    if full:
        out.append(Case("K c = 1.5 (zero)", with_Kc(5, 2, 6, 1.5)))
        out.append(Case("d = K - 1", with_Kc(5, 3, 4, 0.6)))
        for lam in (1e-6, 1e-8, 1e-10):
            out.append(Case(f"lambda = {lam:.0e}", ufm.Problem.balanced(10, 1, 10, loss="ce", lambda_W=lam,
                                                                        lambda_H=lam)))
    return out


STATEMENT = Statement(
    id=ID, citation=PREDICTIONS["zhu2021_balanced_ce"].source, expected="holds",
    statement=PREDICTIONS["zhu2021_balanced_ce"].statement,
    hypotheses=zhu2021.applies, cases=cases, check=check_prediction("zhu2021_balanced_ce"),
    symbolic=zhu2021.symbolic_checks)
