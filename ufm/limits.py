"""Size limits: estimate what a solve needs before doing it, and refuse with one line when it is too much.

A solve's memory is dominated by the parameters and the L-BFGS history (2 * memory + 8 copies of the
parameter vector, float64), the targets and logits (a few K x C arrays; C = N columns for the full problem,
one per class when reduced), and, for the second-order check, its Krylov basis. Compilation time and memory
grow with the depth M (one traced matmul chain per layer).

Limits (override per process with :func:`configure`, or with the environment variables
``UFM_MAX_MEMORY_GB`` and ``UFM_MAX_DEPTH``; the command line has ``--max-memory-gb``):

- memory: 75% of the machine's physical memory;
- depth: 200 layers.
"""

from __future__ import annotations

import os
from typing import Optional

from ufm.errors import ResourceError

_CONFIG: dict = {"max_memory_gb": None, "max_depth": None}


def physical_memory_gb() -> Optional[float]:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        return None


def configure(*, max_memory_gb: Optional[float] = None, max_depth: Optional[int] = None) -> None:
    """Set the limits of this process (None: back to the default)."""
    _CONFIG["max_memory_gb"] = max_memory_gb
    _CONFIG["max_depth"] = max_depth


def max_memory_gb() -> float:
    if _CONFIG["max_memory_gb"] is not None:
        return float(_CONFIG["max_memory_gb"])
    env = os.environ.get("UFM_MAX_MEMORY_GB")
    if env:
        try:
            return float(env)
        except ValueError:
            raise ResourceError("UFM_MAX_MEMORY_GB", f"must be a number of GiB, got {env!r}") from None
    phys = physical_memory_gb()
    return 0.75 * phys if phys else 64.0


def max_depth() -> int:
    if _CONFIG["max_depth"] is not None:
        return int(_CONFIG["max_depth"])
    env = os.environ.get("UFM_MAX_DEPTH")
    return int(env) if env and env.isdigit() else 200


def estimate_bytes(problem, *, reduce: bool, memory: int = 10, second_order: bool = True) -> int:
    """Rough peak memory (bytes) of one solve of ``problem`` (module docstring)."""
    from ufm import objective as obj

    P = obj.count_params(problem, reduce=reduce)
    C = obj.columns(problem, reduce) if (reduce or problem.samples is not None) else problem.N
    K = problem.K
    doubles = P * (2 * memory + 8) + 6 * K * C + (81 * P if second_order and P <= 200_000 else 0)
    if not reduce or problem.samples is not None:
        doubles += K * problem.N  # the target matrix of the full problem
    return 8 * int(doubles)


def check_problem_size(problem, options=None) -> None:
    """Raise :class:`ResourceError` (one line: what is needed, the limit, how to override) when a solve of
    ``problem`` would exceed the memory limit (the depth limit is enforced when the Problem is built)."""
    reduce = True if options is None else options.reduce != "never"
    memory = 10 if options is None else options.memory
    need = estimate_bytes(problem, reduce=reduce, memory=memory) / 2 ** 30
    limit = max_memory_gb()
    if need > limit:
        raise ResourceError("problem", f"a solve needs about {need:.3g} GiB (K = {problem.K}, N = {problem.N}, "
                                       f"d = {problem.d}, M = {problem.depth}) but the limit is {limit:.3g} GiB; "
                                       "raise it with --max-memory-gb, UFM_MAX_MEMORY_GB or "
                                       "ufm.limits.configure(max_memory_gb=...)")
