"""The solver against closed forms (theory.md sections 1 and 2) and independent references.

Tolerances: the solver stops at ||grad|| <= 1e-10 (float64). For these strongly curved small problems the
objective error is second order in the gradient, so 1e-8 relative on the objective is a loose bound
(observed ~1e-15); parameters are first order in the gradient divided by the smallest curvature
(~lambda >= 1e-3), so structures (Grams, W Hbar) are required to 1e-6 relative (observed ~1e-9).
"""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import ufm
from ufm.solver import SolverOptions, solve

OBJ_RTOL = 1e-8
STRUCT_RTOL = 1e-6


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


def class_logits(sol):
    """W Hbar (K x K): logits of the class means (bias excluded)."""
    return sol.mean_logits


# ----------------------------------------------------------------------------- balanced CE, M = 1
def zhu_balanced_ce(K, n, lw, lh):
    """theory.md section 1 (Zhu et al. 2021): optimal value and ||w||^2, c = sqrt(n lw lh), K c < 1."""
    c = np.sqrt(n * lw * lh)
    assert K * c < 1
    f = -np.log(1 - (K - 1) * c) + (K - 1) * c * np.log((1 - (K - 1) * c) / c)
    w2 = np.sqrt(n * lh / lw) * (K - 1) / K * np.log((1 - (K - 1) * c) / c)
    return f, w2


@pytest.mark.parametrize("K,n,d,lw,lh,bias", [
    (4, 5, 6, 1e-2, 2e-2, "none"),
    (5, 3, 8, 3e-3, 1e-2, "none"),
    (3, 4, 3, 5e-3, 5e-3, "regularized"),   # b* = 0 (balanced)
    (6, 2, 10, 2e-2, 1e-3, "none"),
])
def test_balanced_ce_closed_form(K, n, d, lw, lh, bias):
    kw = {"lambda_b": 1e-2} if bias == "regularized" else {}
    p = ufm.Problem.balanced(K, n, d, loss="ce", bias=bias, lambda_W=lw, lambda_H=lh, **kw)
    sol = solve(p, restarts=2, seed=1)
    f, w2 = zhu_balanced_ce(K, n, lw, lh)
    assert sol.status == "converged"
    assert abs(sol.objective - f) <= OBJ_RTOL * abs(f)
    W = sol.classifier
    assert rel(W @ W.T, w2 * K / (K - 1) * (np.eye(K) - 1 / K)) <= STRUCT_RTOL
    assert rel(sol.class_means, np.sqrt(lw / (n * lh)) * W.T) <= STRUCT_RTOL
    # NC1: every feature equals its class mean
    assert rel(sol.features, sol.class_means[:, p.labels()]) <= STRUCT_RTOL
    if bias == "regularized":
        assert np.max(np.abs(sol.bias)) <= 1e-8


def test_balanced_ce_above_threshold_is_zero():
    """K c >= 1: the global minimiser is W = H = 0 with value log K (theory.md section 1)."""
    K, n = 4, 25
    lw = lh = 0.06  # c = sqrt(25 * 0.0036) = 0.3, K c = 1.2
    p = ufm.Problem.balanced(K, n, 6, lambda_W=lw, lambda_H=lh)
    sol = solve(p, restarts=2)
    assert abs(sol.objective - np.log(K)) <= OBJ_RTOL * np.log(K)
    assert np.max(np.abs(sol.product)) <= 1e-5


# ----------------------------------------------------------------------------- MSE, M = 1
def mse_reference(counts, lw, lh, bias):
    """Independent reference for one-layer MSE: with Y' = Z D^{1/2} the reduced problem (theory.md section 0)
    is min 1/(2N)||Y' - A||_F^2 + c ||Y'||_*, c = sqrt(lw lh), whose solution is singular-value soft
    thresholding of A at N c; A = D^{1/2} (bias-free) or D^{1/2}(I - u u^T/N), u = sqrt(n) (free bias,
    the optimal bias removed). Returns the optimal value and Z = W Hbar."""
    n = np.asarray(counts, float)
    N = n.sum()
    c = np.sqrt(lw * lh)
    A = np.diag(np.sqrt(n))
    if bias == "free":
        u = np.sqrt(n)
        A = A @ (np.eye(len(n)) - np.outer(u, u) / N)
    U, s, Vt = np.linalg.svd(A)
    s_new = np.maximum(s - N * c, 0)
    Yp = U @ np.diag(s_new) @ Vt
    value = np.sum(np.minimum(s, N * c) ** 2) / (2 * N) + c * np.sum(s_new)
    return value, Yp @ np.diag(1 / np.sqrt(n))


@pytest.mark.parametrize("counts,lw,lh,bias", [
    ((5, 5, 5, 5), 1e-3, 2e-3, "none"),
    ((8, 4, 2, 1), 1e-3, 1e-3, "none"),
    ((8, 4, 2, 1), 4e-3, 3e-3, "none"),     # class 4 below threshold n_k <= N^2 lw lh: zeroed
    ((5, 5, 5, 5), 1e-3, 2e-3, "free"),
    ((9, 6, 3, 2), 5e-4, 2e-3, "free"),
])
def test_mse_one_layer_closed_forms(counts, lw, lh, bias):
    d = 6
    p = ufm.Problem(counts=counts, d=d, loss="mse", bias=bias, lambda_W=lw, lambda_H=lh)
    sol = solve(p, restarts=2, seed=3)
    value, Z = mse_reference(counts, lw, lh, bias)
    assert sol.status == "converged"
    assert abs(sol.objective - value) <= OBJ_RTOL * abs(value)
    assert rel(class_logits(sol), Z) <= STRUCT_RTOL
    n = np.asarray(counts, float)
    N = n.sum()
    if bias == "none":  # theory.md section 2, M = 1: (W Hbar)_kk = (1 - N sqrt(lw lh / n_k))_+
        assert rel(np.diag(class_logits(sol)), np.maximum(1 - N * np.sqrt(lw * lh / n), 0)) <= STRUCT_RTOL
    if bias == "free" and len(set(counts)) == 1:  # b* = 1/K, W Hbar = rho (I - J/K)
        K = len(counts)
        rho = 1 - K * np.sqrt(counts[0] * lw * lh)
        assert rel(sol.bias, np.full(K, 1 / K)) <= STRUCT_RTOL
        assert rel(class_logits(sol), rho * (np.eye(K) - 1 / K)) <= STRUCT_RTOL
    # balancedness of the factorisation: W W^T = sqrt(lh/lw) (Z D Z^T)^{1/2}
    W = sol.classifier
    ZD = Z @ np.diag(n) @ Z.T
    ev, V = np.linalg.eigh(ZD)
    root = V @ np.diag(np.sqrt(np.maximum(ev, 0))) @ V.T
    assert rel(W @ W.T, np.sqrt(lh / lw) * root) <= STRUCT_RTOL


# ----------------------------------------------------------------------------- deep MSE
@pytest.mark.parametrize("M", [2, 3])
def test_deep_mse_balanced_orthogonal_frame(M):
    """theory.md section 2, balanced bias-free: W Hbar = x^M/(x^M+1) I with x the global minimiser of
    g(x) = n/(2N(x^M+1)) + (M lw/2)(N lh)^{1/M} x."""
    K, n, d, lw, lh = 3, 4, 4, 2e-3, 2e-3
    N = K * n
    p = ufm.Problem.balanced(K, n, d, loss="mse", depth=M, lambda_W=lw, lambda_H=lh)
    sol = solve(p, restarts=3, seed=0, init_scale=0.5)

    def g(x):
        return n / (2 * N * (x ** M + 1)) + (M * lw / 2) * (N * lh) ** (1 / M) * x

    grid = np.linspace(0, 50, 200001)
    x0 = grid[np.argmin(g(grid))]
    x = minimize_scalar(g, bracket=(max(x0 - 1e-3, 0), x0, x0 + 1e-3)).x if x0 > 0 else 0.0
    predicted_value = K * g(x) * 1.0
    assert sol.status in ("converged", "stalled")
    assert abs(sol.objective - predicted_value) <= OBJ_RTOL * predicted_value
    assert rel(class_logits(sol), x ** M / (x ** M + 1) * np.eye(K)) <= STRUCT_RTOL


# ----------------------------------------------------------------------------- fixed classifier
def test_fixed_etf_classifier_ce_against_scalar_problem():
    """With W fixed to a unit simplex ETF and balanced CE, h_k = a w_k where a minimises
    log(1 + (K-1) exp(-a K/(K-1))) + lambda_H N a^2 / 2 / ... per class (1-D, solved by scipy)."""
    K, n, d, lh = 4, 3, 5, 1e-2
    p = ufm.Problem.balanced(K, n, d, loss="ce", classifier="etf", lambda_W=0.0, lambda_H=lh)
    sol = solve(p)
    N = K * n

    def f(a):  # (1/N) sum_i CE + lh/2 ||H||^2 with every h_i = a w_{y_i}, ||w|| = 1
        return np.log1p((K - 1) * np.exp(-a * K / (K - 1))) + lh / 2 * N * a ** 2

    ref = minimize_scalar(f, bounds=(0, 100), method="bounded", options={"xatol": 1e-14})
    assert abs(sol.objective - ref.fun) <= 1e-10
    assert rel(sol.class_means, ref.x * sol.classifier.T) <= 1e-6
    np.testing.assert_array_equal(sol.classifier, ufm.geometry.simplex_etf(K, d))


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
    assert a.distinct_objectives(rtol=1e-9)[0][1] == 3  # one basin: all restarts agree


def test_reference_solvers_reach_closed_form():
    """GD with momentum (Dang et al.'s recipe, lr 0.1 / 0.9) and Adam: same loop and stopping rule."""
    K, n, d, lw, lh = 3, 2, 4, 1e-2, 1e-2
    p = ufm.Problem.balanced(K, n, d, lambda_W=lw, lambda_H=lh)
    f, _ = zhu_balanced_ce(K, n, lw, lh)
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
    sol = solve(p, max_iter=3)
    assert sol.status == "max_iter" and sol.iterations == 3


def test_warm_start_from_solution_converges_at_once():
    p = ufm.Problem.balanced(4, 5, 6, lambda_W=1e-2, lambda_H=1e-2)
    sol = solve(p)
    again = solve(p, init=sol.params())
    assert again.iterations <= 2 and abs(again.objective - sol.objective) <= 1e-14


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
    ("seed", 1.5), ("precision", "float16"), ("init_scale", -1.0),
])
def test_bad_solver_options(field, value):
    with pytest.raises(ufm.ProblemError, match=field):
        SolverOptions(**{field: value})


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
    x, f, gn, it, status = run_once(problem, x0, options)
    xt, ft, gnt, itt, statust, values, gnorms, kept = trace_run(problem, x0, options, num_iter=it + 20,
                                                                 keep=(0, 5, it + 10))
    assert (f, gn, it, status) == (ft, gnt, itt, statust) and status == "converged"
    np.testing.assert_array_equal(x["H"], xt["H"])
    assert values.shape == (it + 21,) and values[it] == f and np.all(values[it:] == f)
    # the line search's sufficient decrease holds up to rounding: near the optimum f changes by ~1 ulp
    assert np.all(np.diff(values[: it + 1]) <= 4 * np.finfo(float).eps * abs(f))
    assert values[0] > 5 * f and gnorms[it] <= options.gtol < gnorms[it - 1]
    # kept iterates: the start, iterate 5 (= run_once stopped after 5 iterations), the final one past the stop
    assert [k for k, _ in kept] == [0, 5, it]
    np.testing.assert_array_equal(kept[0][1]["H"], np.asarray(x0["H"]))
    five = run_once(problem, x0, SolverOptions(max_iter=5, gtol=0.0))[0]
    np.testing.assert_array_equal(kept[1][1]["H"], five["H"])
    np.testing.assert_array_equal(kept[2][1]["H"], x["H"])
    with pytest.raises(ufm.ProblemError, match="num_iter"):
        trace_run(problem, x0, options, num_iter=0)
    with pytest.raises(ufm.ProblemError, match="keep"):
        trace_run(problem, x0, options, keep=(-1,))
