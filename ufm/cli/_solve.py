"""``ufm solve``: solve one UFM and print a summary (or one JSON object)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ufm.errors import FlagError, OptionsError, ProblemError

DEFAULTS = dict(classes=10, per_class=50, dim=32, depth=1, loss="ce", bias="none", lambda_w="5e-3",
                lambda_h=5e-3, lambda_b=0.0)


def _int_list(flag: str, text: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ProblemError(flag, f"must be a comma-separated list of integers, got {text!r}") from None
    if not values:
        raise ProblemError(flag, "must not be empty")
    return values


def _float_list(flag: str, text: str) -> list:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ProblemError(flag, f"must be a number or a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise ProblemError(flag, "must not be empty")
    return values


def _mixup_module():
    try:
        import ufm.mixup as mixup
    except ModuleNotFoundError:
        return None
    return mixup


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that define a Problem (shared by subcommands that take one problem)."""
    from ufm import losses

    _mixup_module()  # registers the mixup losses when present
    g = parser.add_argument_group("problem")
    g.add_argument("--counts", help="per-class sample counts, e.g. 100,100,20,20 (overrides --classes/--per-class)")
    g.add_argument("--classes", "-K", type=int, default=DEFAULTS["classes"], help="number of classes K (default 10)")
    g.add_argument("--per-class", "-n", type=int, default=DEFAULTS["per_class"],
                   help="samples per class n (default 50)")
    g.add_argument("--dim", "-d", type=int, default=DEFAULTS["dim"], help="feature dimension d (default 32)")
    g.add_argument("--depth", "-M", type=int, default=DEFAULTS["depth"], help="number of linear layers M (default 1)")
    g.add_argument("--loss", default=DEFAULTS["loss"], choices=list(losses.available()), help="loss (default ce)")
    g.add_argument("--bias", default=DEFAULTS["bias"], choices=["none", "regularized", "free"],
                   help="bias mode (default none)")
    g.add_argument("--lambda-w", default=DEFAULTS["lambda_w"],
                   help="weight decay of the layers: one value or a comma list, first layer to classifier (5e-3)")
    g.add_argument("--lambda-h", type=float, default=DEFAULTS["lambda_h"], help="feature decay (default 5e-3)")
    g.add_argument("--lambda-b", type=float, default=DEFAULTS["lambda_b"],
                   help="bias decay, with --bias regularized (default 0)")
    g.add_argument("--classifier", default="learnable", choices=["learnable", "etf"],
                   help="learnable classifier, or fixed to a simplex ETF (default learnable)")
    mixup = _mixup_module()
    if mixup is not None:
        mixup.add_cli_arguments(parser)


def problem_from_args(args):
    from ufm.problem import Problem

    counts = _int_list("--counts", args.counts) if args.counts else None
    if counts is None:
        if args.classes is None or args.classes < 2:
            raise ProblemError("--classes", f"must be an integer >= 2, got {args.classes}")
        if args.per_class is None or args.per_class < 1:
            raise ProblemError("--per-class", f"must be an integer >= 1, got {args.per_class}")
        counts = [args.per_class] * args.classes
    lambda_w = _float_list("--lambda-w", str(args.lambda_w))
    samples = None
    mixup = _mixup_module()
    if mixup is not None:
        samples = mixup.design_from_args(args)
    kwargs = dict(counts=counts, d=args.dim, depth=args.depth, loss=args.loss, bias=args.bias,
                  lambda_W=lambda_w if len(lambda_w) > 1 else lambda_w[0], lambda_H=args.lambda_h,
                  lambda_b=args.lambda_b, classifier=None if args.classifier == "learnable" else "etf")
    if samples is not None:
        kwargs["samples"] = samples
    with flag_names():
        return Problem(**kwargs)


#: Problem / SolverOptions field -> the command-line flag that sets it.
FLAGS = {"counts": "--counts", "d": "--dim", "depth": "--depth", "lambda_W": "--lambda-w",
         "lambda_H": "--lambda-h", "lambda_b": "--lambda-b", "classifier": "--classifier", "loss": "--loss",
         "bias": "--bias", "restarts": "--restarts", "seed": "--seed", "method": "--method",
         "max_iter": "--max-iter", "gtol": "--gtol", "init_scale": "--init-scale"}


@contextlib.contextmanager
def flag_names():
    """Re-raise a Problem or solver-option error under the name of the command-line flag that set the field."""
    try:
        yield
    except (ProblemError, OptionsError) as e:
        if e.field in FLAGS:
            raise FlagError(FLAGS[e.field], e.detail) from None
        raise


def register(sub) -> None:
    p = sub.add_parser("solve", help="solve one UFM to its optimum and print the neural-collapse metrics",
                       description="Solve one UFM (float64 L-BFGS with restarts) and print a summary or JSON.")
    add_problem_arguments(p)
    s = p.add_argument_group("solver")
    s.add_argument("--restarts", type=int, default=1, help="random starts (default 1)")
    s.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    s.add_argument("--method", default="lbfgs", choices=["lbfgs", "gd", "adam"], help="solver (default lbfgs)")
    s.add_argument("--max-iter", type=int, default=20000, help="iteration cap per run (default 20000)")
    s.add_argument("--gtol", type=float, default=1e-11,
                   help="stop at relative stationarity ||grad|| max(||x||, 1) / |f| <= gtol (default 1e-11)")
    s.add_argument("--init-scale", type=float, default=0.1, help="std of the random start (default 0.1)")
    s.add_argument("--certify", action="store_true",
                   help="certify the optimum: convex lower bound and gap (M = 1), reduced-problem global "
                        "search, second-order check")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    o.add_argument("--save", metavar="FILE.npz", help="save parameters and diagnostics to an .npz file")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _progress(quiet: bool):
    if quiet:
        return None

    def report(done, total, value):
        print(f"\r  run {done}/{total}: objective {value:.12g}", end="" if done < total else "\n",
              file=sys.stderr, flush=True)

    return report


def run(args) -> int:
    from ufm.solver import SolverOptions, solve

    problem = problem_from_args(args)
    with flag_names():
        options = SolverOptions(method=args.method, max_iter=args.max_iter, gtol=args.gtol,
                                restarts=args.restarts, seed=args.seed, init_scale=args.init_scale)
    solution = solve(problem, options, progress=_progress(args.quiet or args.json))
    if args.certify:
        from ufm.certificates import certify

        solution = certify(solution)
    metrics = solution.metrics()
    if args.save:
        solution.save(args.save)
    if args.json:
        print(json.dumps(solution.to_dict(metrics=metrics), allow_nan=False))
    else:
        print(solution.summary())
        keys = ("nc1", "nc2_etf", "nc3", "nc4")
        print("metrics    " + "  ".join(f"{k}={metrics[k]:.3e}" for k in keys if k in metrics))
        if solution.certificate:
            print(format_certificate(solution.certificate))
        if args.save:
            print(f"saved      {args.save}")
    return 0 if solution.status.acceptable else 1


def format_certificate(cert: dict) -> str:
    """The certificate as a few readable lines: the level of evidence, then one line per kind of evidence."""
    lines = [f"evidence   {cert.get('level', 'none')}"]
    lines += [f"  - {line}" for line in cert.get("evidence", [])]
    if "improved_by" in cert:
        imp = cert["improved_by"]
        lines.append(f"  - the {imp['step']} found a lower point: {imp['from']:.15g} -> {imp['to']:.15g}")
    return "\n".join(lines)
