"""Smoke tests of bench/: the baselines compute exactly ufm's objective, every script runs on tiny problems.

No timing is asserted (timings belong in docs/benchmarks.md). torch and cvxpy come with the ``bench`` extra;
tests that need them are skipped without it.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ufm

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import baselines as B  # noqa: E402
import cases  # noqa: E402

from ufm import objective as obj  # noqa: E402
from ufm import zoo  # noqa: E402

PROBLEMS = {
    "ce-none": ufm.Problem(counts=(5, 3, 2), d=4, loss="ce", bias="none", lambda_W=3e-3, lambda_H=7e-3),
    "mse-free-deep": ufm.Problem(counts=(4, 4, 1), d=5, depth=3, loss="mse", bias="free",
                                 lambda_W=(1e-3, 2e-3, 3e-3), lambda_H=4e-3),
    "ce-regularized": ufm.Problem(counts=(2, 6), d=3, loss="ce", bias="regularized", lambda_W=1e-2, lambda_H=2e-3,
                                  lambda_b=5e-2),
    "ce-fixed-etf": ufm.Problem.balanced(3, 4, 3, loss="ce", classifier="etf", lambda_W=0.0, lambda_H=5e-3),
}


def _random_point(problem, seed=1):
    """A start with a non-zero bias, so every term of the objective is exercised."""
    import jax

    params = jax.tree_util.tree_map(np.asarray, obj.init_params(problem, jax.random.PRNGKey(seed), 0.7))
    if "b" in params:
        params["b"] = np.random.default_rng(seed).standard_normal(problem.K)
    return params


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_numpy_objective_and_gradient_equal_ufm(name):
    """The scipy baseline's hand-written value and gradient = ufm's objective and jax.grad, to 1e-12 relative
    (float64 rounding of sums of ~N terms: ~1e-15)."""
    import jax

    problem = PROBLEMS[name]
    x = _random_point(problem)
    value, grad = B.numpy_value_and_grad(B.numpy_params(x), B.Arrays.of(problem))
    params = obj.params_from_arrays(problem, x["W"], x["H"], x.get("b"))
    f = obj.make_objective(problem.loss, problem.bias)
    ref_value = float(f(params, obj.problem_data(problem)))
    ref_grad = jax.grad(f)(params, obj.problem_data(problem))
    assert abs(value - ref_value) <= 1e-12 * abs(ref_value)
    for mine, ref in zip(list(grad["W"]) + [grad["H"]], list(ref_grad["W"]) + [ref_grad["H"]]):
        np.testing.assert_allclose(mine, np.asarray(ref), rtol=1e-10, atol=1e-14)
    if "b" in x:
        np.testing.assert_allclose(grad["b"], np.asarray(ref_grad["b"]), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_torch_objective_equals_ufm(name):
    """torch LBFGS's closure value (float64) = ufm's objective to 1e-12; the SGD recipe's start value is
    ufm's objective of the start."""
    pytest.importorskip("torch")
    problem = PROBLEMS[name]
    x = _random_point(problem)
    ref = obj.evaluate(problem, x["W"], x["H"], x.get("b"))
    trace = B.torch_lbfgs(problem, x, max_iter=1)
    assert abs(trace.values[0] - ref) <= 1e-12 * abs(ref)
    sgd = B.torch_sgd_recipe(problem, x, steps=3, dtype="float64")
    assert abs(sgd.values[0] - ref) <= 1e-12 * abs(ref)


def test_baselines_reach_the_closed_form_on_a_tiny_problem():
    """Every baseline converges where it should: the float64 quasi-Newton methods to 1e-10 of Zhu et al.'s
    closed form, the float32 SGD recipe to 1e-5 within the first 3,000 of its 30,000 steps (its float64-evaluated
    iterates never below the optimum by more than rounding; about 1,500 steps are needed on the zoo's ce-K4-n5,
    and a step costs ~4 ms of torch overhead here, so the whole recipe would take the test 60 s), cvxpy
    (Clarabel) to 1e-6."""
    pytest.importorskip("torch")
    ufm.enable_x64()
    problem = cases.problem("tiny-bal-ce")
    f_star, source, _ = cases.reference("tiny-bal-ce")
    assert source == "zhu2021_balanced_ce"
    start = cases.start(problem)
    for fn in (B.scipy_lbfgsb, B.torch_lbfgs):
        tr = fn(problem, start, budget=30)
        assert (tr.best() - f_star) / f_star < 1e-10, tr.method
        assert tr.time_to(1e-8, f_star) < np.inf
    sgd = B.torch_sgd_recipe(problem, start, steps=3000, budget=60)
    assert sgd.time_to(1e-5, f_star) < np.inf
    assert (sgd.best() - f_star) / f_star > -1e-14
    if pytest.importorskip("cvxpy"):
        cv = B.cvxpy_convex(problem, tol=1e-9)
        assert cv.info == "optimal" and abs(cv.best() - f_star) / f_star < 1e-6


def test_trace_time_to():
    tr = B.Trace("x", np.array([0.0, 1.0, 2.0, 3.0]), np.array([2.0, 1.5, 1.0 + 1e-9, 1.0]))
    assert tr.time_to(1e-4, 1.0) == 2.0 and tr.time_to(0.0, 1.0) == 3.0 and tr.time_to(1e-4, 0.5) == np.inf


def test_bench_accuracy_smoke(tmp_path):
    """bench_accuracy.py runs end to end on the smoke cases and writes its JSON (structure checked, no times)."""
    pytest.importorskip("torch")
    pytest.importorskip("cvxpy")
    out = tmp_path / "acc.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_accuracy.py"), "--cases", "tiny-imb-mse",
                        "--budget", "5", "--repeats", "1", "--repeat-below", "0", "--sgd-steps", "2000",
                        "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    case = res["cases"][0]
    assert case["reference_source"] == zoo.get("mse-imbalanced").prediction  # the zoo entry's prediction
    assert set(case["methods"]) == {"ufm", "scipy", "torch_lbfgs", "torch_sgd", "cvxpy"}
    assert case["methods"]["ufm"]["best_gap"] < 1e-12 and case["methods"]["ufm"]["status"] == "converged"
    assert np.isfinite(case["methods"]["ufm"]["time_to"]["1e-12"])
    assert "tiny-imb-mse" in r.stdout


@pytest.mark.slow  # 12 s on 2 cores; the default suite keeps the accuracy, reduction and large-K smoke runs
def test_bench_scale_smoke(tmp_path):
    """bench_scale.py: the roofline on the small size and a one-step ladder run and report."""
    pytest.importorskip("torch")
    out = tmp_path / "roof.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_scale.py"), "roofline", "--sizes", "small",
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    row = json.loads(out.read_text())["rows"][0]
    assert row["K"] == 10 and row["floor_s"] > 0 and row["ufm_iter_over_floor"] > 0
    out = tmp_path / "ladder.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_scale.py"), "ladder", "--ladder", "5x4",
                        "--limit", "300", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    row = json.loads(out.read_text())["rows"][0]
    assert row["solved"] and row["gap"] <= 1e-8, row


def test_cases_are_zoo_entries_with_applicable_predictions():
    """Every benchmark case is a zoo entry: the smoke cases are the zoo's own problems, the benchmark sizes
    name a ufm.theory prediction that applies to them (or None: best found), and ``zoo:<name>`` selects any
    zoo entry; reference values come from ufm.theory.PREDICTIONS, never from bench code."""
    from ufm.theory import PREDICTIONS

    for name, zoo_name in cases.FROM_ZOO.items():
        assert cases.entry(name) is zoo.get(zoo_name)
    for name in cases.BENCH:
        e = cases.entry(name)
        assert "bench" in e.tags and e.name == name
        if e.prediction is not None:
            ok, why = PREDICTIONS[e.prediction].applies(e.problem)
            assert ok, (name, why)
    assert cases.entry("zoo:ce-K6-n2") is zoo.get("ce-K6-n2")
    f_star, source, _ = cases.reference("zoo:ce-K6-n2")
    assert source == "zhu2021_balanced_ce" and f_star == PREDICTIONS[source].predict(zoo.get("ce-K6-n2").problem)[
        "objective"]
    assert cases.reference("large-bal-ce")[:2] == (None, "best found")


def test_unknown_case_and_method_are_clear_errors():
    with pytest.raises(ufm.ProblemError, match="case"):
        cases.problem("huge")
    with pytest.raises(ufm.ProblemError, match="zoo entry"):
        cases.problem("zoo:huge")
    import bench_accuracy

    with pytest.raises(ufm.ProblemError, match="methods"):
        bench_accuracy.main(["--cases", "tiny-bal-ce", "--methods", "sgd"])


@pytest.mark.slow  # 20 s on 2 cores (fresh processes with fresh caches)
def test_bench_compile_smoke(tmp_path):
    """bench_compile.py: fresh-process `ufm solve` (first and second run on a new cache directory), `ufm check
    --only` twice, and Solution.compile_time of one shape, on tiny sizes; structure only, no timings."""
    out = tmp_path / "compile.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_compile.py"), "--repeats", "1", "--runs", "2",
                        "--skip-no-cache", "--same-shape-args", "", "--solve-args", "--classes 3 --per-class 2 --dim 3",
                        "--check-only", "zhu2021-zero-saddle", "--shapes", "tiny", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    runs = res["solve"]["series"][0]["runs"]
    assert [row["run"] for row in runs] == [1, 2] and all(row["process_s"] > 0 and "compile_s" in row for row in runs)
    assert res["solve"]["series"][0]["cache_entries"] > 0  # the first run filled the fresh cache directory
    check = res["check"]["series"][0]["runs"]
    assert len(check) == 2 and all(row["ok"] and row["returncode"] == 0 for row in check)
    shape = res["shapes"][0]
    assert shape["shape"] == "tiny" and shape["cold"]["status"] == "converged"
    assert shape["cold"]["compile_time"] > 0 and shape["warm"]["compile_time"] >= 0


@pytest.mark.slow  # 13 s on 2 cores
def test_bench_reduction_smoke(tmp_path):
    """bench_reduction.py: part n on two tiny sizes and the equal-accuracy single solves of the smoke cases
    (every method reaches the 1e-10 target; ufm solves the class-reduced problem, ufm_full the full one)."""
    pytest.importorskip("torch")
    out = tmp_path / "red.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_reduction.py"), "--cases", "tiny-bal-ce",
                        "--n-cases", "tiny-bal-ce,zoo:ce-K6-n2", "--repeats", "1", "--budget", "10",
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert [row["case"] for row in res["n"]["rows"]] == ["tiny-bal-ce", "zoo:ce-K6-n2"]
    assert all(row["lift_s"] >= 0 and max(row["gaps"]) < 1e-10 for row in res["n"]["rows"])
    case = res["solve"][0]
    assert case["reference_source"] == "zhu2021_balanced_ce"
    assert set(case["methods"]) == {"ufm", "ufm_full", "torch_lbfgs", "scipy"}
    assert all(m["reached"] for m in case["methods"].values()), case["methods"]
    assert case["methods"]["ufm"]["reduced"] and not case["methods"]["ufm_full"]["reduced"]


@pytest.mark.slow  # 8 s on 2 cores
def test_bench_large_k_smoke(tmp_path):
    """bench_large_k.py: one tiny grid point measured (evaluation and iteration times, peak memory), and a
    point refused by ufm.limits recorded as a failure with its reason."""
    out = tmp_path / "lk.json"
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_large_k.py"), "--grid", "10x4x2", "--modes",
                        "eval", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    row = json.loads(out.read_text())["rows"][0]
    assert row["ok"] and row["params_reduced"] == 80 and row["eval_s"] > 0 and row["rss_after_lbfgs_gb"] > 0
    r = subprocess.run([sys.executable, os.path.join(BENCH, "bench_large_k.py"), "--grid", "10x4x2", "--modes",
                        "solve", "--max-memory-gb", "1e-6", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    row = json.loads(out.read_text())["rows"][0]
    assert not row["ok"] and "ResourceError" in row["failure"]


def test_bench_streamed_smoke(tmp_path):
    """bench_streamed.py: one tiny point timed; the fused, checkpointed and dense evaluations agree."""
    import bench_streamed

    row = bench_streamed.one(12, 3, dense_max=12, repeats=1)
    assert set(row["median_s"]) == {"floor", "fused", "checkpoint", "value", "dense"}
    assert max(v for v in row["max_grad_diff"].values()) <= 1e-13  # the same gradient, blocks summed in turn
