"""The largest-root rule of Dang et al.'s public code: between the root-existence threshold and the global
threshold it predicts a non-zero minority class where the global optimum is zero. Expected: refuted (the
search finds the lower, collapsed solution)."""

from proofs_check.core import Case, Statement, check_prediction
from proofs_check.statements._mse_cases import at_ratio
from ufm.theory import PREDICTIONS

ID = "dang2023-mse-largest-root"


def cases(full, seed):
    out = [Case(f"M={M}, n_min in the window between the two thresholds", at_ratio((12, 8, 3), M, 1.0, "window"))
           for M in ((2, 3) if not full else (2, 3, 4))]
    out.append(Case("M=2, n_min = 2 x global threshold (the rules agree)", at_ratio((12, 8, 3), 2, 2.0)))
    return out


P = PREDICTIONS["dang2023_mse_largest_root"]
STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="refuted", hypotheses=P.applies,
                      cases=cases, check=check_prediction(P.name),
                      notes="Known error (docs/theory.md section 6): the rule ignores that x = 0 is always a local "
                            "minimum for M >= 2.")
