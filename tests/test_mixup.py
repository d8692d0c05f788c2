"""Mixup (Fisher, Meng & Papyan 2024): design validation, solver vs the fixed point (<= 1e-8), structure
(<= 1e-9), calibration, the plot, and the CLI."""

import json

import numpy as np
import pytest

import ufm
from ufm.calibration import expected_calibration_error, mixup_calibration, plain_ce_confidence
from ufm.mixup import MixupDesign, mixed_columns
from ufm.solver import solve
from ufm.theory import mixup as theory


def problem(K=3, loss="mixup-ce", lh=5e-3, **design):
    return ufm.Problem(counts=(2,) * K, d=K, loss=loss, classifier="etf", lambda_W=0.0, lambda_H=lh,
                       samples=MixupDesign(**design))


@pytest.mark.parametrize("K,lh,lams", [(3, 1e-2, (0.2, 0.5)), (4, 3e-3, (0.1, 0.5, 0.9)), (5, 1e-3, (0.35, 0.5))])
@pytest.mark.parametrize("loss", ["mixup-ce", "mixup-mse"])
def test_solver_matches_fixed_point(K, lh, lams, loss):
    p = problem(K, loss, lh, lams=lams)
    sol = solve(p, gtol=1e-12, max_iter=5000)
    pred = theory.predict(p)
    cols, _ = mixed_columns(p)
    assert sol.status == "converged"
    assert np.max(np.abs(sol.features[:, cols] - pred["mixed_features"])) <= 1e-8 * np.max(np.abs(pred["mixed_features"]))
    assert abs(sol.objective - pred["objective"]) <= 1e-12 * pred["objective"]


def test_structure_same_class_and_boundary():
    from proofs_check.statements.fisher2024_mixup import structure_errors

    p = problem(4, lams=(0.1, 0.3, 0.5, 0.8))
    errs = structure_errors(solve(p, gtol=1e-12, max_iter=5000))
    assert all(v <= 1e-9 for v in errs.values()), errs
    # and the theory itself: same-class coefficients independent of lam, lam = 1/2 symmetric
    a1 = theory.ce_feature_coefficients(4, 1, 1, 0.2, 0.3)
    a2 = theory.ce_feature_coefficients(4, 1, 1, 0.9, 0.3)
    assert a1 == a2 and a1[0] > 0
    a, b = theory.ce_feature_coefficients(4, 0, 2, 0.5, 0.3)
    assert abs(a - b) <= 1e-14


def test_design_layout_and_validation():
    d = MixupDesign(pairs=((0, 1), (1, 1)), lams=(0.25, 0.5), per_pair=2)
    T = d.targets((3, 1))
    assert T.shape == (2, 4 + 8)
    np.testing.assert_allclose(T.sum(axis=0), 1.0)
    np.testing.assert_array_equal(d.labels((3, 1)), [0, 0, 0, 1, -1, -1, -1, -1, 1, 1, 1, 1])
    beta = MixupDesign(alpha=0.4, draws=5, seed=3)
    assert np.array_equal(beta.weights(), MixupDesign(alpha=0.4, draws=5, seed=3).weights())
    for kwargs, field in [(dict(pairs="some"), "pairs"), (dict(lams=(1.5,)), "lams"), (dict(alpha=-1.0), "alpha"),
                          (dict(per_pair=0), "per_pair"), (dict(pairs=((0, 5),)), "pairs")]:
        with pytest.raises(ufm.ProblemError, match=field):
            ufm.Problem(counts=(2, 2), d=2, loss="mixup-ce", samples=MixupDesign(**kwargs))
    with pytest.raises(ufm.ProblemError, match="samples"):
        ufm.Problem(counts=(2, 2), d=2, loss="mixup-ce")


def test_learnable_classifier_solves_and_metrics_ignore_mixed_samples():
    p = ufm.Problem(counts=(2, 2, 2), d=3, loss="mixup-ce", lambda_W=5e-3, lambda_H=5e-3,
                    samples=MixupDesign(lams=(0.3, 0.5)))
    sol = solve(p, restarts=2)
    m = sol.metrics()
    assert sol.status == "converged" and m["nc1"] <= 1e-8  # originals + same-class mixtures collapse
    no_orig = p.replace(samples=MixupDesign(pairs="different", lams=(0.5,), include_original=False))
    m2 = solve(no_orig).metrics()
    assert np.isnan(m2["nc1"]) and "note" in m2


def test_calibration():
    assert expected_calibration_error([0.9, 0.9], [1, 1]) == pytest.approx(0.1)
    assert expected_calibration_error([0.6, 0.6, 0.6, 0.6, 0.6], [1, 1, 1, 0, 0]) == pytest.approx(0.0)
    p = problem(3, lams=(0.1, 0.3, 0.5, 0.7, 0.9))
    cal = mixup_calibration(solve(p))
    by = cal["mean_confidence_by_lam"]
    assert by[0.1] == pytest.approx(by[0.9], rel=1e-9) and by[0.5] < by[0.3] < by[0.1]  # confidence tracks lam
    # Fixed ETF: every feature solves its own problem with decay N lambda_H, so at EQUAL per-sample decay the
    # original samples are exactly as confident as in the plain-CE UFM; at equal lambda_H (a larger
    # per-sample decay for the plain problem's smaller N) plain CE is more confident.
    def plain(lh):
        return plain_ce_confidence(solve(ufm.Problem(counts=(2, 2, 2), d=3, classifier="etf", lambda_W=0.0,
                                                     lambda_H=lh)))["mean_confidence"]

    assert plain(5e-3 * p.N / 6) == pytest.approx(cal["mean_confidence_original"], rel=1e-8)
    assert plain(5e-3) > cal["mean_confidence_original"] + 0.1


def test_plot_renders(tmp_path):
    from ufm.plot.mixup import classifier_plane

    fig = classifier_plane(solve(problem(3, lams=(0.2, 0.5, 0.8))))
    fig.savefig(tmp_path / "mixup.png")
    assert (tmp_path / "mixup.png").stat().st_size > 5000
    with pytest.raises(ufm.ProblemError, match="K"):
        classifier_plane(solve(problem(4)))


def test_cli_mixup(capsys):
    from ufm.cli import main

    rc = main(["solve", "--classes", "3", "--per-class", "2", "--dim", "3", "--loss", "mixup-ce", "--classifier", "etf",
               "--lambda-w", "0", "--mixup-lams", "0.3,0.5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["problem"]["samples"]["lams"] == [0.3, 0.5] and len(out["features"][0]) == 6 + 18
    assert main(["solve", "--loss", "mixup-ce", "--mixup-lams", "2"]) == 2
    assert "--mixup-lams" in capsys.readouterr().err
    assert main(["solve", "--loss", "mixup-ce", "--mixup-pairs", "0-x"]) == 2
