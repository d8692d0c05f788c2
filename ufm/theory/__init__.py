"""Closed-form predictions of the literature, as sympy expressions lambdified to numpy.

One module per source (notation of theory.md: K, n_k, N, d, M, lambda_W, lambda_H, lambda_b):

- :mod:`ufm.theory.master` -- master reduction of every linear UFM (theory.md section 0);
- :mod:`ufm.theory.zhu2021` -- balanced CE, M = 1 (Zhu et al. 2021);
- :mod:`ufm.theory.dang2023` -- deep linear MSE and CE (Dang et al. 2023), incl. the largest-root rule of the
  authors' public code as a separate, named prediction;
- :mod:`ufm.theory.garrod2024` -- low-rank solutions beat the ETF for deep CE (Garrod & Keating 2024);
- :mod:`ufm.theory.convex_oracle` -- imbalanced CE / MSE, M = 1 via the convex program (Hong & Ling 2023)
  and the SELI limit (Thrampoulidis et al. 2022).

Every prediction is a :class:`Prediction` in :data:`PREDICTIONS`: ``applies(problem) -> (bool, reason)``,
``predict(problem) -> dict`` (``"objective"`` where the source gives the optimal value, plus structure:
``"logits"`` = W Hbar (K x K), ``"classifier_gram"`` = W_M W_M^T, ``"product_gram"`` = W W^T for the product
W = W_M..W_1, ``"bias"``) and ``errors(problem, solution)`` ->
relative errors of a solution against the prediction. Sweeps and ``proofs_check`` use this registry.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A published (or derived) closed-form prediction for the optimum of a UFM.

    Attributes:
      name: registry key; source: citation; statement: the claim in words.
      applies: ``problem -> (bool, reason)``: whether the hypotheses hold for this problem.
      predict: ``problem -> dict`` of predicted quantities (floats / numpy arrays).
      point: optional ``problem -> parameter pytree`` building a UFM point attaining the prediction (used
        as an extra start by the checker).
    """

    name: str
    source: str
    statement: str
    applies: Callable
    predict: Callable
    point: Optional[Callable] = None

    def errors(self, problem, solution) -> dict:
        """Relative errors of ``solution`` against the prediction: ``objective_rel_err`` and, where predicted,
        ``logits_err`` (W Hbar), ``classifier_gram_err`` (W_M W_M^T), ``product_gram_err`` (W W^T),
        ``bias_err`` -- each max-abs error over
        the max-abs predicted entry (rotation invariant quantities only)."""
        pred = self.predict(problem)
        out = {}
        if "objective" in pred:
            out["objective_rel_err"] = abs(solution.objective - pred["objective"]) / max(abs(pred["objective"]),
                                                                                      1e-300)
        found = {"logits": lambda: solution.product() @ solution.class_means(),
                 "classifier_gram": lambda: solution.classifier @ solution.classifier.T,
                 "product_gram": lambda: solution.product() @ solution.product().T,
                 "bias": lambda: solution.bias if solution.bias is not None else np.zeros(problem.K)}
        for key, get in found.items():
            if key in pred:
                out[f"{key}_err"] = rel_err(get(), pred[key])
        return out


def rel_err(found, predicted) -> float:
    found, predicted = np.asarray(found, float), np.asarray(predicted, float)
    scale = np.max(np.abs(predicted)) if predicted.size else 0.0
    diff = np.max(np.abs(found - predicted)) if predicted.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


PREDICTIONS: dict = {}


def register(prediction: Prediction) -> Prediction:
    if prediction.name in PREDICTIONS:
        raise ValueError(f"a prediction named {prediction.name!r} is already registered")
    PREDICTIONS[prediction.name] = prediction
    return prediction


def applicable(problem) -> list:
    """Names of the registered predictions whose hypotheses hold for ``problem``."""
    return [name for name, p in PREDICTIONS.items() if p.applies(problem)[0]]


import importlib as _importlib  # noqa: E402

for _name in ("master", "zhu2021", "dang2023", "garrod2024", "convex_oracle", "mixup"):
    try:
        _importlib.import_module(f"ufm.theory.{_name}")
    except ModuleNotFoundError as _e:  # ufm.theory.mixup is optional
        if _e.name != f"ufm.theory.{_name}" or _name != "mixup":
            raise
