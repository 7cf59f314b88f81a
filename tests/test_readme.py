"""The README's Python examples run as written, and its Quick start is two commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)


def test_quick_start_is_two_commands():
    section = TEXT.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "python -m gcnn demo" in commands[0]
    assert "python -m pytest" in commands[1]


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_python_example_runs(index, tmp_path):
    pytest.importorskip("sklearn")  # the training example loads the bundled digits
    if "import torch" in EXAMPLES[index]:
        pytest.importorskip("torch")  # Scaling out: gcnn.torch needs the torch extra
    # The package under test must win over any installed copy (the cwd is a temporary folder).
    path = os.pathsep.join([str(README.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment = {**os.environ, "GCNN_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, "-c", EXAMPLES[index]],
        check=False,
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
