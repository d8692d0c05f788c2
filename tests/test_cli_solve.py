"""`ufm solve` end to end: JSON schema, save file, error messages for bad flags, the status and second-order lines,
the global search of deep models, the predictions of ufm.theory with their verdicts, --init round trips."""

import json
import re
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
    (["--loss", "hinge"], "invalid loss: must be one of"),
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
                 "--lambda-h", "--lambda-b", "--restarts", "--seed", "--json", "--save", "--certify", "--search",
                 "--reduce", "--polish", "--init", "--no-predictions", "--why-not", "--max-memory-gb"):
        assert flag in out


# ----------------------------------------------------------------------------- the summary: status, second order
SMALL = ["solve", "--classes", "3", "--per-class", "2", "--dim", "3"]


def _lines(text, label):
    return [line for line in text.splitlines() if line.startswith(label)]


def test_summary_has_second_order_line_how_found_and_compile_time(capsys):
    rc = main(SMALL + ["-q", "--no-predictions"])
    out = capsys.readouterr().out
    assert rc == 0
    status = out.splitlines().index(_lines(out, "status")[0])
    assert out.splitlines()[status + 1].strip().startswith("second order: no negative curvature")
    assert _lines(out, "found by")[0].startswith("found by   1 random start; no global search")
    assert "of which compiling" in _lines(out, "time")[0]


def test_saddle_is_said_on_the_status_line_and_exits_1(monkeypatch, capsys):
    """--init-scale 0 starts at the origin, a stationary saddle. With the escapes switched off the best run stays
    there: the status line says SADDLE first, the second-order line says so, exit status 1."""
    import ufm.solver

    monkeypatch.setattr(ufm.solver, "escape_saddle", lambda program, run, curv, options: run)
    rc = main(SMALL + ["--init-scale", "0", "-q", "--no-predictions"])
    out = capsys.readouterr().out
    assert rc == 1
    assert _lines(out, "status")[0].startswith("status     SADDLE (not a minimum)")
    assert "second order: SADDLE" in out and "converged after 0 iterations" not in out


def test_run_that_did_not_converge_is_said_on_the_status_line_and_exits_1(capsys):
    rc = main(SMALL + ["--max-iter", "2", "--polish", "never", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert rc == 1 and payload["status"] == "max_iter"
    assert all(p["verdict"] == "inconclusive" and "max_iter" in p["reason"] for p in payload["predictions"])
    rc = main(SMALL + ["--max-iter", "2", "--polish", "never", "-q", "--no-predictions"])
    out = capsys.readouterr().out
    assert rc == 1 and _lines(out, "status")[0].startswith("status     NOT CONVERGED (max_iter)")


# ----------------------------------------------------------------------------- deep models: the global search
def test_deep_default_runs_the_global_search_and_says_so(capsys):
    """Deep CE, K = 4, M = 3 with the default --restarts 1: the answer is the paired low-rank optimum below the
    simplex-ETF value (Garrod & Keating 2024), found by the global search; the summary says how."""
    from ufm.theory import PREDICTIONS

    args = ["solve", "--classes", "4", "--per-class", "5", "--dim", "4", "--depth", "3", "--lambda-w", "1e-3",
            "--lambda-h", "1e-3"]
    rc = main(args + ["--json"])
    out = json.loads(capsys.readouterr().out)
    import ufm

    etf = PREDICTIONS["dang2023_deep_ce_etf"].predict(ufm.Problem.balanced(4, 5, 4, depth=3, lambda_W=1e-3,
                                                                           lambda_H=1e-3))["objective"]
    assert rc == 0 and out["options"]["restarts"] == 1 and out["options"]["search"] == "auto"
    assert out["method"] == "lbfgs+reduced-search" and [r["label"] for r in out["runs"]] == ["random", "reduced-search"]
    assert out["objective"] < etf - 1e-4
    refuted = {p["name"]: p for p in out["predictions"]}["dang2023_deep_ce_etf"]
    assert refuted["verdict"] == "refuted" and "lower by" in refuted["reason"]
    rc = main(args + ["-q"])
    text = capsys.readouterr().out
    assert rc == 0 and "found by   1 random start + global search on the reduced problem" in text
    assert "dang2023_deep_ce_etf: refuted" in text
    rc = main(args + ["--search", "never", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["method"] == "lbfgs" and out["options"]["search"] == "never"


# ----------------------------------------------------------------------------- predictions
def test_predictions_by_default_text_and_json(capsys):
    rc = main(SMALL + ["-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "zhu2021_balanced_ce: holds  [Zhu et al. 2021" in out and "predicted objective 0.0840698929152" in out
    assert "relative errors: objective" in out and "dang2023_mse_balanced" not in out  # no --why-not
    rc = main(SMALL + ["--json", "--why-not"])
    payload = json.loads(capsys.readouterr().out)
    names = {p["name"]: p for p in payload["predictions"]}
    assert set(names) == {"zhu2021_balanced_ce", "convex_oracle_m1", "dang2023_deep_ce_etf", "zhou2022_softmax_etf"}
    for p in names.values():
        assert p["verdict"] == "holds" and set(p) >= {"name", "source", "predicted_objective", "errors", "verdict",
                                                      "reason"}
        assert p["errors"]["objective_rel_err"] <= 1e-8
    not_applicable = {p["name"]: p["reason"] for p in payload["predictions_not_applicable"]}
    assert not_applicable["dang2023_mse_balanced"] == "needs loss 'mse'"
    rc = main(SMALL + ["--why-not", "-q"])
    assert "- dang2023_mse_balanced: needs loss 'mse'" in capsys.readouterr().out
    rc = main(SMALL + ["--json", "--no-predictions"])
    assert json.loads(capsys.readouterr().out)["predictions"] is None
    rc = main(SMALL + ["--no-predictions", "-q"])
    assert "theory" not in capsys.readouterr().out


def test_each_prediction_is_computed_once(monkeypatch, capsys):
    import dataclasses

    from ufm.theory import PREDICTIONS

    calls = []
    oracle = PREDICTIONS["convex_oracle_m1"]
    counted = dataclasses.replace(oracle, predict=lambda p: calls.append(1) or oracle.predict(p))
    monkeypatch.setitem(PREDICTIONS, "convex_oracle_m1", counted)
    assert main(SMALL + ["-q"]) == 0
    assert "convex_oracle_m1: holds" in capsys.readouterr().out and len(calls) == 1


class _Sol:
    def __init__(self, objective, status="converged"):
        from ufm.loop import Status

        self.objective, self.status = objective, Status(status)


@pytest.mark.parametrize("found,status,predicted,errors,verdict,why", [
    (1.0, "converged", {"objective": 1.0}, {"objective_rel_err": 0.0, "logits_err": 1e-9}, "holds", "objective to"),
    (0.9, "converged", {"objective": 1.0}, {"objective_rel_err": 0.1}, "refuted", "lower by"),
    (0.9, "max_iter", {"objective": 1.0}, {"objective_rel_err": 0.1}, "refuted", "lower by"),  # a point is a point
    (1.1, "converged", {"objective": 1.0}, {"objective_rel_err": 0.1}, "inconclusive", "not reached"),
    (1.0, "converged", {"objective": 1.0}, {"objective_rel_err": 0.0, "logits_err": 1e-3}, "inconclusive",
     "structure differs"),
    (1.0, "max_iter", {"objective": 1.0}, {"objective_rel_err": 0.0}, "inconclusive", "ended max_iter"),
    (1.0, "saddle", {"objective": 1.0}, {"objective_rel_err": 0.0}, "inconclusive", "ended saddle"),
    (1.0 - 1e-7, "converged", {"objective": 1.0, "lower_bound": 1.0 - 2e-7}, {"objective_rel_err": 1e-7},
     "inconclusive", "upper bound"),  # the convex oracle's value is a numerical solve: its bound decides
    (1.0, "converged", {"objective": float("nan")}, {"objective_rel_err": float("nan")}, "inconclusive",
     "not finite"),
    (1.0, "converged", {"logits": 0}, {"logits_err": 1e-9}, "holds", "no objective predicted"),
])
def test_prediction_verdicts(found, status, predicted, errors, verdict, why):
    from ufm.cli._solve import prediction_verdict

    v, reason = prediction_verdict(_Sol(found, status), predicted, errors)
    assert v == verdict and why in reason


# ----------------------------------------------------------------------------- flags of the solver
def test_search_reduce_polish_flags_reach_the_solver(capsys):
    rc = main(SMALL + ["--reduce", "never", "--polish", "never", "--search", "always", "--json", "--no-predictions"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["reduced"] is False and out["method"] == "lbfgs+reduced-search"
    assert out["options"]["polish"] == "never" and out["options"]["reduce"] == "never"


def test_classifier_choices_come_from_the_geometry_registry(monkeypatch):
    from ufm import geometry
    from ufm.cli import build_parser

    monkeypatch.setitem(geometry.GEOMETRIES, "my-frame", geometry.Geometry("my-frame", geometry.orthogonal_frame,
                                                                          "a test geometry, 100% orthonormal"))
    parser = build_parser()
    args = parser.parse_args(["solve", "--classifier", "my-frame"])
    assert args.classifier == "my-frame"
    solve = parser._subparsers._group_actions[0].choices["solve"]
    assert "my-frame: a test geometry, 100% orthonormal" in " ".join(solve.format_help().split())


def test_save_prints_the_path_written(tmp_path, capsys):
    path = tmp_path / "run.npz"
    rc = main(SMALL + ["--save", str(path), "-q", "--no-predictions"])
    assert rc == 0 and f"saved      {path}" in capsys.readouterr().out and path.is_file()


# ----------------------------------------------------------------------------- --init: save -> load -> warm start
def test_init_round_trip_and_certify_a_saved_run(tmp_path, capsys):
    from ufm.solution import Solution

    path = tmp_path / "s.npz"
    assert main(SMALL + ["--save", str(path), "-q", "--no-predictions"]) == 0
    capsys.readouterr()
    saved = Solution.load(path)
    rc = main(["solve", "--init", str(path), "--json", "--no-predictions"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and [r["label"] for r in out["runs"]] == ["given"]
    assert abs(out["objective"] - saved.objective) <= 1e-12 * saved.objective and out["iterations"] <= 2
    assert out["problem"] == saved.problem.to_dict()
    # the saved problem's own flags agree: accepted
    assert main(SMALL + ["--init", str(path), "-q", "--no-predictions"]) == 0
    capsys.readouterr()
    rc = main(["solve", "--init", str(path), "--certify", "--json", "--no-predictions"])
    cert = json.loads(capsys.readouterr().out)["certificate"]
    assert rc == 0 and cert["level"] == "certified" and cert["certify_time"] > 0


@pytest.mark.parametrize("extra,message", [
    (["--dim", "4"], "invalid --init: "),
    (["--lambda-h", "1e-2"], "holds a solution of another problem: lambda_H"),
    (["--restarts", "3"], "invalid --restarts: has no effect with --init"),
    (["--init-scale", "1"], "invalid --init-scale: has no effect with --init"),
    (["--seed", "3"], "invalid --seed: has no effect with --init"),
])
def test_init_refuses_another_problem_and_flags_without_effect(tmp_path, capsys, extra, message):
    path = tmp_path / "s.npz"
    assert main(SMALL + ["--save", str(path), "-q", "--no-predictions"]) == 0
    capsys.readouterr()
    assert main(["solve", "--init", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_init_of_a_file_that_is_not_a_solution(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not numpy")
    rc, out, err = run_cli("solve", "--init", str(bad))
    assert rc == 2 and "invalid --init" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to "
                                                                "allocate 81920000000 bytes.")])
def test_out_of_memory_during_the_solve_is_one_line_exit_2(monkeypatch, capsys, error):
    """An allocation failure the size estimate did not foresee (Python's MemoryError, or the XLA runtime error
    JAX raises for a device buffer) is one line and exit 2, not a traceback (issue 19, item 3)."""
    import ufm.solver

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(ufm.solver, "solve", fail)
    rc = main(["solve", "--classes", "3", "--per-class", "2", "--dim", "3", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "problem too large: out of memory while solving" in err[0]


def test_other_runtime_errors_are_not_called_out_of_memory(monkeypatch):
    import ufm.solver

    def fail(*args, **kwargs):
        raise RuntimeError("INTERNAL: something else")

    monkeypatch.setattr(ufm.solver, "solve", fail)
    with pytest.raises(RuntimeError, match="INTERNAL"):
        main(["solve", "--classes", "3", "--per-class", "2", "--dim", "3", "-q"])


def test_long_solves_show_their_iterations_on_stderr(monkeypatch, capsys):
    """`ufm solve` reports a run's iteration, objective and stationarity on stderr while it runs (shown after
    REPORT_AFTER seconds; here at once), saying which run (and which start of a global search) it is, never
    with --quiet or --json (stdout stays the summary alone)."""
    from ufm.cli import _solve

    monkeypatch.setattr(_solve, "REPORT_AFTER", 0.0)
    monkeypatch.setattr(_solve, "REPORT_GAP", 0.0)
    monkeypatch.setattr(_solve, "REPORT_EVERY", 3)
    assert main(SMALL + ["--no-predictions"]) == 0
    out, err = capsys.readouterr()
    assert "\r  run 1/1, iteration 3: objective " in err and ", stationarity " in err and "iteration 3" not in out
    assert main(SMALL + ["--no-predictions", "-q"]) == 0
    assert "iteration" not in capsys.readouterr().err
    # a deep model: two random starts, then the reduced-problem global search and its many starts
    assert main(["solve", "--classes", "3", "--per-class", "2", "--dim", "3", "--depth", "2", "--restarts", "2",
                 "--no-predictions"]) == 0
    err = capsys.readouterr().err
    assert "\r  run 1/3, iteration 3:" in err and "\r  run 2/3, iteration 3:" in err, err
    starts = set(re.findall(r"\r  run 3/3 \(search\), start (\d+)/\d+, iteration", err))
    assert len(starts) >= 2, err  # (structured starts near the optimum stop before their first report)
