"""Graf et al. 2021: with normalised features (and / or classifier), d >= K - 1, the simplex ETF is optimal."""

import ufm
from proofs_check.core import Case, Statement, check_prediction
from proofs_check.draws import log_uniform, rng
from ufm.theory import PREDICTIONS, spherical

ID = "graf2021-sphere-etf"


def cases(full, seed):
    g = rng(ID, seed)
    out = [Case("K = 4, d = 3, both radii", ufm.Problem.balanced(4, 2, 3, loss="ce", lambda_W=0.0, lambda_H=0.0,
                                                                 feature_radius=2.0, classifier_radius=1.5)),
           Case("K = 3, d = 4, features on the sphere, W free",
                ufm.Problem.balanced(3, 2, 4, loss="ce", lambda_W=1e-2, lambda_H=1e-3, feature_radius=1.5))]
    if full:
        out.append(Case("K = 4, d = 3, classifier on the sphere, H free",
                        ufm.Problem.balanced(4, 3, 3, loss="ce", lambda_W=0.0, lambda_H=1e-2, classifier_radius=2.0)))
    for i in range(4 if full else 0):
        K = int(g.integers(3, 7))
        out.append(Case(f"random-{i}", ufm.Problem.balanced(K, int(g.integers(1, 4)), K - 1 + int(g.integers(0, 2)),
                                                            loss="ce", lambda_W=0.0, lambda_H=0.0,
                                                            feature_radius=log_uniform(g, 0.3, 3.0),
                                                            classifier_radius=log_uniform(g, 0.3, 3.0))))
    return out


STATEMENT = Statement(
    id=ID, citation=PREDICTIONS["graf2021_sphere_etf"].source, expected="holds",
    statement=PREDICTIONS["graf2021_sphere_etf"].statement,
    hypotheses=spherical.applies_etf, cases=cases, check=check_prediction("graf2021_sphere_etf", restarts=2))
