"""Crash-safe result storage for one output folder DIR.

- Every file is written under a unique temporary name ``.tmp-<host>-<pid>-<random>-<name>`` in its final
  folder and atomically renamed (``os.replace``); a failed write (disk full, interrupt) removes its temporary.
  So a killed sweep leaves only complete chunks, and readers of ``results.parquet`` see the old table or the
  new one, never a partial file, however many merges run at once.
- ``folder_lock``: an exclusive ``fcntl.flock`` on ``DIR/.lock`` (holding the holder's pid and host), held by
  a sweep for its whole run; a second sweep on the folder is refused (or waits). The kernel releases it when
  the holder dies, even by ``kill -9``.
- ``clean_orphans``: with the lock held, temporaries left by dead writers (kills, a full disk) are deleted.
- ``merge`` writes ``results.parquet`` with every (point_id, restart) exactly once (a ``failed`` row gives way
  to a later successful one: failed rows are computed again by a rerun).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import sys
import uuid
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ufm.errors import FlagError

KEY = ["point_id", "restart"]
LOCK_NAME = ".lock"
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TMP = re.compile(r"^\.tmp-([0-9a-f]{6})-(\d+)-[0-9a-f]{8}-")
_HELD: dict = {}  # resolved folder -> [fd, depth]: folder_lock is re-entrant within a process


# ---------------------------------------------------------------------------------------------- atomic files
def tmp_name(final: Path) -> Path:
    """A unique temporary path beside ``final`` naming this host and process (see ``clean_orphans``)."""
    final = Path(final)
    return final.parent / f".tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{final.name}"


def atomic_write(final: Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` then ``os.replace(tmp, final)``; on any failure the temporary is removed."""
    tmp = tmp_name(final)
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return Path(final)


def write_text_atomic(final: Path, text: str) -> Path:
    return atomic_write(final, lambda tmp: tmp.write_text(text))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _orphan(name: str) -> bool:
    m = _TMP.match(name)
    if m is None:
        return True  # a temporary name of an older ufm (.tmp-<name>): nobody writes those any more
    if m.group(1) != _HOST:
        return False  # another host's writer (a multi-host run on a shared folder): not ours to judge
    return not _pid_alive(int(m.group(2)))


def clean_orphans(out: Path) -> list:
    """Delete the temporaries of dead writers in DIR and DIR/chunks (call with the folder lock held).
    Returns the deleted paths."""
    removed = []
    for d in (Path(out), chunk_dir(out)):
        if not d.is_dir():
            continue
        for f in d.glob(".tmp-*"):
            if _orphan(f.name):
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
                    removed.append(f)
    return removed


# ---------------------------------------------------------------------------------------------- folder lock
def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        text = []
    if not text:
        return "pid unknown"
    return f"pid {text[0]}" + (f" on {text[1]}" if len(text) > 1 and text[1] != socket.gethostname() else "")


@contextlib.contextmanager
def folder_lock(out: Path, *, wait: bool = False, on_wait: Optional[Callable[[str], None]] = None):
    """Hold the exclusive lock of DIR (``DIR/.lock``) for the block; yields True where this call took it and
    False where this process already held it (re-entrant). Busy: FlagError naming the holder's pid, or with
    ``wait`` block until it is free (``on_wait(holder)`` is called first)."""
    out = Path(out)
    key = str(out.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield False
        finally:
            _HELD[key][1] -= 1
        return
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise FlagError("--out", f"{out} is in use by another ufm sweep ({holder}); let it finish, or pass "
                                         "--wait to run after it") from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # best effort: who holds it, for the message of a refused run
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        _HELD[key] = [fd, 1]
        try:
            yield True
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # releases the lock


# ---------------------------------------------------------------------------------------------- parquet
def _kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "list"
    return type(v).__name__


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _mixed_to_json(df):
    """Object columns holding values of several kinds (say int and str, from chunks of an older ufm) as JSON
    text, so that any set of chunks can be written as one table."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype != object:
            continue
        if len({_kind(v) for v in df[col] if not _missing(v)}) > 1:
            df[col] = [None if _missing(v) else json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, default=str)
                       for v in df[col]]
    return df


def write_parquet(df, path: Path) -> None:
    """``df.to_parquet`` that never fails on mixed-type object columns (they become JSON text)."""
    import pyarrow as pa

    try:
        df.to_parquet(path, index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        _mixed_to_json(df).to_parquet(path, index=False)


def chunk_dir(out: Path) -> Path:
    return Path(out) / "chunks"


def write_chunk(out: Path, rows: list, tag: str) -> Path:
    import pandas as pd

    d = chunk_dir(out)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"chunk-{tag}-{uuid.uuid4().hex[:8]}.parquet"
    return atomic_write(final, lambda tmp: write_parquet(pd.DataFrame(rows), tmp))


def read_chunks(out: Path, *, on_bad: Optional[Callable[[Path, Exception], None]] = None):
    """Every row of DIR/chunks, each (point_id, restart) once: a successful row wins over a ``failed`` one,
    then the first chunk (in name order). A chunk that cannot be read is skipped (its rows are computed again)
    and reported to ``on_bad(path, error)`` (default: one line on stderr)."""
    import pandas as pd

    files = sorted(chunk_dir(out).glob("chunk-*.parquet")) if chunk_dir(out).exists() else []
    frames = []
    for f in files:
        try:
            frames.append(pd.read_parquet(f))
        except FileNotFoundError:
            continue
        except Exception as e:  # a damaged chunk (copied folder, a filesystem without atomic renames)
            if on_bad is None:
                print(f"ufm sweep: warning: skipping unreadable chunk {f} ({type(e).__name__}: "
                      f"{str(e).splitlines()[0] if str(e) else ''}); its rows will be computed again",
                      file=sys.stderr)
            else:
                on_bad(f, e)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=KEY)
    df = pd.concat(frames, ignore_index=True)
    if "status" in df:
        failed = (df["status"] == "failed").to_numpy()
        df = df.iloc[np.argsort(failed, kind="stable")]
    return df.drop_duplicates(subset=KEY, keep="first").sort_index()


def done_keys(out: Path, *, on_bad=None) -> set:
    """(point_id, restart) pairs with a row that need not be computed again (every status but ``failed``)."""
    df = read_chunks(out, on_bad=on_bad)
    if "status" in df:
        df = df[df["status"] != "failed"]
    return set(zip(df["point_id"].astype(int), df["restart"].astype(int))) if len(df) else set()


def merge(out: Path):
    """results.parquet from all chunks, sorted by (point_id, restart), written atomically under a unique
    temporary name (several merges and any number of readers may run at once)."""
    df = read_chunks(out).sort_values(KEY).reset_index(drop=True)
    atomic_write(Path(out) / "results.parquet", lambda tmp: write_parquet(df, tmp))
    return df
