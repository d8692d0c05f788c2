"""The one forward model of the UFM: features -> layers -> logits (docs/theory.md sections 1 and 15).

    z_i = W_M s(W_{M-1} ... s(W_1 s0(h_i))) + b        (h_i: column i of the free features H, d x N)

with ``s`` the activation after every hidden layer (``"linear"``: the identity, the default; ``"relu"``:
max(x, 0)) and ``s0`` the same activation on the free features when ``activate_features`` (the non-negative
features of Tirer & Bruna 2022, "Extended unconstrained features model for exploring deep neural collapse",
arXiv 2202.08087), else the identity. With linear layers this is z_i = W_M ... W_1 h_i + b.

Every part of ``ufm`` that needs the logits, the features entering a layer or the product classifier (the
objective, ``Solution``, the metrics, the plots, the reduced problem) calls these functions, so a layer kind
changes this module alone. They are array-library agnostic: numpy arrays in give numpy out (float64 stays
float64 whatever JAX's x64 setting), jax arrays in give jax out; ReLU is ``maximum(x, 0)`` of the input's own
library (jit-friendly).

``Ws`` is the sequence of all M layers, first to classifier (W_1..W_{M-1} in R^{d x d}, W_M in R^{K x d}).
"""

from __future__ import annotations

from typing import Optional, Sequence


def _relu(x):
    if type(x).__module__.startswith("numpy"):
        import numpy as np

        return np.maximum(x, 0.0)
    import jax.numpy as jnp

    return jnp.maximum(x, 0.0)


def activate(x, activation: str = "linear"):
    """s(x): the identity (``"linear"``) or max(x, 0) (``"relu"``), elementwise."""
    if activation == "linear":
        return x
    if activation == "relu":
        return _relu(x)
    raise ValueError(f"unknown activation {activation!r} (ufm.problem.ACTIVATIONS lists the layer kinds)")


def product(Ws: Sequence):
    """W = W_M ... W_1 (K x d): the classifier the features see (linear layers)."""
    out = Ws[0]
    for W in Ws[1:]:
        out = W @ out
    return out


def layer_inputs(Ws: Sequence, H, activation: str = "linear", activate_features: bool = False) -> list:
    """Features entering each layer (post-activation): [s0(H), s(W_1 s0(H)), ..., s(W_{M-1} ...)] (M entries);
    linear: [H, W_1 H, W_2 W_1 H, ..., W_{M-1}..W_1 H]."""
    out = [activate(H, activation) if activate_features else H]
    for W in Ws[:-1]:
        out.append(activate(W @ out[-1], activation))
    return out


def preactivations(Ws: Sequence, H, activation: str = "linear", activate_features: bool = False) -> list:
    """The arguments of every activation: [H (when ``activate_features``), W_1 s0(H), ..., W_{M-1} ...]; empty
    for linear layers. ReLU is not differentiable where one of these entries is 0 (a kink)."""
    if activation == "linear":
        return []
    out = [H] if activate_features else []
    x = activate(H, activation) if activate_features else H
    for W in Ws[:-1]:
        x = W @ x
        out.append(x)
        x = activate(x, activation)
    return out


def classifiers_after(Ws: Sequence) -> list:
    """For each layer m = 1..M, the map from the features entering layer m to the logits (bias excluded), linear
    layers: [W_M..W_1, W_M..W_2, ..., W_M]."""
    return [product(Ws[m:]) for m in range(len(Ws))]


def logits(Ws: Sequence, H, b: Optional[object] = None, activation: str = "linear",
           activate_features: bool = False):
    """Z = W_M s(... s(W_1 s0(H))) + b 1^T (K x N); linear layers are evaluated right to left (cheapest when
    N >> d)."""
    Z = activate(H, activation) if activate_features else H
    for m, W in enumerate(Ws):
        Z = W @ Z
        if m < len(Ws) - 1:
            Z = activate(Z, activation)
    if b is not None:
        Z = Z + b[:, None]
    return Z
