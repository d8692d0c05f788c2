"""Markdown tables of the benchmark results (pasted into docs/benchmarks.md).

    python bench/report.py [--results bench/results]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os

TARGETS = ("0.0001", "1e-08", "1e-12")
ORDER = ("ufm", "scipy", "torch_lbfgs", "torch_sgd", "cvxpy", "ufm_solve")


def _t(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "never"
    if x < 0.01:
        return f"{x * 1e3:.2f} ms"
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.1f} s"


def _ratio(a, b) -> str:
    if a is None or b is None or not math.isfinite(b) or b <= 0:
        return "–"
    if math.isinf(a):
        return "∞ (never)"
    return f"{a / b:.1f}x"


def accuracy_tables(paths) -> str:
    out = []
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        for case in res["cases"]:
            out.append(f"\n**{case['case']}** — K = {case['K']}, d = {case['d']}, N = {case['N']}, M = {case['M']}, "
                       f"{case['loss'].upper()}, lambda = {case['lambda']:.3g}; f* = {case['reference']:.15g} "
                       f"({case['reference_source']})\n")
            out.append("| method | to 1e-4 | to 1e-8 | to 1e-12 | best gap | vs ufm at 1e-8 | vs ufm at 1e-12 | runs |")
            out.append("|---|---|---|---|---|---|---|---|")
            ufm_t = case["methods"].get("ufm", {}).get("time_to", {})
            for m in ORDER:
                if m not in case["methods"]:
                    continue
                r = case["methods"][m]
                tt = r.get("time_to", {})
                if m == "ufm_solve":
                    cells = ["–", "–", "–"]
                    note = f"one call, {_t(r['wall'])}"
                else:
                    cells = [_t(tt.get(k)) for k in TARGETS]
                    note = str(r.get("repeats", 1)) if m != "cvxpy" else "1 per tol"
                vs = ["–", "–"] if m in ("ufm", "ufm_solve") else \
                    [_ratio(tt.get(k), ufm_t.get(k)) for k in TARGETS[1:]]
                out.append(f"| {r['label']} | {' | '.join(cells)} | {r['best_gap']:.1e} | {vs[0]} | {vs[1]} | {note} |")
            u = case["methods"].get("ufm")
            if u:
                out.append(f"\nufm: {u['iterations']} iterations ({u['status']}), one-off compilation "
                           f"{u['compile']:.1f} s.")
    return "\n".join(out)


def roofline_table(path) -> str:
    with open(path) as f:
        res = json.load(f)
    out = ["| size | K, d, N | floor (3 matmuls) | matmul rate | ufm value+grad | ufm L-BFGS iteration | "
           "numpy value+grad | torch value+grad |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        out.append(f"| {r['size']} | {r['K']}, {r['d']}, {r['N']} | {_t(r['floor_s'])} | {r['matmul_gflops']:.0f} GFLOP/s | "
                   f"{_t(r['ufm_eval_s'])} ({r['ufm_eval_over_floor']:.2f}x) | {_t(r['ufm_iter_s'])} "
                   f"({r['ufm_iter_over_floor']:.2f}x) | {_t(r['numpy_eval_s'])} ({r['numpy_eval_over_floor']:.2f}x) | "
                   f"{_t(r['torch64_eval_s'])} ({r['torch_eval_over_floor']:.2f}x) |")
    return "\n".join(out)


def ladder_table(path) -> str:
    with open(path) as f:
        res = json.load(f)
    out = [f"| K = d | n | N | solved to 1e-8 within {res['limit_s']:.0f} s | wall (start-up, compile, solve) | "
           "iterations | gap | peak memory |", "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        gap = f"{r['gap']:.1e}" if "gap" in r else "–"
        mem = f"{r['peak_rss_gb']:.2f} GB" if "peak_rss_gb" in r else "–"
        out.append(f"| {r['K']} | {r['n']} | {r.get('N', r['K'] * r['n'])} | {'yes' if r['solved'] else 'no'} | "
                   f"{r.get('wall_s', float('nan')):.1f} s {r.get('status', '')} | {r.get('iterations', '–')} | {gap} | {mem} |")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    acc = sorted(glob.glob(os.path.join(args.results, "accuracy*.json")))
    if acc:
        with open(acc[0]) as f:
            print("machine:", json.load(f)["machine"])
        print(accuracy_tables(acc))
    for name, fn in (("roofline.json", roofline_table), ("ladder.json", ladder_table)):
        path = os.path.join(args.results, name)
        if os.path.exists(path):
            print()
            print(fn(path))


if __name__ == "__main__":
    main()
