"""Mixup in the UFM (Fisher, Meng & Papyan 2024; Zhang et al. 2018 for mixup), docs/theory.md section 10.

A mixed sample of classes (i, j) with weight lam has its own free feature h (the UFM assumption) and the
soft target t = lam e_i + (1 - lam) e_j. Two losses are registered:

- ``mixup-ce``:  lam CE(z, i) + (1 - lam) CE(z, j) = logsumexp(z) - <t, z>  (CE is linear in the target);
- ``mixup-mse``: 1/2 ||z - t||^2.

Both plug into the canonical objective unchanged: (1/N) sum over all samples (mixed, and the original
one-hot samples when ``include_original``) + the usual weight decays. The classifier may be learnable or
fixed (``Problem(classifier="etf")``, the paper's theory).

Sample layout (columns of H): the original samples grouped by class (if included), then for every pair in
order, every lam in order, ``per_pair`` mixed samples.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np

from ufm import losses
from ufm.errors import ProblemError
from ufm.problem import register_design

PAIR_MODES = ("all", "same", "different")


@dataclasses.dataclass(frozen=True)
class MixupDesign:
    """Which mixed samples the UFM has (a :class:`ufm.problem.SampleDesign`).

    Args:
      pairs: ``"all"`` (every ordered pair (i, j), same-class included), ``"same"`` ((i, i) only),
        ``"different"`` (i != j), or an explicit tuple of (i, j) pairs.
      lams: mixing weights lam in [0, 1] (a grid); ignored when ``alpha`` is given.
      alpha, draws, seed: draw ``draws`` weights from Beta(alpha, alpha) (seeded) instead of ``lams``.
      per_pair: mixed samples per (pair, lam).
      include_original: also keep the n_k original one-hot samples of every class.
    """

    pairs: Union[str, tuple] = "all"
    lams: tuple = (0.25, 0.5, 0.75)
    alpha: Optional[float] = None
    draws: int = 8
    seed: int = 0
    per_pair: int = 1
    include_original: bool = True

    def __post_init__(self):
        if isinstance(self.pairs, str):
            if self.pairs not in PAIR_MODES:
                raise ProblemError("pairs", f"must be one of {list(PAIR_MODES)} or a list of (i, j) pairs, "
                                            f"got {self.pairs!r}")
        else:
            try:
                pairs = tuple((int(i), int(j)) for i, j in self.pairs)
            except (TypeError, ValueError):
                raise ProblemError("pairs", f"must be one of {list(PAIR_MODES)} or a list of (i, j) pairs, "
                                            f"got {self.pairs!r}") from None
            if not pairs:
                raise ProblemError("pairs", "must not be empty")
            object.__setattr__(self, "pairs", pairs)
        if self.alpha is not None:
            if not (isinstance(self.alpha, (int, float)) and np.isfinite(self.alpha) and self.alpha > 0):
                raise ProblemError("alpha", f"must be a positive number, got {self.alpha!r}")
            if not isinstance(self.draws, int) or self.draws < 1:
                raise ProblemError("draws", f"must be an integer >= 1, got {self.draws!r}")
        else:
            lams = tuple(float(v) for v in np.atleast_1d(self.lams))
            if not lams or any(not (0.0 <= v <= 1.0) for v in lams):
                raise ProblemError("lams", f"must be a non-empty list of weights in [0, 1], got {self.lams!r}")
            object.__setattr__(self, "lams", lams)
        if not isinstance(self.per_pair, int) or self.per_pair < 1:
            raise ProblemError("per_pair", f"must be an integer >= 1, got {self.per_pair!r}")

    # ---------------------------------------------------------------- the sample design protocol
    def weights(self) -> np.ndarray:
        if self.alpha is not None:
            return np.random.default_rng(self.seed).beta(self.alpha, self.alpha, size=self.draws)
        return np.asarray(self.lams, float)

    def pair_list(self, K: int) -> list:
        if self.pairs == "all":
            return [(i, j) for i in range(K) for j in range(K)]
        if self.pairs == "same":
            return [(i, i) for i in range(K)]
        if self.pairs == "different":
            return [(i, j) for i in range(K) for j in range(K) if i != j]
        return list(self.pairs)

    def mixed(self, K: int) -> list:
        """(i, j, lam) of every mixed sample, in column order."""
        return [(i, j, float(lam)) for i, j in self.pair_list(K) for lam in self.weights()
                for _ in range(self.per_pair)]

    def validate(self, counts) -> None:
        K = len(counts)
        for i, j in self.pair_list(K):
            if not (0 <= i < K and 0 <= j < K):
                raise ProblemError("pairs", f"pair ({i}, {j}) names a class outside 0..{K - 1}")

    def targets(self, counts) -> np.ndarray:
        K = len(counts)
        cols = []
        if self.include_original:
            cols.append(np.eye(K)[:, np.repeat(np.arange(K), counts)])
        mixed = self.mixed(K)
        T = np.zeros((K, len(mixed)))
        for c, (i, j, lam) in enumerate(mixed):
            T[i, c] += lam
            T[j, c] += 1 - lam
        cols.append(T)
        return np.concatenate(cols, axis=1)

    def labels(self, counts) -> np.ndarray:
        """Original samples and same-class mixtures carry their class; mixtures of two classes carry -1."""
        K = len(counts)
        out = [np.repeat(np.arange(K), counts)] if self.include_original else []
        out.append(np.array([i if i == j else -1 for i, j, _ in self.mixed(K)], dtype=np.int64))
        return np.concatenate(out)

    def first_mixed_column(self, counts) -> int:
        return int(sum(counts)) if self.include_original else 0

    def to_dict(self) -> dict:
        return {"kind": "mixup", "pairs": self.pairs if isinstance(self.pairs, str) else [list(p) for p in self.pairs],
                "lams": None if self.alpha is not None else list(self.lams), "alpha": self.alpha,
                "draws": self.draws if self.alpha is not None else None, "seed": self.seed,
                "per_pair": self.per_pair, "include_original": self.include_original}


class _MixupLoss(losses.Loss):
    """CE or MSE with soft mixup targets: the same mathematics as the plain loss (conjugates included, since
    they are written for any target summing to 1), plus a check that the problem has a mixup design."""

    def validate(self, problem) -> None:
        if not isinstance(problem.samples, MixupDesign):
            raise ProblemError("samples", f"loss {self.name!r} needs samples=ufm.mixup.MixupDesign(...)")
        super().validate(problem)


losses.register(_MixupLoss(**{**dataclasses.asdict(losses.CE), "name": "mixup-ce",
                              "description": "mixup cross-entropy lam CE(z, i) + (1-lam) CE(z, j)"}), overwrite=True)
losses.register(_MixupLoss(**{**dataclasses.asdict(losses.MSE), "name": "mixup-mse",
                              "description": "mixup squared error 1/2 ||z - (lam e_i + (1-lam) e_j)||^2"}),
                overwrite=True)
register_design("mixup", MixupDesign)


def mixed_columns(problem) -> tuple[np.ndarray, list]:
    """Column indices of the mixed samples of ``problem`` and their (i, j, lam)."""
    design = problem.samples
    start = design.first_mixed_column(problem.counts)
    mixed = design.mixed(problem.K)
    return np.arange(start, start + len(mixed)), mixed


# ------------------------------------------------------------------------- command line
def add_cli_arguments(parser) -> None:
    g = parser.add_argument_group("mixup (with --loss mixup-ce | mixup-mse)")
    g.add_argument("--mixup-pairs", default="all",
                   help="all | same | different | explicit pairs like 0-1,1-2 (default all)")
    g.add_argument("--mixup-lams", default="0.25,0.5,0.75", help="grid of mixing weights (default 0.25,0.5,0.75)")
    g.add_argument("--mixup-alpha", type=float, help="draw weights from Beta(alpha, alpha) instead of --mixup-lams")
    g.add_argument("--mixup-draws", type=int, default=8, help="number of Beta draws (default 8)")
    g.add_argument("--mixup-per-pair", type=int, default=1, help="mixed samples per (pair, weight) (default 1)")
    g.add_argument("--mixup-seed", type=int, default=0, help="seed of the Beta draws (default 0)")
    g.add_argument("--no-mixup-original", action="store_true", help="drop the original one-hot samples")


def design_from_args(args) -> Optional[MixupDesign]:
    """The MixupDesign asked for on the command line (None unless the loss is a mixup loss)."""
    if not str(getattr(args, "loss", "")).startswith("mixup"):
        return None
    pairs = args.mixup_pairs
    if pairs not in PAIR_MODES:
        try:
            pairs = tuple(tuple(int(v) for v in item.split("-")) for item in pairs.split(",") if item)
            if any(len(p) != 2 for p in pairs):
                raise ValueError
        except ValueError:
            raise ProblemError("--mixup-pairs", f"must be all, same, different or pairs like 0-1,1-2; got "
                                                f"{args.mixup_pairs!r}") from None
    try:
        lams = tuple(float(v) for v in args.mixup_lams.split(",") if v)
    except ValueError:
        raise ProblemError("--mixup-lams", f"must be a comma list of numbers in [0, 1], got {args.mixup_lams!r}") \
            from None
    fields = {"pairs": "--mixup-pairs", "lams": "--mixup-lams", "alpha": "--mixup-alpha", "draws": "--mixup-draws",
              "per_pair": "--mixup-per-pair"}
    try:
        return MixupDesign(pairs=pairs, lams=lams, alpha=args.mixup_alpha, draws=args.mixup_draws,
                           seed=args.mixup_seed, per_pair=args.mixup_per_pair,
                           include_original=not args.no_mixup_original)
    except ProblemError as e:
        raise ProblemError(fields.get(e.field, e.field), str(e).split(": ", 1)[1]) from None


# ------------------------------------------------------------------------- sweep specs
#: the keys of a sweep spec ([base] / [axes]) that build a MixupDesign, and the design field each sets
SPEC_KEYS = {"mixup_pairs": "pairs", "mixup_lams": "lams", "mixup_alpha": "alpha", "mixup_draws": "draws",
             "mixup_seed": "seed", "mixup_per_pair": "per_pair", "mixup_include_original": "include_original"}
LOSSES = ("mixup-ce", "mixup-mse")


def is_mixup_loss(loss) -> bool:
    return isinstance(loss, str) and loss in LOSSES


def design_from_spec(values: dict) -> MixupDesign:
    """The MixupDesign of a sweep point from its ``mixup_*`` values (``SPEC_KEYS``; missing keys take the
    MixupDesign defaults). ``mixup_lams`` may be a list of weights or one number (one weight); ``mixup_pairs``
    ``"all"`` / ``"same"`` / ``"different"`` or a list of [i, j] pairs. Errors are ProblemError naming the spec
    key (``mixup_lams``, ...)."""
    unknown = sorted(set(values) - set(SPEC_KEYS))
    if unknown:
        raise ProblemError(unknown[0], f"not a mixup key; known: {sorted(SPEC_KEYS)}")
    fields = {SPEC_KEYS[k]: v for k, v in values.items()}
    ints = {"draws": 1, "per_pair": 1, "seed": None}
    for f, minimum in ints.items():
        v = fields.get(f)
        if isinstance(v, float) and np.isfinite(v) and v.is_integer():
            fields[f] = int(v)  # an integral float (a linspace axis) is that integer
        v = fields.get(f)
        if f in fields and (isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum)):
            key = next(k for k, name in SPEC_KEYS.items() if name == f)
            raise ProblemError(key, f"must be an integer{f' >= {minimum}' if minimum is not None else ''}, got {v!r}")
    if "include_original" in fields and not isinstance(fields["include_original"], bool):
        raise ProblemError("mixup_include_original", f"must be true or false, got {fields['include_original']!r}")
    lams = fields.get("lams")
    if lams is not None and not (isinstance(lams, (int, float)) and not isinstance(lams, bool)) and not (
            isinstance(lams, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in lams)):
        raise ProblemError("mixup_lams", f"must be a weight in [0, 1] or a list of them, got {lams!r}")
    alpha = fields.get("alpha")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))):
        raise ProblemError("mixup_alpha", f"must be a positive number, got {alpha!r}")
    pairs = fields.get("pairs")
    if pairs is not None and not isinstance(pairs, str) and not (
            isinstance(pairs, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in p) for p in pairs)):
        raise ProblemError("mixup_pairs", f"must be \"all\", \"same\", \"different\" or a list of [i, j] class "
                                          f"pairs, got {pairs!r}")
    for f in ("lams", "alpha"):  # numbers a float cannot hold (TOML integers are unbounded)
        try:
            np.asarray(fields.get(f) if fields.get(f) is not None else 0.0, dtype=float)
        except (OverflowError, ValueError, TypeError):
            key = f"mixup_{f}"
            raise ProblemError(key, f"must hold numbers a float can represent, got {fields[f]!r}") from None
    try:
        return MixupDesign(**fields)
    except ProblemError as e:
        key = next((k for k, name in SPEC_KEYS.items() if name == e.field), e.field)
        raise ProblemError(key, e.detail) from None
