"""The notebooks: committed as their own source, without outputs, and they run top to bottom.

The .ipynb files are the one source of the notebooks (edit them in Jupyter; clear the outputs
before committing). The notebooks assert their own numeric claims (e.g. ``assert error <
1e-12`` after every law), so executing them in a fresh kernel is a test of gcnn as well as of
the notebooks. Execution needs nbclient, ipykernel, matplotlib and scipy, and is skipped without
them; the checks of the committed files need nothing but the standard library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

import gcnn

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = [
    "01_group_cnns.ipynb",
    "02_steerable_fourier.ipynb",
    "03_training.ipynb",
    "04_finer_rotations.ipynb",
]
# How to strip a notebook before committing it.
CLEAR_COMMAND = "jupyter nbconvert --clear-output --inplace notebooks/*.ipynb"
CELL_TIMEOUT_SECONDS = 600
# Notebooks that promise a running time: seconds to start a fresh kernel and run every cell.
TIME_BUDGET_SECONDS = {"03_training.ipynb": 60}


def _load(name: str) -> dict:
    with open(NOTEBOOK_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _figures(cell) -> int:
    """The number of PNG figures among a cell's outputs."""
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def _draws(cell: dict) -> bool:
    """Whether a code cell draws a figure: every figure of the notebooks ends in plt.show()."""
    return cell["cell_type"] == "code" and "plt.show()" in _source(cell)


def _kernel_environment() -> dict:
    """The environment of the kernel: it must import the gcnn this test process imports."""
    environment = dict(os.environ)
    # gcnn/__init__.py -> the directory that holds the package goes first on the path.
    package_parent = str(Path(gcnn.__file__).resolve().parents[1])
    paths = [package_parent] + [
        path for path in environment.get("PYTHONPATH", "").split(os.pathsep) if path
    ]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment["MPLBACKEND"] = "Agg"
    return environment


# --------------------------------------------------------------------------- committed files


def test_the_notebooks_are_their_own_source():
    # No generator writes them (cells as strings in a script were a second copy).
    assert sorted(path.name for path in NOTEBOOK_DIR.iterdir()) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    notebook = _load(name)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
            f"{name} was committed with outputs; clear them: {CLEAR_COMMAND}"
        )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_figure_has_a_caption(name):
    cells = _load(name)["cells"]
    figures = 0
    for index, cell in enumerate(cells):
        if not _draws(cell):
            continue
        figures += 1
        source = _source(cell)
        # A figure title and, for plots, labelled axes (image panels carry per-panel titles).
        assert "suptitle(" in source or "set_title(" in source, source[:200]
        if "imshow" not in source and "show(" not in source.replace("plt.show()", ""):
            assert "set_xlabel(" in source and "set_ylabel(" in source, source[:200]
        following = cells[index + 1] if index + 1 < len(cells) else None
        assert following is not None and following["cell_type"] == "markdown", (
            f"{name}: figure {figures} is not followed by a caption cell"
        )
        assert _source(following).lstrip().startswith(f"*Figure {figures}.*"), _source(following)
    assert figures >= 4


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_assert_their_claims(name):
    code = "\n".join(_source(cell) for cell in _load(name)["cells"] if cell["cell_type"] == "code")
    assert code.count("assert ") >= 15


def test_the_tutorial_code_comes_from_the_one_reference():
    # Notebook 01 shows and times the tutorial's functions from gcnn.reference, not a copy.
    code = "\n".join(
        _source(cell)
        for cell in _load("01_group_cnns.ipynb")["cells"]
        if cell["cell_type"] == "code"
    )
    assert "from gcnn.reference import lift_correlation as tutorial_lift_correlation" in code
    assert "def tutorial_" not in code
    for name in NOTEBOOKS:
        for cell in _load(name)["cells"]:
            private = re.search(r"(from|import)\s+gcnn\._", _source(cell))
            assert not private, f"{name} imports a private module"


# --------------------------------------------------------------------------- execution


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_a_fresh_kernel(name, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    pytest.importorskip("scipy")

    # Run a copy, so that the committed notebook and its outputs are never touched.
    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, work, ignore=shutil.ignore_patterns("__pycache__"))
    notebook = nbformat.read(str(work / name), as_version=4)

    # One extra cell, in the copy only: which gcnn did the kernel import?
    notebook.cells.append(
        nbformat.v4.new_code_cell("import gcnn\nprint('gcnn from', gcnn.__file__)")
    )

    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    # Raises CellExecutionError, with the cell and its traceback, if any cell fails
    # (in particular any of the notebook's own asserts).
    start = time.perf_counter()
    client.execute(env=_kernel_environment(), cwd=str(work))
    seconds = time.perf_counter() - start
    if name in TIME_BUDGET_SECONDS:
        assert seconds < TIME_BUDGET_SECONDS[name], f"{name} took {seconds:.1f} s"

    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    # The notebook's last cell ran, and the kernel imported the gcnn under test.
    assert "every assert held" in text
    assert f"gcnn from {Path(gcnn.__file__).resolve()}" in text or (
        f"gcnn from {gcnn.__file__}" in text
    ), text[-300:]
    # Executed top to bottom, one figure exactly where a cell draws one, and most cells print or
    # draw something (a few only define functions).
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    assert [_figures(cell) for cell in code_cells] == [int(_draws(cell)) for cell in code_cells]
    assert sum(bool(cell.outputs) for cell in code_cells) >= 0.75 * len(code_cells)
