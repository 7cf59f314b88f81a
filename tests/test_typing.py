"""Do the type hints hold? ``python -m mypy gcnn`` (configured in pyproject.toml) finds nothing.

The compiled module is typed by gcnn/_core.pyi; optional libraries without type information
(SciPy, scikit-learn, tqdm, and PyTorch when absent) are treated as untyped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_mypy_finds_no_errors():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "gcnn"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_the_compiled_module_stub_names_what_the_module_has():
    # A function added to the C module and not to gcnn/_core.pyi would be untyped; one removed
    # from the module but left in the stub would type-check code that fails at run time.
    from gcnn import _core

    stub = (ROOT / "gcnn" / "_core.pyi").read_text(encoding="utf-8")
    declared = {line.split("(")[0][4:] for line in stub.splitlines() if line.startswith("def ")}
    declared |= {line.split(":")[0] for line in stub.splitlines() if line[:1].isupper()}
    public = {name for name in dir(_core) if not name.startswith("__")}
    assert declared == public
