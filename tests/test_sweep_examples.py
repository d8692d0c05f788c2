"""Every ``examples/sweeps/*.toml`` parses, runs and has a clean summary (no WARNING, no invalid point, no failed
row, every requested prediction applies somewhere and matches its best rows to 1e-8). The default suite runs
each example shrunk to the first and last value of every axis; ``-m slow`` runs them whole through the command
line."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ufm.cli import main
from ufm.sweep import load_spec, merge, run_sweep, summarize, sweep_stats

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "sweeps").glob("*.toml"))


def test_the_examples_are_there():
    names = {p.stem for p in EXAMPLES}
    assert {"small", "minority_collapse", "mixup", "small_weight_decay"} <= names, names


def _check_clean(df, spec):
    stats = sweep_stats(df)
    text = summarize(df, stats)
    assert "WARNING" not in text, text
    assert stats["invalid_points"] == 0 and stats["failed_rows"] == 0, text
    assert len(stats["best"]) == stats["points"], text
    from ufm.theory import PREDICTIONS

    for name in spec.predictions:
        assert stats["predictions"][name]["applies"] >= 1, text
        if PREDICTIONS[name].upper_bound:  # a family's value (DNC): the best rows are at or below it
            best = stats["best"]
            gap = (best["objective"] - best[f"pred_{name}_objective"]).to_numpy(float)
            assert np.nanmax(gap / best[f"pred_{name}_objective"].to_numpy(float)) < 1e-8, text
            continue
        err = stats["best"][f"pred_{name}_objective_rel_err"].to_numpy(float)
        assert np.nanmax(err) < 1e-8, text
    return text


#: examples whose corner points take more than a few seconds (the ReLU search: ~12 s): -m slow
SLOW_CORNERS = {"relu_deep_collapse"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_CORNERS else p
                                  for p in EXAMPLES], ids=lambda p: p.stem)
def test_example_runs_clean_on_its_corner_points(path, tmp_path):
    spec = load_spec(path)
    shrunk = dataclasses.replace(spec, axes={k: [v[0], v[-1]] if len(v) > 1 else v for k, v in spec.axes.items()})
    assert shrunk.n_points() <= 8
    summary = run_sweep(shrunk, tmp_path, progress=False)
    assert summary["rows_computed"] == shrunk.n_points() * (shrunk.restarts + shrunk.search)
    _check_clean(merge(tmp_path), shrunk)


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_clean_whole(path, tmp_path, capsys):
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out, out
    _check_clean(merge(tmp_path / "out"), load_spec(path))
