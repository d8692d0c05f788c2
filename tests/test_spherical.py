"""The normalised (spherical) UFM: Problem.feature_radius / classifier_radius, the solver on the spheres, the
sphere lower bound, the spherical-code metrics, and the refusals of the unconstrained-only paths.

Reference: an independently written numpy objective in angle coordinates (d = 2: h = r (cos t, sin t), so the
sphere constraint is built in, nothing shared with ufm.objective) minimised by scipy from many starts.

Tolerances: the solver stops at relative stationarity 1e-11, so objectives agree to ~1e-10 relative with any
exact reference; scipy's L-BFGS-B with gtol 1e-12 on ~15 smooth variables reaches ~1e-9 relative (its own
stopping rule), hence OBJ_RTOL_SCIPY. Configurations (Gram matrices, first order in the stationarity) to 1e-6.
"""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

import ufm
from ufm import codes, convex, reduced, sphere
from ufm.certificates import certify
from ufm.errors import ProblemError
from ufm.solver import solve
from ufm.theory import PREDICTIONS

OBJ_RTOL_SCIPY = 1e-8
STRUCT_TOL = 1e-6


# ----------------------------------------------------------------------------- the independent reference
def reference_objective(counts, lam_W, lam_H, r_H, r_W):
    """Canonical objective of the d = 2 normalised CE UFM in angles: (1/N) sum_i CE(W h_i, y_i)
    + lambda_W/2 ||W||^2 + lambda_H/2 ||H||^2 with h_i = r_H (cos t_i, sin t_i) and, when r_W is given,
    w_k = r_W (cos s_k, sin s_k) (else W free, 2K numbers)."""
    K, N = len(counts), sum(counts)
    y = np.repeat(np.arange(K), counts)

    def f(x):
        t = x[:N]
        H = r_H * np.stack([np.cos(t), np.sin(t)])
        if r_W is None:
            W = x[N:].reshape(K, 2)
        else:
            W = r_W * np.stack([np.cos(x[N:]), np.sin(x[N:])], axis=1)
        Z = W @ H
        m = Z.max(axis=0)
        lse = m + np.log(np.exp(Z - m).sum(axis=0))
        return float(np.mean(lse - Z[y, np.arange(N)]) + 0.5 * lam_W * np.sum(W * W)
                     + 0.5 * lam_H * np.sum(H * H))

    size = N + (2 * K if r_W is None else K)
    return f, size


def reference_minimum(counts, lam_W, lam_H, r_H, r_W, starts=6, seed=0):
    f, size = reference_objective(counts, lam_W, lam_H, r_H, r_W)
    rng = np.random.default_rng(seed)
    best = math.inf
    for _ in range(starts):
        res = minimize(f, rng.uniform(-math.pi, math.pi, size), method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000})
        best = min(best, res.fun)
    return best


@pytest.mark.parametrize("radii,lams", [
    ((1.5, 2.0), (0.0, 0.0)),  # both on spheres, no decay
    pytest.param((1.5, None), (2e-2, 1e-3), marks=pytest.mark.slow)])  # features on a sphere, W free
def test_solver_agrees_with_independent_sphere_reference(radii, lams):
    counts = (2, 1, 1, 2)  # imbalanced, K = 4 > d + 1 = 3
    r_H, r_W = radii
    p = ufm.Problem(counts=counts, d=2, loss="ce", lambda_W=lams[0], lambda_H=lams[1], feature_radius=r_H,
                    classifier_radius=r_W)
    # the full problem (every sample its own feature); L-BFGS alone reaches the value to ~1e-12, no polish needed
    sol = solve(p, restarts=2, reduce="never", polish="never", second_order="never")
    ref = reference_minimum(counts, lams[0], lams[1], r_H, r_W)
    assert sol.status == "converged"
    assert abs(sol.objective - ref) <= OBJ_RTOL_SCIPY * abs(ref), (sol.objective, ref)
    # the point lies on the spheres and its value is the objective there
    assert np.allclose(np.linalg.norm(sol.features, axis=0), r_H, rtol=1e-14)
    if r_W is not None:
        assert np.allclose(np.linalg.norm(sol.classifier, axis=1), r_W, rtol=1e-14)
    f, _ = reference_objective(counts, lams[0], lams[1], r_H, r_W)
    t = np.arctan2(sol.features[1], sol.features[0])
    x = np.concatenate([t, sol.classifier.ravel() if r_W is None
                        else np.arctan2(sol.classifier[:, 1], sol.classifier[:, 0])])
    assert abs(f(x) - sol.objective) <= 1e-13 * abs(sol.objective)
    if r_W is None:  # the class-reduced solve (exact on spheres: docs/theory.md) reaches the same value
        assert abs(solve(p, restarts=2).objective - sol.objective) <= 1e-10 * abs(sol.objective)


def test_depth_two_on_the_spheres_against_an_independent_reference():
    """M = 2: features and classifier rows on circles (angles), the hidden layer W_1 (2 x 2) free with decay;
    the objective equals the reference's at the solution, and the best of the restarts is no higher than a
    scipy multistart on the reference (this landscape has spurious local minima: both sides take restarts)."""
    counts, lam, r_H, r_W = (2, 1, 1), 1e-2, 1.0, 2.0
    p = ufm.Problem(counts=counts, d=2, depth=2, loss="ce", lambda_W=lam, lambda_H=0.0, feature_radius=r_H,
                    classifier_radius=r_W)
    K, N = len(counts), sum(counts)
    y = np.repeat(np.arange(K), counts)

    def f(x):
        H = r_H * np.stack([np.cos(x[:N]), np.sin(x[:N])])
        W2 = r_W * np.stack([np.cos(x[N:N + K]), np.sin(x[N:N + K])], axis=1)
        W1 = x[N + K:].reshape(2, 2)
        Z = W2 @ W1 @ H
        m = Z.max(axis=0)
        return float(np.mean(m + np.log(np.exp(Z - m).sum(axis=0)) - Z[y, np.arange(N)])
                     + 0.5 * lam * np.sum(W1 * W1) + 0.5 * lam * np.sum(W2 * W2))

    rng = np.random.default_rng(0)
    ref = min(minimize(f, rng.uniform(-3, 3, N + K + 4), method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000}).fun for _ in range(8))
    sol = solve(p, restarts=6)
    assert sol.objective <= ref + OBJ_RTOL_SCIPY * abs(ref), (sol.objective, ref)
    W1, W2 = sol.weights
    x = np.concatenate([np.arctan2(sol.features[1], sol.features[0]), np.arctan2(W2[:, 1], W2[:, 0]), W1.ravel()])
    assert abs(f(x) - sol.objective) <= 1e-13 * abs(sol.objective)
    assert np.allclose(np.linalg.norm(W2, axis=1), r_W, rtol=1e-14)


def test_temperature_is_the_product_of_the_radii():
    p = ufm.Problem.normalized_logits((2, 2, 2), 2, temperature=0.25, lambda_W=0.0, lambda_H=0.0)
    assert (p.feature_radius, p.classifier_radius, p.temperature) == (1.0, 4.0, 0.25)
    assert ufm.Problem.balanced(3, 2, 2, feature_radius=2.0, classifier_radius=2.0, lambda_W=0.0,
                                lambda_H=0.0).temperature == 0.25
    with pytest.raises(ProblemError) as e:
        ufm.Problem.normalized_logits((2, 2), 2, temperature=0.0)
    assert e.value.field == "temperature"
    with pytest.raises(ProblemError) as e:
        ufm.Problem.normalized_logits((2, 2), 2, temperature=1.0, feature_radius=2.0)
    assert e.value.field == "feature_radius"


# ----------------------------------------------------------------------------- generalized collapse
def _sphere_ce(K, d, r=2.0, n=1):
    return ufm.Problem.balanced(K, n, d, loss="ce", lambda_W=0.0, lambda_H=0.0, feature_radius=r,
                                classifier_radius=r)


def _check_polygon(K):
    sol = solve(_sphere_ce(K, 2), restarts=2)
    assert sol.status == "converged"
    assert codes.polygon_distance(sol.classifier) <= STRUCT_TOL
    assert codes.polygon_distance(sol.class_means.T) <= STRUCT_TOL
    # features aligned with their classifier rows (cos = 1)
    assert np.min(np.sum(codes.unit_rows(sol.classifier) * codes.unit_rows(sol.class_means.T), 1)) >= 1 - 1e-10
    rho = 4.0  # r_H r_W
    polygon_value = math.log(np.sum(np.exp(rho * np.cos(2 * np.pi * np.arange(K) / K)))) - rho
    assert abs(sol.objective - polygon_value) <= 1e-10 * polygon_value


def test_spherical_ce_in_the_plane_is_the_regular_polygon():
    _check_polygon(5)


@pytest.mark.slow
@pytest.mark.parametrize("K", [3, 4, 6, 7, 8, 9])
def test_spherical_ce_in_the_plane_is_the_regular_polygon_more_K(K):
    _check_polygon(K)


@pytest.mark.slow  # the default suite asserts the octahedron through proofs_check's alcala2026-orthoplex case 1
def test_six_classes_in_three_dimensions_make_the_octahedron():
    sol = solve(_sphere_ce(6, 3), restarts=2)
    assert sol.status == "converged"
    assert codes.orthoplex_distance(sol.classifier) <= STRUCT_TOL
    assert abs(codes.min_angle(sol.classifier) - codes.tammes_bound(6, 3)) <= STRUCT_TOL
    value = math.log(math.exp(4.0) + 4 + math.exp(-4.0)) - 4.0
    assert abs(sol.objective - value) <= 1e-10 * value


# ----------------------------------------------------------------------------- the second-order check
def test_second_order_on_the_sphere_projects_out_the_radial_directions():
    p = _sphere_ce(5, 2)
    sol = certify(solve(p, restarts=1), seed=0)
    so = sol.certificate["second_order"]
    # rotations (1) + 5 feature rays + 5 classifier rays
    assert so["symmetry_dimensions"] == 11 and so["verdict"] == "minimum"
    # the regular pentagon is a strict minimum on the manifold: its smallest Riemannian curvature is positive
    assert so["min_eigenvalue"] > 1e-4


# ----------------------------------------------------------------------------- the sphere bound
def test_sphere_bound_certifies_for_d_at_least_K_minus_1_and_gives_a_gap_below():
    etf = certify(solve(_sphere_ce(4, 3), restarts=1), seed=0, hessian=False)
    c = etf.certificate
    assert c["lower_bound_kind"] == "sphere" and c["certified"] and c["level"] == "certified"
    rho = 4.0
    assert abs(c["lower_bound"] - math.log1p(3 * math.exp(-4 * rho / 3))) <= 1e-15
    below = certify(solve(_sphere_ce(5, 2), restarts=1), seed=0, hessian=False).certificate
    assert not below["certified"] and not below["bound_attained"]
    # the ETF value log(1 + 4 e^{-5 rho/4}) for K = 5, strictly below the pentagon's value (the gap)
    assert abs(below["lower_bound"] - math.log1p(4 * math.exp(-5 * rho / 4))) <= 1e-15
    pentagon = math.log(np.sum(np.exp(rho * np.cos(2 * np.pi * np.arange(5) / 5)))) - rho
    assert abs(below["gap"] - (pentagon - below["lower_bound"])) <= 1e-10 * pentagon and below["gap"] > 1e-3


def test_sphere_bound_with_one_free_factor_is_attained_by_the_solver():
    """One radius, the other factor free with decay: the bound is a 1-d minimisation; the ETF attains it."""
    p = ufm.Problem.balanced(4, 2, 3, loss="ce", lambda_W=1e-2, lambda_H=1e-3, feature_radius=1.5)
    sol = solve(p, restarts=1, polish="never", second_order="never")  # L-BFGS alone: the value to ~1e-12
    b = sphere.bound(p)
    assert b.attained and abs(sol.objective - b.value) <= 1e-10 * b.value


# ----------------------------------------------------------------------------- validation and refusals
@pytest.mark.parametrize("kwargs,field", [
    (dict(feature_radius=0.0), "feature_radius"),
    (dict(feature_radius=float("nan")), "feature_radius"),
    (dict(classifier_radius="1"), "classifier_radius"),
    (dict(feature_radius=1.0, d=1), "feature_radius"),  # the sphere of R^1 is two points
    (dict(classifier_radius=1.0, d=1), "classifier_radius"),
    (dict(classifier_radius=1.0, classifier="etf"), "classifier_radius"),
    (dict(feature_radius=1.0, lambda_W=0.0, lambda_H=1e-3), "lambda_W"),  # CE, W free without decay
])
def test_bad_radii_are_refused_naming_the_field(kwargs, field):
    base = dict(counts=(2, 2, 2), d=2, loss="ce")
    with pytest.raises(ProblemError) as e:
        ufm.Problem(**{**base, **kwargs})
    assert e.value.field == field


def test_unconstrained_theory_refuses_normalised_problems():
    p = ufm.Problem.balanced(3, 2, 3, loss="ce", lambda_W=1e-2, lambda_H=1e-2, feature_radius=1.0)
    assert not convex.applicable(p)[0] and "feature_radius" in convex.applicable(p)[1]
    assert not reduced.applicable(p)[0]
    assert not PREDICTIONS["zhu2021_balanced_ce"].applies(p)[0]
    free = p.replace(feature_radius=None)
    assert convex.applicable(free)[0] and PREDICTIONS["zhu2021_balanced_ce"].applies(free)[0]
    assert ufm.Problem.from_dict(p.to_dict()) == p


# ----------------------------------------------------------------------------- code metrics
def test_code_metrics_on_known_configurations():
    K = 7
    a = 2 * np.pi * np.arange(K) / K
    polygon = np.stack([np.cos(a), np.sin(a)], 1)
    assert codes.polygon_distance(polygon[::-1] * 3) <= 1e-14
    assert abs(codes.min_angle(polygon) - 2 * np.pi / K) <= 1e-12
    square_ish = polygon.copy()
    square_ish[0] = [np.cos(0.1), np.sin(0.1)]
    assert codes.polygon_distance(square_ish) > 1e-2
    octa = np.concatenate([np.eye(3), -np.eye(3)])
    assert codes.orthoplex_distance(octa) == 0.0 and abs(codes.min_angle(octa) - np.pi / 2) <= 1e-15
    # one-vs-rest: e_1 against the hull of the other vertices {x <= 0, |x|+|y|+|z| <= 1}: distance 1; a
    # polygon vertex against the chord of its neighbours: 1 - cos(2 pi / K) (SLSQP to ~1e-8)
    assert abs(codes.one_vs_rest_distance(octa) - 1.0) <= 1e-7
    assert abs(codes.one_vs_rest_distance(polygon) - (1 - np.cos(2 * np.pi / K))) <= 1e-7
    # the simplex meets the Welch bound with equality (an ETF)
    etf = np.eye(4) - 0.25
    assert abs(codes.coherence(etf) - codes.welch_bound(4, 4 - 1)) <= 1e-12


# ----------------------------------------------------------------------------- sweeps and the command line
def test_sweep_spec_keys_for_the_radii():
    from ufm.errors import SpecError
    from ufm.sweep import parse_spec

    spec = parse_spec('[base]\nd = 2\nn = 1\nlambda = 0.0\nfeature_radius = 2.0\n'
                      '[axes]\nK = [3, 4]\nclassifier_radius = [1.0, 2.0]\n')
    problems = [spec.problem(pt) for pt in spec.points()]
    assert {(p.K, p.feature_radius, p.classifier_radius) for p in problems} == \
        {(3, 2.0, 1.0), (3, 2.0, 2.0), (4, 2.0, 1.0), (4, 2.0, 2.0)}
    with pytest.raises(SpecError) as e:
        parse_spec("[base]\nd = 2\nK = 3\nn = 1\nfeature_radius = -1\n")
    assert e.value.field == "base.feature_radius"
    # temperature: feature_radius = 1, classifier_radius = 1/tau (Problem.normalized_logits)
    spec = parse_spec('[base]\nd = 2\nK = 3\nn = 1\nlambda = 0.0\n[axes]\ntemperature = [0.5, 0.25]\n')
    assert [(p.feature_radius, p.classifier_radius, p.temperature) for p in map(spec.problem, spec.points())] == \
        [(1.0, 2.0, 0.5), (1.0, 4.0, 0.25)]
    for text, field in [("temperature = 0.0\n", "base.temperature"),
                        ("temperature = 0.5\nfeature_radius = 1.0\n", "base.temperature")]:
        with pytest.raises(SpecError) as e:
            parse_spec("[base]\nd = 2\nK = 3\nn = 1\n" + text)
        assert e.value.field == field


def test_cli_flags_and_the_bound_line(capsys):
    from ufm.cli import main

    rc = main(["solve", "-K", "5", "-n", "1", "-d", "2", "--feature-radius", "2", "--classifier-radius", "2",
               "--lambda-w", "0", "--lambda-h", "0", "--certify", "--no-predictions"])
    out = capsys.readouterr().out
    assert rc == 0 and "features on the sphere of radius 2.0" in out
    assert "not certified: relative gap" in out and "lower bound 0.0" in out and "sphere lower bound" in out
    assert main(["solve", "-K", "3", "-d", "2", "--feature-radius", "0"]) == 2
    assert "--feature-radius" in capsys.readouterr().err


def test_cli_code_line_for_more_classes_than_dimensions(capsys):
    import json

    from ufm.cli import main

    rc = main(["solve", "-K", "5", "-n", "1", "-d", "2", "--feature-radius", "2", "--classifier-radius", "2",
               "--lambda-w", "0", "--lambda-h", "0", "--no-predictions", "-q"])
    out = capsys.readouterr().out
    assert rc == 0 and "code       classifier rows: min angle 72.0000 deg (Tammes bound 72.0000)" in out
    assert main(["solve", "-K", "5", "-n", "1", "-d", "2", "--feature-radius", "2", "--classifier-radius", "2",
                 "--lambda-w", "0", "--lambda-h", "0", "--no-predictions", "--json"]) == 0
    code = json.loads(capsys.readouterr().out)["code"]
    assert code["polygon_distance"] <= STRUCT_TOL and abs(code["min_angle"] - 2 * math.pi / 5) <= STRUCT_TOL


def test_a_saddle_on_the_sphere_is_called_a_saddle():
    """Classes 1, 2 on +e_1 and 3, 4 on -e_1 (rows and means): invariant under y -> -y, so the Riemannian
    gradient (along y) vanishes; splitting the coinciding classes lowers the loss, so the Riemannian Hessian
    has a negative eigenvalue. The check must say saddle, not minimum (the radial nulls projected out)."""
    from ufm.certificates import second_order_at

    p = _sphere_ce(4, 2)
    x = np.array([[2.0, 0.0], [2.0, 0.0], [-2.0, 0.0], [-2.0, 0.0]])
    params = {"W": (x,), "H": x.T.copy()}
    import jax

    from ufm import objective as obj

    _, g = obj.value_grad_fn("ce", "none")(params, obj.problem_data(p, reduce=True))
    assert max(float(np.max(np.abs(leaf))) for leaf in jax.tree_util.tree_leaves(g)) <= 1e-14  # critical
    so = second_order_at(p, params, reduced=True)
    assert so["verdict"] == "saddle" and so["min_eigenvalue"] < -1e-3, so


def test_project_puts_full_and_reduced_points_on_their_spheres():
    from ufm import objective as obj

    p = ufm.Problem(counts=(3, 1, 2), d=2, loss="ce", lambda_W=0.0, lambda_H=0.0, feature_radius=2.0,
                    classifier_radius=1.0)
    rng = np.random.default_rng(1)
    x = {"W": (rng.standard_normal((3, 2)),), "H": rng.standard_normal((2, 3))}
    reduced_x = obj.project(p, x, reduce=True)  # reduced column c stands for sqrt(m_c) times the feature
    assert np.allclose(np.linalg.norm(reduced_x["H"], axis=0), 2.0 * np.sqrt([3, 1, 2]), rtol=1e-14)
    full = obj.lift(p, reduced_x)
    assert np.allclose(np.linalg.norm(full["H"], axis=0), 2.0, rtol=1e-14)
    assert np.allclose(np.linalg.norm(reduced_x["W"][0], axis=1), 1.0, rtol=1e-14)
    assert obj.project(p.replace(feature_radius=None, classifier_radius=None, lambda_W=1e-2, lambda_H=1e-2),
                       x) is x  # free problems: the identity


@pytest.mark.slow
def test_solution_at_a_raw_point_is_the_point_on_the_spheres():
    from ufm.solution import Solution

    p = ufm.Problem(counts=(1, 1, 1), d=2, loss="ce", lambda_W=0.0, lambda_H=0.0, feature_radius=2.0,
                    classifier_radius=1.0)
    rng = np.random.default_rng(0)
    sol = Solution.at(p, {"W": (rng.standard_normal((3, 2)),), "H": rng.standard_normal((2, 3))})
    assert np.allclose(np.linalg.norm(sol.features, axis=0), 2.0, rtol=1e-14)
    assert np.allclose(np.linalg.norm(sol.classifier, axis=1), 1.0, rtol=1e-14)
