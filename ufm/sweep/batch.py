"""Batched solves: many problems with the same static key in one XLA program.

Measured on a 2-core CPU (docs/sweep.md, bench/bench_sweep.py): ``jax.vmap`` over the L-BFGS while_loop runs
every member's line search until the slowest finishes, and a Python loop of jitted solves leaves the second
core idle for small problems. What wins: split the batch over ``jax.devices()`` with ``jax.shard_map`` and,
inside each shard, run the members one after another with ``jax.lax.map`` (no masking, no per-solve
dispatch). On CPU the devices are host devices (``--xla_force_host_platform_device_count``, one per core; the
``ufm sweep`` command sets it when XLA_FLAGS does not, and says so); on GPU each shard uses ``vmap`` instead
(wide batches are what a GPU wants).

Lambdas and targets are traced data (``ufm.objective.problem_data``), so one compilation serves a whole group.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ufm import objective as obj
from ufm.solution import STATUSES
from ufm.solve import SolverOptions, _make_run, _ufm_objective


def default_inner() -> str:
    return "vmap" if jax.default_backend() in ("gpu", "cuda", "rocm", "tpu") else "map"


@functools.lru_cache(maxsize=32)
def _batched(loss: str, bias: str, options: SolverOptions, inner: str, n_devices: int):
    from jax.sharding import Mesh, PartitionSpec

    single = _make_run(_ufm_objective(loss, bias), options.method, options.memory, float(options.learning_rate),
                       float(options.momentum), options.stall_iters)

    def one(x0, data):
        return single(x0, data, jnp.asarray(options.max_iter), jnp.asarray(options.gtol, jnp.float64))

    def many(X, D):
        if inner == "vmap":
            return jax.vmap(one)(X, D)
        return jax.lax.map(lambda a: one(*a), (X, D))

    if n_devices == 1:
        return jax.jit(many)
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("batch",))
    spec = PartitionSpec("batch")
    return jax.jit(jax.shard_map(many, mesh=mesh, in_specs=(spec, spec), out_specs=spec, check_vma=False))


def solve_batch(problems, x0s, options: SolverOptions, *, inner: str | None = None, devices: int | None = None):
    """Solve problems sharing one ``static_key`` from the starts ``x0s`` (parameter pytrees), in one call.

    Returns a list of ``(params, objective, grad_norm, iterations, status)`` like ``ufm.solve.run_once``,
    the same as solving them one by one: bit for bit with ``inner="map"`` (the same program per problem);
    with ``"vmap"`` (batched reductions sum in another order) the same objective to ~1e-15 and the same
    rotation-invariant geometry (W H) to ~1e-9 (tested).
    """
    if not problems:
        return []
    keys = {p.static_key() for p in problems}
    if len(keys) != 1:
        raise ValueError(f"solve_batch needs one static key, got {len(keys)}")
    inner = inner or default_inner()
    n_dev = devices or len(jax.local_devices())
    n_dev = max(1, min(n_dev, len(jax.local_devices()), len(problems)))
    B = len(problems)
    pad = (-B) % n_dev
    datas = [obj.problem_data(p) for p in problems] + [obj.problem_data(problems[-1])] * pad
    starts = list(x0s) + [x0s[-1]] * pad

    def stack(trees):
        return jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(v, jnp.float64) for v in a]), *trees)

    fn = _batched(problems[0].loss, problems[0].bias, options, inner, n_dev)
    X, F, G, I, C = fn(stack(starts), stack(datas))
    X = jax.tree_util.tree_map(np.asarray, X)
    F, G, I, C = map(np.asarray, (F, G, I, C))
    out = []
    for b in range(B):
        params = jax.tree_util.tree_map(lambda a: a[b], X)
        out.append((params, float(F[b]), float(G[b]), int(I[b]), STATUSES[int(C[b])]))
    return out
