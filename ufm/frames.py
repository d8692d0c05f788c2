"""Frames of many unit vectors for fixed classifiers: coherence, its lower bounds, equiangular basis vectors
(EBV) and the sparse equiangular classifier of FedLoGe (SSE-C). docs/theory.md section 18.

The rows w_1..w_K of a K x d matrix are unit vectors; their *coherence* is mu(W) = max_{i != j} |<w_i, w_j>|.

- **Welch bound** (Welch 1974): mu >= sqrt((K - d) / (d (K - 1))) for K > d, attained exactly by equiangular
  tight frames (the simplex ETF for K = d + 1). It cannot be attained when K > d (d + 1) / 2 (real case).
- **Levenstein bound** (real case, K > d (d + 1) / 2): mu^2 >= (3K - d^2 - 2d) / ((d + 2)(K - d)).
- **EBV** (Shen, Sun & Wei 2023, "Equiangular basis vectors", CVPR, arXiv 2303.11637): K unit vectors with
  max |cos| as small as can be found; the authors run SGD on sum_{i != j} relu(|cos_ij| - tau) for up to
  1e5 steps (float32, their Generate_EBV.py [code]). :func:`ebv` minimises a smooth surrogate of the
  coherence instead, in jitted float64:

  * K <= d: the orthogonal frame (mu = 0); K = d + 1: the simplex ETF (mu = 1/d = the Welch bound);
  * K <= :data:`LBFGS_MAX_K`: L-BFGS (optax) on  f_p(U) = (1/p) log sum_{i != j} exp(p c_ij^2),
    c_ij the cosine of the rows of U, with continuation p s^2 = 10, 10^2, ..., 10^5 (s: the coherence at
    the start of the stage), so the smooth maximum tends to mu^2;
  * larger K: sweeps of Riemannian gradient steps on the sphere for the p-norm  sum_{i != j} (c_ij / s)^{2q},
    q = 2, 4, 8, 16 (s: the coherence of the previous sweep). The gradient is computed in row blocks of 512
    against all K rows, so memory stays O(B K) and the K x K Gram is never held; then every row steps
    (tangent projection, the largest move an angle of ``0.3 s``, renormalised). The number of sweeps is
    fixed by (K, d) (:func:`default_sweeps`), so the result is deterministic.

  Both start from a tight frame (the polar factor of a seeded Gaussian K x d matrix, rows renormalised).
- **SSE-C** (Xiao et al. 2024, "FedLoGe: joint local and generic federated learning under long-tailed data",
  ICLR, arXiv 2401.08977): a simplex ETF in a Haar-random basis with a random fraction ``beta = 0.6`` of its
  K d entries set to zero, then the non-zero entries optimised (the zeros stay zero) for unit norms and a large
  angle between each class vector and its nearest neighbour: the authors' loss is
  -mean_k arccos(max_{j != k} cos_kj) plus a norm penalty (their ``gen_sparse_ETF`` [code]; Adam, 1e4 steps).
  :func:`sparse_equiangular` parametrises the directions (rows normalised inside the loss) and runs L-BFGS on
  the same angle loss with the max replaced by a log-sum-exp at growing sharpness.
"""

from __future__ import annotations

import math

import numpy as np

from ufm.errors import ProblemError

#: above this many vectors :func:`ebv` switches from full-Gram L-BFGS to blocked sweeps
LBFGS_MAX_K = 512
#: default seed of the generators (a geometry registered by name must be reproducible)
DEFAULT_SEED = 0
#: the fraction of zero entries of FedLoGe's SSE-C (their ``beta``)
SSE_C_SPARSITY = 0.6


def welch_bound(K: int, d: int) -> float:
    """Welch (1974): every K unit vectors of R^d (K > d) have coherence >= sqrt((K - d) / (d (K - 1))); 0 for
    K <= d (orthogonal vectors exist)."""
    return math.sqrt((K - d) / (d * (K - 1))) if K > d else 0.0


def levenstein_bound(K: int, d: int) -> float:
    """The real Levenstein bound sqrt((3K - d^2 - 2d) / ((d + 2)(K - d))) for K > d (d + 1) / 2, else 0."""
    if 2 * K <= d * (d + 1):
        return 0.0
    return math.sqrt((3 * K - d * d - 2 * d) / ((d + 2) * (K - d)))


def coherence_bound(K: int, d: int) -> float:
    """The larger of the Welch and Levenstein bounds: no K unit vectors in R^d have a smaller coherence."""
    return max(welch_bound(K, d), levenstein_bound(K, d))


def _unit_rows(W):
    import jax.numpy as jnp

    return W / jnp.linalg.norm(W, axis=1, keepdims=True)


def _block(K: int) -> int:
    return K if K <= 1024 else 512


def coherence(W, *, block: int | None = None) -> float:
    """max_{i != j} |cos(w_i, w_j)| of the rows of W: dense in numpy when the K x K cosines are one block (K <=
    1024, no ``block`` given), else in jitted row blocks (memory O(block K))."""
    import jax.numpy as jnp

    W = np.asarray(W, dtype=np.float64)
    K = W.shape[0]
    if K < 2:
        return 0.0
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    if block is None and _block(K) == K:
        C = U @ U.T
        return float(np.max(np.abs(C[~np.eye(K, dtype=bool)])))
    B = block or _block(K)
    V = _padded(U, B)
    return float(_coherence_fn(B, V.shape[0] // B)(jnp.asarray(V), K))


def _padded(W: np.ndarray, B: int) -> np.ndarray:
    K, d = W.shape
    Kp = -(-K // B) * B
    return np.vstack([W, np.zeros((Kp - K, d))]) if Kp > K else W


def _coherence_fn(B: int, nb: int):
    """The jitted blocked max |cos| for row blocks of B (nb of them), one per (B, nb)."""
    if (B, nb) in _COHERENCE:
        return _COHERENCE[B, nb]
    import jax
    import jax.numpy as jnp

    @jax.jit
    def fn(V, K):
        def body(b, mx):
            Vb = jax.lax.dynamic_slice_in_dim(V, b * B, B)
            C = Vb @ V.T
            C = C.at[jnp.arange(B), b * B + jnp.arange(B)].set(0.0)
            return jnp.maximum(mx, jnp.max(jnp.abs(C)))

        return jax.lax.fori_loop(0, nb, body, jnp.float64(0.0))

    _COHERENCE[B, nb] = fn
    return fn


_COHERENCE: dict = {}


def tight_start(K: int, d: int, seed) -> np.ndarray:
    """The polar factor of a seeded K x d Gaussian (a tight frame: W^T W = I), rows renormalised."""
    g = np.random.default_rng(DEFAULT_SEED if seed is None else seed).standard_normal((K, d))
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    W = u @ vt
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def ebv(K: int, d: int, seed=None, *, sweeps: int | None = None) -> np.ndarray:
    """Equiangular basis vectors: K unit rows in R^d with small coherence (module docstring).

    Deterministic for a given (K, d, seed); ``seed=None`` means :data:`DEFAULT_SEED`. ``sweeps`` overrides
    the number of blocked sweeps used above :data:`LBFGS_MAX_K` vectors.
    """
    K, d = int(K), int(d)
    if K < 2 or d < 1:
        raise ProblemError("classifier", f"'ebv' needs K >= 2 and d >= 1, got K = {K}, d = {d}")
    if K <= d + 1:  # the orthogonal frame (mu = 0) or the simplex (Welch attained), rotated with a seed
        if K <= d:
            W = np.eye(d)[:K].copy()
        else:
            centred = np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K)
            u, s, _ = np.linalg.svd(centred)
            W = u[:, : K - 1] * s[: K - 1]
        if seed is None:
            return W
        q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
        return W @ (q * np.sign(np.diag(r)))  # sign-fixed QR of a Gaussian: a Haar rotation
    if d == 1:
        raise ProblemError("classifier", f"'ebv' with d = 1 has coherence 1 for any K >= 3 (got K = {K}); "
                                         "use d >= 2")
    W = tight_start(K, d, seed)
    if K <= LBFGS_MAX_K:
        return np.asarray(_ebv_lbfgs(W))
    return np.asarray(_ebv_sweeps(W, sweeps if sweeps is not None else default_sweeps(K, d)))


def default_sweeps(K: int, d: int) -> int:
    """Blocked sweeps for K > LBFGS_MAX_K: about 1.2e12 multiply-adds in all (2 K^2 d per sweep: 12 sweeps,
    under a minute on 2 CPU cores, at K = 10^4, d = 512), at least 8 and at most 400."""
    n = int(min(400, max(8, 1.2e12 // (2 * K * K * d))))
    return -(-n // len(_SWEEP_QS)) * len(_SWEEP_QS)  # an equal share for each exponent q


#: continuation of the log-sum-exp sharpness: p s^2 at each stage, L-BFGS iterations per stage
_LBFGS_STAGES = (10.0, 1e2, 1e3, 1e4, 1e5)
_LBFGS_ITERS = 300


def _ebv_lbfgs(W0: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp

    U = jnp.asarray(W0)
    for P in _LBFGS_STAGES:
        s = max(coherence(np.asarray(U)), 1e-3)
        U = _lbfgs_stage(_ebv_loss, U, jnp.float64(P / s ** 2), None)
    return np.asarray(_unit_rows(U))


def _ebv_loss(U, p, mask):
    import jax
    import jax.numpy as jnp

    V = _unit_rows(U)
    C = V @ V.T
    K = C.shape[0]
    off = ~jnp.eye(K, dtype=bool)
    return jax.nn.logsumexp(jnp.where(off, p * C ** 2, -jnp.inf)) / p


def _lbfgs_stage(loss, U, p, mask):
    """_LBFGS_ITERS steps of optax L-BFGS (zoom line search) on loss(U, p, mask), U's support kept by mask."""
    return _lbfgs_runner(loss)(U, p, mask)


_RUNNERS: dict = {}


def _lbfgs_runner(loss):
    if loss in _RUNNERS:
        return _RUNNERS[loss]
    import jax
    import optax

    opt = optax.lbfgs()

    @jax.jit
    def run(U, p, mask):
        f = (lambda u: loss(u, p, mask))
        vg = optax.value_and_grad_from_state(f)

        def step(carry, _):
            U, state = carry
            value, grad = vg(U, state=state)
            if mask is not None:
                grad = grad * mask
            updates, state = opt.update(grad, state, U, value=value, grad=grad, value_fn=f)
            if mask is not None:
                updates = updates * mask
            U = optax.apply_updates(U, updates)
            return (U, state), None

        (U, _), _ = jax.lax.scan(step, (U, opt.init(U)), None, length=_LBFGS_ITERS)
        return U

    _RUNNERS[loss] = run
    return run


#: p-norm exponents of the blocked sweeps (each for an equal share of the sweeps) and the step angle / s
_SWEEP_QS = (2, 4, 8, 16)
_SWEEP_STEP = 0.3


def _ebv_sweeps(W0: np.ndarray, sweeps: int) -> np.ndarray:
    import jax.numpy as jnp

    K, d = W0.shape
    B = _block(K)
    V = jnp.asarray(_padded(W0, B))
    s = coherence(W0, block=B)
    per = -(-sweeps // len(_SWEEP_QS))  # sweeps rounded up to a multiple of len(_SWEEP_QS)
    for q in _SWEEP_QS:
        fn = _sweep_fn(B, V.shape[0] // B, q)
        for _ in range(per):
            V, mx = fn(V, jnp.float64(s), jnp.float64(_SWEEP_STEP), K)
            s = float(mx)  # the coherence seen during the sweep: the scale of the next one
    return np.asarray(V[:K])


def cosine_gradient(V, weight, B: int):
    """(G, mu) with G = weight(C) @ V computed in row blocks of B rows and C = V V^T with its diagonal set to 0
    (each block is B x K: the K x K matrix is never held), mu = max |C|. V has a multiple of B rows (zero rows
    pad it). Traceable: call it inside ``jax.jit`` (``weight`` maps a B x K block of cosines to weights)."""
    import jax
    import jax.numpy as jnp

    def body(b, carry):
        G, mx = carry
        Vb = jax.lax.dynamic_slice_in_dim(V, b * B, B)
        C = Vb @ V.T
        C = C.at[jnp.arange(B), b * B + jnp.arange(B)].set(0.0)
        mx = jnp.maximum(mx, jnp.max(jnp.abs(C)))
        return jax.lax.dynamic_update_slice_in_dim(G, weight(C) @ V, b * B, 0), mx

    return jax.lax.fori_loop(0, V.shape[0] // B, body, (jnp.zeros_like(V), jnp.zeros((), V.dtype)))


def _sweep_fn(B: int, nb: int, q: int):
    """The jitted sweep for row blocks of B (nb of them) and the integer exponent q (powers by multiplication)."""
    key = (B, nb, q)
    if key in _SWEEPS:
        return _SWEEPS[key]
    import jax
    import jax.numpy as jnp

    @jax.jit
    def sweep(V, s, step_angle, K):
        """One Jacobi sweep: the gradient of every row block against all rows (blocked), then one step.
        (Writing each block back inside the loop, Gauss-Seidel, was 4x slower on CPU: XLA copies.)"""
        def weight(C):  # the gradient of sum (c/s)^{2q} / (2q) is weight(C) @ V, up to the factor 1/s
            x = C / s
            return x * (x * x) ** (q - 1)

        G, mx = cosine_gradient(V, weight, B)
        G = G - jnp.sum(G * V, axis=1, keepdims=True) * V  # tangent to the sphere
        new = V - step_angle * s * G / jnp.maximum(jnp.linalg.norm(G, axis=1, keepdims=True), 1.0)
        new = new / jnp.maximum(jnp.linalg.norm(new, axis=1, keepdims=True), 1e-300)
        return jnp.where((jnp.arange(V.shape[0]) < K)[:, None], new, 0.0), mx

    _SWEEPS[key] = sweep
    return sweep


_SWEEPS: dict = {}


# ----------------------------------------------------------------------------- SSE-C (FedLoGe)
def sparse_mask(K: int, d: int, sparsity: float, seed) -> np.ndarray:
    """A K x d 0/1 mask with exactly floor(sparsity K d) zeros at uniformly random positions (seeded)."""
    rng = np.random.default_rng([DEFAULT_SEED if seed is None else seed, 1])
    zeros = rng.choice(K * d, size=int(sparsity * K * d), replace=False)
    mask = np.ones(K * d)
    mask[zeros] = 0.0
    return mask.reshape(K, d)


def sparse_equiangular(base: np.ndarray, seed=None, *, sparsity: float = SSE_C_SPARSITY) -> np.ndarray:
    """FedLoGe's static sparse equiangular classifier (SSE-C) from a dense ``base`` (K x d, the simplex ETF in
    a Haar-random basis, see ``ufm.geometry.sparse_etf``): unit rows, exactly floor(sparsity K d) zero entries,
    the non-zero ones optimised for large nearest-neighbour angles (module docstring). Every row keeps at
    least two non-zero entries (else the mask is redrawn, seeded)."""
    import jax.numpy as jnp

    K, d = base.shape
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0.0 <= sparsity < 1.0:
        raise ProblemError("sparsity", f"must be a number in [0, 1), got {sparsity!r}")
    seed = DEFAULT_SEED if seed is None else seed
    for attempt in range(100):
        mask = sparse_mask(K, d, sparsity, seed + 7919 * attempt)
        if np.all(mask.sum(axis=1) >= 2):
            break
    else:
        raise ProblemError("classifier", f"'sparse-etf': sparsity {sparsity} leaves a row with fewer than two "
                                         f"non-zero entries in d = {d}; use a larger d")
    U = jnp.asarray(base * mask)
    m = jnp.asarray(mask)
    for P in _LBFGS_STAGES[:4]:
        U = _lbfgs_stage(_sse_loss, U, jnp.float64(P), m)
    W = np.asarray(U) * mask  # exact zeros off the support
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def _sse_loss(U, p, mask):
    """-mean_k arccos(smooth max_{j != k} cos_kj): FedLoGe's angle loss, max -> (1/p) log-sum-exp(p cos)."""
    import jax
    import jax.numpy as jnp

    V = _unit_rows(U * mask)
    C = V @ V.T
    K = C.shape[0]
    smax = jax.nn.logsumexp(jnp.where(jnp.eye(K, dtype=bool), -jnp.inf, p * C), axis=1) / p
    return -jnp.mean(jnp.arccos(jnp.clip(smax, -1 + 1e-12, 1 - 1e-12)))


def nearest_angles(W) -> np.ndarray:
    """Angle (radians) between each row and its nearest other row: arccos(max_{j != k} cos_kj)."""
    W = np.asarray(W, dtype=np.float64)
    V = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = V @ V.T
    np.fill_diagonal(C, -np.inf)
    return np.arccos(np.clip(C.max(axis=1), -1.0, 1.0))
