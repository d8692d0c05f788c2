"""Per-sample losses of the UFM: the one seam for adding a loss.

A :class:`Loss` maps logits ``Z in R^{K x N}`` and targets ``T in R^{K x N}`` (column i is sample i's target:
one-hot ``e_{y_i}`` for plain labels, a soft vector summing to 1 for mixup or label smoothing) to per-sample
losses (N,), and carries the mathematics the rest of ``ufm`` needs, so that a new loss is one
:func:`register` call and nothing else changes:

- ``per_sample(Z, T)``: the loss (jax-traceable);
- ``conjugate(V, T)``: the convex conjugate l*(v; t) = sup_z <v, z> - l(z, t) per column (+inf outside its
  domain); with ``center_dual`` it gives the convex certificate of ``ufm.convex`` its rigorous lower bound
  (Fenchel-Young: l(z, t) + l*(v, t) >= <v, z>, with equality at v = grad_z l(z, t));
- ``center_dual(V, T, w)``: a point of dom l* with sum_i w_i v_i = 0 built from gradients V (the dual
  constraint of a free bias); the default subtracts the weighted mean, right for losses whose conjugate is
  finite everywhere;
- ``smoothness``: L with ||grad^2_z l(z, t)||_2 <= L (the step of the convex solver);
- ``shift_invariant``: l(z + c 1, t) = l(z, t) (softmax losses): with a free bias b -> b + c 1 is an exact
  symmetry (the Hessian check projects it out);
- ``attains_minimum``: inf_z l(z, t) is attained at a finite z (MSE) or only approached as ||z|| -> infinity
  (CE): then every weight decay must be positive for the UFM to have a minimiser (:meth:`Loss.validate`).
  Losses that attain their minimum have optimal logits of the scale of the targets (structured starts of the
  reduced search are scaled accordingly).

Built-in (Zhu et al. 2021; Dang et al. 2023; docs/theory.md section 1):

- ``ce``:  l(z, t) = logsumexp(z) - <t, z>, evaluated stably (:func:`cross_entropy`);
- ``mse``: l(z, t) = 1/2 ||z - t||^2          (Dang et al. 2023 write 1/(2N)||Z - Y||_F^2: the same).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ufm.errors import ProblemError


def _center_weighted(V, T, w):
    """Default dual centring: subtract the w-weighted mean column (valid when dom l* is the whole space)."""
    return V - (V @ w / jnp.sum(w))[:, None]


@dataclasses.dataclass(frozen=True)
class Loss:
    """A registered loss (module docstring).

    Attributes:
      name: the name a :class:`ufm.Problem` uses.
      per_sample: ``(Z, T) -> (N,)`` losses; jax-traceable, Z and T of shape (K, N); convex in Z.
      conjugate: ``(V, T) -> (N,)`` the convex conjugate l*(v_i; t_i), or None (no convex certificate).
      center_dual: ``(V, T, w) -> V'`` in dom l* with sum_i w_i v'_i = 0 (see the module docstring).
      smoothness: Lipschitz constant of grad_z l (largest Hessian eigenvalue bound).
      shift_invariant: l(z + c 1, t) = l(z, t) for every c.
      attains_minimum: inf_z l(z, t) is attained at finite logits.
      family: ``"cross_entropy"``, ``"squared_error"`` or ``""``: which papers' normalisations apply
        (``ufm.from_convention`` rescales a squared error written with another factor than 1/2).
      per_label: optional ``(Z, labels) -> (C,)``: the loss for one-hot targets given as integer labels; with
        it, problems with many classes are evaluated in column blocks without a K x C target or logit matrix
        (``ufm.objective``, docs/theory.md section 13).
      description: one line for ``--help`` and reports.
      convex: l(., t) is convex in the logits. The class reduction, the master reduction (its search) and the
        convex certificate presume it; a non-convex loss (focal) makes them refuse, naming why.
      params: the parameters of a loss made by a :class:`LossFamily`, as ``((name, value), ...)``.
      classes: the number of classes K the loss is written for (per-class parameters), or 0 (any K).
    """

    name: str
    per_sample: Callable
    conjugate: Optional[Callable] = None
    center_dual: Callable = _center_weighted
    smoothness: float = 1.0
    shift_invariant: bool = False
    attains_minimum: bool = True
    family: str = ""
    per_label: Optional[Callable] = None
    description: str = ""
    convex: bool = True
    params: tuple = ()
    classes: int = 0

    def validate(self, problem) -> None:
        """Raise ProblemError if the UFM of ``problem`` has no minimiser with this loss.

        If the loss does not attain its minimum, every decay must be positive (the infimum is approached
        only as the parameters grow). If it does, decays must be all positive or all zero: with some factor
        of the product W_M..W_1 H penalised and another not, the penalty can be driven to 0 by rescaling the
        factors, so the infimum is approached and not attained (unless the loss-optimal logits are 0).
        A fixed classifier is not a factor, nor is a factor on a sphere (``feature_radius``,
        ``classifier_radius``): it is bounded, and its decay is a constant."""
        if self.classes and problem.K != self.classes:
            raise ProblemError("loss", f"{self.name!r} has per-class parameters for K={self.classes} classes, "
                                       f"the problem has K={problem.K}")
        learnable = problem.lambda_W if not problem.classifier_fixed else problem.lambda_W[:-1]
        if getattr(problem, "classifier_radius", None) is not None:
            learnable = learnable[:-1]
        free_H = getattr(problem, "feature_radius", None) is None
        decays = ((problem.lambda_H,) if free_H else ()) + tuple(learnable)
        if not self.attains_minimum:
            if free_H and problem.lambda_H <= 0:
                raise ProblemError("lambda_H", f"must be > 0 with loss {self.name!r}: without feature decay "
                                               "the infimum is approached only as ||H|| -> infinity")
            if any(v <= 0 for v in learnable):
                raise ProblemError("lambda_W", f"every learnable layer needs lambda_W > 0 with loss "
                                               f"{self.name!r}: otherwise no minimiser exists")
        elif any(v > 0 for v in decays) and any(v <= 0 for v in decays):
            field = "lambda_H" if problem.lambda_H <= 0 else "lambda_W"
            raise ProblemError(field, "weight decays must be all > 0 or all 0 (learnable layers and features): "
                                      "with one factor of W_M..W_1 H unpenalised the penalty of the others can be "
                                      "scaled to 0, so no minimiser exists")

    def mean(self, Z, T):
        """(1/N) sum_i l(z_i, t_i): the data term of the canonical objective."""
        return jnp.mean(self.per_sample(Z, T))

    def weighted(self, Z, T, w):
        """sum_i w_i l(z_i, t_i) (w: sample weights summing to 1; the class-reduced objective)."""
        return jnp.sum(w * self.per_sample(Z, T))


_REGISTRY: dict[str, Loss] = {}


def register(loss: Loss, *, overwrite: bool = False) -> Loss:
    """Add a loss to the registry (``overwrite=True`` to replace one of the same name)."""
    if not isinstance(loss, Loss):
        raise TypeError(f"register() takes a ufm.losses.Loss, got {type(loss).__name__}")
    if loss.name in _REGISTRY and not overwrite:
        raise ValueError(f"a loss named {loss.name!r} is already registered")
    _REGISTRY[loss.name] = loss
    return loss


def get(name: str) -> Loss:
    """The loss of a registered name, or of a family with its parameters: ``"focal"`` (the defaults),
    ``"focal(gamma=1)"``, ``"label-smoothing(0.2)"`` (:func:`parse`)."""
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    family, values = parse(name)
    return _family_loss(family, values)


def canonical(name: str) -> str:
    """The name a :class:`ufm.Problem` stores: registered names as they are, a family's loss with every
    parameter spelled out (``"focal"`` -> ``"focal(gamma=2)"``), so equal losses have equal names."""
    return get(name).name


def available() -> tuple[str, ...]:
    """Registered loss names and loss families (a family's name alone means its default parameters)."""
    return tuple(_REGISTRY) + tuple(_FAMILIES)


# ------------------------------------------------------------------------------------------ parametrised losses
@dataclasses.dataclass(frozen=True)
class LossFamily:
    """Losses with parameters, one seam: ``make(**params) -> Loss``. A loss of the family is named
    ``"name(p1=v1, p2=v2)"`` (every parameter spelled out: :func:`canonical`); ``"name"`` alone takes the
    defaults. ``check(params)`` returns an error message for parameters outside the family's range, or ``""``.

    Attributes:
      name: the family name; defaults: ``((parameter, default), ...)`` in order (positional values follow it);
      make: ``(**params) -> Loss`` (the Loss's name is set by the registry); check: parameter validation;
      description: one line, with the parameters' meaning and range; vectors: the parameters that may be
      per-class vectors, written ``v_1/v_2/.../v_K`` (a tuple of floats; a single value stays a float).
    """

    name: str
    defaults: tuple
    make: Callable
    check: Callable = lambda params: ""
    description: str = ""
    vectors: tuple = ()


_FAMILIES: dict[str, LossFamily] = {}


def register_family(family: LossFamily, *, overwrite: bool = False) -> LossFamily:
    if family.name in _FAMILIES and not overwrite:
        raise ValueError(f"a loss family named {family.name!r} is already registered")
    if family.name in _REGISTRY:
        raise ValueError(f"{family.name!r} is already a loss name")
    _FAMILIES[family.name] = family
    _family_loss.cache_clear()
    return family


def _format_value(v) -> str:
    if isinstance(v, tuple):
        return "/".join(_format_value(x) for x in v)
    return repr(float(v)) if not float(v).is_integer() else str(int(v)) if abs(v) < 1e15 else repr(float(v))


def parse(name) -> tuple:
    """``"family(p=v, ...)"`` -> (family, ((p, v), ...)) with every parameter (defaults filled in); raises
    ProblemError (field ``loss``) naming the allowed names and parameters."""
    allowed = f"one of {sorted(_REGISTRY)} or a loss family {sorted(_FAMILIES)} with parameters, e.g. " \
              f"'focal(gamma=2)'"
    if not isinstance(name, str):
        raise ProblemError("loss", f"must be {allowed}, got {name!r}")
    text = name.strip()
    head, _, rest = text.partition("(")
    head = head.strip()
    if head not in _FAMILIES or (rest and not rest.rstrip().endswith(")")):
        hint = (" (the supervised contrastive loss couples samples and has no classifier: it is its own model, "
                "ufm.contrastive / `ufm supcon`)" if head.lower().replace("-", "") in ("supcon", "scl") else "")
        raise ProblemError("loss", f"must be {allowed}, got {name!r}{hint}")
    family = _FAMILIES[head]
    keys = [k for k, _ in family.defaults]
    values = dict(family.defaults)
    body = rest.rstrip()[:-1].strip() if rest else ""
    seen = set()
    for i, item in enumerate(x.strip() for x in body.split(",") if body):
        key, eq, val = item.partition("=")
        if not eq:
            key, val = (keys[i] if i < len(keys) else None), item
        key = (key or "").strip()
        if key not in values or key in seen:
            raise ProblemError("loss", f"{head!r} takes parameters {keys} (each once), got {name!r}")
        seen.add(key)
        parts = val.split("/") if key in family.vectors else [val]
        try:
            vs = tuple(float(x) for x in parts)
        except ValueError:
            kind = "a number or numbers v_1/.../v_K" if key in family.vectors else "a number"
            raise ProblemError("loss", f"{head}: parameter {key} must be {kind}, got {val.strip()!r}") from None
        if any(v != v or v in (float("inf"), float("-inf")) for v in vs):
            raise ProblemError("loss", f"{head}: parameter {key} must be finite, got {val.strip()!r}")
        values[key] = vs[0] if len(vs) == 1 else vs
    why = family.check(values)
    if why:
        raise ProblemError("loss", f"{head}: {why}, got {name!r}")
    return family, tuple((k, values[k] if isinstance(values[k], tuple) else float(values[k])) for k in keys)


@functools.lru_cache(maxsize=256)
def _family_loss(family: LossFamily, values: tuple) -> Loss:
    name = f"{family.name}({', '.join(f'{k}={_format_value(v)}' for k, v in values)})"
    return dataclasses.replace(family.make(**dict(values)), name=name, params=values)


# ------------------------------------------------------------------------------------------ cross-entropy
def cross_entropy(Z, T):
    """l_CE(z, t) = logsumexp(z) - <t, z> per column (softmax CE; t sums to 1), to full relative precision.

    With r = argmax_k t_k the identity l(z, t) = lse(z - z_r 1) - <t, z - z_r 1> holds for any t summing
    to 1; for one-hot t the second term is exactly 0 (it is summed over k != r, so that neither its value nor its
    gradient passes through the identically zero U_r). The first is log1p(sum_{k != r} e^{z_k - z_r}) when z_r is
    the largest logit (then it is tiny at a confident, well-classified sample and log1p keeps every digit),
    else m + log(e^{-m} + sum_{k != r} e^{z_k - z_r - m}) with m = max_k (z_k - z_r) > 0. The textbook form
    lse(z) - z_y loses every digit below eps |z_y|: at weight decay 1e-12 the optimal loss is ~1e-10 with
    logits ~25, so it is wrong in the 5th digit and its gradient p_y - 1 in the 6th; solving and certifying
    at small weight decay needs this form."""
    r = jnp.argmax(T, axis=0)
    other = jnp.arange(Z.shape[0])[:, None] != r[None, :]
    U = Z - jnp.take_along_axis(Z, r[None, :], axis=0)  # U[r] = 0 exactly
    # sum over k != r only: the k = r term is 0, and writing it would send a gradient -t_r into U_r that
    # cancels against +t_r in the chain rule of U = Z - z_r (losing every digit of the tiny gradient)
    return _lse_relative(U, other) - jnp.sum(jnp.where(other, T * U, 0.0), axis=0)


def cross_entropy_labels(Z, labels):
    """:func:`cross_entropy` with one-hot targets given as integer labels (C,): no K x C target matrix."""
    other = jnp.arange(Z.shape[0])[:, None] != labels[None, :]
    return _lse_relative(Z - jnp.take_along_axis(Z, labels[None, :], axis=0), other)


def _lse_relative(U, other):
    """log sum_k e^{U_k} for columns with U_r = 0 at the reference row (``other`` is False there), stably."""
    # the shift m cancels mathematically; without stop_gradient, autodiff of max splits its derivative among
    # tied maxima (e.g. at z = 0) and the log1p branch would get a wrong gradient
    m = jax.lax.stop_gradient(jnp.max(U, axis=0))  # >= 0
    S = jnp.sum(jnp.where(other, jnp.exp(U - m), 0.0), axis=0)
    return jnp.where(m > 0, m + jnp.log(jnp.exp(-m) + S), jnp.log1p(S))


def _plogp(T, V):
    """p log p for p = t + v, with log p = log t + log1p(v / t) where t > 0: a probability near its target
    (1 - 1e-11 at small weight decay) keeps every digit of its logarithm; 0 log 0 = 0."""
    P = T + V
    pos = T > 0
    log_p = jnp.where(pos, jnp.log(jnp.where(pos, T, 1.0)) + jnp.log1p(jnp.where(pos, V / jnp.where(pos, T, 1.0), 0.0)),
                      jnp.log(jnp.where(P > 0, P, 1.0)))
    return jnp.where(P > 0, P * log_p, 0.0)


def _ce_conjugate(V, T):
    """l*(v; t) = sum_k p_k log p_k with p = v + t when p is a probability vector, else +inf."""
    P = V + T
    tol = 1e-12
    feasible = jnp.all(P >= -tol, axis=0) & (jnp.abs(jnp.sum(V, axis=0)) <= tol * P.shape[0])
    return jnp.where(feasible, jnp.sum(_plogp(T, jnp.where(P >= 0, V, -T)), axis=0), jnp.inf)


def _ce_center_dual(V, T, w):
    """Gradients V = P - T (P columns of softmax probabilities) made to satisfy sum_i w_i v_i = 0 while p = v + t
    stays a probability vector: mix every p_i with one common probability vector u,
    p_i -> (1 - s) p_i + s u, with the smallest s in [0, 1] for which u = (q_t - (1 - s) q_p) / s >= 0, where
    q_p = sum_i w_i p_i and q_t = sum_i w_i t_i (both probability vectors up to the total weight). Written in
    V, never forming p - t again (which would cancel): v_i -> (1 - s) v_i + s (u - t_i)."""
    w = w / jnp.sum(w)
    qv, qt = V @ w, T @ w
    qp = qv + qt
    s = jnp.clip(jnp.max(qv / jnp.where(qp > 0, qp, 1.0)), 0.0, 1.0)
    u = jnp.where(s > 0, (qt - (1 - s) * qp) / jnp.where(s > 0, s, 1.0), qt)
    return (1 - s) * V + s * (u[:, None] - T)


# ------------------------------------------------------------------------------------------ squared error
def squared_error(Z, T):
    """l_MSE(z, t) = 1/2 ||z - t||^2 per column."""
    return 0.5 * jnp.sum((Z - T) ** 2, axis=0)


def squared_error_labels(Z, labels):
    """:func:`squared_error` with one-hot targets given as integer labels (C,), from the residual itself: the
    expanded form 1/2 (||z||^2 - 2 z_y + 1) cancels when z is near e_y (small weight decay) and loses the
    digits the solver needs (a relative error of 1e-10 in the objective at lambda = 1e-8)."""
    R = jnp.where(jnp.arange(Z.shape[0])[:, None] == labels[None, :], Z - 1.0, Z)
    return 0.5 * jnp.sum(R * R, axis=0)


def _mse_conjugate(V, T):
    """l*(v; t) = 1/2 ||v||^2 + <v, t>."""
    return 0.5 * jnp.sum(V ** 2, axis=0) + jnp.sum(V * T, axis=0)


def gradient(loss: Loss, Z, T):
    """grad_z l(z_i, t_i) per column (K x N)."""
    return jax.grad(lambda z: jnp.sum(loss.per_sample(z, T)))(Z)


CE = register(Loss("ce", cross_entropy, conjugate=_ce_conjugate, center_dual=_ce_center_dual, smoothness=0.5,
                   shift_invariant=True, attains_minimum=False, family="cross_entropy",
                   per_label=cross_entropy_labels, description="softmax cross-entropy, logsumexp(z) - z_y"))
MSE = register(Loss("mse", squared_error, conjugate=_mse_conjugate, smoothness=1.0, shift_invariant=False,
                    attains_minimum=True, family="squared_error", per_label=squared_error_labels,
                    description="squared error to one-hot targets, 1/2 ||z - e_y||^2"))


# ------------------------------------------------------------------------------------------ label smoothing
def _smoothed(T, epsilon):
    """(1 - epsilon) t + epsilon / K: the label-smoothed target of every column."""
    return (1.0 - epsilon) * T + epsilon / T.shape[0]


def _label_smoothing(epsilon: float) -> Loss:
    """Label-smoothed CE (Szegedy et al. 2016; in the UFM: Zhou et al. 2022, "Are all losses created equal? A
    neural collapse perspective", arXiv 2210.02192): l(z, t) = l_CE(z, (1 - eps) t + eps/K 1) -- the CE of
    :func:`cross_entropy` against the smoothed target, so its conjugate and dual centring are the CE's at that
    target. For one-hot t = e_y, with u = z - z_y: l = lse(u) - eps mean_k(u_k), evaluated as relative
    logsumexp (:func:`_lse_relative`). For 0 < eps < 1 the infimum over z is attained (the logit gap
    z_y - z_k = log(1 + K (1 - eps) / eps) at the optimum), so the UFM has a minimiser with all decays zero
    too."""

    def per_sample(Z, T):
        return cross_entropy(Z, _smoothed(T, epsilon))

    def per_label(Z, labels):
        other = jnp.arange(Z.shape[0])[:, None] != labels[None, :]
        U = Z - jnp.take_along_axis(Z, labels[None, :], axis=0)
        return _lse_relative(U, other) - epsilon * jnp.mean(U, axis=0)

    return Loss("label-smoothing", per_sample,
                conjugate=lambda V, T: _ce_conjugate(V, _smoothed(T, epsilon)),
                center_dual=lambda V, T, w: _ce_center_dual(V, _smoothed(T, epsilon), w),
                smoothness=0.5, shift_invariant=True, attains_minimum=True, family="cross_entropy",
                per_label=per_label, description="label-smoothed CE, CE against (1 - epsilon) e_y + epsilon/K")


register_family(LossFamily(
    "label-smoothing", (("epsilon", 0.1),), lambda epsilon: _label_smoothing(epsilon),
    check=lambda p: "" if 0.0 < p["epsilon"] < 1.0 else "epsilon must be in (0, 1)",
    description="label-smoothed CE (epsilon in (0, 1), default 0.1)"))


# ------------------------------------------------------------------------------------------ focal loss
def _neg_log_softmax(Z, T):
    """-log p_k(z) for every class k and column (K x N), with the column's reference class r = argmax t exact
    to relative precision (the other rows are -log p_r - (z_k - z_r))."""
    r = jnp.argmax(T, axis=0)
    other = jnp.arange(Z.shape[0])[:, None] != r[None, :]
    U = Z - jnp.take_along_axis(Z, r[None, :], axis=0)
    nll_r = _lse_relative(U, other)
    return nll_r[None, :] - U


def _focal_terms(nll, gamma):
    """(1 - p)^gamma (-log p) with 1 - p = -expm1(log p): exact where p is near 1 (the collapsed optimum)."""
    q = -jnp.expm1(-nll)
    return jnp.where(q > 0, jnp.where(q > 0, q, 1.0) ** gamma, 0.0 if gamma > 0 else 1.0) * nll


def _focal(gamma: float) -> Loss:
    """Focal loss (Lin et al. 2017; in the UFM: Zhou et al. 2022, arXiv 2210.02192):
    l(z, t) = sum_k t_k (1 - p_k)^gamma (-log p_k), p = softmax(z); gamma = 0 is the CE. For gamma > 0 it is
    NOT convex in z (Zhou et al. 2022 prove collapse for it without convexity), so the class reduction, the
    master reduction's search and the convex certificate refuse it; the solver works on the full problem."""

    def per_sample(Z, T):
        nll = _neg_log_softmax(Z, T)
        return jnp.sum(jnp.where(T > 0, T * _focal_terms(nll, gamma), 0.0), axis=0)

    def per_label(Z, labels):
        other = jnp.arange(Z.shape[0])[:, None] != labels[None, :]
        U = Z - jnp.take_along_axis(Z, labels[None, :], axis=0)
        return _focal_terms(_lse_relative(U, other), gamma)

    return Loss("focal", per_sample, conjugate=None, smoothness=1.0 + gamma, shift_invariant=True,
                attains_minimum=False, family="", per_label=per_label, convex=gamma == 0.0,
                description="focal loss (1 - p_y)^gamma (-log p_y)")


register_family(LossFamily(
    "focal", (("gamma", 2.0),), lambda gamma: _focal(gamma),
    check=lambda p: "" if 0.0 <= p["gamma"] <= 100.0 else "gamma must be in [0, 100]",
    description="focal loss (gamma >= 0, default 2; not convex for gamma > 0)"))


# ------------------------------------------------------------------------------------------ rescaled square loss
def _rescaled_square(scale: float, weight: float) -> Loss:
    """Rescaled square loss (Hui & Belkin 2021, "Evaluation of neural architectures trained with square loss
    vs cross-entropy in classification tasks", arXiv 2006.07322):

        l(z, t) = 1/2 sum_k w_k (z_k - scale t_k)^2,    w_k = 1 + (weight - 1) t_k,

    i.e. 1/2 [weight (z_y - scale)^2 + sum_{k != y} z_k^2] for one-hot t = e_y (their k and M); scale = weight =
    1 is ``mse``. For soft targets the weight interpolates linearly in t (a choice, documented in
    docs/theory.md). Conjugate: l*(v; t) = sum_k v_k^2 / (2 w_k) + scale t_k v_k."""

    def per_sample(Z, T):
        return 0.5 * jnp.sum((1.0 + (weight - 1.0) * T) * (Z - scale * T) ** 2, axis=0)

    def per_label(Z, labels):  # term by term (a difference sum z^2 - z_y^2 would cancel near the targets)
        target = jnp.arange(Z.shape[0])[:, None] == labels[None, :]
        return 0.5 * jnp.sum(jnp.where(target, weight * (Z - scale) ** 2, Z * Z), axis=0)

    def conjugate(V, T):
        return jnp.sum(V ** 2 / (2.0 * (1.0 + (weight - 1.0) * T)) + scale * T * V, axis=0)

    return Loss("mse-rescaled", per_sample, conjugate=conjugate, smoothness=max(1.0, weight), shift_invariant=False,
                attains_minimum=True, family="", per_label=per_label,
                description="rescaled square loss 1/2 [weight (z_y - scale)^2 + sum_{k != y} z_k^2]")


register_family(LossFamily(
    "mse-rescaled", (("scale", 1.0), ("weight", 1.0)), lambda scale, weight: _rescaled_square(scale, weight),
    check=lambda p: "" if p["scale"] > 0 and p["weight"] > 0 else "scale and weight must be > 0",
    description="rescaled square loss (scale M > 0, weight k > 0; Hui & Belkin 2021)"))


# ------------------------------------------------------------------------------------------ logit-adjusted CE
def _classes(*vectors) -> int:
    """The K of per-class parameters (0 when every one is a scalar, i.e. the same for every class)."""
    return max((len(v) for v in vectors if isinstance(v, tuple)), default=0)


def _logit_adjusted(iota) -> Loss:
    """Logit-adjusted CE (Menon et al. 2021, "Long-tail learning via logit adjustment", arXiv 2007.07314; in the
    UFM with imbalance: Behnia, Kini, Vakilian & Thrampoulidis 2023, "On the implicit geometry of cross-entropy
    parameterizations for label-imbalanced data", arXiv 2303.07608):

        l(z, t) = l_CE(z + iota, t),   for t = e_y:  log(1 + sum_{c != y} exp(z_c - z_y + iota_c - iota_y)),

    with one fixed offset iota_c per class (Menon et al.: iota_c = tau log pi_c; written out here, since a loss
    does not see the counts). Convex in z, identical within a class, so the class reduction stays exact.
    Conjugate: l*(v; t) = l_CE*(v; t) - <v, iota> (same domain as the CE's, so the CE's dual centring)."""
    off = np.asarray(iota, dtype=np.float64).reshape(-1, 1) if isinstance(iota, tuple) else float(iota)

    return Loss("logit-adjusted", lambda Z, T: cross_entropy(Z + off, T),
                conjugate=lambda V, T: _ce_conjugate(V, T) - jnp.sum(V * off, axis=0),
                center_dual=_ce_center_dual, smoothness=0.5, shift_invariant=True, attains_minimum=False,
                per_label=lambda Z, labels: cross_entropy_labels(Z + off, labels), classes=_classes(iota),
                description="logit-adjusted CE, CE of z + iota (one offset per class)")


register_family(LossFamily(
    "logit-adjusted", (("iota", 0.0),), lambda iota: _logit_adjusted(iota), vectors=("iota",),
    description="logit-adjusted CE, CE(z + iota); iota one value or per class iota_1/.../iota_K "
                "(Menon et al. 2021: iota_c = tau log pi_c)"))


def _cdt(delta) -> Loss:
    """Class-dependent temperatures (CDT; Ye et al. 2020, "Identifying and compensating for feature deviation in
    imbalanced deep learning", arXiv 2001.01385; in the UFM: Behnia et al. 2023, arXiv 2303.07608):

        l(z, t) = l_CE(z / delta, t),   for t = e_y:  log(1 + sum_{c != y} exp(z_c / delta_c - z_y / delta_y)),

    delta_c > 0 per class (Ye et al.: delta_c = (n_max / n_c)^gamma >= 1 on minorities; Kini et al. 2021 and Behnia
    et al. write CE(Delta z) with Delta_c = 1 / delta_c = (n_c / n_max)^gamma). Convex in z (CE after a fixed diagonal
    map), identical within a class: the class reduction stays exact. Conjugate l*(v; t) = l_CE*(delta v; t);
    dual centring: the CE's applied to delta v, divided by delta (sum_i w_i v_i = 0 is unchanged by the fixed
    diagonal scaling). Shift invariant only when every delta_c is equal."""
    scale = np.asarray(delta, dtype=np.float64).reshape(-1, 1) if isinstance(delta, tuple) else float(delta)
    smallest = min(delta) if isinstance(delta, tuple) else float(delta)

    return Loss("cdt", lambda Z, T: cross_entropy(Z / scale, T),
                conjugate=lambda V, T: _ce_conjugate(V * scale, T),
                center_dual=lambda V, T, w: _ce_center_dual(V * scale, T, w) / scale,
                smoothness=0.5 / smallest ** 2, shift_invariant=not isinstance(delta, tuple),
                attains_minimum=False, per_label=lambda Z, labels: cross_entropy_labels(Z / scale, labels),
                classes=_classes(delta), description="CE with class-dependent temperatures, CE(z / delta)")


register_family(LossFamily(
    "cdt", (("delta", 1.0),), lambda delta: _cdt(delta), vectors=("delta",),
    check=lambda p: "" if min(p["delta"] if isinstance(p["delta"], tuple) else (p["delta"],)) > 0
    else "delta must be > 0",
    description="CE with class-dependent temperatures, CE(z / delta); delta > 0, one value or per class "
                "delta_1/.../delta_K (Behnia et al. 2023)"))
