"""Sweep specification (TOML): a base problem, axes, solver options, predictions.

Format (see ``examples/sweeps/*.toml`` and docs/sweep.md)::

    [base]                      # any ufm.Problem field (counts, d, depth, loss, bias, lambda_W, lambda_H, lambda_b,
    counts = [20, 20, 4, 4]     #  classifier), or the derived fields K + n (balanced) and ratio (imbalance)
    d = 4
    loss = "mse"

    [axes]                      # each axis: a list, or {linspace = [a, b, num]}, or {logspace = [a, b, num]}
    lambda = {logspace = [-3, -1.5, 10]}   # (log10 exponents); "lambda" sets lambda_W = lambda_H
    ratio = [1, 2, 5, 10]
    depth = [1, 2, 3]

    [sweep]
    zip = [["lambda_W", "lambda_H"]]   # optional: axes varied together (equal lengths); the rest are crossed

    [solver]                    # ufm.solver.SolverOptions fields, plus restarts (one row per restart)
    restarts = 1                # and search = true: one more row per point (restart = restarts) from the
    search = true               # reduced-problem global search of ufm.certificates (recommended for M > 1)
    seed = 0
    gtol = 1e-10

    [predictions]
    names = ["dang2023_mse_imbalanced"]    # ufm.theory.PREDICTIONS evaluated beside each solve

Derived fields: ``K`` and ``n`` build balanced counts (K classes of n); ``ratio`` R with base counts / K, n
makes the first ceil(K/2) classes majority (n) and the rest minority (max(1, round(n / R))); ``lambda`` sets
lambda_W = lambda_H. Every point gets a ``point_id`` (its index in the grid), stable across reruns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ufm.problem import Problem, ProblemError

PROBLEM_FIELDS = ("counts", "d", "depth", "loss", "bias", "lambda_W", "lambda_H", "lambda_b", "classifier")
DERIVED_FIELDS = ("K", "n", "ratio", "lambda")
SOLVER_FIELDS = ("method", "max_iter", "gtol", "restarts", "seed", "init_scale", "memory", "learning_rate",
                 "momentum", "stall_iters", "search")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    base: dict
    axes: dict  # name -> list of values
    zip_groups: tuple  # tuple of tuples of axis names varied together
    solver: dict
    predictions: tuple
    source: str = ""  # the TOML text

    @property
    def restarts(self) -> int:
        return int(self.solver.get("restarts", 1))

    @property
    def search(self) -> bool:
        return bool(self.solver.get("search", False))

    def hash(self) -> str:
        payload = json.dumps({"base": self.base, "axes": self.axes, "zip": self.zip_groups, "solver": self.solver,
                              "predictions": self.predictions}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def points(self) -> list:
        """Every grid point as a dict of axis values, in a stable order (zipped groups, then crossed)."""
        zipped = {name for group in self.zip_groups for name in group}
        factors = []
        for group in self.zip_groups:
            values = [self.axes[name] for name in group]
            factors.append([dict(zip(group, combo)) for combo in zip(*values)])
        for name, values in self.axes.items():
            if name not in zipped:
                factors.append([{name: v} for v in values])
        out = []
        for combo in itertools.product(*factors) if factors else [()]:
            point = {}
            for part in combo:
                point.update(part)
            out.append(point)
        return out

    def problem(self, point: dict) -> Problem:
        """The Problem of a grid point (raises ProblemError naming the field for an invalid point)."""
        fields = {**self.base, **point}
        if "lambda" in fields:
            lam = fields.pop("lambda")
            fields["lambda_W"], fields["lambda_H"] = lam, lam
        K, n, ratio = fields.pop("K", None), fields.pop("n", None), fields.pop("ratio", None)
        if K is not None or n is not None or ratio is not None:
            if "counts" in fields and (K is None or n is None):
                counts = list(fields["counts"])
                K = K or len(counts)
                n = n or max(counts)
            if K is None or n is None:
                raise ProblemError("K", "derived fields need both K and n (or base counts)")
            K, n = int(K), int(n)
            if ratio is None:
                fields["counts"] = [n] * K
            else:
                if not (isinstance(ratio, (int, float)) and ratio >= 1):
                    raise ProblemError("ratio", f"must be a number >= 1, got {ratio!r}")
                major = math.ceil(K / 2)
                fields["counts"] = [n] * major + [max(1, round(n / ratio))] * (K - major)
        return Problem(**fields)


def _axis_values(name: str, raw: Any) -> list:
    if isinstance(raw, list):
        if not raw:
            raise ProblemError(f"axes.{name}", "must not be empty")
        return raw
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, args), = raw.items()
        if kind in ("linspace", "logspace") and isinstance(args, list) and len(args) == 3:
            a, b, num = args
            if not isinstance(num, int) or num < 1:
                raise ProblemError(f"axes.{name}", f"{kind} needs an integer count >= 1, got {num!r}")
            vals = np.linspace(a, b, num) if kind == "linspace" else np.logspace(a, b, num)
            return [float(v) for v in vals]
    raise ProblemError(f"axes.{name}", "must be a list, {linspace = [a, b, num]} or {logspace = [a, b, num]} "
                                       f"(log10 exponents), got {raw!r}")


def parse_spec(text: str) -> SweepSpec:
    """Parse and validate a TOML sweep spec (errors name the offending key)."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProblemError("spec", f"not valid TOML: {e}") from None
    unknown = set(data) - {"base", "axes", "sweep", "solver", "predictions"}
    if unknown:
        raise ProblemError(f"{sorted(unknown)[0]}", "unknown section; allowed: base, axes, sweep, solver, predictions")
    base = dict(data.get("base", {}))
    allowed = set(PROBLEM_FIELDS) | set(DERIVED_FIELDS)
    for key in base:
        if key not in allowed:
            raise ProblemError(f"base.{key}", f"unknown field; allowed: {sorted(allowed)}")
    axes = {}
    for name, raw in data.get("axes", {}).items():
        if name not in allowed:
            raise ProblemError(f"axes.{name}", f"unknown axis; allowed: {sorted(allowed)}")
        axes[name] = _axis_values(name, raw)
    zip_groups = tuple(tuple(g) for g in data.get("sweep", {}).get("zip", []))
    for group in zip_groups:
        for name in group:
            if name not in axes:
                raise ProblemError("sweep.zip", f"names axis {name!r}, which is not in [axes]")
        if len({len(axes[name]) for name in group}) != 1:
            raise ProblemError("sweep.zip", f"zipped axes {list(group)} must have equal lengths")
    solver = dict(data.get("solver", {}))
    for key in solver:
        if key not in SOLVER_FIELDS:
            raise ProblemError(f"solver.{key}", f"unknown option; allowed: {list(SOLVER_FIELDS)}")
    from ufm.solver import SolverOptions

    if not isinstance(solver.get("search", False), bool):
        raise ProblemError("solver.search", f"must be true or false, got {solver['search']!r}")
    SolverOptions(**{k: v for k, v in solver.items() if k != "search"})  # validates
    preds = tuple(data.get("predictions", {}).get("names", []))
    from ufm.theory import PREDICTIONS

    for name in preds:
        if name not in PREDICTIONS:
            raise ProblemError("predictions.names", f"unknown prediction {name!r}; known: {sorted(PREDICTIONS)}")
    return SweepSpec(base, axes, zip_groups, solver, preds, text)


def load_spec(path) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise ProblemError("SPEC", f"no such file: {path}")
    return parse_spec(path.read_text())
