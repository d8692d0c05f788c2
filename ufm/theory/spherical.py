"""Normalised (spherical) CE UFMs: the simplex ETF for K <= d + 1, the regular polygon for d = 2, the orthoplex
for K = 2d (docs/theory.md, "Normalised UFMs" and "Generalized collapse").

Problems: balanced CE, depth 1, one-hot, features and / or classifier rows on spheres (``feature_radius``
r_H, ``classifier_radius`` r_W; rho = r_H r_W = 1/tau when both are given). On the spheres the decays only add
constants, which every predicted value includes (lambda_W K r_W^2/2, lambda_H N r_H^2/2).

- ``graf2021_sphere_etf`` (d >= K - 1; Graf, Hofer, Niethammer & Kwitt 2021, "Dissecting supervised
  contrastive learning", ICML, arXiv:2102.08817; theorem number not verified): the optimum is the simplex
  ETF with hbar_k parallel to w_k, value the sphere bound of ``ufm.sphere`` (which it attains), logits
  W Hbar = A B/(K-1) (I - J/K) and W W^T = A^2/(K-1) (I - J/K) with A = ||W||_F, B = sqrt(sum ||hbar_k||^2)
  (both radii: A B = K rho, A^2 = K r_W^2).
- ``jiang2024_polygon`` (d = 2, both radii; Jiang, Zhou, Wang, Qu, Mixon, You & Zhu 2024, "Generalized
  neural collapse for a large number of classes", ICML, arXiv:2310.05351): the classifier rows and the class
  means form one regular K-gon, features on their rows, value
  log sum_{j=0}^{K-1} exp(rho cos(2 pi j / K)) - rho (+ constants). The paper proves the softmax-code limit
  (tau -> 0); the finite-temperature claim is this project's numerical check of it.
- ``alcala2026_orthoplex`` (K = 2d, both radii; Alcala, Andreeva, Kobzar, Mixon, Na, Sule & Xie 2026,
  "Neural collapse in the orthoplex regime", arXiv:2603.20587): the rows form the orthoplex {+-e_i}, features
  on their rows, value log(e^rho + K - 2 + e^{-rho}) - rho (+ constants).

The two K > d + 1 predictions give the value (rotation- and relabelling-invariant); their geometry is checked
with the distances of ``ufm.codes`` (the Gram matrices depend on which class sits at which vertex).
"""

from __future__ import annotations

import math

import numpy as np

from ufm import sphere
from ufm.hypotheses import requires
from ufm.theory.base import register_predictions

#: balanced normalised CE, depth 1 (the bias, if any, at its optimum 0 for these symmetric configurations)
_BASE = dict(loss="ce", depth=1, balanced=True, bias=("none", "regularized"), learnable_classifier=True,
             one_hot=True, normalized=True)


def both_radii(problem):
    ok = problem.feature_radius is not None and problem.classifier_radius is not None
    return ok, "needs both feature_radius and classifier_radius"


def rho(problem) -> float:
    """r_H r_W: the logit scale (1 / temperature)."""
    return problem.feature_radius * problem.classifier_radius


applies_etf = requires(d_min="K-1", **_BASE)


def predict_etf(problem) -> dict:
    K = problem.K
    b = sphere.bound(problem)
    P = np.eye(K) - np.ones((K, K)) / K
    if problem.classifier_radius is not None:
        A2 = K * problem.classifier_radius ** 2
    else:  # features on the sphere: A B = product, B = sqrt(K) r_H
        A2 = (b.product / (math.sqrt(K) * problem.feature_radius)) ** 2
    return {"objective": b.value, "logits": b.product / (K - 1) * P, "classifier_gram": A2 / (K - 1) * P,
            "bias": np.zeros(K)}


applies_polygon = requires(extra=lambda p: (p.d == 2 and p.K >= 3, "needs d = 2 and K >= 3"), **_BASE) \
    & both_radii


def predict_polygon(problem) -> dict:
    K, r = problem.K, rho(problem)
    j = np.arange(K)
    z = r * np.cos(2 * np.pi * j / K)
    value = float(np.log(np.sum(np.exp(z - r))))  # log sum_j exp(z_j) - rho, with max_j z_j = z_0 = rho
    return {"objective": value + sphere.sphere_penalty(problem)}


applies_orthoplex = requires(extra=lambda p: (p.K == 2 * p.d and p.d >= 2, "needs K = 2d, d >= 2"), **_BASE) \
    & both_radii


def predict_orthoplex(problem) -> dict:
    K, r = problem.K, rho(problem)
    value = math.log1p((K - 2) * math.exp(-r) + math.exp(-2 * r))  # log(e^rho + K - 2 + e^-rho) - rho
    return {"objective": value + sphere.sphere_penalty(problem)}


register_predictions(
    ("graf2021_sphere_etf", applies_etf, predict_etf,
     "Graf et al. 2021, Dissecting supervised contrastive learning (arXiv:2102.08817)",
     "Balanced CE with features and/or classifier rows on spheres, d >= K - 1: the optimum is a simplex ETF with "
     "class means parallel to their classifier rows, value = the sphere bound"),
    ("jiang2024_polygon", applies_polygon, predict_polygon,
     "Jiang et al. 2024, Generalized neural collapse for a large number of classes (arXiv:2310.05351)",
     "Balanced CE on spheres in d = 2, any K >= 3: classifier rows and class means form one regular K-gon, "
     "features on their rows, value log sum_j exp(rho cos(2 pi j/K)) - rho"),
    ("alcala2026_orthoplex", applies_orthoplex, predict_orthoplex,
     "Alcala et al. 2026, Neural collapse in the orthoplex regime (arXiv:2603.20587)",
     "Balanced CE on spheres with K = 2d: classifier rows and class means form the orthoplex {+-e_i}, features on "
     "their rows, value log(e^rho + K - 2 + e^-rho) - rho"))
