"""The ``ufm`` command line: ``ufm solve | check | sweep``.

Each subcommand lives in its own module ``ufm/cli/_<name>.py`` exposing ``register(subparsers)`` (adds its
parser and sets ``func``) so the pieces stay independent. Bad flags exit with status 2 and a one-line
message; errors raised by validation (``ufm.errors.UfmError``) exit with status 2 and the message, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("check", "solve", "sweep", "plot")


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


def main(argv=None) -> int:
    from ufm import enable_x64
    from ufm.errors import UfmError

    enable_x64()  # the command line always verifies in float64 (stated in the README)
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
