"""Crash-safe result storage: every chunk of rows is one Parquet file written to a temporary name and
atomically renamed (``os.replace``), so a killed sweep leaves only complete chunks; ``merge`` writes
``results.parquet`` (also atomically) with every (point_id, restart) exactly once."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np

KEY = ["point_id", "restart"]


def _kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "list"
    return type(v).__name__


def _mixed_to_json(df):
    """Object columns holding values of several kinds (say int and str, from chunks of an older ufm) as JSON
    text, so that any set of chunks can be written as one table."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = [v for v in df[col] if v is not None and not (isinstance(v, float) and np.isnan(v))]
        if len({_kind(v) for v in values}) > 1:
            df[col] = [None if v is None or (isinstance(v, float) and np.isnan(v))
                       else json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, default=str)
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
    tmp = d / f".tmp-{final.name}"
    write_parquet(pd.DataFrame(rows), tmp)
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
    write_parquet(df, tmp)
    os.replace(tmp, final)
    return df
