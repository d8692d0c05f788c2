"""'Deep neural collapse is optimal for the deep ReLU UFM for any number of classes K and layers L' -- the
extrapolation of Sukenik, Mondelli & Lampert 2023 (proved there for K = 2) that Sukenik, Lampert & Mondelli
2024 ("Neural collapse versus low-rank bias: is deep neural collapse really optimal?", arXiv 2405.14468) refute:
beyond two classes or two layers, low-rank solutions beat DNC. Expected: refuted -- the search of ufm.nonlinear
finds a point below the DNC value (docs/theory.md section 15). K = 2 is included and agrees."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from ufm.theory import PREDICTIONS

ID = "sukenik2024-dnc-any-k-l"
P = PREDICTIONS["dnc_any_k_l"]


def cases(full, seed):
    relu = dict(loss="mse", activation="relu")
    out = [Case("K=2, L=3 (Sukenik et al. 2023: DNC optimal)",
                ufm.Problem.balanced(2, 1, 2, depth=3, lambda_W=1e-3, lambda_H=1e-3, **relu)),
           Case("K=4, L=4", ufm.Problem.balanced(4, 1, 4, depth=4, lambda_W=3e-3, lambda_H=3e-3, **relu))]
    if full:
        out.append(Case("K=6, L=4", ufm.Problem.balanced(6, 1, 6, depth=4, lambda_W=1e-3, lambda_H=1e-3, **relu)))
    return out


STATEMENT = Statement(id=ID, citation="Sukenik, Lampert & Mondelli 2024, Neural collapse versus low-rank bias: is "
                                      "deep neural collapse really optimal? (arXiv 2405.14468)",
                      statement=P.statement, expected="refuted", hypotheses=P.applies, cases=cases,
                      check=check_prediction(P.name, restarts=2),
                      notes="Known error of the extrapolation (docs/theory.md section 15).")
