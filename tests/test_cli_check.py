"""`ufm check` with the user's own statement files: every broken file or contract is one line naming
--statements (exit 2), never a traceback; --report paths; --seed range."""

import subprocess
import sys
import textwrap

import pytest



def run_cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "ufm.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


CASE = """
import ufm
from proofs_check import Case, CaseResult, Statement, check_prediction
from ufm.theory import Prediction, register

def cases(full, seed):
    return [Case("small", ufm.Problem.balanced(3, 2, 3))]
"""

FILES = {
    "syntax": ("x = 1\ndef f(:\n    pass\n", "syntax.py, line 2: syntax error"),
    "empty": ("x = 1\n", "empty.py defines neither STATEMENT nor STATEMENTS"),
    "raises": ("import numpy as np\ny = 1\nz = np.no_such_thing\n",
               "raises.py, line 3: importing it raised AttributeError"),
    "not_a_statement": ("STATEMENT = 42\n", "is not a proofs_check.Statement"),
    "bare_bool": (CASE + textwrap.dedent("""
        register(Prediction(name="my_bare_bool", source="me", statement="s", applies=lambda p: True,
                            predict=lambda p: {"objective": 1.0}))
        STATEMENT = Statement(id="my-id", citation="me", statement="s", expected="holds", cases=cases,
                              check=check_prediction("my_bare_bool"))
        """), "statement 'my-id': prediction 'my_bare_bool': applies(problem) must return (bool, reason), got bool"),
    "bad_hypotheses": (CASE + textwrap.dedent("""
        STATEMENT = Statement(id="my-id", citation="me", statement="s", expected="holds", cases=cases,
                              check=lambda c, s: CaseResult(c.name, "holds"), hypotheses=lambda p: True)
        """), "statement 'my-id': hypotheses(problem) must return (bool, reason)"),
    "bad_check": (CASE + textwrap.dedent("""
        STATEMENT = Statement(id="my-id", citation="me", statement="s", expected="holds", cases=cases,
                              check=lambda c, s: "holds")
        """), "statement 'my-id': check(case, seed) must return a proofs_check.CaseResult"),
    "taken_id": (CASE + textwrap.dedent("""
        STATEMENT = Statement(id="zhu2021-zero-saddle", citation="me", statement="s", expected="holds",
                              cases=cases, check=lambda c, s: CaseResult(c.name, "holds"))
        """), "the statement id 'zhu2021-zero-saddle' is already taken"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_broken_statement_file_is_one_line(tmp_path, name):
    source, message = FILES[name]
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    rc, out, err = run_cli("check", "--statements", str(path), "--only", "my-id", "-q")
    assert rc == 2, err
    assert "invalid --statements" in err and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_report_paths(tmp_path, capsys):
    from ufm.cli import main

    rc = main(["check", "--only", "zhu2021-zero-saddle", "--report", str(tmp_path / "rep"), "-q"])
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "rep" / "report.json").is_file()
    assert f"report written to {tmp_path / 'rep' / 'report.md'} and {tmp_path / 'rep' / 'report.json'}" in out
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["check", "--only", "zhu2021-zero-saddle", "--report", str(afile)]) == 2
    assert "invalid --report" in capsys.readouterr().err
    assert main(["check", "--seed", "1e20", "--list"]) == 2
    assert "invalid --seed" in capsys.readouterr().err


EXPECTED_VERDICT = '''
import ufm
from proofs_check.core import Case, CaseResult, Statement

def cases(full, seed):
    return [Case("one", ufm.Problem.balanced(2, 1, 2))]

def check(case, seed):
    return CaseResult(case.name, "inconclusive", "nothing settles it")

STATEMENT = Statement(id="my-open-claim", citation="nobody", statement="an open claim", expected="{expected}",
                      cases=cases, check=check)
'''


@pytest.mark.parametrize("expected,rc", [("inconclusive", 0), ("holds", 1)])
def test_exit_status_is_zero_when_every_verdict_is_the_expected_one(tmp_path, capsys, expected, rc):
    """An expected "inconclusive" (an empirical claim the search cannot settle) keeps the main job green; an
    unexpected one fails it."""
    from ufm.cli import main

    path = tmp_path / "open_claim.py"
    path.write_text(EXPECTED_VERDICT.replace("{expected}", expected))
    assert main(["check", "--statements", str(path), "--only", "my-open-claim", "-q"]) == rc
    assert ("UNEXPECTED" in capsys.readouterr().out) == (rc == 1)
