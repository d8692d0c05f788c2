"""The loss families (label smoothing, focal, rescaled square loss): names and parameters, the formulas against
independently written numpy losses, their conjugates, what refuses a non-convex loss, and solver against an
independent scipy multi-start and against the closed forms (ufm.theory.zhou2022, ufm.theory.rescaled_mse)."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

import ufm
from ufm import losses
from ufm.errors import ProblemError

ufm.enable_x64()


# ----------------------------------------------------------------------------- independent numpy losses
def np_label_smoothing(Z, y, eps):
    K = Z.shape[0]
    T = np.full(Z.shape, eps / K)
    T[y, np.arange(Z.shape[1])] += 1 - eps
    return logsumexp(Z, axis=0) - np.sum(T * Z, axis=0)


def np_focal(Z, y, gamma):
    logp = Z - logsumexp(Z, axis=0)
    lp = logp[y, np.arange(Z.shape[1])]
    return -((1 - np.exp(lp)) ** gamma) * lp


def np_rescaled(Z, y, M, k):
    cols = np.arange(Z.shape[1])
    zy = Z[y, cols]
    return 0.5 * (np.sum(Z ** 2, axis=0) - zy ** 2 + k * (zy - M) ** 2)


CASES = [("label-smoothing(epsilon=0.3)", lambda Z, y: np_label_smoothing(Z, y, 0.3)),
         ("focal(gamma=1.5)", lambda Z, y: np_focal(Z, y, 1.5)),
         ("mse-rescaled(scale=4, weight=2.5)", lambda Z, y: np_rescaled(Z, y, 4.0, 2.5))]


def test_names_parameters_and_errors():
    assert losses.canonical("label-smoothing") == "label-smoothing(epsilon=0.1)"
    assert losses.canonical("focal( 1 )") == "focal(gamma=1)"
    assert losses.canonical("mse-rescaled(weight=3)") == "mse-rescaled(scale=1, weight=3)"
    assert ufm.Problem.balanced(3, 2, 3, loss="focal").loss == "focal(gamma=2)"
    for bad, words in [("focal(beta=1)", "takes parameters ['gamma']"), ("focal(gamma=x)", "must be a number"),
                       ("label-smoothing(1)", "epsilon must be in (0, 1)"), ("focal(-1)", "gamma must be in"),
                       ("focal(nan)", "must be finite"), ("hinge", "loss family"), ("focal(1, 2)", "each once")]:
        with pytest.raises(ProblemError) as e:
            ufm.Problem.balanced(3, 2, 3, loss=bad)
        assert e.value.field == "loss" and words in str(e.value), (bad, str(e.value))


def assert_equals_numpy(name, ref, K, N, seed):
    """per_sample and per_label of ``name`` equal the numpy ``ref`` at random logits; returns (Z, y)."""
    import jax.numpy as jnp

    g = np.random.default_rng(seed)
    Z = g.standard_normal((K, N)) * 3
    y = g.integers(0, K, N)
    T = np.eye(K)[:, y]
    loss = losses.get(name)
    want = ref(Z, y)
    # 1e-12 relative: both sides are O(1) sums of a few float64 terms (logsumexp, exp, squares)
    assert np.allclose(np.asarray(loss.per_sample(jnp.asarray(Z), jnp.asarray(T))), want, rtol=1e-12, atol=1e-14)
    assert np.allclose(np.asarray(loss.per_label(jnp.asarray(Z), jnp.asarray(y))), want, rtol=1e-12, atol=1e-14)
    return Z, y


@pytest.mark.parametrize("name,ref", CASES, ids=[c[0] for c in CASES])
def test_per_sample_and_per_label_equal_the_numpy_loss(name, ref):
    assert_equals_numpy(name, ref, 5, 40, 0)


@pytest.mark.parametrize("name", ["label-smoothing(epsilon=0.3)", "mse-rescaled(scale=4, weight=2.5)"])
def test_conjugates_satisfy_fenchel_young(name):
    """l(z) + l*(v) >= <v, z> for any v in the domain, with equality at v = grad l(z) (the convex certificate's
    bound rests on it)."""
    import jax.numpy as jnp

    g = np.random.default_rng(1)
    K, N = 4, 12
    Z = jnp.asarray(g.standard_normal((K, N)) * 2)
    T = jnp.asarray(np.eye(K)[:, g.integers(0, K, N)])
    loss = losses.get(name)
    V = losses.gradient(loss, Z, T)
    lhs = np.asarray(loss.per_sample(Z, T) + loss.conjugate(V, T))
    assert np.allclose(lhs, np.asarray(jnp.sum(V * Z, axis=0)), atol=1e-12)
    Z2 = Z + jnp.asarray(g.standard_normal((K, N)))  # another point: strict inequality in general
    assert np.all(np.asarray(loss.per_sample(Z2, T) + loss.conjugate(V, T)) >= np.asarray(jnp.sum(V * Z2, axis=0))
                  - 1e-12)


def test_focal_is_not_convex_and_the_convex_paths_refuse_it():
    from ufm import convex, reduced
    from ufm.solver import reduction_exact

    # a second difference < 0 along a line: l(z) = focal at z = t e_1 (class 0 the label), gamma = 2
    import jax.numpy as jnp

    f = losses.get("focal(gamma=2)")
    ts = np.linspace(-3, 3, 61)
    Z = jnp.asarray(np.vstack([ts, np.zeros_like(ts), np.zeros_like(ts)]))
    vals = np.asarray(f.per_sample(Z, jnp.asarray(np.eye(3)[:, [0] * ts.size])))
    assert np.min(np.diff(vals, 2)) < -1e-6
    p = ufm.Problem.balanced(3, 2, 3, loss="focal(2)")
    for ok, why in (reduction_exact(p), reduced.applicable(p), convex.applicable(p)):
        assert not ok and "not convex" in why
    assert reduction_exact(ufm.Problem.balanced(3, 2, 3, loss="focal(0)"))[0]  # gamma = 0 is the CE: convex


def independent_ufm(loss_np, counts, d, lam, starts=12, seed=0):
    """min over W (K x d), H (d x N) of mean loss + lam/2 (||W||^2 + ||H||^2), ``counts[k]`` samples of class k:
    numpy objective, scipy L-BFGS-B with its own finite-difference gradient, ``starts`` Gaussian starts."""
    K, N = len(counts), sum(counts)
    y = np.repeat(np.arange(K), counts)

    def f(x):
        W, H = x[:K * d].reshape(K, d), x[K * d:].reshape(d, N)
        return np.mean(loss_np(W @ H, y)) + lam / 2 * (np.sum(W ** 2) + np.sum(H ** 2))

    g = np.random.default_rng(seed)
    best = np.inf
    for _ in range(starts):
        r = minimize(f, g.standard_normal(K * d + d * N), method="L-BFGS-B", options={"maxiter": 5000, "ftol": 1e-15,
                                                                                     "gtol": 1e-10})
        best = min(best, r.fun)
    return best


SLOW_FIRST_TWO = [pytest.param(*c, marks=pytest.mark.slow) if i != 1 else c for i, c in enumerate(CASES)]


@pytest.mark.parametrize("name,ref", SLOW_FIRST_TWO, ids=[c[0] for c in CASES])
def test_solver_is_no_higher_than_an_independent_multistart(name, ref):
    K, n, d, lam = 3, 2, 3, 5e-3
    sol = ufm.solve(ufm.Problem.balanced(K, n, d, loss=name, lambda_W=lam, lambda_H=lam), restarts=2)
    other = independent_ufm(ref, (n,) * K, d, lam)
    # scipy's finite-difference gradients stop ~1e-9 above the optimum: ufm must not be above it by more
    assert sol.status.acceptable and sol.objective <= other + 1e-9 * abs(other), (sol.objective, other)


@pytest.mark.parametrize("loss", ["label-smoothing(epsilon=0.2)", "focal(gamma=3)",
                                  pytest.param("ce", marks=pytest.mark.slow)])
def test_softmax_etf_closed_form_equals_the_solver(loss):
    from ufm.theory import PREDICTIONS

    p = ufm.Problem.balanced(4, 3, 4, loss=loss, lambda_W=2e-3, lambda_H=8e-3)
    pred = PREDICTIONS["zhou2022_softmax_etf"]
    assert pred.applies(p)[0]
    err = pred.errors(p, ufm.solve(p, restarts=2))
    # objective to rounding; structure to 1e-8 (the ETF scale a* is found by bisection on phi' to ~eps, the
    # solver stops at relative stationarity 1e-10, which moves the Gram entries by ~1e-10 / curvature)
    assert err["objective_rel_err"] < 1e-12 and err["logits_err"] < 1e-8 and err["classifier_gram_err"] < 1e-8, err


def test_label_smoothing_logit_gap_at_zero_decay_limit():
    """At tiny decay the label-smoothing optimum's logit gap tends to the loss's own optimum
    log(1 + K (1 - eps) / eps) (the infimum over z is attained, unlike CE whose gap grows without bound)."""
    from ufm.theory import zhou2022

    K, eps = 4, 0.1
    _, a = zhou2022.etf_value(ufm.Problem.balanced(K, 3, 4, loss=f"label-smoothing({eps})", lambda_W=1e-12,
                                                   lambda_H=1e-12))
    assert a == pytest.approx(np.log(1 + K * (1 - eps) / eps), rel=1e-9)


def test_rescaled_mse_closed_form_and_certificate():
    from ufm.theory import PREDICTIONS

    p = ufm.Problem.balanced(3, 2, 4, loss="mse-rescaled(scale=5, weight=2)", lambda_W=1e-2, lambda_H=1e-2)
    sol = ufm.solve(p, restarts=2)
    err = PREDICTIONS["rescaled_mse_balanced"].errors(p, sol)
    assert err["objective_rel_err"] < 1e-12 and err["logits_err"] < 1e-8, err
    assert ufm.certify(sol).certificate["level"] == "certified"


def test_cli_takes_a_loss_with_parameters():
    from ufm.cli import main

    assert main(["solve", "-K", "3", "-n", "2", "-d", "3", "--loss", "label-smoothing(epsilon=0.2)", "-q",
                 "--json"]) == 0
    assert main(["solve", "-K", "3", "--loss", "focal(gamma=x)"]) == 2


# ----------------------------------------------------------------------------- per-class losses (Behnia et al. 2023)
def np_logit_adjusted(Z, y, iota):
    U = Z + np.asarray(iota)[:, None]
    return logsumexp(U, axis=0) - U[y, np.arange(Z.shape[1])]


def np_cdt(Z, y, delta):
    U = Z / np.asarray(delta)[:, None]
    return logsumexp(U, axis=0) - U[y, np.arange(Z.shape[1])]


PER_CLASS = [("logit-adjusted(iota=0/-0.7/-1.4)", lambda Z, y: np_logit_adjusted(Z, y, [0, -0.7, -1.4])),
             ("cdt(delta=1/0.7/0.5)", lambda Z, y: np_cdt(Z, y, [1, 0.7, 0.5]))]


def test_per_class_parameters_names_and_errors():
    assert losses.canonical("cdt( 1/0.5 )") == "cdt(delta=1/0.5)"
    assert losses.canonical("logit-adjusted") == "logit-adjusted(iota=0)"
    assert ufm.Problem(counts=(3, 2), d=2, loss="cdt(1/0.5)").loss == "cdt(delta=1/0.5)"
    for bad, words in [("cdt(1/0.5/0.2)", "K=3 classes, the problem has K=2"), ("cdt(1/-1)", "delta must be > 0"),
                       ("cdt(1/x)", "numbers v_1/.../v_K"), ("focal(1/2)", "must be a number")]:
        with pytest.raises(ProblemError) as e:
            ufm.Problem(counts=(3, 2), d=2, loss=bad)
        assert e.value.field == "loss" and words in str(e.value), (bad, str(e.value))


@pytest.mark.parametrize("name,ref", PER_CLASS, ids=[c[0] for c in PER_CLASS])
def test_per_class_losses_equal_the_numpy_loss_and_fenchel_young(name, ref):
    import jax.numpy as jnp

    Z, y = assert_equals_numpy(name, ref, 3, 30, 2)
    K, N = Z.shape
    T = jnp.asarray(np.eye(K)[:, y])
    loss = losses.get(name)
    g = np.random.default_rng(3)
    # Fenchel-Young: equality at v = grad l(z) (1e-12: cancellation of O(1) terms), >= at another point
    V = losses.gradient(loss, jnp.asarray(Z), T)
    lhs = np.asarray(loss.per_sample(jnp.asarray(Z), T) + loss.conjugate(V, T))
    assert np.allclose(lhs, np.sum(np.asarray(V) * Z, axis=0), atol=1e-12)
    Z2 = Z + g.standard_normal((K, N))
    assert np.all(np.asarray(loss.per_sample(jnp.asarray(Z2), T) + loss.conjugate(V, T))
                  >= np.sum(np.asarray(V) * Z2, axis=0) - 1e-12)
    # the dual centring keeps V in the conjugate's domain (finite) and makes sum_i w_i v_i = 0 (to rounding)
    w = jnp.asarray(np.full(N, 1.0 / N))
    Vc = loss.center_dual(V, T, w)
    assert np.all(np.isfinite(np.asarray(loss.conjugate(Vc, T)))) and np.allclose(np.asarray(Vc @ w), 0, atol=1e-14)


@pytest.mark.slow  # ~20 s each (solve + certify + scipy multi-start): over the default-test budget
@pytest.mark.parametrize("name,ref", PER_CLASS,
                         ids=[c[0] for c in PER_CLASS])
def test_per_class_solver_against_multistart_and_certificate(name, ref):
    counts, d, lam = (2, 1, 1), 3, 5e-3
    sol = ufm.solve(ufm.Problem(counts=counts, d=d, loss=name, lambda_W=lam, lambda_H=lam), restarts=2)
    other = independent_ufm(ref, counts, d, lam, starts=4)
    # scipy's finite-difference gradients stop ~1e-9 above the optimum; ufm must not be above it by more, and
    # (the loss being convex, identical within a class) the two agree to 1e-6 relative
    assert sol.status.acceptable and sol.objective <= other + 1e-9 * abs(other), (sol.objective, other)
    assert sol.objective == pytest.approx(other, rel=1e-6)
    assert ufm.certify(sol).certificate["level"] == "certified"


@pytest.mark.parametrize("name,scale", [("mse", 1.0), ("mse-rescaled(scale=4, weight=2.5)", 4.0)])
def test_square_losses_by_label_keep_every_digit_near_the_targets(name, scale):
    """Near the targets (small weight decay) the residual is ~1e-9; per_label (the streamed objective) must
    equal the per-sample form to rounding there too: a difference like sum z^2 - z_y^2 is exact only to
    ~1e-16 * scale^2, far more than the whole loss (~1e-18) there."""
    import jax.numpy as jnp

    g = np.random.default_rng(3)
    y = g.integers(0, 6, 9)
    T = np.eye(6)[:, y]
    Z = scale * T + 1e-9 * g.standard_normal((6, 9))
    loss = losses.get(name)
    want = np.asarray(loss.per_sample(jnp.asarray(Z), jnp.asarray(T)))
    np.testing.assert_allclose(np.asarray(loss.per_label(jnp.asarray(Z), jnp.asarray(y))), want, rtol=1e-12)
