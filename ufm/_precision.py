"""Precision policy: ufm verifies in float64 and never flips JAX's global config behind your back."""

from __future__ import annotations

import jax


def x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def enable_x64() -> None:
    """Turn on JAX's float64 mode for this process (``jax.config.update("jax_enable_x64", True)``).

    Call it once at program start, before creating JAX arrays. The ``ufm`` command line calls it for you.
    """
    jax.config.update("jax_enable_x64", True)


def require_x64(what: str = "this computation") -> None:
    if not x64_enabled():
        raise RuntimeError(
            f"{what} runs in float64 but JAX's x64 mode is off. Call ufm.enable_x64() at the start of your "
            "program (or set the environment variable JAX_ENABLE_X64=1), or pass precision='float32' to "
            "accept single precision.")
