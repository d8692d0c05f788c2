"""Mixup in sweep specs: the MixupDesign fields as ``mixup_*`` keys in [base] / [axes] (only with a mixup loss,
otherwise a SpecError naming the key), a sweep of lambda_H x mixup_lams for mixup-CE with a fixed ETF classifier
whose rows equal Fisher, Meng & Papyan's fixed point (``ufm.theory.PREDICTIONS["fisher2024_mixup_fixed_etf"]``),
and the command line running it."""

import json
import re

import numpy as np
import pandas as pd
import pytest

import ufm
from ufm.cli import main
from ufm.errors import SpecError
from ufm.sweep import parse_spec
from ufm.theory import PREDICTIONS

PRED = "fisher2024_mixup_fixed_etf"
SPEC = f"""
[base]
K = 3
n = 2
d = 3
loss = "mixup-ce"
classifier = "etf"
mixup_pairs = "all"

[axes]
lambda_H = [1e-3, 1e-2]
mixup_lams = [[0.25, 0.5, 0.75], [0.1], 0.5]   # each value: one point's weights (a number: one weight)

[solver]
restarts = 1
seed = 0

[predictions]
names = ["{PRED}"]
"""


def test_mixup_sweep_rows_equal_the_fixed_etf_fixed_point(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out
    df = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert len(df) == 6 and set(df["status"]) == {"converged"}, df[["status", "error"]]
    assert f"pred_{PRED}_objective_rel_err: max" in out and "WARNING" not in out
    for _, row in df.iterrows():
        point = json.loads(row["axes_json"])
        lams = point["mixup_lams"]
        # the problem built independently of the spec code
        problem = ufm.Problem(counts=(2, 2, 2), d=3, loss="mixup-ce", classifier="etf",
                              lambda_H=point["lambda_H"],
                              samples=ufm.MixupDesign(pairs="all", lams=tuple(np.atleast_1d(lams))))
        predicted = PREDICTIONS[PRED].predict(problem)["objective"]
        assert PREDICTIONS[PRED].applies(problem)[0]
        assert row["N"] == problem.N == 6 + 9 * len(np.atleast_1d(lams))
        assert row[f"pred_{PRED}_applies"] and row[f"pred_{PRED}_objective"] == pytest.approx(predicted, rel=1e-14)
        assert row["objective"] == pytest.approx(predicted, rel=1e-9), (point, row["objective"], predicted)
        assert row[f"pred_{PRED}_objective_rel_err"] < 1e-9
        design = json.loads(row["samples_json"])
        assert design["kind"] == "mixup" and design["lams"] == list(np.atleast_1d(lams))
        assert ufm.Problem.from_dict({**problem.to_dict(), "samples": design}) == problem
    # the figure: mixup_lams (lists and a number: JSON only, no typed column) becomes categories
    assert "axis_mixup_lams" not in df
    png = tmp_path / "mixup.png"
    assert main(["plot", str(tmp_path / "out"), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_mixup_loss_without_keys_uses_the_default_design():
    spec = parse_spec('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-mse"\n[axes]\nlambda_H = [1e-3, 1e-2]\n')
    assert all(spec.problem(pt).samples == ufm.MixupDesign() for pt in spec.points())


def test_mixup_keys_build_the_design():
    spec = parse_spec('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_pairs = [[0, 1], [1, 2]]\n'
                      "mixup_alpha = 0.4\nmixup_draws = 3\nmixup_seed = 7\nmixup_per_pair = 2\n"
                      "mixup_include_original = false\n[axes]\nlambda_H = [1e-3]\n")
    design = spec.problem(spec.points()[0]).samples
    assert design == ufm.MixupDesign(pairs=((0, 1), (1, 2)), alpha=0.4, draws=3, seed=7, per_pair=2,
                                     include_original=False)


MALFORMED = [
    ("[base]\nK = 3\nn = 1\nd = 3\nmixup_lams = [0.5]", "base.mixup_lams", "only valid with a mixup loss"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "ce"\n[axes]\nmixup_lams = [[0.5]]', "axes.mixup_lams", "mixup loss"),
    ('[base]\nK = 3\nn = 1\nd = 3\nmixup_pairs = "same"\n[axes]\nloss = ["mixup-ce", "ce"]', "base.mixup_pairs",
     "axes.loss has 'ce'"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_lams = [1.5]', "base.mixup_lams", "in \\[0, 1\\]"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_lams = []', "base.mixup_lams", "non-empty"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_lams = ["a"]', "base.mixup_lams", "weight"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_alpha = -1', "base.mixup_alpha", "positive"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_alpha = 1\nmixup_draws = 0', "base.mixup_draws", ">= 1"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_alpha = 1\nmixup_lams = [0.5]', "base.mixup_lams",
     "not both"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_draws = 4', "base.mixup_draws", "only used with"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\n[axes]\nmixup_seed = [1, 2]', "axes.mixup_seed", "only used"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_include_original = 1', "base.mixup_include_original",
     "true or false"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_pairs = "some"', "base.mixup_pairs", "all"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_pairs = [[0, 1, 2]]', "base.mixup_pairs", "pairs"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_per_pair = 1.5', "base.mixup_per_pair", "integer"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_alpha = 1' + "0" * 400, "base.mixup_alpha", "float"),
    ('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\nmixup_mode = 1', "base.mixup_mode", "unknown field"),
]


@pytest.mark.parametrize("text,key,detail", MALFORMED)
def test_mixup_keys_are_checked_naming_the_key(text, key, detail):
    with pytest.raises(SpecError, match=rf"invalid {re.escape(key)}: .*{detail}"):
        parse_spec(text)


def test_command_line_refuses_mixup_keys_without_a_mixup_loss(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace('loss = "mixup-ce"', 'loss = "ce"'))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ufm sweep: error: invalid base.mixup_pairs: is only valid with a "
                                               "mixup loss"), err
    assert not (tmp_path / "out").exists()


def test_a_bad_axis_value_is_an_invalid_point_naming_the_key():
    def messages(axes):
        spec = parse_spec('[base]\nK = 3\nn = 1\nd = 3\nloss = "mixup-ce"\n[axes]\n' + axes)
        out = []
        for pt in spec.points():
            try:
                spec.problem(pt)
                out.append("ok")
            except ufm.ProblemError as e:
                out.append(str(e))
        return out

    lams = messages('mixup_lams = [[0.5], [2.0], "x", 0.25]\n')
    assert lams[0] == lams[3] == "ok" and all(m.startswith("invalid mixup_lams:") for m in lams[1:3]), lams
    pp = messages("mixup_per_pair = [1, 0, 2.0]\n")
    assert pp[0] == pp[2] == "ok" and pp[1] == "invalid mixup_per_pair: must be an integer >= 1, got 0", pp
