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


def compile_tables(path) -> str:
    with open(path) as f:
        res = json.load(f)
    out = []
    if "solve" in res:
        s = res["solve"]
        runs = [k for k in s["median"]]
        out.append(f"`{s['command']}`, fresh processes, medians of {len(s['series'])} series (each on a new cache "
                   "directory); start-up = `ufm --version`.\n")
        names = {"no-cache": "`--no-cache`", "same-shape": f"same shape (`{s.get('same_shape_args', '')}`)"}
        out.append("| start-up | " + " | ".join(names.get(k, f"run {k}") for k in runs) +
                   " | second / first |")
        out.append("|---" * (len(runs) + 2) + "|")
        cells = [f"{_t(s['median'][k]['process_s'])} (solve {_t(s['median'][k]['solve_s'])}, compiling "
                 f"{_t(s['median'][k]['compile_s'])})" for k in runs]
        out.append(f"| {_t(s['startup_median_s'])} | " + " | ".join(cells) + f" | {s['second_over_first']:.2f} |")
    if "check" in res:
        c = res["check"]
        out.append(f"\n`{c['command']}` on a new cache directory, {len(c['series'])} series: first "
                   f"{_t(c['median_first_s'])}, second {_t(c['median_second_s'])} (ratio "
                   f"{c['second_over_first']:.2f}).")
    if res.get("shapes"):
        out.append("\n| shape | parameters solved | cold: compile_time | cold: first solve | hot solve (same "
                   "process) | cold: process | warm: compile_time | warm: first solve | warm: process |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in res["shapes"]:
            c, w = r["cold"], r["warm"]
            out.append(f"| {r['shape']} | {c['params_solved']:,} | {_t(c['compile_time'])} | "
                       f"{_t(c['first_solve_s'])} | {_t(c['hot_solve_s'])} | {_t(c['process_s'])} | "
                       f"{_t(w['compile_time'])} | {_t(w['first_solve_s'])} | {_t(w['process_s'])} |")
    return "\n".join(out)


def reduction_tables(path) -> str:
    with open(path) as f:
        res = json.load(f)
    out = []
    if "n" in res:
        n = res["n"]
        out.append("| n | N | solve call | of which runs (`wall_time`) | iterations | first call (compiling) | "
                   "`Problem.targets()` | `objective.groups` | `objective.lift` |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in n["rows"]:
            out.append(f"| {r['n']:,} | {r['N']:,} | {_t(r['call_median_s'])} | {_t(r['wall_time_median_s'])} | "
                       f"{r['iterations'][0]} | {_t(r['first_call_s'])} | {_t(r.get('targets_s'))} | "
                       f"{_t(r.get('groups_s'))} | {_t(r.get('lift_s'))} |")
        out.append(f"\nRatio largest / smallest n: solve call {n['ratio_call']:.2f}x, runs "
                   f"{n['ratio_wall_time']:.2f}x.")
    if res.get("solve"):
        methods = res["methods"]
        label = {"ufm": "ufm (reduced)", "ufm_full": "ufm `reduce=\"never\"`", "torch_lbfgs": "torch LBFGS",
                 "scipy": "scipy L-BFGS-B"}
        out.append(f"\nTime to a relative gap <= {res['target']:g} (medians; x: over ufm):\n")
        out.append("| case | K, d, N | f* | " + " | ".join(label[m] for m in methods) + " | ufm first call |")
        out.append("|---" * (len(methods) + 4) + "|")
        for c in res["solve"]:
            cells = []
            for m in methods:
                r = c["methods"][m]
                cell = _t(r["median_s"]) if r["reached"] else f"not reached ({_t(r['median_s'])})"
                if m != "ufm" and r.get("over_ufm"):
                    cell += f" ({_ratio(r['median_s'], c['methods']['ufm']['median_s'])})"
                cells.append(cell)
            first = c["methods"].get("ufm", {}).get("first_call_s")
            out.append(f"| {c['case']} | {c['K']}, {c['d']}, {c['N']:,} | {c['reference_source']} | " +
                       " | ".join(cells) + f" | {_t(first)} |")
    return "\n".join(out)


def large_k_table(paths) -> str:
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [dict(r, file=os.path.basename(path)[:-5]) for r in json.load(f)["rows"]]
    out = ["| results | mode | K | d | n | parameters (reduced) | ufm estimate | peak RSS | value+grad | L-BFGS iteration | "
           "solve | iterations | outcome |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = max([v for k, v in r.items() if k.startswith("rss_")], default=None)
        outcome = r.get("failure") or r.get("status") or ("measured" if r.get("ok") else "")

        def gb(x):
            return "–" if x is None else f"{x:.2f} GB"
        out.append(f"| {r['file']} | {r['mode']} | {r['K']:,} | {r['d']} | {r['n']} | {r.get('params_reduced', 0):,} | "
                   f"{gb(r.get('estimate_gb'))} | {gb(peak)} | {_t(r.get('eval_s'))} | {_t(r.get('lbfgs_iter_s'))} | "
                   f"{_t(r.get('solve_s'))} | {r.get('iterations', '–')} | {outcome} |")
    return "\n".join(out)


def streamed_table(path) -> str:
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_streamed import table

    with open(path) as f:
        return table(json.load(f)["rows"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    acc = sorted(glob.glob(os.path.join(args.results, "accuracy*.json")))
    if acc:
        with open(acc[0]) as f:
            print("machine:", json.load(f)["machine"])
        print(accuracy_tables(acc))
    for name, fn in (("roofline.json", roofline_table), ("ladder.json", ladder_table),
                     ("compile.json", compile_tables), ("reduction.json", reduction_tables),
                     ("streamed.json", streamed_table)):
        path = os.path.join(args.results, name)
        if os.path.exists(path):
            print()
            print(fn(path))
    large = sorted(glob.glob(os.path.join(args.results, "large_k*.json")))
    if large:
        print()
        print(large_k_table(large))


if __name__ == "__main__":
    main()
