"""Hong & Ling 2023 / Zhu et al. 2021: the one-layer UFM (any counts, any bias) equals its convex program."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS

ID = "hong-ling2023-convex"


def cases(full, seed):
    g = rng(ID, seed)
    out = []
    combos = [("ce", "none"), ("ce", "free"), ("mse", "regularized")]
    if full:
        combos += [("ce", "regularized"), ("mse", "none"), ("mse", "free")]
    for loss, bias in combos:
        counts = tuple(int(v) for v in sorted(g.integers(1, 12, size=4), reverse=True))
        lam = log_uniform(g, 1e-3, 2e-2)
        kw = {"lambda_b": lam} if bias == "regularized" else {}
        out.append(Case(f"{loss}, bias={bias}, counts={list(counts)}",
                        ufm.Problem(counts=counts, d=4, loss=loss, bias=bias, lambda_W=lam, lambda_H=lam, **kw)))
    return out


P = PREDICTIONS["convex_oracle_m1"]
STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="holds", hypotheses=P.applies,
                      cases=cases, check=check_prediction(P.name, structure_keys=["logits_err"]))
