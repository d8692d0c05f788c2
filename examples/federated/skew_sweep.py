"""Federated UFM sweep: label skew (Dirichlet alpha) x number of clients, learnable classifier vs fixed ETF
(``ufm.federated.skew_sweep``; docs/theory.md section 21). Writes rows.json and bias_vs_skew.png.

    python examples/federated/skew_sweep.py [OUT_DIR] [--classifier etf] [--classifier ebv]
"""

import json
import sys
from pathlib import Path

import ufm

ufm.enable_x64()
from ufm import Problem, federated  # noqa: E402
from ufm.plot.federated import bias_vs_skew  # noqa: E402


def main(argv):
    out = Path(argv[0] if argv and not argv[0].startswith("--") else "out/federated")
    fixed = [argv[i + 1] for i, a in enumerate(argv) if a == "--classifier"] or ["etf"]
    out.mkdir(parents=True, exist_ok=True)
    problem = Problem(counts=(24,) * 6, d=6, loss="ce", lambda_W=5e-3, lambda_H=5e-3)
    classifiers = (None, *fixed)
    rows = federated.skew_sweep(problem, alphas=(0.05, 0.1, 0.3, 1.0, 10.0), clients=(2, 4, 8),
                                classifiers=classifiers, rounds=150, local_steps=10, lr=0.5)
    (out / "rows.json").write_text(json.dumps(rows, indent=1, default=float))
    bias_vs_skew(rows).savefig(out / "bias_vs_skew.png", dpi=120)
    for r in rows:
        print(f"{r['classifier']:9s} C={r['clients']} alpha={r['alpha']:<5} gap={r['gap']:.2e} "
              f"local corr={r['local_norm_count_corr']:.3f}")
    print("wrote", out / "rows.json", out / "bias_vs_skew.png")


if __name__ == "__main__":
    main(sys.argv[1:])
