"""One vocabulary of hypotheses on a UFM problem, composable, used by every theory prediction, by the convex
certificate, by the reduced search and by the class reduction.

A hypothesis is a callable ``problem -> (bool, reason)``; :func:`requires` builds the common ones from
keywords and ``&`` composes them::

    applies = requires(loss="mse", bias=("none", "free"), one_hot=True, learnable_classifier=True, d_min="K")
    ok, why = applies(problem)          # (False, "needs loss 'mse'") ...

The reason of the first failing condition is returned, so a user learns exactly why a prediction or a
certificate does not apply.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence, Union

from ufm import losses


@dataclasses.dataclass(frozen=True)
class Hypothesis:
    """A named condition on a problem (see the module docstring)."""

    check: Callable  # problem -> (bool, reason)
    text: str = ""

    def __call__(self, problem) -> tuple[bool, str]:
        ok, why = self.check(problem)
        return bool(ok), ("" if ok else why)

    def __and__(self, other: Callable) -> "Hypothesis":
        def both(problem):
            ok, why = self(problem)
            return (ok, why) if not ok else _as_pair(other(problem))

        return Hypothesis(both, " and ".join(t for t in (self.text, getattr(other, "text", "")) if t))


def _as_pair(result) -> tuple[bool, str]:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
        return bool(result[0]), result[1]
    raise TypeError("a hypothesis must return (bool, reason), got "
                    f"{type(result).__name__} {result!r}")


def _d_bound(spec, K: int) -> int:
    return {"K": K, "K-1": K - 1}[spec] if isinstance(spec, str) else int(spec)


def requires(*, loss: Union[str, Sequence[str], None] = None, depth: Optional[int] = None,
             min_depth: Optional[int] = None, bias: Union[str, Sequence[str], None] = None,
             linear: bool = True, learnable_classifier: Optional[bool] = None, one_hot: Optional[bool] = None,
             balanced: Optional[bool] = None, d_min: Union[str, int, None] = None,
             equal_decay: Optional[bool] = None, normalized: Optional[bool] = False,
             extra: Optional[Callable] = None, activation: Optional[str] = None,
             activate_features: Optional[bool] = None) -> Hypothesis:
    """A conjunction of the usual hypotheses (each ``None`` means "no condition"):

    - ``loss``: a loss name or names; ``depth`` / ``min_depth``: M == depth / M >= min_depth;
    - ``bias``: a bias mode or modes;
    - ``linear``: every layer linear (the theory of the linear UFM; activations will fail it); a non-linear
      ``activation`` (e.g. ``"relu"``) replaces this condition by "the layers use that activation";
    - ``activate_features``: the activation is (True) or is not (False) applied to the free features;
    - ``learnable_classifier``: the last layer is learnable (True) or fixed (False);
    - ``one_hot``: plain one-hot class targets (no sample design such as mixup);
    - ``balanced``: every class has the same count;
    - ``d_min``: d >= K, d >= K - 1 (``"K"``, ``"K-1"``) or an integer;
    - ``equal_decay``: the same weight decay on every layer and on the features;
    - ``normalized``: features or classifier rows on spheres (``Problem.feature_radius`` /
      ``classifier_radius``; True), both free (False, the default: the theory of the unconstrained UFM, the
      convex certificate and the master reduction assume it) or either (None);
    - ``extra``: one more ``problem -> (bool, reason)``.
    """
    conds = []
    if loss is not None:
        names = (loss,) if isinstance(loss, str) else tuple(loss)
        conds.append((lambda p: p.loss in names,
                      f"needs loss {names[0]!r}" if len(names) == 1 else f"needs loss in {list(names)}"))
    if depth is not None:
        conds.append((lambda p: p.depth == depth, f"needs depth M = {depth}"))
    if min_depth is not None:
        conds.append((lambda p: p.depth >= min_depth, f"needs depth M >= {min_depth}"))
    if bias is not None:
        modes = (bias,) if isinstance(bias, str) else tuple(bias)
        conds.append((lambda p: p.bias in modes,
                      f"needs bias {modes[0]!r}" if len(modes) == 1 else f"needs bias in {list(modes)}"))
    if activation is not None and activation != "linear":
        conds.append((lambda p: getattr(p, "activation", "linear") == activation,
                      f"needs {activation} layers (activation={activation!r})"))
    elif linear:
        conds.append((lambda p: getattr(p, "activation", "linear") == "linear", "needs linear layers"))
    if activate_features is not None:
        conds.append((lambda p: getattr(p, "activate_features", False) == activate_features,
                      "needs the activation on the free features" if activate_features else
                      "needs linear free features (no activation on them)"))
    if learnable_classifier is not None:
        conds.append((lambda p: p.classifier_fixed != learnable_classifier,
                      "needs a learnable classifier" if learnable_classifier else "needs a fixed classifier"))
    if one_hot is not None:
        conds.append((lambda p: (p.samples is None) == one_hot,
                      "needs one-hot class targets (no sample design)" if one_hot else "needs a sample design"))
    if balanced is not None:
        conds.append((lambda p: p.is_balanced == balanced,
                      "needs balanced classes" if balanced else "needs imbalanced classes"))
    if d_min is not None:
        conds.append((lambda p: p.d >= _d_bound(d_min, p.K), f"needs d >= {d_min}"))
    if normalized is not None:
        conds.append((lambda p: getattr(p, "normalized", False) == normalized,
                      "needs a normalised UFM (feature_radius or classifier_radius)" if normalized else
                      "needs free features and classifier (no feature_radius / classifier_radius)"))
    if equal_decay is not None:
        conds.append((lambda p: (len(set(p.lambda_W + (p.lambda_H,))) == 1) == equal_decay,
                      "needs equal weight decay on every layer and the features"))

    def check(problem):
        for cond, why in conds:
            if not cond(problem):
                return False, why
        if extra is not None:
            return _as_pair(extra(problem))
        return True, ""

    return Hypothesis(check, ", ".join(why.replace("needs ", "") for _, why in conds))


#: the master reduction (and so the reduced search and the convex program) needs these
def _convex_loss(problem) -> tuple[bool, str]:
    ok = losses.get(problem.loss).convex
    return ok, "" if ok else f"loss {problem.loss!r} is not convex in the logits"


MASTER_REDUCTION = requires(linear=True, learnable_classifier=True, one_hot=True, extra=_convex_loss)
