"""The picture of Fisher, Meng & Papyan 2024: mixed-sample features on the classifier plane (K = 3)."""

from __future__ import annotations

import numpy as np


def classifier_plane(solution, ax=None, annotate_lam: bool = False):
    """Scatter the features of a K = 3 mixup solution projected on the plane spanned by the classifier rows
    (orthonormal basis from a QR of W^T), coloured by class pair and shaded by lam; classifier vectors as
    arrows and the three pairwise decision boundaries (z_i = z_j) as dashed lines. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from ufm.mixup import mixed_columns

    problem = solution.problem
    if problem.K != 3:
        from ufm.problem import ProblemError

        raise ProblemError("K", f"the classifier-plane picture needs K = 3 classes, got {problem.K}")
    W = solution.product  # 3 x d
    U, _, _ = np.linalg.svd(W.T, full_matrices=False)  # a centred classifier spans 2 dims: keep 2 directions
    B = U[:, :2]
    P = B.T @ solution.features  # 2 x N
    Wp = B.T @ W.T  # 2 x 3
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5.5))
    else:
        fig = ax.figure
    cols, mixed = mixed_columns(problem)
    pairs = sorted({(min(i, j), max(i, j)) for i, j, _ in mixed})
    cmap = colormaps["tab10"]
    for n, pair in enumerate(pairs):
        idx = [c for c, (i, j, _) in zip(cols, mixed) if (min(i, j), max(i, j)) == pair]
        lam = np.array([l if i <= j else 1 - l for (i, j, l) in
                        [m for c, m in zip(cols, mixed) if (min(m[0], m[1]), max(m[0], m[1])) == pair]])
        label = f"mix {pair[0]}-{pair[1]}" if pair[0] != pair[1] else f"same {pair[0]}"
        ax.scatter(P[0, idx], P[1, idx], s=28, color=cmap(n % 10), alpha=0.35 + 0.65 * lam, label=label,
                   edgecolor="k", linewidth=0.3)
    scale = np.max(np.abs(P)) / max(np.max(np.linalg.norm(Wp, axis=0)), 1e-300)
    for k in range(3):
        ax.annotate("", xy=scale * Wp[:, k], xytext=(0, 0),
                    arrowprops=dict(arrowstyle="->", lw=2, color="k"))
        ax.text(*(1.08 * scale * Wp[:, k]), f"w{k}", ha="center", va="center", fontsize=11)
    r = 1.2 * np.max(np.abs(P))
    for i in range(3):
        for j in range(i + 1, 3):
            n_ = Wp[:, i] - Wp[:, j]  # boundary z_i = z_j: <n_, x> = -(b_i - b_j)
            t = np.array([-n_[1], n_[0]]) / max(np.linalg.norm(n_), 1e-300)
            ax.plot([-r * t[0], r * t[0]], [-r * t[1], r * t[1]], "k--", lw=0.7, alpha=0.5)
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_aspect("equal")
    ax.set_title("mixup features on the classifier plane")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    return fig
