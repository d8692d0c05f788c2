"""Size limits of a sweep (grid points, estimated memory) refused up front with one line that says what is
needed and how to override; out-of-memory errors of a batch become failed rows and one line on stderr."""

import subprocess
import sys
import time

import pandas as pd
import pytest

import ufm
from ufm.cli import main
from ufm.errors import ResourceError
from ufm.solver import SolverOptions
from ufm.sweep import engine, merge, parse_spec, run_sweep

SMALL = """
[base]
counts = [3, 2]
d = 2
loss = "mse"

[axes]
lambda = [1e-3, 1e-2]
"""


def _main(tmp_path, text, *flags):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    return main(["sweep", str(spec), "--out", str(tmp_path / "out"), "-q", *flags])


@pytest.fixture(autouse=True)
def _one_device(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")


def test_huge_linspace_refused_in_one_line_by_the_command_line(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("[base]\ncounts = [2, 2]\nd = 2\n[axes]\nlambda = {linspace = [0, 1, 100000000]}\n")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "ufm", "sweep", str(spec), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - t0 < 60
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "ufm sweep: error: sweep too large: the grid has 100,000,000 points, more than max_points = 1,000,000; to "
        "run it anyway set [sweep] max_points = 100000000 in the spec or pass --max-points 100000000"]
    assert not (tmp_path / "o").exists()


def test_max_points_flag_and_key(tmp_path, capsys):
    assert _main(tmp_path, SMALL, "--max-points", "1") == 2
    assert "the grid has 2 points, more than max_points = 1" in capsys.readouterr().err
    assert _main(tmp_path, SMALL + "[sweep]\nmax_points = 1\n") == 2
    assert "more than max_points = 1" in capsys.readouterr().err
    assert _main(tmp_path, SMALL, "--max-points", "0") == 2
    assert capsys.readouterr().err.strip() == "ufm sweep: error: invalid --max-points: must be an integer >= 1, got 0"
    assert _main(tmp_path, SMALL, "--max-memory-gb", "nan") == 2
    assert "invalid --max-memory-gb" in capsys.readouterr().err


def test_huge_point_refused_before_any_solve(tmp_path, capsys):
    text = ("[base]\nloss = 'mse'\ndepth = 2\n[axes]\nd = [2, 100000]\ncounts = [[3, 2], [100000, 100000], [2]]\n")
    t0 = time.perf_counter()
    assert _main(tmp_path, text) == 2
    assert time.perf_counter() - t0 < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("ufm sweep: error: sweep too large: point_id ")
    assert "d = 100000" in err[0] and "ufm.limits" in err[0] and "--max-memory-gb" in err[0]
    assert not (tmp_path / "out" / "chunks").exists()  # nothing solved, not even the invalid rows written


def test_memory_limit_overrides(tmp_path):
    spec = parse_spec(SMALL)
    with pytest.raises(ResourceError, match=r"more than the limit of 1e-09 GB \(--max-memory-gb\)"):
        run_sweep(spec, tmp_path / "a", progress=False, max_memory_gb=1e-9)
    with pytest.raises(ResourceError, match=r"\(\[sweep\] max_memory_gb\)"):
        run_sweep(parse_spec(SMALL + "[sweep]\nmax_memory_gb = 1e-9\n"), tmp_path / "b", progress=False)
    # the flag wins over the key
    summary = run_sweep(parse_spec(SMALL + "[sweep]\nmax_memory_gb = 1e-9\n"), tmp_path / "b", progress=False,
                        max_memory_gb=1.0)
    assert summary["rows_computed"] == 2


def test_memory_estimate():
    p = ufm.Problem(counts=(30, 20), d=4, depth=3, loss="mse")
    opts = SolverOptions(memory=10)
    params = 4 * 4 * 3 + 4 * 50 + 2 * 4 + 2
    from ufm import limits

    assert engine.solve_bytes(p, opts) == limits.estimate_bytes(p, reduce=True, memory=opts.memory)
    assert engine.batch_bytes(p, opts, 32, "vmap", 2) > engine.batch_bytes(p, opts, 32, "map", 2)
    assert limits.max_memory_gb() > 0.1


def test_out_of_memory_batch_is_failed_rows_and_one_line(tmp_path, capsys, monkeypatch):
    from jax.errors import JaxRuntimeError

    real = engine.solve_batch
    calls = []

    def oom(problems, *a, **kw):
        calls.append(len(problems))
        if len(calls) == 1:
            raise JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8589934592 bytes.\n"
                                  "BufferAssignment OOM Debugging.\n...")
        return real(problems, *a, **kw)

    monkeypatch.setattr(engine, "solve_batch", oom)
    assert _main(tmp_path, SMALL.replace("lambda = [1e-3, 1e-2]", "lambda = [1e-3, 1e-2, 0.1]"),
                 "--chunk-size", "2") == 1  # failed rows: exit 1, a rerun computes them
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 2 and "Traceback" not in captured.err
    assert err[1].startswith("ufm sweep: error: 2 rows failed (first: point_id 0 restart 0: JaxRuntimeError: "
                             "RESOURCE_EXHAUSTED")
    assert err[0].startswith("ufm sweep: a batch of 2 points (point_id 0..1) failed (out of memory: a smaller "
                             "--chunk-size or fewer --devices may fit): JaxRuntimeError: RESOURCE_EXHAUSTED: Out of "
                             "memory while trying to allocate 8589934592 bytes.; recorded as status = failed rows")
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert list(df["status"])[:2] == ["failed", "failed"] and df["status"][2] == "converged"
    assert df["error"][0].startswith("JaxRuntimeError: RESOURCE_EXHAUSTED") and "\n" not in df["error"][0]
    monkeypatch.setattr(engine, "solve_batch", real)
    assert _main(tmp_path, SMALL.replace("lambda = [1e-3, 1e-2]", "lambda = [1e-3, 1e-2, 0.1]"),
                 "--chunk-size", "2") == 0
    assert "2 rows computed, 1 already done" in capsys.readouterr().out  # the failed rows, again
    df = merge(tmp_path / "out")
    assert list(df["status"]) == ["converged"] * 3 and len(df) == 3
