"""``ufm plot DIR``: the standard figure of a finished sweep (``ufm.plot.phase.sweep_figure``) as a PNG."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from ufm.errors import FlagError, UfmError

PLOT_INSTALL = "ufm plot needs matplotlib, which is not installed: pip install 'ufm[plot]'"
SWEEP_INSTALL = "ufm plot reads Parquet with pandas and pyarrow, which are not installed: pip install 'ufm[sweep]'"


def register(sub) -> None:
    p = sub.add_parser("plot", help="draw the standard figure of a finished sweep (needs the plot extra)",
                       description="Draw a metric of a finished sweep (DIR/results.parquet, best row per point): a "
                                   "phase diagram over two axes (one panel per value of the other axes), a line "
                                   "plot over one axis otherwise, and the predictions' errors (docs/sweep.md).")
    p.add_argument("dir", metavar="DIR", help="the sweep's output folder (ufm sweep SPEC --out DIR)")
    p.add_argument("--metric", default="objective", metavar="NAME",
                   help="the column to draw (default objective; e.g. nc1, nc3, diag_WHbar_min, "
                        "pred_<name>_objective_rel_err)")
    p.add_argument("--x", metavar="AXIS", help="the horizontal axis (an axis of the spec, e.g. lambda; default: the "
                                               "first axis with several values); --x alone draws lines over it")
    p.add_argument("--y", metavar="AXIS", help="the vertical axis of a phase diagram (default: the second axis with "
                                               "several values)")
    p.add_argument("--at", action="append", default=[], metavar="AXIS=VALUE",
                   help="keep only the points with this axis value (repeatable), e.g. --at depth=2")
    p.add_argument("--no-errors", action="store_true", help="leave out the panel of the predictions' errors")
    p.add_argument("--out", metavar="FILE.png", help="where to write the figure (default DIR/plot-<metric>.png)")
    p.set_defaults(func=run)


def missing_extras() -> str:
    """The one line saying which extra to install, or "" when matplotlib, pandas and pyarrow are there."""
    if importlib.util.find_spec("matplotlib") is None:
        return PLOT_INSTALL
    if importlib.util.find_spec("pandas") is None or importlib.util.find_spec("pyarrow") is None:
        return SWEEP_INSTALL
    return ""


def _at(items) -> dict:
    out = {}
    for item in items:
        m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*", item)
        if not m:
            raise FlagError("--at", f"must be AXIS=VALUE (e.g. depth=2), got {item!r}")
        out[m.group(1)] = m.group(2)
    return out


def _order(out: Path) -> list:
    """The spec's axis order (DIR/spec.toml), or [] when it cannot be read."""
    try:
        from ufm.sweep import parse_spec

        return list(parse_spec((out / "spec.toml").read_text()).axes)
    except (OSError, UnicodeDecodeError, UfmError):
        return []


def run(args) -> int:
    missing = missing_extras()
    if missing:
        print(f"ufm plot: error: {missing}", file=sys.stderr)
        return 2
    out = Path(args.dir)
    if not out.exists():
        raise FlagError("DIR", f"no such folder: {out}")
    if not out.is_dir():
        raise FlagError("DIR", f"{out} is a file; give the folder of a sweep (ufm sweep SPEC --out DIR)")
    table = out / "results.parquet"
    if not table.is_file():
        hint = (" (it has chunks: the sweep was interrupted; rerun the same ufm sweep command to finish and merge)"
                if (out / "chunks").is_dir() else " (ufm sweep SPEC --out DIR writes it)")
        raise FlagError("DIR", f"{out} has no results.parquet{hint}")
    at = _at(args.at)
    target = Path(args.out) if args.out else out / f"plot-{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.metric)}.png"
    if args.out and not target.parent.is_dir():
        raise FlagError("--out", f"no such folder: {target.parent}")
    path = draw(out, table, args.metric, args.x, args.y, at, target, errors=not args.no_errors)
    print(f"wrote {path}")
    return 0


def draw(out: Path, table: Path, metric: str, x, y, at: dict, target: Path, *, errors: bool = True) -> Path:
    """Render the figure of the sweep in ``out`` to ``target``; errors are FlagError naming the flag."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import pandas as pd

    from ufm.plot.phase import sweep_figure

    try:
        df = pd.read_parquet(table)
    except Exception as e:  # a damaged or foreign file: one line
        raise FlagError("DIR", f"cannot read {table}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") \
            from None
    flags = {"metric": "--metric", "x": "--x", "y": "--y", "at": "--at", "results": "DIR"}
    try:
        fig = sweep_figure(df, metric, x=x, y=y, at=at, order=_order(out), errors=errors)
    except UfmError as e:
        raise FlagError(flags.get(e.field, e.field), e.detail) from None
    try:
        fig.savefig(target, dpi=110)
    except (ValueError, OSError) as e:  # an unknown extension, an unwritable folder
        raise FlagError("--out", f"cannot write {target}: {e}") from None
    finally:
        plt.close(fig)
    return target
