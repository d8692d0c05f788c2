"""Solve a UFM: restarts of the jitted float64 loop, the exact class reduction, the global search for deep
models, and a second-order check that never lets a saddle pass for a minimum.

``solve(problem)`` minimises the canonical objective (``ufm.objective``) from R seeded random starts (or given
starts) with the loop of ``ufm.loop`` (scale-aware stopping rule: relative stationarity <= ``gtol``), and
returns a :class:`ufm.solution.Solution` holding the best run and every run's record.

1. **Class reduction** (``reduce="auto"``, on wherever exact: linear layers, docs/theory.md section 4): the
   problem with one feature column per distinct target (per class for one-hot labels) is solved and the
   answer lifted to the full features. Its cost does not depend on the number of samples per class. Pass
   ``reduce=False`` to solve the full problem as written (e.g. to study NC1 itself, which the reduction
   presumes).
2. **Global search** (``search="auto"``: deep models, M > 1, and one-layer models with d < K, when the master
   reduction applies): the reduced-problem search of ``ufm.reduced`` (structured and random starts); its best
   point is polished and counted as one more run. Random restarts alone often stop at the simplex-ETF value
   of deep CE, which is not optimal (Garrod & Keating 2024). Non-linear (ReLU) models get the search of ``ufm.nonlinear``
   instead (deep-neural-collapse, low-rank and random starts in full coordinates; docs/theory.md section 15).
3. **Second-order check** (``second_order="auto"``: problems of at most :data:`SECOND_ORDER_MAX_PARAMS`
   parameters in the solved coordinates): Lanczos on Hessian-vector products at the end of every run that
   converged or stalled (``ufm.curvature``). At a saddle the run continues from a step along the direction of
   negative curvature (up to ``escapes`` times); a run still at a saddle gets status ``saddle`` and never
   counts as converged.

Reference solvers of the literature, with the same loop and stopping rule: ``gd`` (full-batch gradient
descent with heavy-ball momentum, Dang et al. 2023: lr 0.1, momentum 0.9) and ``adam``.

Seeding: random start r of seed s uses ``ufm.objective.start_key(s, r)`` everywhere (``ufm solve --seed s``,
sweeps, certificates), so a sweep row reproduces the matching solve bit for bit.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ufm import objective as obj
from ufm import losses, newton, nonlinear, reduced
from ufm._precision import require_x64
from ufm.curvature import descend_along, lanczos
from ufm.errors import OptionsError, ProblemError
from ufm.loop import (METHODS, LoopOptions, Run, Status, check_positive_int, compile_seconds, minimize,
                      stage, stationarity, trace as loop_trace, tree_norm)
from ufm.problem import Problem
from ufm.solution import Solution

#: the second-order check runs by default on problems with at most this many parameters (solved coordinates)
SECOND_ORDER_MAX_PARAMS = 200_000
#: at the end of a run, negative curvature below -SADDLE_RTOL * (largest eigenvalue) makes a saddle. The check
#: does not project out the symmetries (``ufm.certificates`` does): their exact zero eigenvalues come out as
#: rounding of the Hessian (up to ~1e-12 relative observed), which this threshold stays well above
SADDLE_RTOL = 1e-9
#: ``search="auto"`` runs the global search for at most this many classes: its structured starts factor K x K
#: matrices (one SVD each, dozens of starts), which dominates the solve beyond a few hundred classes
SEARCH_MAX_CLASSES = 256
#: largest accepted iteration cap
MAX_ITER_LIMIT = 10 ** 9
MODES = ("auto", "always", "never")


def _check_real(field: str, value, *, minimum: float = 0.0, below: Optional[float] = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptionsError(field, f"must be a number >= {minimum}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < minimum or (below is not None and v >= below):
        span = f"in [{minimum}, {below})" if below is not None else f">= {minimum}"
        raise OptionsError(field, f"must be a finite number {span}, got {value!r}")
    return v


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """How to solve.

    Attributes:
      method: ``"lbfgs"`` (default), ``"gd"`` (momentum gradient descent) or ``"adam"``.
      max_iter: iteration cap per run (at most 1e9).
      gtol: stop when the relative stationarity ||grad f|| max(||x||, 1) / |f| <= gtol (``ufm.loop``;
        scale-aware: the same meaning at weight decay 1e-2 and 1e-12). Default 1e-11.
      restarts: number R of random starts (ignored when ``init`` is given to :func:`solve`).
      seed: PRNG seed in [0, 2^32); the same seed gives the same result.
      init_scale: standard deviation of the random initial entries.
      memory: L-BFGS history size.
      learning_rate, momentum: for ``gd`` / ``adam``.
      stall_iters: consecutive non-decreasing iterations after which a run is ``stalled``.
      precision: ``"float64"`` (default; requires jax x64) or ``"float32"``.
      search: ``"auto"`` (module docstring), ``"always"`` or ``"never"``.
      reduce: ``"auto"`` (the exact class reduction wherever it is exact), ``"always"`` or ``"never"``.
      second_order: ``"auto"``, ``"always"`` or ``"never"`` (module docstring).
      polish: ``"auto"`` (Newton steps on the exact Hessian after L-BFGS when the solved problem has at most
        ``ufm.newton.MAX_PARAMS`` parameters), ``"always"`` or ``"never"``.
      escapes: how often a run that stopped at a saddle is continued along negative curvature.
      search_restarts: random starts of the global search (besides its structured starts); default 8.
      report_every: every that many iterations a run reports ``(iteration, objective, stationarity)`` to the
        callback of an enclosing ``ufm.loop.reporting`` block (0, the default: no reports; ``ufm solve``
        shows them on stderr for runs longer than a second).
    """

    method: str = "lbfgs"
    max_iter: int = 20000
    gtol: float = 1e-11
    restarts: int = 1
    seed: int = 0
    init_scale: float = 0.1
    memory: int = 10
    learning_rate: float = 0.1
    momentum: float = 0.9
    stall_iters: int = 20
    precision: str = "float64"
    search: str = "auto"
    reduce: str = "auto"
    second_order: str = "auto"
    escapes: int = 3
    search_restarts: int = 8
    polish: str = "auto"
    report_every: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise OptionsError("method", f"must be one of {list(METHODS)}, got {self.method!r}")
        check_positive_int("max_iter", self.max_iter, 1, MAX_ITER_LIMIT)
        for field, minimum in (("restarts", 1), ("memory", 1), ("stall_iters", 1)):
            check_positive_int(field, getattr(self, field), minimum, 10 ** 6)
        check_positive_int("escapes", self.escapes, 0, 100)
        check_positive_int("search_restarts", self.search_restarts, 0, 10 ** 6)
        check_positive_int("report_every", self.report_every, 0, MAX_ITER_LIMIT)
        check_positive_int("seed", self.seed, 0, 2 ** 32 - 1)
        for field in ("gtol", "init_scale", "learning_rate"):
            _check_real(field, getattr(self, field))
        _check_real("momentum", self.momentum, below=1.0)
        for field in ("search", "reduce", "second_order", "polish"):
            if getattr(self, field) not in MODES:
                raise OptionsError(field, f"must be one of {list(MODES)}, got {getattr(self, field)!r}")
        if self.precision not in ("float64", "float32"):
            raise OptionsError("precision", f"must be 'float64' or 'float32', got {self.precision!r}")

    @property
    def loop(self) -> LoopOptions:
        return LoopOptions(self.method, self.memory, float(self.learning_rate), float(self.momentum),
                           self.stall_iters, self.report_every)

    @property
    def dtype(self):
        return jnp.float64 if self.precision == "float64" else jnp.float32

    def replace(self, **changes) -> "SolverOptions":
        """A copy with some options changed (validated; unknown names raise OptionsError)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise OptionsError(unknown[0], f"unknown solver option; known: {sorted(fields)}")
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------------ decisions
def reduction_exact(problem: Problem) -> tuple[bool, str]:
    """Whether solving the class-reduced problem is exact for ``problem`` (docs/theory.md section 4): with a
    loss convex in the logits and linear layers, averaging features within a group of identical targets never
    increases the objective; non-linear layers and losses registered with ``convex=False`` are refused. With
    features on a sphere (``feature_radius``) it is exact too: the features enter only through their own
    sample's loss, every sample of a group faces the same problem over the same sphere, so giving all of them
    one minimiser of it loses nothing."""
    if not problem.linear:
        return False, (f"non-linear layers ({problem.activation}): a sample's term is not convex in its feature, "
                       "so averaging a class's features may raise the objective (docs/theory.md section 15)")
    if not losses.get(problem.loss).convex:
        return False, f"loss {problem.loss!r} is not convex in the logits"
    return True, ""


def use_reduction(problem: Problem, options: SolverOptions) -> bool:
    if options.reduce == "never":
        return False
    ok, why = reduction_exact(problem)
    if options.reduce == "always" and not ok:
        raise OptionsError("reduce", f"the class reduction is not exact here: {why}")
    return ok


def search_applicable(problem: Problem) -> tuple[bool, str]:
    """Whether a global search applies: the reduced-problem search (``ufm.reduced``, linear layers) or the
    non-linear one (``ufm.nonlinear``, ReLU layers), with the reason when not."""
    return reduced.applicable(problem) if problem.linear else nonlinear.applicable(problem)


def search_label(problem: Problem) -> str:
    """The name of the global search's run: ``reduced-search`` (linear) or ``nonlinear-search``."""
    return "reduced-search" if problem.linear else "nonlinear-search"


def use_search(problem: Problem, options: SolverOptions, init) -> bool:
    """``search="auto"``: deep models and one-layer models with d < K (where random starts are not enough),
    whenever a search applies (:func:`search_applicable`), no start was given and K <=
    :data:`SEARCH_MAX_CLASSES` (``search="always"`` runs it up to ``ufm.reduced.MAX_CLASSES`` classes and
    refuses beyond, naming why). Non-linear models get it at every depth (``ufm.nonlinear``: structured DNC and
    low-rank starts)."""
    if options.search == "never":
        return False
    ok, why = search_applicable(problem)
    if options.search == "always":
        if not ok:
            raise OptionsError("search", f"the reduced-problem search does not apply: {why}")
        return True
    return (ok and init is None and (problem.depth > 1 or problem.d < problem.K or not problem.linear)
            and problem.K <= SEARCH_MAX_CLASSES)


def use_polish(n_params: int, options: SolverOptions) -> bool:
    """``polish="auto"``: Newton polish (``ufm.newton``) when the solved problem has at most
    ``ufm.newton.MAX_PARAMS`` parameters and the method is L-BFGS."""
    if options.polish == "never" or options.precision != "float64":
        return False
    return options.polish == "always" or (n_params <= newton.MAX_PARAMS and options.method == "lbfgs")


def use_second_order(n_params: int, options: SolverOptions) -> bool:
    if options.second_order == "never" or options.method != "lbfgs":
        return options.second_order == "always"
    return options.second_order == "always" or n_params <= SECOND_ORDER_MAX_PARAMS


# ------------------------------------------------------------------------------------------ the program
class Program(NamedTuple):
    """What the loop minimises for a problem: ``f(params, data)``, its ``data``, and whether the parameters
    are in class-reduced coordinates (``ufm.objective``)."""

    problem: Problem
    f: object
    data: dict
    reduce: bool

    @classmethod
    def of(cls, problem: Problem, reduce: bool, dtype=jnp.float64) -> "Program":
        return cls(problem, obj.objective_of(problem),
                   obj.problem_data(problem, dtype, reduce=reduce), reduce)

    def start(self, x0) -> dict:
        """A given start in this program's coordinates: full-shaped starts are projected onto collapsed
        features when the program is reduced (``ufm.objective.collapse``)."""
        p = self.problem
        if self.reduce:
            try:
                obj.check_params(p, x0, reduce=True)
                return x0
            except ProblemError:
                obj.check_params(p, x0, reduce=False)
                return obj.collapse(p, x0)
        obj.check_params(p, x0, reduce=False)
        return x0

    def value(self, params) -> float:
        """The objective at ``params`` (this program's coordinates), compiled once per loss and bias."""
        p = self.problem
        return float(obj.value_fn(p.loss, p.bias, p.activation, p.activate_features)(
            jax.tree_util.tree_map(jnp.asarray, params), self.data))

    def full(self, params) -> dict:
        """Full parameters (numpy) of a point of this program."""
        return obj.lift(self.problem, params) if self.reduce else jax.tree_util.tree_map(np.asarray, params)


def _check_precision(options: SolverOptions) -> None:
    if options.precision == "float64":
        require_x64("ufm.solver")


def _options(options: Optional[SolverOptions], overrides: dict) -> SolverOptions:
    if options is not None and not isinstance(options, SolverOptions):
        raise OptionsError("options", f"must be a ufm.SolverOptions, got {type(options).__name__}")
    return (options or SolverOptions()).replace(**overrides)


def on_spheres(program: Program, run: Run) -> Run:
    """A run of a normalised problem moved to its point on the spheres (``ufm.objective.project``: the same
    objective value), with the gradient norm and stationarity evaluated there: the Riemannian ones
    (docs/theory.md, "Normalised UFMs"). Unconstrained problems: ``run`` itself."""
    if not program.problem.normalized:
        return run
    x = obj.project(program.problem, run.params, reduce=program.reduce)
    fx, g = obj.value_grad_fn(program.problem.loss, program.problem.bias)(
        jax.tree_util.tree_map(jnp.asarray, x), program.data)
    return run._replace(params=x, objective=float(fx), grad_norm=float(tree_norm(g)),
                        stationarity=float(stationarity(fx, g, x)))


def run_program(program: Program, x0, options: SolverOptions) -> Run:
    """One run of the loop on ``program`` from ``x0`` (in the program's coordinates); for a normalised problem
    the run ends on the spheres (:func:`on_spheres`)."""
    return on_spheres(program, minimize(program.f, x0, program.data, options.loop, max_iter=options.max_iter,
                                        gtol=options.gtol, dtype=options.dtype))


def run_once(problem: Problem, x0: dict, options: SolverOptions = SolverOptions(), *, reduce: bool = False) -> Run:
    """One jitted run of the UFM objective of ``problem`` from the start ``x0`` (a full parameter pytree, or a
    reduced one with ``reduce=True``). No restarts, search or second-order check."""
    _check_precision(options)
    program = Program.of(problem, reduce, options.dtype)
    return run_program(program, program.start(x0), options)


def check_saddle(program: Program, run: Run, options: SolverOptions, seed: int = 0):
    """The Lanczos estimate of ``ufm.curvature`` at the end of ``run`` (None if the run did not stop at a
    candidate minimum)."""
    if not run.status.acceptable:
        return None
    return lanczos(program.f, run.params, program.data, steps=80, seed=seed)


def escape_saddle(program: Program, run: Run, curvature, options: SolverOptions) -> Run:
    """Continue a run that stopped at a saddle: step along the direction v of negative curvature by the best
    of a few lengths (relative to the parameters' norm) in both signs, then run the loop again."""
    size = sum(int(np.size(a)) for a in jax.tree_util.tree_leaves(run.params))
    base = max(float(tree_norm(run.params)), options.init_scale * math.sqrt(size), 1e-3)
    best = descend_along(program.value, run.params, curvature.direction, base, run.objective)
    if best is None:
        return run
    return run_program(program, best, options)


def second_order_step(program: Program, run: Run, options: SolverOptions, polish: bool, seed: int = 0):
    """Newton polish (small problems; ``ufm.newton``) or a Lanczos check (``ufm.curvature``) at the end of a
    run. Returns (run, curvature or None)."""
    if polish and run.status != Status.DIVERGED:
        polished, curv = newton.polish(program.f, run.params, program.data, gtol=options.gtol)
        polished = on_spheres(program, polished)
        if polished.objective <= run.objective * (1 + 4 * np.finfo(float).eps) or not np.isfinite(run.objective):
            return polished._replace(iterations=run.iterations + polished.iterations), curv
        return run, curv
    return run, check_saddle(program, run, options, seed)


def rebalanced(program: Program, run: Run, options: SolverOptions, rounds: int = 3) -> Run:
    """Continue a run from the balanced factorisation of its product (``ufm.reduced.rebalance``: the loss
    unchanged, the penalty minimised exactly) while that lowers the objective by more than rounding; the
    iteration counts add up. At small weight decay this is what L-BFGS cannot do in reasonable time."""
    problem = program.problem
    if not run.params["W"] or reduction_exact(problem)[0] is False or run.status == Status.DIVERGED \
            or problem.normalized:  # the balanced factorisation would leave the spheres
        return run
    for _ in range(rounds):
        x = reduced.rebalance(problem, run.params)
        fx = program.value(x)
        if not fx < run.objective * (1 - 64 * np.finfo(float).eps):
            break
        more = run_program(program, x, options)
        run = more._replace(iterations=run.iterations + more.iterations)
    return run


def finish_run(program: Program, run: Run, options: SolverOptions, check: bool, seed: int = 0,
               polish: bool = False) -> tuple:
    """The work at the end of a run: with ``polish``, continue from the balanced factorisation
    (:func:`rebalanced`) and polish by Newton steps; else, with ``check``, a Lanczos check; then escapes from
    saddles. Returns (run, curvature or None, escapes). A run of a normalised problem is first moved onto its
    spheres (:func:`on_spheres`; runs of :func:`run_program` already are, those of a sweep's batch not)."""
    run = on_spheres(program, run)
    if polish:
        run = rebalanced(program, run, options)
    if not (check or polish):
        return run, None, 0
    run, curv = second_order_step(program, run, options, polish, seed)
    escapes = 0
    while curv is not None and curv.verdict(SADDLE_RTOL) == "saddle" and escapes < options.escapes:
        escapes += 1
        new = escape_saddle(program, run, curv, options)
        if new is run:
            break
        run, curv = second_order_step(program, new, options, polish, seed)
    if not program.problem.linear:  # kinks of the activation: no Hessian verdict there
        curv = nonlinear.second_order_record(program.problem, program.full(run.params), curv)
    if curv is not None and curv.verdict(SADDLE_RTOL) == "saddle":
        run = run.with_status(Status.SADDLE)
    return run, curv, escapes


def search_run(program: Program, options: SolverOptions, check: bool, polish: bool) -> tuple:
    """The run of the global search (``ufm.reduced`` for linear layers, ``ufm.nonlinear`` otherwise): its best
    point polished by the loop and the second-order step. Returns (run, curvature or None, escapes, search
    summary)."""
    problem = program.problem
    if not problem.linear:
        found = nonlinear.search(problem, restarts=options.search_restarts, seed=options.seed, loop=options.loop,
                                 max_iter=options.max_iter, gtol=options.gtol)
        x0 = found.params
    else:
        found = reduced.reduced_search(problem, restarts=options.search_restarts, seed=options.seed,
                                       loop=options.loop, max_iter=options.max_iter, gtol=options.gtol)
        x0 = found.params if program.reduce else obj.lift(problem, found.params)
    run = run_program(program, x0, options)
    # the iterations that made the point: the winning start's and this run's (from an already converged point
    # this run takes none, and "converged after 0 iterations" would hide the search's work)
    won = next((r.iterations for name, r in found.runs if name == found.start and r.objective == found.objective), 0)
    run = run._replace(iterations=run.iterations + int(won))
    run, curv, esc = finish_run(program, run, options, check, options.seed, polish)
    return run, curv, esc, found.summary()


def plan(problem: Problem, options: SolverOptions, init=None) -> tuple:
    """What :func:`solve` will do for ``problem``: (program, search?, second-order check?, Newton polish?)."""
    reduce = use_reduction(problem, options)
    program = Program.of(problem, reduce, options.dtype)
    n_params = obj.count_params(problem, reduce=reduce)
    return program, use_search(problem, options, init), use_second_order(n_params, options), \
        use_polish(n_params, options)


def random_starts(program: Program, options: SolverOptions) -> list:
    return [obj.init_params(program.problem, obj.start_key(options.seed, r), options.init_scale, options.dtype,
                            reduce=program.reduce) for r in range(options.restarts)]


def solve(problem: Problem, options: Optional[SolverOptions] = None, *, init=None, progress=None,
          **option_overrides) -> Solution:
    """Minimise the canonical objective of ``problem`` (module docstring).

    Args:
      problem: the :class:`ufm.Problem`.
      options: :class:`SolverOptions`; keyword overrides (``restarts=8, seed=1, ...``) may be given instead.
      init: optional start(s): a parameter pytree (``ufm.objective.params_from_arrays``, or
        ``Solution.params()``) or a list of them; replaces the random starts.
      progress: optional callable ``progress(done, total, objective)`` called after each run.

    Returns:
      A :class:`ufm.solution.Solution` for the best (lowest objective, not diverged) run, with every run's
      record, the second-order verdict of the best run and how the point was found.
    """
    if not isinstance(problem, Problem):
        raise ProblemError("problem", f"must be a ufm.Problem, got {type(problem).__name__}")
    options = _options(options, option_overrides)
    _check_precision(options)
    from ufm.limits import check_problem_size

    check_problem_size(problem, options)
    program, search, check, polish = plan(problem, options, init)
    if init is None:
        starts = [("random", x) for x in random_starts(program, options)]
    else:
        given = list(init) if isinstance(init, (list, tuple)) else [init]
        starts = [("given", program.start(x)) for x in given]
    total = len(starts) + (1 if search else 0)

    t0, c0 = time.perf_counter(), compile_seconds()
    records = []
    for r, (label, x0) in enumerate(starts):
        with stage(f"run {r + 1}/{total}"):
            run, curv, esc = finish_run(program, run_program(program, x0, options), options, check, options.seed,
                                        polish)
        records.append((label, run, curv, esc))
        if progress is not None:
            progress(r + 1, total, run.objective)
    search_info = None
    if search:
        with stage(f"run {total}/{total} (search)"):
            run, curv, esc, search_info = search_run(program, options, check, polish)
        records.append((search_label(problem), run, curv, esc))
        if progress is not None:
            progress(total, total, run.objective)
    wall = time.perf_counter() - t0
    method = options.method + (f"+{search_label(problem)}" if search else "")
    return Solution.from_runs(problem, records, reduced=program.reduce, method=method, seed=options.seed, wall_time=wall,
                              compile_time=compile_seconds() - c0, options=dataclasses.asdict(options),
                              search=search_info, second_order_checked=check)


class TraceResult(NamedTuple):
    """What :func:`trace_run` returns: the final ``run`` (:class:`ufm.loop.Run`), ``values[k]``,
    ``grad_norms[k]`` and ``stationarity[k]`` of iterate k (k = 0: the start) and ``kept``:
    ``[(iteration, params), ...]`` for the requested iteration counts (full parameters)."""

    run: Run
    values: np.ndarray
    grad_norms: np.ndarray
    stationarity: np.ndarray
    kept: list


def trace_run(problem: Problem, x0: dict, options: SolverOptions = SolverOptions(), *, num_iter: Optional[int] = None,
              keep: Sequence[int] = (), reduce: bool = False) -> TraceResult:
    """One run of :func:`run_once` that also records the objective, gradient norm and stationarity after every
    iteration and the iterates at the iteration counts ``keep``: the same iterates as :func:`run_once` (the
    same loop body, unrolled as a ``lax.scan`` of ``num_iter`` steps, default ``options.max_iter``, with the
    state frozen once the run stops).

    ``values`` etc. have length ``num_iter + 1``; a count in ``keep`` past the stop gets the final iterate.
    Memory: O(num_iter) scalars plus one parameter pytree per kept iterate. Used for convergence plots
    (``ufm.plot.geometry.solve_path``) and time-to-accuracy benchmarks (``bench/bench_accuracy.py``)."""
    num_iter = int(options.max_iter if num_iter is None else num_iter)
    if num_iter < 1:
        raise OptionsError("num_iter", f"must be an integer >= 1, got {num_iter!r}")
    try:
        keep = tuple(sorted({int(k) for k in keep}))
    except (TypeError, ValueError):
        raise OptionsError("keep", f"must be a list of iteration counts >= 0, got {keep!r}") from None
    if keep and keep[0] < 0:
        raise OptionsError("keep", f"must be a list of iteration counts >= 0, got {list(keep)}")
    _check_precision(options)
    program = Program.of(problem, reduce, options.dtype)
    tr = loop_trace(program.f, program.start(x0), program.data, options.loop, max_iter=options.max_iter,
                    gtol=options.gtol, num_iter=num_iter, keep=keep, dtype=options.dtype)
    kept = [(k, program.full(p)) for k, p in tr.kept]
    return TraceResult(tr.run, tr.values, tr.grad_norms, tr.stationarity, kept)


#: Default iteration counts at which :func:`solve_path` records the iterate.
DEFAULT_CHECKPOINTS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500, 800, 1200, 2000)


def solve_path(problem: Problem, checkpoints: Sequence[int] = DEFAULT_CHECKPOINTS, *, init=None, **options) -> list:
    """Iterates of one solve at the given iteration counts (e.g. for ``ufm.plot.geometry.metrics_along_path``).

    One run of :func:`trace_run` on the full problem (features not collapsed, so NC1 evolves): the exact path
    of one uninterrupted run from the start (``init``, a parameter pytree, or random start 0 of
    ``solve(problem, seed=seed)``). The path ends at the first checkpoint at or past the stop, with the
    stop's iteration count.

    Args:
      problem: a :class:`ufm.Problem`.
      checkpoints: strictly increasing positive iteration counts.
      init: optional start (full parameter pytree, e.g. ``Solution.params()``).
      **options: :class:`SolverOptions` fields (``seed``, ``init_scale``, ``gtol``, ``method``...);
        ``restarts``, ``max_iter`` and ``search`` are set here.

    Returns:
      ``[(0, start), (it_1, Solution), ...]``: the iteration count and the iterate as a
      :class:`ufm.solution.Solution` (objective, gradient norm and stationarity of that iterate; status
      ``converged`` or ``stalled`` at the stop, else ``max_iter``).
    """
    if not isinstance(problem, Problem):
        raise ProblemError("problem", f"must be a ufm.Problem, got {type(problem).__name__}")
    for key in ("restarts", "max_iter", "search"):
        if key in options:
            raise OptionsError(key, "is set by solve_path (one run up to the last checkpoint); leave it out")
    try:
        cps = [int(c) for c in checkpoints]
    except (TypeError, ValueError):
        raise OptionsError("checkpoints", f"must be a list of increasing positive integers, got {checkpoints!r}") \
            from None
    if not cps or cps[0] < 1 or any(b <= a for a, b in zip(cps, cps[1:])) or \
            any(c != v for c, v in zip(cps, checkpoints)):
        raise OptionsError("checkpoints", f"must be a non-empty list of strictly increasing positive integers, "
                                          f"got {list(checkpoints)!r}")
    opts = SolverOptions().replace(**options).replace(max_iter=cps[-1])
    _check_precision(opts)
    program = Program.of(problem, False, opts.dtype)
    x = random_starts(program, opts.replace(restarts=1))[0] if init is None else program.start(init)
    res = trace_run(problem, x, opts, num_iter=cps[-1], keep=[0] + cps)
    out, seen = [], set()
    for k, params in res.kept:
        if k in seen:  # checkpoints past the stop all hold the final iterate
            continue
        seen.add(k)
        final = k == res.run.iterations
        status = res.run.status if final and res.run.status.acceptable else Status.MAX_ITER
        run = Run(params, float(res.values[k]), float(res.grad_norms[k]), float(res.stationarity[k]), k, status)
        out.append((k, Solution.from_runs(problem, [("given" if init is not None else "random", run, None, 0)],
                                          method=opts.method if k else f"{opts.method} (start)", seed=opts.seed)))
    return out
