"""Large K (the language-model regime: many classes, few samples per class): how far the current code goes on
this machine, in time and peak memory, and where it fails and why. Measurement only: nothing is changed.

    python bench/bench_large_k.py [--grid KxDxN,...] [--modes eval,solve] [--limit 600]
        [--gtol 1e-11] [--max-iter 20000] [--max-memory-gb 12] [--out bench/results/large_k.json]

Balanced CE, bias none, M = 1, lambda_W = lambda_H = 0.5 / (K sqrt(n)) (as bench/cases.py), d < K - 1 (no
closed form: no gap is reported), the class-reduced problem (``reduce="auto"``, the default: one feature
column per class, so H is d x K and the logits and the one-hot targets are K x K whatever n is). Every grid
point runs in a fresh process; ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak resident memory so far)
is read after each phase (on an accelerator the device's own peak, ``memory_stats()["peak_bytes_in_use"]``,
is recorded too: ``device_peak_gb``).

- every mode first builds the problem and ufm's own memory estimate (``ufm.limits.estimate_bytes``):
  ``setup_s`` and ``rss_after_setup_gb`` (nothing of size K x N is built: one-hot targets are grouped by
  class);
- ``eval``: build the reduced data (``ufm.objective.problem_data``: the K x K one-hot targets), compile and
  time one jitted value-and-gradient of the objective, then L-BFGS runs of ``--iters`` iterations
  (``ufm.solver.run_once(reduce=True)``, gtol 0): one from the random start (compiling; its first line
  searches take many steps), then the timed one from where it ended (the steady per-iteration cost, about
  1.1-1.5 value-and-gradients), with ufm's own memory estimate
  (``ufm.limits.estimate_bytes``) beside the measured peak.
- ``solve``: ``ufm.solve(problem, search="never")``: one L-BFGS run to ufm's stopping rule with rebalancing
  and the second-order check (Lanczos; on for at most 200,000 parameters), and the lift to N feature
  columns, to ``--gtol`` (ufm's relative stationarity) within ``--max-iter`` iterations.
  ``search="never"`` because for d < K the default adds the reduced global search (dozens of
  starts, each a full solve: ``--modes default`` measures it where affordable).
- ``default``: ``ufm.solve(problem)`` as a user calls it (with the global search for d < K).

A grid point is killed at ``--limit`` seconds (recorded as such). ``--max-memory-gb`` is passed as
``UFM_MAX_MEMORY_GB``: a problem whose estimate exceeds it is refused by ``ufm.limits`` with one line (in
every mode, ``eval`` included), which is recorded, instead of risking the machine's memory (the
estimate itself builds nothing of the problem's size).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_accuracy import loadavg, write_json  # noqa: E402

DEFAULT_GRID = "1000x64x1,1000x256x10,2000x128x1,5000x64x1,5000x256x1,10000x64x1,10000x256x1,20000x64x1"
SMOKE_GRID = "10x4x2"

CHILD = r"""
import json, resource, sys, time
def rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB -> GiB (Linux)
def device_peak_gb():  # accelerators only (None on CPU): the device's own peak, which RSS does not see
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:
        return None
    return stats.get("peak_bytes_in_use", 0) / 2 ** 30 if stats else None
t0 = time.perf_counter()
import jax, jax.numpy as jnp, numpy as np
import ufm
ufm.enable_x64()
from ufm import objective as obj, limits
from ufm.loop import compile_seconds
from ufm.solver import SolverOptions, run_once, solve
mode, K, d, n, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
gtol, max_iter = float(sys.argv[6]), int(sys.argv[7])
out = {"mode": mode, "K": K, "d": d, "n": n, "gtol": gtol, "max_iter": max_iter,
       "import_s": time.perf_counter() - t0, "rss_after_import_gb": rss_gb()}
lam = 0.5 / (K * n ** 0.5)
t = time.perf_counter()
p = ufm.Problem.balanced(K, n, d, loss="ce", bias="none", lambda_W=lam, lambda_H=lam)
out.update(N=p.N, **{"lambda": lam}, params_reduced=obj.count_params(p, reduce=True),
           estimate_gb=limits.estimate_bytes(p, reduce=True) / 2 ** 30, limit_gb=limits.max_memory_gb(),
           setup_s=time.perf_counter() - t, rss_after_setup_gb=rss_gb())
def emit():
    print(json.dumps(out), flush=True)
emit()
if mode == "eval":
    limits.check_problem_size(p)  # the refusal a solve would give (one line), before any large allocation
    t = time.perf_counter()
    data = obj.problem_data(p, reduce=True)
    x0 = obj.init_params(p, jax.random.PRNGKey(0), 0.1, reduce=True)
    jax.block_until_ready((data, x0))
    out.update(data_s=time.perf_counter() - t, rss_after_data_gb=rss_gb())
    vg = jax.jit(jax.value_and_grad(obj.make_objective("ce", "none")))
    t = time.perf_counter()
    exe = vg.lower(x0, data).compile()
    out.update(eval_compile_s=time.perf_counter() - t)
    jax.block_until_ready(exe(x0, data))
    t = time.perf_counter()
    jax.block_until_ready(exe(x0, data))
    out.update(eval_s=time.perf_counter() - t, rss_after_eval_gb=rss_gb())
    emit()
    opts = SolverOptions(max_iter=iters, gtol=0.0)
    c = compile_seconds()
    t = time.perf_counter()
    run_once(p, x0, opts, reduce=True)
    first = time.perf_counter() - t
    out.update(lbfgs_compile_s=compile_seconds() - c)
    x1 = run_once(p, x0, opts, reduce=True).params  # past the first iterations' long line searches
    t = time.perf_counter()
    r = run_once(p, x1, opts, reduce=True)
    out.update(lbfgs_iter_s=(time.perf_counter() - t) / max(r.iterations, 1), lbfgs_iters=r.iterations,
               rss_after_lbfgs_gb=rss_gb())
else:
    opts = dict({"search": "never"} if mode == "solve" else {}, gtol=gtol, max_iter=max_iter)
    t = time.perf_counter()
    s = solve(p, **opts)
    out.update(solve_s=time.perf_counter() - t, wall_time=s.wall_time, compile_time=s.compile_time,
               iterations=s.iterations, status=str(s.status), objective=s.objective,
               stationarity=s.stationarity, method=s.method, reduced=s.reduced,
               second_order=(s.second_order or {}).get("verdict"), rss_after_solve_gb=rss_gb())
out["device_peak_gb"] = device_peak_gb()
out["backend"] = jax.default_backend()
out["ok"] = True
emit()
"""


def parse_grid(text):
    out = []
    for step in text.split(","):
        K, d, n = (int(v) for v in step.lower().split("x"))
        out.append((K, d, n))
    return out


def run_point(mode, K, d, n, iters, limit, max_memory_gb, gtol=1e-11, max_iter=20000):
    env = dict(os.environ)
    if max_memory_gb:
        env["UFM_MAX_MEMORY_GB"] = str(max_memory_gb)
    t = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, mode, str(K), str(d), str(n), str(iters), repr(gtol),
                            str(max_iter)],
                           capture_output=True, text=True, timeout=limit, env=env)
        stdout, stderr, code, killed = r.stdout, r.stderr, r.returncode, False
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        code, killed = None, True
    wall = time.perf_counter() - t
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    row = json.loads(lines[-1]) if lines else {"mode": mode, "K": K, "d": d, "n": n}
    row["process_s"] = wall
    if killed:
        row["failure"] = f"killed at the {limit:g} s limit"
    elif code != 0:
        last = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        why = next((ln for ln in reversed(last) if "Error" in ln or "error" in ln), last[-1] if last else "")
        row["failure"] = f"exit {code}: {why[-400:]}" if code > 0 else f"killed by signal {-code} (out of memory?)"
    row["ok"] = bool(row.get("ok")) and "failure" not in row
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", default=DEFAULT_GRID, help="KxDxN steps (N: samples per class)")
    parser.add_argument("--modes", default="eval,solve", help="comma list of eval, solve, default")
    parser.add_argument("--iters", type=int, default=20, help="L-BFGS iterations timed in mode eval")
    parser.add_argument("--gtol", type=float, default=1e-11, help="relative stationarity of modes solve, default")
    parser.add_argument("--max-iter", type=int, default=20000, help="L-BFGS iteration cap of modes solve, default")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds per grid point and mode")
    parser.add_argument("--max-memory-gb", type=float, default=12.0, help="UFM_MAX_MEMORY_GB of the children")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    for m in modes:
        if m not in ("eval", "solve", "default"):
            parser.error(f"unknown mode {m!r}")
    from bench_accuracy import machine

    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "limit_s": args.limit,
              "max_memory_gb": args.max_memory_gb, "rows": []}
    for K, d, n in parse_grid(args.grid):
        for mode in modes:
            row = run_point(mode, K, d, n, args.iters, args.limit, args.max_memory_gb, args.gtol, args.max_iter)
            row["load_after"] = loadavg()
            print(json.dumps(row), file=sys.stderr, flush=True)
            result["rows"].append(row)
            if args.out:  # written after every point: an interrupted run keeps what it measured
                write_json(args.out, result)
    print(table(result["rows"]))
    return result


def _f(x, fmt):
    if isinstance(x, (int, float)):
        return format(x, fmt)
    width = "".join(c for c in fmt.split(".")[0] if c.isdigit())
    return format("–", f">{width}" if width else "")


def table(rows) -> str:
    lines = [f"{'mode':7s} {'K':>6s} {'d':>4s} {'n':>3s} {'params':>9s} {'est GB':>7s} {'peak GB':>8s} "
             f"{'eval s':>7s} {'iter s':>7s} {'solve s':>8s} {'iters':>6s}  status"]
    for r in rows:
        peak = max([v for k, v in r.items() if k.startswith("rss_")], default=None)
        status = r.get("failure") or r.get("status") or ("ok" if r.get("ok") else "")
        lines.append(f"{r['mode']:7s} {r['K']:>6d} {r['d']:>4d} {r['n']:>3d} {_f(r.get('params_reduced'), '>9d')} "
                     f"{_f(r.get('estimate_gb'), '>7.2f')} {_f(peak, '>8.2f')} {_f(r.get('eval_s'), '>7.3f')} "
                     f"{_f(r.get('lbfgs_iter_s'), '>7.3f')} {_f(r.get('solve_s'), '>8.1f')} "
                     f"{_f(r.get('iterations'), '>6d')}  {status[:90]}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
