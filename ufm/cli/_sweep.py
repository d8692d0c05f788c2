"""``ufm sweep SPEC.toml --out DIR``: run a parameter sweep into DIR/results.parquet (resumable)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from ufm.errors import FlagError


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter sweep (TOML spec) into a resumable Parquet table",
                       description="Run a sweep spec (docs/sweep.md). Rerunning the same command after an "
                                   "interruption computes only what is missing.")
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep specification")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (results.parquet, chunks/)")
    p.add_argument("--chunk-size", type=int, default=32, help="points per batch and per chunk file (default 32)")
    p.add_argument("--devices", type=int, help="local devices to shard each batch over (default: all)")
    p.add_argument("--inner", choices=["map", "vmap"], help="per-device batching: map (CPU default) or vmap "
                                                            "(GPU default)")
    p.add_argument("--coordinator", metavar="HOST:PORT",
                   help="jax.distributed coordinator address (multi-process runs)")
    p.add_argument("--num-processes", type=int, help="number of processes (with --coordinator)")
    p.add_argument("--process-id", type=int, help="this process's id (with --coordinator)")
    p.add_argument("--max-points", type=int, metavar="N",
                   help="refuse grids of more than N points (default: the spec's [sweep] max_points, else 1000000)")
    p.add_argument("--max-memory-gb", type=float, metavar="GB",
                   help="refuse sweeps whose largest batch needs more than GB gigabytes (estimated; default: the "
                        "spec's [sweep] max_memory_gb, else half the machine's RAM)")
    p.add_argument("--wait", action="store_true", help="if another sweep is writing into DIR, wait for it to finish "
                                                       "(default: refuse at once, naming its pid)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--plot", action="store_true",
                   help="after the merge, draw the standard figure into DIR/plot-objective.png (as ufm plot DIR; "
                        "needs the plot extra: pip install 'ufm[plot]')")
    p.set_defaults(func=run)


def _missing_extras(plot: bool) -> str:
    """One line naming the extra to install, or "" (pandas and pyarrow write the results; --plot needs
    matplotlib)."""
    import importlib.util

    if importlib.util.find_spec("pandas") is None or importlib.util.find_spec("pyarrow") is None:
        return "ufm sweep writes Parquet with pandas and pyarrow, which are not installed: pip install 'ufm[sweep]'"
    if plot and importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib, which is not installed: pip install 'ufm[plot]'"
    return ""


def _host_devices() -> str:
    """One host device per core for the CPU backend, unless XLA_FLAGS already says otherwise; returns the line
    that announces it ("" if XLA_FLAGS was set), printed when the first solve starts."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return ""
    n = os.cpu_count() or 1
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    return (f"ufm sweep: using {n} CPU host devices (XLA_FLAGS=--xla_force_host_platform_device_count={n}; "
            "set XLA_FLAGS yourself to override)")


def run(args) -> int:
    if args.chunk_size < 1:
        raise FlagError("--chunk-size", f"must be an integer >= 1, got {args.chunk_size}")
    if args.devices is not None and args.devices < 1:
        raise FlagError("--devices", f"must be an integer >= 1, got {args.devices}")
    if args.max_points is not None and args.max_points < 1:
        raise FlagError("--max-points", f"must be an integer >= 1, got {args.max_points}")
    if args.max_memory_gb is not None and not (math.isfinite(args.max_memory_gb) and args.max_memory_gb > 0):
        raise FlagError("--max-memory-gb", f"must be a finite number > 0, got {args.max_memory_gb}")
    missing = _missing_extras(args.plot)
    if missing:  # before any work: the results could not be written (or drawn) anyway
        print(f"ufm sweep: error: {missing}", file=sys.stderr)
        return 2
    from ufm.sweep import load_spec

    spec = load_spec(args.spec, max_points=args.max_points)  # a bad spec: one line, before anything else
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FlagError("--out", f"{out} is a file; give a folder (it is created if missing)")
    try:
        return _run(args, spec, out)
    except OSError as e:  # disk full, read-only or vanished folder: one line; finished chunks are kept
        what = f"{e.strerror or type(e).__name__}" + (f": {e.filename}" if e.filename else "")
        print(f"ufm sweep: error: cannot write the results in {out} ({what}); every finished chunk is kept: fix "
              "this and rerun the same command to resume", file=sys.stderr)
        return 1


def _run(args, spec, out: Path) -> int:
    from contextlib import nullcontext

    from ufm.sweep import store

    process_id = 0
    if args.coordinator:
        if args.num_processes is None or args.process_id is None:
            raise FlagError("--coordinator", "needs --num-processes and --process-id")
        if not (0 <= args.process_id < args.num_processes):
            raise FlagError("--process-id", f"must be in 0..{args.num_processes - 1}, got {args.process_id}")
        process_id = args.process_id
    out.mkdir(parents=True, exist_ok=True)

    def waiting(holder: str) -> None:
        print(f"ufm sweep: {out} is in use by another sweep ({holder}); waiting for it (--wait)", file=sys.stderr,
              flush=True)

    # process 0 holds DIR/.lock for the whole run (solves and merge), taken before anything else is printed;
    # it deletes what dead writers left before anyone starts writing
    with store.folder_lock(out, wait=args.wait, on_wait=waiting) if process_id == 0 else nullcontext():
        if process_id == 0:
            store.clean_orphans(out)
        return _locked_run(args, spec, out)


def _locked_run(args, spec, out: Path) -> int:
    announce = _host_devices()  # XLA_FLAGS is read when the backend starts (first device use), not at import
    import jax

    from ufm.sweep import merge, run_sweep, summarize, sweep_stats

    process_id, num_processes = 0, 1
    if args.coordinator:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
        process_id, num_processes = jax.process_index(), jax.process_count()
        _wait_for_all(out, process_id, num_processes, "ufm_sweep_start")  # process 0 has cleaned
    summary = run_sweep(spec, out, chunk_size=args.chunk_size, process_id=process_id, num_processes=num_processes,
                        progress=not args.quiet, inner=args.inner, devices=args.devices,
                        max_memory_gb=args.max_memory_gb,
                        on_start=(lambda: print(announce, file=sys.stderr, flush=True)) if announce else None)
    if num_processes > 1:
        _wait_for_all(out, process_id, num_processes)
    code = 0
    if process_id == 0:
        df = merge(out)
        stats = sweep_stats(df)
        print(f"results: {out / 'results.parquet'}")
        print(summarize(df, stats))
        print(f"this run: {summary.get('rows_computed', 0)} rows computed, {summary.get('rows_skipped', 0)} "
              f"already done, {summary.get('seconds', 0.0):.1f} s", flush=True)
        code = _verdict(stats)
        if args.plot and code != 2:
            code = max(code, _plot(out))
    if num_processes > 1:
        _wait_for_all(out, process_id, num_processes, "ufm_sweep_merged")  # the others stay up until the merge
        jax.distributed.shutdown()
    return code


def _plot(out: Path) -> int:
    """--plot: the figure of ``ufm plot DIR``; a figure that cannot be drawn is one line and exit 1 (the results
    are written)."""
    from ufm.cli._plot import draw
    from ufm.errors import UfmError

    try:
        path = draw(out, out / "results.parquet", "objective", None, None, {}, out / "plot-objective.png")
    except UfmError as e:
        print(f"ufm sweep: error: --plot: {e}", file=sys.stderr)
        return 1
    print(f"figure: {path}")
    return 0


def _verdict(stats: dict) -> int:
    """Loud lines on stderr and the exit status: every point invalid: 2 (the spec is wrong); failed rows: 1
    (a rerun computes them again); some invalid points: 0 with a warning."""
    n, bad = stats["points"], stats["invalid_points"]
    if n and bad == n:
        print(f"ufm sweep: error: all {n} points are invalid, nothing was solved (first: {stats['first_invalid']})",
              file=sys.stderr)
        return 2
    if stats["failed_rows"]:
        print(f"ufm sweep: error: {stats['failed_rows']} rows failed (first: {stats['first_failed']}); rerun the "
              "same command to compute them again", file=sys.stderr)
        return 1
    from ufm.sweep.engine import never_applies

    for name in never_applies(stats):
        p = stats["predictions"][name]
        print(f"ufm sweep: warning: prediction {name} applies at none of the {p['points']} points, so nothing was "
              f"compared with it ({p['first_reason'] or 'no reason recorded'})", file=sys.stderr)
    if bad:
        print(f"ufm sweep: warning: {bad} of {n} points are invalid (status = invalid in results.parquet; first: "
              f"{stats['first_invalid']})", file=sys.stderr)
    return 0


def _wait_for_all(out: Path, process_id: int, num_processes: int, name: str = "ufm_sweep_done",
                  timeout: float = 24 * 3600.0) -> None:
    """A barrier of JAX's distributed runtime (the coordination service's ``wait_at_barrier``): every process
    has written its chunks before process 0 merges, and nobody exits (and shuts the runtime down) while
    another is still working."""
    from jax._src import distributed

    client = distributed.global_state.client
    client.wait_at_barrier(name, int(timeout * 1000))
