"""Test setup: the tests verify in float64, so x64 is switched on here (explicitly, once)."""

import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# the command line's persistent compilation cache: one fresh directory per test session (in-process and
# subprocess runs of `ufm` share it), never the user's ~/.cache
os.environ.setdefault("UFM_CACHE_DIR", tempfile.mkdtemp(prefix="ufm-test-cache-"))

import ufm  # noqa: E402

ufm.enable_x64()
