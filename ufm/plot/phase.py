"""Phase diagrams from sweep results: a metric over two axes with the theory's threshold curve on top."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np


def best_per_point(df, objective: str = "objective"):
    """One row per point: the lowest-objective row among its restarts (and its search row)."""
    ok = df[df["status"].isin(["converged", "stalled", "max_iter"])]
    return ok.loc[ok.groupby("point_id")[objective].idxmin()]


def phase_diagram(df, x: str, y: str, value: str, *, threshold: Optional[Callable] = None, logx: bool = False,
                  logy: bool = False, ax=None, title: str = "", cmap: str = "viridis", threshold_label: str = "theory"):
    """Colour ``value`` over the grid of columns ``x`` and ``y`` (best row per point); draw
    ``threshold(x_values) -> y_values`` on top. Returns the Figure."""
    import matplotlib.pyplot as plt

    from ufm.problem import ProblemError

    for col in (x, y, value):
        if col not in df.columns:
            raise ProblemError("column", f"{col!r} is not in the results; columns: {sorted(df.columns)}")
    best = best_per_point(df)
    table = best.pivot_table(index=y, columns=x, values=value, aggfunc="mean")
    xs, ys = table.columns.to_numpy(float), table.index.to_numpy(float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4.5))
    else:
        fig = ax.figure

    def edges(v, log):
        v = np.log10(v) if log else v
        mid = (v[1:] + v[:-1]) / 2 if v.size > 1 else np.array([])
        first = v[0] - (mid[0] - v[0] if mid.size else 0.5)
        last = v[-1] + (v[-1] - mid[-1] if mid.size else 0.5)
        e = np.concatenate([[first], mid, [last]])
        return 10 ** e if log else e

    mesh = ax.pcolormesh(edges(xs, logx), edges(ys, logy), table.to_numpy(float), cmap=cmap, shading="flat")
    fig.colorbar(mesh, ax=ax, label=value)
    if threshold is not None:
        xf = np.logspace(np.log10(xs.min()), np.log10(xs.max()), 200) if logx else np.linspace(xs.min(), xs.max(), 200)
        ax.plot(xf, threshold(xf), "w--", lw=2, label=threshold_label)
        ax.legend(loc="best", fontsize=8)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlim(edges(xs, logx)[0], edges(xs, logx)[-1])
    ax.set_ylim(edges(ys, logy)[0], edges(ys, logy)[-1])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    return fig


def minority_collapse_threshold(K: int, n: int, depth: int) -> Callable:
    """Threshold curve for the ``examples/sweeps/minority_collapse.toml`` layout (ceil(K/2) classes of n, the
    rest of n / ratio, lambda_W = lambda_H = lambda): for each lambda the imbalance ratio above which the
    minority classes are zeroed (Dang et al. 2023, ``ufm.theory.dang2023.threshold_formula``), with real-valued
    minority counts (the sweep rounds them to integers), found by bisection in log(ratio)."""
    import math

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
