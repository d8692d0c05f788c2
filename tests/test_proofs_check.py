"""proofs_check: every statement on one (its first, cheapest) case gives its expected case verdict; the two
known errors are refuted with a real counterexample; user statements load; ufm check's flags work."""

import json

import pytest

from proofs_check import load_statements, run_statement
from proofs_check.core import Statement, aggregate

STATEMENTS = load_statements()


def test_at_least_ten_statements_from_five_sources():
    assert len(STATEMENTS) >= 10
    sources = {s.citation.split(",")[0].split(" (")[0].split(" 20")[0] for s in STATEMENTS.values()}
    assert len(sources) >= 5, sources


def one_case(stmt, i=0):
    import dataclasses

    make = stmt.cases
    return dataclasses.replace(stmt, cases=lambda full, seed: make(full, seed)[i:i + 1])


REFUTING_CASE = {"dang2023-deep-ce-etf": 1,  # its first case (M = 1) holds; the second is the refutation
                 "sukenik2024-dnc-any-k-l": 1}  # its first case (K = 2) holds; the second is the refutation


#: statements whose one case compiles a model of its own (~5-10 s): -m slow (their siblings run by default)
SLOW_ONE_CASE = {"garrod2024-relu", "tirer-bruna2022-relu"}


@pytest.mark.parametrize("sid", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_ONE_CASE else s
                                 for s in sorted(STATEMENTS)])
def test_statement_verdict_on_one_case(sid):
    stmt = one_case(STATEMENTS[sid], REFUTING_CASE.get(sid, 0))
    res = run_statement(stmt)
    assert res.verdict == stmt.expected, [c.message for c in res.cases]
    assert all(res.symbolic.values())
    if stmt.expected == "refuted":
        ce = res.cases[0].counterexample
        assert ce["found_objective"] < ce["predicted_objective"]
        assert ce["found_geometry"]["rank"] >= 1 and ce["parameters"]["counts"]


def test_aggregate():
    assert aggregate(["holds", "refuted", "inconclusive"]) == "refuted"
    assert aggregate(["holds", "inconclusive"]) == "inconclusive"
    assert aggregate(["holds", "holds"]) == "holds"
    assert aggregate([]) == "inconclusive"
    with pytest.raises(ValueError, match="expected"):
        Statement("x", "c", "s", "maybe", cases=lambda f, s: [], check=lambda c, s: None)


def test_user_statement_file_and_cli(tmp_path, capsys):
    from ufm.cli import main

    rc = main(["check", "--statements", "examples/my_conjecture.py", "--only", "my-mse-bias-is-class-frequency",
               "--report", str(tmp_path), "-q"])
    out = capsys.readouterr().out
    assert rc == 0 and "my-mse-bias-is-class-frequency" in out and "1/1 verdicts as expected" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["statements"][0]["verdict"] == "holds"
    assert "# ufm check report" in (tmp_path / "report.md").read_text()


def test_cli_list_json_and_errors(capsys):
    from ufm.cli import main

    assert main(["check", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(sid in listing for sid in STATEMENTS)
    assert main(["check", "--only", "no-such-statement"]) == 2
    assert "unknown statement" in capsys.readouterr().err
    assert main(["check", "--statements", "nope.py"]) == 2
    assert main(["check", "--only", "zhu2021-zero-saddle", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] and payload["statements"][0]["id"] == "zhu2021-zero-saddle"


#: statements whose full cases build fixed classifiers by optimisation (EBV, sparse ETF: 4-18 s): -m slow
SLOW_CASES = {"shen2023-ebv-coherence", "xiao2024-sse-c", "fixed-classifier-ce-decoupled"}


@pytest.mark.parametrize("sid", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_CASES else s
                                 for s in sorted(STATEMENTS)])
def test_every_full_case_is_valid_and_meets_the_hypotheses(sid):
    """`ufm check --full --seed S` builds more (random) cases than the default run: for a few seeds every one
    must build (no invalid field) and meet the statement's hypotheses. Nothing is solved."""
    stmt = STATEMENTS[sid]
    for seed in range(4):
        cases = stmt.cases(True, seed)
        assert cases, seed
        for case in cases:
            if stmt.hypotheses is not None:
                ok, why = stmt.hypotheses(case.problem)
                assert ok, (seed, case.name, why)
