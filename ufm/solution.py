"""The result of a solve: parameters plus diagnostics, as plain numpy (float64)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

import numpy as np

#: Run statuses, in the order of the solver's integer codes.
STATUSES = ("converged", "max_iter", "stalled", "diverged")


@dataclasses.dataclass(frozen=True)
class Solution:
    """Best run of a solve, with every run's diagnostics.

    Attributes:
      problem: the :class:`ufm.Problem` solved.
      weights: all M layers, first to classifier (a fixed classifier included), numpy float64.
      features: H, d x N, columns grouped by class in class order.
      bias: b (K,), or None when ``problem.bias == "none"``.
      objective, grad_norm, iterations, status: of the best run.
      restart_objectives, restart_statuses, restart_grad_norms, restart_iterations: of every run, in order.
      method, seed, wall_time (seconds, all runs, compilation included), options: how it was solved.
      certificate: filled by ``ufm.certify`` (lower bound, gap, second-order verdict, ...), else None.
    """

    problem: Any
    weights: tuple
    features: np.ndarray
    bias: Optional[np.ndarray]
    objective: float
    grad_norm: float
    iterations: int
    status: str
    restart_objectives: np.ndarray
    restart_statuses: tuple
    restart_grad_norms: np.ndarray
    restart_iterations: np.ndarray
    method: str = "lbfgs"
    seed: int = 0
    wall_time: float = 0.0
    options: dict = dataclasses.field(default_factory=dict)
    certificate: Optional[dict] = None

    @classmethod
    def from_runs(cls, problem, runs, **kwargs) -> "Solution":
        """Pick the best finite run. ``runs``: list of (params, objective, grad_norm, iterations, status)."""
        objectives = np.array([r[1] for r in runs], dtype=np.float64)
        statuses = tuple(r[4] for r in runs)
        usable = [i for i, r in enumerate(runs) if r[4] != "diverged" and np.isfinite(r[1])]
        if usable:
            best = min(usable, key=lambda i: objectives[i])
        else:
            best = 0
        params, fx, gn, it, status = runs[best]
        weights = [np.asarray(W, dtype=np.float64) for W in params["W"]]
        if problem.classifier_fixed:
            weights.append(problem.classifier_matrix())
        return cls(problem=problem, weights=tuple(weights), features=np.asarray(params["H"], np.float64),
                   bias=None if "b" not in params else np.asarray(params["b"], np.float64),
                   objective=fx, grad_norm=gn, iterations=it, status=status,
                   restart_objectives=objectives, restart_statuses=statuses,
                   restart_grad_norms=np.array([r[2] for r in runs]),
                   restart_iterations=np.array([r[3] for r in runs]), **kwargs)

    # ------------------------------------------------------------------ derived
    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def params(self) -> dict:
        """The parameter pytree (learnable layers only), e.g. to warm-start ``ufm.solve(init=...)``."""
        from ufm.objective import params_from_arrays

        return params_from_arrays(self.problem, self.weights, self.features, self.bias)

    def product(self) -> np.ndarray:
        """W = W_M ... W_1 (K x d)."""
        out = self.weights[0]
        for W in self.weights[1:]:
            out = W @ out
        return out

    @property
    def classifier(self) -> np.ndarray:
        """The last layer W_M (K x d)."""
        return self.weights[-1]

    def logits(self) -> np.ndarray:
        Z = self.product() @ self.features
        return Z if self.bias is None else Z + self.bias[:, None]

    def class_means(self) -> np.ndarray:
        """Hbar = [hbar_1 .. hbar_K] (d x K), means of the feature columns of each class."""
        labels = self.problem.labels()
        return np.stack([self.features[:, labels == k].mean(axis=1) for k in range(self.problem.K)], axis=1)

    def layer_features(self) -> list:
        """Features entering each layer: [H, W_1 H, W_2 W_1 H, ..., W_{M-1}..W_1 H] (M entries)."""
        out = [self.features]
        for W in self.weights[:-1]:
            out.append(W @ out[-1])
        return out

    def distinct_objectives(self, rtol: float = 1e-7) -> list:
        """Distinct final objective values across runs (diverged runs left out), as (value, count) from
        lowest; values within ``rtol`` (relative) of a group's lowest member count as the same basin."""
        vals = sorted(v for v, s in zip(self.restart_objectives, self.restart_statuses)
                      if s != "diverged" and np.isfinite(v))
        groups: list = []
        for v in vals:
            if groups and abs(v - groups[-1][0]) <= rtol * max(1.0, abs(groups[-1][0])):
                groups[-1][1] += 1
            else:
                groups.append([v, 1])
        return [(float(v), int(c)) for v, c in groups]

    def metrics(self, **kwargs) -> dict:
        """Neural-collapse metrics of this solution (``ufm.metrics.solution_metrics``)."""
        from ufm.metrics import solution_metrics

        return solution_metrics(self, **kwargs)

    # ------------------------------------------------------------------ export
    def summary(self) -> str:
        vals = self.distinct_objectives()
        lines = [
            self.problem.describe(),
            f"objective  {self.objective:.15g}",
            f"status     {self.status} after {self.iterations} iterations, ||grad|| = {self.grad_norm:.3e}",
            f"restarts   {len(self.restart_objectives)} run(s), {len(vals)} distinct value(s): "
            + ", ".join(f"{v:.12g} x{c}" for v, c in vals[:5]) + (" ..." if len(vals) > 5 else ""),
            f"time       {self.wall_time:.2f} s ({self.method})",
        ]
        return "\n".join(lines)

    def to_dict(self, include_arrays: bool = True, metrics: Optional[dict] = None) -> dict:
        """JSON-able dict (the schema of ``ufm solve --json``)."""
        out = {
            "problem": self.problem.to_dict(),
            "objective": self.objective,
            "grad_norm": self.grad_norm,
            "iterations": self.iterations,
            "status": self.status,
            "method": self.method,
            "seed": self.seed,
            "wall_time": self.wall_time,
            "restart_objectives": [float(v) for v in self.restart_objectives],
            "restart_statuses": list(self.restart_statuses),
            "distinct_objectives": [{"value": v, "count": c} for v, c in self.distinct_objectives()],
            "metrics": _jsonable(metrics if metrics is not None else self.metrics()),
            "certificate": _jsonable(self.certificate),
        }
        if include_arrays:
            out["weights"] = [W.tolist() for W in self.weights]
            out["features"] = self.features.tolist()
            out["bias"] = None if self.bias is None else self.bias.tolist()
            out["class_means"] = self.class_means().tolist()
        return out

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs))

    def save(self, path) -> None:
        """Save arrays and diagnostics to an ``.npz`` file (``numpy.load`` reads it back)."""
        arrays = {f"W{m + 1}": W for m, W in enumerate(self.weights)}
        arrays["H"] = self.features
        if self.bias is not None:
            arrays["b"] = self.bias
        arrays["class_means"] = self.class_means()
        arrays["restart_objectives"] = self.restart_objectives
        meta = self.to_dict(include_arrays=False)
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def _jsonable(x):
    if x is None or isinstance(x, (str, bool, int)):
        return x
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None  # JSON has no nan / inf: undefined -> null
    if isinstance(x, np.integer):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if dataclasses.is_dataclass(x):
        return _jsonable(dataclasses.asdict(x))
    return repr(x)
