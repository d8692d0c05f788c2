"""The result of a solve: parameters plus diagnostics, as plain numpy (float64).

Rule of the interface: every array of a solution is a property (``weights``, ``features``, ``bias``,
``classifier``, ``product``, ``class_means``, ``logits``, ``layer_features``); what takes arguments or does
work beyond the arrays is a method (``params()``, ``metrics()``, ``summary()``, ``to_dict()``, ``save()``,
``Solution.load()``).

The words of the status and of the evidence are defined once (docs/theory.md section 13) and used the same way
in ``summary()``, the JSON and the command line:

- run status (``ufm.loop.Status``): converged, stalled, max_iter, diverged, saddle;
- second order (the ``second_order`` field of a solve): ``no negative curvature`` (the Hessian's eigenvalues,
  exact for small problems, by Lanczos otherwise) or ``saddle``; a saddle is never reported as an optimum;
  ``non-smooth point`` where pre-activations of a ReLU model sit at the kink (``ufm.nonlinear.kinks``): no
  Hessian, no verdict;
- certificate levels (``ufm.certificates``): ``certified`` (a rigorous lower bound within rtol of the objective),
  ``search-agreed`` (the global search found nothing lower), ``local-minimum``, ``none``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np

from ufm import forward
from ufm import objective as obj
from ufm.errors import ProblemError
from ufm.loop import Status, best_run, distinct_values


class RunRecord(NamedTuple):
    """The record of one run of a solve: how it started (``label``: random, given, reduced-search,
    nonlinear-search), where it
    ended (``objective``, ``grad_norm``, ``stationarity``, ``iterations``, ``status``), the smallest Hessian
    eigenvalue found there (nan if not checked) and how many saddle escapes it took."""

    label: str
    objective: float
    grad_norm: float
    stationarity: float
    iterations: int
    status: Status
    min_eigenvalue: float = float("nan")
    escapes: int = 0


@dataclasses.dataclass(frozen=True)
class Solution:
    """Best run of a solve, with every run's record (module docstring for the interface rule).

    Attributes:
      problem: the :class:`ufm.Problem` solved.
      weights: all M layers, first to classifier (a fixed classifier included), numpy float64.
      columns: the solved feature columns: d x N, or d x C in class-reduced coordinates when ``reduced``
        (``ufm.objective``); ``features`` lifts them.
      bias: b (K,), or None when ``problem.bias == "none"``; centred (sum 0) where only b + c 1 is defined
        (``Problem.bias_shift_free``).
      objective, grad_norm, stationarity, iterations, status: of the best run.
      runs: a :class:`RunRecord` per run, in order.
      reduced: the class-reduced problem was solved (docs/theory.md section 4).
      method, seed, wall_time (seconds, all runs, compilation included), compile_time (seconds spent
        compiling, when measured), options: how it was solved.
      second_order: ``{"verdict", "min_eigenvalue", "max_eigenvalue", "steps"}`` of the best run, or None.
      search: summary of the reduced-problem global search, or None.
      certificate: filled by ``ufm.certificates`` (levels of evidence, bounds, gap, ...), else None.
    """

    problem: Any
    weights: tuple
    columns: np.ndarray
    bias: Optional[np.ndarray]
    objective: float
    grad_norm: float
    stationarity: float
    iterations: int
    status: Status
    runs: tuple
    reduced: bool = False
    method: str = "lbfgs"
    seed: int = 0
    wall_time: float = 0.0
    compile_time: Optional[float] = None
    options: dict = dataclasses.field(default_factory=dict)
    second_order: Optional[dict] = None
    search: Optional[dict] = None
    certificate: Optional[dict] = None

    @classmethod
    def from_runs(cls, problem, records, *, reduced: bool = False, second_order_checked: bool = False,
                  **kwargs) -> "Solution":
        """The best run of ``records`` = [(label, Run, curvature or None, escapes)] (runs in the solved
        coordinates; ``reduced`` says which)."""
        runs = [r for _, r, _, _ in records]
        best = best_run(runs)
        label, run, curv, esc = records[best]
        params = run.params
        weights = [np.asarray(W, dtype=np.float64) for W in params["W"]]
        if problem.classifier_fixed:
            weights.append(problem.classifier_matrix())
        recs = tuple(RunRecord(lab, r.objective, r.grad_norm, r.stationarity, r.iterations, Status(r.status),
                               float("nan") if c is None else c.min_eigenvalue, e) for lab, r, c, e in records)
        so = None
        if curv is not None and getattr(curv, "kinks", None) is not None:  # ufm.nonlinear.NonSmooth
            so = {"verdict": "non-smooth point", "kinks": curv.kinks,
                  "why": "pre-activations at the kink of the activation: the Hessian does not exist there"}
        elif curv is not None:
            so = {"verdict": "saddle" if run.status == Status.SADDLE else "no negative curvature",
                  "min_eigenvalue": curv.min_eigenvalue,
                  "max_eigenvalue": curv.max_eigenvalue, "steps": curv.steps}
        elif second_order_checked:
            so = {"verdict": "not checked", "why": f"best run ended {run.status}"}
        bias = problem.canonical_bias(None if "b" not in params else np.asarray(params["b"], np.float64))
        return cls(problem=problem, weights=tuple(weights), columns=np.asarray(params["H"], np.float64),
                   bias=bias,
                   objective=run.objective, grad_norm=run.grad_norm, stationarity=run.stationarity,
                   iterations=run.iterations, status=Status(run.status), runs=recs, reduced=reduced,
                   second_order=so, **kwargs)

    @classmethod
    def at(cls, problem, params: dict, **kwargs) -> "Solution":
        """A solution at given full parameters (``ufm.objective.params_from_arrays``), not solved: objective,
        gradient norm and stationarity evaluated there, status ``max_iter`` with 0 iterations (no claim of
        stationarity). Use it to measure or plot a point of your own. For a normalised problem the point is
        first moved onto its spheres (``ufm.objective.project``: the value it stands for)."""
        import jax
        import jax.numpy as jnp

        from ufm.loop import Run, stationarity, tree_norm

        obj.check_params(problem, params, field="params")
        f = obj.objective_of(problem)
        x = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), obj.project(problem, params))
        data = obj.problem_data(problem, jnp.float64)
        fx, g = jax.value_and_grad(f)(x, data)
        run = Run(jax.tree_util.tree_map(np.asarray, x), float(fx), float(tree_norm(g)),
                  float(stationarity(fx, g, x)), 0, Status.MAX_ITER)
        return cls.from_runs(problem, [("given", run, None, 0)], **kwargs)

    # ------------------------------------------------------------------ arrays (properties)
    @functools.cached_property
    def features(self) -> np.ndarray:
        """H, d x N, columns grouped by class in class order (lifted from the reduced columns if needed)."""
        if not self.reduced:
            return self.columns
        return obj.lift(self.problem, {"W": (), "H": self.columns})["H"]

    @property
    def classifier(self) -> np.ndarray:
        """The last layer W_M (K x d)."""
        return self.weights[-1]

    @property
    def product(self) -> np.ndarray:
        """W = W_M ... W_1 (K x d) (with an activation, the product of the matrices, not the map the features
        see: use ``logits`` and ``layer_features``)."""
        return forward.product(self.weights)

    @property
    def logits(self) -> np.ndarray:
        """Z = W_M ... W_1 H + b (K x N); with an activation, W_M s(... s(W_1 s0(H))) + b (``ufm.forward``)."""
        p = self.problem
        return forward.logits(self.weights, self.features, self.bias, p.activation, p.activate_features)

    @functools.cached_property
    def class_means(self) -> np.ndarray:
        """Hbar = [hbar_1 .. hbar_K] (d x K), means of the feature columns of each class (labels >= 0)."""
        p = self.problem
        if self.reduced and p.samples is None:  # groups are the classes: h_c / sqrt(n_c)
            return self.columns / np.sqrt(np.asarray(p.counts, float))[None, :]
        labels = p.labels()
        out = np.full((self.columns.shape[0], p.K), np.nan)
        for k in range(p.K):
            if np.any(labels == k):
                out[:, k] = self.features[:, labels == k].mean(axis=1)
        return out

    @property
    def mean_logits(self) -> np.ndarray:
        """W Hbar (K x K): the class-mean logits without the bias (the Z of the master reduction); with an
        activation, the class means of the logits without the bias (no longer W Hbar)."""
        p = self.problem
        if p.linear:
            return self.product @ self.class_means
        Z = forward.logits(self.weights, self.features, None, p.activation, p.activate_features)
        labels = p.labels()
        return np.stack([Z[:, labels == k].mean(axis=1) for k in range(p.K)], axis=1)

    @property
    def layer_features(self) -> list:
        """Features entering each layer: [H, W_1 H, ..., W_{M-1}..W_1 H] (M entries); with an activation, the
        post-activation features [s0(H), s(W_1 s0(H)), ...] (``ufm.forward.layer_inputs``)."""
        p = self.problem
        return forward.layer_inputs(self.weights, self.features, p.activation, p.activate_features)

    # ------------------------------------------------------------------ records
    @property
    def converged(self) -> bool:
        return self.status == Status.CONVERGED

    @property
    def restart_objectives(self) -> np.ndarray:
        return np.array([r.objective for r in self.runs], dtype=np.float64)

    @property
    def restart_statuses(self) -> tuple:
        return tuple(r.status for r in self.runs)

    @property
    def restart_grad_norms(self) -> np.ndarray:
        return np.array([r.grad_norm for r in self.runs], dtype=np.float64)

    @property
    def restart_iterations(self) -> np.ndarray:
        return np.array([r.iterations for r in self.runs], dtype=np.int64)

    def params(self) -> dict:
        """The full parameter pytree (learnable layers only), e.g. to warm-start ``ufm.solver(init=...)``."""
        return obj.params_from_arrays(self.problem, self.weights, self.features, self.bias)

    def distinct_objectives(self) -> list:
        """Distinct final objective values across runs that did not diverge, as (value, count) from lowest;
        values within ``ufm.loop.SAME_VALUE_RTOL`` (relative) count as the same basin."""
        return distinct_values(r.objective for r in self.runs if r.status != Status.DIVERGED)

    def metrics(self, **kwargs) -> dict:
        """Neural-collapse metrics of this solution (``ufm.metrics.solution_metrics``)."""
        from ufm.metrics import solution_metrics

        return solution_metrics(self, **kwargs)

    # ------------------------------------------------------------------ export
    def status_line(self) -> str:
        """The run status in one line. A run that is not an acceptable minimum says so first, in capitals:
        ``SADDLE (not a minimum)`` or ``NOT CONVERGED (max_iter | diverged)``."""
        detail = f"after {self.iterations} iterations, relative stationarity {self.stationarity:.1e} " \
                 f"(||grad|| = {self.grad_norm:.1e})"
        if self.status == Status.SADDLE:
            return f"SADDLE (not a minimum): {Status.SADDLE.message}; {detail}"
        if not self.status.acceptable:
            return f"NOT CONVERGED ({self.status}): {self.status.message}; {detail}"
        line = f"{self.status} {detail}"
        if self.status == Status.STALLED:
            line += "; " + Status.STALLED.message
        return line

    def second_order_line(self) -> str:
        """What the solve's second-order check found at the best point (``second_order``), in one line."""
        so = self.second_order
        if not so:
            mode = (self.options or {}).get("second_order", "auto")
            if mode == "never":
                return "second order: not checked (second_order=never)"
            return "second order: not checked (auto: L-BFGS runs of problems with at most 200,000 parameters)"
        verdict = so.get("verdict")
        if verdict == "not checked":
            return f"second order: not checked ({so.get('why', '')})"
        span = ""
        if so.get("min_eigenvalue") is not None and so.get("max_eigenvalue") is not None:
            span = f" (Hessian eigenvalues in [{so['min_eigenvalue']:.2e}, {so['max_eigenvalue']:.2e}]"
            span += f", {so['steps']} Lanczos steps)" if so.get("steps") else ")"
        escapes = sum(r.escapes for r in self.runs)
        esc = f"; {escapes} saddle escape(s) along negative curvature" if escapes else ""
        if verdict == "saddle":
            return f"second order: SADDLE: negative curvature{span}: not a minimum{esc}"
        return f"second order: {verdict}{span}{esc}"

    def found_by(self) -> str:
        """How the best point was found: the starts (random / given) and the global search (reduced problem, or
        ``ufm.nonlinear`` for ReLU models)."""
        labels = [r.label for r in self.runs]
        starts = []
        for label, word in (("random", "random start"), ("given", "given start")):
            n = labels.count(label)
            if n:
                starts.append(f"{n} {word}{'s' if n > 1 else ''}")
        text = " + ".join(starts) or "no start"
        search = self.search or {}
        if ("reduced-search" in labels or "nonlinear-search" in labels) and search:
            vals = search.get("distinct_values") or []
            reached = vals[0]["count"] if vals else "?"
            where = "on the reduced problem" if "reduced-search" in labels else "of the non-linear model"
            text += (f" + global search {where} ({search.get('n_starts', '?')} starts, {reached} "
                     f"reached its best value, from the {search.get('start', '?')!r} start)")
        else:
            mode = (self.options or {}).get("search", "auto")
            if mode == "never":
                text += "; global search off (search=never)"
            elif "given" in labels:
                text += "; no global search (search=auto: not with a given start)"
            elif getattr(self.problem, "normalized", False):
                text += "; no global search (it needs free features and classifier)"
            else:
                text += "; no global search (search=auto: only for depth M > 1 or d < K)"
        if len(self.runs) > 1:
            best = best_run(self.runs)
            text += f"; best: run {best + 1} ({self.runs[best].label})"
        return text

    def summary(self) -> str:
        vals = self.distinct_objectives()
        timing = f"{self.wall_time:.2f} s ({self.method}"
        if self.compile_time is not None:
            timing += f", of which compiling {self.compile_time:.2f} s"
        timing += ", class-reduced problem)" if self.reduced else ")"
        lines = [
            self.problem.describe(),
            f"objective  {self.objective:.15g}",
            f"status     {self.status_line()}",
            f"           {self.second_order_line()}",
            f"found by   {self.found_by()}",
            f"restarts   {len(self.runs)} run(s), {len(vals)} distinct value(s): "
            + ", ".join(f"{v:.12g} x{c}" for v, c in vals[:5]) + (" ..." if len(vals) > 5 else ""),
            f"time       {timing}",
        ]
        return "\n".join(lines)

    def to_dict(self, include_arrays: bool = True, metrics: Optional[dict] = None) -> dict:
        """JSON-able dict (the schema of ``ufm solve --json``); non-finite numbers become null."""
        out = {
            "problem": self.problem.to_dict(),
            "objective": self.objective,
            "grad_norm": self.grad_norm,
            "stationarity": self.stationarity,
            "iterations": self.iterations,
            "status": str(self.status),
            "status_message": self.status.message,
            "method": self.method,
            "reduced": self.reduced,
            "seed": self.seed,
            "options": self.options,
            "wall_time": self.wall_time,
            "compile_time": self.compile_time,
            "restart_objectives": [float(v) for v in self.restart_objectives],
            "restart_statuses": [str(s) for s in self.restart_statuses],
            "runs": [dict(r._asdict(), status=str(r.status)) for r in self.runs],
            "distinct_objectives": [{"value": v, "count": c} for v, c in self.distinct_objectives()],
            "second_order": self.second_order,
            "search": self.search,
            "metrics": metrics if metrics is not None else self.metrics(),
            "certificate": self.certificate,
        }
        if include_arrays:
            out["weights"] = [W.tolist() for W in self.weights]
            out["features"] = self.features.tolist()
            out["bias"] = None if self.bias is None else self.bias.tolist()
            out["class_means"] = self.class_means.tolist()
        return jsonable(out)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), allow_nan=False)

    def save(self, path) -> Path:
        """Save arrays and diagnostics to an ``.npz`` file; returns the path written (``.npz`` is added by numpy
        when missing, and the returned path says so). :meth:`Solution.load` reads it back."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays = {f"W{m + 1}": W for m, W in enumerate(self.weights)}
        arrays["H"] = self.features
        if self.reduced:
            arrays["columns"] = self.columns
        if self.bias is not None:
            arrays["b"] = self.bias
        arrays["class_means"] = self.class_means
        meta = self.to_dict(include_arrays=False, metrics={})
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path) -> "Solution":
        """Read a file written by :meth:`save` (the problem is rebuilt and validated from its description)."""
        from ufm.problem import Problem

        path = Path(path)
        if not path.is_file():
            raise ProblemError("path", f"no such file: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in z.files if k != "meta"}
        except (OSError, ValueError, KeyError) as e:
            raise ProblemError("path", f"{path} is not a file written by Solution.save ({e})") from None
        problem = Problem.from_dict(meta["problem"])
        M = problem.depth
        weights = tuple(arrays[f"W{m + 1}"] for m in range(M))
        runs = tuple(RunRecord(r["label"], _num(r["objective"]), _num(r["grad_norm"]), _num(r["stationarity"]),
                               int(r["iterations"]), Status(r["status"]), _num(r["min_eigenvalue"]),
                               int(r["escapes"])) for r in meta["runs"])
        reduced = bool(meta["reduced"]) and "columns" in arrays
        return cls(problem=problem, weights=weights, columns=arrays["columns"] if reduced else arrays["H"],
                   bias=arrays.get("b"),
                   objective=_num(meta["objective"]), grad_norm=_num(meta["grad_norm"]),
                   stationarity=_num(meta["stationarity"]), iterations=int(meta["iterations"]),
                   status=Status(meta["status"]), runs=runs, reduced=reduced, method=meta["method"],
                   seed=int(meta["seed"]), wall_time=float(meta["wall_time"]), compile_time=meta.get("compile_time"),
                   options=meta.get("options") or {}, second_order=meta.get("second_order"),
                   search=meta.get("search"), certificate=meta.get("certificate"))


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def jsonable(x):
    """A strict-JSON-able copy of ``x``: numpy scalars and arrays become Python numbers and lists, non-finite
    floats become null (JSON has no nan / inf), enumerations their values, dataclasses dicts."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, Status):
        return x.value
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if dataclasses.is_dataclass(x):
        return jsonable(dataclasses.asdict(x))
    return repr(x)
