"""Argument reading shared by every subcommand: negative numbers reach validation, integers may be written 1e4,
and the flags the user typed are known (defaults never count)."""

import pytest


def test_normalize_argv_and_integer():
    from ufm.cli import integer, normalize_argv

    assert normalize_argv(["solve", "--lambda-h", "-1e-3", "-K", "-3", "--dim", "4"]) == \
        ["solve", "--lambda-h=-1e-3", "-K-3", "--dim", "4"]
    assert normalize_argv(["--lambda-w", "-.5", "--x=-1", "--", "--a", "-1e3"]) == \
        ["--lambda-w=-.5", "--x=-1", "--", "--a", "-1e3"]
    assert normalize_argv(["--gtol", "-inf"]) == ["--gtol=-inf"]
    assert integer("12") == 12 and integer("1e4") == 10000 and integer("-3") == -3 and integer("2.0E3") == 2000
    assert integer("1e20") == 10 ** 20
    for bad in ("1.5", "two", "inf", "nan", "1e-3"):
        with pytest.raises(ValueError):
            integer(bad)


def test_typed_destinations_ignore_defaults():
    from ufm.cli import typed_destinations

    assert typed_destinations(["solve"]) == set()
    assert typed_destinations(["solve", "--lambda-w=5e-3", "-K", "3", "--json"]) == {"lambda_w", "classes", "json"}
    assert typed_destinations(["check", "--only", "x"]) == {"only"}


def test_a_reader_that_goes_away_is_not_a_traceback():
    """`ufm ... | head`: the pipe closes before ufm writes; ufm stops quietly (141, like SIGPIPE) with nothing on
    stderr."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "ufm", "check", "--list"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    assert p.wait(timeout=120) == 141
    assert p.stderr.read() == ""
