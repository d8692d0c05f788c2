"""The canonical UFM objective as a pure jax function of a parameter pytree, full or class-reduced.

Parameters are a dict pytree::

    {"W": (W_1, ..., W_M),   # learnable layers, first to classifier; W_M omitted when the classifier is fixed
     "H": H,                 # d x C feature columns
     "b": b}                 # K bias, present only when bias != "none"

and the data a dict of arrays: ``lambda_W`` (learnable layers), ``lambda_H``, ``lambda_b``, ``targets``
(K x C; for one-hot targets with a loss that has ``per_label``, integer ``labels`` (C,) instead, evaluated in
column blocks: :func:`streamed_loss`), ``weights`` (C,) and ``scale`` (C,), plus ``classifier`` (K x d) when
it is fixed. Shapes, the loss, the bias mode and the layer kind (``ufm.forward``) are static, so one
compilation serves every lambda (and, reduced, every class count)::

    f = sum_c weights_c loss(W_M s(..s(W_1 (scale_c h_c))) + b, t_c) + sum_m lambda_W[m]/2 ||W_m||^2
        + lambda_H/2 ||H||^2 + lambda_b/2 ||b||^2        (bias "free": no lambda_b term; "none": b = 0)

**Full problem** (``reduce=False``): one column per sample, C = N, weights 1/N, scale 1: the canonical
objective of docs/theory.md section 1.

**Class-reduced problem** (``reduce=True``; docs/theory.md section 4): one column per distinct target column
(per class for one-hot labels), C = number of groups, with m_c samples in group c: weights m_c / N and
scale 1/sqrt(m_c). The column h_c is sqrt(m_c) times the group's common feature, so that ||H||^2 is the full
feature penalty and the reduced problem is the full one restricted to group-collapsed features in an
orthonormal basis: same values, same gradient norms, same curvature. Every minimiser of the full problem
has a collapsed counterpart of the same value (Jensen: the per-sample objective is convex in h_i), and with
lambda_H > 0 every stationary point of the full problem is collapsed. :func:`lift` maps reduced parameters to
full ones (h_i = h_c / sqrt(m_c) for every sample i of group c), :func:`collapse` the other way (the
orthogonal projection onto collapsed features).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ufm import forward, losses
from ufm.errors import ProblemError


class Groups(NamedTuple):
    """Samples grouped by identical target columns: ``of_sample`` (N,) group index of each sample,
    ``sizes`` (C,) group sizes m_c, ``targets`` (K x C) the groups' targets, in order of first appearance
    (so for one-hot labels group c is class c, and ``targets`` is None: the identity, never built for nothing)."""

    of_sample: np.ndarray
    sizes: np.ndarray
    targets: np.ndarray


def groups(problem) -> Groups:
    """The groups of identical target columns of ``problem`` (module docstring)."""
    if problem.samples is None:  # one-hot labels grouped by class: no need to compare columns
        return Groups(problem.labels(), np.asarray(problem.counts, np.int64), None)
    T = problem.targets()
    _, first, inverse, sizes = np.unique(T.T, axis=0, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")  # groups in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return Groups(rank[inverse.ravel()], sizes[order].astype(np.int64), T[:, first[order]])


def columns(problem, reduce: bool) -> int:
    """Number C of feature columns of the full (N) or the reduced (number of groups) problem; nothing of size
    N is built for one-hot targets (their groups are the K classes)."""
    if not reduce:
        return problem.N
    return problem.K if problem.samples is None else len(groups(problem).sizes)


def to_sphere(X, radius, axis=0):
    """radius * X / ||X|| along ``axis`` (columns: axis 0; rows: axis 1)."""
    return radius * X / jnp.sqrt(jnp.sum(X * X, axis=axis, keepdims=True))


def embed(params: dict, data: dict) -> dict:
    """The point of a normalised UFM (docs/theory.md, "Normalised UFMs") that raw parameters stand for: each
    actual feature column (``scale_c h_c``) rescaled to ``feature_radius``, each classifier row to
    ``classifier_radius`` (radii present in ``data`` only for normalised problems; otherwise ``params``
    itself). A smooth, idempotent map (away from 0): the objective is ``f(embed(x))``, constant along each
    column's and row's ray, and ``embed`` restricted to a neighbourhood of the sphere is its metric projection
    (a second-order retraction), so at points on the spheres the gradient of ``f(embed(x))`` is the
    Riemannian gradient and its Hessian on the tangent space the Riemannian Hessian (Absil &
    Malick 2012, "Projection-like retractions on matrix manifolds"); the radial directions are exact null directions."""
    if "feature_radius" not in data and "classifier_radius" not in data:
        return params
    out = dict(params)
    if "feature_radius" in data:
        scale = data["scale"][None, :]
        out["H"] = to_sphere(params["H"] * scale, data["feature_radius"], 0) / scale
    if "classifier_radius" in data:
        Ws = list(params["W"])
        Ws[-1] = to_sphere(Ws[-1], data["classifier_radius"], 1)
        out["W"] = tuple(Ws)
    return out


def project(problem, params: dict, *, reduce: bool = False) -> dict:
    """:func:`embed` of ``problem``'s full or reduced parameters, as numpy float64 (the identity for
    unconstrained problems): the point on the spheres with the same objective value."""
    if not getattr(problem, "normalized", False):
        return params
    sizes = np.asarray(groups(problem).sizes, np.float64) if reduce else np.ones(np.shape(params["H"])[1])
    data = {"scale": jnp.asarray(1.0 / np.sqrt(sizes))}
    for field in ("feature_radius", "classifier_radius"):
        if getattr(problem, field) is not None:
            data[field] = getattr(problem, field)
    x = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    return jax.tree_util.tree_map(np.asarray, embed(x, data))


def penalty(params: dict, data: dict, bias: str):
    """sum_m lambda_W[m]/2 ||W_m||^2 + lambda_H/2 ||H||^2 [+ lambda_b/2 ||b||^2 for a regularised bias]."""
    value = 0.5 * data["lambda_H"] * jnp.sum(params["H"] ** 2)
    for lam, W in zip(data["lambda_W"], params["W"]):
        value = value + 0.5 * lam * jnp.sum(W * W)
    if bias == "regularized":
        value = value + 0.5 * data["lambda_b"] * jnp.sum(params["b"] ** 2)
    return value


def layers(params: dict, data: dict) -> list:
    """All M layers, first to classifier (the fixed classifier appended when it is not learnable)."""
    Ws = list(params["W"])
    if "classifier" in data:
        Ws.append(data["classifier"])
    return Ws


def logits(params: dict, data: dict, activation: str = "linear", activate_features: bool = False) -> jax.Array:
    """Z (K x C) of the forward model (``ufm.forward``, with its layer kind) at the (scaled) feature columns."""
    return forward.logits(layers(params, data), params["H"] * data["scale"][None, :], params.get("b"),
                          activation, activate_features)


#: problems with one-hot targets and at least this many logits (K x C) are evaluated in column blocks by the
#: fused rule of :func:`fused_block_loss`: 1.4-2x faster than the dense evaluation from K x C ~ 10^5 and within
#: 1.1x below (bench/bench_streamed.py, docs/benchmarks.md), but its programs take longer to trace, which a
#: fresh process pays even with the persistent cache (+0.15 s per `ufm solve`, +20% on `ufm check`); below
#: this size the dense evaluation is the faster whole
STREAM_MIN_LOGITS = 2 ** 16
#: logits per block (K x B) of a streamed evaluation
STREAM_BLOCK_LOGITS = 2 ** 20


def streamed_loss(per_label, params: dict, data: dict):
    """sum_c weights_c l(z_c, e_{y_c}) over column blocks of B = max(1, 2^20 / K) columns (the language-model
    regime: K = vocabulary size): memory O(K B + (K + C) d) instead of O(K C) for targets and logits. The loss
    of the product W = W_M ... W_1 (K x d) and the scaled features goes through :func:`fused_block_loss`, whose
    derivative is its own rule: one pass over the blocks gives the value and the gradient together. Exactly the
    dense sum (blocks add up in another order)."""
    Wp = forward.product(layers(params, data))  # K x d (linear layers)
    Hs = params["H"] * data["scale"][None, :]
    b = params.get("b")
    K = Wp.shape[0]
    Hb, yb, wb = column_blocks(Hs, data["labels"], data["weights"], K)
    return fused_block_loss(per_label)(Wp, Hb, jnp.zeros((K,), Hs.dtype) if b is None else b, yb, wb)


def column_blocks(H, labels, weights, K: int) -> tuple:
    """The columns of ``H`` (d x C), their labels and weights in blocks of B = max(1, 2^20 / K) columns:
    ``(Hb, yb, wb)`` of shapes nb x d x B, nb x B, nb x B; the last block padded with columns of weight 0."""
    d, C = H.shape
    B = max(1, min(C, STREAM_BLOCK_LOGITS // max(K, 1)))
    nb = -(-C // B)
    pad = nb * B - C
    Hb = jnp.pad(H, ((0, 0), (0, pad))).reshape(d, nb, B).transpose(1, 0, 2)
    return Hb, jnp.pad(labels, (0, pad)).reshape(nb, B), jnp.pad(weights, (0, pad)).reshape(nb, B)


@functools.lru_cache(maxsize=None)
def fused_block_loss(per_label):
    """``loss(W, Hb, b, yb, wb) = sum_j sum_c wb[j, c] l(W Hb[j][:, c] + b, e_{yb[j, c]})`` over blocks j of
    columns (``Hb``: nb x d x B, ``yb``/``wb``: nb x B), with a ``jax.custom_jvp`` rule. Evaluated alone it
    forms one block of K x B logits at a time (one matmul per block). Differentiated, one scan over the blocks
    forms each block's logits Z_j once, its loss and G_j = dl/dZ_j (the softmax minus the one-hot for CE), and
    accumulates the gradients g_W = sum_j G_j Hb_j^T, g_b = sum_j G_j 1 and g_Hj = W^T G_j (three matmuls per
    block, no block stored for a backward pass); the tangent is <g_W, dW> + <g_H, dH> + <g_b, db> +
    <l, dw>. Reverse mode transposes that linear map (the gradients are its residuals: O((K + C) d) memory);
    forward-over-reverse Hessian-vector products (``ufm.curvature``) and ``jax.hessian`` (``ufm.newton``)
    differentiate the scan that forms the gradients. Cached per ``per_label``: one function, one compilation."""

    @jax.custom_jvp
    def loss(W, Hb, b, yb, wb):
        def step(total, xs):
            h, y, w = xs
            return total + jnp.sum(w * per_label(W @ h + b[:, None], y)), None

        return jax.lax.scan(step, jnp.zeros((), W.dtype), (Hb, yb, wb))[0]

    def value_and_gradients(W, Hb, b, yb, wb):
        def step(carry, xs):
            total, gW, gb = carry
            h, y, w = xs
            per_column, pullback = jax.vjp(lambda z: per_label(z, y), W @ h + b[:, None])
            (G,) = pullback(w)  # dl/dZ of the block, weighted
            return (total + jnp.sum(w * per_column), gW + G @ h.T, gb + jnp.sum(G, axis=1)), (W.T @ G, per_column)

        zeros = (jnp.zeros((), W.dtype), jnp.zeros_like(W), jnp.zeros_like(b))
        (total, gW, gb), (gH, per_column) = jax.lax.scan(step, zeros, (Hb, yb, wb))
        return total, gW, gH, gb, per_column

    @loss.defjvp
    def loss_jvp(primals, tangents):
        W, Hb, b, yb, wb = primals
        dW, dHb, db, _, dwb = tangents
        total, gW, gH, gb, per_column = value_and_gradients(W, Hb, b, yb, wb)
        return total, jnp.vdot(gW, dW) + jnp.vdot(gH, dHb) + jnp.vdot(gb, db) + jnp.vdot(per_column, dwb)

    return loss


@functools.lru_cache(maxsize=None)
def make_objective(loss: str, bias: str, activation: str = "linear", activate_features: bool = False):
    """The objective ``f(params, data) -> scalar`` for a loss name, a bias mode and a layer kind (module
    docstring; ``ufm.forward``). Cached: the same function object (and so the same compilation) for the same
    loss, bias and layer kind. Data with integer ``labels`` instead of ``targets`` (:func:`problem_data`:
    one-hot targets, linear layers, a loss with ``per_label``) is evaluated in column blocks
    (:func:`streamed_loss`)."""
    loss_obj = losses.get(loss)

    def f(params, data):
        params = embed(params, data)
        if "labels" in data:
            value = streamed_loss(loss_obj.per_label, params, data)
        else:
            value = loss_obj.weighted(logits(params, data, activation, activate_features), data["targets"],
                                      data["weights"])
        return value + penalty(params, data, bias)

    return f


def objective_of(problem):
    """:func:`make_objective` for ``problem``'s loss, bias and layer kind."""
    return make_objective(problem.loss, problem.bias, problem.activation, problem.activate_features)


@functools.lru_cache(maxsize=None)
def value_fn(loss: str, bias: str, activation: str = "linear", activate_features: bool = False):
    """:func:`make_objective` compiled (``jax.jit``): the objective at one point, for code outside the loop
    (evaluated op by op, each primitive compiles on its own)."""
    return jax.jit(make_objective(loss, bias, activation, activate_features))


@functools.lru_cache(maxsize=None)
def value_grad_fn(loss: str, bias: str):
    """``jax.jit(jax.value_and_grad(f))`` of :func:`make_objective` (one compilation per loss, bias and shapes)."""
    return jax.jit(jax.value_and_grad(make_objective(loss, bias)))


def _lambda_W_learnable(problem) -> np.ndarray:
    lw = np.asarray(problem.lambda_W, dtype=np.float64)
    return lw[:-1] if problem.classifier_fixed else lw


def streams_at(loss: str, one_hot: bool, K: int, C: int, activation: str = "linear") -> bool:
    """The rule of :func:`streams` from the sizes alone (for size checks before a Problem is built): one-hot
    targets, linear layers, a loss with ``per_label``, and at least :data:`STREAM_MIN_LOGITS` logits K x C."""
    return (one_hot and losses.get(loss).per_label is not None and activation == "linear"
            and K * C >= STREAM_MIN_LOGITS)


def streams(problem, reduce: bool) -> bool:
    """Whether the objective of ``problem`` is evaluated in column blocks (:func:`streamed_loss`)
    (:func:`streams_at`)."""
    return streams_at(problem.loss, problem.samples is None, problem.K, columns(problem, reduce),
                      problem.activation)


def problem_data(problem, dtype=None, *, reduce: bool = False, stream: Optional[bool] = None) -> dict:
    """The data of the full (``reduce=False``) or class-reduced objective of ``problem`` as jax arrays: the
    decays, the targets (K x C) or, streamed (``stream``; default :func:`streams`), the integer labels (C,),
    the column weights and scales, and the fixed classifier."""
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    stream = streams(problem, reduce) if stream is None else bool(stream)
    if stream and (problem.samples is not None or losses.get(problem.loss).per_label is None):
        raise ProblemError("stream", "a streamed evaluation needs one-hot targets and a loss with per_label")
    N = float(problem.N)
    if reduce:
        g = groups(problem)
        sizes = g.sizes.astype(np.float64)
        weights, scale = sizes / N, 1.0 / np.sqrt(sizes)
        labels = np.arange(len(sizes))  # one-hot groups are the classes, in class order
        targets = None if stream else (np.eye(problem.K) if g.targets is None else g.targets)
    else:
        labels = problem.labels()
        targets = None if stream else problem.targets()
        weights, scale = np.full(labels.shape[0], 1.0 / N), np.ones(labels.shape[0])
    data = {"lambda_W": _lambda_W_learnable(problem), "lambda_H": problem.lambda_H, "lambda_b": problem.lambda_b,
            "weights": weights, "scale": scale}
    if problem.classifier_fixed:
        data["classifier"] = problem.classifier_matrix()
    for field in ("feature_radius", "classifier_radius"):
        if getattr(problem, field, None) is not None:
            data[field] = getattr(problem, field)
    out = {k: jnp.asarray(v, dtype=dtype) for k, v in data.items()}
    if stream:
        out["labels"] = jnp.asarray(labels, dtype=jnp.int32)
    else:
        out["targets"] = jnp.asarray(targets, dtype=dtype)
    return out


def param_shapes(problem, *, reduce: bool = False, width: Optional[int] = None) -> dict:
    """Shapes of the parameter pytree of ``problem``: full (H is d x N) or reduced (H is d x C); ``width``
    replaces the hidden width d (the reduced search of ``ufm.reduced`` works at width min(d, K))."""
    K, M = problem.K, problem.depth
    d = problem.d if width is None else int(width)
    Ws = [(d, d)] * (M - 1) + [(K, d)]
    if problem.classifier_fixed:
        Ws = Ws[:-1]
    shapes = {"W": tuple(Ws), "H": (d, columns(problem, reduce))}
    if problem.bias != "none":
        shapes["b"] = (K,)
    return shapes


def count_params(problem, *, reduce: bool = False) -> int:
    """Number of scalar parameters of the full or reduced problem."""
    shapes = param_shapes(problem, reduce=reduce)
    dims = list(shapes["W"]) + [shapes["H"]] + ([shapes["b"]] if "b" in shapes else [])
    return int(sum(int(np.prod(s)) for s in dims))


def start_key(seed: int, restart: int) -> jax.Array:
    """The PRNG key of random start ``restart`` of seed ``seed``: one rule for ``solve``, sweeps, plots and
    certificates (start r does not depend on how many restarts are run)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), restart)


@functools.partial(jax.jit, static_argnames=("shapes_W", "shape_H", "shape_b", "dtype"))
def _random_params(key, scale, *, shapes_W, shape_H, shape_b, dtype) -> dict:
    keys = jax.random.split(key, len(shapes_W) + 1)
    params = {"W": tuple(scale * jax.random.normal(k, s, dtype) for k, s in zip(keys[:-1], shapes_W)),
              "H": scale * jax.random.normal(keys[-1], shape_H, dtype)}
    if shape_b is not None:
        params["b"] = jnp.zeros(shape_b, dtype)
    return params


def init_params(problem, key, scale: float = 0.1, dtype=None, *, reduce: bool = False) -> dict:
    """Random start: every entry i.i.d. N(0, scale^2) (the papers use scale 0.1), bias 0. Reduced, the columns
    have the distribution of the projection of a full random start onto collapsed features (entries
    N(0, scale^2) in the orthonormal basis of the module docstring). One compiled program per shape (drawn
    op by op, the draws were a dozen small compilations per process)."""
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    shapes = param_shapes(problem, reduce=reduce)
    as_tuple = lambda s: tuple(int(v) for v in s)  # noqa: E731
    return _random_params(key, scale, shapes_W=tuple(as_tuple(s) for s in shapes["W"]),
                          shape_H=as_tuple(shapes["H"]),
                          shape_b=as_tuple(shapes["b"]) if "b" in shapes else None, dtype=jnp.dtype(dtype))


def lift(problem, params: dict) -> dict:
    """Full parameters (numpy) from reduced ones: h_i = h_c / sqrt(m_c) for every sample i of group c."""
    g = groups(problem)
    H = np.asarray(params["H"], np.float64) / np.sqrt(g.sizes)[None, :]
    out = {**params, "H": H[:, g.of_sample]}
    return jax.tree_util.tree_map(np.asarray, out)


def collapse(problem, params: dict) -> dict:
    """Reduced parameters from full ones: h_c = (1/sqrt(m_c)) sum_{i in c} h_i (the orthogonal projection onto
    group-collapsed features, in the reduced basis; exact inverse of :func:`lift` on collapsed features)."""
    g = groups(problem)
    H = np.asarray(params["H"], np.float64)
    sums = np.zeros((H.shape[0], len(g.sizes)))
    np.add.at(sums.T, g.of_sample, H.T)
    return {**jax.tree_util.tree_map(np.asarray, params), "H": sums / np.sqrt(g.sizes)[None, :]}


def params_from_arrays(problem, weights: Sequence, features, bias: Optional[np.ndarray] = None,
                       dtype=None) -> dict:
    """Build a full parameter pytree from explicit matrices (``weights`` first layer to classifier; the fixed
    classifier may be included or left out). Shapes are checked with clear errors."""
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


def check_params(problem, params, *, reduce: bool = False, field: str = "init") -> None:
    """Raise ProblemError unless ``params`` is a parameter pytree of ``problem``'s shapes."""
    shapes = param_shapes(problem, reduce=reduce)
    ok = (isinstance(params, dict) and set(params) == set(shapes)
          and isinstance(params["W"], (tuple, list)) and len(params["W"]) == len(shapes["W"])
          and all(np.shape(W) == s for W, s in zip(params["W"], shapes["W"]))
          and np.shape(params["H"]) == shapes["H"]
          and ("b" not in shapes or np.shape(params["b"]) == shapes["b"]))
    if not ok:
        raise ProblemError(field, f"a start must be a parameter pytree with shapes {shapes} "
                                  "(see ufm.objective.params_from_arrays)")


def evaluate(problem, weights: Sequence, features, bias: Optional[np.ndarray] = None) -> float:
    """The canonical objective of ``problem`` at explicit parameters (float64 when x64 is on)."""
    params = params_from_arrays(problem, weights, features, bias)
    return float(value_fn(problem.loss, problem.bias, problem.activation, problem.activate_features)(
        params, problem_data(problem)))
