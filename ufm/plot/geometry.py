"""Pictures of a UFM solution's geometry and of how a solve gets there (matplotlib).

- :func:`projection`: class means (points) and classifier rows (arrows) on their top 2 or 3 principal
  directions, optionally with the individual features;
- :func:`gram_heatmaps`: normalised Grams of the centred class means, of the classifier and the class-mean
  logits side by side, with a predicted Gram shape;
- :func:`metrics_along_path`: NC1 / NC2 / NC3 and the objective gap against the iteration count, from
  ``ufm.solver.solve_path``;
- :func:`measured_vs_theory`: solver results (points) against closed-form curves (lines), one panel per
  story (e.g. diag(W Hbar) against lambda or n_k);
- :func:`compare_logits`: the class-mean logits W Hbar of several solutions and their singular values (e.g.
  the simplex-ETF point against the low-rank optimum of deep CE);
- :func:`restart_objectives`: the final objective of every run of a solve against reference values.

Every plotting function returns a ``matplotlib.figure.Figure``, never calls ``plt.show()`` and imports
matplotlib inside the function. Bad input raises :class:`ufm.ProblemError` naming the argument and what is
allowed. Notation: K classes, d feature dimension, W = W_M..W_1 the product classifier (K x d), Hbar the
class means (d x K), mu_G the global mean, Mc = Hbar - mu_G 1^T the centred class means.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ufm.problem import ProblemError

#: Scalar metrics :func:`metrics_along_path` can draw (keys of ``ufm.metrics.nc_metrics``).
PATH_METRICS = ("nc1", "cdnv", "nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular",
                "nc2_equiangular_classifier", "nc2_maxangle", "nc2_etf", "nc2_etf_means", "nc3", "unc3", "nc4",
                "gnc2")

PANEL_KEYS = ("x", "measured", "theory_x", "theory", "alternative", "measured_label", "theory_label",
              "alternative_label", "xlabel", "ylabel", "title", "logx", "logy", "vlines", "ylim")


# ----------------------------------------------------------------------------------------------- helpers
def _check_solution(solution, field: str = "solution"):
    from ufm.solution import Solution

    if not isinstance(solution, Solution):
        raise ProblemError(field, f"must be a ufm.solution.Solution (the result of ufm.solver.solve), "
                                  f"got {type(solution).__name__}")
    return solution


def _check_classes(solution, field: str = "solution"):
    """Class statistics need at least one single-class sample per class (not so for mixup designs without the
    original samples)."""
    labels = solution.problem.labels()
    missing = [k for k in range(solution.problem.K) if not np.any(labels == k)]
    if missing:
        raise ProblemError(field, f"classes {missing} have no single-class samples (e.g. a mixup design without "
                                  "the original samples): class means are undefined")
    return solution


def _unit_scale(X: np.ndarray) -> np.ndarray:
    """X divided by its largest column norm (unchanged when X is zero)."""
    m = float(np.max(np.linalg.norm(X, axis=0))) if X.size else 0.0
    return X / m if m > 0 else X


def _frobenius_normalised(X: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(X))
    return X / n if n > 0 else X


# ----------------------------------------------------------------------------------------------- projection
def projection_coordinates(solution, dim: int = 2, mean: str = "weighted") -> dict:
    """The coordinates :func:`projection` draws (pure numpy).

    Let Mc (d x K) be the centred class means (global mean ``mean``: ``"weighted"`` or ``"unweighted"``, see
    ``ufm.metrics``) and W (K x d) the product classifier. The basis U (d x dim) is the top ``dim`` left
    singular vectors of [Mc/||Mc||_F, W^T/||W||_F] (both sets weigh the same), each column's sign fixed so
    that its largest-magnitude entry (first one on ties) is positive. Means and classifier rows are then
    scaled separately so that the longest vector of each set has length 1; features are centred by mu_G and
    scaled like the means.

    Returns a dict: ``basis`` (d x dim), ``means`` (dim x K), ``classifier`` (dim x K), ``features``
    (dim x N', labelled samples only), ``labels`` (N',), ``singular_values`` (of the stacked matrix).
    """
    from ufm.metrics import class_statistics

    _check_classes(_check_solution(solution))
    if isinstance(dim, bool) or dim not in (2, 3):
        raise ProblemError("dim", f"must be 2 or 3, got {dim!r}")
    problem = solution.problem
    if problem.d < dim:
        raise ProblemError("dim", f"must be <= d = {problem.d} (a {dim}-D picture of {problem.d}-D features), "
                                  f"got {dim}")
    labels = problem.labels()
    _, mu_G, centred, _, kept = class_statistics(solution.features, labels, K=problem.K, mean=mean)
    W = solution.product
    stacked = np.concatenate([_frobenius_normalised(centred), _frobenius_normalised(W.T)], axis=1)
    U, s, _ = np.linalg.svd(stacked, full_matrices=True)
    B = U[:, :dim].copy()
    for j in range(dim):
        if B[int(np.argmax(np.abs(B[:, j]))), j] < 0:
            B[:, j] = -B[:, j]
    means = B.T @ centred
    scale = float(np.max(np.linalg.norm(means, axis=0))) if means.size else 0.0
    scale = scale if scale > 0 else 1.0
    feats = solution.features[:, labels >= 0] - mu_G[:, None]
    return {"basis": B, "means": means / scale, "classifier": _unit_scale(B.T @ W.T),
            "features": (B.T @ feats) / scale, "labels": kept, "singular_values": s}


def _best_view(points: np.ndarray, default=(30.0, -60.0), min_length: float = 0.6) -> tuple:
    """(elevation, azimuth) in degrees: the view closest to matplotlib's default in which every given 3-D
    vector (column) keeps at least ``min_length`` of its length on screen (none points at the viewer); the
    view maximising the smallest on-screen fraction when no view qualifies."""
    norms = np.linalg.norm(points, axis=0)
    U = points[:, norms > 0] / norms[norms > 0]
    views = [(e, a) for e in (20.0, 30.0, 40.0) for a in np.arange(-180.0, 180.0, 10.0)]
    views.sort(key=lambda v: (abs(v[0] - default[0]) / 10 + abs((v[1] - default[1] + 180) % 360 - 180) / 10, v))
    best, score = default, -1.0
    for elev, azim in views:
        e, a = np.radians(elev), np.radians(azim)
        v = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        s = float(np.sqrt(np.min(1 - (v @ U) ** 2))) if U.size else 1.0
        if s >= min_length:
            return elev, float(azim)
        if s > score:
            best, score = (elev, float(azim)), s
    return best


def projection(solution, dim: int = 2, *, show_features: bool = False, mean: str = "weighted", ax=None,
               title: Optional[str] = None, view: Optional[tuple] = None):
    """Class means (points) and classifier rows (arrows) projected on their top ``dim`` principal directions
    (``dim`` = 2 or 3); see :func:`projection_coordinates` for the basis and the scaling (each set scaled to
    a longest vector of length 1, so directions and relative lengths are comparable, absolute lengths not).

    Args:
      solution: a :class:`ufm.solution.Solution`.
      dim: 2 or 3.
      show_features: also scatter every (labelled) feature column, small and translucent, in its class colour.
      mean: global mean used to centre, ``"weighted"`` (default) or ``"unweighted"``.
      ax: an existing axes (a 3-D one for ``dim=3``); a new figure otherwise.
      title: axes title (default: the problem's description, shortened).
      view: ``(elevation, azimuth)`` in degrees for ``dim=3``; default: chosen so that no mean or classifier
        vector points at the viewer.

    Artists: one scatter (PathCollection) of the K class means in class order, one of the features when
    ``show_features``, and the classifier arrows (a ``Quiver`` in 2-D, a 3-D quiver collection in 3-D).
    Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    c = projection_coordinates(solution, dim, mean)
    K = solution.problem.K
    cmap = colormaps["tab10"]
    colours = [cmap(k % 10) for k in range(K)]
    if ax is None:
        if dim == 3:
            fig = plt.figure(figsize=(5.5, 5.0))
            ax = fig.add_subplot(projection="3d")
        else:
            fig, ax = plt.subplots(figsize=(5.0, 5.0))
    else:
        fig = ax.figure
        if (dim == 3) != (getattr(ax, "name", "") == "3d"):
            raise ProblemError("ax", f"must be a {'3-D' if dim == 3 else '2-D'} axes for dim = {dim}")
    P, A = c["means"], c["classifier"]
    if show_features and c["features"].size:
        fc = [colours[k] for k in c["labels"]]
        ax.scatter(*c["features"], s=8, c=fc, alpha=0.3, linewidths=0, label="features")
    ax.scatter(*P, s=70, c=colours, edgecolors="k", linewidths=0.8, zorder=3, label="class means")
    if dim == 2:
        ax.quiver(np.zeros(K), np.zeros(K), A[0], A[1], color=colours, angles="xy", scale_units="xy", scale=1,
                  width=0.012, label="classifier rows")
        for k in range(K):
            ax.text(*(1.1 * A[:, k]), f"w{k}", ha="center", va="center", fontsize=9)
        r = 1.25 * max(1.0, float(np.max(np.abs(P))) if P.size else 1.0)
        ax.set_xlim(-r, r)
        ax.set_ylim(-r, r)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        ax.set_xlabel("principal direction 1")
        ax.set_ylabel("principal direction 2")
    else:
        ax.quiver(np.zeros(K), np.zeros(K), np.zeros(K), A[0], A[1], A[2], colors=colours,
                  arrow_length_ratio=0.12, linewidths=2, label="classifier rows")
        for k in range(K):
            ax.text(*(1.12 * A[:, k]), f"w{k}", fontsize=9)
        r = 1.1 * max(1.0, float(np.max(np.abs(P))) if P.size else 1.0)
        for setter, ticks in ((ax.set_xlim, ax.set_xticks), (ax.set_ylim, ax.set_yticks), (ax.set_zlim, ax.set_zticks)):
            setter(-r, r)
            ticks([-1, 0, 1])
        ax.set_box_aspect((1, 1, 1))
        if view is None:
            view = _best_view(np.concatenate([P, A], axis=1))
        ax.view_init(elev=view[0], azim=view[1])
        ax.set_xlabel("dir 1")
        ax.set_ylabel("dir 2")
        ax.set_zlabel("dir 3")
    ax.legend(loc="upper left", fontsize=8)
    if title is None:
        p = solution.problem
        title = f"{p.loss.upper()}, K={p.K}, d={p.d}, M={p.depth}: means (dots), classifier (arrows)"
    ax.set_title(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- Grams
def gram_matrices(solution, centred: bool = True, mean: str = "weighted") -> dict:
    """The three K x K matrices of :func:`gram_heatmaps`, each divided by its Frobenius norm (zero stays
    zero): ``means`` = Mc^T Mc, ``classifier`` = W W^T, ``logits`` = W Mc (W Hbar when ``centred`` is
    False); W is the product classifier."""
    from ufm.metrics import class_statistics

    _check_classes(_check_solution(solution))
    problem = solution.problem
    means, _, cm, _, _ = class_statistics(solution.features, problem.labels(), K=problem.K, mean=mean)
    X = cm if centred else means
    W = solution.product
    return {"means": _frobenius_normalised(X.T @ X), "classifier": _frobenius_normalised(W @ W.T),
            "logits": _frobenius_normalised(W @ X)}


def gram_heatmaps(solution, predicted=None, *, centred: bool = True, mean: str = "weighted",
                  predicted_label: str = "predicted", annotate: Optional[bool] = None):
    """Heat maps, side by side, of the normalised (Frobenius norm 1) Gram of the centred class means
    Mc^T Mc, of the classifier W W^T and of the class-mean logits W Mc (W Hbar with ``centred=False``), and of
    the predicted Gram shape when ``predicted`` (K x K) is given; then each panel's title gives its distance
    || G/||G||_F - P/||P||_F ||_F to the prediction (``ufm.metrics.gram_distance``).

    One shared symmetric colour scale (diverging colormap) and one colour bar; values are written in the
    cells when K <= 6 (``annotate``). Axes: 3 panels (4 with ``predicted``) plus the colour bar.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from ufm.metrics import gram_distance

    mats = gram_matrices(solution, centred=centred, mean=mean)
    K = solution.problem.K
    titles = {"means": "class means  Mc^T Mc" if centred else "class means  Hbar^T Hbar",
              "classifier": "classifier  W W^T", "logits": "logits  W Mc" if centred else "logits  W Hbar"}
    panels = [(titles[k], mats[k]) for k in ("means", "classifier", "logits")]
    if predicted is not None:
        P = np.asarray(predicted, dtype=float)
        if P.shape != (K, K):
            raise ProblemError("predicted", f"must be a K x K = {K} x {K} matrix (a predicted Gram shape), "
                                            f"got shape {P.shape}")
        if not np.all(np.isfinite(P)):
            raise ProblemError("predicted", "must have finite entries")
        dist = [gram_distance(M, P) for _, M in panels]
        panels = [(f"{t}\ndist to {predicted_label} {d:.1e}", M) for (t, M), d in zip(panels, dist)]
        panels.append((predicted_label, _frobenius_normalised(P)))
    annotate = K <= 6 if annotate is None else annotate
    vmax = max(float(np.max(np.abs(M))) for _, M in panels) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels) + 0.8, 3.6), constrained_layout=True)
    for ax, (t, M) in zip(axes, panels):
        im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(t, fontsize=9)
        ax.set_xticks(range(K))
        ax.set_yticks(range(K))
        ax.tick_params(labelsize=7)
        if annotate:
            for i in range(K):
                for j in range(K):
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="w" if abs(M[i, j]) > 0.6 * vmax else "k")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="entry / Frobenius norm")
    return fig


def measured_vs_predicted(measured: dict, predicted: dict):
    """Heat maps of measured K x K matrices against predictions (``ufm compare --plot``): one row for the
    measurement and one per prediction name, one column per quantity of ``measured`` (e.g. ``means``
    Mc^T Mc, ``classifier`` W W^T, ``logits`` W Mc); every panel divided by its Frobenius norm, each
    prediction's title with its distance to the measurement (``ufm.metrics.gram_distance``). ``predicted``
    is {name: {quantity: K x K}}. Returns the Figure."""
    import matplotlib.pyplot as plt

    from ufm.metrics import gram_distance

    quantities = list(measured)
    rows = [("measured", {q: measured[q] for q in quantities})]
    rows += [(name, pred) for name, pred in predicted.items()]
    fig, axes = plt.subplots(len(rows), len(quantities), figsize=(3.2 * len(quantities) + 0.8, 3.0 * len(rows)),
                             constrained_layout=True, squeeze=False)
    for i, (name, mats) in enumerate(rows):
        for j, q in enumerate(quantities):
            ax = axes[i][j]
            M = _frobenius_normalised(np.asarray(mats[q], float))
            im = ax.imshow(M, cmap="RdBu_r", vmin=-1, vmax=1)
            title = f"{name}: {q}"
            if i > 0:
                title += f"\ndist {gram_distance(measured[q], mats[q]):.3f}"
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=[a for r in axes for a in r], shrink=0.6, label="entry / Frobenius norm")
    return fig


# ----------------------------------------------------------------------------------------------- solve path
def metrics_along_path(trace, reference: Optional[float] = None, keys: Sequence[str] = ("nc1", "nc2_etf", "nc3"),
                       *, ax=None, title: Optional[str] = None, mean: str = "weighted"):
    """Neural-collapse metrics and the objective gap against the iteration count, log scale (y) and symlog
    (x, so iteration 0 shows).

    Args:
      trace: ``[(iteration, Solution), ...]`` (e.g. ``ufm.solver.solve_path``).
      reference: the optimal value for the gap |objective - reference| (e.g. a closed form); default: the
        lowest objective in the trace (its own gap, 0, is then not drawn).
      keys: metrics to draw, from :data:`PATH_METRICS` (``ufm.metrics.nc_metrics``; ``nc2_etf`` is the
        distance of W W^T to the simplex-ETF shape: use another key for non-ETF optima).
      ax, title, mean: as elsewhere.

    Zero, negative and undefined (nan) values cannot be drawn on a log scale and are left out. One line per
    key plus one for the gap, in that order. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from ufm.metrics import nc_metrics

    try:
        items = list(trace)
    except TypeError:
        raise ProblemError("trace", f"must be a list of (iteration, Solution) pairs, got {type(trace).__name__}") \
            from None
    if not items:
        raise ProblemError("trace", "must contain at least one (iteration, Solution) pair")
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], (int, np.integer))
                and not isinstance(item[0], bool)):
            raise ProblemError("trace", f"every entry must be an (iteration, Solution) pair, got {item!r:.80}")
        _check_classes(_check_solution(item[1], "trace"), "trace")
    if isinstance(keys, str):
        keys = (keys,)
    bad = [k for k in keys if k not in PATH_METRICS]
    if bad:
        raise ProblemError("keys", f"must be metric names from {list(PATH_METRICS)}, got {bad}")
    if reference is not None and not (isinstance(reference, (int, float, np.floating)) and np.isfinite(reference)):
        raise ProblemError("reference", f"must be a finite number (the optimal objective), got {reference!r}")
    its = np.array([int(i) for i, _ in items])
    objs = np.array([s.objective for _, s in items], dtype=float)
    ref = float(np.nanmin(objs)) if reference is None else float(reference)
    series = {k: [] for k in keys}
    for _, s in items:
        m = nc_metrics(s.features, s.problem.labels(), s.product, s.bias, mean=mean)
        for k in keys:
            series[k].append(m[k])
    series["objective gap"] = list(np.abs(objs - ref))
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
    else:
        fig = ax.figure
    markers = "osD^v<>ph*"
    for n, (k, v) in enumerate(series.items()):
        v = np.asarray(v, dtype=float)
        ok = np.isfinite(v) & (v > 0)
        ax.plot(its[ok], v[ok], marker=markers[n % len(markers)], ms=4, lw=1.4, label=k)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("value")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "neural-collapse metrics along the solve", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- theory curves
def _check_panel(panel, i):
    if not isinstance(panel, dict):
        raise ProblemError("panels", f"panel {i} must be a dict with keys from {list(PANEL_KEYS)}, "
                                     f"got {type(panel).__name__}")
    unknown = sorted(set(panel) - set(PANEL_KEYS))
    if unknown:
        raise ProblemError("panels", f"panel {i} has unknown keys {unknown}; allowed: {list(PANEL_KEYS)}")
    x = np.asarray(panel.get("x", []), dtype=float)
    measured = panel.get("measured", {}) or {}
    for name, y in measured.items():
        if np.shape(y) != x.shape:
            raise ProblemError("panels", f"panel {i}: measured[{name!r}] has shape {np.shape(y)}, but x has "
                                         f"shape {x.shape}")
    tx = np.asarray(panel.get("theory_x", x), dtype=float)
    for key in ("theory", "alternative"):
        for name, y in (panel.get(key) or {}).items():
            if np.shape(y) != tx.shape:
                raise ProblemError("panels", f"panel {i}: {key}[{name!r}] has shape {np.shape(y)}, but theory_x "
                                             f"has shape {tx.shape}")
    if not measured and not panel.get("theory") and not panel.get("alternative"):
        raise ProblemError("panels", f"panel {i} has nothing to draw (give measured, theory or alternative)")
    return x, measured, tx


def measured_vs_theory(panels, *, ncols: Optional[int] = None, suptitle: Optional[str] = None,
                       panel_size=(4.6, 3.6)):
    """Solver results (markers) against closed-form predictions (lines), one axes per panel.

    Each panel is a dict (a single dict is one panel):

    - ``x`` and ``measured``: {label: y} measured values at the points x (markers, no line);
    - ``theory_x`` (default ``x``) and ``theory``: {label: y} predictions (solid lines; a label equal to a
      measured label gets its colour);
    - ``measured_label`` / ``theory_label``: legend suffixes (default "solver" / "theory");
    - ``alternative``: {label: y} a competing rule on ``theory_x`` (dashed, same colour matching), named in
      the legend by ``alternative_label`` (default "alternative rule");
    - ``vlines``: {label: x} dotted vertical lines (thresholds);
    - ``xlabel``, ``ylabel``, ``title``, ``logx``, ``logy``, ``ylim``.

    Markers: one line artist per measured label; lines: one per theory / alternative label, then one per
    vline. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.ticker import NullFormatter

    if isinstance(panels, dict):
        panels = [panels]
    try:
        panels = list(panels)
    except TypeError:
        raise ProblemError("panels", f"must be a dict or a list of dicts, got {type(panels).__name__}") from None
    if not panels:
        raise ProblemError("panels", "must contain at least one panel")
    checked = [_check_panel(p, i) for i, p in enumerate(panels)]
    if ncols is not None and (isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1):
        raise ProblemError("ncols", f"must be a positive integer, got {ncols!r}")
    ncols = min(len(panels), ncols or len(panels))
    nrows = -(-len(panels) // ncols)
    figsize = (panel_size[0] * ncols, panel_size[1] * nrows + (0.4 if suptitle else 0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, constrained_layout=True)
    cmap = colormaps["tab10"]
    for n, (panel, (x, measured, tx)) in enumerate(zip(panels, checked)):
        ax = axes[n // ncols][n % ncols]
        colour = {}

        def col(name):
            if name not in colour:
                colour[name] = cmap(len(colour) % 10)
            return colour[name]

        mlabel, tlabel = panel.get("measured_label", "solver"), panel.get("theory_label", "theory")
        for name, y in measured.items():
            ax.plot(x, np.asarray(y, float), ls="none", marker="o", ms=6, mfc="none", mew=1.6, color=col(name),
                    label=f"{name} ({mlabel})")
        for name, y in (panel.get("theory") or {}).items():
            ax.plot(tx, np.asarray(y, float), "-", lw=1.5, color=col(name), label=f"{name} ({tlabel})")
        alt = panel.get("alternative_label", "alternative rule")
        for name, y in (panel.get("alternative") or {}).items():
            ax.plot(tx, np.asarray(y, float), "--", lw=1.3, color=col(name), alpha=0.8, label=f"{name} ({alt})")
        for i, (name, xv) in enumerate((panel.get("vlines") or {}).items()):
            ax.axvline(float(xv), ls=":", color="0.4", lw=1.0)
            top = i % 2 == 0  # alternate top / bottom so that labels of close lines do not overlap
            ax.annotate(name, xy=(float(xv), 0.98 if top else 0.02), xycoords=("data", "axes fraction"), rotation=90,
                        va="top" if top else "bottom", ha="right", fontsize=7, color="0.3")
        for flag, axis, setter in (("logx", ax.xaxis, ax.set_xscale), ("logy", ax.yaxis, ax.set_yscale)):
            if panel.get(flag):
                setter("log")
                axis.set_minor_formatter(NullFormatter())  # decade labels only: no overlapping minor labels
        if panel.get("ylim") is not None:
            ax.set_ylim(*panel["ylim"])
        ax.set_xlabel(panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.set_title(panel.get("title", ""), fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for n in range(len(panels), nrows * ncols):
        axes[n // ncols][n % ncols].set_visible(False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


# ----------------------------------------------------------------------------------------------- comparisons
def class_logits(solution) -> np.ndarray:
    """W Hbar (K x K): the logits of the class means, bias excluded (W the product classifier)."""
    _check_classes(_check_solution(solution))
    return solution.mean_logits


def compare_logits(solutions, titles: Optional[Sequence[str]] = None, *, rank_rtol: float = 1e-6):
    """The class-mean logits W Hbar of several solutions as heat maps (values written in the cells for
    K <= 8), each titled with its objective and numerical rank (singular values above ``rank_rtol`` times the
    largest), and a last panel with every solution's singular values of W Hbar (grouped bars).

    Axes: one per solution plus the singular-value panel. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    if not isinstance(solutions, (list, tuple)) or not solutions:
        raise ProblemError("solutions", "must be a non-empty list of Solutions")
    for s in solutions:
        _check_solution(s, "solutions")
    K = solutions[0].problem.K
    if any(s.problem.K != K for s in solutions):
        raise ProblemError("solutions", "must all have the same number of classes K")
    if titles is None:
        titles = [f"solution {i}" for i in range(len(solutions))]
    if len(titles) != len(solutions):
        raise ProblemError("titles", f"needs one title per solution ({len(solutions)}), got {len(titles)}")
    Zs = [class_logits(s) for s in solutions]
    svs = [np.linalg.svd(Z, compute_uv=False) for Z in Zs]
    vmax = max(float(np.max(np.abs(Z))) for Z in Zs) or 1.0
    fig, axes = plt.subplots(1, len(solutions) + 1, figsize=(3.4 * (len(solutions) + 1), 3.6),
                             constrained_layout=True)
    for ax, Z, s, sol, t in zip(axes, Zs, svs, solutions, titles):
        rank = int(np.sum(s > rank_rtol * s[0])) if s[0] > 0 else 0
        ax.imshow(Z, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(f"{t}\nobjective {sol.objective:.10g}, rank {rank}", fontsize=9)
        ax.set_xticks(range(K))
        ax.set_yticks(range(K))
        ax.set_xlabel("class mean k")
        ax.set_ylabel("logit")
        if K <= 8:
            for i in range(K):
                for j in range(K):
                    ax.text(j, i, f"{Z[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="w" if abs(Z[i, j]) > 0.6 * vmax else "k")
    ax = axes[-1]
    cmap = colormaps["tab10"]
    width = 0.8 / len(solutions)
    for i, (s, t) in enumerate(zip(svs, titles)):
        ax.bar(np.arange(K) + (i - (len(solutions) - 1) / 2) * width, s, width, color=cmap(i % 10), label=t)
    ax.set_xticks(range(K))
    ax.set_xlabel("index i")
    ax.set_title("singular values of W Hbar", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _fit_ylim(ax, values, marker_pt: float) -> None:
    """y-limits holding every value with a margin of at least 5% of their range and at least a marker's
    radius (``marker_pt`` points) plus 3 points on the axes as drawn, whatever the rc margins, the size of
    the axes or the spread of the values (equal values get a band of 1e-3 relative around them)."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if not v.size:
        return
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo
    if span <= 1e-12 * max(abs(lo), abs(hi)):
        span = 1e-3 * max(abs(lo), abs(hi)) or 1.0
        lo, hi = (lo + hi) / 2 - span / 2, (lo + hi) / 2 + span / 2
    # the axes' height in points, with room for a layout engine shrinking it when the figure is drawn
    height_pt = 0.8 * ax.get_position().height * ax.figure.get_figheight() * 72
    need_pt = marker_pt + 3
    frac = need_pt / max(height_pt - 2 * need_pt, 1e-9)  # pad / span so that pad is need_pt on the axes
    pad = span * max(0.05, min(frac, 2.0))
    ax.set_ylim(lo - pad, hi + pad)


def restart_objectives(solution, references: Optional[dict] = None, *, ax=None, title: Optional[str] = None):
    """The final objective of every run of a solve (``solution.restart_objectives``, in run order; markers
    by status) with horizontal reference lines ``{label: value}`` (e.g. the best simplex-ETF value).
    Returns the Figure."""
    import matplotlib.pyplot as plt

    from ufm.loop import Status

    _check_solution(solution)
    refs = references or {}
    if not isinstance(refs, dict):
        raise ProblemError("references", f"must be a dict {{label: value}}, got {type(refs).__name__}")
    for k, v in refs.items():
        if not (isinstance(v, (int, float, np.floating)) and np.isfinite(v)):
            raise ProblemError("references", f"value of {k!r} must be a finite number, got {v!r}")
    vals = np.asarray(solution.restart_objectives, dtype=float)
    status = np.asarray(solution.restart_statuses)
    if ax is None:  # constrained: the long tick labels of close objectives never push the y label off the figure
        fig, ax = plt.subplots(figsize=(6.0, 3.8), layout="constrained")
    else:
        fig = ax.figure
    runs = np.arange(len(vals))
    for st, marker in zip(Status, "osx^D"):
        m = status == st.value
        if np.any(m):
            ax.plot(runs[m], vals[m], ls="none", marker=marker, ms=8, mfc="none", mew=1.6, label=f"run: {st}")
    styles = ["--", ":", "-.", (0, (5, 1))]
    for i, (k, v) in enumerate(refs.items()):
        ax.axhline(float(v), ls=styles[i % len(styles)], color=f"C{i + 3}", lw=1.2, label=f"{k} = {float(v):.10g}")
    ax.set_xlabel("run")
    ax.set_ylabel("final objective")
    ax.set_xticks(runs)
    _fit_ylim(ax, [*vals[np.isfinite(vals)], *(float(v) for v in refs.values())], marker_pt=8 / 2 + 1.6)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{len(vals)} runs of {solution.method}", fontsize=10)
    return fig
