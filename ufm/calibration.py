"""Calibration of UFM solutions, in particular under mixup (Fisher, Meng & Papyan 2024; Guo et al. 2017 for
ECE; Thulasidasan et al. 2019 for mixup's calibration effect).

- confidence of a sample: max_k softmax(z)_k;
- label weight of a mixed sample (i, j, lam): the target's largest entry max(lam, 1 - lam) (1 for i = j);
- expected calibration error (Guo et al. 2017): bins B_m of confidence (equal width on [0, 1]),
  ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|, with acc = share of samples whose argmax is the target's
  argmax (ties -- lam = 1/2 -- count either class as correct);
- soft calibration gap: mean |confidence - label weight| (how far confidence is from the label it was
  trained on).
"""

from __future__ import annotations

import numpy as np


def softmax(Z) -> np.ndarray:
    Z = np.asarray(Z, float)
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def confidence(Z) -> np.ndarray:
    """max_k softmax(z_i)_k for every column of the logit matrix Z (K x N)."""
    return softmax(Z).max(axis=0)


def correct(Z, T) -> np.ndarray:
    """Whether argmax z_i is one of the classes with the largest target weight."""
    T = np.asarray(T, float)
    top = T.max(axis=0, keepdims=True)
    pred = np.argmax(np.asarray(Z), axis=0)
    return np.isclose(T[pred, np.arange(T.shape[1])], top[0])


def expected_calibration_error(conf, hits, bins: int = 15) -> float:
    """Guo et al. 2017: sum over equal-width confidence bins of |B|/n |accuracy(B) - confidence(B)|."""
    conf, hits = np.asarray(conf, float), np.asarray(hits, float)
    if conf.size == 0:
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if np.any(m):
            total += m.sum() / conf.size * abs(hits[m].mean() - conf[m].mean())
    return float(total)


def mixup_calibration(solution) -> dict:
    """Calibration of the mixed samples of a mixup solution: confidence and label weight per sample, mean
    confidence per lam, ECE and the soft calibration gap; the same for the original samples if present."""
    from ufm.mixup import mixed_columns

    problem = solution.problem
    Z = solution.logits
    T = problem.targets()
    cols, mixed = mixed_columns(problem)
    conf = confidence(Z[:, cols])
    weight = T[:, cols].max(axis=0)
    lams = np.array([lam for _, _, lam in mixed])
    different = np.array([i != j for i, j, _ in mixed])
    by_lam = {float(l): float(conf[(lams == l) & different].mean()) for l in np.unique(lams[different])} \
        if different.any() else {}
    out = {"confidence": conf, "label_weight": weight, "lam": lams,
           "mean_confidence_by_lam": by_lam,
           "ece_mixed": expected_calibration_error(conf, correct(Z[:, cols], T[:, cols])),
           "soft_gap_mixed": float(np.mean(np.abs(conf - weight)))}
    if problem.samples.include_original:
        orig = np.arange(problem.samples.first_mixed_column(problem.counts))
        c0 = confidence(Z[:, orig])
        out["mean_confidence_original"] = float(c0.mean())
        out["ece_original"] = expected_calibration_error(c0, correct(Z[:, orig], T[:, orig]))
    return out


def plain_ce_confidence(solution) -> dict:
    """Confidence of a plain-CE UFM solution's samples (the comparison point of the mixup analysis)."""
    Z = solution.logits
    T = solution.problem.targets()
    conf = confidence(Z)
    return {"mean_confidence": float(conf.mean()), "ece": expected_calibration_error(conf, correct(Z, T))}
