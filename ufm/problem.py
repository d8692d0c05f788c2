"""The UFM problem specification: what is optimised.

Canonical objective (the one every part of ``ufm`` uses; see docs/theory.md section 1)::

    L(W_1..W_M, H, b) = (1/N) sum_i loss(W_M ... W_1 h_i + b, t_i)
                        + sum_m lambda_W[m]/2 ||W_m||_F^2 + lambda_H/2 ||H||_F^2 + lambda_b/2 ||b||^2

with K classes, n_k samples of class k, N = sum_k n_k, free features H in R^{d x N} (columns grouped by
class, in class order), W_1..W_{M-1} in R^{d x d}, the classifier W_M in R^{K x d}, bias b in R^K and
targets t_i (one-hot e_{y_i} unless a sample design such as mixup says otherwise).

``lambda_W`` is listed first layer to classifier. The bias is one of
``none`` (b = 0), ``regularized`` (lambda_b > 0) or ``free`` (unregularised, lambda_b = 0).

A :class:`Problem` is immutable, hashable and validated on construction: a bad field raises
:class:`ProblemError` naming the field and the allowed values. Its *static* part (shapes, loss kind, bias
mode) decides compilation; its *dynamic* part (lambdas, targets, a fixed classifier) is passed to jitted
code as arrays, so sweeping a lambda never recompiles.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Optional, Protocol, Sequence, Union

import numpy as np

from ufm import losses
from ufm.errors import ProblemError

BIAS_MODES = ("none", "regularized", "free")
#: the layer kinds (activations) of the forward model (``ufm.forward``)
ACTIVATIONS = ("linear", "relu")


class SampleDesign(Protocol):
    """How the N samples and their targets are laid out, beyond plain one-hot labels.

    The default (``samples=None``) is ``n_k`` samples of class k with target ``e_k``, grouped by class.
    A design (mixup, label smoothing, ...) returns its own target matrix; the solver never needs to
    know which design it is.
    """

    def targets(self, counts: tuple[int, ...]) -> np.ndarray:
        """Target matrix T in R^{K x N}; column i is the (soft) target of sample i."""

    def labels(self, counts: tuple[int, ...]) -> np.ndarray:
        """Integer class of each sample (N,), used by metrics; -1 where no single class applies."""

    def validate(self, counts: tuple[int, ...]) -> None:
        """Raise ProblemError if the design does not fit these counts."""


def _scalar(value: Any) -> Any:
    """A 0-d numpy array as its scalar (``np.array(1e-3)`` is a number, not a list)."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _check_lambda(field: str, value: Any) -> float:
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProblemError(field, f"must be a finite real number >= 0, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ProblemError(field, f"must be a finite real number >= 0, got {value!r}")
    return v


def check_int(field: str, value: Any, minimum: int) -> int:
    """An integer field >= ``minimum`` (an integral float below 2^53 is taken; bools, fractions and anything else
    are refused, naming the field)."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, (float, numbers.Rational)) and not isinstance(value, bool) and float(value).is_integer() \
                and abs(float(value)) < 2 ** 53:
            value = int(value)
        else:
            raise ProblemError(field, f"must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ProblemError(field, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A validated, immutable UFM problem (canonical objective in the module docstring).

    Args:
      counts: samples per class ``(n_1, ..., n_K)``; K >= 2, every n_k >= 1.
      d: feature dimension (also the width of every hidden layer), >= 1.
      depth: number M >= 1 of layers after the free features (M = 1 is the plain UFM).
      loss: a registered loss name (``ufm.losses.available()``; at least ``"ce"`` and ``"mse"``), or a loss
        family with parameters, e.g. ``"label-smoothing(epsilon=0.1)"``, ``"focal(gamma=2)"``,
        ``"mse-rescaled(scale=5, weight=1)"`` (stored with every parameter spelled out).
      bias: ``"none"``, ``"regularized"`` (needs lambda_b > 0) or ``"free"``.
      lambda_W: weight decay of the layers, one value for all or one per layer (first layer to classifier).
      lambda_H: weight decay of the features.
      lambda_b: weight decay of the bias (only with ``bias="regularized"``).
      classifier: ``None`` (learnable), a fixed K x d matrix for W_M, or the name of a registered geometry
        (``ufm.geometry``): ``"etf"`` (simplex ETF, needs d >= K - 1), ``"orthogonal"``, ``"orthoplex"``,
        ``"ebv"`` (equiangular basis vectors, any K), ``"sparse-etf"`` (FedLoGe's SSE-C).
      samples: an optional :class:`SampleDesign` (e.g. mixup); ``None`` means one-hot targets.
      activation: the layer kind, ``"linear"`` (default) or ``"relu"``: sigma after every hidden layer,
        z = W_M sigma(W_{M-1} ... sigma(W_1 h_i)) + b (``ufm.forward``; docs/theory.md section 15). ReLU needs
        a hidden layer (M >= 2) or ``activate_features``.
      activate_features: apply the activation to the free features too, sigma(h_i) (the non-negative features
        of Tirer & Bruna 2022); only with a non-linear ``activation``.
      feature_radius: ``None`` (free features) or r_H > 0: every feature column on the sphere ||h_i|| = r_H
        (the normalised / spherical UFM; docs/theory.md section "Normalised UFMs"; any depth: the hidden layers
        stay free, with their decay).
      classifier_radius: ``None`` (free classifier) or r_W > 0: every classifier row on ||w_k|| = r_W (a
        learnable classifier). With both radii and depth 1, the logits are r_H r_W cos(w_k, h_i): the temperature
        tau of normalised logits is 1 / (r_H r_W) (:attr:`temperature`; :meth:`normalized_logits`).
    """

    counts: tuple[int, ...]
    d: int
    depth: int = 1
    loss: str = "ce"
    bias: str = "none"
    lambda_W: tuple[float, ...] = (5e-3,)
    lambda_H: float = 5e-3
    lambda_b: float = 0.0
    classifier: Optional[tuple[tuple[float, ...], ...]] = None
    samples: Optional[Any] = None
    activation: str = "linear"
    activate_features: bool = False
    feature_radius: Optional[float] = None
    classifier_radius: Optional[float] = None

    def __post_init__(self):
        counts = self.counts
        if isinstance(counts, (str, bytes, bytearray, memoryview)) or not isinstance(counts, (Sequence, np.ndarray)) \
                or (isinstance(counts, np.ndarray) and counts.ndim != 1):
            raise ProblemError("counts", f"must be a list of per-class sample counts, got {counts!r}")
        counts = tuple(check_int("counts", c, 1) for c in counts)
        if len(counts) < 2:
            raise ProblemError("counts", f"needs at least K = 2 classes, got {len(counts)}")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "d", check_int("d", self.d, 1))
        depth = check_int("depth", self.depth, 1)
        from ufm.limits import max_depth

        if depth > max_depth():  # before anything of size depth is built
            from ufm.errors import ResourceError

            raise ResourceError("depth", f"M = {depth} layers exceeds the limit of {max_depth()} (compilation grows "
                                         "with the depth); raise it with UFM_MAX_DEPTH or ufm.limits.configure")
        object.__setattr__(self, "depth", depth)

        # a registered name, or a loss family with parameters ("focal(gamma=1)"), stored spelled out
        object.__setattr__(self, "loss", losses.canonical(self.loss))
        if self.bias not in BIAS_MODES:
            raise ProblemError("bias", f"must be one of {list(BIAS_MODES)}, got {self.bias!r}")

        lw = _scalar(self.lambda_W)
        if isinstance(lw, (numbers.Real, np.floating)) and not isinstance(lw, bool):
            lw = (lw,) * depth
        if isinstance(lw, (str, bytes, bytearray)) or not isinstance(lw, (Sequence, np.ndarray)) \
                or (isinstance(lw, np.ndarray) and lw.ndim != 1):
            raise ProblemError("lambda_W", f"must be one number or a list of {depth} numbers, got {lw!r}")
        lw = tuple(_check_lambda("lambda_W", v) for v in lw)
        if len(lw) == 1 and depth > 1:
            lw = lw * depth
        if len(lw) != depth:
            raise ProblemError("lambda_W", f"needs 1 or depth = {depth} values (first layer to classifier), "
                                           f"got {len(lw)}")
        object.__setattr__(self, "lambda_W", lw)
        object.__setattr__(self, "lambda_H", _check_lambda("lambda_H", self.lambda_H))
        object.__setattr__(self, "lambda_b", _check_lambda("lambda_b", self.lambda_b))

        if self.bias == "regularized" and self.lambda_b <= 0:
            raise ProblemError("lambda_b", "must be > 0 when bias='regularized' (use bias='free' for an "
                                           "unregularised bias)")
        if self.bias != "regularized" and self.lambda_b != 0:
            raise ProblemError("lambda_b", f"is only used with bias='regularized' (bias is {self.bias!r}); "
                                           "set it to 0 or choose bias='regularized'")

        K, d = len(counts), self.d
        clf = self.classifier
        if clf is not None:
            from ufm import geometry

            if isinstance(clf, str):
                geometry.generate(clf, K, d)  # validates the name and (K, d)
            else:
                try:
                    arr = np.asarray(clf, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ProblemError("classifier", f"must be None (learnable), one of {list(geometry.names())} "
                                                     f"or a {K} x {d} matrix of numbers") from None
                if arr.shape != (K, d):
                    raise ProblemError("classifier", f"a fixed classifier must have shape (K, d) = ({K}, {d}), "
                                                     f"got {arr.shape}")
                if not np.all(np.isfinite(arr)):
                    raise ProblemError("classifier", "a fixed classifier must have finite entries")
                object.__setattr__(self, "classifier", tuple(tuple(float(x) for x in row) for row in arr))

        if self.samples is not None:
            for attr in ("targets", "labels", "validate"):
                if not callable(getattr(self.samples, attr, None)):
                    raise ProblemError("samples", f"a sample design needs a method {attr}() (see SampleDesign)")
            self.samples.validate(counts)

        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ProblemError("activation", f"must be one of {list(ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.activate_features, (bool, np.bool_)):
            raise ProblemError("activate_features", f"must be true or false, got {self.activate_features!r}")
        object.__setattr__(self, "activate_features", bool(self.activate_features))
        if self.activate_features and self.activation == "linear":
            raise ProblemError("activate_features", "needs a non-linear activation (activation='relu'); with "
                                                    "linear layers it would be ignored")
        if self.activation != "linear" and depth == 1 and not self.activate_features:
            raise ProblemError("activation", f"{self.activation!r} acts after hidden layers: needs depth M >= 2 "
                                             "or activate_features=True (with M = 1 there is none)")
        for field in ("feature_radius", "classifier_radius"):
            value = _scalar(getattr(self, field))
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
                    or float(value) <= 0:
                raise ProblemError(field, f"must be None (free) or a finite number > 0, got {value!r}")
            object.__setattr__(self, field, float(value))
            if self.d < 2:  # the "sphere" of R^1 is two points: a combinatorial problem, no gradient moves on it
                raise ProblemError(field, f"needs d >= 2 (in d = 1 the sphere is the two points +-r), got d = {self.d}")
        if self.activation != "linear" and (self.feature_radius is not None or self.classifier_radius is not None):
            raise ProblemError("feature_radius" if self.feature_radius is not None else "classifier_radius",
                               "normalised UFMs are implemented for linear models (activation='linear'), got "
                               f"activation={self.activation!r}")
        if self.classifier_radius is not None and self.classifier is not None:
            raise ProblemError("classifier_radius", "needs a learnable classifier (classifier=None); a fixed "
                                                    "classifier is normalised by giving it rows of the radius")

        losses.get(self.loss).validate(self)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def balanced(cls, K: int, n: int, d: int, **kwargs) -> "Problem":
        """K classes of n samples each."""
        K = check_int("K", K, 2)
        n = check_int("n", n, 1)
        return cls(counts=(n,) * K, d=d, **kwargs)

    @classmethod
    def normalized_logits(cls, counts, d: int, temperature: float, **kwargs) -> "Problem":
        """Normalised features and classifier rows at temperature tau: logits cos(w_k, h_i) / tau (loss from
        ``kwargs``, default CE), i.e.
        ``feature_radius=1`` and ``classifier_radius=1/tau`` (only the product 1 / tau matters at depth 1; the
        decays of the two spherical factors are constants). ``kwargs`` are the other fields."""
        tau = _scalar(temperature)
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not math.isfinite(float(tau)) or tau <= 0:
            raise ProblemError("temperature", f"must be a finite number > 0, got {temperature!r}")
        for field in ("feature_radius", "classifier_radius"):
            if kwargs.pop(field, None) is not None:
                raise ProblemError(field, "is set by the temperature (feature_radius = 1, classifier_radius = "
                                          "1/temperature): give one or the other")
        return cls(counts=counts, d=d, feature_radius=1.0, classifier_radius=1.0 / float(tau), **kwargs)

    def replace(self, **changes) -> "Problem":
        """A copy with some fields changed (validated again)."""
        if "depth" in changes and "lambda_W" not in changes and len(set(self.lambda_W)) == 1:
            changes["lambda_W"] = self.lambda_W[0]
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ derived quantities
    @property
    def K(self) -> int:
        return len(self.counts)

    @property
    def N(self) -> int:
        return int(self.targets().shape[1]) if self.samples is not None else int(sum(self.counts))

    @property
    def is_balanced(self) -> bool:
        return len(set(self.counts)) == 1

    @property
    def linear(self) -> bool:
        """Every layer is linear (no activation anywhere)."""
        return self.activation == "linear"

    @property
    def classifier_fixed(self) -> bool:
        return self.classifier is not None

    @property
    def bias_shift_free(self) -> bool:
        """The bias is defined only up to b -> b + c 1: a free bias under a shift-invariant loss (softmax
        losses, ``ufm.losses.Loss.shift_invariant``). Solutions report its centred representative
        (sum_k b_k = 0), so that biases of different runs and predictions compare."""
        return self.bias == "free" and losses.get(self.loss).shift_invariant

    def canonical_bias(self, b):
        """The representative of a bias that solutions report and predictions are compared with: centred
        (``b - mean(b)``) where only b + c 1 is defined (:attr:`bias_shift_free`), else ``b`` itself (None
        stays None)."""
        if b is None or not self.bias_shift_free:
            return b
        b = np.asarray(b, np.float64)
        return b - b.mean()

    @property
    def normalized(self) -> bool:
        """Whether features or classifier rows are constrained to spheres (``feature_radius`` /
        ``classifier_radius``)."""
        return self.feature_radius is not None or self.classifier_radius is not None

    @property
    def temperature(self) -> Optional[float]:
        """tau = 1 / (r_H r_W) of normalised logits (both radii set, depth 1: logits cos(w_k, h_i) / tau), else
        None."""
        if self.feature_radius is None or self.classifier_radius is None or self.depth != 1:
            return None
        return 1.0 / (self.feature_radius * self.classifier_radius)

    @property
    def classifier_name(self) -> Optional[str]:
        """The registered geometry name of a fixed classifier (``ufm.geometry``), else None."""
        return self.classifier if isinstance(self.classifier, str) else None

    def classifier_matrix(self) -> Optional[np.ndarray]:
        """The fixed classifier W_M (K x d, float64), or None when it is learnable."""
        if self.classifier is None:
            return None
        if isinstance(self.classifier, str):
            from ufm.geometry import generate

            return np.array(generate(self.classifier, self.K, self.d))
        return np.asarray(self.classifier, dtype=np.float64)

    def labels(self) -> np.ndarray:
        """Class of every sample (N,), samples grouped by class in class order (-1: no single class)."""
        if self.samples is not None:
            return np.asarray(self.samples.labels(self.counts), dtype=np.int64)
        return np.repeat(np.arange(self.K), self.counts)

    def targets(self) -> np.ndarray:
        """Target matrix T in R^{K x N} (one-hot columns e_{y_i} unless a sample design says otherwise)."""
        if self.samples is not None:
            return np.asarray(self.samples.targets(self.counts), dtype=np.float64)
        return np.eye(self.K)[:, self.labels()]

    def static_key(self) -> tuple:
        """What decides compilation: shapes, loss kind, bias mode, fixed-vs-learnable classifier."""
        return (self.K, self.N, self.d, self.depth, self.loss, self.bias, self.classifier_fixed, self.activation,
                self.activate_features, self.feature_radius is not None, self.classifier_radius is not None)

    def data(self) -> dict:
        """The dynamic arrays of the objective (float64 numpy); see :func:`ufm.objective.objective`."""
        out = {
            "lambda_W": np.asarray(self.lambda_W, dtype=np.float64),
            "lambda_H": np.float64(self.lambda_H),
            "lambda_b": np.float64(self.lambda_b),
            "targets": self.targets(),
        }
        if self.classifier is not None:
            out["classifier"] = self.classifier_matrix()
        for field in ("feature_radius", "classifier_radius"):
            if getattr(self, field) is not None:
                out[field] = np.float64(getattr(self, field))
        return out

    def describe(self) -> str:
        counts = f"K={self.K} x n={self.counts[0]}" if self.is_balanced else f"counts={list(self.counts)}"
        lw = self.lambda_W[0] if len(set(self.lambda_W)) == 1 else list(self.lambda_W)
        s = (f"{self.loss.upper()} UFM, {counts}, d={self.d}, depth M={self.depth}, bias={self.bias}, "
             f"lambda_W={lw}, lambda_H={self.lambda_H}")
        if self.bias == "regularized":
            s += f", lambda_b={self.lambda_b}"
        if self.classifier is not None:
            s += f", classifier fixed ({self.classifier_name or 'given matrix'})"
        if self.samples is not None:
            s += f", samples {type(self.samples).__name__}"
        if not self.linear:
            s += f", activation {self.activation}" + (" (features too)" if self.activate_features else "")
        if self.feature_radius is not None:
            s += f", features on the sphere of radius {self.feature_radius}"
        if self.classifier_radius is not None:
            s += f", classifier rows on the sphere of radius {self.classifier_radius}"
        return s

    def __repr__(self) -> str:
        fields = [f"counts={self.counts if len(self.counts) <= 12 else f'<{self.K} classes, N={sum(self.counts)}>'}",
                  f"d={self.d}", f"depth={self.depth}", f"loss={self.loss!r}", f"bias={self.bias!r}",
                  f"lambda_W={self.lambda_W}", f"lambda_H={self.lambda_H}"]
        if self.bias == "regularized":
            fields.append(f"lambda_b={self.lambda_b}")
        if self.classifier is not None:
            fields.append(f"classifier={self.classifier!r}" if isinstance(self.classifier, str)
                          else f"classifier=<{self.K} x {self.d} matrix>")
        if self.samples is not None:
            fields.append(f"samples={self.samples!r}")
        if not self.linear:
            fields.append(f"activation={self.activation!r}")
        if self.activate_features:
            fields.append("activate_features=True")
        for field in ("feature_radius", "classifier_radius"):
            if getattr(self, field) is not None:
                fields.append(f"{field}={getattr(self, field)}")
        return f"Problem({', '.join(fields)})"

    def to_dict(self) -> dict:
        """JSON-able description (a fixed classifier as a nested list; a sample design by its to_dict)."""
        out = {
            "counts": list(self.counts), "d": self.d, "depth": self.depth, "loss": self.loss,
            "bias": self.bias, "lambda_W": list(self.lambda_W), "lambda_H": self.lambda_H,
            "lambda_b": self.lambda_b,
            "classifier": (self.classifier if self.classifier is None or isinstance(self.classifier, str)
                           else [list(r) for r in self.classifier]),
        }
        if not self.linear:  # linear problems keep their dict (and stored results) as before
            out["activation"] = self.activation
            out["activate_features"] = self.activate_features
        for field in ("feature_radius", "classifier_radius"):
            if getattr(self, field) is not None:
                out[field] = getattr(self, field)
        if self.samples is not None:
            to_dict = getattr(self.samples, "to_dict", None)
            out["samples"] = to_dict() if callable(to_dict) else repr(self.samples)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        """The inverse of :meth:`to_dict` (a sample design is rebuilt from its ``kind``; see
        :func:`register_design`)."""
        if not isinstance(d, dict):
            raise ProblemError("problem", f"must be a dict as written by Problem.to_dict, got {type(d).__name__}")
        fields = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}}
        samples = fields.pop("samples", None)
        if samples is not None:
            kind = samples.get("kind") if isinstance(samples, dict) else None
            if kind not in DESIGNS:
                raise ProblemError("samples", f"unknown sample design {kind!r}; known: {sorted(DESIGNS)}")
            fields["samples"] = DESIGNS[kind](**{k: v for k, v in samples.items() if k != "kind" and v is not None})
        return cls(**fields)


#: sample designs by the ``kind`` of their ``to_dict()`` (see :meth:`Problem.from_dict`)
DESIGNS: dict = {}


def register_design(kind: str, cls) -> None:
    """Register a sample design class under the ``kind`` its ``to_dict()`` writes."""
    DESIGNS[kind] = cls


# ---------------------------------------------------------------------- conventions
@dataclasses.dataclass(frozen=True)
class Convention:
    """How a paper writes the UFM objective, so it can be converted exactly to the canonical form.

    paper objective = ``loss_term + pen * (lambda_W ||W||^2 + lambda_H feat(H) + lambda_b ||b||^2)`` where

    - ``loss_reduction``: ``"mean"`` (1/N sum_i) or ``"sum"`` (sum_i) of the per-sample losses;
    - ``penalty``: ``"half"`` (pen = 1/2) or ``"full"`` (pen = 1);
    - ``feature_decay``: ``"sum"`` (||H||_F^2) or ``"mean"`` ((1/N) sum_i ||h_i||^2);
    - ``mse_scale``: the factor in front of ||z - y||^2 per sample (canonical MSE uses 1/2).
    """

    loss_reduction: str = "mean"
    penalty: str = "half"
    feature_decay: str = "sum"
    mse_scale: float = 0.5

    def __post_init__(self):
        for field, allowed in (("loss_reduction", ("mean", "sum")), ("penalty", ("half", "full")),
                               ("feature_decay", ("sum", "mean"))):
            if getattr(self, field) not in allowed:
                raise ProblemError(field, f"must be one of {list(allowed)}, got {getattr(self, field)!r}")
        if isinstance(self.mse_scale, bool) or not (isinstance(self.mse_scale, numbers.Real)
                                                    and math.isfinite(self.mse_scale) and self.mse_scale > 0):
            raise ProblemError("mse_scale", f"must be a finite positive number, got {self.mse_scale!r}")


#: Named conventions of the literature (docs/theory.md section 2).
CONVENTIONS = {
    "canonical": Convention(),
    "zhu2021": Convention(),  # Zhu et al. 2021: mean CE + lambda/2 penalties: identical to canonical
    "dang2023": Convention(),  # Dang et al. 2023: 1/(2N)||Z - Y||^2 + lambda/2 penalties: identical
    "hong_ling2023": Convention(penalty="full"),  # Hong & Ling: mean CE + lambda (no 1/2)
    "per_sample_feature_decay": Convention(feature_decay="mean"),
}


def from_convention(convention: Union[str, Convention], *, counts, d, lambda_W, lambda_H, lambda_b=0.0,
                    loss="ce", **kwargs) -> tuple[Problem, float]:
    """Convert a problem written in a paper's convention to the canonical one, exactly.

    Returns ``(problem, scale)`` with ``paper_objective(params) == scale * canonical_objective(params)`` for
    every parameter value, so minimisers coincide and optimal values convert by ``scale``.

    Derivation: divide the paper objective by ``s = N`` if its loss is summed (else 1) and by
    ``mse_scale / (1/2)`` for MSE; then each penalty ``pen * lambda * ||.||^2`` becomes
    ``(2 pen lambda / s') / 2 ||.||^2`` and a per-sample-averaged feature decay gets a further 1/N.
    """
    if isinstance(convention, str):
        if convention not in CONVENTIONS:
            raise ProblemError("convention", f"must be one of {list(CONVENTIONS)} or a Convention, "
                                             f"got {convention!r}")
        convention = CONVENTIONS[convention]
    if not isinstance(convention, Convention):
        raise ProblemError("convention", f"must be one of {list(CONVENTIONS)} or a Convention, got {convention!r}")
    if isinstance(counts, (str, bytes, bytearray)) or not isinstance(counts, (Sequence, np.ndarray)):
        raise ProblemError("counts", f"must be a list of per-class sample counts, got {counts!r}")
    counts = tuple(check_int("counts", c, 1) for c in counts)
    loss = losses.canonical(loss)
    samples = kwargs.get("samples")
    N = float(sum(counts)) if samples is None else float(np.shape(samples.targets(counts))[1])
    scale = N if convention.loss_reduction == "sum" else 1.0
    if losses.get(loss).family == "squared_error":
        scale *= convention.mse_scale / 0.5
    pen = 0.5 if convention.penalty == "half" else 1.0
    factor = 2.0 * pen / scale

    lw = _scalar(lambda_W)
    lw = (lw,) if isinstance(lw, numbers.Real) and not isinstance(lw, bool) else lw
    if isinstance(lw, (str, bytes, bytearray)) or not isinstance(lw, (Sequence, np.ndarray)):
        raise ProblemError("lambda_W", f"must be one number or a list of numbers, got {lambda_W!r}")
    lw = tuple(_check_lambda("lambda_W", v) * factor for v in lw)
    lh = _check_lambda("lambda_H", lambda_H) * factor / (N if convention.feature_decay == "mean" else 1.0)
    lb = _check_lambda("lambda_b", lambda_b) * factor
    problem = Problem(counts=counts, d=d, lambda_W=lw, lambda_H=lh, lambda_b=lb, loss=loss, **kwargs)
    return problem, scale
