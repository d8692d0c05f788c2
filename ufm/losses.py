"""Per-sample losses of the UFM, as a registry the solver looks names up in.

A loss maps logits ``Z in R^{K x N}`` and targets ``T in R^{K x N}`` (column i is sample i's target,
one-hot ``e_{y_i}`` for plain labels, a soft vector for mixup or label smoothing) to per-sample losses (N,).
Because the solver only sees ``(Z, T)``, a new loss (mixup, dot-regression, label smoothing, ...) is one
:func:`register` call and never touches the solver.

Built-in:

- ``ce``:  l(z, t) = logsumexp(z) - <t, z>   (= sum_k t_k CE(z, k) when sum_k t_k = 1; Zhu et al. 2021)
- ``mse``: l(z, t) = 1/2 ||z - t||^2          (Dang et al. 2023 write 1/(2N)||Z - Y||_F^2: the same)
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
from jax.scipy.special import logsumexp


@dataclasses.dataclass(frozen=True)
class Loss:
    """A registered loss.

    Attributes:
      name: the name a :class:`ufm.Problem` uses.
      per_sample: ``(Z, T) -> (N,)`` losses; jax-traceable, Z and T of shape (K, N).
      convex: whether ``per_sample`` is convex in Z (enables the convex certificate of ``ufm.certify``).
      attains_minimum_without_decay: False when the infimum is approached only as ||Z|| -> infinity (CE),
        so every weight decay must be positive for a minimiser to exist.
      description: one line for ``--help`` and reports.
    """

    name: str
    per_sample: Callable
    convex: bool = True
    attains_minimum_without_decay: bool = True
    description: str = ""

    def validate(self, problem) -> None:
        """Raise ProblemError if this loss has no minimiser on ``problem``."""
        from ufm.problem import ProblemError

        if not self.attains_minimum_without_decay:
            if problem.lambda_H <= 0:
                raise ProblemError("lambda_H", f"must be > 0 with loss {self.name!r}: without feature decay "
                                               "the infimum is approached only as ||H|| -> infinity")
            learnable = problem.lambda_W if not problem.classifier_fixed else problem.lambda_W[:-1]
            if any(v <= 0 for v in learnable):
                raise ProblemError("lambda_W", f"every learnable layer needs lambda_W > 0 with loss "
                                               f"{self.name!r}: otherwise no minimiser exists")

    def mean(self, Z, T):
        """(1/N) sum_i l(z_i, t_i): the data term of the canonical objective."""
        return jnp.mean(self.per_sample(Z, T))


_REGISTRY: dict[str, Loss] = {}


def register(loss: Loss, *, overwrite: bool = False) -> Loss:
    """Add a loss to the registry (``overwrite=True`` to replace one of the same name)."""
    if loss.name in _REGISTRY and not overwrite:
        raise ValueError(f"a loss named {loss.name!r} is already registered")
    _REGISTRY[loss.name] = loss
    return loss


def get(name: str) -> Loss:
    if name not in _REGISTRY:
        raise KeyError(f"unknown loss {name!r}; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def available() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def cross_entropy(Z, T):
    """l_CE(z, t) = logsumexp(z) - <t, z> per column (softmax CE with soft targets summing to 1)."""
    return logsumexp(Z, axis=0) - jnp.sum(T * Z, axis=0)


def squared_error(Z, T):
    """l_MSE(z, t) = 1/2 ||z - t||^2 per column."""
    return 0.5 * jnp.sum((Z - T) ** 2, axis=0)


register(Loss("ce", cross_entropy, convex=True, attains_minimum_without_decay=False,
              description="softmax cross-entropy, logsumexp(z) - z_y"))
register(Loss("mse", squared_error, convex=True, attains_minimum_without_decay=True,
              description="squared error to one-hot targets, 1/2 ||z - e_y||^2"))
