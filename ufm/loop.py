"""The minimisation loop shared by every solver path: one jitted run, its status and its named result.

A *run* minimises a smooth ``f(params, data)`` over a parameter pytree from one start with full-batch
L-BFGS (optax, strong-Wolfe zoom line search from the unit step, as optax recommends for quasi-Newton
directions), or with the literature's reference methods (``gd``: heavy-ball gradient descent, Dang et al.
2023; ``adam``), in one ``jax.lax.while_loop`` compiled once per function, method and shapes (data,
iteration caps and tolerances are traced).

**Stopping rule (scale-aware).** A run stops as ``converged`` when its *relative stationarity*

    s(x) = ||grad f(x)||_2 * max(||x||_2, 1) / max(|f(x)|, F_FLOOR)

is at most ``gtol`` (Dennis & Schnabel 1983, section 7.2: the gradient scaled by the parameters' and the
objective's size). s is unchanged when the objective is multiplied by a constant and, once ||x|| >= 1, when the
parameters are; it bounds the relative first-order decrease available within the parameters' own radius, so
a converged point cannot be improved by more than a relative ~s^2 / (curvature ratio) by continuing. An
absolute gradient tolerance has no such meaning: with weight decay 1e-12 the optimal objective of a small
CE UFM is ~2e-10 and its gradients are ~1e-10 everywhere near it, so ``||grad|| <= 1e-10`` held at a point
3.3 times above the optimum (docs/theory.md section 13). :data:`F_FLOOR` = 1e-30 only matters for an objective
whose minimum is exactly 0 (MSE without weight decay fitting the targets): its minimiser ends ``stalled`` at
the rounding floor of the gradient.

Statuses (:class:`Status`, a string enumeration with a message for each):

- ``converged``: s <= gtol;
- ``stalled``: the objective did not decrease for ``stall_iters`` consecutive iterations: float64 evaluation
  of the objective limits further progress (e.g. the squared error's residual Z - T cancels at small decay);
  the point is returned with its stationarity;
- ``max_iter``: the iteration cap was hit first;
- ``diverged``: a non-finite objective or gradient appeared; the last finite iterate is returned and the run
  never counts as the best one;
- ``saddle``: the run stopped at a stationary point with a direction of negative curvature (set by the
  second-order check of ``ufm.curvature`` after the loop): not a minimum.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
from typing import Any, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ufm.errors import OptionsError

METHODS = ("lbfgs", "gd", "adam")

#: objective values below this count as 0 in every relative tolerance of ufm (stationarity, "same value",
#: certificate gaps): the objectives' natural scale is O(1) (the loss at zero logits is log K or 1/2), so this
#: floor only matters for problems whose optimum is exactly 0 (squared error without weight decay)
F_FLOOR = 1e-30

#: two objective values within this relative distance are "the same value" (one basin)
SAME_VALUE_RTOL = 1e-8


class Status(str, enum.Enum):
    """How a run ended. A ``str`` enumeration: ``Status.CONVERGED == "converged"``."""

    CONVERGED = "converged"
    MAX_ITER = "max_iter"
    STALLED = "stalled"
    DIVERGED = "diverged"
    SADDLE = "saddle"

    def __str__(self) -> str:
        return self.value

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def acceptable(self) -> bool:
        """A point that can stand for a local minimum: converged, or stalled at the precision floor."""
        return self in (Status.CONVERGED, Status.STALLED)


_MESSAGES = {
    Status.CONVERGED: "relative stationarity <= gtol",
    Status.MAX_ITER: "the iteration cap was reached before convergence",
    Status.STALLED: "no decrease for stall_iters iterations: float64 evaluation of the objective limits "
                    "further progress",
    Status.DIVERGED: "a non-finite objective or gradient appeared; the last finite iterate is kept",
    Status.SADDLE: "stationary point with a direction of negative curvature: not a minimum",
}

#: the loop's integer status codes, in order
CODES = (Status.CONVERGED, Status.MAX_ITER, Status.STALLED, Status.DIVERGED)


class Run(NamedTuple):
    """One run: final ``params`` (numpy pytree), ``objective``, ``grad_norm`` (Euclidean), ``stationarity``
    (relative, module docstring), ``iterations`` and ``status`` (:class:`Status`)."""

    params: Any
    objective: float
    grad_norm: float
    stationarity: float
    iterations: int
    status: Status

    def with_status(self, status: Status) -> "Run":
        return self._replace(status=Status(status))


def best_run(runs: Sequence[Run]) -> int:
    """Index of the lowest finite objective among runs that did not diverge (0 if there is none)."""
    usable = [i for i, r in enumerate(runs) if r.status != Status.DIVERGED and np.isfinite(r.objective)]
    if not usable:
        return 0
    return min(usable, key=lambda i: runs[i].objective)


def same_value(a: float, b: float, rtol: float = SAME_VALUE_RTOL) -> bool:
    """|a - b| <= rtol max(|a|, |b|): relative, so it also separates tiny objectives (small weight decay)."""
    return abs(a - b) <= rtol * max(abs(a), abs(b), F_FLOOR)


def distinct_values(values, rtol: float = SAME_VALUE_RTOL) -> list:
    """Group finite values (lowest first) into basins of :func:`same_value`; returns [(value, count), ...]."""
    groups: list = []
    for v in sorted(float(x) for x in values if np.isfinite(x)):
        if groups and same_value(v, groups[-1][0], rtol):
            groups[-1][1] += 1
        else:
            groups.append([v, 1])
    return [(v, c) for v, c in groups]


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """The options the compiled loop depends on (hashable; part of the compilation key)."""

    method: str = "lbfgs"
    memory: int = 10
    learning_rate: float = 0.1
    momentum: float = 0.9
    stall_iters: int = 20
    #: every that many iterations a run calls the innermost :func:`reporting` callback (0: never); not part
    #: of any compiled program
    report_every: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise OptionsError("method", f"must be one of {list(METHODS)}, got {self.method!r}")
        check_positive_int("report_every", self.report_every, 0, 10 ** 9)


_REPORTERS: list = []


@contextlib.contextmanager
def reporting(callback):
    """Within the block, a run of :func:`minimize` with ``LoopOptions(report_every=n)`` calls
    ``callback(iteration, objective, stationarity)`` every n iterations and once at its end: the progress of
    one long run (the language-model regime takes minutes per run). The run is then compiled as a start and a
    resumable loop (:func:`compiled_segments`) that stops every n iterations and continues from its full state
    (the L-BFGS memory included), so it takes the same iterates as one uninterrupted run, and no host callback
    enters the compiled program (JAX does not cache programs that have one). Blocks nest; the innermost
    callback is called."""
    _REPORTERS.append(callback)
    try:
        yield
    finally:
        _REPORTERS.pop()


_STAGES: list = []


@contextlib.contextmanager
def stage(label: str):
    """Within the block, :func:`stage_label` names where the running solve is ("run 2/5", "start 7/40"):
    what a :func:`reporting` callback shows beside the iteration, so that the reports of successive runs (the
    starts of a global search among them) are told apart. Blocks nest."""
    _STAGES.append(str(label))
    try:
        yield
    finally:
        _STAGES.pop()


def stage_label() -> str:
    """The labels of the enclosing :func:`stage` blocks, outermost first, joined by ", " ("" outside)."""
    return ", ".join(_STAGES)


def cast(tree, dtype):
    """Every floating-point leaf as ``dtype`` (integer leaves, e.g. class labels, stay integers)."""
    def one(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree_util.tree_map(one, tree)


def tree_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def stationarity(f, g, x):
    """Relative stationarity ||g|| max(||x||, 1) / max(|f|, F_FLOOR) (module docstring)."""
    return tree_norm(g) * jnp.maximum(tree_norm(x), 1.0) / jnp.maximum(jnp.abs(f), F_FLOOR)


def make_loop(f, opts: LoopOptions):
    """The pieces of one run minimising ``f(params, data)``: ``init(x0, data) -> carry``,
    ``cond(carry, max_iter, gtol) -> bool``, ``body(carry, data) -> carry`` and ``finish(carry, gtol) ->
    (x, f, gnorm, stationarity, iters, code)`` (codes index :data:`CODES`).
    The carry is ``(x, optimizer_state, f, gnorm, stationarity, iteration, stall_count, bad)``."""
    if opts.method == "lbfgs":
        linesearch = optax.scale_by_zoom_linesearch(max_linesearch_steps=40, initial_guess_strategy="one")
        opt = optax.lbfgs(memory_size=opts.memory, linesearch=linesearch)
    elif opts.method == "gd":
        opt = optax.sgd(opts.learning_rate, momentum=opts.momentum)
    else:
        opt = optax.adam(opts.learning_rate)
    lbfgs = opts.method == "lbfgs"

    def init(x0, data):
        fn = functools.partial(f, data=data)
        f0, g0 = jax.value_and_grad(fn)(x0)
        return (x0, opt.init(x0), f0, tree_norm(g0), stationarity(f0, g0, x0), jnp.asarray(0), jnp.asarray(0),
                ~jnp.isfinite(f0))

    def cond(c, max_iter, gtol):
        _, _, _, _, s, it, stall, bad = c
        return (it < max_iter) & (s > gtol) & (stall < opts.stall_iters) & ~bad

    def body(c, data):
        fn = functools.partial(f, data=data)
        x, state, fx, gn, s, it, stall, bad = c
        if lbfgs:
            value, grad = optax.value_and_grad_from_state(fn)(x, state=state)
            updates, new_state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fn)
        else:
            updates, new_state = opt.update(jax.grad(fn)(x), state, x)
        x_new = optax.apply_updates(x, updates)
        if lbfgs:
            f_new = optax.tree.get(new_state, "value")
            g_new = optax.tree.get(new_state, "grad")
        else:
            f_new, g_new = jax.value_and_grad(fn)(x_new)
        ok = jnp.isfinite(f_new) & _all_finite(g_new) & _all_finite(x_new)
        x_out = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), x_new, x)
        # the optimizer state is not selected: a non-finite step ends the run (bad = True) and the state is
        # never used again; selecting it would copy the whole L-BFGS memory every iteration
        f_out = jnp.where(ok, f_new, fx)
        gn_out = jnp.where(ok, tree_norm(g_new), gn)
        s_out = jnp.where(ok, stationarity(f_new, g_new, x_new), s)
        if lbfgs:
            stall_out = jnp.where(f_new < fx, 0, stall + 1)
        else:  # first-order methods may oscillate; only L-BFGS's monotone line search stalls
            stall_out = stall
        return (x_out, new_state, f_out, gn_out, s_out, it + 1, stall_out, ~ok)

    def finish(c, gtol):
        x, _, fx, gn, s, it, stall, bad = c
        code = jnp.where(bad, CODES.index(Status.DIVERGED),
                         jnp.where(s <= gtol, CODES.index(Status.CONVERGED),
                                   jnp.where(stall >= opts.stall_iters, CODES.index(Status.STALLED),
                                             CODES.index(Status.MAX_ITER))))
        return x, fx, gn, s, it, code

    return init, cond, body, finish


def make_run(f, opts: LoopOptions):
    """The (un-jitted) single run: ``run(x0, data, max_iter, gtol) -> (x, f, gnorm, stationarity, iters,
    code)``; vmap / shard_map / lax.map compose with it (``ufm.sweep.batch``)."""
    init, cond, body, finish = make_loop(f, opts)

    def run(x0, data, max_iter, gtol):
        carry = jax.lax.while_loop(lambda c: cond(c, max_iter, gtol), lambda c: body(c, data), init(x0, data))
        return finish(carry, gtol)

    return run


def make_trace(f, opts: LoopOptions, num_iter: int, keep: tuple = ()):
    """The same loop as :func:`make_run` unrolled as a ``lax.scan`` of ``num_iter`` steps that records the
    objective, gradient norm and stationarity after every iteration (frozen once the run has stopped), and
    the iterates at the iteration counts ``keep`` (sorted; counts past the stop get the final iterate)."""
    init, cond, body, finish = make_loop(f, opts)
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
                buf = store(buf, c[0], c[5])
            return (c, buf), (c[2], c[3], c[4])

        c0 = init(x0, data)
        buf0 = jax.tree_util.tree_map(lambda v: jnp.zeros((n_keep,) + v.shape, v.dtype), x0)
        if n_keep:
            buf0 = store(buf0, x0, jnp.asarray(0))
        (carry, buf), (values, gnorms, stats) = jax.lax.scan(step, (c0, buf0), None, length=num_iter)
        values = jnp.concatenate([c0[2][None], values])
        gnorms = jnp.concatenate([c0[3][None], gnorms])
        stats = jnp.concatenate([c0[4][None], stats])
        late = keep_arr[:n_keep] > carry[5]
        buf = jax.tree_util.tree_map(
            lambda b, v: jnp.where(late.reshape((-1,) + (1,) * v.ndim), v[None], b), buf, carry[0])
        return finish(carry, gtol), values, gnorms, stats, buf

    return trace


@functools.lru_cache(maxsize=64)
def compiled_run(f, opts: LoopOptions):
    """``jax.jit(make_run(f, opts))``, cached on the function's identity and the options."""
    return jax.jit(make_run(f, opts))


_EXECUTABLES: dict = {}
_COMPILE_SECONDS = [0.0]


def compile_seconds() -> float:
    """Seconds this process has spent compiling (lowering and XLA compilation, or loading from JAX's
    persistent cache) through :func:`executable`; differences of it time one solve's compilations."""
    return _COMPILE_SECONDS[0]


def _signature(args) -> tuple:
    leaves, tree = jax.tree_util.tree_flatten(args)
    return tree, tuple((np.shape(v), str(jnp.result_type(v))) for v in leaves)


def _memory_maps() -> tuple[int, int]:
    """(memory maps of this process, the kernel's limit vm.max_map_count); (0, 0) where /proc does not say."""
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
        with open("/proc/self/maps", "rb") as f:
            return sum(1 for _ in f), limit
    except (OSError, ValueError):
        return 0, 0


def release_compiled() -> None:
    """Drop every compiled program this process holds (ufm's executables and JAX's caches); they compile again
    when next needed."""
    _EXECUTABLES.clear()
    jax.clear_caches()


def release_near_map_limit(fraction: float = 0.6) -> bool:
    """Release the compiled programs (:func:`release_compiled`) when this process uses more than ``fraction``
    of the kernel's memory-map limit. Every XLA:CPU executable maps its code and constants (about 550 maps per
    solved shape, measured), and a process past vm.max_map_count (65,530 by default on Linux) dies inside
    LLVM (abort or segmentation fault) at its next compilation -- after roughly a hundred distinct problem
    shapes in one process (a notebook, a long test session). Checked before each compilation."""
    used, limit = _memory_maps()
    if limit and used > fraction * limit:
        release_compiled()
        return True
    return False


#: compilations between two reads of /proc/self/maps (:func:`release_near_map_limit`; a read costs a few ms, a
#: compilation loaded from the persistent cache tens of ms). 8 executables map ~4,400 regions, far below the
#: ~26,000 between the release threshold (60%) and the kernel's limit.
MAP_CHECK_EVERY = 8
_COMPILES = [0]


def executable(jitted, key, *args):
    """The compiled executable of ``jitted`` for the shapes and dtypes of ``args`` (ahead-of-time lowering),
    cached on ``key`` and the signature; compilation time is added to :func:`compile_seconds`. Before every
    :data:`MAP_CHECK_EVERY`-th compilation (the first included), compiled programs are released when the
    process nears the memory-map limit (:func:`release_near_map_limit`)."""
    full_key = (key, _signature(args))
    exe = _EXECUTABLES.get(full_key)
    if exe is None:
        import time

        _COMPILES[0] += 1
        if _COMPILES[0] % MAP_CHECK_EVERY == 1 or MAP_CHECK_EVERY == 1:
            release_near_map_limit()
        t0 = time.perf_counter()
        exe = jitted.lower(*args).compile()
        _COMPILE_SECONDS[0] += time.perf_counter() - t0
        if len(_EXECUTABLES) > 64:  # compiled executables hold memory: keep the recent ones
            _EXECUTABLES.clear()
        _EXECUTABLES[full_key] = exe
    return exe


@functools.lru_cache(maxsize=32)
def compiled_trace(f, opts: LoopOptions, num_iter: int, keep: tuple):
    return jax.jit(make_trace(f, opts, num_iter, keep))


def to_run(x, fx, gn, s, it, code) -> Run:
    """A :class:`Run` of numpy / python values from the loop's outputs."""
    return Run(jax.tree_util.tree_map(np.asarray, x), float(fx), float(gn), float(s), int(it),
               CODES[int(code)])


@functools.lru_cache(maxsize=32)
def compiled_segments(f, opts: LoopOptions):
    """The loop of :func:`make_loop` in resumable pieces, jitted: ``start(x0, data) -> carry``,
    ``resume(carry, data, until, gtol) -> carry`` (iterates while the run goes on and its iteration count is
    below ``until``) and ``finish(carry, gtol)``; for runs that report their progress (:func:`reporting`)."""
    init, cond, body, finish = make_loop(f, opts)

    def resume(carry, data, until, gtol):
        return jax.lax.while_loop(lambda c: cond(c, until, gtol), lambda c: body(c, data), carry)

    return jax.jit(init), jax.jit(resume), jax.jit(finish)


def minimize(f, x0, data, opts: LoopOptions, *, max_iter: int, gtol: float, dtype=jnp.float64) -> Run:
    """Minimise a smooth ``f(params, data)`` over a parameter pytree from ``x0`` with the loop of this module.
    ``f`` must be a stable (module-level or cached) function: compilations are cached on its identity. With
    ``opts.report_every`` inside a :func:`reporting` block, the run reports its progress."""
    x0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), x0)
    data = cast(data, dtype)
    opts, every = dataclasses.replace(opts, report_every=0), opts.report_every  # one program for both
    if every and _REPORTERS:
        return _minimize_reporting(f, x0, data, opts, every, max_iter, jnp.asarray(gtol, dtype), _REPORTERS[-1])
    args = (x0, data, jnp.asarray(max_iter), jnp.asarray(gtol, dtype))
    return to_run(*executable(compiled_run(f, opts), ("run", f, opts), *args)(*args))


def _minimize_reporting(f, x0, data, opts, every, max_iter, gtol, report) -> Run:
    start, resume, finish = compiled_segments(f, opts)
    carry = executable(start, ("start", f, opts), x0, data)(x0, data)
    done = 0
    while True:
        until = min(done + every, max_iter)
        args = (carry, data, jnp.asarray(until), gtol)
        carry = executable(resume, ("resume", f, opts), *args)(*args)
        it = int(carry[5])
        if it > done:
            report(it, float(carry[2]), float(carry[4]))
        if it < until or it >= max_iter:  # stopped by its own rule, or at the cap
            break
        done = it
    return to_run(*executable(finish, ("finish", f, opts), carry, gtol)(carry, gtol))


def minimize_starts(f, starts, data, opts: LoopOptions, *, max_iter: int, gtol: float, progress=None) -> tuple:
    """:func:`minimize` from every ``(name, x0)`` of ``starts``: returns ``(runs, best)`` with ``runs`` =
    [(name, Run)] in order and ``best`` the index of :func:`best_run`; ``progress(done, total, objective)`` after
    each start (the global searches of ``ufm.reduced`` and ``ufm.nonlinear``)."""
    runs = []
    for i, (name, x0) in enumerate(starts):
        with stage(f"start {i + 1}/{len(starts)}"):
            runs.append((name, minimize(f, x0, data, opts, max_iter=max_iter, gtol=gtol)))
        if progress is not None:
            progress(i + 1, len(starts), runs[-1][1].objective)
    return runs, best_run([run for _, run in runs])


class Trace(NamedTuple):
    """A run with its history: ``run`` (:class:`Run`), and ``values[k]``, ``grad_norms[k]``,
    ``stationarity[k]`` of iterate k (k = 0: the start) and ``kept`` = [(iteration, params), ...]."""

    run: Run
    values: np.ndarray
    grad_norms: np.ndarray
    stationarity: np.ndarray
    kept: list


def trace(f, x0, data, opts: LoopOptions, *, max_iter: int, gtol: float, num_iter: int, keep: tuple = (),
          dtype=jnp.float64) -> Trace:
    """:func:`minimize` recording its history (:func:`make_trace`)."""
    runner = compiled_trace(f, opts, int(num_iter), tuple(keep))
    x0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), x0)
    args = (x0, cast(data, dtype), jnp.asarray(min(max_iter, num_iter)), jnp.asarray(gtol, dtype))
    out, values, gnorms, stats, buf = executable(runner, ("trace", f, opts, int(num_iter), tuple(keep)),
                                                 *args)(*args)
    run = to_run(*out)
    kept = [(min(k, run.iterations), jax.tree_util.tree_map(lambda b: np.asarray(b[j]), buf))
            for j, k in enumerate(keep)]
    return Trace(run, np.asarray(values), np.asarray(gnorms), np.asarray(stats), kept)


def check_positive_int(field: str, value, minimum: int = 1, maximum: Optional[int] = None) -> int:
    """An integer option in [minimum, maximum] (bools and floats with a fraction refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise OptionsError(field, f"must be an integer >= {minimum}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f" and <= {maximum}" if maximum is not None else ""
        raise OptionsError(field, f"must be an integer >= {minimum}{bound}, got {value!r}")
    return int(value)
