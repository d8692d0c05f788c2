"""The values docs/metrics.md quotes, recomputed from the exact geometries (no solve).

The doc's orthogonal-frame table and the (a), (b), (c), (e) columns of its optimum table are parsed from
the Markdown (between ``<!-- name -->`` markers) and compared, to 1e-3, with ``ufm.metrics.nc_metrics`` of
the geometry each case stands for: a simplex ETF, an orthogonal frame (uncentred class means parallel to
the classifier rows), or W = H = 0.
"""

import re
from pathlib import Path

import numpy as np

from ufm import metrics

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
TOL = 1e-3  # the doc prints 4 decimals


def table(name):
    """Header cells and body rows (lists of cells) of the Markdown table between the doc's markers."""
    found = re.search(rf"<!-- {name}\b[^>]*-->\n(.*?)<!-- /{name} -->", DOC.read_text(), re.S)
    assert found, f"no <!-- {name} --> block in {DOC}"
    lines = [line.strip() for line in found.group(1).strip().splitlines()]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert set(lines[1]) <= set("|-: "), "second line must be the Markdown separator"
    return rows[0], rows[2:]


def number(cell):
    return float(cell.strip("` ").split()[0])  # "0.5176", "-0.4904", "0", "nan"


def geometry(kind, K, n=3, seed=0):
    """Features (exactly at their class means), labels and classifier of an exact optimum shape, randomly
    rotated into d = K + 2 dimensions and scaled (the metrics are invariant to both)."""
    d = K + 2
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    E = Q[:, :K]  # K orthonormal directions
    if kind == "etf":
        E = E @ (np.eye(K) - np.ones((K, K)) / K)  # simplex ETF, centred: mean zero
    elif kind == "zero":
        E = np.zeros((d, K))
    else:
        assert kind == "orthogonal_frame"
    labels = np.repeat(np.arange(K), n)
    return 0.9 * E[:, labels], labels, 1.7 * E.T  # W^T parallel to the uncentred means, as at the optima


def test_orthogonal_frame_table_matches_the_geometry():
    header, rows = table("orthogonal-frame-table")
    assert header[0] == "K" and "nc2_etf" in header[1] and "nc3" in header[2]
    seen = set()
    for row in rows:
        K = int(row[0])
        seen.add(K)
        doc_etf, doc_nc3 = number(row[1]), number(row[2])
        H, labels, W = geometry("orthogonal_frame", K)
        m = metrics.nc_metrics(H, labels, W, predicted_gram=np.eye(K))
        assert abs(m["nc2_etf"] - doc_etf) <= TOL, (K, m["nc2_etf"], doc_etf)
        assert abs(m["nc3"] - doc_nc3) <= TOL, (K, m["nc3"], doc_nc3)
        # the closed form the doc derives, and what it says about the other metrics
        c = np.sqrt((K - 1) / K)
        assert abs(m["nc3"] - (2 - 2 * c)) <= 1e-12 and abs(m["nc2_etf"] ** 2 - m["nc3"]) <= 1e-12
        assert m["nc2_gram"] <= 1e-12  # collapsed onto the geometry the loss predicts
        assert m["nc2_etf_means"] <= 1e-12 and m["unc3"] <= 1e-12
    assert {2, 3, 4, 10} <= seen


def test_optimum_table_columns_match_the_exact_geometries():
    header, rows = table("optimum-table")
    kinds = {"(a)": "etf", "(b)": "orthogonal_frame", "(c)": "etf", "(e)": "zero"}
    columns = [(j, kinds[h.split()[0]]) for j, h in enumerate(header) if h.split()[0] in kinds]
    assert sorted({k for _, k in columns}) == ["etf", "orthogonal_frame", "zero"] and len(columns) >= 5
    computed = {kind: metrics.nc_metrics(*geometry(kind, K=4)) for kind in set(kinds.values())}
    keys = [row[0].strip("`") for row in rows]
    assert set(keys) == set(computed["etf"]), "the table must list every key nc_metrics returns"
    for row, key in zip(rows, keys):
        for j, kind in columns:
            doc, value = number(row[j]), computed[kind][key]
            if np.isnan(doc):
                assert np.isnan(value), (header[j], key, value)
            else:
                assert abs(value - doc) <= TOL, (header[j], key, value, doc)
    b = [j for j, h in enumerate(header) if h.startswith("(b)")]
    row = {key: r for key, r in zip(keys, rows)}
    assert all(abs(number(row["nc2_etf"][j]) - 0.5176) <= 1e-4 for j in b)  # the K = 4 numbers the text quotes
    assert all(abs(number(row["nc3"][j]) - 0.2679) <= 1e-4 for j in b)
