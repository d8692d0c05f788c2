"""The problem zoo: UFMs whose optimum is known, with the source of that knowledge.

Every entry is a :class:`ufm.Problem` and the name of the ``ufm.theory`` prediction that gives its optimum
(closed forms, or the certified convex program), so the tests cross the zoo with every solver path
(``tests/test_zoo.py``) without re-deriving a closed form, and the benchmarks (``bench/cases.py``) time the
same problems. Entries without a known optimum (``prediction=None``) are benchmark sizes whose reference is
the best value found.

Tags: ``ce``, ``mse``, ``deep``, ``imbalanced``, ``bias-free``/``bias-regularized``/``bias-none``,
``fixed-classifier``, ``zero`` (optimum W = H = 0), ``small-lambda`` (weight decay 1e-6 ... 1e-12: the
regime where absolute tolerances lie, docs/theory.md section 13), ``bench`` (benchmark sizes).

    from ufm import zoo
    for entry in zoo.select("small-lambda"):
        solution = ufm.solve(entry.problem)
        errors = entry.errors(solution)      # relative errors against the known optimum
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ufm.problem import Problem

SMALL_LAMBDAS = (1e-6, 1e-8, 1e-10, 1e-12)


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """A problem of the zoo: ``name``, ``problem``, ``prediction`` (a key of ``ufm.theory.PREDICTIONS``, or
    None when no optimum is known), ``tags``."""

    name: str
    problem: Problem
    prediction: Optional[str]
    tags: tuple = ()

    @property
    def source(self) -> str:
        if self.prediction is None:
            return "no closed form: reference = best value found"
        from ufm.theory import PREDICTIONS

        return PREDICTIONS[self.prediction].source

    def optimum(self) -> dict:
        """The prediction's quantities (``objective`` and, where known, ``logits``, ``classifier_gram``, ...)."""
        from ufm.theory import PREDICTIONS

        if self.prediction is None:
            raise ValueError(f"zoo entry {self.name!r} has no known optimum")
        return PREDICTIONS[self.prediction].predict(self.problem)

    def errors(self, solution) -> dict:
        """Relative errors of ``solution`` against the known optimum (``ufm.theory.Prediction.errors``)."""
        from ufm.theory import PREDICTIONS

        return PREDICTIONS[self.prediction].errors(self.problem, solution)


def _entries() -> list:
    P = Problem
    out = []

    def add(name, problem, prediction, *tags):
        out.append(ZooEntry(name, problem, prediction, tuple(tags)))

    # balanced CE, M = 1 (Zhu et al. 2021)
    add("ce-K4-n5", P.balanced(4, 5, 6, loss="ce", lambda_W=1e-2, lambda_H=2e-2), "zhu2021_balanced_ce", "ce")
    add("ce-K5-n3", P.balanced(5, 3, 8, loss="ce", lambda_W=3e-3, lambda_H=1e-2), "zhu2021_balanced_ce", "ce")
    add("ce-K3-regularized-bias", P.balanced(3, 4, 3, loss="ce", bias="regularized", lambda_W=5e-3, lambda_H=5e-3,
                                             lambda_b=1e-2), "zhu2021_balanced_ce", "ce", "bias-regularized")
    add("ce-K6-n2", P.balanced(6, 2, 10, loss="ce", lambda_W=2e-2, lambda_H=1e-3), "zhu2021_balanced_ce", "ce")
    add("ce-above-threshold", P.balanced(4, 25, 6, loss="ce", lambda_W=0.06, lambda_H=0.06), "zhu2021_balanced_ce",
        "ce", "zero")
    # one-layer MSE, any counts (singular-value soft-thresholding; Dang et al. 2023 for bias none)
    add("mse-balanced", P(counts=(5, 5, 5, 5), d=6, loss="mse", lambda_W=1e-3, lambda_H=2e-3), "mse_one_layer_svt",
        "mse")
    add("mse-imbalanced", P(counts=(8, 4, 2, 1), d=6, loss="mse", lambda_W=1e-3, lambda_H=1e-3), "mse_one_layer_svt",
        "mse", "imbalanced")
    add("mse-minority-zeroed", P(counts=(8, 4, 2, 1), d=6, loss="mse", lambda_W=4e-3, lambda_H=3e-3),
        "mse_one_layer_svt", "mse", "imbalanced")
    add("mse-free-bias", P(counts=(5, 5, 5, 5), d=6, loss="mse", bias="free", lambda_W=1e-3, lambda_H=2e-3),
        "mse_one_layer_svt", "mse", "bias-free")
    add("mse-free-bias-imbalanced", P(counts=(9, 6, 3, 2), d=6, loss="mse", bias="free", lambda_W=5e-4,
                                      lambda_H=2e-3), "mse_one_layer_svt", "mse", "bias-free", "imbalanced")
    # deep linear MSE (Dang et al. 2023)
    for M in (2, 3):
        add(f"deep-mse-M{M}-balanced", P.balanced(3, 4, 4, loss="mse", depth=M, lambda_W=2e-3, lambda_H=2e-3),
            "dang2023_mse_balanced", "mse", "deep")
    add("deep-mse-M2-imbalanced", P(counts=(12, 8, 3), d=3, loss="mse", depth=2, lambda_W=4e-3, lambda_H=4e-3),
        "dang2023_mse_imbalanced", "mse", "deep", "imbalanced")
    add("deep-mse-M2-free-bias", P.balanced(3, 4, 3, loss="mse", depth=2, bias="free", lambda_W=2e-3,
                                            lambda_H=2e-3), "dang2023_mse_balanced", "mse", "deep", "bias-free")
    # fixed simplex-ETF classifier
    add("fixed-etf-ce", P.balanced(4, 3, 5, loss="ce", classifier="etf", lambda_W=0.0, lambda_H=1e-2),
        "fixed_etf_balanced", "ce", "fixed-classifier")
    add("fixed-etf-mse", P.balanced(4, 3, 5, loss="mse", classifier="etf", lambda_W=0.0, lambda_H=1e-2),
        "fixed_etf_balanced", "mse", "fixed-classifier")
    # imbalanced CE: the certified convex program (Hong & Ling 2023)
    add("ce-imbalanced-free-bias", P(counts=(10, 5, 2), d=4, loss="ce", bias="free", lambda_W=5e-3, lambda_H=5e-3),
        "convex_oracle_m1", "ce", "imbalanced", "bias-free")

    # small weight decay: every loss, depths 1-3, every bias mode with a closed form
    for lam in SMALL_LAMBDAS:
        tag = f"{lam:.0e}"
        add(f"small-ce-K4-{tag}", P.balanced(4, 5, 4, loss="ce", lambda_W=lam, lambda_H=lam),
            "zhu2021_balanced_ce", "ce", "small-lambda")
        add(f"small-ce-K10-n1-{tag}", P.balanced(10, 1, 10, loss="ce", lambda_W=lam, lambda_H=lam),
            "zhu2021_balanced_ce", "ce", "small-lambda")
        add(f"small-ce-regularized-bias-{tag}", P.balanced(3, 4, 3, loss="ce", bias="regularized", lambda_W=lam,
                                                           lambda_H=lam, lambda_b=1e-3),
            "zhu2021_balanced_ce", "ce", "small-lambda", "bias-regularized")
        add(f"small-fixed-etf-ce-{tag}", P.balanced(4, 3, 5, loss="ce", classifier="etf", lambda_W=0.0, lambda_H=lam),
            "fixed_etf_balanced", "ce", "small-lambda", "fixed-classifier")
        add(f"small-mse-imbalanced-{tag}", P(counts=(8, 4, 2, 1), d=4, loss="mse", lambda_W=lam, lambda_H=lam),
            "mse_one_layer_svt", "mse", "small-lambda", "imbalanced")
        add(f"small-mse-free-bias-{tag}", P(counts=(9, 6, 3, 2), d=4, loss="mse", bias="free", lambda_W=lam,
                                            lambda_H=lam), "mse_one_layer_svt", "mse", "small-lambda", "bias-free")
        add(f"small-deep-mse-M2-{tag}", P.balanced(4, 5, 4, loss="mse", depth=2, lambda_W=lam, lambda_H=lam),
            "dang2023_mse_balanced", "mse", "deep", "small-lambda")
        add(f"small-deep-mse-M3-imbalanced-{tag}", P(counts=(6, 3, 1), d=3, loss="mse", depth=3, lambda_W=lam,
                                                     lambda_H=lam), "dang2023_mse_imbalanced", "mse", "deep",
            "small-lambda", "imbalanced")
    return out


ENTRIES = {e.name: e for e in _entries()}


def get(name: str) -> ZooEntry:
    if name not in ENTRIES:
        from ufm.errors import ProblemError

        raise ProblemError("name", f"unknown zoo entry {name!r}; known: {sorted(ENTRIES)}")
    return ENTRIES[name]


def select(*tags: str, exclude: tuple = ()) -> list:
    """Entries carrying every tag in ``tags`` and none in ``exclude``."""
    return [e for e in ENTRIES.values() if all(t in e.tags for t in tags) and not any(t in e.tags for t in exclude)]
