"""Non-linear (ReLU) deep UFM (docs/theory.md section 15): the forward model against plain numpy, the solver
against an independently written numpy objective minimised by a scipy multi-start, the honest refusals of
every linear-only path, the non-smooth second-order verdict at kinks, per-layer DNC metrics, the flags."""

import json

import numpy as np
import pytest
from scipy.optimize import minimize

import ufm
from ufm import Problem, certify, convex, forward, nonlinear, reduced, solve
from ufm import objective as obj
from ufm.certificates import second_order_at
from ufm.cli import main
from ufm.errors import OptionsError, ProblemError, SpecError
from ufm.hypotheses import MASTER_REDUCTION
from ufm.solver import SolverOptions, reduction_exact, use_reduction, use_search

TINY = dict(loss="mse", lambda_W=1e-2, lambda_H=1e-2, activation="relu")  # K=3, n=2, d=4, M=2: the case


# ----------------------------------------------------------------------------- an independent reference
def numpy_objective(x, K, n, d, lam_W, lam_H):
    """Written from the formula alone (not from ufm): (1/N) sum_i 1/2 ||W_2 max(W_1 h_i, 0) - e_{y_i}||^2
    + lam_W/2 (||W_1||^2 + ||W_2||^2) + lam_H/2 ||H||^2, samples grouped by class."""
    N = K * n
    W1 = x[:d * d].reshape(d, d)
    W2 = x[d * d:d * d + K * d].reshape(K, d)
    H = x[d * d + K * d:].reshape(d, N)
    Y = np.repeat(np.eye(K), n, axis=1)
    A = np.maximum(W1 @ H, 0.0)
    R = W2 @ A - Y
    return (0.5 * np.sum(R * R) / N + 0.5 * lam_W * (np.sum(W1 * W1) + np.sum(W2 * W2))
            + 0.5 * lam_H * np.sum(H * H))


def numpy_gradient(x, K, n, d, lam_W, lam_H):
    N = K * n
    W1 = x[:d * d].reshape(d, d)
    W2 = x[d * d:d * d + K * d].reshape(K, d)
    H = x[d * d + K * d:].reshape(d, N)
    Y = np.repeat(np.eye(K), n, axis=1)
    P = W1 @ H
    A = np.maximum(P, 0.0)
    R = (W2 @ A - Y) / N
    gW2 = R @ A.T + lam_W * W2
    gP = (W2.T @ R) * (P > 0)
    gW1 = gP @ H.T + lam_W * W1
    gH = W1.T @ gP + lam_H * H
    return np.concatenate([gW1.ravel(), gW2.ravel(), gH.ravel()])


def scipy_multistart(K, n, d, lam, starts=12, seed=0):
    rng = np.random.default_rng(seed)
    size = d * d + K * d + d * K * n
    best = np.inf
    for s in range(starts):
        x0 = rng.standard_normal(size) * (0.1, 0.5, 1.0)[s % 3]
        res = minimize(numpy_objective, x0, args=(K, n, d, lam, lam), jac=numpy_gradient, method="L-BFGS-B",
                       options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-12})
        best = min(best, res.fun)
    return best


def test_numpy_reference_is_the_canonical_objective():
    p = Problem.balanced(3, 2, 4, depth=2, **TINY)
    rng = np.random.default_rng(1)
    W1, W2, H = rng.standard_normal((4, 4)), rng.standard_normal((3, 4)), rng.standard_normal((4, 6))
    x = np.concatenate([W1.ravel(), W2.ravel(), H.ravel()])
    # two codes written apart agree to rounding (1e-12 relative: a few dozen float64 operations)
    assert obj.evaluate(p, [W1, W2], H) == pytest.approx(numpy_objective(x, 3, 2, 4, 1e-2, 1e-2), rel=1e-12)
    # and the linear model is a different function at the same point (the activation is really applied)
    assert abs(obj.evaluate(p.replace(activation="linear"), [W1, W2], H) - numpy_objective(x, 3, 2, 4, 1e-2, 1e-2)) \
        > 1e-3


def test_tiny_relu_case_reaches_the_scipy_multistart_value():
    p = Problem.balanced(3, 2, 4, depth=2, **TINY)
    sol = solve(p)
    ref = scipy_multistart(3, 2, 4, 1e-2)
    # no higher than 12 independent L-BFGS-B starts (their ftol 1e-15 leaves ~1e-12 relative: 1e-9 is slack)
    assert sol.objective <= ref * (1 + 1e-9)
    assert sol.status.acceptable and sol.method.endswith("nonlinear-search")
    # the value is the problem's, evaluated by the independent code at ufm's point
    W1, W2 = sol.weights
    x = np.concatenate([W1.ravel(), W2.ravel(), sol.features.ravel()])
    assert numpy_objective(x, 3, 2, 4, 1e-2, 1e-2) == pytest.approx(sol.objective, rel=1e-12)


# ----------------------------------------------------------------------------- the forward model
def test_forward_relu_against_numpy_and_features_option():
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((4, 4)), rng.standard_normal((4, 4)), rng.standard_normal((3, 4))]
    H, b = rng.standard_normal((4, 5)), rng.standard_normal(3)
    r = lambda X: np.maximum(X, 0)  # noqa: E731
    assert np.allclose(forward.logits(Ws, H, b, "relu"), Ws[2] @ r(Ws[1] @ r(Ws[0] @ H)) + b[:, None], rtol=0,
                       atol=1e-13)
    assert np.allclose(forward.logits(Ws, H, None, "relu", True), Ws[2] @ r(Ws[1] @ r(Ws[0] @ r(H))), atol=1e-13)
    assert np.allclose(forward.logits(Ws, H, b), Ws[2] @ Ws[1] @ Ws[0] @ H + b[:, None], atol=1e-12)
    feats = forward.layer_inputs(Ws, H, "relu")
    assert np.array_equal(feats[0], H) and np.all(feats[1] >= 0) and np.all(feats[2] >= 0)
    assert len(forward.preactivations(Ws, H, "relu")) == 2 and forward.preactivations(Ws, H) == []
    import jax.numpy as jnp

    assert isinstance(forward.logits([jnp.asarray(W) for W in Ws], jnp.asarray(H), None, "relu"), type(jnp.zeros(1)))


# ----------------------------------------------------------------------------- the problem and its flags
@pytest.mark.parametrize("kwargs,field", [
    (dict(activation="tanh", depth=2), "activation"),
    (dict(activation="relu", depth=1), "activation"),
    (dict(activate_features=True, depth=2), "activate_features"),
    (dict(activation="relu", depth=2, activate_features="yes"), "activate_features"),
])
def test_bad_activation_fields_are_one_line(kwargs, field):
    with pytest.raises(ProblemError) as e:
        Problem.balanced(3, 2, 4, **kwargs)
    assert e.value.field == field


def test_problem_round_trip_and_linear_dict_unchanged():
    p = Problem.balanced(3, 2, 4, depth=2, activation="relu", activate_features=True)
    assert Problem.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert "activation" not in Problem.balanced(3, 2, 4).to_dict()
    assert p.static_key() != p.replace(activation="relu", activate_features=False).static_key()
    assert "relu" in p.describe() and "relu" in repr(p)
    assert Problem.balanced(3, 2, 4, depth=1, activation="relu", activate_features=True).depth == 1


# ----------------------------------------------------------------------------- every linear-only path refuses
def test_every_linear_only_path_refuses_relu_with_a_reason():
    from ufm.theory import PREDICTIONS

    p = Problem.balanced(3, 2, 4, depth=2, **TINY)
    lin = p.replace(activation="linear")
    p1 = Problem.balanced(3, 2, 4, depth=1, loss="mse", activation="relu", activate_features=True)
    for check in (MASTER_REDUCTION, convex.applicable, reduced.applicable, reduction_exact):
        for q in (p, p1):
            ok, why = check(q)
            assert not ok and why, check
        # ... and only because of the activation (the convex program is for M = 1)
        assert check(lin if check is not convex.applicable else p1.replace(activation="linear",
                                                                           activate_features=False))[0], check
    with pytest.raises(OptionsError, match="non-linear"):
        use_reduction(p, SolverOptions(reduce="always"))
    assert not use_reduction(p, SolverOptions())
    with pytest.raises(ProblemError):
        reduced.reduced_search(p)
    assert use_search(p, SolverOptions(), None)  # the non-linear search instead
    linear_only = [name for name, pred in PREDICTIONS.items() if pred.applies(lin.replace(depth=1))[0]
                   or pred.applies(lin)[0]]
    assert linear_only  # some predictions apply to the linear twins ...
    for name in linear_only:  # ... none to the ReLU models
        for q in (p, p.replace(depth=1, activate_features=True)):
            ok, why = PREDICTIONS[name].applies(q)
            assert not ok and why, name
    with pytest.raises(ProblemError, match="non-linear search does not apply"):
        nonlinear.search(lin)
    # the streamed evaluation multiplies by the product W_M..W_1: linear layers only, whatever the size
    assert obj.streams_at("ce", True, 2 ** 12, 2 ** 12) and not obj.streams_at("ce", True, 2 ** 12, 2 ** 12, "relu")
    from proofs_check.core import predicted_point

    assert predicted_point(p, {"logits": np.eye(3)}) is None  # no lifted point through the master reduction


def test_rebalancing_is_not_applied_to_relu():
    # rebalancing rescales layers by the balanced factorisation of the product: with ReLU the product is not the
    # map, so a rebalanced point would be another function. A start with unbalanced layers stays unbalanced in
    # value: the solver's run from it equals a plain run (no rebalancing step was taken)
    from ufm.solver import Program, rebalanced, run_program

    p = Problem.balanced(3, 2, 4, depth=2, **TINY)
    program = Program.of(p, False)
    x0 = obj.init_params(p, obj.start_key(0, 0), 0.5)
    run = run_program(program, x0, SolverOptions())
    assert rebalanced(program, run, SolverOptions()) is run


# ----------------------------------------------------------------------------- kinks and second order
def dnc_point(K, d, M, s=0.8):
    """A collapsed point with orthogonal non-negative class means: every hidden pre-activation off the class's
    own unit is exactly 0 (a kink)."""
    E = np.zeros((d, K))
    E[:K, :K] = np.eye(K)
    Ws = [s * np.eye(d) for _ in range(M - 1)] + [s * E.T]
    return Ws, s * E


def test_a_kink_gives_non_smooth_point_not_a_verdict():
    p = Problem.balanced(3, 1, 3, depth=2, **TINY)
    Ws, H = dnc_point(3, 3, 2)
    params = obj.params_from_arrays(p, Ws, H)
    so = second_order_at(p, params)
    assert so["verdict"] == "non-smooth point" and so["kinks"]["count"] == 6  # the off-diagonal zeros of W_1 H
    # move every pre-activation off the kink (negative): smooth again, and a Hessian verdict is given
    Ws2 = [Ws[0] - 0.1 * (np.ones((3, 3)) - np.eye(3)), Ws[1]]
    so2 = second_order_at(p, obj.params_from_arrays(p, Ws2, H))
    assert so2["verdict"] in ("minimum", "degenerate", "saddle")
    assert nonlinear.kinks(p.replace(activation="linear"), params)["count"] == 0


def test_dnc_point_metrics_per_layer_post_activation():
    p = Problem.balanced(3, 2, 3, depth=3, **TINY)
    Ws, Hbar = dnc_point(3, 3, 3)
    sol = ufm.Solution.at(p, obj.params_from_arrays(p, Ws, np.repeat(Hbar, 2, axis=1)))
    m = sol.metrics()
    assert len(m["per_layer"]) == 3
    for layer in m["per_layer"]:  # collapsed, orthogonal, rank K at every layer (exact construction: 1e-12)
        assert layer["nc1"] < 1e-12 and layer["nc2_orthogonal"] < 1e-12 and layer["rank"] == 3
    assert np.allclose(sol.mean_logits, 0.8 ** 4 * np.eye(3), atol=1e-12)  # 3 layers and the features
    from ufm.plot.layers import dnc_per_layer, layer_curves

    assert layer_curves(sol, ["rank"]) == {"rank": [3.0, 3.0, 3.0]}
    assert len(dnc_per_layer([sol], keys=("nc1", "rank")).axes) == 2
    with pytest.raises(ProblemError, match="not a per-layer metric"):
        layer_curves(sol, ["nc3"])


def test_certify_relu_refuses_the_convex_certificate_and_searches():
    p = Problem.balanced(3, 2, 4, depth=2, **TINY)
    c = certify(solve(p, search="never", restarts=1), search_restarts=2)
    cert = c.certificate
    assert not cert["certified"] and "needs" in cert["why_not_certified"]
    assert cert["search"]["kind"] == "nonlinear" and cert["level"] in ("search-agreed", "none")


# ----------------------------------------------------------------------------- CLI and sweep spec
def test_cli_activation_flags(capsys):
    from ufm.cli import build_parser
    from ufm.cli._solve import problem_from_args

    args = build_parser().parse_args(["solve", "-K", "3", "-n", "1", "-d", "3", "-M", "2", "--activation", "relu",
                                      "--activate-features"])
    p = problem_from_args(args)
    assert p.activation == "relu" and p.activate_features
    assert main(["solve", "-K", "3", "-n", "1", "-d", "3", "--activation", "relu", "-q"]) == 2
    assert "invalid --activation" in capsys.readouterr().err
    assert main(["solve", "-K", "3", "-n", "1", "-d", "3", "-M", "2", "--activate-features", "-q"]) == 2
    assert "invalid --activate-features" in capsys.readouterr().err


def test_sweep_spec_activation_key():
    from ufm.sweep.spec import parse_spec

    spec = parse_spec('[base]\nK = 3\nn = 1\nd = 3\ndepth = 2\nloss = "mse"\nactivation = "relu"\n'
                      '[axes]\nlambda = [1e-3]\n')
    assert spec.problem(spec.points()[0]).activation == "relu"
    with pytest.raises(SpecError, match="base.activation"):
        parse_spec('[base]\nK = 3\nn = 1\nd = 3\nactivation = "tanh"\n[axes]\nlambda = [1e-3]\n')


@pytest.mark.parametrize("kwargs", [  # compilation dominates (~4 s each): two of the three are slow
    pytest.param(dict(loss="ce", bias="free", counts=(3, 2, 1), lambda_W=[1e-2, 2e-2, 5e-3], depth=3),
                 marks=pytest.mark.slow),
    pytest.param(dict(loss="mse", bias="regularized", lambda_b=1e-2, counts=(2, 2, 2), classifier="etf",
                      lambda_W=1e-2, depth=2), marks=pytest.mark.slow),
    dict(loss="ce", bias="none", counts=(2, 1, 1), activate_features=True, lambda_W=1e-2, depth=1),
])
def test_relu_with_any_loss_counts_bias_decay_and_fixed_classifier(kwargs):
    counts = kwargs.pop("counts")
    p = Problem(counts=counts, d=3, activation="relu", lambda_H=1e-2, **kwargs)
    sol = solve(p, search="never", polish="never", second_order="never")  # one run of the loop: cheap
    assert sol.status.acceptable and np.isfinite(sol.objective)
    # the value at the solution, recomputed from the forward model in numpy (the pieces written out here)
    Z = forward.logits([np.asarray(W) for W in sol.weights], sol.features, sol.bias, "relu", p.activate_features)
    T = p.targets()
    if p.loss == "ce":
        zmax = Z.max(axis=0)
        loss = np.mean(zmax + np.log(np.exp(Z - zmax).sum(axis=0)) - (T * Z).sum(axis=0))
    else:
        loss = np.mean(0.5 * ((Z - T) ** 2).sum(axis=0))
    learnable = sol.weights[:-1] if p.classifier_fixed else sol.weights
    pen = sum(0.5 * lam * np.sum(W * W) for lam, W in zip(p.lambda_W, learnable)) + 0.5 * p.lambda_H * np.sum(
        sol.features ** 2) + (0.5 * p.lambda_b * np.sum(sol.bias ** 2) if p.bias == "regularized" else 0.0)
    assert loss + pen == pytest.approx(sol.objective, rel=1e-12)  # rounding of a few hundred float64 operations
