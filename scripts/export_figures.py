"""Export the figures of the notebooks as PNGs (for the README and docs/notebooks.md).

    python scripts/export_figures.py                 # notebooks 01-04 -> docs/figures/*.png
    python scripts/export_figures.py --out /tmp/figs notebooks/03_deep_ce_low_rank.ipynb

It runs the notebooks themselves (nbclient, kernel ``python3``), so the figures are exactly what the stories
draw: every code cell tagged ``export:NAME=VAR`` (see notebooks/make_notebooks.py) is followed, in an in-memory
copy of the notebook, by a cell ``VAR.savefig("OUT/NAME.png", dpi=DPI)``. The notebooks on disk are not
changed. A notebook whose assertion fails makes this script fail (no figure of a broken story is written).
Needs the ``notebooks`` extra (``pip install -e ".[notebooks]"``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOKS = ("01_quick_start.ipynb", "02_imbalance_minority_collapse.ipynb", "03_deep_ce_low_rank.ipynb",
                     "04_mixup.ipynb")
MAX_BYTES = 200_000


def export_tags(nb) -> list:
    """(cell index, name, variable) of every ``export:NAME=VAR`` tag."""
    out = []
    for i, cell in enumerate(nb.cells):
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag.startswith("export:"):
                name, _, var = tag[len("export:"):].partition("=")
                if not name or not var.isidentifier():
                    raise ValueError(f"bad export tag {tag!r} (expected export:NAME=VARIABLE)")
                out.append((i, name, var))
    return out


def with_save_cells(nb, out_dir: Path, dpi: int):
    """A copy of ``nb`` with a savefig cell after every tagged cell; returns (notebook, [png paths])."""
    import copy

    from nbformat.v4 import new_code_cell

    nb = copy.deepcopy(nb)
    tags = export_tags(nb)
    paths = []
    for i, name, var in reversed(tags):
        path = out_dir / f"{name}.png"
        paths.append(path)
        nb.cells.insert(i + 1, new_code_cell(f"{var}.savefig({str(path)!r}, dpi={dpi}, bbox_inches='tight')"))
    return nb, paths[::-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks 01-04)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures"), help="output folder (default docs/figures)")
    parser.add_argument("--dpi", type=int, default=100, help="resolution (default 100)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in args.notebooks] or [ROOT / "notebooks" / n for n in DEFAULT_NOTEBOOKS]
    too_big = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nb, pngs = with_save_cells(nb, out_dir, args.dpi)
        if not pngs:
            print(f"{path.name}: no export tags, skipped")
            continue
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.resolve().parent)}}).execute()
        print(f"{path.name}: ran in {time.perf_counter() - t0:.1f} s")
        for png in pngs:
            size = png.stat().st_size
            print(f"  {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}  {size / 1000:.0f} kB")
            if size > MAX_BYTES:
                too_big.append(png)
    if too_big:
        print(f"larger than {MAX_BYTES // 1000} kB (lower --dpi): {[str(p) for p in too_big]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
