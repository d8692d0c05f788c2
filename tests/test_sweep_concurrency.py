"""One output folder, many processes: kill -9 and rerun, two sweeps at once (the folder lock), readers while
merges run, orphaned temporaries, unreadable chunks, a full disk and a read-only folder. Small problems
(K = 2, d = 2) so that each subprocess test takes seconds."""

import contextlib
import errno
import os
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ufm.cli import main
from ufm.errors import FlagError
from ufm.sweep import merge, parse_spec, read_chunks, run_sweep, store

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
[base]
counts = [3, 2]
d = 2
loss = "mse"

[axes]
lambda = {logspace = [-3, -1, 12]}

[solver]
restarts = 2
seed = 0
"""
N_ROWS = 24


def _env(**extra):
    env = os.environ.copy()
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    env.update(extra)
    return env


def _cli(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "ufm", "sweep", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or _env(), **kw)


def _raw_keys(out):
    """(point_id, restart) of every row of every chunk file, duplicates included."""
    keys = []
    for f in sorted((Path(out) / "chunks").glob("chunk-*.parquet")):
        df = pd.read_parquet(f, columns=["point_id", "restart"])
        keys += list(zip(df["point_id"], df["restart"]))
    return keys


def _wait_for(cond, proc=None, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        if proc is not None and proc.poll() is not None:
            return cond()
        time.sleep(0.01)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    run_sweep(parse_spec(SPEC), out, progress=False)
    return merge(out)


def _same_rows(df, ref):
    assert len(df) == N_ROWS and not df.duplicated(["point_id", "restart"]).any()
    assert list(zip(df["point_id"], df["restart"])) == list(zip(ref["point_id"], ref["restart"]))
    assert (df["status"].to_numpy() == ref["status"].to_numpy()).all()
    np.testing.assert_allclose(df["objective"], ref["objective"], rtol=1e-12)


def test_kill_minus_nine_then_rerun_equals_an_uninterrupted_run(tmp_path, reference):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    proc = _cli(spec, "--out", out, "--chunk-size", "1", "-q")
    chunks = out / "chunks"
    _wait_for(lambda: chunks.exists() and len(list(chunks.glob("chunk-*.parquet"))) >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(read_chunks(out))
    assert 0 < before < N_ROWS, "the kill should land mid-sweep"
    rerun = _cli(spec, "--out", out, "--chunk-size", "1", "-q")
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert f"{N_ROWS - before} rows computed, {before} already done" in stdout
    assert sorted(_raw_keys(out)) == sorted(set(_raw_keys(out)))  # no row computed twice
    _same_rows(pd.read_parquet(out / "results.parquet"), reference)
    assert not list(out.glob(".tmp-*")) and not list(chunks.glob(".tmp-*"))


def _hold_lock(out):
    """A process holding the folder lock until its stdin closes; returns it once the lock is taken."""
    code = textwrap.dedent(f"""
        import sys
        from ufm.sweep import store
        with store.folder_lock({str(out)!r}):
            print("held", flush=True)
            sys.stdin.read()
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=_env())
    assert p.stdout.readline().strip() == "held"
    return p


def test_busy_folder_refused_naming_the_holder_or_waited_for(tmp_path, reference):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    out.mkdir()
    holder = _hold_lock(out)
    try:
        refused = _cli(spec, "--out", out, "-q")
        _, stderr = refused.communicate(timeout=120)
        assert refused.returncode == 2
        assert stderr.strip().splitlines() == [
            f"ufm sweep: error: invalid --out: {out} is in use by another ufm sweep (pid {holder.pid}); let it "
            "finish, or pass --wait to run after it"]
        assert not (out / "chunks").exists()  # nothing was computed
        waiting = _cli(spec, "--out", out, "--wait", "-q")
        # its first line says it waits (no fixed sleep: starting Python and JAX takes seconds on a busy machine,
        # and a holder released before the second sweep reached the lock left nothing to wait for)
        ready, _, _ = select.select([waiting.stderr], [], [], 120)
        assert ready, "the waiting sweep said nothing within 120 s"
        first = waiting.stderr.readline()
        assert "waiting for it (--wait)" in first and f"pid {holder.pid}" in first, first
        time.sleep(1)
        assert waiting.poll() is None  # still waiting
        holder.stdin.close()
        holder.wait(timeout=30)
        stdout, stderr = waiting.communicate(timeout=300)
        assert waiting.returncode == 0, first + stderr
        assert f"{N_ROWS} rows computed, 0 already done" in stdout
    finally:
        holder.kill()
    _same_rows(pd.read_parquet(out / "results.parquet"), reference)


def test_in_process_lock_is_reentrant_and_refuses_others(tmp_path):
    with store.folder_lock(tmp_path) as first:
        assert first
        with store.folder_lock(tmp_path) as again:
            assert not again
    holder = _hold_lock(tmp_path)
    try:
        with pytest.raises(FlagError, match=rf"in use by another ufm sweep \(pid {holder.pid}\)"):
            with store.folder_lock(tmp_path):
                pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with store.folder_lock(tmp_path):  # free again
        pass


@pytest.mark.parametrize("wait", [False, True])
def test_two_sweeps_at_once_compute_each_row_once(tmp_path, reference, wait):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    flags = ["--wait"] if wait else []
    procs = [_cli(spec, "--out", out, "--chunk-size", "2", "-q", *flags) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    if wait:
        assert codes == [0, 0], results
        assert sorted(int(r[0].split(" rows computed")[0].split()[-1]) for r in results) == [0, N_ROWS]
    else:
        assert 0 in codes and set(codes) <= {0, 2}, results
        for (stdout, stderr), p, other in zip(results, procs, procs[::-1]):
            if p.returncode == 2:
                assert stderr.strip().splitlines() == [
                    f"ufm sweep: error: invalid --out: {out} is in use by another ufm sweep (pid {other.pid}); let it "
                    "finish, or pass --wait to run after it"]
    keys = _raw_keys(out)
    assert len(keys) == len(set(keys)) == N_ROWS  # no row computed twice
    _same_rows(pd.read_parquet(out / "results.parquet"), reference)


READER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import pandas as pd
    out, stop, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    reads = 0
    while not stop.exists():
        try:
            df = pd.read_parquet(out / "results.parquet")
        except FileNotFoundError:
            continue
        assert len(df) == n and not df.duplicated(["point_id", "restart"]).any(), len(df)
        reads += 1
    print(reads)
""")
MERGER = textwrap.dedent("""
    import sys
    from ufm.sweep import merge
    for _ in range(int(sys.argv[2])):
        assert len(merge(sys.argv[1])) == int(sys.argv[3])
""")


def test_readers_never_see_a_corrupt_table_while_merges_run(tmp_path):
    out = tmp_path / "out"
    rng = np.random.default_rng(0)
    n = 0
    for c in range(40):
        rows = [{"point_id": c * 25 + i, "restart": 0, "objective": float(rng.random()), "status": "converged",
                 "counts": [3, 2], "axes_json": "{}", "error": ""} for i in range(25)]
        store.write_chunk(out, rows, "p0")
        n += len(rows)
    merge(out)
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(out), str(stop), str(n)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(3)]
    mergers = [subprocess.Popen([sys.executable, "-c", MERGER, str(out), "15", str(n)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(3)]
    try:
        for m in mergers:
            _, err = m.communicate(timeout=300)
            assert m.returncode == 0, err
    finally:
        stop.touch()
    for r in readers:
        stdout, err = r.communicate(timeout=60)
        assert r.returncode == 0, err
        assert int(stdout) > 0
    assert not list(out.glob(".tmp-*"))
    assert len(pd.read_parquet(out / "results.parquet")) == n


def test_orphaned_temporaries_are_cleaned_and_unreadable_chunks_recomputed(tmp_path):
    spec = parse_spec(SPEC.replace("logspace = [-3, -1, 12]", "logspace = [-3, -1, 2]"))
    out = tmp_path
    run_sweep(spec, out, progress=False, stop_after=1, chunk_size=2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    orphans = [out / "chunks" / ".tmp-chunk-p0-1234abcd.parquet",  # an older ufm's name, killed mid-write
               out / f".tmp-{store._HOST}-{dead}-0123abcd-spec.toml",  # 0 bytes: the disk was full
               out / "chunks" / f".tmp-{store._HOST}-{dead}-89abcdef-chunk-p0-00000000.parquet"]
    orphans[0].write_bytes(b"PAR1 partial")
    orphans[1].write_bytes(b"")
    orphans[2].write_bytes(b"PAR1")
    alive = [out / f".tmp-{store._HOST}-{os.getpid()}-0123abcd-results.parquet",  # a live writer's
             out / ".tmp-ffffff-1-0123abcd-results.parquet"]  # another host's writer
    for f in alive:
        f.write_bytes(b"")
    bad = out / "chunks" / "chunk-p0-zzzzzzzz.parquet"
    bad.write_bytes(b"not parquet")
    before = len(read_chunks(out))
    summary = run_sweep(spec, out, progress=False)
    assert summary["rows_computed"] == 4 - before
    assert not any(f.exists() for f in orphans) and all(f.exists() for f in alive)
    assert not bad.exists() and (out / "chunks" / "unreadable-chunk-p0-zzzzzzzz.parquet").exists()
    df = merge(out)
    assert len(df) == 4 and not df.duplicated(["point_id", "restart"]).any()


def test_disk_full_mid_sweep_is_one_line_and_a_rerun_resumes(tmp_path, capsys, monkeypatch, reference):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    real = store.write_parquet
    calls = []

    def full_disk(df, path):
        calls.append(path)
        if len(calls) >= 3 and Path(path).parent.name == "chunks":
            Path(path).write_bytes(b"PAR1 half a chunk")  # a partial temporary, then ENOSPC
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(df, path)

    monkeypatch.setattr(store, "write_parquet", full_disk)
    assert main(["sweep", str(spec), "--out", str(out), "--chunk-size", "4", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ufm sweep: error: cannot write the results in {out} (No space "
                                               "left on device: "), err
    assert "rerun the same command to resume" in err[0]
    assert not list((out / "chunks").glob(".tmp-*"))  # the partial chunk was removed
    saved = len(read_chunks(out))
    assert saved == 8
    monkeypatch.setattr(store, "write_parquet", real)
    assert main(["sweep", str(spec), "--out", str(out), "--chunk-size", "4", "-q"]) == 0
    assert f"{N_ROWS - saved} rows computed, {saved} already done" in capsys.readouterr().out
    _same_rows(pd.read_parquet(out / "results.parquet"), reference)


@contextlib.contextmanager
def _tmpfs(options):
    d = Path(tempfile.mkdtemp())
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], capture_output=True)
        if r.returncode != 0:
            pytest.skip("needs a mountable tmpfs (root)")
        try:
            yield d
        finally:
            subprocess.run(["umount", "-l", str(d)], check=False)
    finally:
        with contextlib.suppress(OSError):
            d.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root)")
def test_real_full_disk_then_rerun(tmp_path, reference):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    with _tmpfs("size=1024k") as disk:
        out = disk / "out"
        proc = _cli(spec, "--out", out, "--chunk-size", "1", "-q")
        chunks = out / "chunks"
        _wait_for(lambda: chunks.exists() and len(list(chunks.glob("chunk-*.parquet"))) >= 2, proc)
        filler = disk / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        _, stderr = proc.communicate(timeout=300)
        if proc.returncode == 0:
            pytest.skip("the sweep finished before the disk was full")
        assert proc.returncode == 1 and "Traceback" not in stderr
        assert len(stderr.strip().splitlines()) == 1 and "No space left on device" in stderr, stderr
        filler.unlink()
        rerun = _cli(spec, "--out", out, "--chunk-size", "1", "-q")
        stdout, stderr = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, stderr
        assert not list(chunks.glob(".tmp-*")) and not list(out.glob(".tmp-*"))
        _same_rows(pd.read_parquet(out / "results.parquet"), reference)


def test_read_only_folder_is_one_line(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:  # root writes into any folder: a read-only file system
            out = stack.enter_context(_tmpfs("ro,size=64k"))
        else:
            out = tmp_path / "out"
            out.mkdir()
            out.chmod(0o555)
            stack.callback(out.chmod, 0o755)
        proc = _cli(spec, "--out", out, "-q")
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ufm sweep: error: cannot write the results in {out} ("), lines
    assert "Read-only file system" in lines[0] or "Permission denied" in lines[0]
