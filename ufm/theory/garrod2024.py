"""Low-rank bias of deep CE UFMs (Garrod & Keating 2024, "The persistence of neural collapse despite low-rank
bias", arXiv 2410.23169), docs/theory.md section 7.

With equal weight decay, no simplex-ETF / deep-neural-collapse point is globally optimal for the balanced
bias-free deep linear CE UFM when K >= 4 and M >= 3, or K >= 6 and M = 2: lower solutions exist and are low
rank (e.g. classes paired: class-mean logits +beta own, -beta partner, 0 others). This is a strict
inequality, not a closed form: the prediction is the ETF-family value (:func:`ufm.theory.dang2023.
etf_family_value`) that the true optimum must beat, and the rank bound rank(W Hbar) < K - 1.

sympy facts (:func:`symbolic_checks`): the paired logits on K = 4 have rank 2 (singular values 2 beta, twice)
where the simplex-ETF logits have rank 3 -- the number of non-zero singular values is what the Schatten-q
penalty with q = 2/(M+1) < 1 of the master reduction punishes most as M grows.
"""

from __future__ import annotations

import numpy as np

from ufm.hypotheses import requires
from ufm.theory import dang2023


def _size(problem) -> tuple[bool, str]:
    K, M = problem.K, problem.depth
    ok = (K >= 4 and M >= 3) or (K >= 6 and M == 2)
    return ok, "" if ok else "needs K >= 4 and M >= 3, or K >= 6 and M = 2"


hypotheses = dang2023.applies_deep_ce & requires(equal_decay=True, extra=_size)


def paired_logits(K: int, beta: float) -> np.ndarray:
    """Class-mean logits with classes paired (0,1), (2,3), ...: +beta own, -beta partner, 0 otherwise."""
    Z = np.zeros((K, K))
    for k in range(0, K - 1, 2):
        Z[k, k] = Z[k + 1, k + 1] = beta
        Z[k + 1, k] = Z[k, k + 1] = -beta
    return Z


def symbolic_checks() -> dict:
    import sympy as sp

    beta = sp.Symbol("beta", positive=True)
    Zp = sp.Matrix([[beta, -beta, 0, 0], [-beta, beta, 0, 0], [0, 0, beta, -beta], [0, 0, -beta, beta]])
    Ze = sp.eye(4) - sp.ones(4, 4) / 4
    return {"paired logits on K = 4 have rank 2": Zp.rank() == 2,
            "simplex-ETF logits on K = 4 have rank 3": Ze.rank() == 3,
            "paired singular values are 2 beta (twice)": sorted(sp.Matrix(Zp.T * Zp).eigenvals()) ==
            sorted([0, 4 * beta ** 2])}
