"""One-layer UFM with any counts via its convex program (Hong & Ling 2023; Thrampoulidis et al. 2022;
docs/theory.md sections 8 and 9), and the SELI geometry.

- Convex oracle: for M = 1, d >= K, CE or MSE, every bias mode, the UFM optimum equals
  min_{Z, b} sum_k (n_k/N) l(z_k + b, e_k) + sqrt(lambda_W lambda_H) ||Z D^{1/2}||_* [+ lambda_b/2 ||b||^2] and
  W Hbar = Z at the optimum. Solved to a certified gap by :func:`ufm.convex.solve_convex`.
- SELI (Thrampoulidis, Kini, Vakilian & Behnia 2022): as lambda -> 0 the normalised class-mean logits tend to
  the simplex-encoded labels (I - J/K) and W W^T tends (up to scale) to (S S^T)^{1/2}, S S^T =
  (I - J/K) D (I - J/K) [docs/theory.md section 9: tested, not assumed]. Convergence is slow (~1/log(1/lambda)).
"""

from __future__ import annotations

import numpy as np

from ufm.hypotheses import requires
from ufm.theory.base import Prediction, register


def _convex(problem) -> tuple[bool, str]:
    from ufm.convex import applicable

    return applicable(problem)


# d >= K: else the convex value is only a lower bound
applies = requires(depth=1, learnable_classifier=True, one_hot=True, d_min="K", extra=_convex)


def predict(problem) -> dict:
    from ufm.convex import solve_convex

    res = solve_convex(problem)
    return {"objective": res.value, "lower_bound": res.lower_bound, "logits": res.Z,
            "bias": problem.canonical_bias(res.b),  # as solutions report it
            "gap": res.gap}


def seli_logits(K: int) -> np.ndarray:
    """Class-mean SELI logits: column k = (I - J/K) e_k."""
    return np.eye(K) - np.ones((K, K)) / K


def seli_classifier_gram(counts) -> np.ndarray:
    """(S S^T)^{1/2} with S S^T = (I - J/K) D (I - J/K) (S: the K x N simplex-encoded label matrix)."""
    K = len(counts)
    C = seli_logits(K)
    SS = C @ np.diag(np.asarray(counts, float)) @ C
    ev, V = np.linalg.eigh(SS)
    return (V * np.sqrt(np.maximum(ev, 0))) @ V.T


register(Prediction(
    name="convex_oracle_m1",
    source="Hong & Ling 2023 (convex reformulation, sharp minority-collapse analysis); Zhu et al. 2021",
    statement="One-layer UFM (CE or MSE, any counts, any bias): the optimum equals the convex program's value "
              "and W Hbar equals its optimiser Z",
    applies=applies, predict=predict))
