"""Size limits: estimate what a solve needs before doing it, and refuse with one line when it is too much.

A solve's memory is dominated by the parameters and the L-BFGS history (2 * memory + 8 copies of the
parameter vector, float64), the targets and logits (a few K x C arrays; C = N columns for the full problem,
one per class when reduced), the class of every sample, for the second-order check its Krylov basis, and,
after the solve, the neural-collapse metrics of the answer (computed in blocks of ``ufm.metrics.BLOCK`` rows
of the K x K Gram matrices: O(BLOCK K + K d)) and whatever the caller builds of the N feature columns (the
command line's ``--save``, ``--certify`` and ``--json``). Compilation time and memory grow with the depth M
(one traced matmul chain per layer).

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


def estimate_sizes(K: int, N: int, d: int, depth: int, *, reduce: bool, fixed_classifier: bool = False,
                   bias: str = "none", memory: int = 10, stream: bool = False, columns: int = None,
                   metric_columns: int = None, lifted: float = 0) -> int:
    """Rough peak memory (bytes) of one solve from the sizes alone (nothing of the problem's size is built):
    ``columns`` C (default: K when reduced, N otherwise); ``stream``: the loss is evaluated in column blocks
    (``ufm.objective.streamed_loss``: labels instead of a K x C target matrix, K x B logits at a time);
    ``metric_columns``: the feature columns the metrics of the answer see (default: K when reduced -- a
    collapsed solution's class means, weighted by the counts -- N otherwise); ``lifted``: float64 numbers per
    entry of the d x N feature matrix that the caller builds after the solve (1 for ``Solution.features``,
    about 13 for ``Solution.to_dict``'s lists of Python floats and their JSON text)."""
    from ufm.metrics import BLOCK
    from ufm.objective import STREAM_BLOCK_LOGITS

    C = columns if columns is not None else (K if reduce else N)
    P = (depth - 1) * d * d + (0 if fixed_classifier else K * d) + d * C + (K if bias != "none" else 0)
    doubles = P * (2 * memory + 8) + (81 * P if P <= 200_000 else 0)
    doubles += 3 * STREAM_BLOCK_LOGITS + 2 * C if stream else 7 * K * C  # logits, softmax, gradient, targets
    if fixed_classifier:
        doubles += K * max(d, K)  # the fixed classifier's construction
    doubles += N  # the class of every sample (int64): ufm.objective.groups, Problem.labels
    # the metrics of the answer (ufm.metrics, measured with tracemalloc): K x K Gram and cosine matrices in blocks
    # of BLOCK rows, at most about 4 blocks' worth alive (K <= BLOCK: 4 K x K arrays; the blocked pairwise
    # metrics: the Gram block and one temporary, 2.3 BLOCK x K), and about 8 copies of the features and class
    # means (class statistics, residuals, SVD), plus the inputs of each layer for M > 1
    Cm = metric_columns if metric_columns is not None else (K if reduce else N)
    doubles += 4 * min(K, BLOCK) * K + (8 + depth) * d * max(K, Cm)
    doubles += lifted * d * N  # the N feature columns lifted after the solve (--save, --certify, --json)
    return 8 * int(doubles)


def estimate_bytes(problem, *, reduce: bool, memory: int = 10, second_order: bool = True) -> int:
    """Rough peak memory (bytes) of one solve of ``problem`` (module docstring; :func:`estimate_sizes`)."""
    from ufm import objective as obj

    C = obj.columns(problem, reduce) if (reduce or problem.samples is not None) else problem.N
    extra = 8 * problem.K * problem.N if problem.samples is not None else 0  # the design's target matrix
    collapsed = reduce and problem.samples is None  # the metrics see the class means (ufm.metrics)
    return estimate_sizes(problem.K, problem.N, problem.d, problem.depth, reduce=reduce,
                          fixed_classifier=problem.classifier_fixed, bias=problem.bias, memory=memory,
                          stream=obj.streams(problem, reduce), columns=C,
                          metric_columns=problem.K if collapsed else problem.N) + extra


def check_problem_size(problem, options=None) -> None:
    """Raise :class:`ResourceError` (one line: what is needed, the limit, how to override) when a solve of
    ``problem`` would exceed the memory limit (the depth limit is enforced when the Problem is built)."""
    reduce = True if options is None else options.reduce != "never"
    memory = 10 if options is None else options.memory
    refuse_above(estimate_bytes(problem, reduce=reduce, memory=memory), problem.K, problem.N, problem.d,
                 problem.depth)


def refuse_above(need_bytes: int, K: int, N: int, d: int, depth: int) -> None:
    """Raise :class:`ResourceError` when ``need_bytes`` exceeds :func:`max_memory_gb`."""
    need, limit = need_bytes / 2 ** 30, max_memory_gb()
    if need > limit:
        raise ResourceError("problem", f"a solve needs about {need:.3g} GiB (K = {K}, N = {N}, d = {d}, M = {depth}) "
                                       f"but the limit is {limit:.3g} GiB; raise it with --max-memory-gb, "
                                       "UFM_MAX_MEMORY_GB or ufm.limits.configure(max_memory_gb=...)")
