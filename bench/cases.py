"""The benchmark problems (issue #7 sizes) and their reference optimum f*.

Sizes: small (K=10, d=32, n=100), medium (K=100, d=128, n=50), large (K=1000, d=512, n=10), deep (M=3 on
the small size); balanced and imbalanced (the first half of the classes keep n, the second half n/10); CE and
MSE; bias none; lambda_W = lambda_H = lambda with K sqrt(n) lambda = 1/2 for M = 1 (halfway to Zhu et al.'s
threshold K sqrt(n lambda_W lambda_H) = 1 above which the balanced CE optimum is W = H = 0: a fixed lambda
would make the large problems trivial), 5e-3 for deep CE and 1e-3 for deep MSE.

Reference f* (``reference``), by the first that applies:
- ``zhu2021_balanced_ce``: the closed form of Zhu et al. 2021 (balanced CE, M = 1, d >= K - 1);
- ``dang2023_mse_imbalanced``: the closed form of Dang et al. 2023 (bias-free MSE, any M, d >= K);
- ``convex_oracle_m1``: the value of the convex program (M = 1, d >= K) solved by ``ufm.convex`` with its
  certified duality gap (recorded; ~1e-13 relative);
- otherwise (large: d < K - 1; deep CE: no valid closed form) none: the benchmark uses the lowest value any
  method reached and says so ("best found").
"""

from __future__ import annotations

import numpy as np

import ufm

LAMBDA = 5e-3


def _counts(K: int, n: int, imbalanced: bool) -> tuple:
    if not imbalanced:
        return (n,) * K
    return (n,) * (K // 2) + (max(1, n // 10),) * (K - K // 2)


def make(size: str, loss: str, imbalanced: bool, depth: int = 1) -> ufm.Problem:
    K, d, n = {"small": (10, 32, 100), "medium": (100, 128, 50), "large": (1000, 512, 10), "tiny": (4, 6, 5)}[size]
    if depth == 1:
        lam = 0.5 / (K * np.sqrt(n))
    else:
        lam = 1e-3 if loss == "mse" else LAMBDA
    return ufm.Problem(counts=_counts(K, n, imbalanced), d=d, depth=depth, loss=loss, bias="none",
                       lambda_W=lam, lambda_H=lam)


CASES = {
    "small-bal-ce": ("small", "ce", False, 1),
    "small-imb-ce": ("small", "ce", True, 1),
    "small-bal-mse": ("small", "mse", False, 1),
    "small-imb-mse": ("small", "mse", True, 1),
    "medium-bal-ce": ("medium", "ce", False, 1),
    "medium-imb-ce": ("medium", "ce", True, 1),
    "medium-imb-mse": ("medium", "mse", True, 1),
    "deep-bal-ce": ("small", "ce", False, 3),
    "deep-imb-mse": ("small", "mse", True, 3),
    "large-bal-ce": ("large", "ce", False, 1),
    "large-imb-mse": ("large", "mse", True, 1),
    # the smoke test's cases (tests/test_bench.py): seconds, every method
    "tiny-bal-ce": ("tiny", "ce", False, 1),
    "tiny-imb-mse": ("tiny", "mse", True, 1),
}


def problem(name: str) -> ufm.Problem:
    if name not in CASES:
        raise ufm.ProblemError("case", f"unknown case {name!r}; known: {sorted(CASES)}")
    return make(*CASES[name])


def reference(problem: ufm.Problem) -> tuple:
    """``(f*, source, certificate_gap)``; ``(None, "best found", nan)`` when no closed form applies."""
    from ufm.theory import PREDICTIONS

    for name in ("zhu2021_balanced_ce", "dang2023_mse_imbalanced", "convex_oracle_m1"):
        pred = PREDICTIONS[name]
        if pred.applies(problem)[0]:
            out = pred.predict(problem)
            return float(out["objective"]), name, float(out.get("gap", 0.0))
    return None, "best found", float("nan")


def start(problem: ufm.Problem, seed: int = 0, scale: float = 0.1) -> dict:
    """The common start of every method: ufm.objective.init_params (entries N(0, 0.1^2), the papers' init)."""
    import jax

    from ufm import objective as obj

    params = obj.init_params(problem, jax.random.PRNGKey(seed), scale)
    return jax.tree_util.tree_map(np.asarray, params)
