"""Time to accuracy: ufm vs the baselines users run today, side by side in one run, same problems, same starts.

    python bench/bench_accuracy.py [--cases small-bal-ce,...,zoo:<entry>|all|smoke] [--methods ufm,scipy,torch_lbfgs,
        torch_sgd,cvxpy] [--budget 60] [--repeats 3] [--out bench/results/accuracy.json]

For every case (``bench/cases.py``) and method, the relative gap (f - f*) / |f*| of the iterates to the
reference optimum f* (a closed form, the certified convex value, or the best any method found), and the
time at which it first drops below 1e-4, 1e-8 and 1e-12 (inf: never within the budget). Medians over
``--repeats`` (a run longer than ``--repeat-below`` seconds is not repeated; the count is recorded).

How ufm is timed: ``ufm.solver.trace_run`` records the objective after every iteration of the very loop of
``ufm.solver`` (same iterates); the iteration k at which the gap first drops below a target is read off it,
and the time to that target is the wall time of ``ufm.solver.run_once`` stopped at iteration k (max_iter = k,
gtol = 0), compiled once beforehand (the compile time is reported separately: shapes are static, so one
compilation serves every lambda and every later run of the same size). ``ufm`` also reports the time of the
default run (relative stationarity <= 1e-11, ``SolverOptions().gtol``) and, for deep models, of
``ufm.solver.solve`` with restarts and the reduced global search (the answer a user gets from one call).

This is the bare L-BFGS loop on the *full* N-column problem, iterate for iterate comparable with the
baselines; ``ufm.solve``'s default (the class-reduced problem, rebalancing, Newton polish) is timed against
the same baselines by ``bench/bench_reduction.py``.

Baselines: ``bench/baselines.py``. torch runs with flush-to-zero on (``torch.set_flush_denormal(True)``):
near the origin (the deep models' spurious local minimum) denormal float arithmetic would otherwise slow
them down 100x, which says nothing about the method.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import ufm  # noqa: E402

TARGETS = (1e-4, 1e-8, 1e-12)
METHODS = ("ufm", "scipy", "torch_lbfgs", "torch_sgd", "cvxpy")
SMOKE = ("tiny-bal-ce", "tiny-imb-mse")


def loadavg():
    """The 1, 5 and 15 minute load averages (None where the platform has none)."""
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def write_json(path, result) -> None:
    """Write ``result`` to ``path`` whole or not at all (a temporary file, then a rename): the benchmarks write
    after every point, so an interrupted run keeps what it measured."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1, default=float)
    os.replace(path + ".tmp", path)


def machine() -> dict:
    import jax

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "numpy": np.__version__, "load_average_at_start": loadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = names[0] if names else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    for mod in ("torch", "scipy", "cvxpy", "optax"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def _thin(times, values, keep=300):
    times, values = np.asarray(times, float), np.asarray(values, float)
    if times.size <= keep:
        return times.tolist(), values.tolist()
    idx = np.unique(np.concatenate([np.round(np.geomspace(1, times.size, keep)).astype(int) - 1, [times.size - 1]]))
    return times[idx].tolist(), values[idx].tolist()


def run_ufm(problem, start, budget, repeats, repeat_below):
    """ufm's L-BFGS from the common start: trace, then timed runs stopped at each target's iteration. The
    iteration cap is set so that the run fits the time budget (measured per-iteration time of a short run)."""
    from ufm.solver import SolverOptions, run_once, trace_run

    t0 = time.perf_counter()
    run_once(problem, start, SolverOptions(max_iter=10, gtol=0.0))  # compiles (max_iter is traced)
    first = time.perf_counter() - t0
    t = time.perf_counter()
    run_once(problem, start, SolverOptions(max_iter=10, gtol=0.0))
    t10 = time.perf_counter() - t
    t = time.perf_counter()
    run_once(problem, start, SolverOptions(max_iter=20, gtol=0.0))
    # steady-state cost of an iteration (the first ones take extra line-search evaluations)
    per_iter = max(time.perf_counter() - t - t10, t10 / 20) / 10
    compile_s = max(first - t10, 0.0)
    options = SolverOptions(max_iter=int(min(SolverOptions().max_iter, max(10, budget / max(per_iter, 1e-9)))))
    runs, walls = repeat_timed(lambda: run_once(problem, start, options), repeats, repeat_below)
    f_full, gn, it_full, status = runs[0].objective, runs[0].grad_norm, runs[0].iterations, runs[0].status
    wall = statistics.median(walls)
    num = max(1, it_full)
    values = trace_run(problem, start, options, num_iter=num).values
    per_iter = wall / num
    return {"values": values, "times": np.arange(values.size) * per_iter, "wall_default": wall, "compile": compile_s,
            "iterations": it_full, "status": status, "grad_norm": gn, "final": f_full, "repeats": len(walls),
            "max_iter": options.max_iter,
            "timer": lambda k: _time_run_once(problem, start, k, repeats, repeat_below)}


def repeat_timed(fn, repeats, repeat_below, min_total=1.0, max_count=30):
    """Call ``fn()`` ``repeats`` times (once if a call takes longer than ``repeat_below`` s), and more times
    (up to ``max_count``) while the total is under ``min_total`` s, so that millisecond runs get a stable
    median. Returns ``(results, walls)``."""
    results, walls = [], []
    while True:
        t = time.perf_counter()
        results.append(fn())
        walls.append(time.perf_counter() - t)
        if walls[-1] > repeat_below or len(walls) >= max_count:
            break
        if len(walls) >= repeats and sum(walls) >= min_total:
            break
    return results, walls


def _time_run_once(problem, start, k, repeats, repeat_below):
    from ufm.solver import SolverOptions, run_once

    options = SolverOptions(max_iter=max(int(k), 1), gtol=0.0)
    if k == 0:
        return 0.0, 0
    run_once(problem, start, options)  # same shapes: no new compilation; warm caches
    _, walls = repeat_timed(lambda: run_once(problem, start, options), repeats, repeat_below)
    return statistics.median(walls), len(walls)


def run_ufm_solve(problem, seed=0):
    """The one-call answer for a deep model: ufm.solver with 4 restarts + the reduced global search."""
    from ufm.solver import solve

    solve(problem, restarts=4, seed=seed, max_iter=5)  # compile
    t = time.perf_counter()
    sol = solve(problem, restarts=4, seed=seed)
    return time.perf_counter() - t, sol.objective, sol.method


def run_case(name, problem, methods, budget, repeats, repeat_below, log, sgd_steps=30_000):
    import baselines as B
    import cases

    start = cases.start(problem)
    f_star, source, cert_gap = cases.reference(name)
    out = {"case": name, "K": problem.K, "d": problem.d, "N": problem.N, "M": problem.depth, "loss": problem.loss,
           "counts": list(problem.counts), "lambda": problem.lambda_H, "reference_source": source,
           "certificate_gap": cert_gap, "methods": {}}
    traces = {}
    for method in methods:
        if method == "cvxpy" and (problem.depth != 1 or problem.d < problem.K):
            continue
        log(f"  {name}: {method} ...")
        t = time.perf_counter()
        if method == "ufm":
            traces[method] = run_ufm(problem, start, budget, repeats, repeat_below)
        elif method == "cvxpy":
            runs = {}
            for tol in (1e-4, 1e-8, 1e-12):
                tr = B.cvxpy_convex(problem, tol=tol, budget=budget)
                runs[tol] = (float(tr.times[0]), float(tr.values[0]), tr.info)
                if tr.times[0] >= budget:  # tighter tolerances would only take longer
                    break
            traces[method] = runs
        else:
            fn = {"scipy": B.scipy_lbfgsb, "torch_lbfgs": B.torch_lbfgs,
                  "torch_sgd": lambda *a, **k: B.torch_sgd_recipe(*a, steps=sgd_steps, **k)}[method]
            reps, _ = repeat_timed(lambda: fn(problem, start, budget=budget), repeats, repeat_below)
            traces[method] = reps
        log(f"    {time.perf_counter() - t:.1f} s")
    if problem.depth > 1:
        log(f"  {name}: ufm solve (restarts 4 + reduced search) ...")
        traces["ufm_solve"] = run_ufm_solve(problem)
    if f_star is None:  # best found by any method
        vals = []
        for m, tr in traces.items():
            if m == "ufm":
                vals.append(np.min(tr["values"]))
            elif m == "ufm_solve":
                vals.append(tr[1])
            elif m == "cvxpy":
                vals += [v for (_, v, _) in tr.values()]
            else:
                vals += [r.best() for r in tr]
        f_star = float(np.min(vals))
    out["reference"] = f_star

    def gap(v):
        return (np.asarray(v, float) - f_star) / abs(f_star)

    for m, tr in traces.items():
        res = {}
        if m == "ufm":
            g = gap(tr["values"])
            res["time_to"], res["iterations_to"], res["repeats_to"] = {}, {}, {}
            for target in TARGETS:
                hit = np.nonzero(g <= target)[0]
                if hit.size:
                    wall, n = tr["timer"](int(hit[0]))
                    res["time_to"][str(target)], res["iterations_to"][str(target)] = wall, int(hit[0])
                    res["repeats_to"][str(target)] = n
                else:
                    res["time_to"][str(target)] = float("inf")
            res.update(best_gap=float(np.min(g)), final_gap=float(g[-1]), wall=tr["wall_default"],
                       compile=tr["compile"], iterations=tr["iterations"], status=tr["status"],
                       grad_norm=tr["grad_norm"], repeats=tr["repeats"], max_iter=tr["max_iter"],
                       label="ufm L-BFGS (float64, jit)")
            res["trace"] = _thin(tr["times"], np.maximum(g, 1e-17))
            res["trace_note"] = "times = iteration x (wall of the default run / its iterations)"
        elif m == "ufm_solve":
            res = {"wall": tr[0], "best_gap": float(gap(tr[1])), "label": f"ufm.solver ({tr[2]}, 4 restarts)"}
        elif m == "cvxpy":
            res["runs"] = {str(tol): {"time": t_, "gap": float(gap(v)), "status": s} for tol, (t_, v, s) in tr.items()}
            res["time_to"] = {str(target): min([t_ for (t_, v, _) in tr.values() if gap(v) <= target],
                                               default=float("inf")) for target in TARGETS}
            res["best_gap"] = float(min(gap(v) for (_, v, _) in tr.values()))
            res["label"] = "cvxpy + Clarabel (convex program)"
        else:
            res["label"] = tr[0].method
            per = [{str(target): r.time_to(target, f_star) for target in TARGETS} for r in tr]
            res["time_to"] = {str(target): statistics.median([p[str(target)] for p in per]) for target in TARGETS}
            res["best_gap"] = float(np.min([gap(r.best()) for r in tr]))
            res["wall"] = statistics.median([float(r.times[-1]) for r in tr])
            res["iterations"] = tr[0].iterations
            res["evaluations"] = tr[0].evaluations
            res["info"] = tr[0].info
            res["repeats"] = len(tr)
            res["trace"] = _thin(tr[0].times, np.maximum(gap(tr[0].values), 1e-17))
        out["methods"][m] = res
    return out


def table(results) -> str:
    lines = []
    for case in results["cases"]:
        lines.append(f"\n{case['case']}  (K={case['K']}, d={case['d']}, N={case['N']}, M={case['M']}, {case['loss']}; "
                     f"f* = {case['reference']:.15g} from {case['reference_source']})")
        lines.append(f"  {'method':44s} {'t(1e-4)':>9s} {'t(1e-8)':>9s} {'t(1e-12)':>9s} {'best gap':>9s}")
        for m, r in case["methods"].items():
            tt = r.get("time_to", {})
            cells = [f"{tt.get(str(t), float('nan')):9.3g}" for t in TARGETS]
            lines.append(f"  {r['label'][:44]:44s} {' '.join(cells)} {r['best_gap']:9.1e}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="all", help="comma-separated case names, 'all' or 'smoke'")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per baseline run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat-below", type=float, default=20.0,
                        help="repeat a run only while it takes less than this many seconds")
    parser.add_argument("--sgd-steps", type=int, default=30_000, help="steps of the SGD recipe (papers: 30,000)")
    parser.add_argument("--out", default=None, help="JSON results file")
    args = parser.parse_args(argv)

    ufm.enable_x64()
    import baselines as B
    import cases

    methods = cases.parse_methods(args.methods, METHODS)
    names = {"all": [c for c, spec in cases.BENCH.items() if spec[0] in ("small", "medium", "large")],
             "smoke": list(SMOKE)}.get(args.cases, args.cases.split(","))
    for name in names:
        cases.problem(name)  # unknown names fail here, before anything runs
    warm = cases.problem("tiny-bal-ce")  # first-call costs (thread pools, imports) off every clock
    if "scipy" in methods:
        B.scipy_lbfgsb(warm, cases.start(warm), budget=1.0)
    if "torch_lbfgs" in methods or "torch_sgd" in methods:
        import torch

        torch.set_flush_denormal(True)
        B.torch_lbfgs(warm, cases.start(warm), budget=1.0)
        B.torch_sgd_recipe(warm, cases.start(warm), budget=1.0)
    if "cvxpy" in methods:
        B.cvxpy_convex(warm)
    results = {"machine": machine(), "budget": args.budget, "sgd_steps": args.sgd_steps, "repeats": args.repeats, "targets": TARGETS,
               "date": time.strftime("%Y-%m-%d %H:%M"), "cases": []}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    for name in names:
        problem = cases.problem(name)
        log(f"case {name}: K={problem.K} d={problem.d} N={problem.N} M={problem.depth} {problem.loss}")
        results["cases"].append(run_case(name, problem, methods, args.budget, args.repeats, args.repeat_below, log,
                                        args.sgd_steps))
        if args.out:  # written after every case: an interrupted run keeps what it measured
            write_json(args.out, results)
    print(table(results))
    return results


if __name__ == "__main__":
    main()
