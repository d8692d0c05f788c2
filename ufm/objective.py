"""The canonical UFM objective as a pure jax function of a parameter pytree.

Parameters are a dict pytree::

    {"W": (W_1, ..., W_M),   # learnable layers, first to classifier; W_M omitted when the classifier is fixed
     "H": H,                 # d x N features, columns grouped by class
     "b": b}                 # K bias, present only when bias != "none"

and the dynamic data a dict of arrays (``Problem.data()``): ``lambda_W`` (M,), ``lambda_H``, ``lambda_b``,
``targets`` (K x N) and, for a fixed classifier, ``classifier`` (K x d). Shapes, the loss and the bias mode
are static, so one compilation serves every lambda.

    L = (1/N) sum_i loss(W_M..W_1 h_i + b, t_i) + sum_m lambda_W[m]/2 ||W_m||^2 + lambda_H/2 ||H||^2
        + lambda_b/2 ||b||^2        (bias "free": no lambda_b term; bias "none": b = 0)
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ufm import losses


def layers(params: dict, data: dict) -> list:
    """All M layers, first to classifier (the fixed classifier appended when it is not learnable)."""
    Ws = list(params["W"])
    if "classifier" in data:
        Ws.append(data["classifier"])
    return Ws


def product(Ws: Sequence) -> jax.Array:
    """W = W_M ... W_1 (K x d)."""
    out = Ws[0]
    for W in Ws[1:]:
        out = W @ out
    return out


def logits(params: dict, data: dict) -> jax.Array:
    """Z = W_M ... W_1 H + b 1^T (K x N), evaluated right to left (cheapest for N >> d)."""
    Z = params["H"]
    for W in layers(params, data):
        Z = W @ Z
    if "b" in params:
        Z = Z + params["b"][:, None]
    return Z


def penalty(params: dict, data: dict, bias: str):
    """sum_m lambda_W[m]/2 ||W_m||^2 + lambda_H/2 ||H||^2 [+ lambda_b/2 ||b||^2 for a regularised bias]."""
    value = 0.5 * data["lambda_H"] * jnp.sum(params["H"] ** 2)
    for lam, W in zip(data["lambda_W"], params["W"]):
        value = value + 0.5 * lam * jnp.sum(W * W)
    if bias == "regularized":
        value = value + 0.5 * data["lambda_b"] * jnp.sum(params["b"] ** 2)
    return value


def make_objective(loss: str, bias: str):
    """The canonical objective ``f(params, data) -> scalar`` for a loss name and a bias mode."""
    loss_obj = losses.get(loss)

    def f(params, data):
        Z = logits(params, data)
        value = loss_obj.mean(Z, data["targets"])
        return value + penalty(params, data, bias)

    return f


def _lambda_W_learnable(problem) -> np.ndarray:
    lw = np.asarray(problem.lambda_W, dtype=np.float64)
    return lw[:-1] if problem.classifier_fixed else lw


def problem_data(problem, dtype=None) -> dict:
    """``Problem.data()`` as jax arrays, lambda_W restricted to the learnable layers."""
    data = problem.data()
    data["lambda_W"] = _lambda_W_learnable(problem)
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    return {k: jnp.asarray(v, dtype=dtype) for k, v in data.items()}


def param_shapes(problem) -> dict:
    """Shapes of the parameter pytree of ``problem``."""
    K, d, M = problem.K, problem.d, problem.depth
    Ws = [(d, d)] * (M - 1) + [(K, d)]
    if problem.classifier_fixed:
        Ws = Ws[:-1]
    shapes = {"W": tuple(Ws), "H": (d, problem.N)}
    if problem.bias != "none":
        shapes["b"] = (K,)
    return shapes


def init_params(problem, key, scale: float = 0.1, dtype=None) -> dict:
    """Random initialisation: every entry i.i.d. N(0, scale^2) (the papers use scale 0.1), bias 0."""
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    shapes = param_shapes(problem)
    keys = jax.random.split(key, len(shapes["W"]) + 1)
    params = {"W": tuple(scale * jax.random.normal(k, s, dtype) for k, s in zip(keys[:-1], shapes["W"])),
              "H": scale * jax.random.normal(keys[-1], shapes["H"], dtype)}
    if "b" in shapes:
        params["b"] = jnp.zeros(shapes["b"], dtype)
    return params


def params_from_arrays(problem, weights: Sequence, features, bias: Optional[np.ndarray] = None,
                       dtype=None) -> dict:
    """Build a parameter pytree from explicit matrices (``weights`` first layer to classifier; the fixed
    classifier may be included or left out). Shapes are checked with clear errors."""
    from ufm.problem import ProblemError

    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    shapes = param_shapes(problem)
    weights = list(weights)
    if problem.classifier_fixed and len(weights) == problem.depth:
        weights = weights[:-1]
    if len(weights) != len(shapes["W"]):
        raise ProblemError("weights", f"expected {len(shapes['W'])} learnable layer matrices, got {len(weights)}")
    for m, (W, s) in enumerate(zip(weights, shapes["W"])):
        if np.shape(W) != s:
            raise ProblemError("weights", f"layer {m + 1} must have shape {s}, got {np.shape(W)}")
    if np.shape(features) != shapes["H"]:
        raise ProblemError("features", f"must have shape (d, N) = {shapes['H']}, got {np.shape(features)}")
    params = {"W": tuple(jnp.asarray(W, dtype) for W in weights), "H": jnp.asarray(features, dtype)}
    if "b" in shapes:
        b = np.zeros(shapes["b"]) if bias is None else bias
        if np.shape(b) != shapes["b"]:
            raise ProblemError("bias", f"must have shape {shapes['b']}, got {np.shape(b)}")
        params["b"] = jnp.asarray(b, dtype)
    return params


def evaluate(problem, weights: Sequence, features, bias: Optional[np.ndarray] = None) -> float:
    """The canonical objective of ``problem`` at explicit parameters (float64 when x64 is on)."""
    params = params_from_arrays(problem, weights, features, bias)
    f = make_objective(problem.loss, problem.bias)
    return float(f(params, problem_data(problem)))
