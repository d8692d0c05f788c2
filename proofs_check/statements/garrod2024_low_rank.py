"""Garrod & Keating 2024: with equal weight decay no simplex-ETF point is globally optimal for the deep linear
CE UFM when K >= 4, M >= 3 (or K >= 6, M = 2): a strictly lower, low-rank solution exists."""

import ufm
from proofs_check.core import Case, CaseResult, Statement, geometry, refuted_by, search_best
from ufm.theory import dang2023, garrod2024

ID = "garrod2024-low-rank"


def cases(full, seed):
    out = [Case("K=4, M=3", ufm.Problem.balanced(4, 3, 4, depth=3, lambda_W=2e-3, lambda_H=2e-3)),
           Case("K=6, M=2", ufm.Problem.balanced(6, 2, 6, depth=2, lambda_W=1e-3, lambda_H=1e-3))]
    if full:
        out.append(Case("K=8, M=3", ufm.Problem.balanced(8, 2, 8, depth=3, lambda_W=1e-3, lambda_H=1e-3)))
    return out


def check(case, seed):
    p = case.problem
    etf, _ = dang2023.etf_family_value(p)
    best, _ = search_best(p, restarts=4, seed=seed)
    geo = geometry(best)
    errors = {"etf_value": etf, "found": best.objective, "margin": etf - best.objective, "rank": geo["rank"]}
    if refuted_by(best.objective, etf, 1e-6) and geo["rank"] < p.K - 1:
        return CaseResult(case.name, "holds", f"found {best.objective:.10g} < ETF {etf:.10g} with rank "
                                              f"{geo['rank']} < K - 1", errors)
    return CaseResult(case.name, "inconclusive", "no solution below the ETF value found", errors)


STATEMENT = Statement(
    id=ID, citation="Garrod & Keating 2024, The persistence of neural collapse despite low-rank bias "
                    "(arXiv 2410.23169)", expected="holds",
    statement="Deep linear CE UFM, equal weight decay, K >= 4 and M >= 3 (or K >= 6, M = 2): a solution of rank "
              "< K - 1 has a strictly lower objective than every simplex-ETF point",
    hypotheses=garrod2024.hypotheses, cases=cases, check=check, symbolic=garrod2024.symbolic_checks)
