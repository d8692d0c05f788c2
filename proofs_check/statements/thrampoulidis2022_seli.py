"""Thrampoulidis, Kini, Vakilian & Behnia 2022 ("Imbalance trouble: revisiting neural-collapse geometry",
NeurIPS, arXiv 2208.05512): in the imbalanced CE UFM with vanishing regularisation, the normalised class-mean
logits tend to the simplex-encoded labels (I - J/K) and the classifier Gram W W^T to (S S^T)^{1/2} (SELI),
irrespective of imbalance -- slowly, at the rate 1/log(1/lambda) that the max-margin limit implies
(docs/theory.md section 9).

Check, per case (counts, d): solve the UFM at lambda = 1e-3, 1e-4, 1e-5 (both decays equal), and measure the
normalised Gram distance (``ufm.metrics.gram_distance``) of W Hbar to (I - J/K) and of W W^T to (S S^T)^{1/2}.
The statement holds on a case when both distances fall strictly as lambda falls and distance * log(1/lambda)
stays within [0.3, 3] (a 1/log rate: a faster or slower law leaves that band); it is refuted when a distance
grows as lambda falls.
"""

import numpy as np

import ufm
from proofs_check.core import Case, CaseResult, Statement
from ufm.hypotheses import requires
from ufm.metrics import gram_distance
from ufm.theory.convex_oracle import seli_classifier_gram, seli_logits

ID = "thrampoulidis2022-seli"
LAMBDAS = (1e-3, 1e-4, 1e-5)
BAND = (0.3, 3.0)


def problem_at(counts, d, lam):
    return ufm.Problem(counts=counts, d=d, loss="ce", lambda_W=lam, lambda_H=lam)


def cases(full, seed):
    out = [Case("counts (20, 20, 2, 2), d = 4", problem_at((20, 20, 2, 2), 4, LAMBDAS[-1])),
           Case("counts (10, 5, 1), d = 3", problem_at((10, 5, 1), 3, LAMBDAS[-1]))]
    if full:
        out.append(Case("counts (30, 30, 30, 3, 3), d = 5", problem_at((30, 30, 30, 3, 3), 5, LAMBDAS[-1])))
    return out


def check(case, seed):
    p = case.problem
    C, G_seli = seli_logits(p.K), seli_classifier_gram(p.counts)
    rows, d_logits, d_gram = [], [], []
    for lam in LAMBDAS:
        s = ufm.solve(problem_at(p.counts, p.d, lam), restarts=2, seed=seed)
        if not s.status.acceptable:
            return CaseResult(case.name, "inconclusive", f"lambda = {lam:g}: solver status {s.status}")
        W = s.classifier
        d_logits.append(gram_distance(s.mean_logits, C))
        d_gram.append(gram_distance(W @ W.T, G_seli))
    scaled = [dl * np.log(1 / lam) for dl, lam in zip(d_logits, LAMBDAS)]
    errors = {f"dist_logits@{lam:g}": v for lam, v in zip(LAMBDAS, d_logits)}
    errors.update({f"dist_WWt@{lam:g}": v for lam, v in zip(LAMBDAS, d_gram)})
    errors.update({f"dist_logits*log(1/lambda)@{lam:g}": v for lam, v in zip(LAMBDAS, scaled)})
    falling = all(a > b for a, b in zip(d_logits, d_logits[1:])) and all(a > b for a, b in zip(d_gram, d_gram[1:]))
    if not falling:
        return CaseResult(case.name, "refuted", "a distance to SELI grows as lambda falls", errors,
                          counterexample={"parameters": p.to_dict(), "distances_logits": d_logits,
                                          "distances_WWt": d_gram, "lambdas": list(LAMBDAS)})
    if all(BAND[0] <= v <= BAND[1] for v in scaled):
        return CaseResult(case.name, "holds", f"distances fall as 1/log(1/lambda): distance x log(1/lambda) in "
                                              f"[{min(scaled):.2f}, {max(scaled):.2f}]", errors)
    return CaseResult(case.name, "inconclusive", "distances fall, but not at the 1/log(1/lambda) rate", errors)


STATEMENT = Statement(
    id=ID, citation="Thrampoulidis, Kini, Vakilian & Behnia 2022, Imbalance Trouble: Revisiting Neural-Collapse "
                    "Geometry (NeurIPS, arXiv 2208.05512)", expected="holds",
    statement="Imbalanced CE UFM (M = 1, bias none, d >= K): as lambda -> 0 the normalised W Hbar tends to the "
              "simplex-encoded labels and W W^T to (S S^T)^{1/2} (SELI), at the rate 1/log(1/lambda)",
    hypotheses=requires(loss="ce", depth=1, bias="none", learnable_classifier=True, one_hot=True, d_min="K-1"),
    cases=cases, check=check)
