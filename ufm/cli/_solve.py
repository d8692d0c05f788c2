"""``ufm solve``: solve one UFM and print a summary (or one JSON object).

What it prints (README, "Command line"): the problem, the objective, the run status (a saddle or a run that did
not converge is said on the status line, and the exit status is 1), the second-order check, how the point was
found (random starts, the reduced-problem global search), the time (compilation included), the metrics, and
the closed-form prediction of every ``ufm.theory`` prediction that applies with a verdict each (holds / refuted
/ inconclusive, with why). ``--certify`` adds the level of evidence (docs/evidence.md) and the time it took.

Rules of the flags (docs/check.md and the README say the same):

- bad values exit with status 2 and one line, before anything is solved (``--save`` is checked up front, the
  size of the problem too, without allocating it);
- a flag the user typed that has no effect with the other flags is an error (status 2, one line), e.g.
  ``--mixup-lams`` without a mixup loss or ``--lambda-w 1e-3`` with a fixed classifier at depth 1. Only typed
  flags count (``args.typed``, ``ufm.cli.typed_destinations``), never defaults; output flags (``-q`` with
  ``--json``) are exempt;
- ``--save`` must name a ``.npz`` file in an existing, writable directory; the path written is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

from ufm.cli import float_list, int_list, integer
from ufm.errors import FlagError, OptionsError, ProblemError, ResourceError, UfmError, out_of_memory

DEFAULTS = dict(classes=10, per_class=50, dim=32, depth=1, loss="ce", bias="none", lambda_w="5e-3",
                lambda_h=5e-3, lambda_b=0.0)

#: the destinations of the flags that define the problem (``--init`` compares them with the saved problem)
PROBLEM_DESTS = ("counts", "classes", "per_class", "dim", "depth", "loss", "bias", "lambda_w", "lambda_h",
                 "lambda_b", "classifier", "activation", "activate_features", "feature_radius",
                 "classifier_radius")
MIXUP_DESTS = ("mixup_pairs", "mixup_lams", "mixup_alpha", "mixup_draws", "mixup_per_pair", "mixup_seed",
               "no_mixup_original")

#: tolerances of the per-prediction verdicts (the same as ``ufm check``'s, proofs_check.core)
OBJ_RTOL = 1e-8
STRUCT_RTOL = 1e-6


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _mixup_module():
    try:
        import ufm.mixup as mixup
    except ModuleNotFoundError:
        return None
    return mixup


def add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that define a Problem (shared by subcommands that take one problem)."""
    from ufm import geometry, losses

    _mixup_module()  # registers the mixup losses when present
    g = parser.add_argument_group("problem")
    g.add_argument("--counts", help="per-class sample counts, e.g. 100,100,20,20 (instead of --classes/--per-class)")
    g.add_argument("--classes", "-K", type=integer, default=DEFAULTS["classes"],
                   help="number of classes K (default 10)")
    g.add_argument("--per-class", "-n", type=integer, default=DEFAULTS["per_class"],
                   help="samples per class n (default 50)")
    g.add_argument("--dim", "-d", type=integer, default=DEFAULTS["dim"], help="feature dimension d (default 32)")
    g.add_argument("--depth", "-M", type=integer, default=DEFAULTS["depth"],
                   help="number of layers M (default 1)")
    g.add_argument("--activation", default="linear", choices=["linear", "relu"],
                   help="layer kind: linear (default) or relu, applied after every hidden layer, z = W_M "
                        "relu(... relu(W_1 h)) + b (needs --depth >= 2 or --activate-features)")
    g.add_argument("--activate-features", action="store_true",
                   help="apply the activation to the free features too, relu(h) (non-negative features, Tirer & "
                        "Bruna 2022); only with --activation relu")
    g.add_argument("--loss", default=DEFAULTS["loss"], metavar="LOSS",
                   help=f"loss (default ce): one of {{{','.join(losses.available())}}}; a family takes parameters, "
                        "e.g. 'focal(gamma=1)', 'label-smoothing(epsilon=0.2)', 'mse-rescaled(scale=5, weight=1)', "
                        "per class 'logit-adjusted(iota=0/-0.7/-1.4)', 'cdt(delta=1/0.7/0.5)'")
    g.add_argument("--bias", default=DEFAULTS["bias"], choices=["none", "regularized", "free"],
                   help="bias mode (default none)")
    g.add_argument("--lambda-w", default=DEFAULTS["lambda_w"],
                   help="weight decay of the layers: one value or a comma list, first layer to classifier (5e-3); "
                        "a fixed classifier has no decay (give the M-1 learnable layers' values)")
    g.add_argument("--lambda-h", type=float, default=DEFAULTS["lambda_h"], help="feature decay (default 5e-3)")
    g.add_argument("--lambda-b", type=float, default=DEFAULTS["lambda_b"],
                   help="bias decay, only with --bias regularized (default 0)")
    g.add_argument("--classifier", default="learnable", choices=["learnable", *geometry.names()],
                   help="learnable classifier, or fixed to a registered geometry (ufm.geometry): "
                        + "; ".join(f"{n}: {geo.description}".replace("%", "%%")
                                    for n, geo in geometry.GEOMETRIES.items())
                        + " (default learnable)")
    g.add_argument("--feature-radius", type=float, default=None,
                   help="normalised UFM: every feature on the sphere of this radius (default: free)")
    g.add_argument("--classifier-radius", type=float, default=None,
                   help="normalised UFM: every classifier row on the sphere of this radius (a learnable "
                        "classifier; with --feature-radius at depth 1 the temperature is 1/(product of the radii); "
                        "default: free)")
    g.add_argument("--temperature", type=float, default=None,
                   help="normalised logits cos(w_k, h_i) / tau: sets --feature-radius 1 and --classifier-radius "
                        "1/tau (instead of the radii)")
    mixup = _mixup_module()
    if mixup is not None:
        mixup.add_cli_arguments(parser)


def _typed(args) -> set:
    return set(getattr(args, "typed", ()) or ())


def _counts_shape(args) -> tuple:
    """(K, N, counts or None) from the flags, without building a list of K counts (``--classes 1e20`` must be
    refused by the size check, not by building the list)."""
    if args.counts:
        counts = int_list("--counts", args.counts)
        return len(counts), sum(counts), counts
    if args.classes is None or args.classes < 2:
        raise FlagError("--classes", f"must be an integer >= 2, got {args.classes}")
    if args.per_class is None or args.per_class < 1:
        raise FlagError("--per-class", f"must be an integer >= 1, got {args.per_class}")
    return args.classes, args.classes * args.per_class, None


def _lambda_w(args, depth: int, fixed: bool):
    """The lambda_W of the Problem. With a fixed classifier the classifier has no decay: the CLI sets its entry
    to 0, and a non-zero value typed for it is a flag without effect (an error)."""
    typed = "lambda_w" in _typed(args)
    values = float_list("--lambda-w", str(args.lambda_w))
    if not fixed:
        return values if len(values) > 1 else values[0]
    if depth == 1:
        if typed and any(v != 0 for v in values):
            raise FlagError("--lambda-w", f"has no effect with --classifier {args.classifier} at depth 1: the fixed "
                                          "classifier is the only layer and has no weight decay (leave --lambda-w "
                                          "out, or give 0)")
        return 0.0
    if len(values) == 1:
        return [values[0]] * (depth - 1) + [0.0]
    if len(values) == depth - 1:
        return values + [0.0]
    if len(values) == depth and values[-1] == 0:
        return values
    if len(values) == depth:
        raise FlagError("--lambda-w", f"the last value ({values[-1]}) has no effect: the classifier is fixed "
                                      f"(--classifier {args.classifier}) and has no weight decay; give the "
                                      f"{depth - 1} learnable layers' values")
    raise FlagError("--lambda-w", f"needs 1 or {depth - 1} values with a fixed classifier (the learnable layers, "
                                  f"first to last), got {len(values)}")


def problem_from_args(args):
    from ufm.problem import Problem

    _, _, counts = _counts_shape(args)
    if counts is None:
        counts = [args.per_class] * args.classes
    fixed = args.classifier != "learnable"
    samples = None
    mixup = _mixup_module()
    if mixup is not None:
        samples = mixup.design_from_args(args)
    kwargs = dict(counts=counts, d=args.dim, depth=args.depth, loss=args.loss, bias=args.bias,
                  lambda_W=_lambda_w(args, args.depth if isinstance(args.depth, int) else 1, fixed),
                  lambda_H=args.lambda_h, lambda_b=args.lambda_b, classifier=args.classifier if fixed else None,
                  activation=getattr(args, "activation", "linear"),
                  activate_features=bool(getattr(args, "activate_features", False)),
                  feature_radius=getattr(args, "feature_radius", None),
                  classifier_radius=getattr(args, "classifier_radius", None))
    if samples is not None:
        kwargs["samples"] = samples
    with flag_names():
        if getattr(args, "temperature", None) is not None:
            return Problem.normalized_logits(**kwargs, temperature=args.temperature)
        return Problem(**kwargs)


#: Problem / SolverOptions field -> the command-line flag that sets it.
FLAGS = {"counts": "--counts", "d": "--dim", "depth": "--depth", "lambda_W": "--lambda-w",
         "lambda_H": "--lambda-h", "lambda_b": "--lambda-b", "classifier": "--classifier", "loss": "--loss",
         "bias": "--bias", "restarts": "--restarts", "seed": "--seed", "method": "--method",
         "max_iter": "--max-iter", "gtol": "--gtol", "init_scale": "--init-scale", "search": "--search",
         "reduce": "--reduce", "polish": "--polish", "activation": "--activation",
         "activate_features": "--activate-features", "feature_radius": "--feature-radius",
         "classifier_radius": "--classifier-radius", "temperature": "--temperature"}


@contextlib.contextmanager
def flag_names(extra: dict = None):
    """Re-raise a Problem or solver-option error under the name of the command-line flag that set the field:
    :data:`FLAGS`, updated with ``extra`` (another command's own fields, e.g. ``ufm fed``'s federation)."""
    flags = {**FLAGS, **(extra or {})}
    try:
        yield
    except (ProblemError, OptionsError) as e:
        if e.field in flags:
            raise FlagError(flags[e.field], e.detail) from None
        raise


def register(sub) -> None:
    p = sub.add_parser("solve", help="solve one UFM to its optimum, with the metrics and the theory's predictions",
                       description="Solve one UFM (float64 L-BFGS with restarts; the reduced-problem global search "
                                   "for deep models and d < K) and print a summary or JSON: objective, status, "
                                   "second order, how the point was found, metrics, and every closed-form "
                                   "prediction of ufm.theory that applies with a verdict. Exit status 1 if the "
                                   "best run did not converge or is a saddle; 2 for bad flags.")
    add_problem_arguments(p)
    s = p.add_argument_group("solver")
    s.add_argument("--restarts", type=integer, default=1, help="random starts (default 1)")
    s.add_argument("--seed", type=integer, default=0,
                   help="PRNG seed of the random starts, the global search and the certificate (default 0)")
    s.add_argument("--method", default="lbfgs", choices=["lbfgs", "gd", "adam"], help="solver (default lbfgs)")
    s.add_argument("--max-iter", type=integer, default=20000, help="iteration cap per run (default 20000)")
    s.add_argument("--gtol", type=float, default=1e-11,
                   help="stop at relative stationarity ||grad|| max(||x||, 1) / |f| <= gtol (default 1e-11)")
    s.add_argument("--init-scale", type=float, default=0.1, help="std of the random start (default 0.1)")
    s.add_argument("--search", choices=["auto", "always", "never"], default="auto",
                   help="the reduced-problem global search: auto (default: for depth M > 1 and for d < K, when the "
                        "master reduction applies and no --init is given), always, never")
    s.add_argument("--reduce", choices=["auto", "never"], default="auto",
                   help="solve the exact class-reduced problem (auto, default; docs/theory.md section 4) or the "
                        "full problem as written (never)")
    s.add_argument("--polish", choices=["auto", "never"], default="auto",
                   help="Newton polish on the exact Hessian after L-BFGS on small problems (auto, default) or not")
    s.add_argument("--init", metavar="FILE.npz",
                   help="warm start from a solution saved with --save (same problem: problem flags, if given, "
                        "must agree with the file's); with --certify, certifies a saved run")
    s.add_argument("--max-memory-gb", type=float, metavar="GB",
                   help="refuse problems estimated to need more memory (default: 75%% of the machine's RAM, or "
                        "$UFM_MAX_MEMORY_GB)")
    s.add_argument("--certify", action="store_true",
                   help="certify the optimum and print the level of evidence (docs/evidence.md): convex dual bound "
                        "(M = 1), reduced-problem global search, second-order check; and how long it took")
    t = p.add_argument_group("theory")
    t.add_argument("--no-predictions", action="store_true",
                   help="do not compute the closed-form predictions of ufm.theory (default: every one that applies)")
    t.add_argument("--why-not", action="store_true",
                   help="also list the predictions that do not apply, each with its reason")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    o.add_argument("--save", metavar="FILE.npz",
                   help="save parameters and diagnostics to this .npz file (its directory must exist)")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


#: a run reports its iteration, objective and stationarity every this many iterations (ufm.loop.reporting)
REPORT_EVERY = 100
#: seconds a solve runs before its iteration reports are shown, and between two shown
REPORT_AFTER, REPORT_GAP = 1.0, 0.5
#: progress lines are padded to this width, so that a shorter line overwrites a longer one (``\r``)
LINE = 96


def _progress(quiet: bool):
    if quiet:
        return None

    def report(done, total, value):
        print(f"\r  run {done}/{total}: objective {value:.12g}".ljust(LINE), end="" if done < total else "\n",
              file=sys.stderr, flush=True)

    return report


def _iteration_progress(quiet: bool):
    """The context in which ``ufm solve`` runs: the iterations of a long run reported on stderr (the first
    after :data:`REPORT_AFTER` seconds, then at most every :data:`REPORT_GAP` seconds)."""
    if quiet:
        return contextlib.nullcontext()
    from ufm.loop import reporting, stage_label

    start = time.perf_counter()
    last = [start]

    def report(iteration, value, stationarity):
        now = time.perf_counter()
        if now - start >= REPORT_AFTER and now - last[0] >= REPORT_GAP:
            last[0] = now
            where = stage_label()  # which run (and which start of a global search) is iterating
            print(f"\r  {where + ', ' if where else ''}iteration {iteration:,}: objective {value:.12g}, "
                  f"stationarity {stationarity:.2e}".ljust(LINE), end="", file=sys.stderr, flush=True)

    return reporting(report)


# ------------------------------------------------------------------------------------------ checks up front
def check_save_path(text: str) -> Path:
    """``--save``: a ``.npz`` file in an existing, writable directory (checked before anything is solved)."""
    path = Path(text)
    if path.suffix != ".npz":
        raise FlagError("--save", f"must name a .npz file (e.g. out.npz), got {text!r}")
    if path.is_dir():
        raise FlagError("--save", f"{text} is a directory; give a file name ending in .npz")
    parent = path.parent
    if not parent.is_dir():
        raise FlagError("--save", f"the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FlagError("--save", f"the directory {str(parent)!r} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise FlagError("--save", f"{text} exists and is not writable")
    return path


def check_size(args, K: int, N: int) -> None:
    """Refuse (ResourceError, one line) a problem too large for ``ufm.limits`` before building anything of its
    size: ``ufm.limits.estimate_sizes`` from the numbers alone (K, N, d, M), so that neither the Problem nor the
    solver's own check allocates anything of the problem's size first."""
    from ufm import limits

    d, M = args.dim, args.depth
    if not (isinstance(d, int) and d >= 1 and isinstance(M, int) and M >= 1):
        return  # the Problem names the bad field
    if M > limits.max_depth():
        return  # the Problem refuses it (ResourceError) before building anything of that size
    from ufm import objective

    reduce = args.reduce != "never"
    C = K if reduce else N
    mixup = str(args.loss).startswith("mixup")
    stream = objective.streams_at(args.loss, not mixup, K, C)
    # after the solve: --json writes every feature column (lists of Python floats, then text), --save and
    # --certify build the d x N features (Solution.features); the summary alone builds nothing of size d x N
    lifted = 13 if args.json else (1 if (args.save or args.certify) else 0)
    need = limits.estimate_sizes(K, N, d, M, reduce=reduce, fixed_classifier=args.classifier != "learnable",
                                 bias=args.bias, stream=stream, metric_columns=K if reduce and not mixup else N,
                                 lifted=lifted)
    limits.refuse_above(need, K, N, d, M)


def check_effect(args, problem, init) -> None:
    """A typed flag that has no effect with the other flags is an error (module docstring)."""
    typed = _typed(args)
    if args.counts:
        for dest in ("classes", "per_class"):
            if dest in typed:
                raise FlagError(_flag(dest), "has no effect with --counts (which gives every class's count)")
    if "lambda_b" in typed and problem.bias != "regularized":
        raise FlagError("--lambda-b", f"has no effect with --bias {problem.bias} (only --bias regularized has a "
                                      "bias decay)")
    if not str(problem.loss).startswith("mixup"):
        for dest in MIXUP_DESTS:
            if dest in typed:
                raise FlagError(_flag(dest) if dest != "no_mixup_original" else "--no-mixup-original",
                                "has no effect without a mixup loss (--loss mixup-ce or mixup-mse)")
    else:
        drawn = getattr(problem.samples, "alpha", None) is not None
        if drawn and "mixup_lams" in typed:
            raise FlagError("--mixup-lams", "has no effect with --mixup-alpha (the weights are drawn from "
                                            "Beta(alpha, alpha))")
        for dest in ("mixup_draws", "mixup_seed"):
            if dest in typed and not drawn:
                raise FlagError(_flag(dest), "has no effect without --mixup-alpha (it sets the Beta draws)")
    if init is not None:
        for dest in ("restarts", "init_scale"):
            if dest in typed:
                raise FlagError(_flag(dest), "has no effect with --init (the run starts from the saved solution)")
        if "seed" in typed and not (args.certify or args.search == "always"):
            raise FlagError("--seed", "has no effect with --init unless --certify or --search always (it seeds "
                                      "their random starts)")
    if "why_not" in typed and args.no_predictions:
        raise FlagError("--why-not", "has no effect with --no-predictions")


# ------------------------------------------------------------------------------------------ --init
def load_init(args):
    """The solution saved in ``--init FILE`` and the problem to solve: the file's; problem flags the user typed
    must agree with it (one line naming the first field that differs)."""
    from ufm.solution import Solution

    try:
        saved = Solution.load(args.init)
    except UfmError as e:
        raise FlagError("--init", e.detail) from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise FlagError("--init", f"{args.init} is not a file written by ufm solve --save "
                                  f"({type(e).__name__}: {e})") from None
    typed = _typed(args)
    mixup_typed = typed & set(MIXUP_DESTS)
    if not (typed & set(PROBLEM_DESTS)) and not mixup_typed:
        return saved, saved.problem
    want = _problem_with_flags(args, saved.problem, typed)
    layer_kind = {"activation": "linear", "activate_features": False}  # left out of a linear problem's dict
    have, given = {**layer_kind, **saved.problem.to_dict()}, {**layer_kind, **want.to_dict()}
    for key in have:
        if have[key] != given.get(key):
            raise FlagError("--init", f"{args.init} holds a solution of another problem: {key} is {have[key]!r} "
                                      f"there, {given.get(key)!r} with these flags (leave the problem flags out "
                                      "to use the file's problem)")
    return saved, saved.problem


def _problem_with_flags(args, problem, typed: set):
    """The saved ``problem`` with the fields of the typed problem flags replaced by their values."""
    ns = argparse.Namespace(**vars(args))
    base = problem
    if "counts" in typed or "classes" in typed or "per_class" in typed:
        if not args.counts and not ("classes" in typed and "per_class" in typed):
            ns.classes = args.classes if "classes" in typed else base.K
            ns.per_class = args.per_class if "per_class" in typed else (base.counts[0] if base.is_balanced else None)
            if ns.per_class is None:
                raise FlagError("--classes", f"{args.init} has unequal counts {list(base.counts)}; give --counts")
    else:
        ns.counts = ",".join(str(c) for c in base.counts)
    untyped = {"dim": base.d, "depth": base.depth, "loss": base.loss, "bias": base.bias,
               "lambda_h": base.lambda_H, "lambda_b": base.lambda_b,
               "classifier": base.classifier if isinstance(base.classifier, str) else "learnable",
               "activation": base.activation, "activate_features": base.activate_features,
               "feature_radius": base.feature_radius, "classifier_radius": base.classifier_radius}
    for dest, value in untyped.items():
        if dest not in typed:
            setattr(ns, dest, value)
    if "lambda_w" not in typed:
        ns.lambda_w = ",".join(repr(v) for v in base.lambda_W)
        ns.typed = set(typed) | {"lambda_w"}
    if base.classifier is not None and not isinstance(base.classifier, str):
        raise FlagError("--init", f"{args.init} has a fixed classifier given as a matrix; leave the problem flags out")
    want = problem_from_args(ns)
    if base.samples is not None and not (typed & set(MIXUP_DESTS)):
        want = want.replace(samples=base.samples)
    return want


# ------------------------------------------------------------------------------------------ predictions
def predictions(problem, solution, *, why_not: bool = False) -> tuple:
    """Every prediction of ``ufm.theory.PREDICTIONS`` that applies to ``problem``, each with its verdict against
    ``solution``: ([applicable entries], [not-applicable entries, only with ``why_not``]). Each prediction's
    ``predict`` runs once (the convex oracle is itself a solve): its result feeds ``Prediction.errors``."""
    from ufm.theory import PREDICTIONS

    applicable, not_applicable = [], []
    for name, pred in PREDICTIONS.items():
        ok, reason = pred.applies(problem)
        if not ok:
            if why_not:
                not_applicable.append({"name": name, "source": pred.source, "reason": reason})
            continue
        t0 = time.perf_counter()
        try:
            with _quiet_numpy():
                predicted = pred.predict(problem)
        except Exception as e:  # noqa: BLE001 -- shown as the verdict's reason, never hidden
            applicable.append({"name": name, "source": pred.source, "statement": pred.statement,
                               "predicted_objective": None, "errors": {}, "verdict": "inconclusive",
                               "reason": f"the prediction failed: {type(e).__name__}: {e}",
                               "seconds": time.perf_counter() - t0})
            continue
        once = dataclasses.replace(pred, predict=lambda _problem, _p=predicted: _p)
        with _quiet_numpy():
            errors = once.errors(problem, solution)
        verdict, reason = prediction_verdict(solution, predicted, errors)
        f_pred = predicted.get("objective")
        applicable.append({"name": name, "source": pred.source, "statement": pred.statement,
                           "predicted_objective": None if f_pred is None else float(f_pred), "errors": errors,
                           "verdict": verdict, "reason": reason, "seconds": time.perf_counter() - t0})
    return applicable, not_applicable


def prediction_verdict(solution, predicted: dict, errors: dict) -> tuple:
    """(verdict, reason): ``refuted`` if the solve found an objective LOWER than the predicted optimum by more
    than 1e-8 relative (any point of the problem bounds its minimum from above; the one refutation rule of
    ``ufm check``), ``holds`` if the objective agrees to 1e-8 relative and every structure error is <= 1e-6 at a
    converged point, ``inconclusive`` otherwise, with why."""
    from proofs_check.core import refuted_by

    f = float(solution.objective)
    structure = {k: v for k, v in errors.items() if k != "objective_rel_err"}
    bad = {k: v for k, v in structure.items() if not (v <= STRUCT_RTOL)}
    if not math.isfinite(f):
        return "inconclusive", "the solve's objective is not finite"
    if "objective" in predicted:
        f_pred = float(predicted["objective"])
        if not math.isfinite(f_pred):
            return "inconclusive", (f"the predicted objective is not finite ({f_pred}) at these parameters: the "
                                    "prediction overflows in float64")
        if refuted_by(f, f_pred, OBJ_RTOL):
            lower = predicted.get("lower_bound")
            if lower is not None and f >= float(lower) - OBJ_RTOL * abs(f_pred):
                return "inconclusive", (f"the solve is {f_pred - f:.2e} below the predicted value, which is an "
                                        f"upper bound (a numerical solve); its certified lower bound {lower:.15g} "
                                        "is not beaten")
            return "refuted", (f"the solve found {f:.15g} < predicted optimum {f_pred:.15g} (lower by "
                               f"{f_pred - f:.3e}, {(f_pred - f) / max(abs(f_pred), 1e-300):.1e} relative)")
        if not solution.status.acceptable:
            return "inconclusive", f"the solve ended {solution.status} (not a converged minimum)"
        rel = errors.get("objective_rel_err", abs(f - f_pred) / max(abs(f_pred), 1e-300))
        if not rel <= OBJ_RTOL:
            return "inconclusive", (f"the predicted value is not reached: the solve is {rel:.1e} (relative) above "
                                    "it; a local minimum? try --restarts 8, --search always or --certify")
        if bad:
            return "inconclusive", ("the value agrees but the structure differs: "
                                    + ", ".join(f"{k} {v:.1e}" for k, v in bad.items())
                                    + f" > {STRUCT_RTOL:g} (another optimal geometry, or an imprecise prediction)")
        return "holds", f"objective to {rel:.1e} and structure to {max(structure.values(), default=0.0):.1e}"
    if not solution.status.acceptable:
        return "inconclusive", f"the solve ended {solution.status} (not a converged minimum)"
    if bad:
        return "inconclusive", ("no objective is predicted (so nothing can refute it) and the structure differs: "
                                + ", ".join(f"{k} {v:.1e}" for k, v in bad.items()))
    return "holds", f"structure to {max(structure.values(), default=0.0):.1e} (no objective predicted)"


def format_predictions(entries: list, not_applicable: list, why_not: bool) -> str:
    if not entries:
        lines = ["theory     no prediction of ufm.theory applies"
                 + ("" if why_not else " (--why-not lists them with their reasons)")]
    else:
        lines = [f"theory     {len(entries)} prediction(s) of ufm.theory apply"
                 + ("" if why_not else " (--why-not lists the others)")]
    for e in entries:
        lines.append(f"  {e['name']}: {e['verdict']}  [{e['source']}]")
        if e["predicted_objective"] is not None:
            head = f"predicted objective {e['predicted_objective']:.15g}; "
        else:
            head = "no predicted objective; "
        errs = ", ".join(f"{k.removesuffix('_err').removesuffix('_rel')} {v:.1e}" for k, v in e["errors"].items())
        lines.append(f"    {head}relative errors: {errs or 'none measured'}")
        lines.append(f"    {'why: ' if e['verdict'] != 'holds' else ''}{e['reason']}")
    if why_not:
        lines.append(f"  not applicable ({len(not_applicable)}):")
        lines += [f"  - {e['name']}: {e['reason']}" for e in not_applicable]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ spherical codes
def spherical_code(solution):
    """The spherical-code metrics of the classifier rows (``ufm.codes.summary``) when no simplex ETF fits
    (K > d + 1) or the problem is normalised; None otherwise or when a row is zero (no direction)."""
    problem = solution.problem
    if not (problem.K > problem.d + 1 or problem.normalized) or problem.K > 64:
        return None
    from ufm import codes

    try:
        return codes.summary(solution.classifier)
    except ValueError:
        return None


def format_code(code: dict) -> str:
    """One line: minimal angle against the Tammes bound, coherence against the Welch bound, the one-vs-rest
    distance and the distance to the polygon / orthoplex where they apply (``ufm.codes``)."""
    line = (f"code       classifier rows: min angle {math.degrees(code['min_angle']):.4f} deg (Tammes bound "
            f"{math.degrees(code['tammes_bound']):.4f}), coherence {code['coherence']:.4f} (Welch bound "
            f"{code['welch_bound']:.4f}), one-vs-rest distance {code['one_vs_rest_distance']:.4f}")
    for key, name in (("polygon_distance", "regular polygon"), ("orthoplex_distance", "orthoplex")):
        if key in code:
            line += f", distance to the {name} {code[key]:.1e}"
    return line


# ------------------------------------------------------------------------------------------ evidence
#: the levels of evidence in words (docs/evidence.md; ufm.certificates.LEVELS)
LEVEL_WORDS = {
    "certified": "convex dual bound within 1e-8 relative of the objective",
    "search-agreed": "the reduced-problem global search found nothing lower",
    "local-minimum": "second order only: no negative curvature",
    "saddle": "negative curvature: never certified",
    "none": "no evidence beyond the run's status",
}


def format_certificate(cert: dict) -> str:
    """The certificate in the words of docs/evidence.md: the level and what it means, "not certified" with the
    relative gap (or why there is no bound), one line per kind of evidence, and how long it took."""
    level = cert.get("level", "none")
    search = cert.get("search") or {}
    words = LEVEL_WORDS.get(level, "")
    if level == "certified" and cert.get("lower_bound_kind") == "sphere":
        words = "sphere lower bound (ufm.sphere) within 1e-8 relative of the objective"
    if level == "search-agreed" and search.get("kind") == "nonlinear":  # ufm.nonlinear: no reduced problem
        words = "the non-linear global search found nothing lower"
    head = f"evidence   {level}: {words}"
    if level == "search-agreed" and "starts_reaching_best" in search:
        head += f" ({search['starts_reaching_best']} of {search.get('n_starts', '?')} starts reached the best value)"
    if level != "certified":
        head += "; " + not_certified(cert)
    lines = [head]
    lines += [f"  - {line}" for line in cert.get("evidence", [])]
    if "improved_by" in cert:
        imp = cert["improved_by"]
        lines.append(f"  - the {imp['step']} found a lower point: {imp['from']:.15g} -> {imp['to']:.15g}")
    if cert.get("certify_time") is not None:
        lines.append(f"  certify took {cert['certify_time']:.2f} s (not counted in the time line above)")
    lines.append("  levels of evidence: docs/evidence.md")
    return "\n".join(lines)


def not_certified(cert: dict) -> str:
    """"not certified" always with the relative gap, or with why there is no convex bound."""
    if cert.get("relative_gap") is not None:
        why = ""
        if not cert.get("bound_attained", True):
            why = (", the bound is not attained (no simplex ETF fits: d < K - 1)" if cert.get("lower_bound_kind")
                   == "sphere" else ", the bound is not attained (d < rank of the convex optimum)")
        bound = (f" (lower bound {cert['lower_bound']:.15g}, gap {cert['gap']:.3e})"
                 if cert.get("lower_bound") is not None and cert.get("gap") is not None else "")
        return f"not certified: relative gap {cert['relative_gap']:.1e}{bound}{why}"
    return f"not certified: {cert.get('why_not_certified', 'no convex bound')}"


# ------------------------------------------------------------------------------------------ the command
@contextlib.contextmanager
def _quiet_numpy():
    """Metrics and errors of extreme points (decay 1e300: W = H = 0 up to underflow) are nan by definition; their
    numpy overflow / 0-divide warnings would be multi-line noise on stderr."""
    import warnings

    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _warn(message: str) -> None:
    print(f"ufm solve: warning: {message}", file=sys.stderr, flush=True)


def run(args) -> int:
    from ufm import limits
    from ufm.solver import SolverOptions, solve

    if args.max_memory_gb is not None:
        if not (math.isfinite(args.max_memory_gb) and args.max_memory_gb > 0):
            raise FlagError("--max-memory-gb", f"must be a finite number > 0, got {args.max_memory_gb}")
        limits.configure(max_memory_gb=args.max_memory_gb)
    save = check_save_path(args.save) if args.save else None
    saved = None
    if args.init:
        saved, problem = load_init(args)
        check_effect(args, problem, saved)
    else:
        K, N, _ = _counts_shape(args)
        check_size(args, K, N)
        problem = problem_from_args(args)
        check_effect(args, problem, None)
    with flag_names():
        options = SolverOptions(method=args.method, max_iter=args.max_iter, gtol=args.gtol,
                                restarts=args.restarts, seed=args.seed, init_scale=args.init_scale,
                                search=args.search, reduce=args.reduce, polish=args.polish,
                                report_every=0 if args.quiet or args.json else REPORT_EVERY)
    convex_in_features = problem.classifier_fixed and problem.depth == 1 and problem.lambda_H > 0
    if problem.K > problem.d + 1 and problem.samples is None and not convex_in_features:
        # (a fixed classifier at depth 1 leaves a problem convex in the features and bias: no warning)
        from ufm.reduced import applicable

        if problem.normalized:
            _warn(f"K = {problem.K} > d + 1 = {problem.d + 1}: no simplex ETF fits; the reduced-problem global "
                  "search does not apply to normalised UFMs, so random starts alone may miss the optimum "
                  "(use --restarts)")
        elif applicable(problem)[0] and args.search != "never" and not (args.init and args.search == "auto"):
            _warn(f"K = {problem.K} > d + 1 = {problem.d + 1}: no simplex ETF fits; the convex bound may not be "
                  "attained, so the reduced-problem global search runs")
        else:
            _warn(f"K = {problem.K} > d + 1 = {problem.d + 1}: no simplex ETF fits and the convex bound may not be "
                  "attained; random starts alone may miss the optimum (the global search is off here)")
    init = None if saved is None else saved.params()
    try:
        with flag_names(), _quiet_numpy(), _iteration_progress(args.quiet or args.json):
            solution = solve(problem, options, init=init, progress=_progress(args.quiet or args.json))
        if args.certify:
            from ufm.certificates import certify

            t0 = time.perf_counter()
            with _quiet_numpy():
                solution = certify(solution, seed=args.seed)
            solution = dataclasses.replace(solution, certificate={**solution.certificate,
                                                                  "certify_time": time.perf_counter() - t0})
        with _quiet_numpy():
            metrics = solution.metrics()
            code = spherical_code(solution)
        entries, not_applicable = (None, None) if args.no_predictions else \
            predictions(problem, solution, why_not=args.why_not)
    except Exception as e:  # noqa: BLE001  (allocation failures only; anything else propagates)
        if not out_of_memory(e):
            raise
        raise ResourceError("problem", f"out of memory while solving {problem.describe()}; lower the size or "
                                       "--max-memory-gb (the size check's estimate was too low)") from None
    written = None
    if save is not None:
        try:
            written = solution.save(save)
        except OSError as e:
            raise FlagError("--save", f"cannot write {save}: {e.strerror or e}") from None
    if args.json:
        from ufm.solution import jsonable

        payload = solution.to_dict(metrics=metrics)
        if code is not None:
            payload["code"] = code
        payload["predictions"] = entries
        if args.why_not:
            payload["predictions_not_applicable"] = not_applicable
        if written is not None:
            payload["saved"] = str(written)
        print(json.dumps(jsonable(payload), allow_nan=False))
    else:
        print(solution.summary())
        keys = ("nc1", "nc2_etf", "nc3", "nc4")
        print("metrics    " + "  ".join(f"{k}={metrics[k]:.3e}" for k in keys if k in metrics))
        if code is not None:
            print(format_code(code))
        if solution.certificate:
            print(format_certificate(solution.certificate))
        if entries is not None:
            print(format_predictions(entries, not_applicable, args.why_not))
        if written is not None:
            print(f"saved      {written}")
    return 0 if solution.status.acceptable else 1
