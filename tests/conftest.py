"""Test setup: the tests verify in float64, so x64 is switched on here (explicitly, once)."""

import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# the command line's persistent compilation cache: one fresh directory per test session (in-process and
# subprocess runs of `ufm` share it), never the user's ~/.cache
os.environ.setdefault("UFM_CACHE_DIR", tempfile.mkdtemp(prefix="ufm-test-cache-"))
if os.environ.get("PYTEST_XDIST_WORKER"):  # one directory per worker: JAX writes an entry while another process
    # may read it (a worker read a half-written entry: a warning and a recompilation), so workers do not share
    os.environ["UFM_CACHE_DIR"] = os.path.join(os.environ["UFM_CACHE_DIR"], os.environ["PYTEST_XDIST_WORKER"])

import ufm  # noqa: E402
from ufm._cache import enable_compilation_cache  # noqa: E402

ufm.enable_x64()
# the test process and the `ufm` subprocesses it starts (they inherit UFM_CACHE_DIR and turn the cache on as
# commands do) share its fresh cache: a program compiled by one module is read back, not compiled again, by the
# next (notebook kernels compile as a user's notebook does)
enable_compilation_cache()


import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _cache_stays_with_the_test():
    """An in-process ``ufm`` command sets JAX's persistent compilation cache for the whole process (``--no-cache``
    turns it off); restore the session's setting after each test, so one test's flags do not leak into the
    next."""
    before = jax.config.jax_compilation_cache_dir
    yield
    if jax.config.jax_compilation_cache_dir != before:
        jax.config.update("jax_compilation_cache_dir", before)
        from jax._src import compilation_cache

        compilation_cache.reset_cache()


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Each test module starts from no compiled programs: the suite compiles thousands of shapes, and every
    XLA:CPU executable holds memory maps (ufm.loop.release_near_map_limit guards the product; this keeps the
    session far from the kernel's limit whatever path compiled them)."""
    yield
    from ufm.loop import release_compiled

    release_compiled()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under ``pytest-xdist --dist loadgroup`` (the default ``addopts``): a module's tests run in one worker
    (they share its compiled programs), except the long parametrised runs of :data:`SPREAD` (a notebook in its
    own kernel; a statement's case, whose shapes no other case shares), which go their own way and so spread
    over the workers."""
    for item in items:
        spread = item.originalname in SPREAD and hasattr(item, "callspec")
        group = f"{item.originalname}-{item.callspec.id}" if spread else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))


#: tests whose parametrised runs share no compiled program with each other (see the hook above)
SPREAD = ("test_notebook_runs_top_to_bottom", "test_statement_verdict_on_one_case")
