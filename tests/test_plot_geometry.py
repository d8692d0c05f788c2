"""ufm.plot.geometry: each function returns a Figure with the expected axes and artists, the drawn data equal
an independent numpy computation, solve_path reaches the closed form, and bad input raises ProblemError naming
the argument."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import ufm  # noqa: E402
from ufm.objective import evaluate, params_from_arrays  # noqa: E402
from ufm.plot import geometry as geo  # noqa: E402
from ufm.solution import Solution  # noqa: E402
from ufm.solver import solve_path  # noqa: E402


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    def show(*a, **k):
        raise AssertionError("plotting functions must never call plt.show()")

    monkeypatch.setattr(plt, "show", show)
    yield
    plt.close("all")


def random_solution(counts=(4, 3, 2), d=5, depth=2, bias="free", seed=0, scale=1.0):
    """A Solution at a random point (not an optimum: distinct singular values, spread features)."""
    p = ufm.Problem(counts=counts, d=d, depth=depth, loss="ce", bias=bias, lambda_W=1e-2, lambda_H=1e-2)
    g = np.random.default_rng(seed)
    K, N = p.K, p.N
    Ws = [scale * g.standard_normal((d, d)) for _ in range(depth - 1)] + [scale * g.standard_normal((K, d))]
    H = scale * g.standard_normal((d, N))
    b = g.standard_normal(K) if bias != "none" else None
    params = params_from_arrays(p, Ws, H, b)
    sol = Solution.at(p, params)
    assert abs(sol.objective - evaluate(p, Ws, H, b)) <= 1e-12 * abs(sol.objective)
    return sol


def expected_projection(sol, dim):
    """Independent numpy version of the projection (docstring of geo.projection_coordinates)."""
    labels = np.repeat(np.arange(sol.problem.K), sol.problem.counts)
    H = sol.features
    mu = H.mean(axis=1)
    means = np.stack([H[:, labels == k].mean(axis=1) for k in range(sol.problem.K)], axis=1)
    Mc = means - mu[:, None]
    W = sol.weights[0]
    for Wm in sol.weights[1:]:
        W = Wm @ W
    S = np.hstack([Mc / np.linalg.norm(Mc), W.T / np.linalg.norm(W)])
    U = np.linalg.svd(S)[0][:, :dim]
    U = U * np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(dim)])
    P, A, F = U.T @ Mc, U.T @ W.T, U.T @ (H - mu[:, None])
    s = np.max(np.linalg.norm(P, axis=0))
    return P / s, A / np.max(np.linalg.norm(A, axis=0)), F / s


# ------------------------------------------------------------------------------------------ projection
def test_projection_2d_draws_the_numpy_projection():
    sol = random_solution()
    fig = geo.projection(sol, dim=2, show_features=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    feats, means, quiver = ax.collections  # features, class means, classifier arrows
    P, A, F = expected_projection(sol, 2)
    np.testing.assert_allclose(np.asarray(means.get_offsets()), P.T, atol=1e-12)
    np.testing.assert_allclose(np.asarray(feats.get_offsets()), F.T, atol=1e-12)
    np.testing.assert_allclose(np.c_[quiver.U, quiver.V], A.T, atol=1e-12)
    assert len(ax.texts) == sol.problem.K  # one label per classifier arrow
    assert len(geo.projection(sol, dim=2).axes[0].collections) == 2  # no feature scatter by default


def test_projection_3d_draws_the_numpy_projection():
    sol = random_solution(counts=(3, 3, 2, 2), d=6, depth=1, bias="none", seed=3)
    fig = geo.projection(sol, dim=3)
    ax = fig.axes[0]
    assert ax.name == "3d" and len(fig.axes) == 1
    P, _, _ = expected_projection(sol, 3)
    np.testing.assert_allclose(np.array(ax.collections[0]._offsets3d), P, atol=1e-12)
    c = geo.projection_coordinates(sol, dim=3)
    assert c["basis"].shape == (6, 3) and np.allclose(c["basis"].T @ c["basis"], np.eye(3), atol=1e-12)
    assert np.isclose(np.max(np.linalg.norm(c["classifier"], axis=0)), 1.0)


def test_projection_of_the_etf_optimum_is_self_dual():
    """At the balanced CE optimum the class means and the classifier rows coincide after scaling (NC3)."""
    from ufm.solver import solve

    sol = solve(ufm.Problem.balanced(3, 3, 4, lambda_W=5e-3, lambda_H=5e-3), restarts=1)
    c = geo.projection_coordinates(sol, dim=2)
    np.testing.assert_allclose(c["means"], c["classifier"], atol=1e-6)
    cos = (c["means"].T @ c["means"])[0, 1] / np.linalg.norm(c["means"][:, 0]) / np.linalg.norm(c["means"][:, 1])
    assert cos == pytest.approx(-0.5, abs=1e-6)  # K = 3 simplex: 120 degrees


# ------------------------------------------------------------------------------------------ Grams
def test_gram_heatmaps_panels_and_values():
    sol = random_solution(seed=1)
    fig = geo.gram_heatmaps(sol)
    assert len(fig.axes) == 3 + 1  # three panels and the colour bar
    labels = np.repeat(np.arange(3), sol.problem.counts)
    H = sol.features
    means = np.stack([H[:, labels == k].mean(axis=1) for k in range(3)], axis=1)
    Mc = means - H.mean(axis=1, keepdims=True)
    W = sol.weights[1] @ sol.weights[0]
    for ax, M in zip(fig.axes, (Mc.T @ Mc, W @ W.T, W @ Mc)):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), M / np.linalg.norm(M), atol=1e-12)
    pred = np.eye(3) - 1 / 3
    fig = geo.gram_heatmaps(sol, predicted=pred)
    assert len(fig.axes) == 4 + 1
    d = ufm.metrics.gram_distance(W @ W.T, pred)
    assert f"{d:.1e}" in fig.axes[1].get_title()
    np.testing.assert_allclose(np.asarray(fig.axes[3].images[0].get_array()), pred / np.linalg.norm(pred))


# ------------------------------------------------------------------------------------------ path
def test_solve_path_reaches_the_closed_form_and_metrics_are_drawn():
    from ufm.theory import PREDICTIONS

    p = ufm.Problem.balanced(3, 3, 3, lambda_W=5e-3, lambda_H=5e-3)
    path = solve_path(p, checkpoints=(1, 2, 5, 10, 30, 100, 1000), seed=0)
    its = [i for i, _ in path]
    assert its[0] == 0 and its == sorted(its) and its[-1] <= 1000
    assert path[-1][1].status == "converged"
    f_star = PREDICTIONS["zhu2021_balanced_ce"].predict(p)["objective"]
    assert abs(path[-1][1].objective - f_star) <= 1e-8 * f_star
    start = path[0][1]
    assert start.objective == pytest.approx(evaluate(p, start.weights, start.features), rel=1e-14)
    assert path[1][1].objective < start.objective  # the first L-BFGS iteration decreases the objective

    fig = geo.metrics_along_path(path, reference=f_star, keys=("nc1", "nc3"))
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.lines) == 3  # nc1, nc3, objective gap
    nc1 = np.array([s.metrics()["nc1"] for _, s in path])
    ok = nc1 > 0
    np.testing.assert_allclose(ax.lines[0].get_ydata(), nc1[ok], rtol=1e-12)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.array(its)[ok])
    gap = np.abs(np.array([s.objective for _, s in path]) - f_star)
    np.testing.assert_allclose(ax.lines[2].get_ydata(), gap[gap > 0], rtol=1e-12)


def test_solve_path_from_a_given_start():
    p = ufm.Problem.balanced(3, 2, 3, loss="mse", lambda_W=1e-2, lambda_H=1e-2)
    x0 = random_solution(counts=(2, 2, 2), d=3, depth=1, bias="none", seed=5).params()
    path = solve_path(p, checkpoints=(3, 6), init=x0)
    np.testing.assert_allclose(path[0][1].features, np.asarray(x0["H"]))
    assert [i for i, _ in path] == [0, 3, 6]
    # the exact path of one uninterrupted solve: iterate 6 is run_once stopped after 6 iterations, bit for bit
    from ufm.solver import SolverOptions, run_once

    six = run_once(p, x0, SolverOptions(max_iter=6, gtol=0.0))
    np.testing.assert_array_equal(path[2][1].features, six.params["H"])
    assert path[2][1].objective == six.objective


# ------------------------------------------------------------------------------------------ theory curves etc.
def test_measured_vs_theory_artists_and_data():
    x = np.array([1.0, 2.0, 3.0])
    tx = np.linspace(1, 3, 11)
    panels = [{"x": x, "measured": {"a": x ** 2, "b": x}, "theory_x": tx, "theory": {"a": tx ** 2, "b": tx},
               "alternative": {"a": tx ** 2 + 1}, "vlines": {"threshold": 2.5}, "logx": True},
              {"x": x, "measured": {"c": -x}}, {"x": x, "measured": {"d": x}}]
    fig = geo.measured_vs_theory(panels, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 4 and len(visible) == 3  # 2 x 2 grid, the fourth hidden
    ax = fig.axes[0]
    assert len(ax.lines) == 2 + 2 + 1 + 1
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), x ** 2)
    np.testing.assert_array_equal(ax.lines[3].get_xdata(), tx)
    assert ax.lines[0].get_color() == ax.lines[2].get_color() == ax.lines[4].get_color()  # same label, same colour
    assert ax.lines[4].get_linestyle() == "--" and ax.get_xscale() == "log"
    assert len(geo.measured_vs_theory(panels[1]).axes) == 1  # a single dict is one panel


def test_compare_logits_and_restart_objectives():
    a, b = random_solution(seed=1), random_solution(seed=2)
    fig = geo.compare_logits([a, b], titles=["a", "b"])
    assert len(fig.axes) == 3
    Z = geo.class_logits(a)
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()), Z)
    assert "rank 3" in fig.axes[0].get_title()
    assert len(fig.axes[2].patches) == 2 * 3  # K singular values per solution
    np.testing.assert_allclose([r.get_height() for r in fig.axes[2].patches[:3]], np.linalg.svd(Z, compute_uv=False))

    fig = geo.restart_objectives(a, references={"x": 1.0, "y": 2.0})
    ax = fig.axes[0]
    assert len(ax.lines) == 1 + 2  # one status group, two reference lines
    np.testing.assert_allclose(ax.lines[0].get_ydata(), a.restart_objectives)


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input_raises_one_error_naming_the_field():
    sol = random_solution()
    p = sol.problem
    mixed_only = ufm.Problem(counts=(1, 1, 1), d=3, loss="mixup-ce", lambda_W=1e-2, lambda_H=1e-2,
                             samples=ufm.MixupDesign(pairs="different", lams=(0.5,), include_original=False))
    no_class_means = Solution.at(mixed_only, params_from_arrays(mixed_only, [np.eye(3)], np.ones((3, 6))))
    cases = [
        (lambda: geo.projection(sol, dim=4), "dim"),
        (lambda: geo.projection(sol, dim=True), "dim"),
        (lambda: geo.projection(random_solution(counts=(2, 2), d=2, depth=1), dim=3), "dim"),
        (lambda: geo.projection("not a solution"), "solution"),
        (lambda: geo.projection(sol, dim=3, ax=plt.subplots()[1]), "ax"),
        (lambda: geo.gram_heatmaps(sol, predicted=np.eye(2)), "predicted"),
        (lambda: geo.gram_heatmaps(sol, predicted=np.full((3, 3), np.nan)), "predicted"),
        (lambda: solve_path(p, checkpoints=(5, 3)), "checkpoints"),
        (lambda: solve_path(p, checkpoints=(0, 3)), "checkpoints"),
        (lambda: solve_path(p, checkpoints=(1.5, 3)), "checkpoints"),
        (lambda: solve_path(p, restarts=2), "restarts"),
        (lambda: solve_path(p, method="newton"), "method"),
        (lambda: solve_path(p, init={"W": (), "H": np.zeros((1, 1))}), "init"),
        (lambda: solve_path("problem"), "problem"),
        (lambda: geo.metrics_along_path([]), "trace"),
        (lambda: geo.metrics_along_path([(0, "x")]), "trace"),
        (lambda: geo.metrics_along_path([(0, sol)], keys=("nope",)), "keys"),
        (lambda: geo.metrics_along_path([(0, sol)], reference=float("nan")), "reference"),
        (lambda: geo.measured_vs_theory([]), "panels"),
        (lambda: geo.measured_vs_theory({"x": [1, 2], "measured": {"a": [1]}}), "panels"),
        (lambda: geo.measured_vs_theory({"x": [1], "measured": {"a": [1]}, "colour": "red"}), "panels"),
        (lambda: geo.measured_vs_theory({"x": [1]}), "panels"),
        (lambda: geo.measured_vs_theory({"x": [1], "measured": {"a": [1]}}, ncols=0), "ncols"),
        (lambda: geo.compare_logits([]), "solutions"),
        (lambda: geo.compare_logits([sol], titles=["a", "b"]), "titles"),
        (lambda: geo.restart_objectives(sol, references={"a": float("inf")}), "references"),
        (lambda: geo.projection(no_class_means), "solution"),
        (lambda: geo.gram_heatmaps(no_class_means), "solution"),
    ]
    for make, field in cases:
        with pytest.raises(ufm.UfmError) as err:  # ProblemError, or OptionsError for solver options
            make()
        assert err.value.field == field, (field, str(err.value))


def _with_runs(sol, objectives, statuses=None):
    """``sol`` with runs of the given final objectives (and statuses)."""
    import dataclasses

    statuses = statuses or ["converged"] * len(objectives)
    runs = tuple(sol.runs[0]._replace(objective=float(v), status=ufm.Status(s)) for v, s in zip(objectives, statuses))
    return dataclasses.replace(sol, runs=runs)


def _inside_in_display(ax, ys, pad_px):
    """Every y (data) at least pad_px pixels inside the axes as drawn."""
    ax.figure.canvas.draw()
    box = ax.get_window_extent()
    lo, hi = ax.get_ylim()
    assert all(lo <= y <= hi for y in ys), (lo, hi, ys)  # every plotted value within the y-limits
    y_px = ax.transData.transform(np.column_stack([np.zeros(len(ys)), ys]))[:, 1]
    return np.all(y_px - box.y0 >= pad_px) and np.all(box.y1 - y_px >= pad_px), (y_px, box.y0, box.y1)


@pytest.mark.parametrize("case", ["notebook3", "small-axes", "no-rc-margins", "equal", "far-reference"])
def test_restart_objectives_keeps_every_marker_and_line_inside(case):
    """Notebook 3's restart plot clipped its lowest markers: the limits came from matplotlib's default 5% margin,
    which is less than a marker's radius on small axes or under other rc settings. Every marker (whole, not just
    its centre) and every reference line must be inside the axes."""
    sol = random_solution()
    objectives = [0.02115503449, 0.02115503449, 0.01952192, 0.01952192, 0.02115503449, 0.01952192]
    refs = {"best simplex ETF": 0.02115503449}
    rc, ax = {}, None
    if case == "small-axes":
        ax = plt.subplots(4, 1, figsize=(5, 4))[1][1]
    elif case == "no-rc-margins":
        rc = {"axes.ymargin": 0.0}
    elif case == "equal":
        objectives, refs = [1.5] * 4, {"same": 1.5}
    elif case == "far-reference":
        refs = {"zero": 0.0, "one": 1.0}
    with matplotlib.rc_context(rc):
        fig = geo.restart_objectives(_with_runs(sol, objectives), references=refs, ax=ax)
        ax = fig.axes[0] if ax is None else ax
        marker_line = ax.lines[0]
        radius_px = (marker_line.get_markersize() / 2 + marker_line.get_markeredgewidth()) * fig.dpi / 72
        plotted = [y for line in ax.lines for y in np.atleast_1d(line.get_ydata())]
        assert sorted(set(plotted)) == sorted(set(objectives) | set(refs.values()))
        ok, where = _inside_in_display(ax, plotted, radius_px)
        assert ok, where
        if case == "notebook3":  # saved without bbox_inches="tight", the y label was cut ("inal objective")
            renderer = fig.canvas.get_renderer()
            label_box = ax.yaxis.label.get_window_extent(renderer)
            assert label_box.x0 >= 0 and label_box.y0 >= 0 and label_box.x1 <= fig.bbox.x1, label_box
