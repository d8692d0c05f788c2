"""Shared builder for the softmax-loss ETF statements (Zhou et al. 2022): random balanced problems whose loss
parameter is drawn from a range."""

import ufm
from proofs_check.core import Case
from proofs_check.draws import log_uniform, rng


def random_cases(statement_id, seed, count, family, parameter, low, high):
    """``count`` cases: K in 3..5, n in 2..4, d = K, lambda_W = lambda_H log-uniform in [1e-4, 2e-2], the loss
    ``family(parameter=value)`` with value uniform in [low, high]."""
    g = rng(statement_id, seed)
    out = []
    for i in range(count):
        K = int(g.integers(3, 6))
        value = float(g.uniform(low, high))
        lam = log_uniform(g, 1e-4, 2e-2)
        out.append(Case(f"random-{i}: K={K}, {parameter}={value:.3f}, lambda={lam:.2e}",
                        ufm.Problem.balanced(K, int(g.integers(2, 5)), K, loss=f"{family}({parameter}={value})",
                                             lambda_W=lam, lambda_H=lam)))
    return out
