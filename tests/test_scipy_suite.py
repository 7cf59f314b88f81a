"""SciPy's own tests of convolve2d and correlate2d, run unchanged against gcnn's functions.

docs/design.md, §1.3 scipy-compatible building blocks promises SciPy's arguments, output
shapes, dtypes and results.  The strongest check of that promise is a suite nobody here
wrote: the classes ``TestConvolve2d`` and ``TestCorrelate2d`` of the installed SciPy's
``scipy/signal/tests/test_signaltools.py``.  They run in a separate pytest process (SciPy's
own conftest supplies its fixtures) with ``tests/scipy_suite_plugin.py``, which puts gcnn's
functions wherever SciPy's tests name SciPy's.  As both libraries move, this keeps the
promise honest.

SciPy's ``slow`` tests are left out unless ``GCNN_SCIPY_SUITE_SLOW=1``: its one slow test
here (``test_large_array``) passes against gcnn but takes about 6 GB of memory.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import gcnn

SCIPY_TEST_MODULE = "scipy.signal.tests.test_signaltools"
CLASSES = ("TestConvolve2d", "TestCorrelate2d")
TESTS_DIR = Path(__file__).resolve().parent
GCNN_ROOT = Path(gcnn.__file__).resolve().parent.parent


def _scipy_test_module():
    pytest.importorskip("scipy")
    try:
        with warnings.catch_warnings():  # its marks are registered by SciPy's conftest only
            warnings.simplefilter("ignore")
            return importlib.import_module(SCIPY_TEST_MODULE)
    except Exception as exc:  # noqa: BLE001 (not shipped, or it needs what is missing here)
        pytest.skip(f"SciPy's test module {SCIPY_TEST_MODULE} cannot be imported: {exc!r}")


def _outcomes(junit_xml: Path) -> dict[str, str]:
    """{test name: 'passed' | 'failed' | 'error' | 'skipped'} from pytest's JUnit report."""
    outcomes = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcomes[name] = next(
            (kind for kind in ("failure", "error", "skipped") if kind in kinds), "passed"
        ).replace("failure", "failed")
    return outcomes


def test_scipy_convolve2d_and_correlate2d_suites_pass_against_gcnn(tmp_path):
    module = _scipy_test_module()
    missing = [name for name in CLASSES if not hasattr(module, name)]
    assert not missing, (
        f"SciPy's {SCIPY_TEST_MODULE} no longer has {missing}: find where SciPy moved these "
        "tests and update CLASSES"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not gcnn's settings (doctests)
    junit_xml, calls_json = tmp_path / "junit.xml", tmp_path / "calls.json"
    env = {key: value for key, value in os.environ.items() if key != "SCIPY_ARRAY_API"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(GCNN_ROOT), str(TESTS_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["GCNN_SCIPY_SUITE_CALLS"] = str(calls_json)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(tmp_path / "pytest.ini"),
        "-p",
        "scipy_suite_plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={junit_xml}",
        "--pyargs",
        SCIPY_TEST_MODULE,
        "-k",
        " or ".join(CLASSES),
    ]
    if os.environ.get("GCNN_SCIPY_SUITE_SLOW") != "1":
        command += ["-m", "not slow"]
    run = subprocess.run(
        command, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    report = (
        f"{' '.join(command)}\n--- stdout ---\n{run.stdout[-6000:]}\n"
        f"--- stderr ---\n{run.stderr[-3000:]}"
    )
    assert junit_xml.exists(), report
    outcomes = _outcomes(junit_xml)
    for name in CLASSES:
        assert any(test.startswith(f"{name}::") for test in outcomes), report
    bad = {test: kind for test, kind in outcomes.items() if kind in ("failed", "error")}
    assert not bad and run.returncode == 0, f"{bad}\n{report}"

    # gcnn, not SciPy, computed the results: both functions were called, from both classes.
    calls = json.loads(calls_json.read_text())
    for name, where in (("convolve2d", "TestConvolve2d"), ("correlate2d", "TestCorrelate2d")):
        assert any(key.endswith(f"::{name}") and f"::{where}::" in key for key in calls), calls
