"""The solver's contract: seeds and restarts, statuses, options, warm starts, the class reduction, saddles.
Closed forms against every solver path: tests/test_zoo.py.

Tolerances: the default solve stops at relative stationarity 1e-11; the objective error is second order in
it (1e-10 relative is a loose bound); structures are first order (1e-6).
"""

import numpy as np
import pytest

import ufm
from ufm import zoo
from ufm.theory import PREDICTIONS
from ufm.solver import SolverOptions, solve

OBJ_RTOL = 1e-10
STRUCT_RTOL = 1e-6


# ----------------------------------------------------------------------------- restarts, seeds, status
def test_same_seed_same_result_and_restart_objectives():
    p = ufm.Problem.balanced(3, 4, 5, lambda_W=1e-2, lambda_H=1e-2)
    a = solve(p, restarts=3, seed=7)
    b = solve(p, restarts=3, seed=7)
    c = solve(p, restarts=3, seed=8)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.restart_objectives, b.restart_objectives)
    assert len(a.restart_objectives) == 3 and len(a.restart_statuses) == 3
    assert not np.array_equal(a.features, c.features)
    assert a.objective == min(a.restart_objectives)
    assert a.distinct_objectives()[0][1] == 3  # one basin: all restarts agree
    # restart r does not depend on how many restarts are run (one seeding rule: fold_in(seed, r))
    one = solve(p, restarts=1, seed=7)
    assert one.restart_objectives[0] == a.restart_objectives[0]


def test_reference_solvers_reach_closed_form():
    """GD with momentum (Dang et al.'s recipe, lr 0.1 / 0.9) and Adam: same loop and stopping rule."""
    p = ufm.Problem.balanced(3, 2, 4, lambda_W=1e-2, lambda_H=1e-2)
    f = PREDICTIONS["zhu2021_balanced_ce"].predict(p)["objective"]
    gd = solve(p, method="gd", learning_rate=0.1, momentum=0.9, max_iter=20000, gtol=1e-9)
    assert gd.status == "converged" and abs(gd.objective - f) <= 1e-10 * f
    adam = solve(p, method="adam", learning_rate=1e-2, max_iter=3000, gtol=1e-9)
    assert abs(adam.objective - f) <= 1e-4 * f  # Adam with a fixed step only hovers near the optimum


def test_divergence_is_detected_and_never_returned():
    p = ufm.Problem.balanced(3, 4, 5, loss="mse", lambda_W=1e-3, lambda_H=1e-3)
    sol = solve(p, method="gd", learning_rate=1e3, momentum=0.0, max_iter=500, init_scale=1.0)
    assert sol.status == "diverged"
    assert np.isfinite(sol.objective)
    assert all(np.all(np.isfinite(W)) for W in sol.weights) and np.all(np.isfinite(sol.features))


def test_iteration_cap_status():
    p = ufm.Problem.balanced(4, 5, 6, lambda_W=1e-2, lambda_H=1e-2)
    sol = solve(p, max_iter=3, polish="never")
    assert sol.status == "max_iter" and sol.iterations == 3


def test_warm_start_from_solution_converges_at_once():
    p = ufm.Problem.balanced(4, 5, 6, lambda_W=1e-2, lambda_H=1e-2)
    sol = solve(p)
    again = solve(p, init=sol.params())
    assert again.iterations <= 2 and abs(again.objective - sol.objective) <= 1e-14 * sol.objective


def test_x64_required():
    import jax

    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="x64"):
            solve(ufm.Problem.balanced(3, 2, 3))
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("field,value", [
    ("method", "newton"), ("restarts", 0), ("max_iter", -1), ("gtol", float("nan")), ("momentum", 1.5),
    ("seed", 1.5), ("precision", "float16"), ("init_scale", -1.0), ("momentum", "0.9"), ("gtol", True),
    ("max_iter", 2 ** 70), ("seed", 2 ** 80), ("seed", -1), ("reduce", "yes"), ("polish", None),
])
def test_bad_solver_options(field, value):
    with pytest.raises(ufm.OptionsError, match=field):
        SolverOptions(**{field: value})


def test_unknown_solver_option_is_named():
    with pytest.raises(ufm.OptionsError, match="restart"):
        solve(ufm.Problem.balanced(3, 2, 3), restart=3)


def test_bad_init_shape():
    p = ufm.Problem.balanced(3, 2, 3)
    with pytest.raises(ufm.ProblemError, match="init"):
        solve(p, init={"W": (np.zeros((3, 3)),), "H": np.zeros((3, 5))})


def test_trace_run_records_the_same_iterates_as_run_once():
    """trace_run unrolls the very loop of run_once: same final point bit for bit, values[k] is iterate k's
    objective (monotone for L-BFGS's line search), frozen after the stop."""
    import jax

    from ufm import objective as obj
    from ufm.solver import SolverOptions, run_once, trace_run

    problem = ufm.Problem.balanced(4, 10, 6, loss="ce")
    x0 = obj.init_params(problem, jax.random.PRNGKey(0))
    options = SolverOptions(max_iter=500)
    run = run_once(problem, x0, options)
    it, f = run.iterations, run.objective
    tr = trace_run(problem, x0, options, num_iter=it + 20, keep=(0, 5, it + 10))
    assert tr.run[1:] == run[1:] and run.status == "converged"
    np.testing.assert_array_equal(run.params["H"], tr.run.params["H"])
    values = tr.values
    assert values.shape == (it + 21,) and values[it] == f and np.all(values[it:] == f)
    # the line search's sufficient decrease holds up to rounding: near the optimum f changes by ~1 ulp
    assert np.all(np.diff(values[: it + 1]) <= 4 * np.finfo(float).eps * abs(f))
    assert values[0] > 5 * f and tr.stationarity[it] <= options.gtol < tr.stationarity[it - 1]
    # kept iterates: the start, iterate 5 (= run_once stopped after 5 iterations), the final one past the stop
    assert [k for k, _ in tr.kept] == [0, 5, it]
    np.testing.assert_array_equal(tr.kept[0][1]["H"], np.asarray(x0["H"]))
    five = run_once(problem, x0, SolverOptions(max_iter=5, gtol=0.0)).params
    np.testing.assert_array_equal(tr.kept[1][1]["H"], five["H"])
    np.testing.assert_array_equal(tr.kept[2][1]["H"], run.params["H"])
    with pytest.raises(ufm.OptionsError, match="num_iter"):
        trace_run(problem, x0, options, num_iter=0)
    with pytest.raises(ufm.OptionsError, match="keep"):
        trace_run(problem, x0, options, keep=(-1,))


# ----------------------------------------------------------------------------- the stopping rule is scale-aware
def test_stationarity_is_invariant_to_scaling_the_objective():
    """s(x) = ||grad f|| max(||x||, 1) / |f| is the same for f and c f: the stopping rule means the same at any
    weight decay (docs/theory.md section 13)."""
    import jax.numpy as jnp

    from ufm.loop import stationarity

    x = {"a": jnp.array([2.0, -3.0]), "b": jnp.array([[0.5]])}
    g = {"a": jnp.array([1e-3, 2e-3]), "b": jnp.array([[-1e-3]])}
    s1 = float(stationarity(jnp.asarray(0.7), g, x))
    s2 = float(stationarity(jnp.asarray(0.7e-12), {k: 1e-12 * v for k, v in g.items()}, x))
    assert s1 == pytest.approx(s2, rel=1e-12) and s1 > 0


# ----------------------------------------------------------------------------- the class reduction
@pytest.mark.parametrize("name", ["ce-K4-n5", "mse-free-bias-imbalanced", "deep-mse-M2-imbalanced", "fixed-etf-ce",
                                  "ce-imbalanced-free-bias"])
def test_reduction_and_full_problem_agree(name):
    """The class-reduced problem (docs/theory.md section 4) and the full problem give the same objective,
    metrics and geometry (rotation-invariant quantities)."""
    p = zoo.get(name).problem
    red, full = solve(p), solve(p, reduce="never")
    assert red.reduced and not full.reduced
    assert abs(red.objective - full.objective) <= OBJ_RTOL * abs(full.objective)
    mr, mf = red.metrics(per_layer=False), full.metrics(per_layer=False)
    for key in ("nc2_etf", "nc3", "nc2_etf_means", "nc4"):
        assert abs(mr[key] - mf[key]) <= 1e-5, (key, mr[key], mf[key])
    assert mr["nc1"] <= 1e-30 and mf["nc1"] <= 1e-12  # collapsed by construction (rounding of the lift)
    np.testing.assert_allclose(red.mean_logits, full.mean_logits, atol=1e-6 * np.max(np.abs(full.mean_logits)))
    assert red.features.shape == full.features.shape == (p.d, p.N)


def test_reduced_solve_time_does_not_grow_with_n():
    """Same K, d: the reduced problem has the same shapes whatever n (one compilation; cost independent of n).
    Timings are in bench/; here: the same compiled shapes and the same iteration counts for n = 10 and 10^5."""
    from ufm import objective as obj

    small = ufm.Problem.balanced(5, 10, 8, lambda_W=5e-3, lambda_H=5e-3)
    big = ufm.Problem.balanced(5, 100_000, 8, lambda_W=5e-3 / 100, lambda_H=5e-3 / 100)  # same K c
    assert obj.param_shapes(small, reduce=True) == obj.param_shapes(big, reduce=True)
    s, b = solve(small), solve(big)
    assert s.status.acceptable and b.status.acceptable and b.features.shape == (8, 500_000)


def test_reduction_groups_identical_targets_of_a_sample_design():
    """Mixup: groups are the distinct target columns (same-class mixtures join their class); lift and collapse
    are inverse on collapsed features."""
    from ufm import objective as obj

    p = ufm.Problem(counts=(2, 2, 2), d=3, loss="mixup-ce", lambda_W=5e-3, lambda_H=5e-3,
                    samples=ufm.MixupDesign(pairs="all", lams=(0.25, 0.5)))
    g = obj.groups(p)
    T = p.targets()
    assert np.array_equal(g.targets[:, g.of_sample], T)
    assert len(g.sizes) == len(np.unique(T.T, axis=0)) and g.sizes.sum() == p.N
    rng = np.random.default_rng(0)
    params = {"W": (rng.standard_normal((3, 3)),), "H": rng.standard_normal((3, len(g.sizes)))}
    back = obj.collapse(p, obj.lift(p, params))
    np.testing.assert_allclose(back["H"], params["H"], rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------- saddles
def test_start_at_the_origin_is_not_called_converged():
    """init_scale 0: the loop stops at once at W = H = 0 (gradient 0), a saddle for K c < 1. The second-order
    check finds the negative curvature, the run escapes along it and reaches the optimum."""
    p = ufm.Problem.balanced(3, 2, 3, lambda_W=5e-3, lambda_H=5e-3)
    f = PREDICTIONS["zhu2021_balanced_ce"].predict(p)["objective"]
    sol = solve(p, init_scale=0.0)
    assert sol.status == "converged" and sol.runs[0].escapes >= 1
    assert abs(sol.objective - f) <= OBJ_RTOL * f
    # without the check the origin is stationary, and the status says so honestly only with the check
    blind = solve(p, init_scale=0.0, second_order="never", polish="never")
    assert blind.iterations == 0 and blind.second_order is None


def test_a_saddle_that_cannot_be_escaped_gets_the_saddle_status():
    p = ufm.Problem.balanced(3, 2, 3, lambda_W=5e-3, lambda_H=5e-3)
    sol = solve(p, init_scale=0.0, escapes=0)
    assert sol.status == "saddle" and sol.second_order["verdict"] == "saddle"
    assert not sol.status.acceptable and "not a minimum" in sol.summary()


def test_global_search_refuses_more_classes_than_it_can_take_on(monkeypatch):
    """The reduced search keeps ~50 structured K x K starts and solves from each: beyond
    ufm.reduced.MAX_CLASSES it is refused with one named error (search="always") or skipped with the reason
    (certify), never run into the machine's memory. The limit is lowered here so the test stays small."""
    from ufm import reduced
    from ufm.certificates import certify

    monkeypatch.setattr(reduced, "MAX_CLASSES", 5)
    problem = ufm.Problem.balanced(6, 1, 3, loss="ce", lambda_W=1e-2, lambda_H=1e-2)
    with pytest.raises(ufm.OptionsError, match="search.*more than the global search takes on.*MAX_CLASSES = 5"):
        solve(problem, search="always")
    sol = solve(problem)  # auto: no search, no error
    assert sol.search is None or not sol.search
    cert = certify(sol).certificate
    assert "more than the global search takes on" in cert["search"]["skipped"]
    monkeypatch.setattr(reduced, "MAX_CLASSES", 6)
    assert reduced.applicable(problem)[0]


def test_long_runs_report_their_iterations_from_inside_the_loop():
    """report_every = n: inside ufm.loop.reporting blocks a run calls the innermost callback at iterations n,
    2n, ... and at its stop, with that iterate's objective and stationarity (the trace of the same run records
    the same numbers); the run is the uninterrupted run, bit for bit (the L-BFGS state carries over)."""
    import jax

    from ufm import objective as obj
    from ufm.loop import reporting
    from ufm.solver import SolverOptions, run_once, trace_run

    problem = ufm.Problem.balanced(4, 10, 6, loss="ce")
    x0 = obj.init_params(problem, jax.random.PRNGKey(0))
    plain = run_once(problem, x0, SolverOptions(max_iter=500))
    seen, outer = [], []
    with reporting(outer.append):
        with reporting(lambda *r: seen.append(r)):
            run = run_once(problem, x0, SolverOptions(max_iter=500, report_every=4))
    assert run[1:] == plain[1:] and not outer
    # every 4 iterations, and the last iterate once (the run's stop is no multiple of 4 in general)
    assert [r[0] for r in seen] == sorted(set(range(4, run.iterations, 4)) | {run.iterations}) and len(seen) >= 3
    tr = trace_run(problem, x0, SolverOptions(max_iter=500), num_iter=run.iterations)
    for it, value, stat in seen:
        assert value == tr.values[it] and stat == tr.stationarity[it]
    run_once(problem, x0, SolverOptions(max_iter=500, report_every=4))  # no block: reports dropped
    with pytest.raises(ufm.OptionsError, match="report_every"):
        SolverOptions(report_every=-1)


def test_polish_makes_the_geometry_exact_along_weak_curvature():
    """Label-smoothed CE at lambda = 1e-7 (near the zero-decay logit gap): the curvature along the ETF's scale
    is of order lambda, so a gradient at gtol 1e-11 leaves the classifier Gram off by up to ~1e-6 (seen: 1.3e-6,
    above proofs_check's 1e-6). The Newton polish continues past gtol while it still gains 10x per step;
    the geometry is then exact to 1e-9 (seen: 2e-12 and below)."""
    from ufm.theory import PREDICTIONS

    p = ufm.Problem.balanced(4, 3, 3, loss="label-smoothing(epsilon=0.1)", lambda_W=1e-7, lambda_H=1e-7)
    sol = solve(p, seed=0)
    errors = PREDICTIONS["zhou2022_softmax_etf"].errors(p, sol)
    assert sol.status == "converged" and errors["classifier_gram_err"] <= 1e-9, errors


def test_a_bias_defined_up_to_a_shift_is_reported_centred():
    """CE with a free bias: b and b + c 1 are the same solution (softmax is shift-invariant), and the solver's
    steps drift along that direction by rounding (the Newton step divides the gradient's rounding there by the
    damping: seen 3e-4). Solutions report the centred bias, whatever the start; the squared error's free bias
    (no such symmetry) is reported as solved."""
    p = ufm.Problem(counts=(4, 3, 2), d=4, loss="ce", bias="free", lambda_W=5e-3, lambda_H=5e-3)
    base = solve(p)
    params = base.params()
    shifted = solve(p, init={**params, "b": params["b"] + 5.0})
    assert abs(base.bias.sum()) <= 1e-12 and abs(shifted.bias.sum()) <= 1e-12
    np.testing.assert_allclose(shifted.bias, base.bias, atol=1e-8)
    q = ufm.Problem(counts=(4, 3, 2), d=4, loss="mse", bias="free", lambda_W=5e-3, lambda_H=5e-3)
    assert not q.bias_shift_free and abs(solve(q).bias.sum()) > 1e-3  # the MSE bias is not a gauge


def test_the_search_run_counts_the_iterations_that_made_its_point():
    """d < K: the global search's best start is continued by the loop, which from a converged point takes no
    iteration; the run reports the winning start's iterations with its own (it said 'converged after 0
    iterations')."""
    p = ufm.Problem.balanced(4, 3, 3, bias="free", lambda_W=1e-3, lambda_H=1e-3)
    sol = solve(p)
    search = [r for r in sol.runs if r.label == "reduced-search"]
    assert search and search[0].iterations > 0, sol.runs
