"""The source distribution carries everything the extension is built from, and the metadata
says one version."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import gcnn

ROOT = Path(__file__).resolve().parents[1]


def test_version_in_one_place():
    from gcnn import _version

    assert gcnn.__version__ == _version.__version__
    assert (
        "version ="
        not in (ROOT / "pyproject.toml").read_text().split("[project]")[1].split("\n[", 1)[0]
    )


@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")
def test_sdist_holds_the_c_sources_and_headers(tmp_path):
    pytest.importorskip("build")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (archive,) = tmp_path.glob("gcnn-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    tracked = subprocess.run(
        ["git", "ls-files", "csrc"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    c_files = [name for name in tracked if name.endswith((".c", ".h"))] or [
        str(path.relative_to(ROOT)) for path in (ROOT / "csrc").glob("*.[ch]")
    ]
    missing = sorted(set(c_files) - names)
    assert not missing, f"the sdist lacks {missing}"
    for required in (
        "LICENSE",
        "README.md",
        "docs/design.md",
        "gcnn/py.typed",
        "gcnn/_core.pyi",
        "setup.py",
        "pyproject.toml",
        "gcnn/data/demo_image.npy",
    ):
        assert required in names, required
    assert f"gcnn-{gcnn.__version__}.tar.gz" == archive.name
