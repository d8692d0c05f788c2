"""Balanced softmax-loss UFMs: every global minimiser is a simplex ETF (Zhou, You, Li, Liu, Liu, Qu & Zhu 2022,
"Are all losses created equal? A neural collapse perspective", NeurIPS 2022, arXiv 2210.02192, Thm 3.1),
docs/theory.md section 15.

For the balanced bias-free (or regularised-bias) M = 1 UFM with d >= K - 1 and a loss of the softmax family --
CE, label-smoothed CE, focal loss -- the global minimisers are collapsed, with class means and classifier
rows forming a simplex ETF. Only the scale is loss specific. Along the ETF family Z = a (I - J/K) of
class-mean logits (W Hbar), the master reduction of the M = 1 UFM is (docs/theory.md section 4)

    phi(a) = l(a (e_1 - 1/K), e_1) + (K - 1) c a,      c = sqrt(n lambda_W lambda_H),

(||a (I - J/K)||_* = (K - 1) a), so f* = min_{a >= 0} phi(a); a* = 0 (W = H = 0) when the loss's slope at 0
does not beat the penalty. For CE this is Zhu et al. 2021's closed form; label smoothing (epsilon) bounds a*
by the loss's own optimum log(1 + K (1 - epsilon)/epsilon) (attained at zero decay); the focal loss has a
smaller logit scale than CE at the same decay (its gradient vanishes faster as p_y -> 1).

The classifier Gram of the balanced factorisation: W W^T = sqrt(n lambda_H / lambda_W) a* (I - J/K).
``phi`` is evaluated with the loss's own ``per_sample`` (so any registered shift-invariant softmax loss is
covered) on a grid of a and refined by golden section (:mod:`ufm.scalar`).
"""

from __future__ import annotations

import functools

import numpy as np

from ufm import losses
from ufm.hypotheses import requires
from ufm.scalar import grid_then_golden
from ufm.theory.base import Prediction, register

SOFTMAX_FAMILIES = ("ce", "label-smoothing", "focal")


def _softmax_family(problem) -> tuple[bool, str]:
    head = problem.loss.partition("(")[0]
    ok = head in SOFTMAX_FAMILIES
    return ok, "" if ok else f"needs a softmax loss ({', '.join(SOFTMAX_FAMILIES)}), got {problem.loss!r}"


applies = requires(depth=1, balanced=True, bias=("none", "regularized"), learnable_classifier=True, one_hot=True,
                   d_min="K-1", extra=_softmax_family)


@functools.lru_cache(maxsize=16)
def _ray_programs(loss_name: str, K: int):
    """The loss along the ETF ray, l(a (e_1 - 1/K), e_1) for a vector of a, and its derivative in a scalar a:
    jitted once per loss and K (evaluated op by op, the 16,001-point grid and ~50 slopes cost 0.7 s of every
    ``ufm solve`` of a balanced problem)."""
    import jax
    import jax.numpy as jnp

    loss = losses.get(loss_name)
    u = np.eye(K)[:, 0] - 1.0 / K

    def along(a):
        T = jnp.zeros((K, a.shape[0]), a.dtype).at[0].set(1.0)
        return loss.per_sample(jnp.asarray(u, a.dtype)[:, None] * a[None, :], T)

    slope = jax.grad(lambda a: along(a[None])[0])
    return jax.jit(along), jax.jit(slope)


def _penalty_slope(problem) -> float:
    """(K - 1) c, c = sqrt(n lambda_W lambda_H): the slope of the nuclear-norm penalty along the ray."""
    return (problem.K - 1) * float(np.sqrt(problem.counts[0] * problem.lambda_W[0] * problem.lambda_H))


def etf_phi(problem):
    """phi(a) of the module docstring, vectorised over an array of a (one compiled evaluation of the loss)."""
    along, _ = _ray_programs(problem.loss, problem.K)
    pen = _penalty_slope(problem)

    def phi(a):
        a = np.atleast_1d(np.asarray(a, np.float64))
        return np.asarray(along(a)) + pen * a

    return phi


def etf_slope(problem):
    """phi'(a) (jax derivative of the loss along the ray)."""
    _, slope = _ray_programs(problem.loss, problem.K)
    pen = _penalty_slope(problem)
    return lambda a: float(slope(np.float64(a))) + pen


def etf_value(problem) -> tuple[float, float]:
    """(f*, a*): the minimum of phi over a in [0, 80] (a grid of 16,001 points, then golden section), with a*
    refined by bisection on the sign of phi' (golden section alone locates a* only to ~sqrt(eps) relative:
    phi is flat there)."""
    phi = etf_phi(problem)
    grid = np.linspace(0.0, 80.0, 16001)
    a, value = grid_then_golden(lambda x: float(phi(x)[0]), grid, values=phi(grid))
    if a > 0:
        slope = etf_slope(problem)
        lo, hi = max(a - 0.01, 0.0), a + 0.01
        if slope(lo) < 0 < slope(hi):
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
                if hi - lo <= 4 * np.finfo(float).eps * hi:
                    break
            a = 0.5 * (lo + hi)
            value = min(value, float(phi(a)[0]))
    return value, a


def predict(problem) -> dict:
    K, n = problem.K, problem.counts[0]
    value, a = etf_value(problem)
    P = np.eye(K) - np.ones((K, K)) / K
    return {"objective": value, "logits": a * P,
            "classifier_gram": float(np.sqrt(n * problem.lambda_H / problem.lambda_W[0])) * a * P,
            "bias": np.zeros(K), "scale": a}


register(Prediction(
    name="zhou2022_softmax_etf",
    source="Zhou et al. 2022, Are All Losses Created Equal? A Neural Collapse Perspective (NeurIPS), Thm 3.1",
    statement="Balanced M = 1 UFM with CE, label-smoothed CE or focal loss, d >= K - 1: the global optimum is a "
              "simplex ETF, W Hbar = a* (I - J/K) with a* minimising l(a (e_1 - 1/K), e_1) + (K - 1) c a",
    applies=applies, predict=predict))
