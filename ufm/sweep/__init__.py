"""Parameter sweeps: TOML specs, batched solves over devices, resumable Parquet results (docs/sweep.md)."""

from ufm.sweep.engine import best_rows, run_sweep, summarize, sweep_stats
from ufm.sweep.spec import SweepSpec, load_spec, parse_spec
from ufm.sweep.store import merge, read_chunks

__all__ = ["SweepSpec", "load_spec", "parse_spec", "run_sweep", "summarize", "sweep_stats", "best_rows", "merge",
           "read_chunks"]
