"""The one forward model of the UFM: features -> layers -> logits (docs/theory.md section 1).

    z_i = W_M ... W_2 W_1 h_i + b        (h_i: column i of the free features H, d x N)

Every part of ``ufm`` that needs the logits, the features entering a layer or the product classifier (the
objective, ``Solution``, the metrics, the plots, the reduced problem) calls these functions, so a new layer
kind (an activation between the layers) changes this module alone. They are array-library agnostic: numpy
arrays in give numpy out (float64 stays float64 whatever JAX's x64 setting), jax arrays in give jax out.

``Ws`` is the sequence of all M layers, first to classifier (W_1..W_{M-1} in R^{d x d}, W_M in R^{K x d}).
"""

from __future__ import annotations

from typing import Optional, Sequence


def product(Ws: Sequence):
    """W = W_M ... W_1 (K x d): the classifier the features see (linear layers)."""
    out = Ws[0]
    for W in Ws[1:]:
        out = W @ out
    return out


def layer_inputs(Ws: Sequence, H) -> list:
    """Features entering each layer: [H, W_1 H, W_2 W_1 H, ..., W_{M-1}..W_1 H] (M entries)."""
    out = [H]
    for W in Ws[:-1]:
        out.append(W @ out[-1])
    return out


def classifiers_after(Ws: Sequence) -> list:
    """For each layer m = 1..M, the map from the features entering layer m to the logits (bias excluded):
    [W_M..W_1, W_M..W_2, ..., W_M]."""
    return [product(Ws[m:]) for m in range(len(Ws))]


def logits(Ws: Sequence, H, b: Optional[object] = None):
    """Z = W_M ... W_1 H + b 1^T (K x N), evaluated right to left (cheapest when N >> d)."""
    Z = H
    for W in Ws:
        Z = W @ Z
    if b is not None:
        Z = Z + b[:, None]
    return Z
