"""The ``ufm`` command line: ``ufm solve | check | sweep | plot | compare | fed | supcon``.

Each subcommand lives in its own module ``ufm/cli/_<name>.py`` exposing ``register(subparsers)`` (adds its
parser and sets ``func``) so the pieces stay independent. Bad flags exit with status 2 and a one-line
message; errors raised by validation (``ufm.errors.UfmError``) exit with status 2 and the message, never a
traceback.

Two rules shared by every subcommand:

- **Negative numbers reach validation.** ``--lambda-h -1e-3`` is read as the value ``-1e-3`` (argparse alone
  reads a negative decimal with an exponent as a flag and says "expected one argument"), so the message is
  the validation's: "invalid --lambda-h: must be ... >= 0".
- **Typed flags.** ``args.typed`` is the set of destinations the user actually typed (parsed a second time
  with every default suppressed), so a subcommand can refuse a flag that has no effect without mistaking a
  default for a choice.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

SUBCOMMANDS = ("check", "solve", "sweep", "plot", "compare", "fed", "supcon")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from ufm import __version__

    parser = _Parser(prog="ufm", description="Certified global optima of the unconstrained features model.")
    parser.add_argument("--version", action="version", version=f"ufm {__version__}")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the persistent compilation cache (default: on, in ~/.cache/ufm/jax or "
                             "$UFM_CACHE_DIR; UFM_NO_CACHE=1 also switches it off)")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"ufm.cli._{name}")
        except ModuleNotFoundError as e:
            if e.name == f"ufm.cli._{name}":
                continue
            raise
        module.register(sub)
    return parser


def integer(text) -> int:
    """An integer flag's value: ``12``, ``-3``, or a number with an integral value such as ``1e4`` (users write
    iteration caps that way); its range is checked by the validation of the field, which names the flag
    (``--seed 1e20``: "invalid --seed: must be an integer >= 0 and <= 4294967295"). Anything else is argparse's
    one-line "invalid int value"."""
    from decimal import Decimal, InvalidOperation

    text = str(text).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or value != value.to_integral_value() or value.adjusted() > 1000:
        raise ValueError(text)
    return int(value)


integer.__name__ = "int"  # argparse's message: "invalid int value: 'two'"


def _values(flag: str, text: str, read, allowed: str) -> list:
    """The comma-separated values of a flag, each read by ``read``; a FlagError naming ``flag`` and what is
    ``allowed`` otherwise (ranges are checked by the field's validation)."""
    from ufm.errors import FlagError

    try:
        values = [read(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FlagError(flag, f"must be {allowed}, got {text!r}") from None
    if not values:
        raise FlagError(flag, "must not be empty")
    return values


def int_list(flag: str, text: str) -> list:
    """A flag's comma-separated integers (``--counts 100,100,20``), each read by :func:`integer`."""
    return _values(flag, text, integer, "a comma-separated list of integers")


def float_list(flag: str, text: str) -> list:
    """A flag's number or comma-separated numbers (``--lambda-w 1e-3,1e-3,0``)."""
    return _values(flag, text, float, "a number or a comma-separated list of numbers")


#: a negative number as a command-line token: -1, -1.5, -.5, -1e-3, -2.5E+4, -inf, -nan
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


def normalize_argv(argv) -> list:
    """``--flag -1e-3`` -> ``--flag=-1e-3`` (and ``-K -3`` -> ``-K-3``), so that a negative number after a flag
    is that flag's value whatever its spelling; nothing after a ``--`` is touched."""
    out = []
    argv = list(argv)
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            out += argv[i:]
            break
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if nxt is not None and _NEGATIVE_NUMBER.match(nxt) and tok.startswith("-") and \
                not _NEGATIVE_NUMBER.match(tok) and "=" not in tok:
            if tok.startswith("--"):
                out.append(f"{tok}={nxt}")
                i += 2
                continue
            if len(tok) == 2:  # a short option: -K-3
                out.append(tok + nxt)
                i += 2
                continue
        out.append(tok)
        i += 1
    return out


def typed_destinations(argv) -> set:
    """The destinations of the flags present in ``argv`` (a second parse with every default suppressed)."""
    parser = build_parser()

    def suppress(p):
        p._defaults.clear()  # set_defaults(func=...) would count as typed
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                action.default = argparse.SUPPRESS
                for sub in action.choices.values():
                    suppress(sub)
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                action.default = argparse.SUPPRESS

    suppress(parser)
    ns, _ = parser.parse_known_args(argv)
    return set(vars(ns)) - {"command"}


def main(argv=None) -> int:
    from ufm import enable_x64
    from ufm.errors import UfmError

    enable_x64()  # the command line always verifies in float64 (stated in the README)
    parser = build_parser()
    argv = normalize_argv(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.typed = typed_destinations(argv)
    if not args.no_cache:
        from ufm._cache import enable_compilation_cache

        enable_compilation_cache()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UfmError as e:
        print(f"ufm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ufm {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`ufm solve ... | head`): stop quietly, as a Unix tool does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141


if __name__ == "__main__":
    sys.exit(main())
