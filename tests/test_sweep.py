"""Sweeps: spec validation, rows, resumability (including kill -9), batched == single solves, two processes
with jax.distributed == one process, the phase diagram."""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import ufm
from ufm.errors import FlagError, SpecError
from ufm.sweep import merge, parse_spec, read_chunks, run_sweep

SPEC = """
[base]
counts = [4, 4, 2]
d = 3
loss = "mse"

[axes]
lambda = {logspace = [-3, -2, 4]}
depth = [1, 2]
bias = ["none", "free"]

[solver]
restarts = 2
seed = 0

[predictions]
names = ["dang2023_mse_imbalanced"]
"""
N_ROWS = 4 * 2 * 2 * 2


def write_spec(tmp_path, text=SPEC):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_spec_errors_name_the_key():
    for text, key in [("[axes]\nfoo = [1]", "axes.foo"), ("[base]\nlos = 'ce'", "base.los"),
                      ("[axes]\nd = {range = [1, 2]}", "axes.d"), ("[solver]\nrestart = 2", "solver.restart"),
                      ("[predictions]\nnames = ['nope']", "predictions.names"), ("[bogus]\n", "bogus"),
                      ("[axes]\nd = [2, 3]\n[sweep]\nzip = [['d', 'depth']]", "sweep.zip"), ("[base\n", "spec")]:
        with pytest.raises(SpecError, match=key.replace("[", r"\[")):
            parse_spec(text)


def test_grid_zip_and_derived_fields():
    spec = parse_spec("[base]\nK = 4\nn = 10\nd = 4\n[axes]\nratio = [1, 5]\nlambda_W = [1e-3, 1e-2]\n"
                      "lambda_H = [1e-3, 1e-2]\n[sweep]\nzip = [['lambda_W', 'lambda_H']]")
    pts = spec.points()
    assert len(pts) == 4 and pts[0] == {"lambda_W": 1e-3, "lambda_H": 1e-3, "ratio": 1}
    assert spec.problem(pts[1]).counts == (10, 10, 2, 2)


def test_sweep_rows_resume_and_invalid_points(tmp_path):
    spec = parse_spec(SPEC.replace('bias = ["none", "free"]', 'bias = ["none", "free", "regularized"]'))
    out = tmp_path / "out"
    first = run_sweep(spec, out, chunk_size=3, progress=False, stop_after=2)  # an "interruption"
    assert first == {"stopped": True}
    partial = read_chunks(out)
    assert 0 < len(partial) < 4 * 2 * 3 * 2
    summary = run_sweep(spec, out, chunk_size=3, progress=False)
    assert summary["rows_skipped"] == len(partial)
    df = merge(out)
    assert len(df) == 4 * 2 * 3 * 2 and not df.duplicated(["point_id", "restart"]).any()
    bad = df[df["axis_bias"] == "regularized"]  # lambda_b = 0 with bias regularized: invalid point rows
    assert (bad["status"] == "invalid").all() and bad["error"].str.contains("lambda_b").all()
    good = df[(df["axis_bias"] == "none") & (df["status"] == "converged")]
    assert (good["pred_dang2023_mse_imbalanced_applies"]).all()
    assert run_sweep(spec, out, progress=False)["rows_computed"] == 0
    with pytest.raises(FlagError, match="different spec"):
        run_sweep(parse_spec(SPEC.replace("seed = 0", "seed = 1")), out, progress=False)


def test_batched_equals_single_solves():
    from ufm import objective as obj
    from ufm.solver import SolverOptions, run_once
    from ufm.sweep.batch import solve_batch

    import jax

    problems = [ufm.Problem(counts=(4, 4, 2), d=3, loss="ce", lambda_W=lam, lambda_H=lam) for lam in (1e-3, 3e-3, 1e-2)]
    x0s = [obj.init_params(p, jax.random.PRNGKey(i), 0.3) for i, p in enumerate(problems)]
    opts = SolverOptions()
    for inner in ("map", "vmap"):
        for got, p, x0 in zip(solve_batch(problems, x0s, opts, inner=inner), problems, x0s):
            ref = run_once(p, x0, opts)
            assert got.status == ref.status == "converged"
            assert abs(got.objective - ref.objective) <= 1e-12 * abs(ref.objective)
            if inner == "map":  # the same program per problem: bit for bit
                assert got.iterations == ref.iterations
                np.testing.assert_array_equal(got.params["H"], ref.params["H"])
            else:  # vmap sums in another order: 1e-16 differences move the iterate along the rotation orbit of
                # the optimum (exactly flat), so compare what is rotation invariant, to ~sqrt(gtol)
                logits = [np.asarray(x["W"][0]) @ np.asarray(x["H"]) for x in (got.params, ref.params)]
                np.testing.assert_allclose(logits[0], logits[1], rtol=0, atol=1e-8)


def test_sweep_row_equals_the_matching_ufm_solve_bit_for_bit(tmp_path):
    """One seeding rule: row (point, r) of a sweep with seed S is run r of `ufm solve --seed S --restarts R`,
    bit for bit (same start, same loop, same reduction, rebalancing, polish and saddle check)."""
    from ufm.solver import solve

    spec = parse_spec("[base]\ncounts = [4, 3, 2]\nd = 3\nloss = 'ce'\nlambda_W = 2e-3\n"
                      "[axes]\nlambda_H = [1e-3, 4e-3]\n[solver]\nrestarts = 3\nseed = 11\n")
    run_sweep(spec, tmp_path, progress=False, inner="map")
    df = merge(tmp_path)
    for pid, lh in enumerate((1e-3, 4e-3)):
        sol = solve(ufm.Problem(counts=(4, 3, 2), d=3, loss="ce", lambda_W=2e-3, lambda_H=lh), restarts=3, seed=11)
        rows = df[df["point_id"] == pid].sort_values("restart")
        assert list(rows["objective"]) == list(sol.restart_objectives)  # exact equality
        assert list(rows["iterations"]) == list(sol.restart_iterations)


def _cli(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "ufm", "sweep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or os.environ.copy(), **kw)


def test_kill_minus_nine_and_rerun(tmp_path):
    """SIGKILL the sweep after its first chunk; the rerun computes only the missing rows, each exactly once."""
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    proc = _cli(str(spec), "--out", str(out), "--chunk-size", "2", "-q")
    chunks = out / "chunks"
    t0 = time.time()
    while time.time() - t0 < 300:
        if chunks.exists() and len(list(chunks.glob("chunk-*.parquet"))) >= 2:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(read_chunks(out))
    assert 0 < before < N_ROWS, "the kill should land mid-sweep"
    assert not (out / "results.parquet").exists()
    done = _cli(str(spec), "--out", str(out), "--chunk-size", "2", "-q")
    stdout, stderr = done.communicate(timeout=600)
    assert done.returncode == 0, stderr
    assert f"{N_ROWS - before} rows computed, {before} already done" in stdout
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == N_ROWS and not df.duplicated(["point_id", "restart"]).any()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    spec = write_spec(tmp_path)
    single = _cli(str(spec), "--out", str(tmp_path / "one"), "-q")
    assert single.wait(timeout=600) == 0, single.stderr.read()
    port = _free_port()
    env = os.environ.copy()
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    procs = [_cli(str(spec), "--out", str(tmp_path / "two"), "-q", "--coordinator", f"127.0.0.1:{port}",
                  "--num-processes", "2", "--process-id", str(i), env=env) for i in range(2)]
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()
    a = pd.read_parquet(tmp_path / "one" / "results.parquet")
    b = pd.read_parquet(tmp_path / "two" / "results.parquet")
    assert len(a) == len(b) == N_ROWS
    assert set(b["point_id"] % 2) == {0, 1}
    np.testing.assert_allclose(a["objective"], b["objective"], rtol=1e-12)
    assert (a["status"] == b["status"]).all()


def test_simulated_host_devices(tmp_path):
    """Four simulated host devices (XLA_FLAGS) shard each batch; same rows as the default run."""
    spec = write_spec(tmp_path)
    env = os.environ.copy()
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    p = _cli(str(spec), "--out", str(tmp_path / "four"), "-q", "--chunk-size", "8", env=env)
    assert p.wait(timeout=600) == 0, p.stderr.read()
    ref = run_sweep(parse_spec(SPEC), tmp_path / "ref", progress=False)
    assert ref["rows_computed"] == N_ROWS
    a = merge(tmp_path / "ref")
    b = pd.read_parquet(tmp_path / "four" / "results.parquet")
    np.testing.assert_allclose(a["objective"], b["objective"], rtol=1e-12)


def test_phase_diagram_renders(tmp_path):
    from ufm.plot.phase import minority_collapse_threshold, phase_diagram

    spec = parse_spec(SPEC.replace('bias = ["none", "free"]', 'ratio = [1, 4]').replace(
        "counts = [4, 4, 2]", "K = 4\nn = 8"))
    run_sweep(spec, tmp_path / "o", progress=False)
    df = merge(tmp_path / "o")
    fig = phase_diagram(df[df["axis_depth"] == 2], "axis_lambda", "axis_ratio", "diag_WHbar_min",
                        threshold=minority_collapse_threshold(4, 8, 2), logx=True, logy=True)
    fig.savefig(tmp_path / "phase.png")
    assert (tmp_path / "phase.png").stat().st_size > 5000
    curve = minority_collapse_threshold(4, 8, 2)(np.array([1e-3, 1e-2]))
    assert curve[0] > curve[1]  # more decay collapses the minority at smaller imbalance
    with pytest.raises(ufm.ProblemError, match="column"):
        phase_diagram(df, "axis_lambda", "nope", "objective")
