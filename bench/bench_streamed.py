"""The streamed cross-entropy of many classes: its own derivative rule against the alternatives, side by side.

    python bench/bench_streamed.py [--grid 2000x64,5000x64,10000x64] [--out bench/results/streamed.json]

For the class-reduced balanced CE UFM with K classes, d features and one column per class (the language-model
regime: the K x K logits are the whole cost), one process times, taking turns, the median of jitted float64
calls of

- ``floor``: the three matrix products a value-and-gradient cannot avoid (Z = W H, g_W = G H^T, g_H = W^T G;
  6 K^2 d flops), dense, so also the machine's matmul rate;
- ``fused``: ``jax.value_and_grad`` of ufm's objective on streamed data (``ufm.objective.fused_block_loss``:
  one pass over column blocks forms each block's logits once and accumulates the gradients, three products
  per block);
- ``checkpoint``: the same blocks differentiated by JAX's reverse mode with each block under
  ``jax.checkpoint`` (what ufm did before: the forward pass, then each block's logits formed again in the
  backward pass, four products per block), written here as the reference;
- ``dense``: ufm's objective on the dense K x K targets (no blocks; memory O(K^2)), where K <= --dense-max;
- ``value``: the fused objective's value alone (one product per block).

The values and gradients of fused, checkpoint and dense agree to rounding (checked, reported as
``max_grad_diff``). Ratios are to the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def checkpointed_objective(per_label):
    """The reference: the streamed CE with every block under ``jax.checkpoint`` and JAX's own reverse mode."""
    import jax
    import jax.numpy as jnp

    from ufm import objective as obj

    def f(params, data):
        W, H = params["W"][0], params["H"] * data["scale"][None, :]
        Hb, yb, wb = obj.column_blocks(H, data["labels"], data["weights"], W.shape[0])

        @jax.checkpoint
        def block(total, xs):
            h, y, w = xs
            return total + jnp.sum(w * per_label(W @ h, y)), None

        total = jax.lax.scan(block, jnp.zeros((), H.dtype), (Hb, yb, wb))[0]
        return total + obj.penalty(params, data, "none")

    return f


def one(K, d, dense_max, repeats):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import ufm
    from ufm import losses
    from ufm import objective as obj

    ufm.enable_x64()
    lam = 0.5 / K
    p = ufm.Problem.balanced(K, 1, d, loss="ce", bias="none", lambda_W=lam, lambda_H=lam)
    x = obj.init_params(p, jax.random.PRNGKey(0), 0.1, reduce=True)
    streamed = obj.problem_data(p, reduce=True, stream=True)
    f = obj.make_objective("ce", "none")
    W, H = x["W"][0], x["H"]
    G = jnp.asarray(np.random.default_rng(0).standard_normal((K, K)))
    calls = {
        "floor": (jax.jit(lambda W, H, G: (W @ H, G @ H.T, W.T @ G)), (W, H, G)),
        "fused": (jax.jit(jax.value_and_grad(f)), (x, streamed)),
        "checkpoint": (jax.jit(jax.value_and_grad(checkpointed_objective(losses.get("ce").per_label))), (x, streamed)),
        "value": (jax.jit(f), (x, streamed)),
    }
    if K <= dense_max:
        calls["dense"] = (jax.jit(jax.value_and_grad(f)), (x, obj.problem_data(p, reduce=True, stream=False)))
    results = {}
    for name, (fn, args) in calls.items():
        results[name] = jax.block_until_ready(fn(*args))  # compile and warm
    times = {name: [] for name in calls}
    for _ in range(repeats):  # taking turns: a noisy machine slows all alike
        for name, (fn, args) in calls.items():
            t = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - t)
    ref_v, ref_g = results["fused"]
    diff = {}
    for name in ("checkpoint", "dense"):
        if name in results:
            v, g = results[name]
            diff[name] = max(float(jnp.max(jnp.abs(a - b))) / float(jnp.max(jnp.abs(a)))
                             for a, b in zip(jax.tree_util.tree_leaves(ref_g), jax.tree_util.tree_leaves(g)))
            diff[name + "_value"] = abs(float(v - ref_v)) / abs(float(ref_v))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    return {"K": K, "d": d, "streams": bool(obj.streams(p, reduce=True)), "median_s": med,
            "over_floor": {name: med[name] / med["floor"] for name in med},
            "gflops_floor": 6 * K * K * d / med["floor"] / 1e9, "max_grad_diff": diff, "repeats": repeats}


def table(rows) -> str:
    names = ("floor", "fused", "checkpoint", "dense", "value")
    lines = ["| K | d | " + " | ".join(names) + " | checkpoint / fused | floor GFLOP/s |",
             "|---|---|" + "---|" * len(names) + "---|---|"]
    for r in rows:
        m = r["median_s"]
        cells = [f"{m[n] * 1e3:.{0 if m[n] >= 0.01 else 2}f} ms ({r['over_floor'][n]:.2f}x)" if n in m else "–"
                 for n in names]
        lines.append(f"| {r['K']:,} | {r['d']} | " + " | ".join(cells)
                     + f" | {m['checkpoint'] / m['fused']:.2f}x | {r['gflops_floor']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", default="2000x64,5000x64,10000x64", help="KxD steps")
    parser.add_argument("--dense-max", type=int, default=5000, help="largest K timed dense (K x K targets)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from bench_accuracy import machine, write_json

    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "rows": []}
    for step in args.grid.split(","):
        K, d = (int(v) for v in step.lower().split("x"))
        row = one(K, d, args.dense_max, args.repeats)
        print(json.dumps(row), file=sys.stderr, flush=True)
        result["rows"].append(row)
        if args.out:  # after every point: an interrupted run keeps what it measured
            write_json(args.out, result)
    print(table(result["rows"]))
    return result


if __name__ == "__main__":
    main()
