"""Generate the shipped real-feature example: penultimate features of a small MLP trained on an imbalanced
subset of scikit-learn's digits (shipped with the package, no download), for 5 seeds.

Classes 0-4 keep 100 samples each (majority), classes 5-9 keep 10 each (minority), so the UFM's minority-collapse
prediction (Fang et al. 2021) applies. Network: 64 -> 32 (tanh) -> 16 (tanh, the features) -> 10 (linear, no
bias), full-batch Adam with weight decay 5e-4 on everything, 3000 steps, CE loss; numpy float64 only.
Writes digits_seed{S}.npz with features (N x 16), labels (N), classifier (10 x 16). Run:

    PYTHONPATH=. python examples/real_features/make_digits_features.py
"""

from __future__ import annotations

import os

import numpy as np

COUNTS = (100,) * 5 + (10,) * 5
SEEDS = (0, 1, 2, 3, 4)
WIDTHS = (64, 32, 16)
DECAY = 5e-4
STEPS = 3000


def data(seed: int):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c, n in enumerate(COUNTS)])
    return X[keep] / 16.0, y[keep]


def train(seed: int):
    X, y = data(seed)
    rng = np.random.default_rng(100 + seed)
    shapes = [(WIDTHS[0], WIDTHS[1]), (WIDTHS[1], WIDTHS[2]), (WIDTHS[2], len(COUNTS))]
    params = [rng.normal(size=s) / np.sqrt(s[0]) for s in shapes]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    Y = np.eye(len(COUNTS))[y]
    N = len(y)
    for t in range(1, STEPS + 1):
        A1 = np.tanh(X @ params[0])
        A2 = np.tanh(A1 @ params[1])
        Z = A2 @ params[2]
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        G = (P - Y) / N
        g2 = A2.T @ G
        D2 = (G @ params[2].T) * (1 - A2 ** 2)
        g1 = A1.T @ D2
        D1 = (D2 @ params[1].T) * (1 - A1 ** 2)
        g0 = X.T @ D1
        for i, g in enumerate((g0, g1, g2)):
            g = g + DECAY * params[i]
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g ** 2
            params[i] -= 1e-2 * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
    A2 = np.tanh(np.tanh(X @ params[0]) @ params[1])
    return A2, y, params[2].T


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for s in SEEDS:
        H, y, W = train(s)
        acc = float(np.mean(np.argmax(H @ W.T, axis=1) == y))
        np.savez_compressed(os.path.join(here, f"digits_seed{s}.npz"), features=H, labels=y, classifier=W)
        print(f"seed {s}: train accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
