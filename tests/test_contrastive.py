"""The supervised-contrastive UFM (ufm.contrastive): the loss against an independent numpy objective, the solver
against Graf et al.'s bound / Kini et al.'s orthogonal frame and against scipy multistarts, the second-order
check, bad input."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize

import ufm
from ufm import contrastive as c
from ufm.errors import OptionsError, ProblemError, ResourceError

ufm.enable_x64()


def reference_loss(problem, H):
    """Independent: the SupCon loss written from its definition (Khosla et al. 2020 / Graf et al. 2021), with
    a per-sample max shift, looping over samples."""
    H = np.asarray(H, float)
    if problem.nonnegative:
        H = H * H
    H = problem.feature_radius * H / np.linalg.norm(H, axis=0)
    S = H.T @ H / problem.temperature
    y = problem.labels()
    total = 0.0
    for i in range(len(y)):
        others = np.array([a for a in range(len(y)) if a != i])
        pos = np.array([a for a in others if y[a] == y[i]])
        m = S[i, others].max()
        total += m + np.log(np.sum(np.exp(S[i, others] - m))) - S[i, pos].mean()
    return total / len(y)


@pytest.mark.parametrize("nonnegative", [False, True])
def test_loss_equals_an_independent_numpy_objective(nonnegative):
    g = np.random.default_rng(0)
    for counts, tau, r in [((2, 3, 5), 0.3, 1.0), ((4, 4), 2.0, 0.7), ((2, 2, 2, 3), 0.05, 1.3)]:
        p = c.SupCon(counts, 3, temperature=tau, feature_radius=r, nonnegative=nonnegative)
        H = np.abs(g.standard_normal((3, p.N))) if nonnegative else g.standard_normal((3, p.N))
        # the reference sums O(N) terms of size up to r^2/tau ~ 34: agreement to ~1e-13 relative
        raw = np.sqrt(H) if nonnegative else H  # evaluate takes features, the reference raw parameters
        assert c.evaluate(p, H) == pytest.approx(reference_loss(p, raw), rel=1e-12)


def test_the_loss_at_the_simplex_equals_the_closed_form():
    """Relative 1e-14 at a moderate scale; at n = 2, rho^2 = 50 the minimum is ~1e-32 and the similarities'
    rounding (~eps rho^2 = 1e-14) bounds the absolute error: the value is that small and not negative."""
    for p, rel in [(c.SupCon.balanced(4, 3, 3, temperature=0.5), 1e-14), (c.SupCon.balanced(3, 5, 7, temperature=2.0,
                                                                                             feature_radius=3.0), 1e-14)]:
        assert c.evaluate(p, c.simplex_features(p)) == pytest.approx(c.bound(p), rel=rel)
    p = c.SupCon.balanced(3, 2, 2, temperature=0.02)
    value = c.evaluate(p, c.simplex_features(p))
    assert 0 <= value <= 1e-13 and c.bound(p) < 1e-31


def test_balanced_optimum_is_the_certified_simplex():
    p = c.SupCon.balanced(4, 3, 4, temperature=0.5, feature_radius=1.2)
    sol = c.solve(p, restarts=3, seed=1)
    m = sol.metrics()
    assert sol.status == "converged" and sol.second_order["verdict"] == "minimum"
    assert sol.certified and abs(sol.gap) <= c.CERT_RTOL
    # structure: first order in the stationarity (<= 1e-12) over the curvature ratio (~1e-1 here)
    assert m["nc1"] < 1e-12 and m["etf_distance"] < 1e-8 and m["global_mean_norm"] < 1e-8
    assert m["cosine_min"] == pytest.approx(-1 / 3, abs=1e-8) and m["cosine_max"] == pytest.approx(-1 / 3, abs=1e-8)


def test_below_k_minus_1_the_bound_is_reported_with_its_gap():
    p = c.SupCon.balanced(5, 2, 2, temperature=0.5)
    sol = c.solve(p, restarts=2)
    assert not sol.certified and sol.bound < sol.objective and sol.gap > 1e-3
    # d = 2: the classes sit on a regular pentagon (the best spherical code of 5 points in the plane)
    assert sol.metrics()["min_angle_degrees"] == pytest.approx(72.0, abs=1e-6)


def test_nonnegative_features_give_the_orthogonal_frame_for_any_counts():
    p = c.SupCon((7, 2, 3), 3, temperature=0.2, nonnegative=True)
    sol = c.solve(p, restarts=3)
    assert np.all(sol.features >= 0)
    assert sol.objective == pytest.approx(c.orthogonal_frame_value(p), rel=1e-12)
    assert sol.metrics()["orthogonal_frame_distance"] < 1e-8
    assert c.orthogonal_frame_value(p) == pytest.approx(c.evaluate(p, c.orthogonal_frame_features(p)), rel=1e-14)


def _scipy_multistart(p, starts=6, seed=0):
    """Independent: scipy L-BFGS-B on the numpy reference objective (features parametrised by raw vectors)."""
    g = np.random.default_rng(seed)
    shape = (p.d, p.N)
    best = np.inf
    for _ in range(starts):
        res = minimize(lambda x: reference_loss(p, x.reshape(shape)), g.standard_normal(p.d * p.N), method="L-BFGS-B",
                       options={"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15})
        best = min(best, res.fun)
    return best


def test_imbalanced_optimum_is_no_worse_than_scipy_multistart_and_beats_the_simplex():
    p = c.SupCon((5, 2, 2), 2, temperature=0.5)
    sol = c.solve(p, restarts=4)
    ref = _scipy_multistart(p)
    # scipy stops at ftol 1e-15 relative from a finite-difference-free gradient: ufm is at most 1e-9 above it
    assert sol.objective <= ref + 1e-9 * abs(ref)
    assert sol.objective < c.evaluate(p, c.simplex_features(p)) - 1e-6  # imbalance breaks the symmetry
    assert sol.metrics()["nc1"] < 1e-10  # still collapsed within classes
    value, _ = c.solve_collapsed(p, restarts=3)
    assert value == pytest.approx(sol.objective, rel=1e-10)


def test_all_features_at_one_point_is_a_saddle_not_a_minimum():
    """Every feature at the same point is stationary (the gradient is radial) but not a minimum: the second-order
    check must say so, and a solve started there must not end there."""
    p = c.SupCon.balanced(3, 2, 2, temperature=1.0)
    H = np.tile(np.array([[1.0], [0.0]]), (1, p.N))
    assert c.second_order(p, H)["verdict"] == "saddle"
    stuck = c.solve(p, restarts=0, init=H, escapes=0)  # exactly stationary: the loop cannot move
    assert stuck.status == "saddle" and not stuck.certified
    sol = c.solve(p, restarts=0, init=H)  # continued along the negative curvature, to the certified optimum
    assert sol.second_order["escapes"] >= 1 and sol.objective < c.evaluate(p, H) - 1e-3 and sol.certified


@pytest.mark.parametrize("kwargs, field", [
    (dict(counts=(1, 3), d=2), "counts"), (dict(counts=(3,), d=2), "counts"), (dict(counts=(2, 2), d=1), "d"),
    (dict(counts=(2, 2), d=2, temperature=0.0), "temperature"),
    (dict(counts=(2, 2), d=2, feature_radius=float("nan")), "feature_radius"),
    (dict(counts=(2, 2), d=2, nonnegative="yes"), "nonnegative")])
def test_bad_fields_are_one_clear_error(kwargs, field):
    with pytest.raises(ProblemError) as e:
        c.SupCon(**kwargs)
    assert e.value.field == field


def test_limits_and_options():
    with pytest.raises(ResourceError):
        c.SupCon((c.MAX_SAMPLES, 2), 2)
    p = c.SupCon((2, 2), 2)
    with pytest.raises(OptionsError):
        c.solve(p, restarts=0)
    with pytest.raises(OptionsError):
        c.solve(p, gtol=2.0)
    with pytest.raises(ProblemError):
        c.solve(p, init=np.zeros((2, 4)))
    assert c.bound(c.SupCon((2, 3), 2)) is None


def test_cli_supcon_prints_certificate_and_refuses_bad_flags(capsys):
    from ufm.cli import main

    assert main(["supcon", "-K", "3", "-n", "2", "-d", "2", "--tau", "0.5", "--restarts", "2"]) == 0
    assert "certified optimal" in capsys.readouterr().out
    for flags, name in [(("--counts", "1,3"), "--counts"), (("--tau", "-1"), "--temperature"),
                        (("--per-class", "1"), "--per-class"), (("--counts", "2,2", "-K", "3"), "--counts"),
                        (("--restarts", "0"), "--restarts")]:
        assert main(["supcon", *flags]) == 2
        err = capsys.readouterr().err
        assert name in err and len(err.strip().splitlines()) == 1, err


def test_cli_supcon_runs_as_a_command():
    out = subprocess.run([sys.executable, "-m", "ufm", "supcon", "--counts", "3,2", "-d", "2", "--json",
                          "--restarts", "1"], capture_output=True, text=True)
    assert out.returncode == 0 and '"model": "supcon"' in out.stdout, out.stderr


def test_a_flat_problem_is_degenerate_not_a_saddle_and_certified_by_the_bound():
    """r^2 / tau = 1e-15: L is flat to rounding (all curvature ~1e-15 relative), the Ritz values are noise; the
    verdict must not be 'saddle', and the value, equal to the proven bound, is certified."""
    p = c.SupCon.balanced(3, 3, 2, temperature=0.1, feature_radius=1e-8)
    sol = c.solve(p, restarts=1)
    assert sol.second_order["verdict"] == "degenerate" and sol.status.acceptable
    assert sol.certified and abs(sol.gap) < 1e-12


def test_cli_exit_status_one_when_not_converged(capsys):
    from ufm.cli import main

    assert main(["supcon", "-K", "3", "-d", "2", "--max-iter", "1", "--restarts", "1"]) == 1
    assert "max_iter" in capsys.readouterr().out


def test_a_tiny_temperature_keeps_finite_gradients_and_no_noise_saddle():
    """r^2 / tau = 1000: exponents up to ~2000 overflow unless masked before exp (NaN gradients otherwise); the
    negatives' terms underflow, so a class can sit anywhere in a flat valley (curvature ~exp(-500)): the verdict
    there is 'degenerate', not a 'saddle' from Ritz values at rounding level."""
    import jax

    p = c.SupCon((2, 2, 3), 2, temperature=1e-3)
    V = np.random.default_rng(0).standard_normal((2, p.N))
    _, g = jax.value_and_grad(c.objective_of(p))({"H": jax.numpy.asarray(V)}, c.problem_data(p))
    assert np.all(np.isfinite(g["H"]))
    sol = c.solve(p, restarts=2)
    assert sol.status == "converged" and sol.second_order["verdict"] != "saddle"
    # the optimum: every class's negatives at similarity ~ -rho^2 / 2, so L = (1/N) sum_k n_k log(n_k - 1)
    assert sol.objective == pytest.approx(3 * np.log(2) / 7, rel=1e-12)
