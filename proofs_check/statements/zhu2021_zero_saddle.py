"""Zhu et al. 2021 (benign landscape, the origin): W = H = 0 is a strict saddle exactly when K c < 1, and a
local minimum (the global one) when K c > 1. Evidence: Lanczos on Hessian-vector products at the origin."""

import numpy as np

from proofs_check.core import Case, CaseResult, Statement
from proofs_check.draws import log_uniform, rng
from proofs_check.statements.zhu2021_balanced_ce import with_Kc
from ufm import objective as obj
from ufm.certificates import second_order_at
from ufm.theory import zhu2021

ID = "zhu2021-zero-saddle"


def cases(full, seed):
    g = rng(ID, seed)
    out = [Case(f"K c = {Kc:.3g}", with_Kc(int(g.integers(3, 6)), int(g.integers(2, 5)), 6, Kc))
           for Kc in [log_uniform(g, 0.1, 0.9) for _ in range(4 if full else 1)]]
    out += [Case("K c = 0.97", with_Kc(4, 3, 5, 0.97)), Case("K c = 1.03", with_Kc(4, 3, 5, 1.03))]
    return out


def check(case, seed):
    p = case.problem
    zero = obj.params_from_arrays(p, [np.zeros((p.K, p.d))], np.zeros((p.d, p.N)))
    so = second_order_at(p, zero, seed=seed)  # the full problem: the origin is a point of it
    Kc = zhu2021.threshold(p)
    expected = "saddle" if Kc < 1 else "minimum"
    errors = {"min_eigenvalue": so["min_eigenvalue"], "K_c": Kc}
    if so["verdict"] == expected:
        return CaseResult(case.name, "holds", f"origin is a {so['verdict']} (lambda_min = {so['min_eigenvalue']:.3e})",
                          errors)
    if so["verdict"] == "degenerate":
        return CaseResult(case.name, "inconclusive", "Hessian at the origin is degenerate at this tolerance", errors)
    return CaseResult(case.name, "refuted", f"origin is a {so['verdict']} but K c = {Kc:.4g}", errors,
                      counterexample={"parameters": p.to_dict(), "second_order": so})


STATEMENT = Statement(
    id=ID, citation="Zhu et al. 2021, Thm 3.2 (benign global landscape), at the origin",
    statement="W = H = 0 is a strict saddle of the balanced CE UFM iff K sqrt(n lambda_W lambda_H) < 1 "
              "(a local minimum above the threshold)",
    expected="holds", hypotheses=zhu2021.applies, cases=cases, check=check)
