"""The prediction registry of ``ufm.theory``: :class:`Prediction`, :func:`register`, :data:`PREDICTIONS`.

Every theory module imports from here (never from the package ``ufm.theory``, which imports them all).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from ufm.loop import F_FLOOR


@dataclasses.dataclass(frozen=True)
class Prediction:
    """A published (or derived) closed-form prediction for the optimum of a UFM.

    Attributes:
      name: registry key; source: citation; statement: the claim in words.
      applies: ``problem -> (bool, reason)``: whether the hypotheses hold for this problem.
      predict: ``problem -> dict`` of predicted quantities (floats / numpy arrays).
      point: optional ``problem -> parameter pytree`` building a UFM point attaining the prediction (used
        as an extra start by the checker).
      upper_bound: the predicted objective is the value of a family of points (e.g. deep neural collapse), so
        the optimum can only be lower; a refuted claim keeps its value as this bound (sweeps plot the gap).
    """

    name: str
    source: str
    statement: str
    applies: Callable
    predict: Callable
    point: Optional[Callable] = None
    upper_bound: bool = False

    def __post_init__(self):
        applies = self.applies

        def checked(problem):
            result = applies(problem)
            if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str)):
                raise TypeError(f"prediction {self.name!r}: applies(problem) must return (bool, reason), got "
                                f"{type(result).__name__} {result!r}")
            return bool(result[0]), result[1]

        object.__setattr__(self, "applies", checked)

    def errors(self, problem, solution) -> dict:
        """Relative errors of ``solution`` against the prediction: ``objective_rel_err`` and, where predicted,
        ``logits_err`` (W Hbar), ``classifier_gram_err`` (W_M W_M^T), ``product_gram_err`` (W W^T),
        ``bias_err`` -- each max-abs error over
        the max-abs predicted entry (rotation invariant quantities only; a bias defined up to b + c 1 is
        compared centred)."""
        pred = self.predict(problem)
        out = {}
        if "objective" in pred:
            out["objective_rel_err"] = abs(solution.objective - pred["objective"]) / max(abs(pred["objective"]),
                                                                                      F_FLOOR)
        found = {"logits": lambda: solution.mean_logits,
                 "classifier_gram": lambda: solution.classifier @ solution.classifier.T,
                 "product_gram": lambda: solution.product @ solution.product.T,
                 "bias": lambda: solution.bias if solution.bias is not None else np.zeros(problem.K)}
        for key, get in found.items():
            if key in pred:
                # a bias lives on the scale of the logits: measured against the predicted logits too, so that
                # a bias predicted ~0 (balanced CE, any shift allowed) is not divided by ~0
                floor = float(np.max(np.abs(pred["logits"]))) if key == "bias" and "logits" in pred else 0.0
                found_, predicted = get(), pred[key]
                if key == "bias":  # where only b + c 1 is defined, both centred
                    found_, predicted = problem.canonical_bias(found_), problem.canonical_bias(predicted)
                out[f"{key}_err"] = rel_err(found_, predicted, floor)
        return out


def rel_err(found, predicted, floor: float = 0.0) -> float:
    """max |found - predicted| / max(max |predicted|, floor) (the absolute error when both are 0)."""
    found, predicted = np.asarray(found, float), np.asarray(predicted, float)
    scale = max(float(np.max(np.abs(predicted))) if predicted.size else 0.0, floor)
    diff = np.max(np.abs(found - predicted)) if predicted.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


PREDICTIONS: dict = {}


def register(prediction: Prediction) -> Prediction:
    if prediction.name in PREDICTIONS:
        raise ValueError(f"a prediction named {prediction.name!r} is already registered")
    PREDICTIONS[prediction.name] = prediction
    return prediction


def register_predictions(*rows: tuple) -> list:
    """Register a module's predictions from one table: a :class:`Prediction` per row ``(name, applies, predict,
    source, statement)`` (the registry key, the hypotheses and the closed form, then the citation and the claim
    in words); returns them."""
    return [register(Prediction(name=name, source=source, statement=statement, applies=applies, predict=predict))
            for name, applies, predict, source, statement in rows]


def applicable(problem) -> list:
    """Names of the registered predictions whose hypotheses hold for ``problem``."""
    return [name for name, p in PREDICTIONS.items() if p.applies(problem)[0]]
