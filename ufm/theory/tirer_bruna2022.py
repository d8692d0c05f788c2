"""The extended UFM with ReLU (Tirer & Bruna 2022, "Extended unconstrained features model for exploring deep
neural collapse", ICML 2022, arXiv 2202.08087), docs/theory.md section 15.

Two non-linear models, both MSE, bias-free, balanced, with d >= K:

- the *extended UFM*: one hidden layer with ReLU, z = W_2 ReLU(W_1 h) (``activation="relu"``, M = 2);
- *non-negative features*: z = W ReLU(h) (``activation="relu", activate_features=True``, M = 1; the ReLU of a
  free feature is any non-negative feature, so this is the UFM with features constrained to be >= 0).

Their result: the minimisers collapse (NC1) and the post-ReLU class means form an orthogonal frame (not a
simplex ETF), W Hbar = rho I; below a regularisation threshold rho > 0, above it the minimiser is 0. In both
models the value is that of the linear twin (M = 2 resp. M = 1): the linear optimum rho I is an orthogonal frame
and can be rotated onto non-negative features, where ReLU is the identity; no non-linear point does better
there (:func:`ufm.theory.sukenik2023.dnc_value` for the derivation). The threshold is the linear one
(Dang et al. 2023: rho = 0 exactly when the scalar g(x) is minimised at x = 0).
"""

from __future__ import annotations

from ufm.hypotheses import requires
from ufm.theory import sukenik2023
from ufm.theory.base import Prediction, register


def _one_relu(problem) -> tuple[bool, str]:
    ok = (problem.depth == 2 and not problem.activate_features) or (problem.depth == 1 and problem.activate_features)
    return ok, "" if ok else "needs one ReLU: depth M = 2 (extended UFM) or M = 1 with activate_features"


applies = requires(loss="mse", bias="none", balanced=True, learnable_classifier=True, one_hot=True, d_min="K",
                   activation="relu", extra=_one_relu)

register(Prediction(
    name="tirer_bruna2022_relu", source="Tirer & Bruna 2022, Extended unconstrained features model for exploring "
                                        "deep neural collapse (arXiv 2202.08087), Sec. 4",
    statement="Balanced bias-free MSE UFM with one ReLU (W_2 ReLU(W_1 h), or non-negative features W ReLU(h)), "
              "d >= K: the minimiser is collapsed with orthogonal post-ReLU class means, W Hbar = rho I, rho > 0 "
              "below the regularisation threshold and 0 above it",
    applies=applies, predict=sukenik2023.dnc_value))
