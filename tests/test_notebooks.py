"""The notebooks of notebooks/: committed clean, in sync with notebooks/make_notebooks.py, following the
conventions (claim first, ``import ufm; ufm.enable_x64()`` first, plots only via ufm.plot, an assertion last),
and executed top to bottom with nbclient (kernel ``python3`` of this environment): a failing cell -- in
particular the final assertion of the notebook's claim -- fails the test."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = 300  # seconds per cell; every notebook runs in < 60 s on 2 CPU cores


def _load(path):
    return nbformat.read(path, as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_six_stories_are_there():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_", "07_", "08_", "09_", "10_",
                                              "11_"], NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_and_follows_the_conventions(path):
    nb = _load(path)
    nbformat.validate(nb)
    code = _code(nb)
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    assert nb.cells[0].cell_type == "markdown" and "**Claim.**" in nb.cells[0].source
    assert code[0].source.strip() == "import ufm; ufm.enable_x64()"
    last = code[-1].source
    assert any(line.startswith("assert ") for line in last.splitlines()), "the last code cell must assert the claim"
    assert "TOL" in last and "claim holds" in last, "state the tolerance and print 'claim holds'"
    for cell in code:  # plots come from ufm.plot, not ad hoc matplotlib code in cells
        assert "matplotlib" not in cell.source and "plt." not in cell.source, cell.source[:200]


def test_notebooks_match_their_generator():
    gen = _module(NB_DIR / "make_notebooks.py", "ufm_make_notebooks")
    assert sorted(gen.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for name, cells in gen.NOTEBOOKS.items():
        built = json.loads(nbformat.writes(gen.build(name, cells)))
        on_disk = json.loads((NB_DIR / name).read_text())
        assert built == on_disk, f"{name} differs from notebooks/make_notebooks.py: rerun it"


def test_export_tags_name_figures_of_notebooks_1_to_4():
    export = _module(ROOT / "scripts" / "export_figures.py", "ufm_export_figures")
    names = []
    for name in export.DEFAULT_NOTEBOOKS:
        names += [n for _, n, _ in export.export_tags(_load(NB_DIR / name))]
    for required in ("quick_start_projection", "gram", "nc_metrics", "minority_collapse", "deep_ce", "mixup_channels"):
        assert required in names, names
    nb, pngs = export.with_save_cells(_load(NB_DIR / "01_quick_start.ipynb"), Path("/tmp/x"), 100)
    assert len(pngs) == 3 and sum("savefig" in c.source for c in _code(nb)) == 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    nb = _load(path)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                      resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()  # raises CellExecutionError when a cell (e.g. the final assertion) fails
    last = _code(nb)[-1]
    text = "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")
    assert "claim holds" in text, last.outputs


# the package that provides each command of docs/notebooks.md's first code block
COMMAND_PACKAGES = {"pip": None, "python": None, "pytest": "pytest", "jupyter lab": "jupyterlab",
                    "jupyter execute": "nbclient", "jupyter nbconvert": "nbconvert", "jupyter notebook": "notebook"}


def _documented_commands():
    text = (ROOT / "docs" / "notebooks.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def _extra(name):
    import re
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower() for req in extras[name]}


def test_documented_commands_come_with_the_notebooks_extra():
    """docs/notebooks.md said `jupyter lab notebooks/` after `pip install -e .[all]`, but no extra installed
    jupyterlab: "jupyter-lab not found"."""
    import tomllib

    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    provided = _extra("notebooks") | _extra("test") | {d.split(">")[0].split("=")[0].lower() for d in base}
    everything = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["all"]
    assert any(e.startswith("ufm[") and "notebooks" in e and "test" in e for e in everything), everything
    commands = _documented_commands()
    assert any(c.startswith("jupyter ") for c in commands), commands
    for command in commands:
        key = next((k for k in sorted(COMMAND_PACKAGES, key=len, reverse=True) if command.startswith(k)), None)
        assert key is not None, f"a documented command this test does not know: {command!r}"
        package = COMMAND_PACKAGES[key]
        assert package is None or package in provided, f"{command!r} needs {package}, which no extra installs"


def test_jupyter_execute_as_documented_runs_and_fails_on_a_failing_cell(tmp_path):
    """The non-interactive command of docs/notebooks.md, with what this environment has installed."""
    import shutil
    import subprocess

    from nbformat.v4 import new_code_cell, new_notebook

    exe = shutil.which("jupyter-execute", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-execute")
    if exe is None:
        pytest.skip("jupyter-execute (nbclient) is not installed")
    assert any(c.startswith("jupyter execute notebooks/") for c in _documented_commands())
    for name, source, code in (("ok", "print('claim holds')", 0), ("bad", "assert 1 == 2, 'claim fails'", 1)):
        nb = new_notebook(cells=[new_code_cell(FIRST_CELL), new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        before = path.read_text()
        p = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=240)
        assert p.returncode == code, (p.stdout[-2000:], p.stderr[-2000:])
        assert path.read_text() == before  # outputs are not written back


FIRST_CELL = "import ufm; ufm.enable_x64()"
