"""Does a second build of an unchanged C core copy it instead of compiling it again?

``pip install -e ".[extra]"`` after a first install builds in a fresh temporary directory;
setup.py keeps each compiled extension in a cache keyed by everything it was built from. Here a
stand-in compiler (a shell script that logs its calls and writes its output file) builds a copy
of the project, so the test takes seconds and never touches the real build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_COMPILER = """#!/bin/sh
echo "$@" >> "$GCNN_FAKE_CC_LOG"
out=""
while [ $# -gt 0 ]; do
    if [ "$1" = "-o" ]; then out="$2"; fi
    shift
done
if [ -n "$out" ]; then printf 'built by the stand-in compiler' > "$out"; fi
"""

pytestmark = [
    pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree"),
    pytest.mark.skipif(sys.platform == "win32", reason="the stand-in compiler is a shell script"),
]


@pytest.fixture
def project(tmp_path):
    """A copy of what setup.py reads, and the stand-in compiler."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "csrc", copy / "csrc", ignore=shutil.ignore_patterns("test_kernels"))
    shutil.copytree(
        ROOT / "gcnn", copy / "gcnn", ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__")
    )
    compiler = tmp_path / "fakecc"
    compiler.write_text(FAKE_COMPILER)
    compiler.chmod(0o755)
    return copy, compiler, tmp_path


def build(project, number: int) -> tuple[str, int, Path]:
    """``setup.py build_ext`` into a new build directory: its output, the compiler's calls so
    far, and the built extension."""
    copy, compiler, tmp_path = project
    log = tmp_path / "compiler.log"
    environment = {
        **os.environ,
        "CC": str(compiler),
        "LDSHARED": f"{compiler} -shared",
        "GCNN_BUILD_CACHE": str(tmp_path / "cache"),
        "GCNN_FAKE_CC_LOG": str(log),
    }
    lib = tmp_path / f"lib{number}"
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(lib)]
        + ["--build-temp", str(tmp_path / f"temp{number}")],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    calls = len(log.read_text().splitlines()) if log.exists() else 0
    (extension,) = (lib / "gcnn").glob("_core*")
    return result.stdout, calls, extension


def test_an_unchanged_core_is_copied_and_a_changed_one_compiled(project):
    _, first_calls, first = build(project, 1)
    assert first_calls >= 2  # sources compiled, then linked
    assert first.read_text() == "built by the stand-in compiler"

    output, calls, second = build(project, 2)
    assert calls == first_calls, "the unchanged core was compiled again"
    assert "copied from the build cache" in output
    assert second.read_bytes() == first.read_bytes()

    # Any change to a header the extension depends on means compiling again.
    header = project[0] / "csrc" / "peak.h"
    header.write_text(header.read_text() + "/* changed */\n")
    output, calls, _ = build(project, 3)
    assert calls > first_calls and "copied from the build cache" not in output
