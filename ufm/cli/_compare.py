"""``ufm compare FEATURES --labels ...``: the metrics of a real network's features and their distance to the
UFM optimum, the simplex ETF and SELI for the same class counts (``ufm.compare``).

Files: ``.npy``, ``.npz`` (the first array, or the one named ``features`` / ``labels`` / ``classifier`` /
``bias``; one file may hold them all, e.g. ``--labels feats.npz``) or a torch ``.pt`` saved tensor. Features
are N x d (one row per sample). Bad input is one line naming the flag, exit status 2.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ufm.errors import FlagError, ProblemError


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare measured features with the UFM optimum, the ETF and SELI",
                       description="Metrics of real penultimate features (N x d) and the shape distances of "
                                   "their class-mean Gram, classifier Gram and logits to the UFM optimum with "
                                   "the same counts, the simplex ETF and SELI.")
    p.add_argument("features", help="features, N x d (.npy, .npz or torch .pt)")
    p.add_argument("--labels", required=True, help="integer labels, N (.npy, .npz or .pt)")
    p.add_argument("--classifier", help="classifier W, K x d (.npy, .npz or .pt)")
    p.add_argument("--bias", help="bias b, K (.npy, .npz or .pt); needs --classifier")
    p.add_argument("--lambda-w", type=float, default=5e-3, help="weight decay of W for the UFM (default 5e-3)")
    p.add_argument("--lambda-h", type=float, default=5e-3, help="weight decay of H for the UFM (default 5e-3)")
    p.add_argument("--fit-lambda", action="store_true",
                   help="fit the decays to the measured norms (replaces --lambda-w/--lambda-h): with --classifier "
                        "both, so that the UFM's mean class-mean norm and classifier norm equal the measured ones "
                        "(ufm.compare.fit_lambdas); without, one scale lambda_W = lambda_H for the class-mean norm "
                        "(ufm.compare.fit_lambda)")
    p.add_argument("--no-solve", action="store_true", help="skip the UFM solve (ETF and SELI only)")
    p.add_argument("--plot", metavar="FILE.png", help="write measured vs predicted Gram heat maps (ufm.plot)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def load(path: str, flag: str, name: str) -> np.ndarray:
    """The array of ``path`` (module docstring); FlagError naming ``flag`` otherwise."""
    if not os.path.isfile(path):
        raise FlagError(flag, f"no such file: {path!r}")
    try:
        if path.endswith(".pt"):
            import torch

            x = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(x, dict):
                x = x[name] if name in x else next(iter(x.values()))
            return x.detach().numpy()
        x = np.load(path, allow_pickle=False)
        if isinstance(x, np.lib.npyio.NpzFile):
            if not x.files:
                raise FlagError(flag, f"{path} holds no array")
            return x[name] if name in x.files else x[x.files[0]]
        return x
    except FlagError:
        raise
    except Exception as e:  # unreadable file: one line
        raise FlagError(flag, f"cannot read {path!r} as .npy/.npz/.pt ({type(e).__name__})") from None


def plot(H, y, W, report, solution, path) -> None:
    """Measured vs predicted heat maps (``ufm.plot.geometry.measured_vs_predicted``) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from ufm.compare import measured_geometry, predictions
    from ufm.plot.geometry import measured_vs_predicted

    counts = report["counts"]
    pred = predictions(counts, solution)
    fig = measured_vs_predicted(measured_geometry(H, y, W), pred)
    fig.savefig(path, dpi=100)


FLAGS = {"features": "features", "labels": "--labels", "classifier": "--classifier", "bias": "--bias"}


def run(args) -> int:
    from ufm.compare import compare_with_solution

    if args.fit_lambda and args.no_solve:
        raise FlagError("--fit-lambda", "has no effect with --no-solve")
    for flag, v in (("--lambda-w", args.lambda_w), ("--lambda-h", args.lambda_h)):
        if not (np.isfinite(v) and v > 0):
            raise FlagError(flag, f"must be a number > 0, got {v}")
    H = load(args.features, "features", "features")
    y = load(args.labels, "--labels", "labels")
    W = load(args.classifier, "--classifier", "classifier") if args.classifier else None
    b = load(args.bias, "--bias", "bias") if args.bias else None
    if H.ndim != 2:
        raise FlagError("features", f"must be a 2-D array N x d, got shape {H.shape}")
    if y.ndim == 1 and np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    try:
        r, solution = compare_with_solution(H.T, y, W, b, lambda_W=args.lambda_w, lambda_H=args.lambda_h,
                                            solve=not args.no_solve, fit=args.fit_lambda)
    except ProblemError as e:
        raise FlagError(FLAGS.get(e.field, e.field), e.detail) from None
    if args.plot:
        if not args.plot.endswith((".png", ".pdf", ".svg")):
            raise FlagError("--plot", f"must name a .png, .pdf or .svg file, got {args.plot!r}")
        parent = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(parent):
            raise FlagError("--plot", f"the directory {parent!r} does not exist")
        plot(H.T, y, W, r, solution, args.plot)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"K = {r['K']}, d = {r['d']}, N = {r['N']}, counts {r['counts']}")
    for k, v in r["metrics"].items():
        print(f"  {k:28s} {v:.6g}")
    if "ufm" in r:
        u = r["ufm"]
        print(f"UFM (CE, same counts): lambda_W = {u['lambda_W']:.4g}, lambda_H = {u['lambda_H']:.4g}"
              f"{' (fitted to the measured ' + u['fitted_to'] + ')' if u['fitted'] else ''}, solver {u['status']}")
    print("shape distance (normalised Frobenius, 0 = same shape) of the measured Grams to:")
    for name, d in r["distances"].items():
        print(f"  {name:5s} " + "  ".join(f"{q} {v:.4f}" for q, v in d.items()))
    for k, v in r.get("generalized", {}).items():
        print(f"  generalized collapse: {k} {v:.4g}")
    for n in r["notes"]:
        print(f"note: {n}")
    return 0
