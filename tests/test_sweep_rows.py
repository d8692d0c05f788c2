"""Rows of a sweep: axis values of any type are stored type-stably (a finished sweep always merges), the
problem's per-layer lambda_W and counts are list columns."""

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ufm.sweep import merge, parse_spec, run_sweep, store

MIXED = """
[base]
counts = [2, 2]
loss = "mse"

[axes]
d = [2, "x", [3], {a = 1}, true, 2.5]
"""


def test_mixed_type_axis_merges_with_invalid_rows(tmp_path):
    spec = parse_spec(MIXED)
    out = tmp_path / "out"
    run_sweep(spec, out, progress=False)
    df = merge(out)
    again = merge(out)  # a rerun merges too (it used to crash the same way every time)
    assert len(df) == len(again) == 6
    assert "axis_d" not in df.columns  # no single type: only the JSON column
    values = [json.loads(v)["d"] for v in df["axes_json"]]
    assert values == [2, "x", [3], {"a": 1}, True, 2.5]
    assert list(df["status"] == "invalid") == [False, True, True, True, True, True]
    assert df.loc[1:, "error"].str.contains("invalid d").all()
    assert df.loc[0, "status"] in ("converged", "stalled")
    assert (tmp_path / "out" / "results.parquet").exists()


def test_typed_axis_columns_and_list_columns(tmp_path):
    spec = parse_spec("[base]\ncounts = [2, 3]\nd = 2\ndepth = 2\nloss = 'mse'\n"
                      "[axes]\nlambda_W = [[1e-3, 2e-3], [0.01, 0.02]]\nlambda_H = [1e-3, 1]\nbias = ['none', 'free']\n"
                      "[solver]\nmax_iter = 50\n")
    run_sweep(spec, tmp_path, progress=False)
    df = merge(tmp_path)
    schema = pq.read_schema(tmp_path / "results.parquet")
    assert schema.field("counts").type == pa.list_(pa.int64())
    assert schema.field("lambda_W").type == pa.list_(pa.float64())
    assert schema.field("axis_lambda_W").type == pa.list_(pa.float64())
    assert schema.field("axis_lambda_H").type == pa.float64()  # 1e-3 and 1: one float column
    bias = schema.field("axis_bias").type
    assert pa.types.is_string(bias) or pa.types.is_large_string(bias)
    assert [list(v) for v in df["counts"]] == [[2, 3]] * 8
    assert [list(v) for v in df["lambda_W"]][:2] == [[1e-3, 2e-3]] * 2  # the whole per-layer tuple
    assert list(df["lambda_W0"][:2]) == [1e-3, 1e-3]
    assert [list(v) for v in df["lambda_W"]][-1] == [0.01, 0.02]


def test_merge_survives_chunks_of_mixed_types(tmp_path):
    """Chunks written by an older ufm (an axis column int in one chunk, str in another) still merge."""
    store.write_chunk(tmp_path, [{"point_id": 0, "restart": 0, "axis_d": 3, "objective": 1.0}], "a")
    store.write_chunk(tmp_path, [{"point_id": 1, "restart": 0, "axis_d": "x", "error": "bad"}], "b")
    store.write_chunk(tmp_path, [{"point_id": 2, "restart": 0, "axis_d": [1, 2], "error": "bad"}], "c")
    df = merge(tmp_path)
    assert list(df["point_id"]) == [0, 1, 2]
    assert list(pd.read_parquet(tmp_path / "results.parquet")["axis_d"]) == ["3", '"x"', "[1, 2]"]
