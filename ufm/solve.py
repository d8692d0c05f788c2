"""Solvers: full-batch L-BFGS (optax, zoom line search) in a jitted float64 loop, with restarts.

``solve(problem)`` minimises the canonical objective (``ufm.objective``) from R seeded random starts
(or given starts), stops each run on the gradient norm ``||grad L||_2 <= gtol`` or an iteration cap,
and returns a :class:`ufm.solution.Solution` holding the best run and every run's final objective.

Every run ends with a status:

- ``converged``: ||grad|| <= gtol;
- ``max_iter``: the iteration cap was hit first;
- ``stalled``: the objective did not decrease for ``stall_iters`` consecutive iterations (the line
  search can make no progress at this precision); the point is returned with its gradient norm;
- ``diverged``: a non-finite objective or gradient appeared; the last finite iterate is returned and the
  run never counts as the best one.

Reference solvers used in the literature, with the same loop and stopping rule: ``gd`` (full-batch
gradient descent with heavy-ball momentum, Dang et al. 2023: lr 0.1, momentum 0.9) and ``adam``.

One compilation serves every problem with the same :meth:`Problem.static_key` (lambdas and targets are
traced arrays) and every iteration cap / tolerance (traced too).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ufm import objective as obj
from ufm._precision import require_x64
from ufm.problem import Problem, ProblemError
from ufm.solution import STATUSES, Solution

METHODS = ("lbfgs", "gd", "adam")


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """How to solve.

    Attributes:
      method: ``"lbfgs"`` (default), ``"gd"`` (momentum gradient descent) or ``"adam"``.
      max_iter: iteration cap per run.
      gtol: stop when the Euclidean norm of the full gradient is <= gtol. The default 1e-10 reaches the
        closed forms of theory.md to ~1e-10 relative in objective on problems of N <= a few thousand.
      restarts: number R of random starts (ignored when ``init`` is given to :func:`solve`).
      seed: PRNG seed; the same seed gives the same result.
      init_scale: standard deviation of the random initial entries.
      memory: L-BFGS history size.
      learning_rate, momentum: for ``gd`` / ``adam``.
      stall_iters: consecutive non-decreasing iterations after which a run is ``stalled``.
      precision: ``"float64"`` (default; requires jax x64) or ``"float32"``.
      search: ``"auto"`` (default: for a deep model, M > 1, solved from random starts with restarts > 1,
        also run the reduced-problem global search of ``ufm.certify`` and count its polished result as one
        more run -- random restarts alone often stop at the simplex-ETF value of deep CE, which is not
        optimal), ``"always"`` or ``"never"``.
    """

    method: str = "lbfgs"
    max_iter: int = 20000
    gtol: float = 1e-10
    restarts: int = 1
    seed: int = 0
    init_scale: float = 0.1
    memory: int = 10
    learning_rate: float = 0.1
    momentum: float = 0.9
    stall_iters: int = 20
    precision: str = "float64"
    search: str = "auto"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ProblemError("method", f"must be one of {list(METHODS)}, got {self.method!r}")
        for field, minimum in (("max_iter", 1), ("restarts", 1), ("memory", 1), ("stall_iters", 1)):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
                raise ProblemError(field, f"must be an integer >= {minimum}, got {v!r}")
        for field in ("gtol", "init_scale", "learning_rate"):
            v = getattr(self, field)
            if not (isinstance(v, (int, float, np.floating)) and np.isfinite(v) and v >= 0):
                raise ProblemError(field, f"must be a finite number >= 0, got {v!r}")
        if not (0 <= self.momentum < 1):
            raise ProblemError("momentum", f"must be in [0, 1), got {self.momentum!r}")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool):
            raise ProblemError("seed", f"must be an integer, got {self.seed!r}")
        if self.search not in ("auto", "always", "never"):
            raise ProblemError("search", f"must be 'auto', 'always' or 'never', got {self.search!r}")
        if self.precision not in ("float64", "float32"):
            raise ProblemError("precision", f"must be 'float64' or 'float32', got {self.precision!r}")


def _tree_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def _make_loop(f, method: str, memory: int, learning_rate: float, momentum: float, stall_iters: int):
    """The pieces of the single-run loop minimising ``f(params, data)`` over a parameter pytree:
    ``init(x0, data) -> carry``, ``cond(carry, max_iter, gtol) -> bool``, ``body(carry, data) -> carry`` and
    ``finish(carry, gtol) -> (x, f, gnorm, iters, status_code)`` (status codes index STATUSES).
    The carry is ``(x, optimizer_state, f, gnorm, iteration, stall_count, bad)``."""

    if method == "lbfgs":
        # strong-Wolfe zoom line search starting from the unit step at every iteration, as optax recommends
        # for quasi-Newton directions ("keep" would carry a short step over to the next iteration)
        linesearch = optax.scale_by_zoom_linesearch(max_linesearch_steps=40, initial_guess_strategy="one")
        opt = optax.lbfgs(memory_size=memory, linesearch=linesearch)
    elif method == "gd":
        opt = optax.sgd(learning_rate, momentum=momentum)
    else:
        opt = optax.adam(learning_rate)

    def init(x0, data):
        fn = functools.partial(f, data=data)
        f0, g0 = jax.value_and_grad(fn)(x0)
        return (x0, opt.init(x0), f0, _tree_norm(g0), jnp.asarray(0), jnp.asarray(0), ~jnp.isfinite(f0))

    def cond(c, max_iter, gtol):
        _, _, fx, gn, it, stall, bad = c
        return (it < max_iter) & (gn > gtol) & (stall < stall_iters) & ~bad

    def body(c, data):
        fn = functools.partial(f, data=data)
        x, state, fx, gn, it, stall, bad = c
        if method == "lbfgs":
            value, grad = optax.value_and_grad_from_state(fn)(x, state=state)
            updates, new_state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fn)
        else:
            updates, new_state = opt.update(jax.grad(fn)(x), state, x)
        x_new = optax.apply_updates(x, updates)
        if method == "lbfgs":
            f_new = optax.tree.get(new_state, "value")
            g_new = optax.tree.get(new_state, "grad")
        else:
            f_new, g_new = jax.value_and_grad(fn)(x_new)
        ok = jnp.isfinite(f_new) & _all_finite(g_new) & _all_finite(x_new)
        x_out = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), x_new, x)
        # the optimizer state is not selected: a non-finite step ends the run (bad = True) and the state
        # is never used again; selecting it would copy the whole L-BFGS memory every iteration
        state_out = new_state
        f_out = jnp.where(ok, f_new, fx)
        gn_out = jnp.where(ok, _tree_norm(g_new), gn)
        decreased = f_new < fx
        if method == "lbfgs":
            stall_out = jnp.where(decreased, 0, stall + 1)
        else:  # first-order methods may oscillate; only L-BFGS's monotone line search stalls
            stall_out = stall
        return (x_out, state_out, f_out, gn_out, it + 1, stall_out, ~ok)

    def finish(c, gtol):
        x, _, fx, gn, it, stall, bad = c
        code = jnp.where(bad, STATUSES.index("diverged"),
                         jnp.where(gn <= gtol, STATUSES.index("converged"),
                                   jnp.where(stall >= stall_iters, STATUSES.index("stalled"),
                                             STATUSES.index("max_iter"))))
        return x, fx, gn, it, code

    return init, cond, body, finish


def _make_run(f, method: str, memory: int, learning_rate: float, momentum: float, stall_iters: int):
    """The (un-jitted) single-run loop: ``run(x0, data, max_iter, gtol) -> (x, f, gnorm, iters, status_code)``."""
    init, cond, body, finish = _make_loop(f, method, memory, learning_rate, momentum, stall_iters)

    def run(x0, data, max_iter, gtol):
        carry = jax.lax.while_loop(lambda c: cond(c, max_iter, gtol), lambda c: body(c, data), init(x0, data))
        return finish(carry, gtol)

    return run


def _make_trace(f, method: str, memory: int, learning_rate: float, momentum: float, stall_iters: int,
                num_iter: int, keep: tuple = ()):
    """The same loop as :func:`_make_run` unrolled as a ``lax.scan`` of ``num_iter`` steps that records the
    objective and gradient norm after every iteration (frozen once the run has stopped), and the iterates
    at the iteration counts ``keep`` (sorted; counts past the stop get the final iterate)."""
    init, cond, body, finish = _make_loop(f, method, memory, learning_rate, momentum, stall_iters)
    keep_arr = jnp.asarray(keep if keep else (-1,))
    n_keep = len(keep)

    def trace(x0, data, max_iter, gtol):
        def store(buf, x, it):
            idx = jnp.clip(jnp.searchsorted(keep_arr, it), 0, max(n_keep - 1, 0))
            hit = keep_arr[idx] == it
            return jax.tree_util.tree_map(lambda b, v: b.at[idx].set(jnp.where(hit, v, b[idx])), buf, x)

        def step(carry, _):
            c, buf = carry
            c = jax.lax.cond(cond(c, max_iter, gtol), lambda c: body(c, data), lambda c: c, c)
            if n_keep:
                buf = store(buf, c[0], c[4])
            return (c, buf), (c[2], c[3])

        c0 = init(x0, data)
        buf0 = jax.tree_util.tree_map(lambda v: jnp.zeros((n_keep,) + v.shape, v.dtype), x0)
        if n_keep:
            buf0 = store(buf0, x0, jnp.asarray(0))
        (carry, buf), (values, gnorms) = jax.lax.scan(step, (c0, buf0), None, length=num_iter)
        values = jnp.concatenate([c0[2][None], values])
        gnorms = jnp.concatenate([c0[3][None], gnorms])
        late = keep_arr[:n_keep] > carry[4]
        buf = jax.tree_util.tree_map(
            lambda b, v: jnp.where(late.reshape((-1,) + (1,) * v.ndim), v[None], b), buf, carry[0])
        return finish(carry, gtol), values, gnorms, buf

    return trace


@functools.lru_cache(maxsize=64)
def _compiled_run(f, method, memory, learning_rate, momentum, stall_iters):
    return jax.jit(_make_run(f, method, memory, learning_rate, momentum, stall_iters))


@functools.lru_cache(maxsize=64)
def _ufm_objective(loss: str, bias: str):
    return obj.make_objective(loss, bias)


def minimize(f, x0, data, options: SolverOptions = SolverOptions()):
    """Minimise any smooth ``f(params, data)`` over a parameter pytree with the solver loop of this module
    (same methods, stopping rule and statuses). ``f`` must be a stable (module-level or cached) function:
    compilations are cached on its identity. Returns ``(params, objective, grad_norm, iterations, status)``
    as numpy / python values."""
    runner = _compiled_run(f, options.method, options.memory, float(options.learning_rate),
                           float(options.momentum), options.stall_iters)
    dtype = jnp.float64 if options.precision == "float64" else jnp.float32
    x0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), x0)
    data = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), data)
    x, fx, gn, it, code = runner(x0, data, jnp.asarray(options.max_iter), jnp.asarray(options.gtol, dtype))
    x = jax.tree_util.tree_map(np.asarray, x)
    return x, float(fx), float(gn), int(it), STATUSES[int(code)]


def run_once(problem: Problem, x0: dict, options: SolverOptions = SolverOptions()):
    """One jitted run of the UFM objective of ``problem`` from the start ``x0`` (a parameter pytree).
    Returns ``(params, objective, grad_norm, iterations, status)``."""
    dtype = jnp.float64 if options.precision == "float64" else jnp.float32
    return minimize(_ufm_objective(problem.loss, problem.bias), x0, obj.problem_data(problem, dtype), options)


@functools.lru_cache(maxsize=32)
def _compiled_trace(f, method, memory, learning_rate, momentum, stall_iters, num_iter, keep):
    return jax.jit(_make_trace(f, method, memory, learning_rate, momentum, stall_iters, num_iter, keep))


class TraceResult(NamedTuple):
    """What :func:`trace_run` returns: the final ``params``, ``objective``, ``grad_norm``, ``iterations`` and
    ``status`` (as :func:`run_once`), ``values[k]`` / ``grad_norms[k]`` of iterate k (k = 0: the start), and
    ``kept``: ``[(iteration, params), ...]`` for the requested iteration counts."""

    params: dict
    objective: float
    grad_norm: float
    iterations: int
    status: str
    values: np.ndarray
    grad_norms: np.ndarray
    kept: list


def trace_run(problem: Problem, x0: dict, options: SolverOptions = SolverOptions(), *, num_iter: Optional[int] = None,
              keep: Sequence[int] = ()) -> TraceResult:
    """One run of :func:`run_once` that also records the objective and the gradient norm after every
    iteration, and the iterates at the iteration counts ``keep``: the same iterates as :func:`run_once`
    (the same loop body, unrolled as a ``lax.scan`` of ``num_iter`` steps, default ``options.max_iter``, with
    the state frozen once the run stops).

    ``values`` and ``grad_norms`` have length ``num_iter + 1``; a count in ``keep`` past the stop gets the
    final iterate (and the stop's iteration count). Memory: O(num_iter) scalars plus one parameter pytree
    per kept iterate. Use it for convergence plots (``ufm.plot.geometry.solve_path``) and time-to-accuracy
    benchmarks (``bench/bench_accuracy.py``)."""
    num_iter = int(options.max_iter if num_iter is None else num_iter)
    if num_iter < 1:
        raise ProblemError("num_iter", f"must be an integer >= 1, got {num_iter!r}")
    try:
        keep = tuple(sorted({int(k) for k in keep}))
    except (TypeError, ValueError):
        raise ProblemError("keep", f"must be a list of iteration counts >= 0, got {keep!r}") from None
    if keep and keep[0] < 0:
        raise ProblemError("keep", f"must be a list of iteration counts >= 0, got {list(keep)}")
    _check_precision(options)
    dtype = jnp.float64 if options.precision == "float64" else jnp.float32
    runner = _compiled_trace(_ufm_objective(problem.loss, problem.bias), options.method, options.memory,
                             float(options.learning_rate), float(options.momentum), options.stall_iters, num_iter,
                             keep)
    x0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), x0)
    data = obj.problem_data(problem, dtype)
    (x, fx, gn, it, code), values, gnorms, buf = runner(x0, data, jnp.asarray(min(options.max_iter, num_iter)),
                                                        jnp.asarray(options.gtol, dtype))
    x = jax.tree_util.tree_map(np.asarray, x)
    it = int(it)
    kept = [(min(k, it), jax.tree_util.tree_map(lambda b: np.asarray(b[j]), buf)) for j, k in enumerate(keep)]
    return TraceResult(x, float(fx), float(gn), it, STATUSES[int(code)], np.asarray(values), np.asarray(gnorms),
                       kept)


def _check_init(problem: Problem, start) -> None:
    shapes = obj.param_shapes(problem)
    ok = (isinstance(start, dict) and set(start) == set(shapes)
          and len(start["W"]) == len(shapes["W"])
          and all(np.shape(W) == s for W, s in zip(start["W"], shapes["W"]))
          and np.shape(start["H"]) == shapes["H"]
          and ("b" not in shapes or np.shape(start["b"]) == shapes["b"]))
    if not ok:
        raise ProblemError("init", f"a start must be a parameter pytree with shapes {shapes} "
                                   "(see ufm.objective.params_from_arrays)")


def _use_search(problem: Problem, options: SolverOptions, init) -> bool:
    if options.search == "never" or init is not None:
        return False
    from ufm.certify import search_applicable

    if not search_applicable(problem)[0]:
        return False
    return options.search == "always" or (problem.depth > 1 and options.restarts > 1)


def _check_precision(options: SolverOptions) -> None:
    if options.precision == "float64":
        require_x64("ufm.solve")


def solve(problem: Problem, options: Optional[SolverOptions] = None, *, init=None, progress=None,
          **option_overrides) -> Solution:
    """Minimise the canonical objective of ``problem``.

    Args:
      problem: the :class:`ufm.Problem`.
      options: :class:`SolverOptions`; keyword overrides (``restarts=8, seed=1, ...``) may be given instead.
      init: optional start(s): a parameter pytree (``ufm.objective.params_from_arrays``) or a list of
        them; replaces the random starts.
      progress: optional callable ``progress(done, total, objective)`` called after each run.

    Returns:
      A :class:`ufm.solution.Solution` for the best (lowest objective, finite) run, with every run's
      final objective, status, gradient norm and iteration count.
    """
    if not isinstance(problem, Problem):
        raise ProblemError("problem", f"must be a ufm.Problem, got {type(problem).__name__}")
    options = dataclasses.replace(options or SolverOptions(), **option_overrides)
    _check_precision(options)
    dtype = jnp.float64 if options.precision == "float64" else jnp.float32

    if init is None:
        keys = jax.random.split(jax.random.PRNGKey(options.seed), options.restarts)
        starts = [obj.init_params(problem, k, options.init_scale, dtype) for k in keys]
    else:
        starts = list(init) if isinstance(init, (list, tuple)) else [init]
        for s in starts:
            _check_init(problem, s)

    t0 = time.perf_counter()
    runs = []
    for r, x0 in enumerate(starts):
        runs.append(run_once(problem, x0, options))
        if progress is not None:
            progress(r + 1, len(starts), runs[-1][1])
    method = options.method
    if _use_search(problem, options, init):
        from ufm.certify import reduced_search

        found = reduced_search(problem, restarts=options.restarts, seed=options.seed,
                               options=dataclasses.replace(options, search="never"))
        runs.append((found.params(), found.objective, found.grad_norm, found.iterations, found.status))
        method = f"{options.method}+reduced-search"
    wall = time.perf_counter() - t0
    return Solution.from_runs(problem, runs, method=method, seed=options.seed, wall_time=wall,
                              options=dataclasses.asdict(options))
