"""The notebooks: committed with their outputs, and they run top to bottom in a fresh kernel.

The notebooks assert their own numeric claims (e.g. ``assert error < 1e-12`` after every law),
so executing them is a test of gcnn as well as of the notebooks.  Execution needs nbclient,
ipykernel, matplotlib and scipy, and is skipped without them; the checks of the committed files
need nothing but the standard library.
"""

from __future__ import annotations

import json
import os
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
# Written and edited as .ipynb files themselves; notebooks/build_notebooks.py makes the others.
HAND_WRITTEN = {"03_training.ipynb"}
CELL_TIMEOUT_SECONDS = 600
# Notebooks that promise a running time: seconds to start a fresh kernel and run every cell.
TIME_BUDGET_SECONDS = {"03_training.ipynb": 60}


def _load(name: str) -> dict:
    with open(NOTEBOOK_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _has_figure(cell: dict) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_with_outputs(name):
    notebook = _load(name)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.get("execution_count") is not None, f"{name}: a cell was never executed"
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{name}: committed with an error output"
    # Most cells print or draw something (a few only define functions).
    with_output = sum(bool(cell.get("outputs")) for cell in code_cells)
    assert with_output >= 0.75 * len(code_cells)
    # Execution counts run 1, 2, 3, ...: executed top to bottom in one fresh kernel.
    assert [cell["execution_count"] for cell in code_cells] == list(range(1, len(code_cells) + 1))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_figure_has_a_caption(name):
    cells = _load(name)["cells"]
    figures = 0
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not _has_figure(cell):
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


def test_generator_builds_the_same_cells():
    """notebooks/build_notebooks.py is the source of the committed notebooks' cells.

    The hand-written notebooks are their own source and are not compared.
    """
    pytest.importorskip("nbformat")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_notebooks", NOTEBOOK_DIR / "build_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.NOTEBOOKS) == set(NOTEBOOKS) - HAND_WRITTEN
    for name in module.NOTEBOOKS:
        generated = [(cell.cell_type, cell.source) for cell in module.NOTEBOOKS[name]]
        committed = [(cell["cell_type"], _source(cell)) for cell in _load(name)["cells"]]
        assert generated == committed, f"{name} is stale: run python notebooks/build_notebooks.py"


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
    shutil.copytree(NOTEBOOK_DIR, work, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    notebook = nbformat.read(str(work / name), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None

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
    figures = sum("image/png" in output.get("data", {}) for output in outputs)
    committed = sum(_has_figure(cell) for cell in _load(name)["cells"])
    assert figures == committed
