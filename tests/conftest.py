"""Test setup: the tests verify in float64, so x64 is switched on here (explicitly, once)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import ufm  # noqa: E402

ufm.enable_x64()
