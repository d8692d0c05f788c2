"""``ufm sweep SPEC.toml --out DIR``: run a parameter sweep into DIR/results.parquet (resumable)."""

from __future__ import annotations

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
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _host_devices() -> None:
    """One host device per core for the CPU backend, unless XLA_FLAGS already says otherwise (announced)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        n = os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
        print(f"ufm sweep: using {n} CPU host devices (XLA_FLAGS=--xla_force_host_platform_device_count={n}; "
              "set XLA_FLAGS yourself to override)", file=sys.stderr)


def run(args) -> int:
    if args.chunk_size < 1:
        raise FlagError("--chunk-size", f"must be an integer >= 1, got {args.chunk_size}")
    from ufm.sweep import load_spec, merge, run_sweep, summarize

    spec = load_spec(args.spec)  # a malformed spec: one line, before anything else is printed
    _host_devices()  # XLA_FLAGS is read when the backend starts (first device use), not at import
    import jax

    process_id, num_processes = 0, 1
    if args.coordinator:
        if args.num_processes is None or args.process_id is None:
            raise FlagError("--coordinator", "needs --num-processes and --process-id")
        if not (0 <= args.process_id < args.num_processes):
            raise FlagError("--process-id", f"must be in 0..{args.num_processes - 1}, got {args.process_id}")
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)
        process_id, num_processes = jax.process_index(), jax.process_count()
    out = Path(args.out)
    summary = run_sweep(spec, out, chunk_size=args.chunk_size, process_id=process_id, num_processes=num_processes,
                        progress=not args.quiet, inner=args.inner, devices=args.devices)
    if num_processes > 1:
        _wait_for_all(out, process_id, num_processes)
    if process_id == 0:
        df = merge(out)
        print(f"results: {out / 'results.parquet'}")
        print(summarize(df))
        print(f"this run: {summary.get('rows_computed', 0)} rows computed, {summary.get('rows_skipped', 0)} "
              f"already done, {summary.get('seconds', 0.0):.1f} s")
    if num_processes > 1:
        _wait_for_all(out, process_id, num_processes)  # the others stay up until the merge is written
        jax.distributed.shutdown()
    return 0


def _wait_for_all(out: Path, process_id: int, num_processes: int, timeout: float = 24 * 3600.0) -> None:
    """A barrier of JAX's distributed runtime (the coordination service's ``wait_at_barrier``): every process
    has written its chunks before process 0 merges, and nobody exits (and shuts the runtime down) while
    another is still working."""
    from jax._src import distributed

    client = distributed.global_state.client
    client.wait_at_barrier("ufm_sweep_done", int(timeout * 1000))
