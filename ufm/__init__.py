"""ufm: certified global optima of the unconstrained features model (UFM) in JAX, float64.

The public face::

    import ufm
    ufm.enable_x64()
    from ufm import Problem, solve, certify
    solution = certify(solve(Problem.balanced(4, 5, 4, loss="ce", lambda_W=1e-3, lambda_H=1e-3)))

Importing ``ufm`` does NOT change JAX's global configuration. The solvers run in float64: they need
``jax_enable_x64``; call :func:`ufm.enable_x64` (or set ``JAX_ENABLE_X64=1``) before creating arrays.
``ufm.solve`` raises a clear error when x64 is off, unless ``precision="float32"`` is asked for explicitly.

Modules, bottom to top (no import cycles; docs/architecture.md): ``errors``, ``scalar``; ``losses``, ``geometry``,
``hypotheses``, ``problem``, ``mixup`` (what is optimised); ``forward``, ``objective`` (the canonical
objective, full or class-reduced); ``loop`` (the jitted minimisation loop, ``Run``, ``Status``); ``curvature``;
``reduced`` (the master reduction and its global search); ``solution``; ``solver``; ``metrics``; ``convex``,
``certificates``; ``theory``; ``sweep``, ``plot``; ``cli``.
"""

from ufm._cache import enable_compilation_cache
from ufm._precision import enable_x64, x64_enabled
from ufm.errors import FlagError, OptionsError, ProblemError, ResourceError, SpecError, UfmError
from ufm.problem import CONVENTIONS, Convention, Problem, from_convention
from ufm import mixup  # noqa: E402,F401  (registers the mixup-ce / mixup-mse losses and the mixup design)
from ufm.mixup import MixupDesign  # noqa: E402
from ufm.loop import Status  # noqa: E402
from ufm.solution import Solution  # noqa: E402
from ufm.solver import SolverOptions, solve  # noqa: E402
from ufm.certificates import certify  # noqa: E402

__version__ = "0.2.0"

__all__ = ["MixupDesign", "Problem", "Convention", "CONVENTIONS", "from_convention", "Solution", "SolverOptions",
           "Status", "solve", "certify", "enable_x64", "enable_compilation_cache", "x64_enabled", "UfmError", "ProblemError", "OptionsError",
           "SpecError", "FlagError", "ResourceError", "__version__"]
