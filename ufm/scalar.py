"""One-dimensional minimisation on a bracket: a grid, then golden-section search between the grid
neighbours of its best point. Used by closed forms that reduce to a scalar problem (the simplex-ETF family of
deep CE, ``ufm.theory.dang2023``; the start of the convex program, ``ufm.convex.ray_start``).

Golden-section search (Kiefer 1953) shrinks the bracket by 0.618 per evaluation and needs no derivative; on a
unimodal bracket it converges to the minimiser to rounding (about 75 evaluations from a bracket of width 1
to 1e-16). It is written here rather than taken from ``scipy.optimize.minimize_scalar`` because importing
scipy.optimize costs about 0.4 s, which was a fifth of a ``ufm solve`` that needs none of the rest of it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def golden_section(f: Callable[[float], float], lo: float, hi: float, *, iterations: int = 80) -> tuple[float, float]:
    """``(x, f(x))`` minimising ``f`` on [lo, hi] (assumed unimodal there) by golden-section search."""
    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(iterations):
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - GOLDEN * (hi - lo)
            f1 = f(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + GOLDEN * (hi - lo)
            f2 = f(x2)
    return (x1, f1) if f1 <= f2 else (x2, f2)


def grid_then_golden(f: Callable[[float], float], grid, *, values=None, iterations: int = 80) -> tuple[float, float]:
    """``(x, f(x))``: the best point of ``grid`` (its ``values`` if already computed), refined by
    :func:`golden_section` between its two grid neighbours; the grid's first point if that is the best (a
    minimum on the boundary)."""
    grid = np.asarray(grid, float)
    values = np.asarray([f(x) for x in grid] if values is None else values, float)
    i = int(np.argmin(values))
    if i == 0:
        return float(grid[0]), float(values[0])
    x, fx = golden_section(f, grid[i - 1], grid[min(i + 1, grid.size - 1)], iterations=iterations)
    return (float(x), float(fx)) if fx <= values[i] else (float(grid[i]), float(values[i]))
