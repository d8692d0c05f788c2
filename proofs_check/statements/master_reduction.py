"""Master reduction (docs/theory.md section 3): at an optimum of any linear UFM the layers are balanced and the
objective equals the reduced value R(W Hbar) with the Schatten-2/(M+1) penalty."""

import numpy as np

import ufm
from proofs_check.core import Case, CaseResult, Statement, refuted_by, search_best
from proofs_check.draws import log_uniform, rng
from ufm.reduced import applicable as search_applicable
from ufm.theory import master

ID = "master-reduction"


def cases(full, seed):
    g = rng(ID, seed)
    out = []
    for i in range(5 if full else 3):
        M = int(g.integers(1, 4))
        loss = ["ce", "mse"][i % 2]
        bias = ["none", "free", "none"][i % 3]
        counts = tuple(int(v) for v in g.integers(2, 7, size=3))
        lam = log_uniform(g, 1e-3, 1e-2)
        out.append(Case(f"{loss}, M={M}, bias={bias}, counts={list(counts)}",
                        ufm.Problem(counts=counts, d=3, depth=M, loss=loss, bias=bias,
                                    lambda_W=[lam * float(g.uniform(0.5, 2)) for _ in range(M)], lambda_H=lam)))
    return out


def check(case, seed):
    p = case.problem
    best, _ = search_best(p, restarts=2, seed=seed)
    Z = best.mean_logits
    R = master.reduced_value(p, Z, best.bias)
    errors = {"reduced_value_rel_err": abs(R - best.objective) / abs(best.objective), **master.balancedness_errors(best)}
    if refuted_by(R, best.objective):  # the factorisation is not optimal for its own Z: a lower point exists
        return CaseResult(case.name, "refuted", f"R(Z) = {R} < objective {best.objective}", errors,
                          counterexample={"parameters": p.to_dict(), "objective": best.objective, "R": R})
    bad = {k: v for k, v in errors.items() if v > 1e-6}
    if bad:
        return CaseResult(case.name, "inconclusive", f"residuals above tolerance: {bad}", errors)
    return CaseResult(case.name, "holds", f"objective = R(W Hbar), balanced (worst {max(errors.values()):.1e})",
                      errors)


STATEMENT = Statement(
    id=ID, citation="Master reduction (docs/theory.md section 3; Zhu et al. 2021 for M = 1, Garrod & Keating 2024)",
    statement="At an optimum of a linear UFM the factorisation is balanced (lambda_{m+1} W_{m+1}^T W_{m+1} = "
              "lambda_m W_m W_m^T, lambda_1 W_1^T W_1 = lambda_H H H^T) and the objective equals "
              "loss(Z) + ((M+1)/2) Lambda sum_i sigma_i(Z D^{1/2})^{2/(M+1)}, Z = W Hbar",
    expected="holds", hypotheses=search_applicable, cases=cases, check=check, symbolic=master.symbolic_checks)
