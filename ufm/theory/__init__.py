"""Closed-form predictions of the literature, as sympy expressions lambdified to numpy.

One module per source (notation of docs/theory.md section 1: K, n_k, N, d, M, lambda_W, lambda_H, lambda_b);
every module of this package is imported (discovered, no list to maintain), and registers its predictions:

- :mod:`ufm.theory.master` -- master reduction of every linear UFM (docs/theory.md section 3);
- :mod:`ufm.theory.zhu2021` -- balanced CE, M = 1 (Zhu et al. 2021);
- :mod:`ufm.theory.dang2023` -- deep linear MSE and CE (Dang et al. 2023), incl. the largest-root rule of the
  authors' public code as a separate, named prediction;
- :mod:`ufm.theory.garrod2024` -- low-rank solutions beat the ETF for deep CE (Garrod & Keating 2024);
- :mod:`ufm.theory.convex_oracle` -- imbalanced CE / MSE, M = 1 via the convex program (Hong & Ling 2023)
  and the SELI limit (Thrampoulidis et al. 2022);
- :mod:`ufm.theory.mse_one_layer` -- one-layer MSE, any counts, bias none or free: singular-value
  soft-thresholding (derived from the master reduction);
- :mod:`ufm.theory.fixed_etf` -- balanced CE / MSE with a fixed simplex-ETF classifier (one scalar problem);
- :mod:`ufm.theory.mixup` -- mixup with a fixed ETF (Fisher, Meng & Papyan 2024).

Hypotheses are written with the one vocabulary of :mod:`ufm.hypotheses` (``requires(...)``).

Every prediction is a :class:`Prediction` in :data:`PREDICTIONS`: ``applies(problem) -> (bool, reason)``,
``predict(problem) -> dict`` (``"objective"`` where the source gives the optimal value, plus structure:
``"logits"`` = W Hbar (K x K), ``"classifier_gram"`` = W_M W_M^T, ``"product_gram"`` = W W^T for the product
W = W_M..W_1, ``"bias"``) and ``errors(problem, solution)`` ->
relative errors of a solution against the prediction. Sweeps and ``proofs_check`` use this registry.
"""

from __future__ import annotations

from ufm.theory.base import PREDICTIONS, Prediction, applicable, register, rel_err


def _discover() -> None:
    """Import every module of this package (each registers its predictions)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_discover()

__all__ = ["PREDICTIONS", "Prediction", "applicable", "register", "rel_err"]
