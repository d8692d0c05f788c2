"""ufm.theory: sympy facts hold; predictions agree with the solver (the proofs_check tests run every
statement; here the prediction functions themselves)."""

import numpy as np
import pytest

import ufm
from ufm.solver import solve
from ufm.theory import PREDICTIONS, applicable, dang2023, garrod2024, zhu2021


def _theory_modules():
    """Every module of ufm.theory (discovered, as the package discovers them)."""
    import importlib
    import pkgutil

    import ufm.theory as pkg

    return [importlib.import_module(f"ufm.theory.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)]


SYMBOLIC = [m for m in _theory_modules() if hasattr(m, "symbolic_checks")]


def test_discovery_finds_the_theory_modules():
    names = {m.__name__.rsplit(".", 1)[1] for m in SYMBOLIC}
    assert {"master", "zhu2021", "dang2023", "garrod2024"} <= names


@pytest.mark.parametrize("module", SYMBOLIC, ids=lambda m: m.__name__)
def test_symbolic_facts_verified(module):
    facts = module.symbolic_checks()
    assert facts and all(facts.values()), {k: v for k, v in facts.items() if not v}


def test_every_prediction_is_checked_somewhere():
    """A new theorem lands as a theory module and a statement (or a zoo entry): every registered prediction
    is used by a proofs_check statement or by the problem zoo, so it is tested against the solver."""
    import inspect

    from proofs_check import load_statements
    from ufm import zoo

    used = {e.prediction for e in zoo.ENTRIES.values()}
    sources = "".join(inspect.getsource(inspect.getmodule(s.cases)) for s in load_statements().values())
    unchecked = [n for n in PREDICTIONS if n not in used and n not in sources]
    assert not unchecked, unchecked


def test_applies_must_return_a_pair():
    from ufm.theory.base import Prediction

    bad = Prediction("bad", "me", "claim", applies=lambda p: True, predict=lambda p: {})
    with pytest.raises(TypeError, match="bad.*\\(bool, reason\\)"):
        bad.applies(ufm.Problem.balanced(2, 2, 2))


def test_registry_and_applicability():
    p = ufm.Problem.balanced(4, 3, 5, loss="ce", lambda_W=1e-3, lambda_H=1e-3)
    names = applicable(p)
    assert "zhu2021_balanced_ce" in names and "convex_oracle_m1" in names and "dang2023_deep_ce_etf" in names
    assert "dang2023_mse_imbalanced" not in names
    ok, why = PREDICTIONS["zhu2021_balanced_ce"].applies(p.replace(depth=2))
    assert not ok and "depth" in why


def test_dang_rules_differ_only_in_the_window():
    from proofs_check.statements._mse_cases import at_ratio

    window = at_ratio((12, 8, 3), 2, 1.0, "window")
    k = 2
    assert dang2023.global_x(window, 3) == 0.0 and dang2023.largest_root_x(window, 3) > 0
    above = at_ratio((12, 8, 3), 2, 2.0)
    assert dang2023.global_x(above, 3) == pytest.approx(dang2023.largest_root_x(above, 3), rel=1e-12)
    below_roots = at_ratio((12, 8, 3), 2, 0.5, "window")
    assert dang2023.stationary_points(below_roots, 3).size == 0 and k == 2


def test_dang_threshold_matches_the_scalar_problem():
    """At n_min slightly above / below the global threshold the global argmin switches from 0 to x^M >= M-1."""
    from proofs_check.statements._mse_cases import at_ratio

    for M in (2, 3):
        lo, hi = at_ratio((12, 8, 3), M, 0.999), at_ratio((12, 8, 3), M, 1.001)
        assert dang2023.global_x(lo, 3) == 0.0
        assert dang2023.global_x(hi, 3) ** M >= M - 1 - 1e-9


def test_balanced_prediction_against_solver():
    p = ufm.Problem.balanced(3, 4, 3, loss="mse", depth=2, bias="free", lambda_W=2e-3, lambda_H=2e-3)
    pred = PREDICTIONS["dang2023_mse_balanced"]
    err = pred.errors(p, solve(p, restarts=3, init_scale=0.5))
    assert err["objective_rel_err"] <= 1e-8 and err["logits_err"] <= 1e-6 and err["bias_err"] <= 1e-6


def test_zhu_prediction_zero_regime():
    p = ufm.Problem.balanced(4, 3, 4, lambda_W=0.2, lambda_H=0.2)  # K c = 4 * 0.346 > 1
    pred = PREDICTIONS["zhu2021_balanced_ce"].predict(p)
    assert pred["regime"] == "zero" and pred["objective"] == pytest.approx(np.log(4))


def test_etf_family_value_is_the_etf_point():
    p = ufm.Problem.balanced(4, 2, 4, depth=3, lambda_W=1e-3, lambda_H=1e-3)
    value, a = dang2023.etf_family_value(p)
    from ufm.reduced import schatten_value

    assert schatten_value(p, a * (np.eye(4) - 0.25)) == pytest.approx(value, rel=1e-12)
    assert garrod2024.hypotheses(p)[0] and not garrod2024.hypotheses(p.replace(depth=2))[0]


def test_predictions_do_not_import_sympy():
    """sympy (about 1 s to import) is needed by the symbolic derivation checks only, and scipy.optimize (0.4 s)
    by two root finders: importing ufm.theory and the command line, and evaluating a closed form, import
    neither (together they were 1.4 s of a 3.5 s ufm solve)."""
    import subprocess
    import sys

    code = ("import sys, ufm; ufm.enable_x64(); import ufm.theory as t, ufm.cli._solve; "
            "p = ufm.Problem.balanced(4, 5, 6, loss='ce', lambda_W=1e-2, lambda_H=1e-2); "
            "t.PREDICTIONS['zhu2021_balanced_ce'].predict(p); a = 'scipy.optimize' in sys.modules; "
            "t.PREDICTIONS['dang2023_deep_ce_etf'].predict(p); "  # a 1-D minimisation (scipy), no sympy
            "print(a or 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_golden_section_matches_a_known_minimiser():
    """ufm.scalar (the 1-D minimiser of the deep-CE ETF family and of the convex program's start) finds the
    minimiser of a smooth unimodal function to rounding, from a grid bracket, and returns the grid's first
    point when the minimum is on the boundary."""
    from ufm.scalar import golden_section, grid_then_golden

    x, fx = golden_section(lambda t: (t - 0.3) ** 2 + 1.0, 0.0, 1.0)
    assert abs(x - 0.3) < 1e-7 and abs(fx - 1.0) < 1e-14  # |x - x*| ~ sqrt(eps) where f is flat
    a = 2.0 ** 0.5
    x, fx = grid_then_golden(lambda t: np.log1p(np.exp(-t)) + 0.1 * t, np.linspace(0, 80, 801))
    assert abs(x - np.log(9.0)) < 1e-7  # phi'(t) = -1/(1 + e^t) + 0.1 = 0 at e^t = 9
    x, fx = grid_then_golden(lambda t: t * a, np.linspace(0, 1, 11))
    assert x == 0.0 and fx == 0.0
