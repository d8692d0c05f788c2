"""Batched solves: many problems with the same compiled shapes in one XLA program.

Measured on a 2-core CPU (docs/sweep.md, bench/bench_sweep.py): ``jax.vmap`` over the L-BFGS while_loop runs
every member's line search until the slowest finishes, and a Python loop of jitted solves leaves the second
core idle for small problems. What wins: split the batch over ``jax.devices()`` with ``jax.shard_map`` and,
inside each shard, run the members one after another with ``jax.lax.map`` (no masking, no per-solve
dispatch). On CPU the devices are host devices (``--xla_force_host_platform_device_count``, one per core; the
``ufm sweep`` command sets it when XLA_FLAGS does not, and says so); on GPU each shard uses ``vmap`` instead
(wide batches are what a GPU wants).

The batch runs the very loop of ``ufm.solver`` (``ufm.loop.make_run`` on the program ``ufm.solver.plan``
chooses: class-reduced where exact), so with ``inner="map"`` each member's run is the one ``ufm.solve`` makes
from the same start; the sweep then applies the same second-order step (``ufm.solver.finish_run``).
Lambdas and targets are traced data, so one compilation serves a whole group.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ufm import objective as obj
from ufm.loop import LoopOptions, cast, make_run, release_near_map_limit, to_run


def default_inner() -> str:
    return "vmap" if jax.default_backend() in ("gpu", "cuda", "rocm", "tpu") else "map"


def batch_key(problem, reduce: bool) -> tuple:
    """Problems with equal keys share one compiled batch: shapes, loss, bias, fixed-vs-learnable classifier,
    layer kind and which factors lie on spheres."""
    return (problem.K, obj.columns(problem, reduce), problem.d, problem.depth, problem.loss, problem.bias,
            problem.classifier_fixed, reduce, problem.activation, problem.activate_features,
            problem.feature_radius is not None, problem.classifier_radius is not None)


@functools.lru_cache(maxsize=32)
def _batched(loss: str, bias: str, loop: LoopOptions, inner: str, n_devices: int, activation: str = "linear",
             activate_features: bool = False):
    from jax.sharding import Mesh, PartitionSpec

    single = make_run(obj.make_objective(loss, bias, activation, activate_features), loop)

    def many(X, D, max_iter, gtol):
        def one(x0, data):
            return single(x0, data, max_iter, gtol)

        if inner == "vmap":
            return jax.vmap(one)(X, D)
        return jax.lax.map(lambda a: one(*a), (X, D))

    if n_devices == 1:
        return jax.jit(many)
    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("batch",))
    spec = PartitionSpec("batch")
    return jax.jit(jax.shard_map(many, mesh=mesh, in_specs=(spec, spec, PartitionSpec(), PartitionSpec()),
                                 out_specs=spec, check_vma=False))


def solve_batch(problems, x0s, options, *, reduce: bool = False, inner: str | None = None,
                devices: int | None = None) -> list:
    """Run the loop of ``options`` (``ufm.solver.SolverOptions``) on problems sharing one :func:`batch_key` from
    the starts ``x0s`` (parameter pytrees in the full or reduced coordinates), in one call.

    Returns a list of :class:`ufm.loop.Run`: the same as running them one by one, bit for bit with
    ``inner="map"`` (the same program per problem); with ``"vmap"`` (batched reductions sum in another order)
    the same objective to ~1e-15 and the same rotation-invariant geometry (W H) to ~1e-9 (tested).
    """
    if not problems:
        return []
    keys = {batch_key(p, reduce) for p in problems}
    if len(keys) != 1:
        raise ValueError(f"solve_batch needs one batch key, got {len(keys)}")
    inner = inner or default_inner()
    n_dev = devices or len(jax.local_devices())
    n_dev = max(1, min(n_dev, len(jax.local_devices()), len(problems)))
    B = len(problems)
    pad = (-B) % n_dev
    dtype = options.dtype
    datas = [obj.problem_data(p, dtype, reduce=reduce) for p in problems]
    datas += [datas[-1]] * pad
    starts = list(x0s) + [x0s[-1]] * pad

    def stack(trees):
        return cast(jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(v) for v in a]), *trees), dtype)

    p0 = problems[0]
    release_near_map_limit()  # a sweep over many shapes compiles one batch program per shape
    fn = _batched(p0.loss, p0.bias, options.loop, inner, n_dev, p0.activation, p0.activate_features)
    X, F, G, S, I, C = fn(stack(starts), stack(datas), jnp.asarray(options.max_iter),
                          jnp.asarray(options.gtol, dtype))
    X = jax.tree_util.tree_map(np.asarray, X)
    F, G, S, I, C = map(np.asarray, (F, G, S, I, C))
    return [to_run(jax.tree_util.tree_map(lambda a: a[b], X), F[b], G[b], S[b], I[b], C[b]) for b in range(B)]
