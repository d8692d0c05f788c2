"""`ufm solve` flags: every bad or ineffective flag is one line and exit status 2 before anything is solved;
negative numbers reach validation; strict JSON at extreme parameters; the K > d + 1 warning; --certify in the
words of docs/evidence.md with its time."""

import json
import subprocess
import sys
import time

import pytest

from ufm.cli import main


def run_cli(*args, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "ufm.cli", *args], capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("args,message", [
    # negative numbers reach the validation (argparse alone said "expected one argument")
    (["--lambda-h", "-1e-3"], "invalid --lambda-h: must be a finite real number >= 0, got -0.001"),
    (["--lambda-w", "-1e-3"], "invalid --lambda-w: must be a finite real number >= 0"),
    (["--lambda-h=-1e-3"], "invalid --lambda-h"),
    (["--gtol", "-1e-9"], "invalid --gtol"),
    # integers: written as 1e4 or out of range, named by the flag
    (["--seed", "1e20"], "invalid --seed: must be an integer >= 0 and <= 4294967295"),
    (["--seed", "-1"], "invalid --seed"),
    (["--max-iter", "1e20"], "invalid --max-iter: must be an integer >= 1 and <= 1000000000"),
    (["--per-class", "1.5"], "invalid int value: '1.5'"),
    # --save is checked before solving
    (["--save", "/nonexistent/dir/out.npz"], "invalid --save: the directory '/nonexistent/dir' does not exist"),
    (["--save", "out.txt"], "invalid --save: must name a .npz file"),
    (["--save", "/tmp"], "invalid --save"),
    # size: refused before anything of that size is built
    # --json writes all N = 1e8 feature columns (about 314 GiB); the summary alone needs about 4 GiB (class-reduced
    # solve, streamed loss, blocked metrics of the class means) and is not refused on a 24 GB machine
    (["--classes", "100000", "--per-class", "1000", "--json"], "problem too large: a solve needs about"),
    (["--classes", "1e20"], "problem too large"),
    (["--classes", "3", "--per-class", "2", "--dim", "3", "--max-memory-gb", "1e-9"], "problem too large"),
    (["--max-memory-gb", "-1"], "invalid --max-memory-gb"),
    # a typed flag without effect is an error
    (["--mixup-lams", "0.5"], "invalid --mixup-lams: has no effect without a mixup loss"),
    (["--no-mixup-original"], "invalid --no-mixup-original: has no effect without a mixup loss"),
    (["--loss", "mixup-ce", "--classifier", "etf", "--mixup-draws", "3"], "invalid --mixup-draws: has no effect"),
    (["--loss", "mixup-ce", "--classifier", "etf", "--mixup-alpha", "1", "--mixup-lams", "0.5"],
     "invalid --mixup-lams: has no effect with --mixup-alpha"),
    (["--classifier", "etf", "--lambda-w", "1e-3"], "invalid --lambda-w: has no effect with --classifier etf"),
    (["--classifier", "etf", "--depth", "3", "--lambda-w", "1e-3,1e-3,1e-3"], "the classifier is fixed"),
    (["--lambda-b", "0"], "invalid --lambda-b: has no effect with --bias none"),
    (["--bias", "free", "--lambda-b", "1e-3"], "invalid --lambda-b"),
    (["--counts", "3,3", "--classes", "4"], "invalid --classes: has no effect with --counts"),
    (["--why-not", "--no-predictions"], "invalid --why-not: has no effect with --no-predictions"),
    (["--search", "always", "--classifier", "etf"], "invalid --search: the reduced-problem search does not apply"),
    (["--classifier", "nope"], "invalid choice: 'nope'"),
    (["--reduce", "always"], "invalid choice"),
])
def test_bad_flag_is_one_line_exit_2_before_solving(args, message):
    t0 = time.perf_counter()
    rc, out, err = run_cli("solve", *args)
    assert rc == 2, (out, err)
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert out == "" and time.perf_counter() - t0 < 60


def test_lambda_w_zero_states_what_a_fixed_classifier_has(capsys):
    """--lambda-w 0 with a fixed classifier at depth 1 is not an error (it says what is true); without
    --lambda-w the problem shows no decay for the fixed classifier."""
    base = ["solve", "--classes", "3", "--per-class", "2", "--dim", "3", "--classifier", "etf", "--json",
            "--no-predictions"]
    assert main(base + ["--lambda-w", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["problem"]["lambda_W"] == [0.0]
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["problem"]["lambda_W"] == [0.0]
    assert main(base[:-2] + ["--depth", "2", "--lambda-w", "1e-3", "--json", "--no-predictions"]) == 0
    assert json.loads(capsys.readouterr().out)["problem"]["lambda_W"] == [1e-3, 0.0]


def test_extreme_decay_prints_strict_json_and_the_status_says_why():
    rc, out, err = run_cli("solve", "--classes", "3", "--per-class", "2", "--dim", "3", "--lambda-w", "1e300",
                           "--lambda-h", "1e300", "--json")
    payload = strict_json(out)  # no NaN / Infinity anywhere
    assert rc in (0, 1) and payload["status"] and payload["status_message"]
    assert "Traceback" not in err and "RuntimeWarning" not in err
    for p in payload["predictions"]:
        if p["verdict"] != "holds":
            assert p["reason"]


def test_k_above_d_plus_1_warns_on_one_line():
    rc, out, err = run_cli("solve", "--classes", "10", "--per-class", "1", "--dim", "3", "-q", "--no-predictions")
    assert rc == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("ufm solve: warning: K = 10 > d + 1 = 4")
    assert "convex bound may not be attained" in warnings[0] and "global search runs" in warnings[0]
    assert "global search on the reduced problem" in out


def test_no_warning_when_an_etf_fits(capsys):
    assert main(["solve", "--classes", "4", "--per-class", "1", "--dim", "3", "-q", "--no-predictions"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_certify_output_uses_the_levels_of_evidence_and_its_time(capsys):
    rc = main(["solve", "--classes", "3", "--per-class", "2", "--dim", "3", "--certify", "-q", "--no-predictions"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "evidence   certified: convex dual bound within 1e-8 relative of the objective" in out
    assert "certify took" in out and "docs/evidence.md" in out
    rc = main(["solve", "--classes", "4", "--per-class", "1", "--dim", "2", "--certify", "--json",
               "--no-predictions"])
    cert = json.loads(capsys.readouterr().out)["certificate"]
    assert rc == 0 and cert["level"] == "search-agreed" and cert["certify_time"] > 0
    assert cert["search"]["starts_reaching_best"] >= 1 and cert["relative_gap"] > 1e-8
    from ufm.cli._solve import format_certificate

    text = format_certificate(cert)
    assert text.startswith("evidence   search-agreed: the reduced-problem global search found nothing lower (")
    assert f"{cert['search']['starts_reaching_best']} of {cert['search']['n_starts']} starts" in text
    assert "not certified: relative gap" in text


def test_not_certified_always_comes_with_the_gap_or_why():
    from ufm.cli._solve import format_certificate

    deep = {"level": "search-agreed", "why_not_certified": "no convex certificate: needs depth M = 1",
            "evidence": []}
    assert "not certified: no convex certificate: needs depth M = 1" in format_certificate(deep)
    saddle = {"level": "saddle", "relative_gap": 0.25, "bound_attained": True, "evidence": []}
    assert format_certificate(saddle).startswith("evidence   saddle: negative curvature: never certified; "
                                                 "not certified: relative gap 2.5e-01")
