"""The machinery of ``proofs_check``: statements, cases, verdicts, and the generic prediction checker.

A :class:`Statement` is one published claim: an id, a citation, the claim in words, its hypotheses (checked
on every case's Problem), a function making parameter cases (random draws plus edge cases near every
threshold; more with ``full=True``), a check run on each case, optional sympy facts, and the verdict the
project currently expects (so a change that flips a verdict is caught).

Verdicts (per case, then per statement: refuted if any case is refuted, else inconclusive if any case is,
else holds):

- ``holds``: solver and prediction agree within the stated tolerances;
- ``refuted``: the search found a point with a LOWER objective than the predicted optimum (the
  counterexample records the parameters, both values and the geometry found), or a certified lower bound
  lies above the predicted value;
- ``inconclusive``: the solver did not converge, or the evidence is weaker than the tolerance.

Refutations come from search (random restarts, the reduced-problem global search of ``ufm.certificates`` with
structured low-rank starts, and a start at the predicted point), never from a number written into a check.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

VERDICTS = ("holds", "refuted", "inconclusive")

#: default tolerances: objective relative error (the solver reaches ~1e-13 or better on these sizes, small
#: weight decay included, see tests/test_zoo.py), structure (W Hbar, Grams) relative error (first order in the
#: relative stationarity 1e-11 divided by the curvature ratio).
OBJ_RTOL = 1e-8
STRUCT_RTOL = 1e-6


def refuted_by(found: float, predicted: float, rtol: float = OBJ_RTOL) -> bool:
    """The one refutation rule of every statement: a found objective lower than the predicted optimum by more
    than ``rtol`` relative (a point of the problem beats the claimed optimum)."""
    return found < predicted - rtol * abs(predicted)


@dataclasses.dataclass(frozen=True)
class Case:
    """One parameter case: a name (e.g. ``"random-3"``, ``"K c = 0.98 (just below threshold)"``), the
    Problem, and extra data for the check."""

    name: str
    problem: object
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class CaseResult:
    case: str
    verdict: str
    message: str = ""
    errors: dict = dataclasses.field(default_factory=dict)
    counterexample: Optional[dict] = None
    seconds: float = 0.0
    problem: Optional[dict] = None


@dataclasses.dataclass(frozen=True)
class Statement:
    """A published statement to check (see the module docstring)."""

    id: str
    citation: str
    statement: str
    expected: str
    cases: Callable  # (full: bool, seed: int) -> list[Case]
    check: Callable  # (case: Case, seed: int) -> CaseResult
    hypotheses: Optional[Callable] = None  # problem -> (bool, reason)
    symbolic: Optional[Callable] = None  # () -> dict[str, bool]
    notes: str = ""

    def __post_init__(self):
        if self.expected not in VERDICTS:
            raise ValueError(f"statement {self.id}: expected must be one of {VERDICTS}, got {self.expected!r}")


@dataclasses.dataclass
class StatementResult:
    id: str
    citation: str
    statement: str
    expected: str
    verdict: str
    cases: list
    symbolic: dict
    seconds: float

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    def worst_errors(self) -> dict:
        out: dict = {}
        for c in self.cases:
            for k, v in c.errors.items():
                if isinstance(v, (int, float)) and np.isfinite(v):
                    out[k] = max(out.get(k, 0.0), float(v))
        return out

    def to_dict(self) -> dict:
        return {"id": self.id, "citation": self.citation, "statement": self.statement, "expected": self.expected,
                "verdict": self.verdict, "as_expected": self.as_expected, "seconds": self.seconds,
                "symbolic": self.symbolic, "worst_errors": self.worst_errors(),
                "cases": [_jsonable(dataclasses.asdict(c)) for c in self.cases]}


def _jsonable(x):
    from ufm.solution import jsonable

    return jsonable(x)


def aggregate(verdicts) -> str:
    verdicts = list(verdicts)
    if "refuted" in verdicts:
        return "refuted"
    if "inconclusive" in verdicts or not verdicts:
        return "inconclusive"
    return "holds"


def run_statement(stmt: Statement, *, full: bool = False, seed: int = 0, progress=None) -> StatementResult:
    """Run every case of ``stmt`` (and its sympy facts) and aggregate the verdict."""
    t0 = time.perf_counter()
    symbolic = {}
    if stmt.symbolic is not None:
        symbolic = {k: bool(v) for k, v in stmt.symbolic().items()}
    cases = stmt.cases(full, seed)
    results = []
    for i, case in enumerate(cases):
        if progress is not None:
            progress(stmt.id, i, len(cases), case.name)
        t = time.perf_counter()
        if stmt.hypotheses is not None:
            ok, why = stmt.hypotheses(case.problem)
            if not ok:
                raise ValueError(f"statement {stmt.id}, case {case.name!r}: hypotheses do not hold: {why}")
        res = stmt.check(case, seed)
        res.seconds = time.perf_counter() - t
        res.problem = case.problem.to_dict()
        results.append(res)
    verdict = aggregate(r.verdict for r in results)
    if symbolic and not all(symbolic.values()) and verdict == "holds":
        verdict = "inconclusive"  # a derivation step sympy could not confirm
    return StatementResult(stmt.id, stmt.citation, stmt.statement, stmt.expected, verdict, results, symbolic,
                           time.perf_counter() - t0)


# ----------------------------------------------------------------------------- searching for the optimum
def search_best(problem, *, restarts: int = 4, seed: int = 0, starts=(), search: bool = True):
    """The lowest-objective solution the project can find: ``restarts`` random starts, the global search
    (when applicable and ``search``: the reduced problem's, or ``ufm.nonlinear``'s for ReLU models), and each of ``starts`` (parameter pytrees, e.g. the
    predicted point) polished. Returns (best Solution, list of every candidate Solution)."""
    from ufm.solver import search_applicable, solve

    mode = "always" if search and search_applicable(problem)[0] else "never"
    cands = [solve(problem, restarts=restarts, seed=seed, search=mode)]
    for x0 in starts:
        cands.append(solve(problem, init=x0, search="never"))
    usable = [c for c in cands if c.status.acceptable] or [c for c in cands if c.status != "diverged"]
    best = min(usable or cands, key=lambda s: s.objective)
    return best, cands


def predicted_point(problem, pred: dict):
    """A UFM point realising predicted class-mean logits (balanced factorisation, features at class means),
    or None when it cannot be built (fixed classifier, rank above d, no logits predicted)."""
    from ufm.reduced import applicable, lift_logits

    if "logits" not in pred or not applicable(problem)[0]:
        return None
    Z = np.asarray(pred["logits"], float)
    rank = np.linalg.matrix_rank(Z) if np.any(Z) else 0
    if rank > min(problem.d, problem.K):
        return None
    b = pred.get("bias") if problem.bias != "none" else None
    return lift_logits(problem, Z, b)


def geometry(solution) -> dict:
    """What a counterexample shows: W Hbar, its singular values and rank, the bias, the classifier Gram."""
    Z = solution.mean_logits
    s = np.linalg.svd(Z, compute_uv=False)
    rank = int(np.sum(s > 1e-6 * max(s[0], 1e-300))) if s.size and s[0] > 0 else 0
    W = solution.classifier
    return {"logits_WHbar": np.round(Z, 6).tolist(), "singular_values": np.round(s, 8).tolist(), "rank": rank,
            "bias": None if solution.bias is None else np.round(solution.bias, 8).tolist(),
            "classifier_gram": np.round(W @ W.T, 6).tolist()}


def check_prediction(prediction_name: str, *, obj_rtol: float = OBJ_RTOL, struct_rtol: float = STRUCT_RTOL,
                     restarts: int = 4, search: bool = True, structure_keys=None) -> Callable:
    """A check comparing a registered ``ufm.theory`` prediction with the best solution found by search.

    - refuted: best objective < predicted - obj_rtol |predicted| (a lower point exists), or for M = 1 a
      certified convex lower bound > predicted + obj_rtol |predicted|;
    - holds: |best - predicted| <= obj_rtol |predicted| and every structure error <= struct_rtol;
    - inconclusive otherwise (no convergence, value not reached, or same value with another geometry).
    """

    def check(case: Case, seed: int) -> CaseResult:
        from ufm.theory import PREDICTIONS

        pred_obj = PREDICTIONS[prediction_name]
        problem = case.problem
        ok, why = pred_obj.applies(problem)
        if not ok:
            raise ValueError(f"{prediction_name} does not apply to case {case.name!r}: {why}")
        pred = pred_obj.predict(problem)
        x0 = predicted_point(problem, pred)
        best, cands = search_best(problem, restarts=restarts, seed=seed, starts=[x0] if x0 is not None else [],
                                  search=search)
        f_pred = float(pred["objective"])
        tol = obj_rtol * abs(f_pred)
        errors = pred_obj.errors(problem, best)
        keys = structure_keys if structure_keys is not None else [k for k in errors if k != "objective_rel_err"]
        lower = _certified_lower_bound(problem, best)
        if lower is not None:
            errors["certified_lower_bound"] = lower
        if refuted_by(best.objective, f_pred, obj_rtol) and best.status.acceptable:
            return CaseResult(case.name, "refuted",
                              f"found objective {best.objective:.15g} < predicted {f_pred:.15g} "
                              f"(by {f_pred - best.objective:.3e})", errors,
                              counterexample={"parameters": problem.to_dict(), "predicted_objective": f_pred,
                                              "found_objective": best.objective,
                                              "difference": f_pred - best.objective,
                                              "found_geometry": geometry(best),
                                              "predicted_logits": np.round(np.asarray(pred.get("logits", [])),
                                                                           6).tolist(),
                                              "found_by": best.method})
        if lower is not None and lower > f_pred + tol:
            return CaseResult(case.name, "refuted",
                              f"certified lower bound {lower:.15g} > predicted optimum {f_pred:.15g}", errors,
                              counterexample={"parameters": problem.to_dict(), "predicted_objective": f_pred,
                                              "certified_lower_bound": lower})
        if not best.status.acceptable:
            return CaseResult(case.name, "inconclusive", f"best run ended with status {best.status}", errors)
        if abs(best.objective - f_pred) > tol:
            return CaseResult(case.name, "inconclusive",
                              f"predicted value {f_pred:.15g} not reached (best {best.objective:.15g})", errors)
        bad = {k: errors[k] for k in keys if errors.get(k, 0.0) > struct_rtol}
        if bad:
            return CaseResult(case.name, "inconclusive",
                              f"value agrees but the geometry differs: {bad} (non-unique optimum?)", errors)
        return CaseResult(case.name, "holds", f"objective {best.objective:.15g} = predicted {f_pred:.15g}", errors)

    return check


def _certified_lower_bound(problem, solution) -> Optional[float]:
    """The convex dual bound (M = 1, free factors) or the sphere bound (balanced normalised CE), else None."""
    from ufm import convex, sphere

    if sphere.applicable(problem)[0]:
        return sphere.bound(problem).value
    if not convex.applicable(problem)[0]:
        return None
    return convex.solve_convex(problem, Z0=solution.mean_logits, b0=solution.bias).lower_bound


# ----------------------------------------------------------------------------- loading statements
def load_statements(extra_files=()) -> dict:
    """Every statement of ``proofs_check.statements`` (one module per statement, each defining ``STATEMENT``
    or a list ``STATEMENTS``) plus those of the given extra Python files, by id.

    A bad extra file is one :class:`ufm.errors.FlagError` naming ``--statements`` (the command line prints one
    line and exits with status 2): a missing file, a syntax error (with its line), an exception while importing
    it (with the line of the file where it was raised), a file that defines neither ``STATEMENT`` nor
    ``STATEMENTS``, something there that is not a :class:`Statement`, or an id already taken."""
    import proofs_check.statements as pkg

    modules = [(importlib.import_module(f"{pkg.__name__}.{m.name}"), None)
               for m in pkgutil.iter_modules(pkg.__path__)]
    for path in extra_files:
        modules.append((_load_file(Path(path)), Path(path)))
    out: dict = {}
    for module, path in modules:
        found = list(_statements_of(module, path))
        for stmt in found:
            if stmt.id in out:
                if path is None:
                    raise ValueError(f"two statements share the id {stmt.id!r}")
                raise _flag_error(f"{path}: the statement id {stmt.id!r} is already taken (by a built-in "
                                  "statement or an earlier file)")
            out[stmt.id] = stmt
    return out


def _flag_error(message: str):
    from ufm.errors import FlagError

    return FlagError("--statements", message)


def _load_file(path: Path):
    """Import a user's statement file; every failure is one line naming the file (and the line)."""
    if not path.is_file():
        raise _flag_error(f"no such file: {path}")
    try:
        source = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise _flag_error(f"cannot read {path}: {e}") from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as e:
        raise _flag_error(f"{path}, line {e.lineno}: syntax error: {e.msg}") from None
    spec = importlib.util.spec_from_file_location(f"ufm_user_statement_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        exec(code, module.__dict__)
    except Exception as e:  # noqa: BLE001 -- the user's file: one line with where it failed
        import traceback

        frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
        where = f", line {frames[-1].lineno}" if frames else ""
        sys.modules.pop(spec.name, None)
        raise _flag_error(f"{path}{where}: importing it raised {type(e).__name__}: {e}") from None
    return module


def _statements_of(module, path):
    """The statements a module defines (``STATEMENT`` and / or ``STATEMENTS``); a user file without them, or
    with something else under those names, is a one-line error."""
    has_one, has_list = hasattr(module, "STATEMENT"), hasattr(module, "STATEMENTS")
    if path is not None and not (has_one or has_list):
        raise _flag_error(f"{path} defines neither STATEMENT nor STATEMENTS (see examples/my_conjecture.py)")
    found = []
    if has_list:
        items = module.STATEMENTS
        if path is not None and not isinstance(items, (list, tuple)):
            raise _flag_error(f"{path}: STATEMENTS must be a list of proofs_check.Statement, got "
                              f"{type(items).__name__}")
        found += list(items)
    if has_one:
        found.append(module.STATEMENT)
    for stmt in found:
        if not isinstance(stmt, Statement):
            if path is None:
                raise TypeError(f"{module.__name__}: {stmt!r} is not a proofs_check.Statement")
            raise _flag_error(f"{path}: {type(stmt).__name__} {stmt!r:.60} is not a proofs_check.Statement")
    return found
