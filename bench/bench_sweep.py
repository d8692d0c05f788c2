"""Sweep throughput: the engine's batching (ufm.sweep.batch.solve_batch) vs a plain loop of ufm.solver calls,
and vs a loop of the baselines users write today (scipy L-BFGS-B with the analytic gradient, torch LBFGS with
strong Wolfe, both float64, bench/baselines.py; each stopped at max-abs gradient <= 1e-10), same problems
and starts, measured side by side in one run. Medians over repeats, problems per second; the last column is
the largest relative objective difference of the baselines' answers to ufm's (equal accuracy check).

    python bench/bench_sweep.py [--batch 64] [--repeats 5] [--devices N]

Run it as a fresh process: it sets XLA_FLAGS=--xla_force_host_platform_device_count=<cores> (unless set)
before JAX starts, as `ufm sweep` does.
"""

import argparse
import os
import platform
import statistics
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--devices", type=int, default=os.cpu_count())
args = parser.parse_args()
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baselines as B  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_flush_denormal(True)
except ImportError:  # the bench extra is not installed: the torch column is left out
    torch = None

import ufm  # noqa: E402

ufm.enable_x64()
from ufm import objective as obj  # noqa: E402
from ufm.solver import SolverOptions, run_once, solve  # noqa: E402
from ufm.sweep.batch import solve_batch  # noqa: E402

CASES = {"mse K=4 d=4 n=5 M=2": dict(loss="mse", depth=2), "ce K=4 d=4 n=5 M=1": dict(loss="ce", depth=1)}


def timed(fn):
    fn()  # warm-up (compilation)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
      f"backend {jax.default_backend()}, {len(jax.devices())} devices; batch {args.batch}, median of {args.repeats}")
print("| problem | loop of scipy L-BFGS-B | loop of torch LBFGS | plain loop of ufm.solver | loop of jitted run_once "
      "| batch: map, 1 device | batch: vmap, 1 device | batch: map, all devices | speed-up vs plain loop "
      "| vs scipy loop | baselines' max rel. objective diff. where all agree |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
opts = SolverOptions()
for name, kw in CASES.items():
    lams = np.logspace(-3, -1.5, args.batch)
    problems = [ufm.Problem.balanced(4, 5, 4, lambda_W=l, lambda_H=l, **kw) for l in lams]
    x0s = [obj.init_params(p, jax.random.PRNGKey(i), 0.3) for i, p in enumerate(problems)]
    np_starts = [jax.tree_util.tree_map(np.asarray, x0) for x0 in x0s]
    found = {}

    def baseline_loop(fn, key):  # stopping rule comparable to ufm's ||grad||_2 <= 1e-10
        found[key] = [fn(p, x0, budget=60.0, gtol=1e-10).best() for p, x0 in zip(problems, np_starts)]

    res = {
        "scipy": timed(lambda: baseline_loop(B.scipy_lbfgsb, "scipy")),
        "torch": timed(lambda: baseline_loop(B.torch_lbfgs, "torch")) if torch is not None else float("nan"),
        "plain": timed(lambda: [solve(p, init=x0) for p, x0 in zip(problems, x0s)]),
        "run_once": timed(lambda: [run_once(p, x0, opts) for p, x0 in zip(problems, x0s)]),
        "map1": timed(lambda: solve_batch(problems, x0s, opts, inner="map", devices=1)),
        "vmap1": timed(lambda: solve_batch(problems, x0s, opts, inner="vmap", devices=1)),
        "mapN": timed(lambda: solve_batch(problems, x0s, opts, inner="map")),
    }
    rate = {k: args.batch / v for k, v in res.items()}
    ours = np.array([r.objective for r in solve_batch(problems, x0s, opts, inner="map")])
    # deep models: from the same start, methods may stop at different stationary points (e.g. the origin,
    # a local minimum for M >= 2): count the problems where every baseline agrees with ufm to 1e-8
    agree = np.all([np.abs(np.asarray(v) - ours) <= 1e-8 * np.abs(ours) for v in found.values()], axis=0)
    diff = max(np.max(np.abs(np.asarray(v) - ours)[agree] / np.abs(ours[agree]), initial=0.0) for v in found.values())
    print(f"| {name} | {rate['scipy']:.0f}/s | {rate['torch']:.0f}/s | {rate['plain']:.0f}/s | {rate['run_once']:.0f}/s "
          f"| {rate['map1']:.0f}/s | {rate['vmap1']:.0f}/s | {rate['mapN']:.0f}/s | {rate['mapN'] / rate['plain']:.2f}x "
          f"| {rate['mapN'] / rate['scipy']:.1f}x | {diff:.1e} ({agree.sum()}/{len(agree)} agree) |")
sys.stdout.flush()
