"""The objective: streamed (column blocks, integer labels) equals dense; stable CE; class-reduced coordinates."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

import ufm
from ufm import losses
from ufm import objective as obj


@pytest.mark.parametrize("loss,bias", [("ce", "none"), ("ce", "free"), ("mse", "regularized"), ("mse", "none")])
@pytest.mark.parametrize("reduce", [False, True])
def test_streamed_equals_dense_value_and_gradient(monkeypatch, loss, bias, reduce):
    """Blocks of 2 columns (the block size forced small): the same value and gradient as the dense K x C
    evaluation, to rounding (the blocks sum in another order)."""
    monkeypatch.setattr(obj, "STREAM_BLOCK_LOGITS", 2 * 5)  # K = 5: two columns per block, a padded last block
    kw = {"lambda_b": 1e-2} if bias == "regularized" else {}
    p = ufm.Problem(counts=(3, 2, 4, 1, 5), d=3, depth=2, loss=loss, bias=bias, lambda_W=1e-3, lambda_H=2e-3, **kw)
    x = obj.init_params(p, jax.random.PRNGKey(1), 1.0, reduce=reduce)
    if "b" in x:
        x["b"] = jnp.asarray(np.random.default_rng(0).standard_normal(p.K))
    f = obj.make_objective(loss, bias)
    dense, streamed = (obj.problem_data(p, reduce=reduce, stream=s) for s in (False, True))
    assert "labels" in streamed and "targets" not in streamed and streamed["labels"].dtype == jnp.int32
    v0, g0 = jax.value_and_grad(f)(x, dense)
    v1, g1 = jax.value_and_grad(f)(x, streamed)
    assert abs(float(v0 - v1)) <= 1e-14 * abs(float(v0))
    for a, b in zip(jax.tree_util.tree_leaves(g0), jax.tree_util.tree_leaves(g1)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(a))))


@pytest.mark.parametrize("loss,bias", [("ce", "free"), ("mse", "regularized")])
def test_streamed_second_derivatives_equal_dense(monkeypatch, loss, bias):
    """The streamed loss's own derivative rule (ufm.objective.fused_block_loss) must carry second derivatives
    too: the Lanczos check differentiates the gradient forward (jax.jvp of jax.grad) and the Newton polish takes
    jax.hessian. Both equal the dense evaluation's to rounding (blocks of 2 columns, a padded last block)."""
    monkeypatch.setattr(obj, "STREAM_BLOCK_LOGITS", 2 * 5)
    kw = {"lambda_b": 1e-2} if bias == "regularized" else {}
    p = ufm.Problem(counts=(3, 2, 4, 1, 5), d=3, depth=2, loss=loss, bias=bias, lambda_W=1e-3, lambda_H=2e-3, **kw)
    x = obj.init_params(p, jax.random.PRNGKey(2), 1.0, reduce=True)
    x["b"] = jnp.asarray(np.random.default_rng(1).standard_normal(p.K))
    v = jax.tree_util.tree_map(lambda a: jnp.asarray(np.random.default_rng(a.size).standard_normal(a.shape)), x)
    f = obj.make_objective(loss, bias)
    dense, streamed = (obj.problem_data(p, reduce=True, stream=s) for s in (False, True))
    hvp = [jax.jit(lambda y, u, data: jax.jvp(lambda z: jax.grad(f)(z, data), (y,), (u,))[1])(x, v, data)
           for data in (dense, streamed)]
    for a, b in zip(*(jax.tree_util.tree_leaves(h) for h in hvp)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(a))))
    flat, unravel = jax.flatten_util.ravel_pytree(x)
    H0, H1 = (jax.jit(jax.hessian(lambda z, data: f(unravel(z), data)))(flat, data) for data in (dense, streamed))
    np.testing.assert_allclose(np.asarray(H1), np.asarray(H0), rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(H0))))


def test_streaming_is_chosen_for_many_classes_and_solves(monkeypatch):
    """Above STREAM_MIN_LOGITS logits the solver evaluates in blocks (no K x C target matrix in the data) and
    reaches the closed form (balanced CE, Zhu et al. 2021)."""
    monkeypatch.setattr(obj, "STREAM_MIN_LOGITS", 400)
    p = ufm.Problem.balanced(30, 2, 29, loss="ce", lambda_W=1e-3, lambda_H=1e-3)
    assert obj.streams(p, reduce=True) and not obj.streams(p.replace(counts=(2,) * 3, d=2), reduce=True)
    sol = ufm.solve(p)
    from ufm.theory import PREDICTIONS

    f = PREDICTIONS["zhu2021_balanced_ce"].predict(p)["objective"]
    assert sol.status.acceptable and abs(sol.objective - f) <= 1e-10 * f


def test_labels_losses_equal_the_target_losses():
    rng = np.random.default_rng(0)
    Z = jnp.asarray(rng.standard_normal((6, 9)) * 5)
    y = jnp.asarray(rng.integers(0, 6, 9))
    T = jnp.eye(6)[:, y]
    np.testing.assert_allclose(losses.cross_entropy_labels(Z, y), losses.cross_entropy(Z, T), rtol=1e-15)
    np.testing.assert_allclose(losses.squared_error_labels(Z, y), losses.squared_error(Z, T), rtol=1e-13)
    # near the targets (small weight decay) the residual is ~1e-9 and the loss ~1e-18: the expanded
    # 1/2(|z|^2 - 2 z_y + 1) is exact only to ~1e-16; computed from the residual, every digit stays
    near = T + 1e-9 * jnp.asarray(rng.standard_normal((6, 9)))
    np.testing.assert_allclose(losses.squared_error_labels(near, y), losses.squared_error(near, T), rtol=1e-13)


def test_cross_entropy_keeps_every_digit_of_a_tiny_loss():
    """lse(z) - z_y at margin 30 returns 0 or rounding noise; the stable form returns log1p(sum e^{-30}) to
    relative 1e-15, and its gradient p_y - 1 = -sum_{k != y} p_k to the same relative accuracy."""
    Z = jnp.asarray([[30.0], [0.0], [0.0]])
    T = jnp.asarray([[1.0], [0.0], [0.0]])
    exact = np.log1p(2 * np.exp(-30.0))
    assert abs(float(losses.cross_entropy(Z, T)[0]) - exact) <= 1e-15 * exact
    g = jax.grad(lambda z: jnp.sum(losses.cross_entropy(z, T)))(Z)
    p_other = np.exp(-30.0) / (1 + 2 * np.exp(-30.0))
    assert abs(float(g[0, 0]) + 2 * p_other) <= 1e-15 * 2 * p_other
    naive = float(jax.scipy.special.logsumexp(Z[:, 0]) - Z[0, 0])
    assert abs(naive - exact) > 1e-3 * exact  # the textbook form is wrong here


def test_compiled_programs_are_released_near_the_memory_map_limit():
    """Every XLA:CPU executable maps memory; past vm.max_map_count the next compilation aborts the process.
    release_near_map_limit drops the compiled programs above a fraction of the limit (here a tiny one)."""
    import sys

    from ufm import loop

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    ufm.solve(ufm.Problem.balanced(3, 2, 3, lambda_W=1e-2, lambda_H=1e-2), restarts=1)
    used, limit = loop._memory_maps()
    assert limit > 0 and used > 0
    assert not loop.release_near_map_limit(fraction=1.0)
    assert loop.release_near_map_limit(fraction=used / limit / 2)
    assert loop._memory_maps()[0] < used


def test_the_memory_map_check_runs_every_few_compilations(monkeypatch):
    """The check reads /proc/self/maps: once per MAP_CHECK_EVERY compilations (the first included), not per
    compilation, and never for a program already compiled."""
    import jax.numpy as jnp

    from ufm import loop

    calls = []
    monkeypatch.setattr(loop, "release_near_map_limit", lambda: calls.append(1) or False)
    monkeypatch.setattr(loop, "_COMPILES", [0])
    fns = [jax.jit(lambda x, i=i: x + i) for i in range(loop.MAP_CHECK_EVERY + 1)]
    for i, f in enumerate(fns):
        loop.executable(f, ("map-check-test", i), jnp.zeros(2))
        loop.executable(f, ("map-check-test", i), jnp.zeros(2))  # cached: no compilation, no check
    assert len(calls) == 2
