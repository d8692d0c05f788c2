"""The rescaled square loss of Hui & Belkin 2021 in the balanced bias-free M = 1 UFM: an orthogonal frame with
W Hbar = rho* I, rho* = max(0, M - c K / k) (derived here; convex certificate)."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS, rescaled_mse

ID = "rescaled-mse-balanced"


def cases(full, seed):
    g = rng(ID, seed)
    out = []
    for i in range(4 if full else 2):
        K = int(g.integers(2, 6))
        M, k = float(g.uniform(1.0, 10.0)), float(g.uniform(0.5, 5.0))
        lam = log_uniform(g, 1e-4, 5e-2)
        out.append(Case(f"random-{i}: K={K}, M={M:.2f}, k={k:.2f}, lambda={lam:.2e}",
                        ufm.Problem.balanced(K, int(g.integers(2, 5)), K + int(g.integers(0, 2)),
                                             loss=f"mse-rescaled(scale={M}, weight={k})", lambda_W=lam, lambda_H=lam)))
    # rho* = 0 just beyond c K = k M: c = sqrt(n) lambda
    out.append(Case("c K / (k M) = 1.05 (W = H = 0)",
                    ufm.Problem.balanced(3, 4, 3, loss="mse-rescaled(scale=2, weight=1)", lambda_W=0.35,
                                         lambda_H=0.35)))
    return out


P = PREDICTIONS["rescaled_mse_balanced"]
STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="holds", hypotheses=P.applies,
                      cases=cases, check=check_prediction(P.name), symbolic=rescaled_mse.symbolic_checks)
