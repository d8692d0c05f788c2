"""`ufm solve` end to end: JSON schema, save file, error messages for bad flags."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ufm.cli import main


def run_cli(*args):
    """Run the real console entry point in a subprocess (as a user would) and return (rc, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "ufm.cli", *args], capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def test_solve_json_schema_and_values(capsys):
    rc = main(["solve", "--classes", "3", "--per-class", "4", "--dim", "4", "--lambda-w", "1e-2",
               "--lambda-h", "1e-2", "--restarts", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    for key in ("objective", "grad_norm", "iterations", "status", "restart_objectives", "metrics", "weights",
                "features", "bias", "class_means"):
        assert key in out
    for key in ("nc1", "nc2_etf", "nc3", "nc4"):
        assert key in out["metrics"]
    assert out["status"] == "converged" and len(out["restart_objectives"]) == 2
    K, n, d = 3, 4, 4
    W = np.array(out["weights"][-1])
    H = np.array(out["features"])
    assert W.shape == (K, d) and H.shape == (d, K * n) and np.array(out["class_means"]).shape == (d, K)
    assert out["bias"] is None
    # closed form (docs/theory.md section 5): the JSON carries the optimum, not an approximation
    c = np.sqrt(n * 1e-2 * 1e-2)
    f = -np.log(1 - (K - 1) * c) + (K - 1) * c * np.log((1 - (K - 1) * c) / c)
    assert abs(out["objective"] - f) <= 1e-8 * f
    assert out["metrics"]["nc1"] <= 1e-8


def test_solve_deep_counts_and_save(tmp_path, capsys):
    path = tmp_path / "sol.npz"
    rc = main(["solve", "--counts", "5,3,2", "--dim", "4", "--depth", "2", "--loss", "mse", "--bias", "free",
               "--lambda-w", "1e-3,2e-3", "--lambda-h", "1e-3", "--save", str(path), "-q"])
    text = capsys.readouterr().out
    assert rc == 0 and "objective" in text and "saved" in text
    data = np.load(path)
    assert data["W1"].shape == (4, 4) and data["W2"].shape == (3, 4) and data["H"].shape == (4, 10)
    meta = json.loads(str(data["meta"]))
    assert meta["problem"]["lambda_W"] == [1e-3, 2e-3] and meta["status"] in ("converged", "stalled")


@pytest.mark.parametrize("args,message", [
    (["--classes", "1"], "invalid --classes"),
    (["--counts", "4,0,3"], "invalid --counts"),
    (["--counts", "4,x"], "invalid --counts"),
    (["--lambda-w", "-1"], "invalid --lambda-w"),
    (["--lambda-w", "nan"], "invalid --lambda-w"),
    (["--depth", "2", "--lambda-w", "1,2,3"], "invalid --lambda-w"),
    (["--bias", "regularized"], "invalid --lambda-b"),
    (["--dim", "0"], "invalid --dim"),
    (["--restarts", "0"], "invalid --restarts"),
    (["--loss", "hinge"], "invalid choice"),
    (["--dim", "two"], "invalid int value"),
])
def test_bad_flags_one_line_no_traceback(args, message):
    rc, out, err = run_cli("solve", *args)
    assert rc == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_lists_flags():
    rc, out, err = run_cli("solve", "--help")
    assert rc == 0
    for flag in ("--counts", "--classes", "--per-class", "--dim", "--depth", "--loss", "--bias", "--lambda-w",
                 "--lambda-h", "--lambda-b", "--restarts", "--seed", "--json", "--save", "--certify"):
        assert flag in out
