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
    (dict(loss="hinge"), "loss", "loss family ['cdt', 'focal', 'label-smoothing', 'logit-adjusted', 'mse-rescaled']"),
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


# ----------------------------------------------------------------------------- input the fault campaign sent
@pytest.mark.parametrize("kwargs,field", [
    (dict(counts=bytearray(b"\x05\x05")), "counts"),
    (dict(counts=b"\x05\x05"), "counts"),
    (dict(counts=np.array([[5, 5]])), "counts"),
    (dict(d=2.7), "d"),
    (dict(counts=(5, 2.7)), "counts"),
    (dict(lambda_W=np.array([[1e-3]])), "lambda_W"),
    (dict(classifier=[[1, 2], ["a", "b"]]), "classifier"),
    (dict(classifier=[[1, 2, 3], [4]]), "classifier"),
    (dict(loss="mse", lambda_W=0.0, lambda_H=1e-3), "lambda_W"),   # mixed zero decay: no minimiser
    (dict(loss="mse", lambda_W=1e-3, lambda_H=0.0), "lambda_H"),
    (dict(classifier="orthogonal", counts=(2, 2, 2), d=2), "classifier"),
])
def test_nonsense_is_refused_with_the_field_named(kwargs, field):
    base = dict(counts=(5, 5), d=4)
    base.update(kwargs)
    with pytest.raises(ProblemError) as info:
        Problem(**base)
    assert info.value.field == field


def test_valid_input_of_other_types_is_accepted():
    from fractions import Fraction

    p = Problem(counts=(Fraction(6, 1), np.int64(3)), d=np.int32(4), lambda_W=np.array(1e-3), lambda_H=np.float32(2e-3))
    assert p.counts == (6, 3) and p.lambda_W == (1e-3,) and isinstance(p.d, int)
    q, scale = from_convention("hong_ling2023", counts=np.array([4, 2]), d=3, lambda_W=np.array([1e-3]),
                               lambda_H=1e-3)
    assert q.lambda_W == (2e-3,) and scale == 1.0


@pytest.mark.parametrize("kwargs,field", [
    (dict(convention="nope"), "convention"),
    (dict(convention=None), "convention"),
    (dict(convention=3), "convention"),
    (dict(counts="42"), "counts"),
    (dict(counts=None), "counts"),
    (dict(lambda_W="x"), "lambda_W"),
    (dict(lambda_W=None), "lambda_W"),
    (dict(lambda_H="1e-3"), "lambda_H"),
    (dict(loss=3), "loss"),
])
def test_from_convention_bad_arguments_are_named(kwargs, field):
    args = dict(convention="canonical", counts=(3, 2), d=2, lambda_W=1e-3, lambda_H=1e-3)
    args.update(kwargs)
    conv = args.pop("convention")
    with pytest.raises(ProblemError) as info:
        from_convention(conv, **args)
    assert info.value.field == field


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0, -1.0, True, "0.5"])
def test_convention_mse_scale_must_be_finite_positive(value):
    with pytest.raises(ProblemError, match="mse_scale"):
        ufm.Convention(mse_scale=value)


def test_repr_names_the_geometry_not_the_matrix_and_dict_round_trip():
    p = Problem.balanced(3, 4, 5, classifier="etf", loss="mse", bias="free")
    assert "classifier='etf'" in repr(p) and "((" not in repr(p)
    assert Problem.from_dict(p.to_dict()) == p
    q = Problem(counts=(2, 2), d=2, classifier=np.eye(2))
    assert "<2 x 2 matrix>" in repr(q) and Problem.from_dict(q.to_dict()) == q
    m = Problem(counts=(2, 2, 2), d=3, loss="mixup-ce", lambda_W=5e-3, lambda_H=5e-3,
                samples=ufm.MixupDesign(lams=(0.25, 0.5)))
    assert Problem.from_dict(m.to_dict()) == m


def test_too_deep_is_refused_before_any_work():
    import time

    t = time.perf_counter()
    for depth in (10_000, 1e8):
        with pytest.raises(ufm.ResourceError, match="depth"):
            Problem(counts=(2, 2), d=1, depth=depth)
    assert time.perf_counter() - t < 1.0  # nothing of size depth was built


def test_too_large_is_refused_with_what_is_needed():
    from ufm.limits import check_problem_size, configure

    from ufm.limits import estimate_bytes

    big = Problem.balanced(3000, 100, 512)
    need = estimate_bytes(big, reduce=True) / 2 ** 30
    assert 0.3 < need < 5.0  # parameters 3000 x 512 twice, L-BFGS history, blocked metrics: about 0.8 GiB
    configure(max_memory_gb=need / 2)
    try:
        with pytest.raises(ufm.ResourceError, match="GiB"):
            check_problem_size(big)
        configure(max_memory_gb=need * 2)
        check_problem_size(big)  # under the limit: no error
    finally:
        configure()


def test_too_large_estimate_counts_blocked_metrics_and_lifted_features():
    """The metrics of the answer cost O(BLOCK K + K d) (ufm.metrics works in blocks of rows), not K x K; what the
    caller lifts of the N feature columns afterwards (``lifted`` numbers per entry) is counted on top."""
    from ufm import metrics
    from ufm.limits import estimate_sizes

    K, N, d = 100_000, 100_000_000, 32
    base = estimate_sizes(K, N, d, 1, reduce=True, stream=True)
    assert base < 8 * (30 * 2 * K * d + 2 * N + 5 * metrics.BLOCK * K + 10 * K * d)  # no K * K term (80 GB)
    assert estimate_sizes(K, N, d, 1, reduce=True, stream=True, lifted=1) - base == 8 * d * N
    small = estimate_sizes(300, 3000, 8, 1, reduce=True)
    assert small > 8 * 4 * 300 * 300  # K <= BLOCK: the direct formulas, a few K x K matrices


# ----------------------------------------------------------------------------- property-based
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

ANY = st.one_of(st.none(), st.booleans(), st.integers(-10, 10 ** 6), st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=4), st.binary(max_size=3), st.lists(st.integers(-2, 8), max_size=4),
                st.lists(st.floats(-1, 1), max_size=3), st.tuples(st.integers(1, 5), st.integers(1, 5)),
                st.fractions(), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["counts", "d", "depth", "loss", "bias", "lambda_W", "lambda_H", "lambda_b",
                              "classifier"]), value=ANY)
def test_problem_any_field_value_is_valid_or_one_named_error(field, value):
    args = dict(counts=(3, 2), d=3, loss="mse", lambda_W=1e-3, lambda_H=1e-3)
    args[field] = value
    try:
        Problem(**args)
    except ufm.UfmError as e:
        assert isinstance(e.field, str) and e.field
    except Exception as e:  # pragma: no cover - the property under test
        raise AssertionError(f"{field}={value!r} raised {type(e).__name__}: {e}")


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["method", "max_iter", "gtol", "restarts", "seed", "init_scale", "memory",
                              "learning_rate", "momentum", "stall_iters", "precision", "search", "reduce",
                              "second_order", "escapes", "polish"]), value=ANY)
def test_solver_options_any_value_is_valid_or_one_named_error(field, value):
    try:
        ufm.SolverOptions(**{field: value})
    except ufm.OptionsError as e:
        assert e.field == field
    except Exception as e:  # pragma: no cover
        raise AssertionError(f"{field}={value!r} raised {type(e).__name__}: {e}")


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(["convention", "counts", "d", "lambda_W", "lambda_H", "lambda_b", "loss"]), value=ANY)
def test_from_convention_any_value_is_valid_or_one_named_error(field, value):
    args = dict(convention="hong_ling2023", counts=(3, 2), d=3, lambda_W=1e-3, lambda_H=1e-3, loss="mse")
    args[field] = value
    conv = args.pop("convention")
    try:
        from_convention(conv, **args)
    except ufm.UfmError as e:
        assert isinstance(e.field, str) and e.field
    except Exception as e:  # pragma: no cover
        raise AssertionError(f"{field}={value!r} raised {type(e).__name__}: {e}")
