"""Tirer & Bruna 2022 (extended UFM): with one ReLU (one hidden layer, or non-negative features) and MSE, the
minimiser is collapsed with orthogonal post-ReLU class means, W Hbar = rho I, and is 0 above the regularisation
threshold. Checked against the best point of the search (docs/theory.md section 15)."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from ufm.theory import PREDICTIONS

ID = "tirer-bruna2022-relu"
P = PREDICTIONS["tirer_bruna2022_relu"]


def cases(full, seed):
    relu = dict(loss="mse", activation="relu")
    out = [Case("extended UFM W2 ReLU(W1 h), K=3", ufm.Problem.balanced(3, 2, 3, depth=2, lambda_W=5e-3,
                                                                         lambda_H=5e-3, **relu)),
           Case("non-negative features W ReLU(h), K=3", ufm.Problem.balanced(3, 2, 4, depth=1, lambda_W=5e-3,
                                                                             lambda_H=5e-3, activate_features=True,
                                                                             **relu)),
           Case("extended UFM above the threshold (optimum 0)", ufm.Problem.balanced(3, 2, 3, depth=2, lambda_W=0.5,
                                                                                     lambda_H=0.5, **relu))]
    if full:
        out.append(Case("extended UFM, K=4, unequal decays", ufm.Problem.balanced(
            4, 3, 5, depth=2, lambda_W=[2e-3, 8e-3], lambda_H=4e-3, **relu)))
    return out


STATEMENT = Statement(id=ID, citation=P.source, statement=P.statement, expected="holds", hypotheses=P.applies,
                      cases=cases, check=check_prediction(P.name, restarts=2, structure_keys=["logits_err"]))
