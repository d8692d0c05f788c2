"""Federated UFMs (``ufm.federated``): classifier bias and client drift against label skew."""

from __future__ import annotations

import numpy as np


def bias_vs_skew(rows, axes=None):
    """Two panels from :func:`ufm.federated.skew_sweep` rows, one line per (classifier, clients), against the
    Dirichlet alpha (log scale; small alpha = strong skew): the relative gap of the federated objective to the
    centralised optimum (client drift; symlog), and the mean correlation of the local classifiers' row norms
    with their clients' counts (the classifier bias; nan, not drawn, for a fixed classifier). Returns the Figure."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    else:
        fig = axes[0].figure
    keys = sorted({(r["classifier"], r["clients"]) for r in rows})
    for cls, C in keys:
        sel = sorted((r for r in rows if r["classifier"] == cls and r["clients"] == C), key=lambda r: r["alpha"])
        a = np.array([r["alpha"] for r in sel])
        style = "-" if cls == "learnable" else "--"
        axes[0].plot(a, [r["gap"] for r in sel], style, marker="o", label=f"{cls}, C={C}")
        axes[1].plot(a, [r["local_norm_count_corr"] for r in sel], style, marker="o", label=f"{cls}, C={C}")
    axes[0].set_yscale("symlog", linthresh=1e-8)
    axes[0].set(xscale="log", xlabel="Dirichlet alpha (skew ->)", ylabel="relative gap to centralised")
    axes[1].set(xscale="log", xlabel="Dirichlet alpha (skew ->)", ylabel="local norm-count correlation")
    for ax in axes:
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
