"""Packaging: the core install carries no test tools (pytest lives in the ``test`` extra, which ``all`` includes)."""

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def _names(requirements):
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_pytest_is_a_test_extra_not_a_core_dependency():
    project = PYPROJECT["project"]
    assert "pytest" not in _names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert "pytest" in _names(extras["test"])
    assert any("test" in r for r in extras["all"])  # the README's `pip install -e ".[all]"` still installs it
