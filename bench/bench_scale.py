"""Scale and roofline: how large a UFM ufm solves in 60 s, and how close an iteration is to the matmul floor.

    python bench/bench_scale.py roofline [--sizes medium,large] [--out bench/results/roofline.json]
    python bench/bench_scale.py ladder [--limit 60] [--out bench/results/ladder.json]

roofline: for a one-layer CE UFM of each size, side by side in one process:
  - floor: the three matrix products one objective-and-gradient evaluation cannot avoid (Z = W H,
    dW = G H^T, dH = W^T G; 6 K d N flops), jitted float64, timed alone -> also the machine's matmul rate;
  - eval: ``jax.value_and_grad`` of the ufm objective (jitted);
  - iter: one ufm L-BFGS iteration (``run_once`` stopped after k iterations, divided by k);
  - the same evaluation in numpy (what scipy L-BFGS-B calls) and in torch float64 (what torch LBFGS calls).
  Reported: medians, ratios to the floor.
ladder: balanced CE UFMs of growing size (K classes, d = K, n per class, K sqrt(n) lambda = 1/2), each solved
  in a fresh process (``ufm.solver.solve`` with its defaults: the class-reduced problem, relative stationarity
  1e-11) under a wall-clock limit that includes start-up and compilation; "solved" means the relative gap to
  the closed form of Zhu et al. 2021 is <= 1e-8. Peak resident memory of the process is recorded
  (ru_maxrss).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

SIZES = {"small": (10, 32, 100), "medium": (100, 128, 50), "large": (1000, 512, 10), "xlarge": (1000, 512, 50)}


def _median_time(fn, repeats=5):
    """Median wall time of ``fn()`` after one warm-up call (bench_accuracy.repeat_timed: at least ``repeats``
    calls and 1 s in total, at most 50)."""
    from bench_accuracy import repeat_timed

    fn()  # warm
    return statistics.median(repeat_timed(fn, repeats, float("inf"), max_count=50)[1])


def roofline(sizes, iters=20):
    import jax
    import jax.numpy as jnp

    import baselines as B
    import cases
    import ufm
    from ufm import objective as obj
    from ufm.solver import SolverOptions, run_once

    out = []
    for name in sizes:
        K, d, n = SIZES[name]
        lam = 0.5 / (K * np.sqrt(n))  # as bench/cases.py: a non-trivial optimum
        problem = ufm.Problem.balanced(K, n, d, loss="ce", bias="none", lambda_W=lam, lambda_H=lam)
        N = problem.N
        x0 = cases.start(problem)
        params = obj.params_from_arrays(problem, x0["W"], x0["H"])
        data = obj.problem_data(problem)
        W, H = params["W"][0], params["H"]
        G = jnp.asarray(np.random.default_rng(0).standard_normal((K, N)))

        @jax.jit
        def three_products(W, H, G):
            return W @ H, G @ H.T, W.T @ G

        floor = _median_time(lambda: jax.block_until_ready(three_products(W, H, G)))
        vg = jax.jit(jax.value_and_grad(obj.make_objective("ce", "none")))
        t_eval = _median_time(lambda: jax.block_until_ready(vg(params, data)))
        opts = SolverOptions(max_iter=iters, gtol=0.0)
        t_iter = _median_time(lambda: run_once(problem, x0, opts), repeats=3) / iters
        a, p = B.Arrays.of(problem), B.numpy_params(x0)
        t_numpy = _median_time(lambda: B.numpy_value_and_grad(p, a), repeats=3)
        import torch

        torch_, a_, tp, Tt, cl = B._torch_setup(problem, x0, "float64")

        def torch_eval():
            for q in list(tp["W"]) + [tp["H"]]:
                q.grad = None
            B.torch_full_objective(torch_, tp, a_, Tt, cl).backward()

        t_torch = _median_time(torch_eval, repeats=3)
        flops = 6.0 * K * d * N
        row = {"size": name, "K": K, "d": d, "N": N, "flops_per_eval": flops, "floor_s": floor,
               "matmul_gflops": flops / floor / 1e9, "ufm_eval_s": t_eval, "ufm_iter_s": t_iter,
               "numpy_eval_s": t_numpy, "torch64_eval_s": t_torch,
               "ufm_iter_over_floor": t_iter / floor, "ufm_eval_over_floor": t_eval / floor,
               "numpy_eval_over_floor": t_numpy / floor, "torch_eval_over_floor": t_torch / floor}
        print(json.dumps(row), file=sys.stderr, flush=True)
        out.append(row)
    return out


CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import ufm
ufm.enable_x64()
from ufm.solver import solve
from ufm.theory import PREDICTIONS
K, n = int(sys.argv[1]), int(sys.argv[2])
lam = 0.5 / (K * n ** 0.5)  # halfway to the threshold above which the optimum is W = H = 0
p = ufm.Problem.balanced(K, n, K, loss="ce", bias="none", lambda_W=lam, lambda_H=lam)
s = solve(p, restarts=1, seed=0)
f_star = PREDICTIONS["zhu2021_balanced_ce"].predict(p)["objective"]
print(json.dumps({"K": K, "n": n, "d": K, "N": p.N, "lambda": lam, "wall_s": time.perf_counter() - t0, "status": s.status,
                  "iterations": s.iterations, "gap": (s.objective - f_star) / abs(f_star),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


def ladder(limit, steps):
    out = []
    for K, n in steps:
        t = time.perf_counter()
        try:
            r = subprocess.run([sys.executable, "-c", CHILD, str(K), str(n)], capture_output=True, text=True,
                               timeout=limit)
            row = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else \
                {"K": K, "n": n, "error": r.stderr[-500:]}
            row["solved"] = bool(row.get("gap", 1.0) <= 1e-8 and row.get("wall_s", 1e9) <= limit)
        except subprocess.TimeoutExpired:
            row = {"K": K, "n": n, "d": K, "N": K * n, "wall_s": time.perf_counter() - t, "solved": False,
                   "status": f"killed at the {limit:g} s limit"}
        print(json.dumps(row), file=sys.stderr, flush=True)
        out.append(row)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("roofline", "ladder"))
    parser.add_argument("--sizes", default="medium,large")
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--ladder", default="50x10,100x10,200x10,400x10,600x10,100x100,100x300,100x1000,100x3000",
                        help="KxN-per-class steps (d = K)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import ufm

    ufm.enable_x64()
    from bench_accuracy import machine

    if args.mode == "roofline":
        sizes = args.sizes.split(",")
        for s in sizes:
            if s not in SIZES:
                raise ufm.ProblemError("sizes", f"unknown size {s!r}; allowed: {sorted(SIZES)}")
        rows = roofline(sizes)
    else:
        steps = [tuple(int(v) for v in step.split("x")) for step in args.ladder.split(",")]
        rows = ladder(args.limit, steps)
    result = {"machine": machine(), "mode": args.mode, "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows,
              "limit_s": args.limit}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    for row in rows:
        print(row)
    return result


if __name__ == "__main__":
    main()
