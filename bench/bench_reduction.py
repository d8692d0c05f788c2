"""The exact class reduction (docs/theory.md section 4): solve time against n, and single solves at equal
accuracy against the baselines on the full problem, side by side in one run.

    python bench/bench_reduction.py [--parts n,solve] [--cases small-bal-ce,...|all|smoke]
        [--methods ufm,ufm_full,torch_lbfgs,scipy] [--target 1e-10] [--repeats 3] [--budget 60]
        [--out bench/results/reduction.json]

1. ``n``: K = 10, d = 32, n = 100 against n = 100,000 per class (N = 1,000 against 1,000,000; the cases
   ``small-bal-ce`` and ``n100k-bal-ce`` of ``bench/cases.py``, both with K sqrt(n) lambda = 1/2, so the two
   reduced problems are the same up to a rescaling of the parameters). ``ufm.solve(problem)`` with its
   defaults, timed after one compiling call: the wall of the call (it includes lifting the answer to the N
   feature columns and building the Solution) and ``Solution.wall_time`` (the runs alone), and, to locate
   the part that grows with n, the time of ``Problem.targets()`` (the K x N one-hot matrix), of
   ``ufm.objective.groups`` (which builds it, and is called several times per solve) and of
   ``ufm.objective.lift``. Target: within 1.5x of each other after compilation.
2. ``solve``: single solves to a relative gap (f - f*) / |f*| <= ``--target`` (1e-10) to the case's reference
   (a closed form or the certified convex value, ``bench/cases.py``), from the common start
   (``cases.start``: the papers' N(0, 0.1^2) initialisation; ufm projects it onto collapsed features):

   - ``ufm``: ``ufm.solve(problem, init=start)`` with the defaults (class-reduced problem, relative
     stationarity 1e-11, rebalancing, Newton polish where small, second-order check); the wall of the call,
     after one compiling call (its time, with compilation, is reported too). Its own stopping rule decides
     when it stops; the gap it reaches is reported and must be <= the target;
   - ``ufm_full``: the same with ``reduce="never"`` (the N-column problem), for reference;
   - ``torch_lbfgs``, ``scipy``: ``bench/baselines.py`` on the full problem, stopped by an oracle at the
     first evaluation whose value is within the target (``stop_below``): their time to the target, which
     favours them (a real run has no oracle and runs on until its own tolerance).

   Target: ufm at least 10x faster than torch LBFGS and scipy L-BFGS-B. Methods take turns within each
   repeat (round robin), so drifts of the machine's load hit every method alike; medians over
   ``--repeats`` or more (until a method's runs add up to 1 s, at most 30); a run longer than
   ``--repeat-below`` seconds is not repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_accuracy import loadavg  # noqa: E402

import numpy as np  # noqa: E402

import ufm  # noqa: E402

METHODS = ("ufm", "ufm_full", "torch_lbfgs", "scipy")
DEFAULT_CASES = ("small-bal-ce", "small-imb-ce", "small-bal-mse", "small-imb-mse", "medium-bal-ce",
                 "medium-imb-ce", "medium-imb-mse", "n10k-bal-ce", "n10k-imb-mse")
SMOKE_CASES = ("tiny-bal-ce", "tiny-imb-mse")
N_CASES = ("small-bal-ce", "n100k-bal-ce")


def _solve(problem, start=None, **options):
    from ufm.solver import solve

    t = time.perf_counter()
    sol = solve(problem, init=start, **options)
    return time.perf_counter() - t, sol


def part_n(names, repeats, log):
    import cases

    rows = []
    for name in names:
        problem = cases.problem(name)
        f_star, source, _ = cases.reference(name)
        first, sol = _solve(problem)  # compiles (or, for the second size, reuses the compiled programs)
        rows.append({"case": name, "K": problem.K, "d": problem.d, "n": problem.counts[0], "N": problem.N,
                     "lambda": problem.lambda_H, "first_call_s": first, "first_compile_time": sol.compile_time,
                     "calls": [], "wall_times": [], "iterations": [], "gaps": [], "statuses": []})
    for _ in range(repeats):  # sizes take turns
        for row in rows:
            problem = cases.problem(row["case"])
            f_star = cases.reference(row["case"])[0]
            wall, sol = _solve(problem)
            row["calls"].append(wall)
            row["wall_times"].append(sol.wall_time)
            row["iterations"].append(sol.iterations)
            row["statuses"].append(str(sol.status))
            row["gaps"].append((sol.objective - f_star) / abs(f_star))
    from ufm import objective as obj

    for row in rows:  # where the n-dependent part of a call goes (the runs themselves do not depend on n)
        problem = cases.problem(row["case"])
        reduced = obj.collapse(problem, _solve(problem)[1].params())
        t_targets, t_groups, t_lift = [], [], []
        for _ in range(3):
            t = time.perf_counter()
            problem.targets()
            t_targets.append(time.perf_counter() - t)
            t = time.perf_counter()
            obj.groups(problem)
            t_groups.append(time.perf_counter() - t)
            t = time.perf_counter()
            obj.lift(problem, reduced)
            t_lift.append(time.perf_counter() - t)
        row.update(targets_s=statistics.median(t_targets), groups_s=statistics.median(t_groups),
                   lift_s=statistics.median(t_lift))
    for row in rows:
        row["call_median_s"] = statistics.median(row["calls"])
        row["wall_time_median_s"] = statistics.median(row["wall_times"])
        log(f"  {row['case']} (N = {row['N']}): call {row['call_median_s'] * 1e3:.0f} ms, runs "
            f"{row['wall_time_median_s'] * 1e3:.0f} ms, iterations {row['iterations']}, gaps "
            f"{max(row['gaps']):.1e}; problem.targets() {row['targets_s'] * 1e3:.0f} ms, ufm.objective.groups "
            f"{row['groups_s'] * 1e3:.0f} ms, ufm.objective.lift {row['lift_s'] * 1e3:.0f} ms")
    small, large = rows[0], rows[-1]
    return {"rows": rows, "ratio_call": large["call_median_s"] / small["call_median_s"],
            "ratio_wall_time": large["wall_time_median_s"] / small["wall_time_median_s"],
            "target": "solve time independent of n at fixed K, d: n = 100 vs n = 100,000 within 1.5x after "
                      "compilation",
            "target_met": bool(large["call_median_s"] <= 1.5 * small["call_median_s"]),
            "load_after": loadavg()}


def part_solve(names, methods, target, repeats, repeat_below, budget, log):
    import baselines as B
    import cases

    out = []
    for name in names:
        problem = cases.problem(name)
        f_star, source, cert_gap = cases.reference(name)
        if f_star is None:
            raise ufm.ProblemError("cases", f"case {name!r} has no known optimum; this benchmark needs one")
        start = cases.start(problem)
        stop = f_star + target * abs(f_star)
        case = {"case": name, "K": problem.K, "d": problem.d, "N": problem.N, "M": problem.depth,
                "loss": problem.loss, "counts": [int(c) for c in problem.counts], "lambda": problem.lambda_H,
                "reference": f_star, "reference_source": source, "certificate_gap": cert_gap,
                "load_before": loadavg(), "methods": {}}
        log(f"case {name}: K={problem.K} d={problem.d} N={problem.N} {problem.loss}, f* {f_star:.15g} ({source})")
        res = {m: {"times": [], "gaps": []} for m in methods}
        for m in ("ufm", "ufm_full"):  # the compiling call, off the clock of the timed ones
            if m in methods:
                wall, sol = _solve(problem, start, reduce="auto" if m == "ufm" else "never")
                res[m]["first_call_s"], res[m]["compile_time"] = wall, sol.compile_time
        def more(m):  # at least `repeats` runs and 1 s in all (at most 30); once if a run is long
            t = res[m]["times"]
            if t and (not np.isfinite(t[-1]) or t[-1] > repeat_below):
                return False
            return len(t) < 30 and (len(t) < repeats or sum(t) < 1.0)

        while any(more(m) for m in methods):
            for m in methods:
                if not more(m):
                    continue
                if m in ("ufm", "ufm_full"):
                    wall, sol = _solve(problem, start, reduce="auto" if m == "ufm" else "never")
                    gap = (sol.objective - f_star) / abs(f_star)
                    res[m].update(status=str(sol.status), iterations=sol.iterations, reduced=sol.reduced,
                                  stationarity=sol.stationarity)
                else:
                    fn = {"torch_lbfgs": B.torch_lbfgs, "scipy": B.scipy_lbfgsb}[m]
                    tr = fn(problem, start, budget=budget, stop_below=stop)
                    wall = tr.time_to(target, f_star)
                    gap = (tr.best() - f_star) / abs(f_star)
                    res[m].update(info=tr.info, evaluations=tr.evaluations, label=tr.method)
                res[m]["times"].append(wall)
                res[m]["gaps"].append(float(gap))
        ufm_t = None
        for m in methods:
            r = res[m]
            r["median_s"] = statistics.median(r["times"])
            r["repeats"] = len(r["times"])
            r["reached"] = bool(max(r["gaps"]) <= target) if m in ("ufm", "ufm_full") else \
                bool(np.isfinite(r["median_s"]))
            if m == "ufm":
                ufm_t = r["median_s"] if r["reached"] else None
        for m in methods:
            r = res[m]
            r["over_ufm"] = r["median_s"] / ufm_t if ufm_t else None
            log(f"  {m:12s} {r['median_s'] * 1e3:10.1f} ms  (x{r['over_ufm'] or float('nan'):.1f} of ufm)  worst gap "
                f"{max(r['gaps']):.1e}  {r.get('status', r.get('info', ''))}")
        case["methods"] = res
        case["load_after"] = loadavg()
        out.append(case)
    return out


def table(result) -> str:
    lines = []
    if "n" in result:
        n = result["n"]
        for row in n["rows"]:
            lines.append(f"n = {row['n']:>7d} (N = {row['N']:>8d}): solve call {row['call_median_s'] * 1e3:8.1f} ms, "
                         f"runs {row['wall_time_median_s'] * 1e3:8.1f} ms, iterations {row['iterations'][0]}, first "
                         f"call {row['first_call_s']:.2f} s")
        lines.append(f"ratio n = {n['rows'][-1]['n']:,} / n = {n['rows'][0]['n']:,}: call {n['ratio_call']:.2f}x, "
                     f"runs {n['ratio_wall_time']:.2f}x; "
                     f"target met: {n['target_met']}")
    for case in result.get("solve", []):
        cells = []
        for m, r in case["methods"].items():
            ratio = f" ({r['over_ufm']:.1f}x)" if r.get("over_ufm") and m != "ufm" else ""
            cells.append(f"{m} {r['median_s'] * 1e3:.1f} ms{ratio}")
        lines.append(f"{case['case']:16s} N={case['N']:>6d}: " + ", ".join(cells))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="n,solve")
    parser.add_argument("--cases", default="all", help="comma list of bench/cases.py names, 'all' or 'smoke'")
    parser.add_argument("--n-cases", default=",".join(N_CASES), help="the two sizes of part n (small first)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--target", type=float, default=1e-10, help="relative gap to the reference")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-below", type=float, default=20.0)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per baseline run")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    ufm.enable_x64()
    import baselines as B
    import cases
    from bench_accuracy import machine

    methods = cases.parse_methods(args.methods, METHODS)
    names = {"all": list(DEFAULT_CASES), "smoke": list(SMOKE_CASES)}.get(args.cases, args.cases.split(","))
    n_names = args.n_cases.split(",")
    for name in names + n_names:
        cases.problem(name)  # unknown names fail here
    parts = args.parts.split(",")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    warm = cases.problem("tiny-bal-ce")  # first-call costs (thread pools, imports) off every clock
    if "torch_lbfgs" in methods:
        import torch

        torch.set_flush_denormal(True)
        B.torch_lbfgs(warm, cases.start(warm), budget=1.0)
    if "scipy" in methods:
        B.scipy_lbfgsb(warm, cases.start(warm), budget=1.0)
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "target": args.target,
              "repeats": args.repeats, "budget": args.budget, "methods": methods}
    if "n" in parts:
        log("part n: solve time against n (K = 10, d = 32)")
        result["n"] = part_n(n_names, args.repeats, log)
    if "solve" in parts:
        result["solve"] = part_solve(names, methods, args.target, args.repeats, args.repeat_below, args.budget, log)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=float)
    print(table(result))
    return result


if __name__ == "__main__":
    main()
