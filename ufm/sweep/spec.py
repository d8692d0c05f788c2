"""Sweep specification (TOML): a base problem, axes, solver options, predictions.

Format (see ``examples/sweeps/*.toml`` and docs/sweep.md)::

    [base]                      # any ufm.Problem field (counts, d, depth, loss, bias, lambda_W, lambda_H, lambda_b,
    counts = [20, 20, 4, 4]     #  classifier, activation, activate_features, feature_radius,
                                #  classifier_radius), or the derived fields K + n (balanced) and ratio (imbalance)
    d = 4
    loss = "mse"

    [axes]                      # each axis: a list, or {linspace = [a, b, num]}, or {logspace = [a, b, num]}
    lambda = {logspace = [-3, -1.5, 10]}   # (log10 exponents); "lambda" sets lambda_W = lambda_H
    ratio = [1, 2, 5, 10]
    depth = [1, 2, 3]

    [sweep]
    zip = [["lambda_W", "lambda_H"]]   # optional: axes varied together (equal lengths); the rest are crossed
    max_points = 1_000_000             # optional: refuse larger grids (default 1e6; ufm sweep --max-points)
    max_memory_gb = 8                  # optional: refuse points needing more (default: ufm.limits, 75% of the RAM)

    [solver]                    # ufm.solver.SolverOptions fields, plus restarts (one row per restart)
    restarts = 1                # and search = true: one more row per point (restart = restarts) from the
    search = true               # reduced-problem global search of ufm.certificates (recommended for M > 1)
    seed = 0
    gtol = 1e-10

    [predictions]
    names = ["dang2023_mse_imbalanced"]    # ufm.theory.PREDICTIONS evaluated beside each solve

Mixup (``loss = "mixup-ce"`` or ``"mixup-mse"``): the fields of ``ufm.mixup.MixupDesign`` as ``mixup_pairs``
(``"all"``, ``"same"``, ``"different"`` or a list of [i, j] pairs), ``mixup_lams`` (a list of weights in [0, 1];
as an axis, each value is one point's weights: a list, or a number for a single weight), ``mixup_alpha`` and
``mixup_draws`` (Beta(alpha, alpha) draws instead of ``mixup_lams``), ``mixup_seed`` (of the draws),
``mixup_per_pair``, ``mixup_include_original``, in ``[base]`` or ``[axes]``; missing ones take the MixupDesign
defaults. They are refused (SpecError naming the key) unless every point has a mixup loss, and
``mixup_lams`` with ``mixup_alpha``, or ``mixup_draws`` / ``mixup_seed`` without it, are refused too.

Derived fields: ``K`` and ``n`` build balanced counts (K classes of n); ``ratio`` R with base counts / K, n
makes the first ceil(K/2) classes majority (n) and the rest minority (max(1, round(n / R))); ``lambda`` sets
lambda_W = lambda_H; ``temperature`` tau sets feature_radius = 1 and classifier_radius = 1/tau (normalised logits,
``Problem.normalized_logits``). Every point gets a ``point_id`` (its index in the grid), stable across reruns.

Validation: every malformed key or value raises :class:`ufm.errors.SpecError` naming it (``base.d``,
``axes.lambda``, ``sweep.zip``, ``solver.momentum``, ...): base values and solver options are checked here, one
by one. Axis values are not: a point whose value is invalid for its field (``d = "x"``) becomes a row with
``status = "invalid"`` when the sweep runs. Axis values must still be storable (numbers, strings, booleans,
lists, tables: no TOML dates or times). A grid larger than ``max_points`` raises
:class:`ufm.errors.ResourceError` before anything is expanded.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ufm import mixup
from ufm.errors import ProblemError, ResourceError, SpecError, UfmError
from ufm.problem import BIAS_MODES, Problem

PROBLEM_FIELDS = ("counts", "d", "depth", "loss", "bias", "lambda_W", "lambda_H", "lambda_b", "classifier",
                  "activation", "activate_features", "feature_radius", "classifier_radius")
DERIVED_FIELDS = ("K", "n", "ratio", "lambda", "temperature")
MIXUP_FIELDS = tuple(mixup.SPEC_KEYS)  # mixup_pairs, mixup_lams, ...: the MixupDesign of a mixup loss
SOLVER_FIELDS = ("method", "max_iter", "gtol", "restarts", "seed", "init_scale", "memory", "learning_rate",
                 "momentum", "stall_iters", "search", "reduce", "polish", "second_order", "escapes", "search_restarts")
SECTIONS = ("base", "axes", "sweep", "solver", "predictions")
SWEEP_KEYS = ("zip", "max_points", "max_memory_gb")
PREDICTION_KEYS = ("names",)
DEFAULT_MAX_POINTS = 1_000_000
INT32_MAX = 2**31 - 1
SEED_BOUND = 2**62


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    base: dict
    axes: dict  # name -> list of values
    zip_groups: tuple  # tuple of tuples of axis names varied together
    solver: dict
    predictions: tuple
    source: str = ""  # the TOML text
    max_points: Optional[int] = None  # [sweep] max_points (None: the default); not part of the hash
    max_memory_gb: Optional[float] = None  # [sweep] max_memory_gb (None: ufm.limits' default); not part of the hash

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

    def n_points(self) -> int:
        """The number of grid points (without expanding the grid)."""
        return _grid_size({k: len(v) for k, v in self.axes.items()}, self.zip_groups)

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

    def axis_types(self) -> dict:
        """name -> the type of its typed ``axis_<name>`` column: ``"bool"``, ``"int"``, ``"float"``, ``"str"``,
        ``"list<int>"``, ``"list<float>"``, or ``None`` where the values have no single type (the value is then
        only in the JSON column ``axes_json``)."""
        return {name: axis_type(values) for name, values in self.axes.items()}

    def problem(self, point: dict) -> Problem:
        """The Problem of a grid point (raises ProblemError naming the field for an invalid point, whatever the
        types of the values)."""
        try:
            return self._problem(point)
        except UfmError:
            raise
        except Exception as e:  # a value of a type nothing expected: the point is invalid, never a crash
            raise ProblemError("point", f"{type(e).__name__}: {e}") from None

    def _problem(self, point: dict) -> Problem:
        fields = {**self.base, **point}
        design = {k: fields.pop(k) for k in MIXUP_FIELDS if k in fields}
        if mixup.is_mixup_loss(fields.get("loss", "ce")):
            fields["samples"] = mixup.design_from_spec(design)
        elif design:
            raise ProblemError(sorted(design)[0], f"is only valid with a mixup loss ({', '.join(mixup.LOSSES)}), "
                                                  f"got loss = {fields.get('loss', 'ce')!r}")
        if "lambda" in fields:
            lam = fields.pop("lambda")
            fields["lambda_W"], fields["lambda_H"] = lam, lam
        K, n, ratio = fields.pop("K", None), fields.pop("n", None), fields.pop("ratio", None)
        if K is not None or n is not None or ratio is not None:
            if "counts" in fields and (K is None or n is None):
                counts = fields["counts"]
                if not isinstance(counts, (list, tuple)) or not counts:
                    raise ProblemError("counts", f"must be a list of per-class sample counts, got {counts!r}")
                if K is None:
                    K = len(counts)
                if n is None:
                    n = max(_integer("counts", c, 1) for c in counts)
            if K is None or n is None:
                raise ProblemError("K", "derived fields need both K and n (or base counts)")
            K, n = _integer("K", K, 2), _integer("n", n, 1)
            if ratio is None:
                fields["counts"] = [n] * K
            else:
                if not (_is_real(ratio) and math.isfinite(ratio) and ratio >= 1):
                    raise ProblemError("ratio", f"must be a finite number >= 1, got {ratio!r}")
                major = math.ceil(K / 2)
                fields["counts"] = [n] * major + [max(1, round(n / ratio))] * (K - major)
        if "temperature" in fields:  # normalised logits: the radii and their checks are Problem's
            return Problem.normalized_logits(**fields)
        return Problem(**fields)


# ---------------------------------------------------------------------------------------------- value helpers
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _key(k: str) -> str:
    """A TOML key as it can be written in one line (quoted unless bare)."""
    return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else json.dumps(k)


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _integer(field: str, v: Any, minimum: int) -> int:
    """An integer (or an integral float) >= minimum, else ProblemError (never truncated: K = 2.7 is refused)."""
    if _is_int(v) or (isinstance(v, float) and math.isfinite(v) and v.is_integer()):
        if int(v) >= minimum:
            return int(v)
    raise ProblemError(field, f"must be an integer >= {minimum}, got {_show(v)}")


def _has_datetime(v: Any) -> bool:
    if isinstance(v, (datetime.date, datetime.time)):  # datetime.datetime is a date
        return True
    if isinstance(v, list):
        return any(_has_datetime(x) for x in v)
    if isinstance(v, dict):
        return any(_has_datetime(x) for x in v.values())
    return False


def _int64(v: Any) -> bool:
    return _is_int(v) and -2**63 <= v < 2**63


def _float64(v: Any) -> bool:
    return isinstance(v, float) or (_is_int(v) and abs(v) < 2**1023)


def axis_type(values: list) -> Optional[str]:
    """The one storage type of an axis's values, or None (mixed types, or integers beyond int64: JSON column
    only)."""
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(_int64(v) for v in values):
        return "int"
    if all(_float64(v) for v in values):
        return "float"
    if all(isinstance(v, str) for v in values):
        return "str"
    if all(isinstance(v, list) and v and all(_int64(x) for x in v) for v in values):
        return "list<int>"
    if all(isinstance(v, list) and v and all(_float64(x) for x in v) for v in values):
        return "list<float>"
    return None


def _grid_size(lengths: dict, zip_groups) -> int:
    zipped = {name for group in zip_groups for name in group}
    size = 1
    for group in zip_groups:
        size *= lengths[group[0]]
    for name, n in lengths.items():
        if name not in zipped:
            size *= n
    return size


# ---------------------------------------------------------------------------------------------- base values
def _finite_nonneg(v: Any) -> bool:
    return _is_real(v) and math.isfinite(v) and v >= 0


def _integral(v: Any, minimum: int) -> bool:
    return (_is_int(v) or (isinstance(v, float) and math.isfinite(v) and v.is_integer())) and v >= minimum


def _check_base(key: str, v: Any) -> None:
    """One base value on its own (combinations are checked per point, when the sweep runs)."""
    where = f"base.{key}"
    if key == "counts":
        if not (isinstance(v, list) and len(v) >= 2 and all(_integral(c, 1) for c in v)):
            raise SpecError(where, f"must be a list of at least 2 integers >= 1, got {_show(v)}")
    elif key in ("d", "depth", "n", "K"):
        minimum = 2 if key == "K" else 1
        if not _integral(v, minimum):
            raise SpecError(where, f"must be an integer >= {minimum}, got {_show(v)}")
    elif key == "loss":
        from ufm import losses

        try:
            losses.get(v)
        except ProblemError as e:
            raise SpecError(where, e.detail) from None
    elif key == "bias":
        if not (isinstance(v, str) and v in BIAS_MODES):
            raise SpecError(where, f"must be one of {list(BIAS_MODES)}, got {_show(v)}")
    elif key == "activation":
        from ufm.problem import ACTIVATIONS

        if not (isinstance(v, str) and v in ACTIVATIONS):
            raise SpecError(where, f"must be one of {list(ACTIVATIONS)}, got {_show(v)}")
    elif key == "activate_features":
        if not isinstance(v, bool):
            raise SpecError(where, f"must be true or false, got {_show(v)}")
    elif key in ("lambda_H", "lambda_b", "lambda"):
        if not _finite_nonneg(v):
            raise SpecError(where, f"must be a finite number >= 0, got {_show(v)}")
    elif key == "lambda_W":
        if not (_finite_nonneg(v) or (isinstance(v, list) and v and all(_finite_nonneg(x) for x in v))):
            raise SpecError(where, f"must be a finite number >= 0 or a list of them (one per layer), got {_show(v)}")
    elif key in ("feature_radius", "classifier_radius", "temperature"):
        if not (_is_real(v) and math.isfinite(v) and v > 0):
            raise SpecError(where, f"must be a finite number > 0 (leave it out for free {key.split('_')[0]}s), "
                                   f"got {_show(v)}")
    elif key == "ratio":
        if not (_is_real(v) and math.isfinite(v) and v >= 1):
            raise SpecError(where, f"must be a finite number >= 1, got {_show(v)}")
    elif key in MIXUP_FIELDS:
        try:
            mixup.design_from_spec({key: v})
        except ProblemError as e:
            raise SpecError(where, e.detail) from None
        except Exception as e:  # a value nothing expected (an integer too large for a float, ...)
            raise SpecError(where, f"{type(e).__name__}: {e}") from None
    elif key == "classifier":
        ok = v == "etf" if isinstance(v, str) else (
            isinstance(v, list) and v and all(isinstance(r, list) and r and len(r) == len(v[0]) for r in v)
            and all(_is_real(x) and math.isfinite(x) for r in v for x in r))
        if not ok:
            raise SpecError(where, f"must be \"etf\" or a K x d matrix (list of rows) of finite numbers, got "
                                   f"{_show(v)}")


# ---------------------------------------------------------------------------------------------- solver options
_SOLVER_INTS = {"max_iter": (1, INT32_MAX), "restarts": (1, 10_000), "memory": (1, 1_000),
                "stall_iters": (1, INT32_MAX), "seed": (-SEED_BOUND, SEED_BOUND)}


def _check_solver(key: str, v: Any) -> None:
    where = f"solver.{key}"
    if key in _SOLVER_INTS:
        lo, hi = _SOLVER_INTS[key]
        if not (_is_int(v) and lo <= v <= hi):
            raise SpecError(where, f"must be an integer in [{lo}, {hi}], got {_show(v)}")
    elif key in ("gtol", "init_scale", "learning_rate"):
        if not _finite_nonneg(v):
            raise SpecError(where, f"must be a finite number >= 0, got {_show(v)}")
    elif key == "momentum":
        if not (_is_real(v) and 0 <= v < 1):
            raise SpecError(where, f"must be a number in [0, 1), got {_show(v)}")
    elif key == "method":
        if not isinstance(v, str):
            raise SpecError(where, f"must be a string, got {_show(v)}")
    elif key == "search":
        if not isinstance(v, bool):
            raise SpecError(where, f"must be true or false, got {_show(v)}")


# ---------------------------------------------------------------------------------------------- axes
def _axis_length(name: str, raw: Any) -> int:
    """The number of values of an axis, checked without expanding linspace / logspace."""
    where = f"axes.{name}"
    if isinstance(raw, list):
        if not raw:
            raise SpecError(where, "must not be empty")
        for v in raw:
            if _has_datetime(v):
                raise SpecError(where, f"value {_show(v)} is (or holds) a TOML date/time, which a sweep cannot "
                                       "store; axis values are numbers, strings, booleans, lists or tables")
        return len(raw)
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, args), = raw.items()
        if kind in ("linspace", "logspace"):
            if not (isinstance(args, list) and len(args) == 3):
                raise SpecError(where, f"{kind} needs [a, b, num], got {_show(args)}")
            a, b, num = args
            if not (_is_real(a) and _is_real(b) and math.isfinite(a) and math.isfinite(b)):
                raise SpecError(where, f"{kind} needs finite numbers a and b, got {_show(a)} and {_show(b)}")
            if kind == "logspace" and max(a, b) > 300:
                raise SpecError(where, f"logspace exponents must be <= 300 (10**a overflows), got {_show(max(a, b))}")
            if not (_is_int(num) and num >= 1):
                raise SpecError(where, f"{kind} needs an integer count >= 1, got {_show(num)}")
            return num
    raise SpecError(where, "must be a list, {linspace = [a, b, num]} or {logspace = [a, b, num]} "
                           f"(log10 exponents), got {_show(raw)}")


def _axis_values(raw: Any) -> list:
    if isinstance(raw, list):
        return raw
    (kind, (a, b, num)), = raw.items()
    vals = np.linspace(a, b, num) if kind == "linspace" else np.logspace(a, b, num)
    return [float(v) for v in vals]


def _table(data: dict, name: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise SpecError(name, f"must be a table ([{name}]), got {_show(value)}")
    return value


def parse_spec(text: str, *, max_points: Optional[int] = None) -> SweepSpec:
    """Parse and validate a TOML sweep spec. Errors are :class:`ufm.errors.SpecError` naming the offending key,
    or :class:`ufm.errors.ResourceError` for a grid of more than ``max_points`` points (this argument, else the
    spec's ``[sweep] max_points``, else 1,000,000)."""
    import tomllib

    if not isinstance(text, str):
        raise SpecError("spec", f"must be TOML text, got {type(text).__name__}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError("spec", f"not valid TOML: {e}") from None
    except RecursionError:
        raise SpecError("spec", "not valid TOML: nested too deeply") from None
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise SpecError(_key(sorted(unknown)[0]), f"unknown section; allowed: {', '.join(SECTIONS)}")
    base, raw_axes, sweep = _table(data, "base"), _table(data, "axes"), _table(data, "sweep")
    solver, predictions = _table(data, "solver"), _table(data, "predictions")

    allowed = set(PROBLEM_FIELDS) | set(DERIVED_FIELDS) | set(MIXUP_FIELDS)
    for key, value in base.items():
        if key not in allowed:
            raise SpecError(f"base.{_key(key)}", f"unknown field; allowed: {sorted(allowed)}")
        _check_base(key, value)
    lengths = {}
    for name, raw in raw_axes.items():
        if name not in allowed:
            raise SpecError(f"axes.{_key(name)}", f"unknown axis; allowed: {sorted(allowed)}")
        lengths[name] = _axis_length(name, raw)
    names = set(base) | set(raw_axes)
    if "lambda" in names and names & {"lambda_W", "lambda_H"}:
        where = "axes.lambda" if "lambda" in raw_axes else "base.lambda"
        raise SpecError(where, "sets lambda_W = lambda_H; do not give lambda_W or lambda_H as well")
    if "temperature" in names and names & {"feature_radius", "classifier_radius"}:
        where = "axes.temperature" if "temperature" in raw_axes else "base.temperature"
        raise SpecError(where, "sets feature_radius = 1 and classifier_radius = 1/temperature; do not give the "
                               "radii as well")
    _check_mixup_keys(base, raw_axes)

    for key in sweep:
        if key not in SWEEP_KEYS:
            raise SpecError(f"sweep.{_key(key)}", f"unknown key; allowed: {', '.join(SWEEP_KEYS)}")
    zip_raw = sweep.get("zip", [])
    if not (isinstance(zip_raw, list) and all(isinstance(g, list) and g and all(isinstance(n, str) for n in g)
                                              for g in zip_raw)):
        raise SpecError("sweep.zip", f"must be a list of lists of axis names, e.g. [[\"lambda_W\", \"lambda_H\"]], "
                                     f"got {_show(zip_raw)}")
    seen = set()
    for group in zip_raw:
        for name in group:
            if name not in lengths:
                raise SpecError("sweep.zip", f"names axis {name!r}, which is not in [axes]")
            if name in seen:
                raise SpecError("sweep.zip", f"names axis {name!r} twice (each axis may be zipped once)")
            seen.add(name)
        if len({lengths[name] for name in group}) != 1:
            raise SpecError("sweep.zip", f"zipped axes {group} must have equal lengths, got "
                                         f"{[lengths[n] for n in group]}")
    zip_groups = tuple(tuple(g) for g in zip_raw)
    spec_max_points = sweep.get("max_points")
    if spec_max_points is not None and not (_is_int(spec_max_points) and spec_max_points >= 1):
        raise SpecError("sweep.max_points", f"must be an integer >= 1, got {_show(spec_max_points)}")
    spec_max_mem = sweep.get("max_memory_gb")
    if spec_max_mem is not None and not (_is_real(spec_max_mem) and math.isfinite(spec_max_mem) and spec_max_mem > 0):
        raise SpecError("sweep.max_memory_gb", f"must be a finite number > 0, got {_show(spec_max_mem)}")

    for key, value in solver.items():
        if key not in SOLVER_FIELDS:
            raise SpecError(f"solver.{_key(key)}", f"unknown option; allowed: {list(SOLVER_FIELDS)}")
        _check_solver(key, value)
    if solver.get("seed", 0) + solver.get("restarts", 1) > SEED_BOUND:
        raise SpecError("solver.seed", f"seed + restarts must be <= {SEED_BOUND}")
    from ufm.solver import SolverOptions

    try:
        SolverOptions(**{k: v for k, v in solver.items() if k != "search"})  # the solver's own checks
    except UfmError as e:
        raise SpecError(f"solver.{e.field}", e.detail) from None
    except Exception as e:  # anything else the options refuse: still one line naming the section
        raise SpecError("solver", f"{type(e).__name__}: {e}") from None

    for key in predictions:
        if key not in PREDICTION_KEYS:
            raise SpecError(f"predictions.{_key(key)}", f"unknown key; allowed: {', '.join(PREDICTION_KEYS)}")
    preds = predictions.get("names", [])
    if not (isinstance(preds, list) and all(isinstance(p, str) for p in preds)):
        raise SpecError("predictions.names", f"must be a list of prediction names, got {_show(preds)}")
    from ufm.theory import PREDICTIONS

    for name in preds:
        if name not in PREDICTIONS:
            raise SpecError("predictions.names", f"unknown prediction {name!r}; known: {sorted(PREDICTIONS)}")
    if len(set(preds)) != len(preds):
        raise SpecError("predictions.names", f"lists a prediction twice: {preds}")

    limit = max_points if max_points is not None else (spec_max_points or DEFAULT_MAX_POINTS)
    size = _grid_size(lengths, zip_groups)
    if size > limit:
        raise ResourceError("sweep", f"the grid has {size:,} points, more than max_points = {limit:,}; to run it "
                                     f"anyway set [sweep] max_points = {size} in the spec or pass --max-points {size}")
    if "d" not in names:
        raise SpecError("base.d", "is required: give d in [base] or in [axes]")
    if "counts" not in names and not {"K", "n"} <= names:
        raise SpecError("base.counts", "is required: give counts, or K and n, in [base] or in [axes]")
    axes = {name: _axis_values(raw) for name, raw in raw_axes.items()}
    return SweepSpec(base, axes, zip_groups, solver, tuple(preds), text, spec_max_points, spec_max_mem)


def _check_mixup_keys(base: dict, raw_axes: dict) -> None:
    """``mixup_*`` keys only with a mixup loss at every point, and no key that the design would ignore."""
    given = [k for k in MIXUP_FIELDS if k in base or k in raw_axes]
    if not given:
        return

    def where(k):
        return f"axes.{k}" if k in raw_axes else f"base.{k}"

    if "loss" in raw_axes:
        losses = _axis_values(raw_axes["loss"])
        bad = [v for v in losses if not mixup.is_mixup_loss(v)]
        if bad:
            raise SpecError(where(given[0]), f"is only valid with a mixup loss ({', '.join(mixup.LOSSES)}), but "
                                             f"axes.loss has {_show(bad[0])}")
    elif not mixup.is_mixup_loss(base.get("loss", "ce")):
        loss = f"loss = {_show(base['loss'])}" if "loss" in base else "no loss is given (default \"ce\")"
        raise SpecError(where(given[0]), f"is only valid with a mixup loss: set [base] loss = \"mixup-ce\" or "
                                         f"\"mixup-mse\" ({loss})")
    if "mixup_alpha" in given and "mixup_lams" in given:
        raise SpecError(where("mixup_lams"), "give mixup_lams (a grid of weights) or mixup_alpha (Beta draws), "
                                             "not both: with mixup_alpha the weights are drawn")
    for k in ("mixup_draws", "mixup_seed"):
        if k in given and "mixup_alpha" not in given:
            raise SpecError(where(k), "is only used with mixup_alpha (Beta(alpha, alpha) draws of the weights)")


def load_spec(path, *, max_points: Optional[int] = None) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError("SPEC", f"no such file: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError("SPEC", f"cannot read {path}: {e}") from None
    return parse_spec(text, max_points=max_points)
