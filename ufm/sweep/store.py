"""Crash-safe result storage: every chunk of rows is one Parquet file written to a temporary name and
atomically renamed (``os.replace``), so a killed sweep leaves only complete chunks; ``merge`` writes
``results.parquet`` (also atomically) with every (point_id, restart) exactly once."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

KEY = ["point_id", "restart"]


def chunk_dir(out: Path) -> Path:
    return Path(out) / "chunks"


def write_chunk(out: Path, rows: list, tag: str) -> Path:
    import pandas as pd

    d = chunk_dir(out)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"chunk-{tag}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = d / f".tmp-{final.name}"
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    os.replace(tmp, final)
    return final


def read_chunks(out: Path):
    import pandas as pd

    files = sorted(chunk_dir(out).glob("chunk-*.parquet")) if chunk_dir(out).exists() else []
    if not files:
        return pd.DataFrame(columns=KEY)
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return df.drop_duplicates(subset=KEY, keep="first")


def done_keys(out: Path) -> set:
    df = read_chunks(out)
    return set(zip(df["point_id"].astype(int), df["restart"].astype(int))) if len(df) else set()


def merge(out: Path):
    """results.parquet from all chunks, sorted by (point_id, restart), written atomically."""
    df = read_chunks(out).sort_values(KEY).reset_index(drop=True)
    final = Path(out) / "results.parquet"
    tmp = Path(out) / ".tmp-results.parquet"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, final)
    return df
