"""Is the C core laid out as its contract says, and do its own tests pass?

Three layers, dependencies one way: the kernels (pure C99, built and tested alone by
``make -C csrc test``) include neither Python.h nor NumPy; the glue is the module proper
(csrc/gcnn_module.c) plus its output-buffer pool (csrc/output_pool.c); the benchmark's FMA probe
(csrc/peak.c) is declared in its own header, not in the kernels' contract (csrc/gcnn_kernels.h).
The kernels' own C tests (csrc/test_kernels.c, ``make -C csrc test``) run from here too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[1] / "csrc"
ROOT = CSRC.parent
GLUE = {"gcnn_module.c", "output_pool.c", "output_pool.h"}


def _read(name: str) -> str:
    return (CSRC / name).read_text(encoding="utf-8")


def _makefile_list(variable: str) -> list[str]:
    match = re.search(rf"^{variable} = (.*)$", _read("Makefile"), re.MULTILINE)
    assert match, variable
    return match.group(1).split()


pytestmark = pytest.mark.skipif(not CSRC.is_dir(), reason="needs the source tree")


def test_kernel_files_include_neither_python_nor_numpy():
    kernels = _makefile_list("SOURCES") + _makefile_list("HEADERS")
    assert "corr2d.c" in kernels and "gcnn_kernels.h" in kernels
    for name in kernels:
        text = _read(name)
        assert "Python.h" not in text and "numpy/" not in text, name
    assert not GLUE & set(kernels)


def test_the_probe_is_not_part_of_the_kernel_contract():
    assert "gcnn_fma_probe" not in _read("gcnn_kernels.h")
    assert "double gcnn_fma_probe(" in _read("peak.h")
    assert '#include "peak.h"' in _read("peak.c")
    assert '#include "peak.h"' in _read("gcnn_module.c")


def test_the_output_pool_lives_in_its_own_file():
    module, pool = _read("gcnn_module.c"), _read("output_pool.c")
    assert "allocator.malloc" in pool and "allocator.malloc" not in module
    assert "gcnn_output_pool_new()" in module
    assert "PyObject *gcnn_output_pool_new(void);" in _read("output_pool.h")


def test_the_build_lists_every_c_file():
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    for path in CSRC.glob("*.c"):
        if path.name != "test_kernels.c":
            assert f'"csrc/{path.name}"' in setup, path.name
    for path in CSRC.glob("*.h"):
        assert f'"{path.name}"' in setup, f"{path.name} is missing from setup.py's depends"


def _sanitizers_link(compiler: str, folder: Path) -> bool:
    """Whether `compiler` builds and runs a program under AddressSanitizer and UBSan."""
    source = folder / "probe.c"
    source.write_text("int main(void) { return 0; }\n")
    program = folder / "probe"
    flags = ["-fsanitize=address,undefined", "-o", str(program), str(source)]
    try:
        built = subprocess.run([compiler, *flags], capture_output=True, timeout=120, check=False)
        if built.returncode != 0:
            return False
        return subprocess.run([str(program)], timeout=60, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _skip_unless_required(reason: str) -> None:
    # CI sets GCNN_REQUIRE_C_TESTS so that a missing tool fails instead of passing unseen.
    if os.environ.get("GCNN_REQUIRE_C_TESTS"):
        pytest.fail(f"GCNN_REQUIRE_C_TESTS is set but {reason}")
    pytest.skip(reason)


def test_the_c_kernel_tests_pass_under_the_sanitizers(tmp_path):
    # `make -C csrc test`, on a copy of csrc/ so that nothing is built inside the source tree.
    compiler = os.environ.get("CC", "cc")
    if shutil.which("make") is None or shutil.which(compiler) is None:
        _skip_unless_required(f"the C tests need make and a C compiler ({compiler})")
    if not _sanitizers_link(compiler, tmp_path):
        _skip_unless_required(f"{compiler} cannot build with -fsanitize=address,undefined here")
    work = tmp_path / "csrc"
    shutil.copytree(CSRC, work, ignore=shutil.ignore_patterns("test_kernels", "*.o"))
    result = subprocess.run(
        ["make", "-C", str(work), "test"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    summary = re.search(r"(\d+) passed, (\d+) failed", result.stdout)
    assert summary and int(summary.group(1)) > 0 and summary.group(2) == "0", output
