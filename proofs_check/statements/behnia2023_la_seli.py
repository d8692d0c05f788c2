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

from proofs_check.core import Statement
from proofs_check.statements._limits import CITATION, hypotheses, la_loss, limit_cases, limit_verdict
from ufm.theory.convex_oracle import seli_logits

ID = "behnia2023-la-seli"


def cases(full, seed):
    return limit_cases(la_loss, "tau", (1.0, 2.0), full)


def check(case, seed):
    return limit_verdict(case, seli_logits(case.problem.K), seed, "SELI", {}, loglog=True)


STATEMENT = Statement(
    id=ID, citation=CITATION, expected="holds",
    statement="Imbalanced UFM with the logit-adjusted CE, CE(z + iota) (M = 1, bias none, d >= K - 1): as "
              "lambda -> 0 the normalised W Hbar tends to the simplex-encoded labels (SELI), as for CE",
    hypotheses=hypotheses("logit-adjusted", "K-1"),
    cases=cases, check=check)
