"""A rigorous lower bound for the balanced normalised CE UFM, for every d (docs/theory.md, "Normalised UFMs").

The convex certificate (``ufm.convex``) assumes free features and classifier; this bound takes its place for
the normalised UFM (``Problem.feature_radius`` / ``classifier_radius``), balanced classes, one-hot targets,
CE, depth 1, any bias mode.

Derivation. Write g(t) = log(1 + (K-1) e^{-t/(K-1)}) (convex, decreasing). For a sample i of class y,
Jensen over the K - 1 wrong classes gives CE(W h_i + b, y) >= log(1 + (K-1) exp(a_i)) with
a_i = (1/(K-1)) sum_{j != y} (<w_j - w_y, h_i> + b_j - b_y); Jensen over the N samples (the function is
convex in a_i) gives (1/N) sum_i CE >= log(1 + (K-1) exp(abar)). With n = N/K samples per class the bias
terms average to 0 and, with hbar_k the class means and wbar the mean row,

    abar = -(1/(K-1)) sum_k <w_k - wbar, hbar_k>  >=  -(1/(K-1)) ||W||_F sqrt(sum_k ||hbar_k||^2)

(Cauchy-Schwarz, sum_k ||w_k - wbar||^2 <= ||W||_F^2). On the spheres ||W||_F = sqrt(K) r_W and
sum_k ||hbar_k||^2 <= K r_H^2 (Jensen); free factors keep their norm, sum_k ||hbar_k||^2 <= (K/N) ||H||_F^2.
So, with A = ||W||_F and B = sqrt(sum_k ||hbar_k||^2),

    objective >= min over the free norms of  g(A B) + lambda_W/2 A^2 + lambda_H/2 ||H||_F^2 (+ lambda_b/2 ||b||^2 >= 0),

a one-dimensional convex problem at most (a constant when both radii are given: log(1 + (K-1)
e^{-K r_W r_H/(K-1)}) + lambda_W K r_W^2/2 + lambda_H N r_H^2/2). Every inequality is an equality at a simplex
ETF with hbar_k parallel to w_k, b = 0, which exists iff d >= K - 1: there the bound is the optimum (Graf,
Hofer, Niethammer & Kwitt 2021, "Dissecting supervised contrastive learning", ICML, arXiv:2102.08817; the
theorem number not verified), and for K > d + 1 it is a strict lower bound whose gap :func:`bound` reports.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ufm.hypotheses import requires
from ufm.scalar import grid_then_golden

#: the bound holds for these problems
APPLIES = requires(loss="ce", depth=1, balanced=True, learnable_classifier=True, one_hot=True, normalized=True)


def applicable(problem) -> tuple[bool, str]:
    """Whether :func:`bound` applies to ``problem``."""
    return APPLIES(problem)


def g(t: float, K: int) -> float:
    """log(1 + (K-1) exp(-t/(K-1))), evaluated stably (log1p)."""
    return float(math.log1p((K - 1) * math.exp(-t / (K - 1))))


class SphereBound(NamedTuple):
    """``value``: the lower bound; ``attained``: whether an ETF attains it (d >= K - 1); ``product``: the
    optimal A B of the derivation (the ETF's logit scale K/(K-1) times r_W r_H on the spheres)."""

    value: float
    attained: bool
    product: float


def sphere_penalty(problem) -> float:
    """The decay of the factors on spheres, a constant: lambda_W K r_W^2 / 2 (classifier rows) + lambda_H N r_H^2 / 2
    (features), each term where its radius is set."""
    value = 0.0
    if problem.classifier_radius is not None:
        value += 0.5 * problem.lambda_W[-1] * problem.K * problem.classifier_radius ** 2
    if problem.feature_radius is not None:
        value += 0.5 * problem.lambda_H * problem.N * problem.feature_radius ** 2
    return value


def bound(problem) -> SphereBound:
    """The lower bound of the module docstring for ``problem`` (ValueError where it does not apply)."""
    ok, why = applicable(problem)
    if not ok:
        raise ValueError(f"the sphere bound does not apply: {why}")
    K, N = problem.K, problem.N
    lw, lh = problem.lambda_W[0], problem.lambda_H
    rw, rh = problem.classifier_radius, problem.feature_radius
    if rw is not None and rh is not None:
        AB = math.sqrt(K) * rw * math.sqrt(K) * rh
        value = g(AB, K)
    elif rh is not None:  # features on the sphere, A = ||W||_F free: min_A g(A sqrt(K) r_H) + lambda_W/2 A^2
        B = math.sqrt(K) * rh
        phi = lambda A: g(A * B, K) + 0.5 * lw * A * A  # noqa: E731
        A, value = _minimise(phi, K, B, lw)
        AB = A * B
    else:  # classifier on the sphere, ||H||_F = s free: B = sqrt(K/N) s
        A = math.sqrt(K) * rw
        c = A * math.sqrt(K / N)
        phi = lambda s: g(c * s, K) + 0.5 * lh * s * s  # noqa: E731
        s, value = _minimise(phi, K, c, lh)
        AB = c * s
    return SphereBound(float(value + sphere_penalty(problem)), problem.d >= K - 1, float(AB))


def _minimise(phi, K: int, slope: float, decay: float) -> tuple[float, float]:
    """min_{x >= 0} phi(x) = g(slope x) + decay/2 x^2 (convex): its minimiser lies below
    x_max = sqrt(2 g(0) / decay) (phi(x) > phi(0) = log K beyond), so a grid on [0, x_max] and golden section."""
    x_max = math.sqrt(2 * math.log(K) / decay) if decay > 0 else 1e6 / max(slope, 1e-300)
    grid = np.linspace(0.0, x_max, 401)
    return grid_then_golden(phi, grid)
