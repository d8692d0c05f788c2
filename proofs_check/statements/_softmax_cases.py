"""Shared builder for the softmax-loss ETF statements (Zhou et al. 2022): the statement for one loss family,
its hypotheses (``zhou2022.applies`` for a loss of that family) and random balanced problems whose loss
parameter is drawn from a range."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS, zhou2022


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


def etf_statement(statement_id, family, loss, condition, parameter, extra_cases, **check_options):
    """The Statement "balanced M = 1 UFM with ``loss`` (``condition``), d >= K - 1: the global optimum is a
    simplex ETF" of Zhou et al. 2022, checked with the prediction ``zhou2022_softmax_etf``.

    family: the loss family's prefix in ``Problem.loss`` (hypotheses: ``zhou2022.applies`` for a loss of that
    family, else "needs ``loss``"); parameter: (name, low, high), the range of the family's parameter in the
    random cases (2, or 4 with ``full``); extra_cases: ``full -> list[Case]`` after them; check_options: passed
    to :func:`proofs_check.core.check_prediction`."""
    prediction = PREDICTIONS["zhou2022_softmax_etf"]

    def hypotheses(p):
        return zhou2022.applies(p) if p.loss.startswith(family) else (False, f"needs {loss}")

    def cases(full, seed):
        return random_cases(statement_id, seed, 4 if full else 2, family, *parameter) + extra_cases(full)

    return Statement(
        id=statement_id, citation=prediction.source, expected="holds",
        statement=f"Balanced M = 1 UFM with {loss} ({condition}), d >= K - 1: the global optimum is a simplex ETF, "
                  "W Hbar = a* (I - J/K), a* from the 1-D problem along the ETF ray",
        hypotheses=hypotheses, cases=cases, check=check_prediction(prediction.name, **check_options))
