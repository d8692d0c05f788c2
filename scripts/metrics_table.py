"""Recompute the tables of docs/metrics.md: every NC metric at the optimum geometries ``ufm`` solves.

    PYTHONPATH=. python scripts/metrics_table.py          # ~30 s on a laptop CPU, prints Markdown

Each column is a ``ufm.solve`` of the stated problem (M = 1 cases certified by
``ufm.certify``), its metrics by ``Solution.metrics()`` (weighted global mean, ddof 0). Values with
|v| < ZERO are printed as 0; the largest such |v| is printed under the table. The orthogonal-frame table
is the closed form sqrt(2 - 2 sqrt((K-1)/K)) (nc2_etf) and its square (nc3), cross-checked against a solve
for every K listed.
"""

from __future__ import annotations

import numpy as np

import ufm

ZERO = 1e-8
KEYS = ("nc1", "cdnv", "nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular",
        "nc2_equiangular_classifier", "nc2_maxangle", "nc2_etf", "nc2_etf_means", "nc3", "unc3", "nc4", "gnc2")
STD_KEYS = ("nc2_equinorm_means", "nc2_equinorm_classifier", "nc2_equiangular", "nc2_equiangular_classifier",
            "unc3")
OF_KS = (2, 3, 4, 5, 10, 100)


def cases():
    P, B = ufm.Problem, ufm.Problem.balanced
    return {
        "(a) CE, balanced, M=1": B(4, 5, 6, loss="ce", lambda_W=5e-3, lambda_H=5e-3),
        "(b) MSE, no bias, balanced, M=1": B(4, 5, 6, loss="mse", lambda_W=1e-3, lambda_H=1e-3),
        "(b) MSE, no bias, balanced, M=3": B(4, 5, 6, loss="mse", depth=3, lambda_W=1e-3, lambda_H=1e-3),
        "(c) MSE, free bias, balanced, M=1": B(4, 5, 6, loss="mse", bias="free", lambda_W=1e-3, lambda_H=1e-3),
        "(d) CE, counts (20,20,2,2), M=1": P(counts=(20, 20, 2, 2), d=6, loss="ce", lambda_W=5e-3, lambda_H=5e-3),
        "(d) CE, counts (100,100,1,1), M=1": P(counts=(100, 100, 1, 1), d=6, loss="ce", lambda_W=5e-3,
                                               lambda_H=5e-3),
    }


def fmt(v, small):
    if isinstance(v, float) and np.isnan(v):
        return "nan"
    if abs(v) < ZERO:
        small.append(abs(v))
        return "0"
    return f"{v:.4f}"


def main():
    ufm.enable_x64()
    from ufm.certificates import certify
    from ufm.metrics import nc_metrics
    from ufm.solver import solve
    from ufm.theory.convex_oracle import seli_classifier_gram

    cols, notes, sols = {}, [], {}
    for name, p in cases().items():
        s = solve(p, restarts=4, init_scale=0.5)
        if p.depth == 1:
            s = certify(s)
            notes.append(f"{name}: objective {s.objective:.10f}, certified {s.certificate.get('certified')}, "
                         f"gap {s.certificate.get('gap'):.1e}")
        else:
            notes.append(f"{name}: objective {s.objective:.10f} (reduced-problem search; no M = 1 certificate)")
        m = s.metrics()
        cols[name] = m
        sols[name] = s
        if "per_layer" in m:
            worst = max(abs(layer[k] - m[k]) for layer in m["per_layer"] for k in KEYS)
            notes.append(f"{name}: every layer's metrics equal the product's to {worst:.1e}")
    labels = np.repeat(np.arange(4), 5)
    cols["(e) W = H = 0"] = nc_metrics(np.zeros((6, 20)), labels, np.zeros((4, 6)))

    small = []
    names = list(cols)
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for k in KEYS:
        print(f"| `{k}` | " + " | ".join(fmt(cols[n][k], small) for n in names) + " |")
    print(f"\nlargest |value| printed as 0: {max(small):.1e}")
    for line in notes:
        print("-", line)

    # Geometry checks quoted in the text.
    s = sols["(b) MSE, no bias, balanced, M=1"]
    W, Hbar = s.product, s.class_means
    G = W @ W.T
    print(f"\n(b) W W^T / max diag off-diagonal max |.|: {np.abs(G - np.diag(np.diag(G))).max() / G.max():.1e}")
    cos = np.sum(W * Hbar.T, axis=1) / (np.linalg.norm(W, axis=1) * np.linalg.norm(Hbar, axis=0))
    print(f"(b) cos(w_k, uncentred mu_k): min {cos.min():.12f}")
    s = sols["(c) MSE, free bias, balanced, M=1"]
    print(f"(c) bias b* = {np.round(s.bias, 6)}")

    print("\n(d) options, counts (20,20,2,2):")
    s = sols["(d) CE, counts (20,20,2,2), M=1"]
    seli = seli_classifier_gram(s.problem.counts)
    print("| option | " + " | ".join(f"`{k}`" for k in STD_KEYS + ("nc1", "nc3", "nc2_etf_means", "nc2_gram")) + " |")
    print("|---|" + "---|" * (len(STD_KEYS) + 4))
    for mean in ("weighted", "unweighted"):
        for ddof in (0, 1):
            m = s.metrics(mean=mean, ddof=ddof, predicted_gram=seli)
            row = [fmt(m[k], small) for k in STD_KEYS + ("nc1", "nc3", "nc2_etf_means", "nc2_gram")]
            print(f"| mean={mean}, ddof={ddof} | " + " | ".join(row) + " |")
    for name in ("(d) CE, counts (20,20,2,2), M=1", "(d) CE, counts (100,100,1,1), M=1"):
        W = sols[name].product
        n = np.linalg.norm(W, axis=1)
        C = (W @ W.T) / np.outer(n, n)
        mu = sols[name].class_means
        gap = np.linalg.norm(mu[:, 2] - mu[:, 3]) / np.linalg.norm(mu[:, 0] - mu[:, 1])
        print(f"{name}: classifier norms / max {np.round(n / n.max(), 4)}, cos(w_1, w_2) {C[0, 1]:.4f}, "
              f"cos(w_3, w_4) {C[2, 3]:.6f}, cos(majority, minority) {C[0, 2]:.4f}, "
              f"||mu_3 - mu_4|| / ||mu_1 - mu_2|| {gap:.1e}, nc1 {cols[name]['nc1']:.1e}, "
              f"cdnv {cols[name]['cdnv']:.1e}, gnc2 {cols[name]['gnc2']:.3f}, nc4 {cols[name]['nc4']:.4f}")

    print("\nOrthogonal frame (closed form; solve of the bias-free MSE UFM, K classes, n = 2, d = K + 2):")
    print("| K | nc2_etf | nc3 | solve: nc2_etf | solve: nc3 |")
    print("|---|---|---|---|---|")
    for K in OF_KS:
        c = np.sqrt((K - 1) / K)
        if K <= 10:
            m = solve(ufm.Problem.balanced(K, 2, K + 2, loss="mse", lambda_W=1e-3, lambda_H=1e-3),
                      restarts=2, init_scale=0.5).metrics()
            solved = f"{m['nc2_etf']:.6f} | {m['nc3']:.6f}"
        else:
            solved = "- | -"
        print(f"| {K} | {np.sqrt(2 - 2 * c):.4f} | {2 - 2 * c:.4f} | {solved} |")

    p = ufm.Problem.balanced(4, 5, 6, loss="mse", lambda_W=0.2, lambda_H=0.2)
    s = solve(p, restarts=4, init_scale=0.5)
    m = s.metrics()
    print(f"\n(e) solve of {p.describe()}: objective {s.objective:.12f}, ||W||_F {np.linalg.norm(s.product):.1e},"
          f" ||H||_F {np.linalg.norm(s.features):.1e}; metrics of that point: nc1 {m['nc1']:.3f}, "
          f"nc2_etf {m['nc2_etf']:.3f}, nc4 {m['nc4']:.3f}")


if __name__ == "__main__":
    main()
