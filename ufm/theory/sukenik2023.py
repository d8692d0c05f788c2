"""Deep neural collapse in the deep ReLU UFM (Sukenik, Mondelli & Lampert 2023, "Deep neural collapse is
provably optimal for the deep unconstrained features model", NeurIPS 2023, arXiv 2305.13165), docs/theory.md
section 15.

Their DUFM is the canonical ReLU model of ``ufm`` with M = L layers: features H_1 free (no activation on them),
H_{l+1} = ReLU(W_l H_l), output W_L H_L, no bias, MSE with the factor 1/(2N), weight decay lambda/2 per layer
and on H_1 -- the canonical convention, no conversion. Their theorem: for K = 2 classes, any L >= 2 and widths
>= K, every global optimum exhibits deep neural collapse (DNC): within-class collapse at every layer (DNC1),
orthogonal equinorm class means of the post-ReLU features H_l, l >= 2 (DNC2), and the layers aligned with them
(DNC3); or it is the zero solution when the decay is too large.

**The DNC value** (derived here, :func:`dnc_value`): on the DNC family every hidden post-activation class-mean
matrix is s_l E (E: K orthonormal non-negative columns), where the ReLU acts as the identity, so each layer's
cost is that of the linear layer; and the first layer's pre-activations U (with ReLU(U) = s_2 E) cost their
nuclear norm, which is K s_2 for every admissible U = s_2 ((1 + t) I - t J) with 0 <= t <= 1/(K - 1)
(eigenvalues 1 + t, K - 1 times, and 1 - t (K - 1)): the orthogonal (t = 0) and the centred, simplex-ETF
(t = 1/(K-1); antipodal for K = 2) first layers cost the same. The DNC family's best value is therefore that of
the balanced bias-free deep *linear* MSE UFM, W Hbar = rho I (Dang et al. 2023, Thm 3.1,
:func:`ufm.theory.dang2023.predict_balanced`), realised with non-negative hidden features; it is attained
exactly by the solver from the ``dnc`` starts of ``ufm.nonlinear``.

Predictions: ``sukenik2023_dnc_binary`` (their theorem: the optimum has the DNC value for K = 2) and
``dnc_any_k_l`` (the extrapolation "DNC is optimal for every K and L", which Sukenik, Lampert & Mondelli 2024
refute: see ``proofs_check/statements/sukenik2024_dnc_any_k_l.py``).
"""

from __future__ import annotations

from ufm.hypotheses import requires
from ufm.theory import dang2023
from ufm.theory.base import Prediction, register

SOURCE = ("Sukenik, Mondelli & Lampert 2023, Deep neural collapse is provably optimal for the deep "
          "unconstrained features model (arXiv 2305.13165)")

applies_dnc = requires(loss="mse", bias="none", balanced=True, learnable_classifier=True, one_hot=True,
                       d_min="K", min_depth=2, activation="relu", activate_features=False)


def _binary(problem) -> tuple[bool, str]:
    return (problem.K == 2, "" if problem.K == 2 else "needs K = 2 classes (binary classification)")


applies_binary = applies_dnc & requires(activation="relu", extra=_binary)


def linear_twin(problem):
    """The same problem with linear layers (and linear features)."""
    return problem.replace(activation="linear", activate_features=False)


def dnc_value(problem) -> dict:
    """The best value on the DNC family (module docstring): Dang et al.'s balanced bias-free deep linear MSE
    optimum of the linear twin; ``logits`` = class-mean outputs rho I."""
    pred = dang2023.predict_balanced(linear_twin(problem))
    return {"objective": pred["objective"], "logits": pred["logits"], "rho": pred["rho"]}


register(Prediction(
    name="sukenik2023_dnc_binary", source=SOURCE + ", main theorem (binary classification)",
    statement="Deep ReLU UFM, MSE, bias-free, balanced, K = 2, any L >= 2, width >= K: the global optimum is deep "
              "neural collapse (collapsed features, orthogonal post-ReLU class means at every layer, output "
              "rho I), with the DNC value (the balanced deep linear MSE optimum)",
    applies=applies_binary, predict=dnc_value))
register(Prediction(
    name="dnc_any_k_l", source=SOURCE + ", extrapolated to every K and L (refuted by Sukenik, Lampert & Mondelli "
                                        "2024, arXiv 2405.14468)",
    statement="Deep ReLU UFM, MSE, bias-free, balanced, any K >= 2, any L >= 2: the global optimum is deep neural "
              "collapse, with the DNC value",
    applies=applies_dnc, predict=dnc_value, upper_bound=True))
