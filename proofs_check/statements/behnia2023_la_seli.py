"""Behnia, Kini, Vakilian & Thrampoulidis 2023 ("On the implicit geometry of cross-entropy parameterizations for
label-imbalanced data", AISTATS, arXiv 2303.07608; for linear models Kini et al. 2021, arXiv 2103.01550):
additive logit adjustments (LA; here ``logit-adjusted(iota=...)``, l(z, y) = CE(z + iota, y), iota_k = tau log
pi_k, Menon et al. 2021) do not change the vanishing-regularisation geometry: the offsets are O(1) while the
margins grow like log(1/lambda), so the normalised class-mean logits tend to CE's limit, the simplex-encoded
labels (SELI, Thrampoulidis et al. 2022; docs/theory.md sections 9 and 19).

Check, per case (counts, d, tau): solve the LA UFM at lambda = 1e-3, 1e-4, 1e-5 (both decays equal) and measure
the normalised distance of W Hbar to (I - J/K). The statement holds on a case when the distance falls strictly as
lambda falls and distance * log(1/lambda) grows from 1e-3 to 1e-5 by no more than log log(1/lambda) does (a rate
log log(1/lambda) / log(1/lambda): the O(1) offsets shift the margins' log(1/lambda) growth by a log log term; a
non-zero limit would make distance * log(1/lambda) grow like log(1/lambda)); it is refuted when the distance
grows. The paper states the limit, not a rate: the rate is ufm's reading, measured in docs/theory.md section 19.
"""

import ufm
from proofs_check.core import Case, CaseResult, Statement
from proofs_check.statements._limits import (CITATION, LAMBDAS, distances_along_lambda, hypotheses, la_loss,
                                             log_rate_verdict)
from ufm.theory.convex_oracle import seli_logits

ID = "behnia2023-la-seli"


def problem_at(counts, d, tau, lam):
    return ufm.Problem(counts=counts, d=d, loss=la_loss(counts, tau), lambda_W=lam, lambda_H=lam)


def cases(full, seed):
    out = [Case("counts (10, 5, 1), d = 3, tau = 1", problem_at((10, 5, 1), 3, 1.0, LAMBDAS[-1]))]
    if full:
        out.append(Case("counts (20, 20, 2, 2), d = 4, tau = 2", problem_at((20, 20, 2, 2), 4, 2.0, LAMBDAS[-1])))
    return out


def check(case, seed):
    dist = distances_along_lambda(case, seli_logits(case.problem.K), seed)
    if isinstance(dist, CaseResult):
        return dist
    return log_rate_verdict(case, dist, "SELI", {}, loglog=True)


STATEMENT = Statement(
    id=ID, citation=CITATION, expected="holds",
    statement="Imbalanced UFM with the logit-adjusted CE, CE(z + iota) (M = 1, bias none, d >= K - 1): as "
              "lambda -> 0 the normalised W Hbar tends to the simplex-encoded labels (SELI), as for CE",
    hypotheses=hypotheses("logit-adjusted", "K-1"),
    cases=cases, check=check)
