"""Compare the features of a real network with the UFM's optimum for the same class counts (``ufm compare``).

Measured geometry (features H, d x N, labels y, optional classifier W, K x d, bias b): the centred class means
Mc = [mu_c - mu_G] (weighted global mean, ``ufm.metrics``), their Gram Mc^T Mc, the classifier Gram W W^T and
the class-mean logits W Mc (K x K). Each is compared, as a *shape* (``ufm.metrics.gram_distance``: Frobenius
distance of the matrices normalised to unit Frobenius norm, in [0, 2]), with three predictions:

- the UFM optimum: ``ufm.solve`` of the one-layer CE UFM with the same counts, d = min(measured d, K) (the
  optimum's geometry lives in a K-dimensional subspace), and the given lambdas;
- the simplex ETF (Papyan, Han & Donoho 2020, arXiv:2008.08186): Gram I - J/K for means, classifier and logits;
- SELI (Thrampoulidis, Kini, Vakilian & Behnia 2022, "Imbalance Trouble: Revisiting Neural-Collapse Geometry",
  arXiv:2208.05512), the lambda -> 0 limit of the CE UFM: with the simplex-encoded label matrix Z = P Y
  (P = I - J/K, Y the K x N one-hot labels, D = diag(n)), W W^T = (P D P)^{1/2} and, by the same SVD,
  H^T H = (Y^T P Y)^{1/2}, whose class-mean Gram is D^{-1/2} (D^{1/2} P D^{1/2})^{1/2} D^{-1/2}; the
  class-mean logits are P (up to scale).

Generalized collapse (K > d + 1, no simplex ETF fits; Jiang et al. 2024, "Generalized neural collapse for a
large number of classes", ICML, arXiv:2310.05351): ``ufm.codes`` has the prediction only for d = 2 (the regular
K-gon, :func:`ufm.codes.polygon_distance`) and K = 2d (the orthoplex, Alcala et al. 2026, arXiv:2603.20587,
:func:`ufm.codes.orthoplex_distance`), measured on the classifier rows (or the centred means without a
classifier); max-abs entry distance of normalised Grams. For other K > d + 1 the report says that the
prediction is not available in ``ufm`` and gives the one-vs-rest distance (the quantity a softmax code
maximises) and the coherence against the Welch bound instead.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ufm import metrics
from ufm.errors import ProblemError
from ufm.theory.convex_oracle import seli_classifier_gram, seli_logits


def _psd_sqrt(A):
    ev, V = np.linalg.eigh((A + A.T) / 2)
    return (V * np.sqrt(np.maximum(ev, 0))) @ V.T


def seli_means_gram(counts) -> np.ndarray:
    """Class-mean Gram of SELI: D^{-1/2} (D^{1/2} P D^{1/2})^{1/2} D^{-1/2} (module docstring)."""
    n = np.asarray(counts, float)
    K = n.size
    s = np.sqrt(n)
    return _psd_sqrt(s[:, None] * seli_logits(K) * s[None, :]) / s[:, None] / s[None, :]


def check_inputs(H, labels, W=None, b=None):
    """Validated float64 arrays (H d x N, labels int N, W K x d or None, b K or None) and K; a ProblemError
    naming the field otherwise."""
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2:
        raise ProblemError("features", f"must be a 2-D array (N x d), got shape {H.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ProblemError("labels", f"must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}")
    if labels.shape[0] != H.shape[1]:
        raise ProblemError("labels", f"has {labels.shape[0]} entries but features have {H.shape[1]} samples")
    if not np.all(np.isfinite(H)):
        raise ProblemError("features", "must be finite (found NaN or inf)")
    if np.any(labels < 0):
        raise ProblemError("labels", "must be >= 0")
    K = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=K)
    if np.any(counts == 0):
        raise ProblemError("labels", f"class(es) {np.flatnonzero(counts == 0).tolist()} have no sample")
    if W is not None:
        W = np.asarray(W, dtype=np.float64)
        if W.shape != (K, H.shape[0]):
            raise ProblemError("classifier", f"must have shape (K, d) = {(K, H.shape[0])}, got {W.shape}")
        if not np.all(np.isfinite(W)):
            raise ProblemError("classifier", "must be finite (found NaN or inf)")
    if b is not None:
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        if W is None:
            raise ProblemError("bias", "needs a classifier")
        if b.shape != (K,) or not np.all(np.isfinite(b)):
            raise ProblemError("bias", f"must be {K} finite numbers, got shape {b.shape}")
    return H, labels, W, b, K


def measured_geometry(H, labels, W=None) -> dict:
    """The measured K x K matrices: ``means`` Mc^T Mc, ``classifier`` W W^T, ``logits`` W Mc."""
    means, _, centred, _, _ = metrics.class_statistics(H, labels)
    out = {"means": centred.T @ centred}
    if W is not None:
        out["classifier"] = W @ W.T
        out["logits"] = W @ centred
    return out


def predictions(counts, solution=None) -> dict:
    """{name: {quantity: K x K matrix}} for ``etf``, ``seli`` and, given a Solution, ``ufm``."""
    K = len(counts)
    etf = metrics.etf_gram(K)
    out = {"etf": {"means": etf, "classifier": etf, "logits": etf},
           "seli": {"means": seli_means_gram(counts), "classifier": seli_classifier_gram(counts),
                    "logits": seli_logits(K)}}
    if solution is not None:
        M = solution.class_means
        Wo = solution.classifier
        mu = M @ (np.asarray(counts, float) / np.sum(counts))
        Mc = M - mu[:, None]
        out["ufm"] = {"means": Mc.T @ Mc, "classifier": Wo @ Wo.T, "logits": Wo @ Mc}
    return out


def solve_ufm(counts, d: int, lambda_W: float, lambda_H: float, bias: str = "none"):
    """The one-layer CE UFM optimum with these counts (``ufm.solve``)."""
    from ufm.problem import Problem
    from ufm.solver import solve

    K = len(counts)
    problem = Problem(counts=tuple(int(c) for c in counts), d=int(min(d, K)), lambda_W=(float(lambda_W),),
                      lambda_H=float(lambda_H), bias=bias)
    return solve(problem)


def _mean_norm(M) -> float:
    return float(np.mean(np.linalg.norm(M, axis=0)))


#: the range of lambda scales :func:`fit_lambda` searches
FIT_RANGE = (1e-6, 1.0)


def _bisect_scale(counts, d: int, target: float, measure, lo: float, hi: float, steps: int):
    """The equal-decay scale t whose UFM optimum has ``measure(solution)`` = ``target``, by bisection on log t
    (``measure`` decreasing in t); (t, solution), t clipped to [lo, hi]."""
    a, b = np.log(lo), np.log(hi)
    best = None
    for _ in range(steps):
        t = float(np.exp((a + b) / 2))
        sol = solve_ufm(counts, d, t, t)
        best = (t, sol)
        if measure(sol) > target:
            a = np.log(t)
        else:
            b = np.log(t)
    return best


def fit_lambda(counts, d: int, target_norm: float, *, lo: float = FIT_RANGE[0], hi: float = FIT_RANGE[1],
               steps: int = 14):
    """The one lambda scale t (lambda_W = lambda_H = t) whose UFM optimum has mean class-mean norm
    (1/K) sum_c ||mu_c|| equal to ``target_norm`` (the measured one): bisection on log t, since the optimal
    norms of the CE UFM decrease as the weight decay grows (they vanish at the collapse threshold and grow
    without bound as t -> 0, Zhu et al. 2021, arXiv:2105.02375). Returns (t, solution); t is clipped to
    [lo, hi] when the target is out of the range those scales reach (:func:`compare_with_solution` then says
    which end)."""
    if not (np.isfinite(target_norm) and target_norm > 0):
        raise ProblemError("features", f"the mean class-mean norm must be > 0 to fit lambda, got {target_norm}")
    return _bisect_scale(counts, d, target_norm, lambda sol: _mean_norm(sol.class_means), lo, hi, steps)


def fit_lambdas(counts, d: int, target_norm: float, classifier_norm: float, *, lo: float = FIT_RANGE[0],
                hi: float = FIT_RANGE[1], steps: int = 14):
    """Both decays from the measured mean class-mean norm m and classifier norm a = ||W||_F (docs/theory.md
    section 20). The UFM's rescaling symmetry (W, H) -> (c W, H / c) maps the optimum for decays
    (lambda_W, lambda_H) to the optimum for (lambda_W / c^2, c^2 lambda_H), so with s = sqrt(lambda_W lambda_H)
    and rho = lambda_H / lambda_W: the product a m depends on s alone, and a / m on rho alone, as
    a / m = sqrt(rho) (a / m at rho = 1). So s is the equal-decay scale whose optimum has the measured product
    (bisection, as :func:`fit_lambda`), then rho = ((a / m) / (a / m at s))^2, exact, and one more solve at
    (s / sqrt(rho), s sqrt(rho)). Returns (lambda_W, lambda_H, solution, s)."""
    for name, v in (("features", target_norm), ("classifier", classifier_norm)):
        if not (np.isfinite(v) and v > 0):
            raise ProblemError(name, f"the measured norm must be > 0 to fit the decays, got {v}")
    s, sol = _bisect_scale(counts, d, target_norm * classifier_norm,
                           lambda sol: _mean_norm(sol.class_means) * float(np.linalg.norm(sol.classifier)), lo, hi,
                           steps)
    ratio = float(np.linalg.norm(sol.classifier)) / _mean_norm(sol.class_means)
    rho = (classifier_norm / target_norm / ratio) ** 2
    lambda_W, lambda_H = s / np.sqrt(rho), s * np.sqrt(rho)
    return float(lambda_W), float(lambda_H), solve_ufm(counts, d, lambda_W, lambda_H), s


def compare(H, labels, W=None, b=None, *, lambda_W: float = 5e-3, lambda_H: float = 5e-3,
            solve: bool = True, fit: bool = False) -> dict:
    """The report of :func:`compare_with_solution` (a JSON-ready dict)."""
    return compare_with_solution(H, labels, W, b, lambda_W=lambda_W, lambda_H=lambda_H, solve=solve, fit=fit)[0]


def compare_with_solution(H, labels, W=None, b=None, *, lambda_W: float = 5e-3, lambda_H: float = 5e-3,
                          solve: bool = True, fit: bool = False):
    """Metrics of the measured features (``ufm.metrics.nc_metrics`` when W is given, NC1 and CDNV otherwise)
    and the shape distances of the measured Grams to the UFM optimum, the ETF and SELI (module docstring).
    H is d x N. Returns (report, the UFM Solution or None)."""
    H, labels, W, b, K = check_inputs(H, labels, W, b)
    counts = np.bincount(labels, minlength=K)
    if W is not None:
        m = metrics.nc_metrics(H, labels, W, b)
    else:
        m = {"nc1": metrics.nc1(H, labels), "cdnv": metrics.cdnv(H, labels)}
    solution = None
    scale = None
    if solve and fit:
        target = _mean_norm(metrics.class_statistics(H, labels)[2])
        if W is not None:  # both decays: the classifier's norm fixes their ratio
            lambda_W, lambda_H, solution, scale = fit_lambdas(counts, H.shape[0], target, float(np.linalg.norm(W)))
        else:
            lambda_W, solution = fit_lambda(counts, H.shape[0], target)
            lambda_H = scale = lambda_W
    elif solve:
        solution = solve_ufm(counts, H.shape[0], lambda_W, lambda_H)
    measured = measured_geometry(H, labels, W)
    dist = {name: {q: metrics.gram_distance(measured[q], G) for q, G in pred.items() if q in measured}
            for name, pred in predictions(counts, solution).items()}
    notes = []
    if solve and fit and not 1.01 * FIT_RANGE[0] < scale < FIT_RANGE[1] / 1.01:
        end = "lower" if scale < 1.01 * FIT_RANGE[0] else "upper"
        what = "product of the class-mean and classifier norms" if W is not None else "class-mean norm"
        notes.append(f"the fitted decay scale sits at the {end} end of the searched range [{FIT_RANGE[0]:g}, "
                     f"{FIT_RANGE[1]:g}]: no UFM optimum in that range has the measured {what} "
                     f"({'larger' if end == 'lower' else 'smaller'} than any it reaches); give --lambda-w/--lambda-h")
    d = H.shape[0]
    generalized = None
    if K > d + 1:
        from ufm import codes

        rows = W if W is not None else metrics.class_statistics(H, labels)[2].T
        generalized = {"one_vs_rest_distance": codes.one_vs_rest_distance(rows),
                       "coherence": codes.coherence(rows), "welch_bound": codes.welch_bound(K, d)}
        if d == 2:
            generalized["polygon_distance"] = codes.polygon_distance(rows)
        elif K == 2 * d:
            generalized["orthoplex_distance"] = codes.orthoplex_distance(rows)
        else:
            notes.append(f"K = {K} > d + 1 = {d + 1}: the generalized-collapse prediction (softmax code, Jiang "
                         "et al. 2024) is not available in ufm for this (K, d); only the one-vs-rest distance "
                         "and the coherence are reported")
    out = {"K": K, "d": int(H.shape[0]), "N": int(H.shape[1]), "counts": counts.tolist(),
           "metrics": {k: float(v) for k, v in m.items()}, "distances": dist, "notes": notes}
    if generalized is not None:
        out["generalized"] = generalized
    if solution is not None:
        out["ufm"] = {"lambda_W": lambda_W, "lambda_H": lambda_H, "fitted": bool(fit),
                      "status": str(solution.status)}
        if fit:
            out["ufm"]["fitted_to"] = ("class-mean and classifier norms" if W is not None else
                                       "class-mean norm (one scale lambda_W = lambda_H)")
    return out, solution
