"""``ufm plot DIR`` and ``ufm.plot.phase``: the standard figures of a finished sweep (a phase diagram over two
axes, one panel per value of the other axes; a line plot over one axis; the predictions' errors) rendered to a
PNG, with readable axis names read back from the Figure; list columns (counts, axes of lists); one-line errors
for a missing folder, an unknown or list metric, too few axes; one line saying to install ``ufm[plot]`` without
matplotlib."""

import importlib.util
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import ufm.cli._plot as cli_plot  # noqa: E402
import ufm.cli._sweep as cli_sweep  # noqa: E402
from ufm.cli import main  # noqa: E402
from ufm.plot import phase  # noqa: E402
from ufm.sweep import best_rows, merge, parse_spec, run_sweep, summarize  # noqa: E402

PRED = "dang2023_mse_imbalanced"
SPEC = f"""
[base]
K = 4
n = 4
d = 4
loss = "mse"

[axes]
lambda = {{logspace = [-3, -1, 3]}}
ratio = [1, 4]
bias = ["none", "free"]

[solver]
restarts = 1
seed = 0

[predictions]
names = ["{PRED}"]
"""
LIST_SPEC = """
[base]
d = 2
loss = "mse"

[axes]
counts = [[3, 3], [3, 1]]
lambda = [0.01, 0.1]
"""
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    spec = out / "spec-source.toml"
    spec.write_text(SPEC)
    run_sweep(parse_spec(SPEC), out, progress=False)
    merge(out)
    return out


@pytest.fixture(scope="module")
def list_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lists")
    run_sweep(parse_spec(LIST_SPEC), out, progress=False)
    merge(out)
    return out


@pytest.fixture
def captured(monkeypatch):
    """The Figures ``ufm plot`` draws (the command closes them after saving)."""
    figs = []
    real = phase.sweep_figure

    def spy(*a, **k):
        figs.append(real(*a, **k))
        return figs[-1]

    monkeypatch.setattr(phase, "sweep_figure", spy)
    return figs


def _plot(*args):
    return main(["plot", *map(str, args)])


def _panels(fig):
    """The drawing axes (colour bars left out) and the colour-bar labels."""
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return [ax for ax in fig.axes if ax not in bars], [ax.get_ylabel() for ax in bars]


def _no_raw_names(texts):
    for t in texts:
        assert "axis_" not in t and "pred_" not in t and "_rel_err" not in t, t


def test_readable_names():
    assert phase.label("axis_lambda") == "weight decay lambda (lambda_W = lambda_H)"
    assert phase.label("nc1") == "NC1 (within-class variability)"
    assert phase.label("diag_WHbar_min") == "min_k (W Hbar)_kk"
    assert phase.label("axis_ratio") == "imbalance ratio R (majority n / minority n)"
    assert phase.label(f"pred_{PRED}_objective_rel_err") == f"relative error of the objective ({PRED})"
    assert phase.label("pred_a_b_diag_min") == "predicted min_k (W Hbar)_kk (a_b)"
    assert phase.label("axis_something_new") == "something_new"


def test_phase_diagram_per_facet_with_readable_labels(sweep_dir, tmp_path, captured, capsys):
    png = tmp_path / "phase.png"
    assert _plot(sweep_dir, "--metric", "diag_WHbar_min", "--out", png) == 0
    assert capsys.readouterr().out.strip() == f"wrote {png}"
    assert png.read_bytes()[:8] == PNG and png.stat().st_size > 20_000
    fig, = captured
    axes, bars = _panels(fig)
    assert len(axes) == 3  # bias = none, bias = free (the spec's order), the predictions' errors
    facets, errors = axes[:2], axes[2]
    assert [ax.get_title() for ax in facets] == ["bias = none", "bias = free"]
    for ax in facets:
        assert ax.get_xlabel() == "weight decay lambda (lambda_W = lambda_H)"
        assert ax.get_ylabel() == "imbalance ratio R (majority n / minority n)"
        assert ax.get_xscale() == "log"  # lambda spans two decades
    assert bars == ["min_k (W Hbar)_kk"] * 2
    assert errors.get_xlabel() == "weight decay lambda (lambda_W = lambda_H)"
    assert errors.get_ylabel().startswith("relative error of the objective") and errors.get_yscale() == "log"
    legend = [t.get_text() for t in errors.get_legend().get_texts()]
    assert legend == [f"relative error of the objective ({PRED})"]
    best_err = best_rows(pd.read_parquet(sweep_dir / "results.parquet"))[f"pred_{PRED}_objective_rel_err"]
    best_err = best_err[np.isfinite(best_err)]  # the prediction applies to bias = none only
    assert len(best_err) == 6
    np.testing.assert_allclose(np.sort(errors.lines[0].get_ydata()), np.sort(np.maximum(best_err, 1e-17)))
    assert "min_k (W Hbar)_kk: best row of each of 12 points" in fig._suptitle.get_text()
    _no_raw_names([ax.get_xlabel() for ax in axes] + [ax.get_ylabel() for ax in axes] + bars + legend)
    # the colours are the best rows' values: bias = none, cells (ratio, lambda)
    df = pd.read_parquet(sweep_dir / "results.parquet")
    best = best_rows(df)
    none = best[best["axis_bias"] == "none"].sort_values(["axis_ratio", "axis_lambda"])
    grid = np.asarray(facets[0].collections[0].get_array()).reshape(2, 3)
    np.testing.assert_allclose(grid.ravel(), none["diag_WHbar_min"].to_numpy())


def test_line_plot_over_one_axis(sweep_dir, tmp_path, captured):
    png = tmp_path / "line.png"
    assert _plot(sweep_dir, "--metric", "nc1", "--at", "ratio=4", "--at", "bias=none", "--out", png) == 0
    assert png.read_bytes()[:8] == PNG
    fig, = captured
    axes, bars = _panels(fig)
    assert not bars and len(axes) == 2
    line_ax = axes[0]
    assert line_ax.get_xlabel() == "weight decay lambda (lambda_W = lambda_H)"
    assert line_ax.get_ylabel() == "NC1 (within-class variability)"
    df = pd.read_parquet(sweep_dir / "results.parquet")
    best = best_rows(df)
    sel = best[(best["axis_ratio"] == 4) & (best["axis_bias"] == "none")].sort_values("axis_lambda")
    line, = line_ax.lines
    np.testing.assert_allclose(line.get_xdata(), sel["axis_lambda"])
    np.testing.assert_allclose(line.get_ydata(), sel["nc1"])


def test_x_alone_draws_one_line_per_value_of_the_other_axes(sweep_dir, tmp_path, captured):
    assert _plot(sweep_dir, "--x", "ratio", "--no-errors", "--out", tmp_path / "x.png") == 0
    fig, = captured
    ax, = fig.axes
    assert ax.get_xlabel() == "imbalance ratio R (majority n / minority n)"
    assert ax.get_ylabel() == "objective (canonical: mean loss + decays)"
    assert len(ax.lines) == 6  # 3 lambdas x 2 biases
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["lambda = 0.001, bias = none", "lambda = 0.001, bias = free"]


def test_list_columns_in_plot_and_summary(list_dir, tmp_path, captured):
    """counts is a list column (and here an axis of lists): the summary reads it, the plot makes categories."""
    df = pd.read_parquet(list_dir / "results.parquet")
    assert isinstance(df["counts"].iloc[0], np.ndarray) and isinstance(df["axis_counts"].iloc[0], np.ndarray)
    text = summarize(df)
    assert text.startswith("4 points, 4 rows") and "WARNING" not in text
    assert _plot(list_dir, "--metric", "nc1", "--out", tmp_path / "lists.png") == 0
    fig, = captured
    axes, bars = _panels(fig)
    ax, = axes  # no predictions: no error panel
    assert ax.get_xlabel() == "weight decay lambda (lambda_W = lambda_H)"  # numbers across by default
    assert ax.get_ylabel() == "samples per class (counts)"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["[3, 3]", "[3, 1]"]  # the spec's order
    assert bars == ["NC1 (within-class variability)"]


@pytest.mark.parametrize("args,line", [
    (["{missing}"], "ufm plot: error: invalid DIR: no such folder: {missing}"),
    (["{empty}"], "ufm plot: error: invalid DIR: {empty} has no results.parquet (ufm sweep SPEC --out DIR writes it)"),
    (["{dir}", "--metric", "nope"], "ufm plot: error: invalid --metric: 'nope' is not a column of the results; scalar "
                                    "columns: K, N, d, depth, "),
    (["{dir}", "--metric", "diag_WHbar"], "ufm plot: error: invalid --metric: 'diag_WHbar' is a list column (one "
                                          "value per class or layer), not one number per point; plot a scalar "
                                          "column such as diag_WHbar_min"),
    (["{dir}", "--metric", "counts"], "ufm plot: error: invalid --metric: 'counts' is a list column"),
    (["{dir}", "--metric", "loss"], "ufm plot: error: invalid --metric: 'loss' holds text ('mse'), not numbers"),
    (["{dir}", "--at", "ratio=4", "--at", "bias=none", "--at", "lambda=0.01"],
     "ufm plot: error: invalid DIR: the sweep has no axis with more than one value at the chosen --at values"),
    (["{dir}", "--x", "depth"], "ufm plot: error: invalid --x: 'depth' is not an axis of the sweep; axes: lambda, "
                                "ratio, bias"),
    (["{dir}", "--x", "ratio", "--y", "ratio"], "ufm plot: error: invalid --y: is the same axis as x ('ratio')"),
    (["{dir}", "--at", "ratio=3"], "ufm plot: error: invalid --at: no point has ratio = 3; its values: 1, 4"),
    (["{dir}", "--at", "ratio"], "ufm plot: error: invalid --at: must be AXIS=VALUE (e.g. depth=2), got 'ratio'"),
    (["{dir}", "--out", "{missing}/x.png"], "ufm plot: error: invalid --out: no such folder: {missing}"),
])
def test_errors_are_one_line(args, line, sweep_dir, tmp_path, capsys):
    names = {"missing": tmp_path / "missing", "empty": tmp_path, "dir": sweep_dir}
    assert _plot(*[a.format(**names) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(line.format(**names)), err


def test_too_few_axes(tmp_path, capsys):
    out = tmp_path / "one"
    run_sweep(parse_spec("[base]\ncounts = [2, 2]\nd = 2\nloss = 'mse'\n"), out, progress=False)
    merge(out)
    assert _plot(out) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ufm plot: error: invalid DIR: the sweep has no axis with more than one value (axes: none): nothing to plot "
        "against"]


def test_without_matplotlib_one_line_saying_to_install_the_extra(sweep_dir, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert _plot(sweep_dir) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ufm plot: error: ufm plot needs matplotlib, which is not installed: pip install 'ufm[plot]'"]
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--plot", "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ufm sweep: error: --plot needs matplotlib, which is not installed: pip install 'ufm[plot]'"]
    assert not (tmp_path / "o").exists()  # refused before any work
    assert cli_plot.missing_extras() and cli_sweep._missing_extras(False) == ""


def test_without_pandas_ufm_sweep_is_one_line(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "-q"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ufm sweep: error: ufm sweep writes Parquet with pandas and pyarrow, which are not installed: pip install "
        "'ufm[sweep]'"]


def test_sweep_plot_flag_writes_the_figure(sweep_dir, capsys, monkeypatch):
    """``ufm sweep ... --plot`` on the finished folder: nothing to compute, the merge, then the figure."""
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    spec = sweep_dir / "spec-source.toml"
    assert main(["sweep", str(spec), "--out", str(sweep_dir), "-q", "--plot"]) == 0
    out = capsys.readouterr().out
    assert "0 rows computed, 12 already done" in out
    assert f"figure: {sweep_dir / 'plot-objective.png'}" in out
    assert (sweep_dir / "plot-objective.png").read_bytes()[:8] == PNG


def test_documented_phase_diagram_snippet_has_readable_labels(sweep_dir):
    df = pd.read_parquet(sweep_dir / "results.parquet")
    fig = phase.phase_diagram(df[df.axis_bias == "none"], "axis_lambda", "axis_ratio", "diag_WHbar_min",
                              threshold=phase.minority_collapse_threshold(K=4, n=4, depth=1), logx=True, logy=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "weight decay lambda (lambda_W = lambda_H)"
    assert ax.get_ylabel() == "imbalance ratio R (majority n / minority n)"
    assert fig.axes[1].get_ylabel() == "min_k (W Hbar)_kk"
    assert len(phase.best_per_point(df)) == len(best_rows(df)) == 12


def test_axis_table_reads_every_axis_from_axes_json(sweep_dir):
    df = pd.read_parquet(sweep_dir / "results.parquet")
    table, names = phase.axis_table(df)
    assert names == sorted(json.loads(df["axes_json"].iloc[0]))  # JSON keys (sorted) without a spec order
    np.testing.assert_allclose(table["lambda"], df["axis_lambda"])
    assert list(table["bias"]) == list(df["axis_bias"])


def _synthetic(points):
    rows = [{"point_id": i, "restart": 0, "status": "converged", "objective": float(i + 1), "nc1": 0.1 * i,
             "axes_json": json.dumps(p, sort_keys=True)} for i, p in enumerate(points)]
    return pd.DataFrame(rows)


def test_axes_varied_together_are_one_axis():
    """A zip of lambda_W and lambda_H is one axis of the figure (named with its follower), not two axes of a
    phase diagram with one filled cell per row."""
    lams = [1e-3, 1e-2, 1e-1]
    df = _synthetic([{"lambda_W": v, "lambda_H": v, "bias": b} for b in ("none", "free") for v in lams])
    fig = phase.sweep_figure(df, "nc1", order=["lambda_W", "lambda_H", "bias"])
    axes, bars = _panels(fig)
    ax, = axes
    assert ax.get_xlabel() == "weight decay of the layers lambda_W (= lambda_H)"
    assert ax.get_ylabel() == "bias" and [t.get_text() for t in ax.get_yticklabels()] == ["none", "free"]
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(2, 3), [[0, .1, .2], [.3, .4, .5]])
    fig = phase.sweep_figure(df, "nc1", x="lambda_H", order=["lambda_W", "lambda_H", "bias"])
    ax, = fig.axes
    assert ax.get_xlabel() == "feature decay lambda_H (= lambda_W)" and len(ax.lines) == 2
    zipped = _synthetic([{"lambda_W": v, "lambda_H": 2 * v} for v in lams])
    ax, = phase.sweep_figure(zipped, "nc1", order=["lambda_W", "lambda_H"]).axes
    assert ax.get_xlabel() == "weight decay of the layers lambda_W (with lambda_H)" and len(ax.lines) == 1


def _markers_inside(ax):
    """Every marker of every line at least its radius inside the axes as drawn (not clipped)."""
    ax.figure.canvas.draw()
    box = ax.get_window_extent()
    lo, hi = ax.get_ylim()
    for line in ax.lines:
        ys = np.asarray(line.get_ydata(), float)
        assert np.all((ys >= lo) & (ys <= hi)), (ys, lo, hi)
        radius = (line.get_markersize() / 2 + line.get_markeredgewidth()) * ax.figure.dpi / 72
        y_px = ax.transData.transform(np.column_stack([np.asarray(line.get_xdata(), float), ys]))[:, 1]
        assert np.all(y_px - box.y0 >= radius) and np.all(box.y1 - y_px >= radius), (y_px, box.y0, box.y1)


def test_line_and_error_markers_are_not_clipped(sweep_dir):
    """The sibling of notebook 3's restart plot: matplotlib's 5% margin is less than a marker on small axes (and
    0 with axes.ymargin = 0); the lowest errors sit at the 1e-17 floor, at the bottom edge."""
    df = pd.read_parquet(sweep_dir / "results.parquet")
    with matplotlib.rc_context({"axes.ymargin": 0.0}):
        fig = phase.sweep_figure(df, "nc1", x="lambda", at={"bias": "none"})
        line_ax, err_ax = fig.axes
        _markers_inside(line_ax)
        _markers_inside(err_ax)
