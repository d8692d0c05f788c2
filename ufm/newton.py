"""Second-order polish for small problems: Newton steps on the exact Hessian, after L-BFGS.

L-BFGS stops at the relative stationarity ``gtol`` or at its precision floor, and on ill-conditioned problems
(small weight decay: curvatures of order lambda beside curvatures of order 1; free biases of the squared error)
it needs thousands of iterations to get there. Where the problem is small (the class-reduced problem has
M d^2 + d C parameters), a few Newton steps on the exact Hessian (``jax.hessian``, eigendecomposition) take the
gradient to the rounding level and make the geometry exact near thresholds.

The step is a damped "saddle-free" Newton step (Dauphin et al. 2014; Levenberg-Marquardt damping): with
H = V diag(e) V^T,

    delta(mu) = - V diag(1 / (|e_i| + mu)) V^T grad f,      mu >= 10 eps max_i |e_i|,

a descent direction even where H is indefinite; the exact zero eigenvalues of the rotation symmetries
(the gradient has no component along them) are harmless through mu. mu grows until the step lowers f (or, at
the rounding floor of f, lowers the gradient norm without raising f beyond rounding): see :func:`polish`.
The eigenvalues at the final point give the second-order information of ``ufm.curvature`` for free.

Why not optimistix: it has no exact-Hessian Newton minimiser (its quasi-Newton solvers would need a custom
Hessian update and a linear solve that tolerates the singular directions of the symmetries), and it would add
equinox, lineax and jaxtyping to the core dependencies for what is an eigendecomposition and a line search.
"""

from __future__ import annotations

import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ufm.curvature import Curvature, Flattening
from ufm.loop import F_FLOOR, Run, Status, executable

#: Newton polish runs by default when the solved problem has at most this many parameters
MAX_PARAMS = 2000
#: Newton steps taken at most past the stopping rule's gtol (:func:`polish`)
EXTRA_STEPS = 3
#: a Newton step shorter than this, relative to the point's norm, is rounding: no extra steps from there
EXACT = 1e-12


@functools.lru_cache(maxsize=32)
def _programs(f, unravel_key):
    unravel = unravel_key.unravel

    def flat_f(x, data):
        return f(unravel(x), data)

    def eig(x, data):
        fx, g = jax.value_and_grad(flat_f)(x, data)
        H = jax.hessian(flat_f)(x, data)
        e, V = jnp.linalg.eigh(0.5 * (H + H.T))
        return fx, g, e, V

    return jax.jit(eig), jax.jit(jax.value_and_grad(flat_f))


def _stationarity(fx, g, x) -> float:
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing norm is an infinite stationarity
        return float(np.linalg.norm(g) * max(np.linalg.norm(x), 1.0) / max(abs(fx), F_FLOOR))


def polish(f, params, data, *, gtol: float, max_steps: int = 12) -> tuple[Run, Curvature]:
    """Newton steps (module docstring) from ``params`` until the relative stationarity is at most ``gtol`` or
    no step helps, then up to :data:`EXTRA_STEPS` more while they still move the point and divide the
    gradient norm by 10 (the geometry to rounding, not only the gradient to gtol; the best converged point is
    kept). Returns the final :class:`ufm.loop.Run` (status ``converged`` or ``stalled``) and the
    :class:`ufm.curvature.Curvature` from the Hessian's eigenvalues there.

    Each step tries the damped saddle-free Newton steps delta(mu) = -V diag(1/(|e| + mu)) V^T g for
    mu = mu_0, 10 mu_0, ... (Levenberg-Marquardt damping: the larger mu, the shorter and the more gradient-like
    the step) and takes the first that lowers f, or keeps f within rounding while lowering ||grad f||; mu_0
    adapts (divided by 10 after a success, from the last successful mu). Where the smallest curvatures are
    tiny (weight decay 1e-12) the quadratic model holds only very near the optimum, and the damping keeps the
    steps inside that region."""
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    x, unravel = jax.flatten_util.ravel_pytree(params)
    key = Flattening(params)
    eig, value_grad = _programs(f, key)
    eig = executable(eig, ("newton", f, key), x, data)
    value_grad = executable(value_grad, ("value_grad", f, key), x, data)
    eps = np.finfo(float).eps
    steps, mu_rel, extra, last_gn, met = 0, 10 * eps, 0, None, None
    while True:
        fx, g, e, V = (np.asarray(a) for a in eig(x, data))
        with np.errstate(over="ignore", invalid="ignore"):
            fx, gn = float(fx), float(np.linalg.norm(g))
        s = _stationarity(fx, g, np.asarray(x))
        if s <= gtol and (met is None or s <= met[3]):
            met = (x, fx, gn, s, e, V)
        if steps >= max_steps or not np.isfinite(fx):
            break
        scale = max(float(np.max(np.abs(e))), 1e-300)
        gv = V.T @ g
        if s <= gtol:
            # past gtol, up to EXTRA_STEPS more while the Newton step still moves the point by more than
            # EXACT relative to its size and the last step divided the gradient by 10: the stopping rule
            # bounds the gradient, not the point, and along curvatures of order lambda (small weight decay,
            # near thresholds) a gradient at gtol leaves the geometry off by ~gtol / lambda
            # (measured off the symmetries' zero curvatures, where rounding in g would make it look long)
            curved = np.abs(e) > 1e-10 * scale
            step = float(np.linalg.norm(gv[curved] / np.abs(e[curved])))
            if (extra >= EXTRA_STEPS or step <= EXACT * max(float(np.linalg.norm(x)), 1.0)
                    or (last_gn is not None and gn > 0.1 * last_gn)):
                break
            extra += 1
        last_gn = gn
        accepted = False
        for k in range(24):
            mu = mu_rel * scale * 10.0 ** k
            delta = -V @ (gv / (np.abs(e) + mu))
            xn = x + jnp.asarray(delta)
            fn, gnew = value_grad(xn, data)
            fn, gnn = float(fn), float(jnp.linalg.norm(gnew))
            if np.isfinite(fn) and (fn < fx or (fn <= fx + 4 * eps * abs(fx) and gnn < gn)):
                accepted = True
                mu_rel = max(mu / scale / 10.0, 10 * eps)
                break
        if not accepted:
            break
        x = xn
        steps += 1
    if met is not None and s > met[3]:  # an extra step that lowered f but raised the gradient: keep the best
        x, fx, gn, s, e, V = met
    curv = Curvature(float(e[0]), float(e[-1]), int(e.size), V[:, 0])
    status = Status.CONVERGED if s <= gtol else Status.STALLED
    out = jax.tree_util.tree_map(np.asarray, unravel(x))
    return Run(out, fx, gn, s, steps, status), curv
