"""Figures of sweep results: phase diagrams (a metric over two axes, with the theory's threshold curve on top),
line plots over one axis, the predictions' errors, and readable names for the columns of a results table.

``sweep_figure(df, metric, x=..., y=...)`` draws the standard figure of a finished sweep (what ``ufm plot DIR``
saves): the best row of every point (``ufm.sweep.best_rows``), a phase diagram over two axes (one panel per
value of the other axes), or a line plot over one axis (one line per value of the other axes), plus a panel of
the predictions' errors. ``label(column)`` is the readable name of a column (``axis_lambda`` -> "weight decay
lambda (lambda_W = lambda_H)", ``nc1`` -> "NC1 (within-class variability)", ...).
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Callable, Optional, Sequence

import numpy as np

from ufm.errors import ProblemError

# ---------------------------------------------------------------------------------------------- readable names
#: readable names of the axes (``axis_<name>`` columns and the spec's [axes] keys) and of the result columns
LABELS = {
    # axes and problem columns
    "lambda": "weight decay lambda (lambda_W = lambda_H)",
    "lambda_W": "weight decay of the layers lambda_W",
    "lambda_W0": "weight decay of the first layer lambda_W[0]",
    "lambda_H": "feature decay lambda_H",
    "lambda_b": "bias decay lambda_b",
    "ratio": "imbalance ratio R (majority n / minority n)",
    "depth": "depth M (layers)",
    "d": "feature dimension d",
    "K": "number of classes K",
    "n": "samples per class n",
    "N": "number of samples N",
    "counts": "samples per class (counts)",
    "loss": "loss",
    "bias": "bias",
    "classifier": "classifier",
    "mixup_lams": "mixup weights lam",
    "mixup_pairs": "mixup class pairs",
    "mixup_alpha": "mixup Beta(alpha, alpha)",
    "mixup_draws": "mixup draws of lam",
    "mixup_seed": "mixup seed of the draws",
    "mixup_per_pair": "mixed samples per (pair, lam)",
    "mixup_include_original": "mixup keeps the original samples",
    # the run
    "objective": "objective (canonical: mean loss + decays)",
    "grad_norm": "gradient norm",
    "stationarity": "stationarity (scaled gradient norm)",
    "iterations": "iterations",
    "escapes": "saddle escapes",
    "min_eigenvalue": "smallest Hessian eigenvalue",
    "restart": "restart",
    # metrics (docs/metrics.md)
    "nc1": "NC1 (within-class variability)",
    "cdnv": "CDNV (class-distance normalised variance)",
    "nc2_etf": "NC2: classifier's distance from a simplex ETF",
    "nc2_etf_means": "NC2: class means' distance from a simplex ETF",
    "nc2_equinorm_means": "NC2: variation of the class-mean norms",
    "nc2_equiangular": "NC2: spread of the class-mean angles",
    "nc3": "NC3 (classifier vs class means, self-duality)",
    "unc3": "uNC3 (spread of classifier-mean cosines)",
    "nc4": "NC4 (share classified unlike the nearest class mean)",
    "gnc2": "GNC2 (hyperspherical energy of the class means)",
    "diag_WHbar_min": "min_k (W Hbar)_kk",
    "diag_WHbar": "(W Hbar)_kk",
}
#: what a prediction column ``pred_<name>_<suffix>`` holds (longest suffix first when matching)
PRED_SUFFIXES = {
    "objective_rel_err": "relative error of the objective",
    "logits_err": "error of W Hbar",
    "classifier_gram_err": "error of W_M W_M^T",
    "product_gram_err": "error of W W^T",
    "bias_err": "error of the bias",
    "objective": "predicted objective",
    "diag_min": "predicted min_k (W Hbar)_kk",
    "applies": "prediction applies",
    "reason": "why the prediction does not apply",
}


def label(column: str) -> str:
    """The readable name of a results column or axis (the name itself when it has none)."""
    if column in LABELS:
        return LABELS[column]
    if column.startswith("axis_") and column[5:] in LABELS:
        return LABELS[column[5:]]
    if column.startswith("pred_"):
        rest = column[5:]
        for suffix in sorted(PRED_SUFFIXES, key=len, reverse=True):
            if rest.endswith("_" + suffix):
                return f"{PRED_SUFFIXES[suffix]} ({rest[:-len(suffix) - 1]})"
    return column[5:] if column.startswith("axis_") else column


# ---------------------------------------------------------------------------------------------- best rows
def best_per_point(df, objective: str = "objective"):
    """One row per point: the lowest-objective row among its restarts (and its search row), among the rows
    with a solution (the very rule of ``ufm.sweep.best_rows`` and of the sweep's summary)."""
    from ufm.sweep.engine import best_rows

    if objective != "objective":
        df = df.drop(columns=["objective"], errors="ignore").rename(columns={objective: "objective"})
        return best_rows(df).rename(columns={"objective": objective})
    return best_rows(df)


# ---------------------------------------------------------------------------------------------- helpers
def _first_seen(values) -> list:
    """Distinct values in the order they first appear (categories in the spec's order: rows by point_id)."""
    return list(dict.fromkeys(values))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _show(v) -> str:
    """An axis value as a short label (lists as JSON, floats in %g)."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    if isinstance(v, (list, tuple, np.ndarray, dict)):
        return json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, default=str)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v)


def _positions(values, log: bool):
    """Cell edges of sorted numeric grid values (geometric midpoints on a log axis)."""
    v = np.log10(values) if log else np.asarray(values, float)
    mid = (v[1:] + v[:-1]) / 2 if v.size > 1 else np.array([])
    first = v[0] - (mid[0] - v[0] if mid.size else 0.5)
    last = v[-1] + (v[-1] - mid[-1] if mid.size else 0.5)
    e = np.concatenate([[first], mid, [last]])
    return 10 ** e if log else e


def _wide(values, decades: float = 1.0) -> bool:
    """Numbers spanning ``decades`` decades or more, all positive: drawn on a log scale."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    return v.size >= 2 and bool(np.all(v > 0)) and v.max() / v.min() >= 10 ** decades * (1 - 1e-12)


def _numeric_axis(values) -> bool:
    return all(_is_number(v) for v in values)


def phase_diagram(df, x: str, y: str, value: str, *, threshold: Optional[Callable] = None,
                  logx: Optional[bool] = False, logy: Optional[bool] = False, ax=None, title: str = "",
                  cmap: str = "viridis", threshold_label: str = "theory", xlabel: Optional[str] = None,
                  ylabel: Optional[str] = None, value_label: Optional[str] = None, lognorm: bool = False,
                  best: bool = True):
    """Colour ``value`` over the grid of columns ``x`` and ``y`` (the best row per point unless ``best`` is
    False: then ``df`` must hold one row per point); draw ``threshold(x_values) -> y_values`` on top. Axes and
    colour bar carry readable names (``label``; override with ``xlabel``, ``ylabel``, ``value_label``). ``logx``
    / ``logy``: True, False, or None (log when the values are positive and span two decades). Columns with
    non-numeric values (strings, lists) become categories. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    for col in (x, y, value):
        if col not in df.columns:
            raise ProblemError("column", f"{col!r} is not in the results; columns: {sorted(df.columns)}")
    rows = best_per_point(df) if best else df
    if not len(rows):
        raise ProblemError("results", "no point has a solution (every row is invalid, failed or skipped)")
    xv, yv = list(rows[x]), list(rows[y])
    xcat, ycat = not _numeric_axis(xv), not _numeric_axis(yv)
    xs = _first_seen(_show(v) for v in xv) if xcat else sorted({float(v) for v in xv})
    ys = _first_seen(_show(v) for v in yv) if ycat else sorted({float(v) for v in yv})
    logx = (not xcat and _wide(xs)) if logx is None else (bool(logx) and not xcat)
    logy = (not ycat and _wide(ys)) if logy is None else (bool(logy) and not ycat)
    grid = np.full((len(ys), len(xs)), np.nan)
    sums, counts = np.zeros_like(grid), np.zeros_like(grid)
    vals = _as_float(rows[value], value)
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    for a, b, v in zip(xv, yv, vals):
        i = yi[_show(b) if ycat else float(b)]
        j = xi[_show(a) if xcat else float(a)]
        if np.isfinite(v):
            sums[i, j] += v
            counts[i, j] += 1
    grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    else:
        fig = ax.figure
    xe = np.arange(len(xs) + 1) - 0.5 if xcat else _positions(np.array(xs), logx)
    ye = np.arange(len(ys) + 1) - 0.5 if ycat else _positions(np.array(ys), logy)
    finite = grid[np.isfinite(grid)]
    norm = None
    if lognorm and finite.size and np.all(finite > 0) and finite.max() > finite.min():
        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(grid), cmap=cmap, shading="flat", norm=norm)
    fig.colorbar(mesh, ax=ax, label=value_label if value_label is not None else label(value))
    if threshold is not None and not xcat:
        xf = np.logspace(np.log10(xs[0]), np.log10(xs[-1]), 200) if logx else np.linspace(xs[0], xs[-1], 200)
        ax.plot(xf, threshold(xf), "w--", lw=2, label=threshold_label)
        ax.legend(loc="best", fontsize=8)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    for axis, cat, vals in ((ax.xaxis, xcat, xs), (ax.yaxis, ycat, ys)):
        if cat:
            axis.set_ticks(range(len(vals)), vals)
        elif len(vals) <= 6:  # a tick at every grid value (more would overlap: the default ticks)
            from matplotlib.ticker import NullLocator

            axis.set_ticks(vals, [f"{v:.3g}" for v in vals])
            axis.set_minor_locator(NullLocator())
    ax.set_xlabel(xlabel if xlabel is not None else label(x))
    ax.set_ylabel(ylabel if ylabel is not None else label(y))
    ax.set_title(title)
    return fig


def _as_float(col, name: str) -> np.ndarray:
    """A column as floats; a list column or text is refused naming it."""
    out = []
    for v in col:
        if isinstance(v, (list, tuple, np.ndarray)):
            raise ProblemError("metric", f"{name!r} is a list column (one value per class or layer), not one "
                                         "number per point")
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(np.nan)
        elif isinstance(v, (bool, np.bool_)) or _is_number(v):
            out.append(float(v))
        else:
            raise ProblemError("metric", f"{name!r} holds text ({v!r}), not numbers")
    return np.asarray(out, float)


# ---------------------------------------------------------------------------------------------- sweep figures
def axis_table(df, order: Optional[Sequence[str]] = None):
    """The axis values of every row, from ``axes_json`` (always present, whatever their types): a DataFrame
    with one column per axis (numbers where all values of the axis are numbers, else the value as a label)
    and the list of axis names (``order`` first: the spec's order)."""
    import pandas as pd

    if "axes_json" in df.columns:
        points = [json.loads(t) if isinstance(t, str) and t else {} for t in df["axes_json"]]
    else:  # an older table: the typed columns
        cols = [c for c in df.columns if c.startswith("axis_")]
        points = [{c[5:]: r[c] for c in cols} for _, r in df.iterrows()]
    names = list(order or [])
    for p in points:
        names += [k for k in p if k not in names]
    table = {}
    for name in names:
        vals = [p.get(name) for p in points]
        present = [v for v in vals if v is not None]
        if present and _numeric_axis(present):
            table[name] = [float(v) if v is not None else np.nan for v in vals]
        else:
            table[name] = [_show(v) if v is not None else "" for v in vals]
    return pd.DataFrame(table, index=df.index), names


def metric_columns(df) -> list:
    """The scalar numeric result columns of a results table (what ``--metric`` may name)."""
    skip = {"point_id", "restart", "seed"}
    out = []
    for c in df.columns:
        if c in skip or c.startswith("axis_") or c.endswith("_applies"):
            continue
        sample = [v for v in df[c] if v is not None and not (isinstance(v, float) and math.isnan(v))][:50]
        if sample and all(_is_number(v) for v in sample):
            out.append(c)
    return out


def sweep_figure(df, metric: str = "objective", *, x: Optional[str] = None, y: Optional[str] = None,
                 at: Optional[dict] = None, order: Optional[Sequence[str]] = None, errors: bool = True,
                 max_panels: int = 12):
    """The standard figure of a finished sweep (``ufm plot``): ``metric`` of the best row of every point,

    - as a phase diagram over the axes ``x`` and ``y`` (one panel per combination of the other axes' values),
      when the sweep has two or more axes with several values and ``x`` alone was not asked for;
    - as a line plot over ``x`` otherwise (one line per combination of the other axes' values);

    plus a panel of the predictions' errors (the ``pred_<name>_objective_rel_err`` columns, as in the summary)
    against ``x`` on a log scale. ``x`` / ``y`` default to the first axes with more than one value (``order``:
    the spec's order; numeric axes first); axes varied together (zipped) count as one. ``at`` ({axis: value})
    keeps only the points with those values. Axis and colour-bar names are readable (``label``). Raises ProblemError naming ``metric``, ``x``, ``y``, ``at`` or ``results`` for what cannot be
    drawn. Returns the Figure."""
    import matplotlib.pyplot as plt

    if metric not in df.columns:
        known = metric_columns(df)
        raise ProblemError("metric", f"{metric!r} is not a column of the results; scalar columns: {', '.join(known)}")
    best = best_per_point(df)
    if not len(best):
        raise ProblemError("results", "no point has a solution (every row is invalid, failed or skipped): nothing "
                                      "to plot")
    if any(isinstance(v, (list, tuple, np.ndarray)) for v in best[metric]):
        alt = f"{metric}_min" if f"{metric}_min" in df.columns else ""
        raise ProblemError("metric", f"{metric!r} is a list column (one value per class or layer), not one number "
                                     f"per point; plot a scalar column{f' such as {alt}' if alt else ''} (scalar "
                                     f"columns: {', '.join(metric_columns(df))})")
    values = _as_float(best[metric], metric)
    axes_all, names = axis_table(df, order)
    axes_best = axes_all.loc[best.index]
    for name, want in (at or {}).items():
        if name not in names:
            raise ProblemError("at", f"{name!r} is not an axis of the sweep; axes: {', '.join(names) or 'none'}")
        col = axes_best[name]
        keep = np.array([_match(v, want) for v in col])
        if not keep.any():
            raise ProblemError("at", f"no point has {name} = {want}; its values: "
                                     f"{', '.join(_show(v) for v in _unique(axes_all[name]))}")
        best, axes_best, values = best[keep], axes_best[keep], values[keep]
    for flag, name in (("x", x), ("y", y)):
        if name is not None:
            name = name[5:] if name.startswith("axis_") and name[5:] in names else name
            if name not in names:
                raise ProblemError(flag, f"{name!r} is not an axis of the sweep; axes: {', '.join(names) or 'none'}")
    x = x[5:] if x is not None and x.startswith("axis_") and x[5:] in names else x
    y = y[5:] if y is not None and y.startswith("axis_") and y[5:] in names else y
    if y is not None and x is not None and y == x:
        raise ProblemError("y", f"is the same axis as x ({x!r}); give two different axes")
    # axes varied together (zipped, or equal: lambda_W = lambda_H) are one axis: the first names the others
    varying, companions = _independent(axes_best, [n for n in names if len(_unique(axes_best[n])) > 1],
                                       keep=[n for n in (x, y) if n is not None])
    if not varying and x is None:
        raise ProblemError("results", "the sweep has no axis with more than one value" +
                           (" at the chosen --at values" if at else "") + f" (axes: {', '.join(names) or 'none'}): "
                           "nothing to plot against")
    numeric_first = sorted(varying, key=lambda n: not _numeric_axis(list(axes_best[n])))  # stable: spec order
    phase = y is not None or (x is None and len(varying) >= 2)
    if phase:
        if x is None:
            others = [n for n in numeric_first if n != y]
            if not others:
                raise ProblemError("y", f"a phase diagram needs two axes with several values; only {y!r} varies")
            x = others[0]
        if y is None:
            y = next(n for n in numeric_first if n != x)
        for flag, name in (("x", x), ("y", y)):
            if name not in varying:
                raise ProblemError(flag, f"axis {name!r} has a single value at the points drawn; a phase diagram "
                                         f"needs two axes with several values (varying: {', '.join(varying)})")
    elif x is None:
        x = numeric_first[0]
    rest = [n for n in varying if n not in (x, y)]
    combos = _combos(axes_best, rest)
    n_groups = len(combos)
    if n_groups > max_panels:
        what = "panels" if phase else "lines"
        raise ProblemError("at", f"{n_groups} {what}, one per combination of the other axes ({', '.join(rest)}); at "
                                 f"most {max_panels}: fix some with --at NAME=VALUE (or choose --x / --y)")
    if not np.isfinite(values).any():
        raise ProblemError("metric", f"{metric!r} has no finite value at any point (it is nan where undefined: "
                                     "see docs/metrics.md and docs/sweep.md)")
    # the objective's relative error of each prediction (what the summary reports); the structural errors
    # (logits_err, bias_err, ...) divide by the largest predicted entry, which is ~0 for quantities the optimum
    # leaves free (a CE bias is defined up to a constant): draw those with --metric
    err_cols = [c for c in best.columns if c.startswith("pred_") and c.endswith("_objective_rel_err")
                and np.isfinite(_as_float(best[c], c)).any()] if errors else []
    n_panels = (n_groups if phase else 1) + (1 if err_cols else 0)
    ncols = min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 4.4 * nrows), layout="constrained", squeeze=False)
    flat = list(axs.ravel())
    for extra in flat[n_panels:]:
        extra.remove()
    frame = axes_best.copy()
    frame["__value"] = values
    frame["point_id"] = best["point_id"].to_numpy()
    if phase:
        for ax, combo in zip(flat, combos):
            sel = _select(frame, rest, combo)
            phase_diagram(sel, x, y, "__value", ax=ax, logx=None, logy=None, best=False, value_label=label(metric),
                          title=_title(rest, combo), xlabel=_axis_label(x, companions, axes_best),
                          ylabel=_axis_label(y, companions, axes_best))
    else:
        _lines(flat[0], frame, x, rest, combos, metric, _axis_label(x, companions, axes_best))
    if err_cols:
        _errors(flat[n_panels - 1], best, axes_best, x, err_cols, _axis_label(x, companions, axes_best))
    fig.suptitle(f"{label(metric)}: best row of each of {len(best)} points", fontsize=11)
    return fig


def _independent(frame, names, keep=()) -> tuple:
    """The axes among ``names`` that vary independently, and for each kept axis the axes that follow it one to
    one (zipped axes, or equal ones): ``(kept, {kept: [followers]})``; ``keep`` are kept first."""
    kept, companions = [], {}
    for n in list(keep) + [n for n in names if n not in keep]:
        partner = next((k for k in kept if _one_to_one(frame, k, n)), None)
        if partner is None:
            kept.append(n)
        else:
            companions.setdefault(partner, []).append(n)
    order = {n: i for i, n in enumerate(names)}
    return sorted(kept, key=lambda n: order.get(n, -1)), companions


def _one_to_one(frame, a, b) -> bool:
    if a not in frame or b not in frame:
        return False
    ka = [_key(v) for v in frame[a]]
    kb = [_key(v) for v in frame[b]]
    return len(set(ka)) == len(set(kb)) == len(set(zip(ka, kb)))


def _axis_label(name, companions, frame) -> str:
    """The readable name of an axis, naming the axes varied with it (``= lambda_H`` when equal)."""
    out = label(name)
    for c in companions.get(name, []):
        equal = all(_key(a) == _key(b) for a, b in zip(frame[name], frame[c]))
        out += f" ({'=' if equal else 'with'} {c})"
    return out


def _unique(col) -> list:
    out = []
    for v in col:
        if not any(_same(v, u) for u in out):
            out.append(v)
    return out


def _same(a, b) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b or (np.isnan(a) and np.isnan(b)))
    return a == b


def _match(value, want) -> bool:
    """An axis value against a --at value (text): numbers compare as numbers (to 1e-12 relative)."""
    if _is_number(value):
        try:
            w = float(want)
        except (TypeError, ValueError):
            return False
        return math.isclose(float(value), w, rel_tol=1e-12, abs_tol=0.0)
    return str(value) == str(want) or _show(value) == str(want)


def _combos(frame, names) -> list:
    if not names:
        return [()]
    levels = [sorted(_unique(frame[n])) if _numeric_axis(list(frame[n])) else _unique(frame[n]) for n in names]
    present = {tuple(_key(frame[n].iloc[i]) for n in names) for i in range(len(frame))}
    return [c for c in itertools.product(*levels) if tuple(_key(v) for v in c) in present]


def _key(v):
    return ("n", float(v)) if _is_number(v) else ("s", str(v))


def _select(frame, names, combo):
    keep = np.ones(len(frame), bool)
    for n, v in zip(names, combo):
        keep &= np.array([_key(a) == _key(v) for a in frame[n]])
    return frame[keep]


def _title(names, combo) -> str:
    return ", ".join(f"{n} = {_show(v)}" for n, v in zip(names, combo))


def _x_positions(col):
    """Numeric x values, or category positions with their tick labels."""
    vals = list(col)
    if _numeric_axis(vals):
        return np.asarray(vals, float), None
    levels = _first_seen(_show(v) for v in vals)
    pos = {v: i for i, v in enumerate(levels)}
    return np.array([pos[_show(v)] for v in vals], float), levels


def _lines(ax, frame, x, rest, combos, metric, xlabel) -> None:
    xs_all, levels = _x_positions(frame[x])
    frame = frame.assign(__x=xs_all)
    for i, combo in enumerate(combos):
        sel = _select(frame, rest, combo)
        xs = sel["__x"].to_numpy(float)
        order = np.argsort(xs, kind="stable")
        ax.plot(xs[order], sel["__value"].to_numpy(float)[order], marker="o", ms=5,
                label=_title(rest, combo) or None, color=f"C{i % 10}")
    if levels is not None:
        ax.set_xticks(range(len(levels)), levels)
    elif _wide(xs_all):
        ax.set_xscale("log")
    if _wide(frame["__value"].to_numpy(float), decades=3):
        ax.set_yscale("log")
    _pad_y(ax, frame["__value"].to_numpy(float), marker_pt=5 / 2 + 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(label(metric))
    ax.grid(True, alpha=0.3)
    if rest:
        ax.legend(fontsize=8)


def _pad_y(ax, values, marker_pt: float) -> None:
    """y-limits holding every value with at least a marker's radius (``marker_pt`` points) plus 3 points of room
    on the axes as drawn, and 5% of the range, on a linear or a log scale (the default margins clip markers on
    small axes)."""
    log = ax.get_yscale() == "log"
    v = np.asarray([x for x in values if np.isfinite(x) and (x > 0 or not log)], float)
    if not v.size:
        return
    t = np.log10(v) if log else v
    lo, hi = float(t.min()), float(t.max())
    span = hi - lo
    if span <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
        span = 1.0 if log else (1e-3 * max(abs(lo), abs(hi)) or 1.0)
        lo, hi = (lo + hi) / 2 - span / 2, (lo + hi) / 2 + span / 2
    height_pt = ax.get_position().height * ax.figure.get_figheight() * 72
    need_pt = marker_pt + 3
    pad = span * max(0.05, min(need_pt / max(height_pt - 2 * need_pt, 1e-9), 2.0))
    lo, hi = lo - pad, hi + pad
    ax.set_ylim((10 ** lo, 10 ** hi) if log else (lo, hi))


ERROR_FLOOR = 1e-17  # errors of exactly 0 are drawn here on the log scale


def _errors(ax, best, axes_best, x, err_cols, xlabel) -> None:
    xs, levels = _x_positions(axes_best[x])
    zero = False
    markers = "os^vDx+"
    drawn = []
    for i, c in enumerate(err_cols):
        v = _as_float(best[c], c)
        ok = np.isfinite(v)
        zero |= bool(np.any(v[ok] == 0))
        drawn += list(np.maximum(v[ok], ERROR_FLOOR))
        ax.plot(xs[ok], np.maximum(v[ok], ERROR_FLOOR), ls="none", marker=markers[i % len(markers)], ms=6,
                mfc="none", label=label(c), color=f"C{i % 10}")
    ax.set_yscale("log")
    _pad_y(ax, drawn, marker_pt=6 / 2 + 1)
    if levels is not None:
        ax.set_xticks(range(len(levels)), levels)
    elif _wide(xs):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("relative error of the objective" + (f" (0 drawn at {ERROR_FLOOR:g})" if zero else ""))
    ax.set_title("against the predictions (best row per point)", fontsize=10)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=7)


def minority_collapse_threshold(K: int, n: int, depth: int) -> Callable:
    """Threshold curve for the ``examples/sweeps/minority_collapse.toml`` layout (ceil(K/2) classes of n, the
    rest of n / ratio, lambda_W = lambda_H = lambda): for each lambda the imbalance ratio above which the
    minority classes are zeroed (Dang et al. 2023, ``ufm.theory.dang2023.threshold_formula``), with real-valued
    minority counts (the sweep rounds them to integers), found by bisection in log(ratio)."""
    from ufm.theory import dang2023

    major = math.ceil(K / 2)

    def collapsed(lam, r):
        n_min = n / r
        N = major * n + (K - major) * n_min
        return n_min <= dang2023.threshold_formula(N, depth, lam, lam)

    def curve(lams):
        out = []
        for lam in np.atleast_1d(lams):
            lo, hi = 0.0, 6.0  # log10 ratio
            if collapsed(lam, 10 ** lo):
                out.append(1.0)
                continue
            if not collapsed(lam, 10 ** hi):
                out.append(np.nan)
                continue
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if collapsed(lam, 10 ** mid) else (mid, hi)
            out.append(10 ** hi)
        return np.array(out)

    return curve
