"""Federated UFMs: FedAvg of the shared layers over clients with skewed labels (docs/theory.md, "Federated UFMs").

Li, Shang, He, Lin & Wu 2023, "No fear of classifier biases: neural collapse inspired federated learning with
synthetic and fixed classifier" (FedETF, ICCV 2023, arXiv:2303.10058) fix a simplex-ETF classifier shared by all
clients so that local training under label skew cannot bias the classifier towards local majority classes. This
module brings that setting into the UFM, simulated on one machine.

**Clients.** C clients; client c holds n_k^c samples of class k (``counts``, C x K integers), given or drawn by
:func:`dirichlet_counts` (the usual label-skew partition: for each class k, the pooled n_k samples are split
over the clients with proportions ~ Dirichlet(alpha 1_C), numpy ``Generator`` with a seed). The pooled counts
n_k = sum_c n_k^c are the centralised problem.

**Local objective.** Client c's features H_c (d x K, class-reduced: ``ufm.objective`` with ``reduce=True``,
column k = sqrt(n_k^c) times the common feature of its class-k samples) are local; the layers W (and the
bias) are shared. Its objective is the class-reduced canonical objective of its own counts, with weights
n_k^c / N_c, scales 1/sqrt(n_k^c), and the feature decay ``lambda_H N / N_c``::

    f_c(W, H_c) = sum_k (n_k^c / N_c) loss(W s(h_k / sqrt(n_k^c)), e_k) + sum_m lambda_W[m]/2 ||W_m||^2
                  + (lambda_H N / N_c) / 2 ||H_c||^2

The decay is scaled so that each sample keeps the centralised ratio of its loss (1/N) to its feature penalty
(lambda_H/2), which makes the weighted sum exact: sum_c (N_c/N) f_c(W, H_c) = F(W, H), the canonical objective
of the pooled counts (``ufm.objective`` once more, with H stacking the clients' columns). A class that client c
lacks (n_k^c = 0) has weight 0, scale 1: its column only feels the decay and stays at 0 (it starts at 0), and
per-client metrics skip it. Every client has K columns, so the clients batch with ``jax.vmap``.

**FedAvg** (McMahan et al. 2017, "Communication-efficient learning of deep networks from decentralized data",
arXiv:1602.05629). One round: every client starts from the global shared layers, takes E local steps (gradient
descent with step ``lr`` or Adam, ``optax``) on f_c over (W, b, H_c), and the server averages the shared layers
with weights N_c / N (full participation); H_c stays on the client. The whole run is one jitted ``lax.scan``
over rounds of a ``vmap`` over clients. With E = 1 and gradient descent a round is exactly one step of gradient
descent on F preconditioned by N / N_c on the features of client c, so its fixed points are the stationary
points of F: the federated run approaches the centralised optimum of ``ufm.solve`` on the pooled counts
(``tests/test_federated.py``). With E > 1 the fixed point drifts (client drift) and a learnable classifier
follows each client's majority classes during the local steps; a fixed classifier (``Problem(classifier=
"etf")``, or any registered geometry) cannot.

**Local adaptation** (FedETF's personalisation step: after federated training each client fine-tunes the
classifier on its own data). ``adapt_steps`` > 0 makes each client, after the last round, take that many local
steps with the classifier learnable (started at the global classifier, fixed or not); the adapted classifiers
are reported per client.

Measured (:class:`FedResult`): per-round global objective F; the global classifier's row norms and their
correlation with the pooled counts, its ETF deviation (``ufm.metrics.nc2_etf``); per client, the local
classifier after the last round's local steps: its norm-count correlation with the client's counts (the
classifier bias towards local majorities), its angle to the global classifier, and NC metrics of the client's
class means (present classes).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ufm import metrics, objective
from ufm.errors import ProblemError
from ufm.problem import Problem, check_int
from ufm.solver import solve

OPTIMIZERS = ("gd", "adam")


def dirichlet_counts(pooled, clients: int, alpha: float, seed: int = 0) -> np.ndarray:
    """Label-skew partition (C x K): for each class k, n_k samples split over ``clients`` with proportions
    p ~ Dirichlet(alpha 1_C) (``numpy.random.default_rng(seed)``), rounded by largest remainders so each
    column sums to n_k exactly. Small alpha: each class concentrated on few clients; alpha -> inf: IID.
    A client left with no sample at all gets one sample of its largest-share class (taken from the client
    holding most of that class), so every client has N_c >= 1."""
    pooled = np.asarray(pooled)
    if pooled.ndim != 1 or pooled.size < 2 or np.any(pooled < 1) or np.any(pooled != np.round(pooled)):
        raise ProblemError("counts", "pooled counts must be >= 2 positive integers")
    clients = check_int("clients", clients, 1)
    if not (np.isfinite(_number("alpha", alpha)) and alpha > 0):
        raise ProblemError("alpha", f"must be a finite number > 0, got {alpha!r}")
    if int(pooled.sum()) < clients:
        raise ProblemError("clients", f"must be <= the number of samples {int(pooled.sum())}, got {clients}")
    g = np.random.default_rng(seed)
    P = g.dirichlet(np.full(clients, float(alpha)), size=pooled.size).T  # C x K, columns sum to 1
    out = np.zeros((clients, pooled.size), np.int64)
    for k, n in enumerate(pooled.astype(np.int64)):
        raw = P[:, k] * n
        base = np.floor(raw).astype(np.int64)
        extra = n - base.sum()
        base[np.argsort(-(raw - base), kind="stable")[:extra]] += 1
        out[:, k] = base
    for c in np.flatnonzero(out.sum(axis=1) == 0):
        k = int(np.argmax(P[c]))
        donor = int(np.argmax(out[:, k]))
        out[donor, k] -= 1
        out[c, k] += 1
    return out


def _number(field, value) -> float:
    """A real number (a 0-d array taken; strings, bools and anything else refused, naming the field)."""
    value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProblemError(field, f"must be a number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Federation:
    """A federated UFM: ``problem`` is the template (d, depth, loss, bias, decays, classifier learnable or a
    fixed geometry by name); its counts are replaced by the pooled ``counts`` (C x K) of the clients. ``rounds``
    of FedAvg with ``local_steps`` (E) local steps of ``optimizer`` ("gd" or "adam") with step ``lr``;
    ``adapt_steps`` local steps of FedETF's local adaptation after the last round; ``seed`` of the start."""

    problem: Problem
    counts: tuple
    rounds: int = 200
    local_steps: int = 1
    lr: float = 0.5
    optimizer: str = "gd"
    adapt_steps: int = 0
    seed: int = 0
    init_scale: float = 0.1

    def __post_init__(self):
        try:
            c = np.asarray(self.counts, dtype=np.float64)
        except (TypeError, ValueError):
            raise ProblemError("counts", "client counts must be a C x K array of integers >= 0") from None
        if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 2 or np.any(c < 0) or np.any(c != np.round(c)):
            raise ProblemError("counts", "client counts must be a C x K array of integers >= 0 with K >= 2")
        if np.any(c.sum(axis=1) == 0):
            raise ProblemError("counts", "every client needs at least one sample")
        if np.any(c.sum(axis=0) == 0):
            raise ProblemError("counts", "every class needs at least one sample over the clients")
        if not isinstance(self.problem, Problem):
            raise ProblemError("problem", "must be a ufm.Problem (the template)")
        if c.shape[1] != self.problem.K:
            raise ProblemError("counts", f"has {c.shape[1]} classes, the template problem {self.problem.K}")
        if not self.problem.linear or self.problem.normalized or self.problem.samples is not None:
            raise ProblemError("problem", "federated runs support linear layers, one-hot labels, no sphere "
                                          "constraint")
        object.__setattr__(self, "counts", tuple(tuple(int(v) for v in row) for row in c))
        for field, minimum in (("rounds", 1), ("local_steps", 1), ("adapt_steps", 0), ("seed", 0)):
            object.__setattr__(self, field, check_int(field, getattr(self, field), minimum))
        if self.optimizer not in OPTIMIZERS:
            raise ProblemError("optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        for field in ("lr", "init_scale"):
            v = _number(field, getattr(self, field))
            if not (np.isfinite(v) and v > 0):
                raise ProblemError(field, f"must be a finite number > 0, got {getattr(self, field)!r}")
        if self.adapt_steps and self.problem.depth != 1:
            raise ProblemError("adapt_steps", f"local adaptation is implemented for depth 1, got depth "
                                              f"{self.problem.depth}")

    @property
    def clients(self) -> int:
        return len(self.counts)

    @property
    def client_counts(self) -> np.ndarray:
        return np.asarray(self.counts, np.int64)

    @property
    def pooled(self) -> Problem:
        """The centralised problem: the template with the pooled counts."""
        return self.problem.replace(counts=tuple(int(v) for v in self.client_counts.sum(axis=0)))


@dataclasses.dataclass(frozen=True)
class FedResult:
    """A federated run. ``history``: global objective F (the pooled canonical objective) after each round.
    ``classifier``: the global K x d classifier (product of the layers for depth > 1); ``norms`` its row norms;
    ``norm_count_corr`` their Pearson correlation with the pooled counts (nan when all equal); ``nc2_etf`` its
    ETF deviation. Per client (arrays of length C): ``local_norm_count_corr`` correlation of the local
    classifier's row norms (after the last round's local steps) with the client's counts, over its present
    classes (nan when constant); ``local_cosine`` mean cosine between local and global classifier rows;
    ``client_nc2`` ETF deviation of the client's class means (present classes; nan with fewer than 2);
    ``adapted_norm_count_corr`` the same correlation after local adaptation (None without it). ``params``: the
    global shared layers ``W`` (and ``b``) and the clients' reduced features ``H`` (C x d x K)."""

    federation: Federation
    history: np.ndarray
    objective: float
    params: dict
    classifier: np.ndarray
    norms: np.ndarray
    norm_count_corr: float
    nc2_etf: float
    local_norm_count_corr: np.ndarray
    local_cosine: np.ndarray
    client_nc2: np.ndarray
    adapted_norm_count_corr: Optional[np.ndarray] = None

    def summary(self) -> dict:
        f = self.federation
        out = {"clients": f.clients, "K": f.problem.K, "rounds": f.rounds, "local_steps": f.local_steps,
               "classifier": f.problem.classifier_name or ("fixed" if f.problem.classifier_fixed else "learnable"),
               "objective": self.objective, "norm_ratio": float(self.norms.max() / self.norms.min()),
               "norm_count_corr": self.norm_count_corr, "nc2_etf": self.nc2_etf,
               "local_norm_count_corr": float(np.nanmean(self.local_norm_count_corr))
               if np.any(np.isfinite(self.local_norm_count_corr)) else float("nan"),
               "local_cosine": float(np.mean(self.local_cosine))}
        if self.adapted_norm_count_corr is not None:
            a = self.adapted_norm_count_corr
            out["adapted_norm_count_corr"] = float(np.nanmean(a)) if np.any(np.isfinite(a)) else float("nan")
        return out


def client_data(fed: Federation) -> dict:
    """The stacked (leading axis: client) data of the clients' class-reduced objectives (module docstring):
    the pooled problem's ``ufm.objective.problem_data(reduce=True)`` with each client's weights, scales and
    feature decay."""
    base = objective.problem_data(fed.pooled, jnp.float64, reduce=True, stream=False)
    n = fed.client_counts.astype(np.float64)
    Nc = n.sum(axis=1, keepdims=True)
    data = {k: jnp.broadcast_to(v, (fed.clients,) + v.shape) for k, v in base.items()}
    data["weights"] = jnp.asarray(n / Nc)
    data["scale"] = jnp.asarray(1.0 / np.sqrt(np.maximum(n, 1.0)))
    data["lambda_H"] = jnp.asarray(fed.problem.lambda_H * n.sum() / Nc[:, 0])
    return data


def _optimizer(name, lr):
    return optax.sgd(lr) if name == "gd" else optax.adam(lr)


def _descend(f, tx, params, data, steps):
    """``steps`` steps of the optax transformation ``tx`` on ``f(., data)`` from ``params`` (state started
    afresh: each round's local optimisation starts anew, as in FedAvg)."""

    def step(carry, _):
        p, s = carry
        updates, s = tx.update(jax.grad(f)(p, data), s, p)
        return (optax.apply_updates(p, updates), s), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params


@functools.partial(jax.jit, static_argnames=("loss", "bias", "rounds", "steps", "opt", "lr"))
def _run(shared, H, data, mix, *, loss, bias, rounds, steps, opt, lr):
    """``rounds`` FedAvg rounds (lax.scan) of ``steps`` local steps per client (vmap). ``shared``: the global
    {"W", ["b"]}; ``H``: C x d x K; ``mix``: N_c / N."""
    f = objective.make_objective(loss, bias)
    tx = _optimizer(opt, lr)

    def local(shared, H_c, data_c):
        return _descend(f, tx, {**shared, "H": H_c}, data_c, steps)

    def global_value(shared, H):
        return jnp.sum(mix * jax.vmap(lambda h, dc: f({**shared, "H": h}, dc))(H, data))

    def one_round(carry, _):
        shared, H = carry
        local_params = jax.vmap(local, in_axes=(None, 0, 0))(shared, H, data)
        new_shared = jax.tree_util.tree_map(lambda x: jnp.tensordot(mix, x, axes=1),
                                            {k: v for k, v in local_params.items() if k != "H"})
        return (new_shared, local_params["H"]), global_value(new_shared, local_params["H"])

    (shared, H), history = jax.lax.scan(one_round, (shared, H), None, length=rounds)
    last_local = jax.vmap(local, in_axes=(None, 0, 0))(shared, H, data)
    return shared, H, history, last_local


@functools.partial(jax.jit, static_argnames=("loss", "bias", "steps", "opt", "lr"))
def _adapt(shared, H, data, *, loss, bias, steps, opt, lr):
    """FedETF's local adaptation: ``steps`` local steps per client with the classifier learnable (started at
    the fixed one, which leaves ``data``)."""
    f = objective.make_objective(loss, bias)
    tx = _optimizer(opt, lr)

    def local(H_c, data_c):
        params = {**shared, "W": tuple(shared["W"]) + (data_c["classifier"],), "H": H_c}
        d = {k: v for k, v in data_c.items() if k != "classifier"}
        d["lambda_W"] = jnp.concatenate([d["lambda_W"], jnp.reshape(d.pop("lambda_classifier"), (1,))])
        return _descend(f, tx, params, d, steps)["W"][-1]

    return jax.vmap(local)(H, data)


def _corr(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.ptp(x) <= 1e-12 * max(1.0, np.abs(x).max()) or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _product(Ws) -> np.ndarray:
    P = np.asarray(Ws[-1], np.float64)
    for W in reversed(Ws[:-1]):
        P = P @ np.asarray(W, np.float64)
    return P


def run(fed: Federation) -> FedResult:
    """Run the federated UFM ``fed`` (module docstring): one jitted program, clients batched with vmap."""
    prob = fed.pooled
    data = client_data(fed)
    key = objective.start_key(fed.seed, 0)
    start = objective.init_params(prob, key, fed.init_scale, jnp.float64, reduce=True)
    shared = {k: v for k, v in start.items() if k != "H"}
    # every client starts from the same features scaled to its own columns; absent classes start at 0
    n = fed.client_counts.astype(np.float64)
    H0 = jnp.asarray(np.asarray(start["H"])[None] * (n > 0)[:, None, :])
    mix = jnp.asarray(n.sum(axis=1) / n.sum())
    shared, H, history, last = _run(shared, H0, data, mix, loss=prob.loss, bias=prob.bias, rounds=fed.rounds,
                                    steps=fed.local_steps, opt=fed.optimizer, lr=float(fed.lr))
    history = np.asarray(history)
    fixed = prob.classifier_fixed
    Ws = list(np.asarray(W) for W in shared["W"]) + ([prob.classifier_matrix()] if fixed else [])
    classifier = _product(Ws)
    norms = np.linalg.norm(classifier, axis=1)
    pooled = n.sum(axis=0)
    C = fed.clients
    local_corr, local_cos, client_nc2 = np.full(C, np.nan), np.zeros(C), np.full(C, np.nan)
    Hs = np.asarray(H)
    for c in range(C):
        present = n[c] > 0
        Wl = ([np.asarray(W[c]) for W in last["W"]] + ([prob.classifier_matrix()] if fixed else []))
        Pl = _product(Wl)
        local_corr[c] = _corr(np.linalg.norm(Pl, axis=1)[present], n[c][present])
        cos = np.sum(Pl * classifier, axis=1) / (np.linalg.norm(Pl, axis=1) * norms)
        local_cos[c] = float(np.mean(cos))
        if present.sum() >= 2:
            means = (Hs[c] / np.sqrt(np.maximum(n[c], 1.0))[None, :])[:, present]  # d x K_c columns
            client_nc2[c] = metrics.nc2_etf(means - means.mean(axis=1, keepdims=True))
    adapted = None
    if fed.adapt_steps:
        d = dict(data)
        if fixed:
            d["classifier"] = jnp.broadcast_to(jnp.asarray(prob.classifier_matrix()), (C,) + classifier.shape)
            d["lambda_classifier"] = jnp.full((C,), float(prob.lambda_W[-1]))
            base_shared = dict(shared)
        else:  # learnable: adapt the global classifier itself (it leaves the shared layers)
            d["classifier"] = jnp.broadcast_to(shared["W"][-1], (C,) + classifier.shape)
            d["lambda_classifier"] = d["lambda_W"][:, -1]
            d["lambda_W"] = d["lambda_W"][:, :-1]
            base_shared = {**shared, "W": tuple(shared["W"][:-1])}
        Wa = np.asarray(_adapt(base_shared, H, d, loss=prob.loss, bias=prob.bias, steps=fed.adapt_steps,
                               opt=fed.optimizer, lr=float(fed.lr)))
        adapted = np.array([_corr(np.linalg.norm(Wa[c], axis=1)[n[c] > 0], n[c][n[c] > 0]) for c in range(C)])
    nc2 = metrics.nc2_etf(classifier.T)  # the K rows as columns
    return FedResult(federation=fed, history=history, objective=float(history[-1]),
                     params={"W": tuple(np.asarray(W) for W in shared["W"]), "H": Hs,
                             **({"b": np.asarray(shared["b"])} if "b" in shared else {})},
                     classifier=classifier, norms=norms, norm_count_corr=_corr(norms, pooled),
                     nc2_etf=float(nc2), local_norm_count_corr=local_corr, local_cosine=local_cos,
                     client_nc2=client_nc2, adapted_norm_count_corr=adapted)


def federate(problem: Problem, *, clients: int = 4, alpha: float = 0.5, counts=None, partition_seed: int = 0,
             **options) -> FedResult:
    """One call: the federated run of ``problem``'s pooled counts split over ``clients`` by Dirichlet(alpha)
    label skew (:func:`dirichlet_counts`, seed ``partition_seed``), or over the given C x K ``counts``;
    ``options``: :class:`Federation` fields (``rounds``, ``local_steps``, ``lr``, ``optimizer``,
    ``adapt_steps``, ``seed``)."""
    if counts is None:
        counts = dirichlet_counts(problem.counts, clients, alpha, partition_seed)
    return run(Federation(problem=problem, counts=counts, **options))


def centralised_objective(fed: Federation, params: dict) -> float:
    """The pooled canonical objective F (``ufm.objective``, class-reduced) at the shared layers of ``params``
    and, for class k, the mean over clients (weights n_k^c) of the clients' class-k features. At a federated
    fixed point with a collapsed optimum the clients' class-k features agree and this equals the federated
    objective sum_c (N_c/N) f_c (module docstring): the check of the decomposition."""
    n = fed.client_counts.astype(np.float64)
    prob = fed.pooled
    # per-sample class-k feature of client c: H_c[:, k] / sqrt(n_k^c); pooled column: sum_c sqrt(n_k^c) * mean
    means = params["H"] / np.sqrt(np.maximum(n, 1.0))[:, None, :]
    pooled_mean = np.einsum("ck,cdk->dk", n, means) / n.sum(axis=0)
    Hp = pooled_mean * np.sqrt(n.sum(axis=0))[None, :]
    p = {"W": params["W"], "H": Hp, **({"b": params["b"]} if "b" in params else {})}
    data = objective.problem_data(prob, jnp.float64, reduce=True, stream=False)
    return float(objective.objective_of(prob)(jax.tree_util.tree_map(jnp.asarray, p), data))


def skew_sweep(problem: Problem, *, alphas=(0.1, 0.3, 1.0, 10.0), clients=(2, 4, 8), classifiers=(None, "etf"),
               partition_seed: int = 0, **options) -> list:
    """Rows of a sweep over label skew (Dirichlet ``alphas``) x number of ``clients`` x ``classifiers``
    (None: learnable; a geometry name: fixed, with no classifier decay), ``options`` the :class:`Federation`
    fields: per row the summary of :func:`run` plus ``alpha`` and ``gap``, the relative gap
    (F_fed - F_central) / F_central to the centralised optimum (``ufm.solve`` on the pooled counts)."""
    rows = []
    for cls in classifiers:
        p = problem.replace(classifier=cls, lambda_W=0.0) if cls is not None else problem
        central = solve(p).objective
        for C in clients:
            for alpha in alphas:
                counts = dirichlet_counts(problem.counts, C, alpha, partition_seed)
                r = run(Federation(problem=p, counts=counts, **options))
                rows.append({**r.summary(), "alpha": float(alpha), "gap": (r.objective - central) / abs(central)})
    return rows
