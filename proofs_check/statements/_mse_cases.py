"""Shared builders for the deep-MSE statements: imbalanced problems with the minority class placed at a
chosen ratio of a threshold (thresholds scale as lambda^{(M+1)/M} for lambda_W = lambda_H = lambda)."""

import ufm
from ufm.theory import dang2023


def at_ratio(counts, M, ratio, which="global", d=None, bias="none"):
    """Problem with lambda_W = lambda_H = lambda chosen so that n_min = ratio * threshold(lambda);
    which = "global" (global-optimality threshold) or "window" (geometric mean of the root-existence and
    global thresholds, where the largest-root rule and the global rule disagree)."""
    d = d or len(counts)
    probe = ufm.Problem(counts=counts, d=d, depth=M, loss="mse", bias=bias, lambda_W=1.0, lambda_H=1.0)
    if which == "global":
        t1 = dang2023.global_threshold(probe)
    else:
        t1 = (dang2023.global_threshold(probe) * dang2023.root_threshold(probe)) ** 0.5
    lam = (min(counts) / (ratio * t1)) ** (M / (M + 1))
    return ufm.Problem(counts=counts, d=d, depth=M, loss="mse", bias=bias, lambda_W=lam, lambda_H=lam)
