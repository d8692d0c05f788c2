"""Deep-neural-collapse metrics layer by layer (non-linear deep UFMs, docs/theory.md section 15): one panel per
metric of :func:`ufm.metrics.dnc_metrics`, the layer m = 1..M on the horizontal axis, one line per solution
(e.g. one per depth)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ufm.errors import ProblemError

#: readable names of the per-layer metrics
NAMES = {"nc1": "NC1 (within-class variability)", "nc2_orthogonal": "distance of class means to an orthogonal frame",
         "singular_ratio": "smallest / largest singular value of the class means", "rank": "rank of the class means",
         "nc2_etf_means": "distance of centred means to a simplex ETF"}


def layer_curves(solution, keys: Sequence[str]) -> dict:
    """{key: [value at layer 1, ..., value at layer M]} of ``solution.metrics()["per_layer"]``."""
    layers = solution.metrics().get("per_layer")
    if not layers:
        raise ProblemError("solution", "has no per-layer metrics (depth M = 1 and linear)")
    for key in keys:
        if key not in layers[0]:
            raise ProblemError("keys", f"{key!r} is not a per-layer metric; known: {sorted(layers[0])}")
    return {key: [float(layer[key]) for layer in layers] for key in keys}


def dnc_per_layer(solutions: Sequence, labels: Optional[Sequence[str]] = None, *,
                  keys: Sequence[str] = ("nc1", "nc2_orthogonal", "singular_ratio"), log: bool = True,
                  floor: float = 1e-16, suptitle: Optional[str] = None):
    """One panel per metric in ``keys``: its value at every layer of every solution (layer m = features entering
    layer m, post-activation), on a log scale (values below ``floor`` drawn at ``floor``). Returns the Figure."""
    import matplotlib.pyplot as plt

    solutions = list(solutions)
    if not solutions:
        raise ProblemError("solutions", "needs at least one solution")
    labels = list(labels) if labels is not None else [f"M = {s.problem.depth}" for s in solutions]
    if len(labels) != len(solutions):
        raise ProblemError("labels", f"needs one label per solution ({len(solutions)}), got {len(labels)}")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), layout="constrained", squeeze=False)
    curves = [layer_curves(s, keys) for s in solutions]
    for ax, key in zip(axes[0], keys):
        floored = False
        for curve, label in zip(curves, labels):
            y = np.asarray(curve[key], float)
            m = np.arange(1, y.size + 1)
            floored |= bool(log and np.any(y < floor))
            ax.plot(m, np.maximum(y, floor) if log else y, "o-", label=label)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("layer m (features entering W_m)")
        ax.set_title(NAMES.get(key, key) + (f"\n(values below {floor:g} drawn at {floor:g})" if floored else ""),
                     fontsize=9)
        ax.set_xticks(range(1, max(len(c[key]) for c in curves) + 1))
    axes[0][0].legend(fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
