"""``ufm supcon``: the supervised-contrastive UFM (``ufm.contrastive``) in one command: solve it, print the value,
the status and second-order verdict, the collapse and geometry metrics, and Graf et al.'s bound with its gap
(certified where it is tight: balanced classes, d >= K - 1)."""

from __future__ import annotations

import json

from ufm.cli import int_list, integer
from ufm.errors import FlagError, OptionsError, ProblemError

#: SupCon field / solve option -> flag
FLAGS = {"counts": "--counts", "K": "--classes", "d": "--dim", "temperature": "--temperature",
         "feature_radius": "--radius", "nonnegative": "--nonnegative", "restarts": "--restarts", "seed": "--seed",
         "gtol": "--gtol", "max_iter": "--max-iter"}


def _counts(args) -> tuple:
    if args.counts is not None:
        if {"classes", "per_class"} & set(getattr(args, "typed", ()) or ()):
            raise FlagError("--counts", "gives the classes and their sizes: leave out --classes and --per-class")
        return tuple(int_list("--counts", args.counts))
    if args.classes < 2:
        raise FlagError("--classes", f"must be an integer >= 2, got {args.classes}")
    return (args.per_class,) * args.classes


def run_supcon(args) -> int:
    from ufm import contrastive
    from ufm.solution import jsonable

    try:
        problem = contrastive.SupCon(_counts(args), args.dim, temperature=args.temperature,
                                     feature_radius=args.radius, nonnegative=args.nonnegative)
        sol = contrastive.solve(problem, restarts=args.restarts, seed=args.seed, gtol=args.gtol,
                                max_iter=args.max_iter)
    except (ProblemError, OptionsError) as e:
        field = "--per-class" if e.field == "counts" and args.counts is None else FLAGS.get(e.field, e.field)
        raise FlagError(field, e.detail) from None
    out = sol.summary()
    if args.json:
        print(json.dumps(jsonable(out), indent=1, allow_nan=False))
        return 0 if sol.status.acceptable else 1
    print(problem.describe())
    order = sol.second_order.get("verdict", "not checked")
    print(f"status      {sol.status} (stationarity {sol.stationarity:.2e}, second order: {order})")
    print(f"objective   {sol.objective:.15g}")
    if sol.bound is not None:
        word = "certified optimal" if sol.certified else (
            "not certified: d < K - 1, the simplex does not exist" if problem.d < problem.K - 1 else
            "not certified: non-negative features, the bound is not tight" if problem.nonnegative else
            "not certified")
        print(f"bound       {sol.bound:.15g} (Graf et al. 2021), relative gap {sol.gap:.2e}: {word}")
    else:
        print("bound       none (imbalanced counts: Graf et al.'s bound presumes balanced classes)")
    if problem.nonnegative and problem.d >= problem.K:
        print(f"predicted   {contrastive.orthogonal_frame_value(problem):.15g} (orthogonal frame, Kini et al. 2023)")
    for k, v in out["metrics"].items():
        print(f"{k:28s} {v:.6g}")
    return 0 if sol.status.acceptable else 1


def register(sub) -> None:
    p = sub.add_parser("supcon", help="the supervised-contrastive UFM (features on a sphere, no classifier)",
                       description="Supervised contrastive UFM (ufm.contrastive; Graf et al. 2021): free features on "
                                   "the sphere of radius --radius, similarities <h_i, h_j> / --temperature, the "
                                   "full-batch SupCon loss. Prints the optimum found, its second-order verdict, "
                                   "collapse / geometry metrics and Graf et al.'s bound with the gap. Exit status 1 "
                                   "if the best point did not converge or is a saddle; 2 for bad flags.")
    p.add_argument("--counts", help="per-class sample counts, e.g. 8,3,2 (each >= 2; instead of --classes / "
                                    "--per-class)")
    p.add_argument("--classes", "-K", type=integer, default=4, help="number of classes K (default 4)")
    p.add_argument("--per-class", "-n", type=integer, default=3, help="samples per class n >= 2 (default 3)")
    p.add_argument("--dim", "-d", type=integer, default=3, help="feature dimension d (default 3)")
    p.add_argument("--temperature", "--tau", type=float, default=0.1, help="temperature tau > 0 (default 0.1)")
    p.add_argument("--radius", type=float, default=1.0, help="feature radius r > 0 (default 1)")
    p.add_argument("--nonnegative", action="store_true",
                   help="features entry-wise >= 0 (a ReLU at the last layer; Kini et al. 2023)")
    p.add_argument("--restarts", type=integer, default=4, help="random starts (default 4)")
    p.add_argument("--seed", type=integer, default=0, help="seed of the starts (default 0)")
    p.add_argument("--gtol", type=float, default=1e-12, help="relative stationarity tolerance (default 1e-12)")
    p.add_argument("--max-iter", type=integer, default=20000, help="iteration cap per start (default 20000)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_supcon)
