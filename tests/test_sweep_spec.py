"""Sweep specs: every malformed spec is a SpecError naming the key (one line, exit 2 from the command line),
never a traceback; axis values of any type become invalid points, not crashes; grid-size limits; and a
property-based test of the parser over random TOML documents."""

import datetime
import json
import math
import re
import subprocess
import sys

import pytest

import ufm
from ufm.cli import main
from ufm.errors import ResourceError, SpecError, UfmError
from ufm.sweep import parse_spec

MALFORMED = [
    ('sweep = "x"', "sweep"),
    ("axes = [1]", "axes"),
    ("[predictions]\nnames = 5", "predictions.names"),
    ("[predictions]\nnames = [{a = 1}]", "predictions.names"),
    ("[predictions]\nnames = ['nc', 'nc']", "predictions.names"),
    ("[predictions]\nname = []", "predictions.name"),
    ('[axes]\nlambda = {logspace = ["a", -1, 3]}', "axes.lambda"),
    ("[axes]\nlambda = {logspace = [1, 400, 3]}", "axes.lambda"),
    ("[axes]\nd = {linspace = [1, 2, 3.5]}", "axes.d"),
    ("[axes]\nd = {linspace = [1, inf, 3]}", "axes.d"),
    ("[axes]\nd = {linspace = [1, 2, true]}", "axes.d"),
    ("[axes]\nd = [3, 1979-05-27]", "axes.d"),
    ("[axes]\nd = [3, [1979-05-27T07:32:00]]", "axes.d"),
    ("[axes]\nd = []", "axes.d"),
    ('[solver]\nmomentum = "0.9"', "solver.momentum"),
    ("[solver]\nmomentum = true", "solver.momentum"),
    ("[solver]\ngtol = true", "solver.gtol"),
    ("[solver]\ngtol = nan", "solver.gtol"),
    ("[solver]\nseed = 1e20", "solver.seed"),
    ("[solver]\nseed = 100000000000000000000", "solver.seed"),
    ("[solver]\nmax_iter = 1e20", "solver.max_iter"),
    ("[solver]\nmax_iter = 100000000000000000000", "solver.max_iter"),
    ("[solver]\nrestarts = 2.0", "solver.restarts"),
    ("[solver]\nrestarts = true", "solver.restarts"),
    ("[solver]\nmethod = 3", "solver.method"),
    ('[solver]\nmethod = "newton"', "solver.method"),
    ('[solver]\nsearch = "yes"', "solver.search"),
    ("[sweep]\nbogus = 1", "sweep.bogus"),
    ("[sweep]\nmax_points = 0", "sweep.max_points"),
    ("[sweep]\nmax_memory_gb = -1", "sweep.max_memory_gb"),
    ('[sweep]\nzip = "d"', "sweep.zip"),
    ("[sweep]\nzip = [[1, 2]]", "sweep.zip"),
    ('[axes]\nd = [2, 3]\n[sweep]\nzip = [["d", "d"]]', "sweep.zip"),
    ('[axes]\nd = [2, 3]\ndepth = [1, 2]\n[sweep]\nzip = [["d", "depth"], ["depth", "d"]]', "sweep.zip"),
    ("[base]\nratio = inf", "base.ratio"),
    ("[base]\nratio = 0.5", "base.ratio"),
    ("[base]\nK = 2.7", "base.K"),
    ("[base]\nd = true", "base.d"),
    ('[base]\nd = "3"', "base.d"),
    ("[base]\ncounts = [3]", "base.counts"),
    ("[base]\ncounts = [3, 2.5]", "base.counts"),
    ("[base]\nlambda_W = [0.1, -1]", "base.lambda_W"),
    ("[base]\nlambda_H = inf", "base.lambda_H"),
    ('[base]\nloss = "l1"', "base.loss"),
    ("[base]\nbias = false", "base.bias"),
    ('[base]\nclassifier = "random"', "base.classifier"),
    ("[base]\nlambda = 0.1\n[axes]\nlambda_W = [0.1]", "base.lambda"),
    ("[base]\ncounts = [2, 2]", "base.d"),
    ("[base]\nd = 2\nK = 3", "base.counts"),
]


@pytest.mark.parametrize("text,key", MALFORMED)
def test_malformed_spec_is_a_spec_error_naming_the_key(text, key):
    with pytest.raises(SpecError, match=rf"invalid {re.escape(key)}:"):
        parse_spec(text)


@pytest.mark.parametrize("text,key", MALFORMED[::4])
def test_command_line_gives_one_line_and_exit_2(text, key, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ufm sweep: error: invalid {key}:"), err


def test_real_command_line_no_traceback(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[base]\ncounts = [2, 2]\nd = 2\n[solver]\nmomentum = "0.9"\n')
    p = subprocess.run([sys.executable, "-m", "ufm", "sweep", str(spec), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "ufm sweep: error: invalid solver.momentum: must be a number in [0, 1), got '0.9'"]


@pytest.mark.parametrize("flags,message", [
    (["--chunk-size", "1e20"], "ufm sweep: error: argument --chunk-size: invalid int value: '1e20'"),
    (["--max-points", "1e20"], "ufm sweep: error: argument --max-points: invalid int value: '1e20'"),
    (["--seed", "1e20"], "ufm: error: unrecognized arguments: --seed 1e20"),
    (["--max-iter", "1e20"], "ufm: error: unrecognized arguments: --max-iter 1e20"),
    (["--chunk-size", "0"], "ufm sweep: error: invalid --chunk-size: must be an integer >= 1, got 0"),
    (["--devices", "0"], "ufm sweep: error: invalid --devices: must be an integer >= 1, got 0"),
    (["--max-memory-gb", "inf"], "ufm sweep: error: invalid --max-memory-gb: must be a finite number > 0, got inf"),
])
def test_bad_flags_are_one_line(flags, message, tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text("[base]\ncounts = [2, 2]\nd = 2\n")
    try:
        code = main(["sweep", str(spec), "--out", str(tmp_path / "out"), *flags])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]


def test_out_is_a_file(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text("[base]\ncounts = [2, 2]\nd = 2\n")
    assert main(["sweep", str(spec), "--out", str(spec)]) == 2
    assert capsys.readouterr().err.strip() == (f"ufm sweep: error: invalid --out: {spec} is a file; give a folder (it "
                                               "is created if missing)")


def test_zip_does_not_duplicate_points():
    spec = parse_spec('[base]\ncounts = [2, 2]\n[axes]\nd = [2, 3]\ndepth = [1, 2]\n[sweep]\nzip = [["d", "depth"]]')
    assert spec.points() == [{"d": 2, "depth": 1}, {"d": 3, "depth": 2}]


def test_axis_values_of_any_type_are_invalid_points_not_crashes():
    spec = parse_spec("[base]\nn = 3\nd = 2\n[axes]\nK = [2.7, 3, \"x\", true, [1], {a = 1}]\n"
                      "ratio = [1, inf, nan]\n")
    assert spec.axis_types() == {"K": None, "ratio": "float"}
    results = {}
    for pt in spec.points():
        try:
            spec.problem(pt)
            results[json.dumps(pt)] = "ok"
        except ufm.ProblemError as e:
            results[json.dumps(pt)] = e.field
    assert results[json.dumps({"K": 2.7, "ratio": 1})] == "K"  # not truncated to 2
    assert results[json.dumps({"K": 3, "ratio": 1})] == "ok"
    assert results[json.dumps({"K": 3, "ratio": math.inf})] == "ratio"  # not silently one sample per minority
    assert results[json.dumps({"K": 3, "ratio": math.nan})] == "ratio"
    assert results[json.dumps({"K": True, "ratio": 1})] == "K"
    assert set(results.values()) <= {"ok", "K", "ratio", "point"}


def test_axis_types():
    spec = parse_spec("[axes]\nd = [1, 2]\nlambda = [0, 1e-3]\nloss = ['ce', 'mse']\ncounts = [[2, 2], [3, 1]]\n"
                      "depth = [1, 'x']\nbias = [true, false]\nclassifier = [[0.1, 1], [1, 2]]\n")
    assert spec.axis_types() == {"d": "int", "lambda": "float", "loss": "str", "counts": "list<int>",
                                 "depth": None, "bias": "bool", "classifier": "list<float>"}


def test_grid_size_limits_refused_before_expanding():
    import time

    t0 = time.perf_counter()
    with pytest.raises(ResourceError, match=r"100,000,000 points.*max_points = 1,000,000.*--max-points"):
        parse_spec("[axes]\nlambda = {linspace = [0, 1, 100000000]}")
    with pytest.raises(ResourceError, match="100,000,000 points"):
        parse_spec("[axes]\nlambda = {linspace = [0, 1, 10000]}\nd = {linspace = [1, 10, 10000]}")
    assert time.perf_counter() - t0 < 1.0  # refused before anything was expanded
    text = "[base]\ncounts = [2, 2]\n[axes]\nlambda = {linspace = [0, 1, 20]}\nd = {linspace = [1, 10, 20]}"
    with pytest.raises(ResourceError, match="400 points"):
        parse_spec(text, max_points=100)
    assert parse_spec(text + "\n[sweep]\nmax_points = 400").n_points() == 400
    assert parse_spec(text + "\n[sweep]\nmax_points = 10", max_points=1000).n_points() == 400  # flag wins
    assert len(parse_spec(text).points()) == 400


def test_limits_do_not_change_the_hash():
    a = parse_spec("[base]\nK = 2\nn = 2\n[axes]\nd = [2, 3]")
    b = parse_spec("[base]\nK = 2\nn = 2\n[axes]\nd = [2, 3]\n[sweep]\nmax_points = 5\nmax_memory_gb = 1.5")
    assert a.hash() == b.hash() and b.max_points == 5 and b.max_memory_gb == 1.5


# ------------------------------------------------------------------------------------------ property-based
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIELD_KEYS = ["counts", "d", "depth", "loss", "bias", "lambda_W", "lambda_H", "lambda_b", "classifier", "K", "n",
              "ratio", "lambda", "method", "max_iter", "gtol", "restarts", "seed", "init_scale", "memory",
              "learning_rate", "momentum", "stall_iters", "search", "zip", "max_points", "max_memory_gb", "names",
              "linspace", "logspace"]
SECTION_KEYS = ["base", "axes", "sweep", "solver", "predictions"]
KEYS = st.sampled_from(FIELD_KEYS + SECTION_KEYS) | st.text(min_size=1, max_size=6)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
SCALARS = (st.integers(min_value=-2**70, max_value=2**70) | st.integers(min_value=-3, max_value=12)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.5, 1.0, 1e-3, 0.9, 2.7, 1e20])
           | st.booleans() | TEXT | st.sampled_from(["ce", "mse", "none", "free", "regularized", "etf", "lbfgs",
                                                      "gd", "d", "depth", "lambda", "nc"])
           | st.dates() | st.datetimes() | st.times())
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
                      max_leaves=10)
SPACES = st.builds(lambda kind, args: {kind: args}, st.sampled_from(["linspace", "logspace"]),
                   st.lists(SCALARS, min_size=2, max_size=4))
SECTION = st.dictionaries(KEYS, VALUES | SPACES, max_size=5)
DOCS = st.dictionaries(st.sampled_from(SECTION_KEYS) | KEYS, SECTION | VALUES, max_size=5)


def _key(k):
    return json.dumps(k, ensure_ascii=False)


def _toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else ("-inf" if v == -math.inf else repr(v)))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _document(doc, headers):
    lines = []
    tables = []
    for k, v in doc.items():
        if headers and isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_toml(v)}")
    for k, v in tables:
        lines.append(f"[{_key(k)}]")
        lines.extend(f"{_key(kk)} = {_toml(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=DOCS, headers=st.booleans())
def test_parse_spec_accepts_or_raises_ufm_error(doc, headers):
    text = _document(doc, headers)
    try:
        spec = parse_spec(text)
    except UfmError as e:  # SpecError, or ResourceError for a huge grid
        assert isinstance(e, (SpecError, ResourceError)) and "\n" not in str(e).strip()
        return
    assert spec.n_points() <= 1_000_000
    spec.hash()
    spec.axis_types()
    points = spec.points()
    assert len(points) == spec.n_points()
    for pt in points[:3]:
        try:
            assert isinstance(spec.problem(pt), ufm.Problem)
        except ufm.ProblemError:
            pass


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(base=st.dictionaries(st.sampled_from(FIELD_KEYS[:13]), VALUES, max_size=4),
       axes=st.dictionaries(st.sampled_from(FIELD_KEYS[:13]), st.lists(VALUES, min_size=1, max_size=3), max_size=3))
def test_structured_specs_parse_or_name_a_key(base, axes):
    """Structured [base] / [axes] documents (reaching the field checks more often than random ones)."""
    text = _document({"base": base, "axes": axes}, headers=True)
    try:
        spec = parse_spec(text)
    except SpecError as e:
        assert e.field.split(".")[0] in ("base", "axes", "spec")
        return
    for pt in spec.points()[:4]:
        try:
            spec.problem(pt)
        except ufm.ProblemError:
            pass
