"""Figures of the benchmark results (matplotlib): relative gap against wall-clock time per case, and the
roofline ratios.

    python bench/plot_bench.py [--accuracy bench/results/accuracy*.json ...]
                               [--roofline bench/results/roofline.json] [--outdir docs/figures]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os

STYLE = {"ufm": ("C0", "-", 2.2), "scipy": ("C1", "--", 1.4), "torch_lbfgs": ("C2", "-.", 1.4),
         "torch_sgd": ("C3", ":", 1.6), "cvxpy": ("C4", "", 0)}


def gap_vs_time(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in results["cases"] if not c["case"].startswith("tiny")] or results["cases"]
    cols = 3
    rows = math.ceil(len(cases) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        for m, r in case["methods"].items():
            color, ls, lw = STYLE.get(m, ("k", "-", 1))
            if "trace" in r:
                t, g = r["trace"]
                t = [max(x, 1e-4) for x in t]
                ax.plot(t, [max(v, 1e-16) for v in g], color=color, ls=ls, lw=lw, label=r["label"][:40])
            elif m == "ufm_solve":
                ax.plot(max(r["wall"], 1e-4), max(r["best_gap"], 1e-16), "*", color="C0", ms=12, label=r["label"][:40])
            elif m == "cvxpy":
                for tol, run in r["runs"].items():
                    ax.plot(max(run["time"], 1e-4), max(run["gap"], 1e-16), "o", color=color, ms=5,
                            label=r["label"][:40] if tol == "0.0001" else None)
        for target in results["targets"]:
            ax.axhline(target, color="0.7", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-16, 10)
        ax.set_title(f"{case['case']} (N={case['N']}, f* {case['reference_source'].split('_')[0]})", fontsize=9)
        ax.set_xlabel("wall-clock s")
        ax.set_ylabel("(f - f*) / |f*|")
    for ax in list(axes.flat)[len(cases):]:
        ax.axis("off")
    legend = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, h)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def roofline_bars(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    keys = [("ufm_iter_over_floor", "ufm L-BFGS iteration"), ("ufm_eval_over_floor", "ufm value+grad (jax)"),
            ("numpy_eval_over_floor", "numpy value+grad (scipy)"), ("torch_eval_over_floor", "torch value+grad")]
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    width = 0.8 / len(keys)
    for i, (k, label) in enumerate(keys):
        ax.bar([j + i * width for j in range(len(rows))], [r[k] for r in rows], width, label=label)
    ax.axhline(1, color="k", lw=0.8)
    ax.axhline(2, color="k", lw=0.8, ls="--")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
    ax.set_xticklabels([f"{r['size']}\nK={r['K']} d={r['d']} N={r['N']}" for r in rows], fontsize=8)
    ax.set_ylabel("time / matmul floor")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--accuracy", nargs="*", default=sorted(glob.glob(os.path.join(here, "results", "accuracy*.json"))),
                        help="results of bench_accuracy.py; the cases of several files are drawn together")
    parser.add_argument("--roofline", default=os.path.join(here, "results", "roofline.json"))
    parser.add_argument("--outdir", default=os.path.join(os.path.dirname(here), "docs", "figures"))
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    merged = None
    for path in args.accuracy:
        with open(path) as f:
            res = json.load(f)
        if merged is None:
            merged = res
        else:
            merged["cases"] += res["cases"]
    if merged is not None:
        gap_vs_time(merged, os.path.join(args.outdir, "bench_gap_vs_time.png"))
    if os.path.exists(args.roofline):
        with open(args.roofline) as f:
            roofline_bars(json.load(f), os.path.join(args.outdir, "bench_roofline.png"))


if __name__ == "__main__":
    main()
