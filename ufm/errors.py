"""The errors ``ufm`` raises for bad input: one line, naming the field and what is allowed.

Every error of this module is a :class:`UfmError` (a ``ValueError``) with a ``field`` attribute; the command
line prints its message on one line and exits with status 2. The subclasses say what kind of input was bad:

- :class:`ProblemError`: a field of a :class:`ufm.Problem` (or of a problem converter / sample design);
- :class:`OptionsError`: a solver option (:class:`ufm.SolverOptions`, ``ufm.solver`` keyword arguments);
- :class:`SpecError`: a key of a sweep specification (TOML);
- :class:`FlagError`: a command-line flag;
- :class:`ResourceError`: a problem or sweep too large for the memory or time limits (says what is needed
  and how to override the limit).

This module imports nothing from ``ufm``: every other module may import it.
"""

from __future__ import annotations


class UfmError(ValueError):
    """Bad input to ``ufm``. The message names the field and what is allowed."""

    template = "invalid {field}: {detail}"

    def __init__(self, field: str, message: str):
        self.field = field
        self.detail = message
        super().__init__(self.template.format(field=field, detail=message))


class ProblemError(UfmError):
    """A problem field (``ufm.Problem``, ``ufm.from_convention``, a sample design) has a bad value."""


class OptionsError(UfmError):
    """A solver option has a bad value."""


class SpecError(UfmError):
    """A sweep specification has a bad key or value."""


class FlagError(UfmError):
    """A command-line flag has a bad value, or has no effect with the other flags given."""


class ResourceError(UfmError):
    """The requested problem or sweep needs more memory or work than the configured limit."""

    template = "{field} too large: {detail}"


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure: Python's ``MemoryError`` or an XLA runtime error whose
    message says ``RESOURCE_EXHAUSTED`` / out of memory (what JAX raises when a device buffer cannot be
    allocated)."""
    if isinstance(error, MemoryError):
        return True
    text = str(error)
    return any(k in text for k in ("RESOURCE_EXHAUSTED", "Out of memory", "out of memory"))


def renamed(error: UfmError, field: str, kind: type = None) -> UfmError:
    """The same error under another field name (e.g. the command-line flag that set a Problem field)."""
    return (kind or type(error))(field, error.detail)
