"""ufm: certified global optima of the unconstrained features model (UFM) in JAX, float64.

Importing ``ufm`` does NOT change JAX's global configuration. The solvers run in float64: they need
``jax_enable_x64``; call :func:`ufm.enable_x64` (or set ``JAX_ENABLE_X64=1``) before creating arrays.
``ufm.solve`` checks and raises a clear error when x64 is off, unless ``precision="float32"`` is asked
for explicitly.
"""

from ufm._precision import enable_x64, x64_enabled
from ufm.problem import CONVENTIONS, Convention, Problem, ProblemError, from_convention
from ufm import mixup  # noqa: E402,F401  (registers the mixup-ce / mixup-mse losses)
from ufm.mixup import MixupDesign  # noqa: E402

__version__ = "0.1.0"

__all__ = ["MixupDesign", "Problem", "ProblemError", "Convention", "CONVENTIONS", "from_convention", "enable_x64",
           "x64_enabled", "__version__"]
