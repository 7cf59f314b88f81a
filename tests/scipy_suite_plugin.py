"""A pytest plugin that runs SciPy's own tests with gcnn's convolve2d and correlate2d.

``tests/test_scipy_suite.py`` loads it (``-p scipy_suite_plugin``) in a separate pytest
process that collects ``scipy/signal/tests/test_signaltools.py`` from the installed SciPy.
SciPy's test code runs unchanged; wherever it names SciPy's two functions, it gets gcnn's:

* the test module's globals ``convolve2d`` and ``correlate2d`` (``from scipy.signal
  import ...``) and the attributes of ``scipy.signal`` (``signal.correlate2d``) are
  patched for each test, and restored after it;
* parametrized arguments that hold SciPy's functions (``func`` in
  ``test_same_with_boundary``, bound when SciPy's module was imported) are swapped too.

Each call of gcnn's functions is counted per test and written, as JSON, to the file named
by the environment variable ``GCNN_SCIPY_SUITE_CALLS``, so the caller can check that
gcnn, not SciPy, computed the results.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter

import pytest
import scipy.signal

import gcnn

NAMES = ("convolve2d", "correlate2d")
ORIGINALS = {name: getattr(scipy.signal, name) for name in NAMES}
CALLS: Counter = Counter()


def _counted(name: str, nodeid: str):
    function = getattr(gcnn, name)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        CALLS[f"{nodeid}::{name}"] += 1
        return function(*args, **kwargs)

    return wrapper


@pytest.fixture(autouse=True)
def _gcnn_in_place_of_scipy(request, monkeypatch):
    for name in NAMES:
        replacement = _counted(name, request.node.nodeid)
        monkeypatch.setattr(scipy.signal, name, replacement)
        if getattr(request.module, name, None) is ORIGINALS[name]:
            monkeypatch.setattr(request.module, name, replacement)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    for key, value in list(pyfuncitem.funcargs.items()):
        for name in NAMES:
            if value is ORIGINALS[name]:
                pyfuncitem.funcargs[key] = _counted(name, pyfuncitem.nodeid)


def pytest_sessionfinish(session):
    path = os.environ.get("GCNN_SCIPY_SUITE_CALLS")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(CALLS), f, indent=1, sort_keys=True)
