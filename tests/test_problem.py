"""Problem validation (every bad field gets a clear error naming it) and exact convention converters."""

import math

import numpy as np
import pytest

import ufm
from ufm import objective as obj
from ufm.problem import Problem, ProblemError, from_convention


@pytest.mark.parametrize("kwargs,field,allowed", [
    (dict(counts=()), "counts", "at least K = 2"),
    (dict(counts=(5,)), "counts", "at least K = 2"),
    (dict(counts=(5, 0, 3)), "counts", ">= 1"),
    (dict(counts=(5, -2)), "counts", ">= 1"),
    (dict(counts=(5, 2.5)), "counts", "integer"),
    (dict(counts="55"), "counts", "list"),
    (dict(d=0), "d", ">= 1"),
    (dict(d=2.5), "d", "integer"),
    (dict(depth=0), "depth", ">= 1"),
    (dict(loss="hinge"), "loss", "'ce', 'mse'"),
    (dict(bias="learned"), "bias", "'none', 'regularized', 'free'"),
    (dict(lambda_W=-1e-3), "lambda_W", ">= 0"),
    (dict(lambda_W=float("nan")), "lambda_W", "finite"),
    (dict(lambda_W=(1e-3, 1e-3)), "lambda_W", "depth = 1"),
    (dict(lambda_W="big"), "lambda_W", "number"),
    (dict(lambda_H=float("inf")), "lambda_H", "finite"),
    (dict(lambda_H=-1.0), "lambda_H", ">= 0"),
    (dict(lambda_b=float("nan"), bias="regularized"), "lambda_b", "finite"),
    (dict(bias="regularized"), "lambda_b", "> 0 when bias='regularized'"),
    (dict(lambda_b=1e-3), "lambda_b", "only used with bias='regularized'"),
    (dict(classifier=np.zeros((3, 4))), "classifier", "(K, d) = (2, 4)"),
    (dict(classifier=np.full((2, 4), np.nan)), "classifier", "finite"),
    (dict(classifier="simplex"), "classifier", "'etf'"),
    (dict(counts=(3,) * 8, d=4, classifier="etf"), "classifier", "d >= K - 1"),
    (dict(loss="ce", lambda_H=0.0), "lambda_H", "> 0 with loss 'ce'"),
    (dict(loss="ce", lambda_W=0.0), "lambda_W", "lambda_W > 0"),
])
def test_invalid_problem_names_field_and_allowed_values(kwargs, field, allowed):
    base = dict(counts=(5, 5), d=4)
    base.update(kwargs)
    with pytest.raises(ProblemError) as info:
        Problem(**base)
    assert info.value.field == field
    assert f"invalid {field}" in str(info.value)
    assert allowed in str(info.value)


def test_valid_edge_cases():
    Problem(counts=(5, 5), d=4, loss="mse", lambda_W=0.0, lambda_H=0.0)  # MSE has a minimiser without decay
    Problem(counts=(5, 5), d=4, loss="ce", classifier="etf", lambda_W=0.0)  # fixed classifier: no W decay needed
    p = Problem(counts=[3, 2, 1], d=2, depth=3, lambda_W=[1e-3, 2e-3, 3e-3])
    assert p.lambda_W == (1e-3, 2e-3, 3e-3) and p.counts == (3, 2, 1)
    assert Problem(counts=(2, 2), d=1, depth=4, lambda_W=1e-3).lambda_W == (1e-3,) * 4


def test_problem_is_hashable_and_immutable():
    a = Problem.balanced(3, 4, 5, classifier="etf")
    b = Problem.balanced(3, 4, 5, classifier="etf")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(Exception):
        a.d = 7
    assert a.replace(lambda_H=1e-2).lambda_H == 1e-2
    assert a.replace(depth=3).lambda_W == (5e-3,) * 3


def test_static_key_ignores_lambdas():
    a = Problem.balanced(3, 4, 5, lambda_W=1e-3)
    b = Problem.balanced(3, 4, 5, lambda_W=2e-2, lambda_H=1e-1)
    assert a.static_key() == b.static_key()


def test_targets_and_labels_grouped_by_class():
    p = Problem(counts=(2, 1, 3), d=2)
    np.testing.assert_array_equal(p.labels(), [0, 0, 1, 2, 2, 2])
    np.testing.assert_array_equal(p.targets().argmax(axis=0), p.labels())
    assert p.N == 6 and p.K == 3


def _random_point(problem, seed=0):
    rng = np.random.default_rng(seed)
    shapes = obj.param_shapes(problem)
    weights = [rng.standard_normal(s) for s in shapes["W"]]
    H = rng.standard_normal(shapes["H"])
    b = rng.standard_normal(problem.K) if problem.bias != "none" else None
    return weights, H, b


def _paper_objective(conv, loss, counts, weights, H, b, lw, lh, lb):
    """The objective exactly as a paper in convention ``conv`` writes it (numpy, independent of ufm)."""
    counts = np.asarray(counts)
    N = counts.sum()
    y = np.repeat(np.arange(len(counts)), counts)
    W = weights[0]
    for Wm in weights[1:]:
        W = Wm @ W
    Z = W @ H + (0 if b is None else b[:, None])
    if loss == "ce":
        zmax = Z.max(axis=0)
        per = zmax + np.log(np.exp(Z - zmax).sum(axis=0)) - Z[y, np.arange(N)]
    else:
        per = conv.mse_scale * ((Z - np.eye(len(counts))[:, y]) ** 2).sum(axis=0)
    data = per.mean() if conv.loss_reduction == "mean" else per.sum()
    pen = 0.5 if conv.penalty == "half" else 1.0
    feat = (H ** 2).sum() if conv.feature_decay == "sum" else (H ** 2).sum() / N
    reg = sum(l * (Wm ** 2).sum() for l, Wm in zip(lw, weights)) + lh * feat
    if b is not None:
        reg += lb * (b ** 2).sum()
    return data + pen * reg


@pytest.mark.parametrize("conv", [
    ufm.Convention(), ufm.Convention(penalty="full"), ufm.Convention(feature_decay="mean"),
    ufm.Convention(loss_reduction="sum"), ufm.Convention(loss_reduction="sum", penalty="full",
                                                         feature_decay="mean", mse_scale=1.0),
])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_convention_conversion_is_exact(conv, loss):
    counts, d, lw, lh, lb = (4, 2, 3), 3, (1e-2, 3e-2), 2e-2, 5e-3
    problem, scale = from_convention(conv, counts=counts, d=d, depth=2, lambda_W=lw, lambda_H=lh,
                                     lambda_b=lb, loss=loss, bias="regularized")
    weights, H, b = _random_point(problem)
    paper = _paper_objective(conv, loss, counts, weights, H, b, lw, lh, lb)
    assert math.isclose(paper, scale * obj.evaluate(problem, weights, H, b), rel_tol=1e-13)


def test_named_conventions():
    p, s = from_convention("hong_ling2023", counts=(3, 3), d=2, lambda_W=1e-3, lambda_H=2e-3)
    assert s == 1.0 and p.lambda_W == (2e-3,) and p.lambda_H == 4e-3
    with pytest.raises(ProblemError, match="convention"):
        from_convention("nope", counts=(3, 3), d=2, lambda_W=1e-3, lambda_H=1e-3)
    with pytest.raises(ProblemError, match="penalty"):
        ufm.Convention(penalty="double")


def test_evaluate_rejects_bad_shapes():
    p = Problem.balanced(3, 2, 4)
    with pytest.raises(ProblemError, match="weights"):
        obj.evaluate(p, [np.zeros((3, 5))], np.zeros((4, 6)))
    with pytest.raises(ProblemError, match="features"):
        obj.evaluate(p, [np.zeros((3, 4))], np.zeros((4, 5)))
