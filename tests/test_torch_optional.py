"""Is PyTorch optional, and is the torch that gcnn.torch uses the real one?

docs/design.md, §10 PyTorch: ``import gcnn`` (and the command line) never imports torch; without
torch, ``import gcnn.torch`` says how to get it and the torch tests skip cleanly; the name
gcnn.torch never shadows PyTorch inside gcnn.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# A None entry in sys.modules makes `import torch` fail as if it were not installed.
WITHOUT_TORCH = "import sys; sys.modules['torch'] = None\n"


def python(code: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=str(REPO_ROOT),
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_gcnn_never_imports_torch():
    result = python(
        "import sys\n"
        "import gcnn, gcnn.nn, gcnn.models, gcnn.optim, gcnn.datasets, gcnn.cli.train\n"
        "from gcnn.__main__ import build_parser\n"
        "build_parser()\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n"
    )
    assert result.returncode == 0, result.stderr


def test_without_torch_gcnn_torch_says_how_to_get_it():
    result = python(
        WITHOUT_TORCH + "import gcnn\n"
        "try:\n"
        "    import gcnn.torch\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "gcnn.torch needs PyTorch: python -m pip install 'gcnn[torch]'" in result.stdout


def test_without_torch_the_torch_tests_skip_cleanly():
    # gcnn/models.py: the doctests of the rest of gcnn still run
    files = ["tests/test_torch_modules.py", "tests/test_torch_kernels.py", "gcnn/torch", "gcnn/cli"]
    files.append("gcnn/models.py")
    result = python(
        WITHOUT_TORCH + "import pytest\n"
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', *{files!r}]))\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" in summary, summary
    assert "error" not in summary and "failed" not in summary, summary


def test_gcnn_torch_builds_on_the_real_torch():
    torch = pytest.importorskip("torch")
    import gcnn.torch
    from gcnn.torch import _modules

    assert _modules.torch is torch
    assert issubclass(gcnn.torch.LiftingConv, torch.nn.Module)
    assert gcnn.torch.ReLU is torch.nn.ReLU
