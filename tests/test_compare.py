"""``ufm.compare`` and ``ufm compare``: the SELI class-mean Gram against an independent SVD construction, the
distances on exactly collapsed inputs, the CLI's one-line errors and a run on the shipped digits example."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ufm import compare as C
from ufm.cli import main
from ufm.errors import ProblemError
from ufm.metrics import etf_gram

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "real_features", "digits_seed0.npz")


def test_seli_means_gram_matches_the_svd_of_the_simplex_encoded_labels():
    # independent route (Thrampoulidis et al. 2022, Def. 2): Z = V L U^T, H = L^{1/2} U^T, class means of H
    counts = [5, 3, 1, 2]
    K = len(counts)
    y = np.repeat(np.arange(K), counts)
    Z = etf_gram(K)[:, y]
    V, s, Ut = np.linalg.svd(Z, full_matrices=False)
    H = np.sqrt(s)[:, None] * Ut
    M = np.stack([H[:, y == c].mean(axis=1) for c in range(K)], axis=1)
    # 1e-12: an eigen-decomposition and an SVD of a 4 x 4 / 4 x 11 matrix of O(1) entries, float64
    np.testing.assert_allclose(C.seli_means_gram(counts), M.T @ M, atol=1e-12)


def test_balanced_seli_is_the_etf_and_a_collapsed_etf_is_at_distance_zero():
    K, d = 4, 5
    counts = [3] * K
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.normal(size=(d, K)))
    M = Q @ etf_gram(K)  # a simplex ETF in R^d
    y = np.repeat(np.arange(K), counts)
    r = C.compare(2.0 * M[:, y], y, 3.0 * M.T, solve=False)
    # balanced: SELI = ETF. 1e-7: the PSD square roots of SELI take sqrt of the zero eigenvalue of P D P, which
    # float64 rounds to ~1e-16, so ~1e-8 remains; a wrong shape is at distance > 0.1
    for name in ("etf", "seli"):
        for q, v in r["distances"][name].items():
            assert v < 1e-7, (name, q, v)


def test_compare_generalized_collapse_for_many_classes():
    rng = np.random.default_rng(0)
    r = C.compare(rng.normal(size=(3, 7)), np.arange(7), solve=False)  # K = 7 > d + 1, neither d = 2 nor 2d
    assert any("not available" in n for n in r["notes"]) and "polygon_distance" not in r["generalized"]
    t = 2 * np.pi * np.arange(5) / 5  # a regular pentagon in d = 2: the predicted code, distance 0
    P = np.stack([np.cos(t), np.sin(t)])
    r = C.compare(P, np.arange(5), P.T, solve=False)
    assert r["generalized"]["polygon_distance"] < 1e-12 and not r["notes"]  # float64 cosines of O(1) angles


def call(argv) -> int:
    """main's exit status, whether it returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("extra, field", [
    (("--labels", "missing.npy"), "--labels"),
    (("--labels", "SHORT"), "--labels"),
    (("--labels", "LAB", "--classifier", "BADW"), "--classifier"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, extra, field):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "f.npy", rng.normal(size=(8, 3)))
    np.save(tmp_path / "lab.npy", np.arange(8) % 2)
    np.save(tmp_path / "short.npy", np.arange(7) % 2)
    np.save(tmp_path / "w.npy", rng.normal(size=(3, 3)))
    names = {"SHORT": "short.npy", "LAB": "lab.npy", "BADW": "w.npy", "missing.npy": "missing.npy"}
    args = [str(tmp_path / names.get(a, a)) if a in names else a for a in extra]
    assert call(["compare", str(tmp_path / "f.npy"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err


def test_cli_nan_features_exit_2(tmp_path, capsys):
    H = np.ones((4, 2))
    H[0, 0] = np.nan
    np.save(tmp_path / "f.npy", H)
    np.save(tmp_path / "y.npy", np.array([0, 1, 0, 1]))
    assert call(["compare", str(tmp_path / "f.npy"), "--labels", str(tmp_path / "y.npy")]) == 2
    assert "features" in capsys.readouterr().err


def test_cli_runs_on_the_shipped_example_without_the_solve(capsys):
    assert call(["compare", EXAMPLE, "--labels", EXAMPLE, "--classifier", EXAMPLE, "--json", "--no-solve"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["K"] == 10 and r["counts"] == [100] * 5 + [10] * 5 and set(r["distances"]) == {"etf", "seli"}
    assert r["metrics"]["nc4"] >= 0 and r["metrics"]["nc1"] > 0


@pytest.mark.slow  # ~19 s: the UFM solve (compilation) with K = 10
def test_cli_runs_on_the_shipped_example(capsys):
    assert call(["compare", EXAMPLE, "--labels", EXAMPLE, "--classifier", EXAMPLE, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["K"] == 10 and r["counts"][:5] == [100] * 5 and set(r["distances"]) == {"etf", "seli", "ufm"}
    assert r["ufm"]["status"] == "converged"
    assert all(0 <= v <= 2 for d in r["distances"].values() for v in d.values())


@pytest.mark.slow  # ~14 UFM solves
def test_fit_lambda_recovers_the_scale_of_a_ufm_optimum():
    counts = (6, 6, 2)
    truth = C.solve_ufm(counts, 3, 2e-2, 2e-2)
    target = float(np.mean(np.linalg.norm(truth.class_means, axis=0)))
    t, sol = C.fit_lambda(counts, 3, target)
    # 14 bisection steps on [1e-6, 1] in log scale: |log t - log 2e-2| <= log(1e6) / 2^14 ~ 1e-3
    assert abs(np.log(t / 2e-2)) < 2e-3, t


def test_fit_lambdas_recovers_unequal_decays_of_a_ufm_optimum():
    """The rescaling symmetry makes the ratio exact; the scale comes from 14 bisection steps on [1e-6, 1]:
    |log s - log s*| <= log(1e6) / 2^14 ~ 1e-3, so each decay within ~0.2 %."""
    counts = (6, 6, 2)
    truth = C.solve_ufm(counts, 3, 2e-2, 5e-3)
    m = float(np.mean(np.linalg.norm(truth.class_means, axis=0)))
    lw, lh, sol, s = C.fit_lambdas(counts, 3, m, float(np.linalg.norm(truth.classifier)))
    assert abs(np.log(lw / 2e-2)) < 2e-3 and abs(np.log(lh / 5e-3)) < 2e-3, (lw, lh)
    assert abs(np.linalg.norm(sol.classifier) / np.linalg.norm(truth.classifier) - 1) < 2e-3
    with pytest.raises(ProblemError):
        C.fit_lambdas(counts, 3, m, 0.0)


def test_cli_fit_lambda_with_a_classifier_fits_both_decays(capsys):
    assert call(["compare", EXAMPLE, "--labels", EXAMPLE, "--classifier", EXAMPLE, "--fit-lambda", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    u = r["ufm"]
    assert u["fitted"] and u["fitted_to"] == "class-mean and classifier norms" and u["lambda_H"] < u["lambda_W"]
    assert not any("end of the searched range" in n for n in r["notes"])


def test_cli_plot_writes_the_heat_maps_and_refuses_a_bad_name(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "g.png"
    args = ["compare", EXAMPLE, "--labels", EXAMPLE, "--classifier", EXAMPLE, "--no-solve"]
    assert call([*args, "--plot", str(png)]) == 0 and png.stat().st_size > 1000
    assert call([*args, "--plot", str(tmp_path / "g.txt")]) == 2 and "--plot" in capsys.readouterr().err
