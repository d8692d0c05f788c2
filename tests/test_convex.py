"""ufm.convex: the one-layer convex program against closed forms and the full UFM solver; the dual bound is
a rigorous lower bound (never above the optimum) and closes to <= 1e-8 (observed ~1e-12)."""

import numpy as np
import pytest

import ufm
from ufm import objective as obj
from ufm.convex import certificate, lift, solve_convex
from ufm.solver import solve

CASES = [
    ((5, 5, 5, 5), "ce", "none", {}),
    ((20, 10, 5, 2), "ce", "none", {}),
    ((20, 10, 5, 2), "ce", "free", {}),
    ((20, 10, 5, 2), "ce", "regularized", {"lambda_b": 1e-2}),
    ((6, 6, 6), "mse", "none", {}),
    ((20, 10, 5, 2), "mse", "free", {}),
    ((8, 4, 2, 1), "mse", "regularized", {"lambda_b": 3e-3}),
]


@pytest.mark.parametrize("counts,loss,bias,kw", CASES)
def test_convex_matches_ufm_and_gap_closes(counts, loss, bias, kw):
    p = ufm.Problem(counts=counts, d=6, loss=loss, bias=bias, lambda_W=5e-3, lambda_H=5e-3, **kw)
    res = solve_convex(p)
    assert res.converged and 0 <= res.gap <= 1e-8 * max(1, res.value)
    sol = solve(p, restarts=2)
    # the UFM optimum equals the convex optimum (docs/theory.md section 3 / 8)
    assert abs(sol.objective - res.value) <= 1e-8 * res.value
    assert res.lower_bound <= sol.objective + 1e-14
    # W Hbar of the UFM solution is the convex optimiser (unique: strictly convex in Z for these cases)
    Z = sol.mean_logits
    assert np.max(np.abs(Z - res.Z)) <= 1e-5 * np.max(np.abs(res.Z))
    # the lift attains the convex value in the full UFM
    params = lift(p, res.Z, res.b)
    value = obj.evaluate(p, params["W"], params["H"], params.get("b"))
    assert abs(value - res.value) <= 1e-12 * res.value


def test_balanced_ce_closed_form():
    K, n, lw, lh = 5, 4, 3e-3, 1e-2
    p = ufm.Problem.balanced(K, n, 8, lambda_W=lw, lambda_H=lh)
    c = np.sqrt(n * lw * lh)
    f = -np.log(1 - (K - 1) * c) + (K - 1) * c * np.log((1 - (K - 1) * c) / c)
    res = solve_convex(p)
    assert abs(res.value - f) <= 1e-10 * f and res.lower_bound <= f + 1e-15


def test_lower_bound_is_valid_anywhere():
    """The dual bound from an arbitrary (bad) primal point is still below the optimum."""
    p = ufm.Problem(counts=(9, 3, 1), d=4, loss="ce", bias="free", lambda_W=1e-2, lambda_H=1e-2)
    opt = solve_convex(p).value
    rng = np.random.default_rng(0)
    for _ in range(20):
        Z = 3 * rng.standard_normal((3, 3))
        lb, val = certificate(p, Z, rng.standard_normal(3))
        assert lb <= opt + 1e-14 and val >= opt - 1e-14


def test_d_below_K_bound_and_rank():
    """d < K: the bound is still a lower bound; here the convex optimum has rank K - 1 = 3 > d = 2."""
    p = ufm.Problem.balanced(4, 3, 2, loss="ce", lambda_W=5e-3, lambda_H=5e-3)
    res = solve_convex(p)
    sol = solve(p, restarts=3)
    assert res.rank == 3 and res.lower_bound <= sol.objective
    assert sol.objective > res.value + 1e-6  # the rank constraint binds: not attained
    with pytest.raises(ufm.ProblemError, match="rank"):
        lift(p, res.Z, res.b)


@pytest.mark.parametrize("kwargs,field", [
    (dict(depth=2), "depth"), (dict(classifier="etf"), "classifier"),
])
def test_not_applicable(kwargs, field):
    p = ufm.Problem.balanced(3, 2, 4, **kwargs)
    with pytest.raises(ufm.ProblemError, match=field):
        solve_convex(p)


def test_oracle_at_small_weight_decay_starts_on_the_etf_ray():
    """At lambda = 1e-12 the optimal logits are large (a ~ log(1/lambda)) and the smooth part nearly flat: FISTA
    from Z = 0 stopped 29% above the optimum after 200,000 steps, and ufm solve printed the convex oracle's
    prediction as 'inconclusive'. Started from the best point of the simplex-ETF ray (ufm.convex.ray_start), its
    value equals Zhu et al.'s closed form to rounding; the start does not change the certified bound's validity."""
    import ufm
    from ufm.convex import ray_start, solve_convex
    from ufm.theory import PREDICTIONS

    p = ufm.Problem.balanced(4, 5, 4, loss="ce", lambda_W=1e-12, lambda_H=1e-12)
    f_star = PREDICTIONS["zhu2021_balanced_ce"].predict(p)["objective"]
    res = solve_convex(p, max_iter=2000)
    assert abs(res.value - f_star) <= 1e-9 * f_star  # was 3e-1 from Z = 0
    assert res.lower_bound <= f_star * (1 + 1e-12)  # the bound stays a bound
    a = ray_start(p)[0, 0] * 4 / 3  # Z = a (I - J/K): diagonal (1 - 1/K) a
    assert 20 < a < 40  # log(1/lambda)-sized, found by the grid and the golden-section refinement
