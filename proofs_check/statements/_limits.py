"""Shared by the vanishing-decay statements of the per-class losses (Behnia, Kini, Vakilian & Thrampoulidis 2023,
"On the implicit geometry of cross-entropy parameterizations for label-imbalanced data", AISTATS, arXiv
2303.07608): the losses' names for given class counts, the hypotheses, a solve along lambda and the verdict on
a distance's 1/log(1/lambda) law (docs/theory.md section 19)."""

import math

import numpy as np

import ufm
from proofs_check.core import Case, CaseResult
from ufm.hypotheses import requires
from ufm.metrics import gram_distance

LAMBDAS = (1e-3, 1e-4, 1e-5)
BAND = (0.3, 3.0)
CITATION = ("Behnia, Kini, Vakilian & Thrampoulidis 2023, On the Implicit Geometry of Cross-Entropy "
            "Parameterizations for Label-Imbalanced Data (AISTATS, arXiv 2303.07608)")


def _per_class(values) -> str:
    return "/".join(repr(float(v)) for v in values)


def la_loss(counts, tau: float) -> str:
    """The logit-adjusted CE of Menon et al. 2021 for these counts: ``logit-adjusted(iota=...)`` with iota_k =
    tau log(n_k / N)."""
    N = float(sum(counts))
    return f"logit-adjusted(iota={_per_class(tau * math.log(n / N) for n in counts)})"


def cdt_loss(counts, gamma: float) -> str:
    """The CDT loss of Ye et al. 2020 for these counts: ``cdt(delta=...)``, CE(z / delta) with temperatures
    delta_k = (n_max / n_k)^gamma (>= 1 on minorities). In the multiplicative form of Kini et al. 2021 and
    Behnia et al. 2023, CE(Delta * z), this is Delta_k = 1 / delta_k = (n_k / n_max)^gamma."""
    top = float(max(counts))
    return f"cdt(delta={_per_class((top / n) ** gamma for n in counts)})"


def hypotheses(family: str, d_min: str):
    """M = 1, bias none, learnable classifier, one-hot targets, d >= ``d_min`` and a loss of ``family``
    (``"cdt"`` or ``"logit-adjusted"``)."""
    def of_family(problem):
        ok = problem.loss.startswith(f"{family}(")
        return ok, "" if ok else f"needs a {family}(...) loss"

    return requires(depth=1, bias="none", learnable_classifier=True, one_hot=True, d_min=d_min, extra=of_family)


#: the statements' cases: (counts, d), the first run by default, the second with ``full``
SETTINGS = (((10, 5, 1), 3), ((20, 20, 2, 2), 4))


def limit_cases(make_loss, parameter: str, values, full: bool) -> list:
    """One case per SETTINGS entry (the first only unless ``full``), with the loss ``make_loss(counts, value)``
    for the matching entry of ``values``; the Problem is the one at the smallest lambda of LAMBDAS."""
    lam, out = LAMBDAS[-1], []
    for (counts, d), value in list(zip(SETTINGS, values))[:2 if full else 1]:
        out.append(Case(f"counts {counts}, d = {d}, {parameter} = {value:g}",
                        ufm.Problem(counts=counts, d=d, loss=make_loss(counts, value), lambda_W=lam, lambda_H=lam)))
    return out


def distances_along_lambda(case, target, seed):
    """gram_distance of W Hbar to ``target`` at each lambda of LAMBDAS (both decays equal, one restart), or a
    CaseResult ("inconclusive") if a solve is not acceptable."""
    p, out = case.problem, []
    for lam in LAMBDAS:
        s = ufm.solve(ufm.Problem(counts=p.counts, d=p.d, loss=p.loss, lambda_W=lam, lambda_H=lam), restarts=1,
                      seed=seed)
        if not s.status.acceptable:
            return CaseResult(case.name, "inconclusive", f"lambda = {lam:g}: solver status {s.status}")
        out.append(gram_distance(s.mean_logits, target))
    return out


def limit_verdict(case, target, seed, what, errors, *, loglog=False):
    """:func:`distances_along_lambda` to ``target`` judged by :func:`log_rate_verdict` (or the inconclusive
    result of a failed solve)."""
    dist = distances_along_lambda(case, target, seed)
    return dist if isinstance(dist, CaseResult) else log_rate_verdict(case, dist, what, errors, loglog=loglog)


def log_rate_verdict(case, dist, what, errors, *, loglog=False):
    """The verdict on distances ``dist`` at LAMBDAS. refuted: a distance grows as lambda falls. holds: they fall
    strictly and dist x log(1/lambda) lies in BAND (the 1/log(1/lambda) law of a max-margin limit), or, with
    ``loglog``, dist x log(1/lambda) grows from the first lambda to the last by no more than log log(1/lambda)
    does (dist = O(log log(1/lambda) / log(1/lambda)); a non-zero limit would make it grow like log(1/lambda)).
    Else inconclusive."""
    scaled = [v * np.log(1 / lam) for v, lam in zip(dist, LAMBDAS)]
    errors = dict(errors, **{f"dist_{what}@{lam:g}": v for lam, v in zip(LAMBDAS, dist)},
                  **{f"dist*log(1/lambda)@{lam:g}": v for lam, v in zip(LAMBDAS, scaled)})
    if not all(a > b for a, b in zip(dist, dist[1:])):
        return CaseResult(case.name, "refuted", f"the distance to the {what} grows as lambda falls", errors,
                          counterexample={"parameters": case.problem.to_dict(), "distances": list(dist),
                                          "lambdas": list(LAMBDAS)})
    if loglog:
        growth, allowed = scaled[-1] / scaled[0], np.log(np.log(1 / LAMBDAS[-1])) / np.log(np.log(1 / LAMBDAS[0]))
        errors["growth_of_dist*log(1/lambda)"] = growth
        if growth <= allowed:
            return CaseResult(case.name, "holds", f"distance to the {what} falls, dist x log(1/lambda) grows by "
                                                  f"{growth:.2f} <= {allowed:.2f} (log log)", errors)
        return CaseResult(case.name, "inconclusive", "the distance falls, but slower than log log(1/lambda) / "
                                                     "log(1/lambda)", errors)
    if all(BAND[0] <= v <= BAND[1] for v in scaled):
        return CaseResult(case.name, "holds", f"distance to the {what} falls as 1/log(1/lambda): distance x "
                                              f"log(1/lambda) in [{min(scaled):.2f}, {max(scaled):.2f}]", errors)
    return CaseResult(case.name, "inconclusive", "the distance falls, but not at the 1/log(1/lambda) rate", errors)
