"""The benchmark problems and their reference optimum f*, as entries of the problem zoo (``ufm.zoo``).

Every case is a :class:`ufm.zoo.ZooEntry`: a :class:`ufm.Problem`, the name of the ``ufm.theory.PREDICTIONS``
entry that gives its optimum (or None), and tags. No closed form is derived here: the reference value is
``PREDICTIONS[entry.prediction].predict(problem)["objective"]`` (:func:`reference`).

- **Zoo entries, as they are** (where the zoo and the benchmarks overlap): the smoke cases ``tiny-bal-ce``
  (the zoo's ``ce-K4-n5``) and ``tiny-imb-mse`` (the zoo's ``mse-imbalanced``), and any zoo entry by name as
  ``zoo:<name>`` (e.g. ``zoo:small-ce-K4-1e-12``). The tests solve the same problems (``tests/test_zoo.py``).
- **Benchmark sizes** (not in the zoo, whose problems are small enough for the test suite): built here with
  the zoo's entry type and tagged ``bench``. Sizes: small (K=10, d=32, n=100), medium (K=100, d=128, n=50),
  large (K=1000, d=512, n=10), deep (M=3 on the small size), and the many-samples sizes of the class
  reduction (K=10, d=32, n=10,000 and 100,000); balanced and imbalanced (the first half of the classes keep
  n, the second half n/10); CE and MSE; bias none; lambda_W = lambda_H = lambda with K sqrt(n) lambda = 1/2
  for M = 1 (halfway to Zhu et al.'s threshold K sqrt(n lambda_W lambda_H) = 1 above which the balanced CE
  optimum is W = H = 0: a fixed lambda would make the large problems trivial), 5e-3 for deep CE and 1e-3
  for deep MSE.

Reference f* of the benchmark sizes (the prediction named per case; ``tests/test_bench.py`` checks that it
applies):
- ``zhu2021_balanced_ce``: the closed form of Zhu et al. 2021 (balanced CE, M = 1, d >= K - 1);
- ``dang2023_mse_imbalanced``: the closed form of Dang et al. 2023 (bias-free MSE, any M, d >= K);
- ``convex_oracle_m1``: the value of the convex program (M = 1, d >= K) solved by ``ufm.convex`` with its
  certified duality gap (recorded; ~1e-13 relative);
- None (large: d < K - 1; deep CE: no valid closed form): the benchmark uses the lowest value any method
  reached and says so ("best found"), as the zoo does for entries without a known optimum.
"""

from __future__ import annotations

import numpy as np

import ufm
from ufm import zoo
from ufm.zoo import ZooEntry

LAMBDA = 5e-3

#: size name -> (K, d, n per class)
SIZES = {"small": (10, 32, 100), "medium": (100, 128, 50), "large": (1000, 512, 10),
         "n10k": (10, 32, 10_000), "n100k": (10, 32, 100_000)}


def _counts(K: int, n: int, imbalanced: bool) -> tuple:
    if not imbalanced:
        return (n,) * K
    return (n,) * (K // 2) + (max(1, n // 10),) * (K - K // 2)


def make(size: str, loss: str, imbalanced: bool, depth: int = 1) -> ufm.Problem:
    """A benchmark-size problem (module docstring)."""
    K, d, n = SIZES[size]
    if depth == 1:
        lam = 0.5 / (K * np.sqrt(n))
    else:
        lam = 1e-3 if loss == "mse" else LAMBDA
    return ufm.Problem(counts=_counts(K, n, imbalanced), d=d, depth=depth, loss=loss, bias="none",
                       lambda_W=lam, lambda_H=lam)


#: benchmark sizes: name -> (size, loss, imbalanced, depth, prediction giving f* or None)
BENCH = {
    "small-bal-ce": ("small", "ce", False, 1, "zhu2021_balanced_ce"),
    "small-imb-ce": ("small", "ce", True, 1, "convex_oracle_m1"),
    "small-bal-mse": ("small", "mse", False, 1, "dang2023_mse_imbalanced"),
    "small-imb-mse": ("small", "mse", True, 1, "dang2023_mse_imbalanced"),
    "medium-bal-ce": ("medium", "ce", False, 1, "zhu2021_balanced_ce"),
    "medium-imb-ce": ("medium", "ce", True, 1, "convex_oracle_m1"),
    "medium-imb-mse": ("medium", "mse", True, 1, "dang2023_mse_imbalanced"),
    "deep-bal-ce": ("small", "ce", False, 3, None),
    "deep-imb-mse": ("small", "mse", True, 3, "dang2023_mse_imbalanced"),
    "large-bal-ce": ("large", "ce", False, 1, None),
    "large-imb-mse": ("large", "mse", True, 1, None),
    # many samples per class (the class reduction: bench/bench_reduction.py)
    "n10k-bal-ce": ("n10k", "ce", False, 1, "zhu2021_balanced_ce"),
    "n10k-imb-mse": ("n10k", "mse", True, 1, "dang2023_mse_imbalanced"),
    "n100k-bal-ce": ("n100k", "ce", False, 1, "zhu2021_balanced_ce"),
}

#: smoke cases (tests/test_bench.py: seconds, every method) = zoo entries, unchanged
FROM_ZOO = {"tiny-bal-ce": "ce-K4-n5", "tiny-imb-mse": "mse-imbalanced"}

#: every case name (``zoo:<name>`` also selects any zoo entry)
CASES = {**{k: v[:4] for k, v in BENCH.items()}, **{k: ("zoo", v) for k, v in FROM_ZOO.items()}}


def _tags(size, loss, imbalanced, depth) -> tuple:
    return ("bench", size, loss, "bias-none") + (("imbalanced",) if imbalanced else ()) + \
        (("deep",) if depth > 1 else ())


def entry(name: str) -> ZooEntry:
    """The case ``name`` as a zoo entry (a benchmark size, a smoke case, or ``zoo:<name>``)."""
    if isinstance(name, str) and name.startswith("zoo:"):
        return zoo.get(name[4:])
    if name in FROM_ZOO:
        return zoo.get(FROM_ZOO[name])
    if name not in BENCH:
        raise ufm.ProblemError("case", f"unknown case {name!r}; known: {sorted(CASES)} or zoo:<name of a zoo "
                                       "entry>")
    size, loss, imbalanced, depth, prediction = BENCH[name]
    return ZooEntry(name, make(size, loss, imbalanced, depth), prediction, _tags(size, loss, imbalanced, depth))


def parse_methods(text: str, allowed) -> list:
    """The comma list ``--methods`` of a benchmark script, each checked against ``allowed``."""
    methods = text.split(",")
    for m in methods:
        if m not in allowed:
            raise ufm.ProblemError("methods", f"unknown method {m!r}; allowed: {list(allowed)}")
    return methods


def problem(name: str) -> ufm.Problem:
    return entry(name).problem


def reference(case) -> tuple:
    """``(f*, source, certificate_gap)`` of a case (its name or its :class:`ZooEntry`) from
    ``ufm.theory.PREDICTIONS``; ``(None, "best found", nan)`` when no optimum is known."""
    e = case if isinstance(case, ZooEntry) else entry(case)
    if e.prediction is None:
        return None, "best found", float("nan")
    out = e.optimum()
    return float(out["objective"]), e.prediction, float(out.get("gap", 0.0))


def start(problem: ufm.Problem, seed: int = 0, scale: float = 0.1) -> dict:
    """The common start of every method: ufm.objective.init_params (entries N(0, 0.1^2), the papers' init)."""
    import jax

    from ufm import objective as obj

    params = obj.init_params(problem, jax.random.PRNGKey(seed), scale)
    return jax.tree_util.tree_map(np.asarray, params)
