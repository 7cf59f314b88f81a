"""Is the C glue a backstop? Calls straight into gcnn._core with junk, huge strides and
paddings raise the right exception and never crash (docs/design.md, §9.4 Status codes and the
glue)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gcnn
from gcnn import _core, reference

X = np.ones((1, 2, 6, 6))
W = np.ones((3, 2, 3, 3))


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        (([[1.0]], W), {}, TypeError, "x must be a numpy.ndarray"),
        ((X, W.tolist()), {}, TypeError, "weight must be a numpy.ndarray"),
        ((X, W), {"bias": [1.0, 2.0, 3.0]}, TypeError, "bias must be a numpy.ndarray"),
        ((X.astype(np.int64), W), {}, TypeError, "x must have dtype float32 or float64"),
        ((X, W.astype(np.int32)), {}, TypeError, "weight"),
        ((X.astype(np.float16), W.astype(np.float16)), {}, TypeError, "x must have dtype"),
        ((X.astype(complex), W), {}, TypeError, "x must have dtype"),
        ((X, W.astype(np.float32)), {}, TypeError, "weight must have the dtype of x"),
        ((X.astype(np.float32), W), {}, TypeError, "weight must have the dtype of x"),
        ((X, W), {"bias": np.ones(3, np.float32)}, TypeError, "bias must have the dtype of x"),
        ((X[0], W), {}, ValueError, "x must be 4-D"),
        ((X, W[0]), {}, ValueError, "weight must be 4-D"),
        ((X[None], W), {}, ValueError, "x must be 4-D"),
        ((X, np.ones((3, 5, 3, 3))), {}, ValueError, "weight must have shape"),
        ((X, W), {"bias": np.ones(4)}, ValueError, "bias must have shape"),
        ((X, W), {"bias": np.ones((3, 1))}, ValueError, "bias must be 1-D"),
        ((X, W), {"stride": (0, 1)}, ValueError, "stride must be positive"),
        ((X, W), {"stride": (1, -2)}, ValueError, "stride must be positive"),
        ((X, W), {"padding": (0, -1, 0, 0)}, ValueError, "padding must be nonnegative"),
        ((X, W), {"boundary": 7}, ValueError, "boundary"),
        ((X, W), {"boundary": -1}, ValueError, "boundary"),
        ((X, W), {"padding": (2**62, 2**62, 0, 0)}, ValueError, "padding"),
        ((X, np.ones((3, 2, 9, 3))), {}, ValueError, "at least as large as the kernel"),
        ((X, np.ones((3, 2, 3, 12))), {"padding": (0, 0, 2, 3)}, ValueError, "at least as large"),
        ((np.ones((0, 2, 6, 6)), W), {}, ValueError, "must not be empty"),
        ((X, np.ones((0, 2, 3, 3))), {}, ValueError, "must not be empty"),
        (
            (np.ones((1, 2, 0, 6)), W),
            {"padding": (3, 3, 0, 0), "boundary": 1},
            ValueError,
            "non-empty",
        ),
        ((X, W), {"stride": (1,)}, TypeError, "."),
        ((X, W), {"stride": (1, 1, 1)}, TypeError, "."),
        ((X, W), {"stride": 1}, TypeError, "."),
        ((X, W), {"stride": (1.5, 1)}, TypeError, "."),
        ((X, W), {"padding": (0, 0)}, TypeError, "."),
        ((X, W), {"boundary": "fill"}, TypeError, "."),
        ((X, W), {"fillvalue": "x"}, TypeError, "."),
        ((X, W), {"num_threads": 1.0}, TypeError, "."),
        ((X, W), {"nonsense": 1}, TypeError, "nonsense"),
        ((X,), {}, TypeError, "."),
    ],
    ids=lambda v: repr(v)[:40] if not isinstance(v, tuple) else None,
)
def test_core_rejects_junk(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _core.correlate(*args, **kwargs)


@pytest.mark.parametrize(
    "padding",
    [
        (2**62, 0, 0, 0),
        (0, 2**62, 0, 0),
        (0, 0, 2**62, 0),
        (0, 0, 0, 2**62),
        (2**62, 2**62, 2**62, 2**62),
        (2**63 - 1, 0, 0, 0),
        (2**40, 0, 0, 0),
        (0, 0, 2**40, 0),
    ],
)
@pytest.mark.parametrize("boundary", [0, 1, 2])
def test_core_huge_padding_is_an_error_not_a_crash(padding, boundary):
    with pytest.raises((ValueError, MemoryError)):
        _core.correlate(X, W, None, (1, 1), padding, boundary, 0.0)


def test_core_padding_beyond_ssize_t_is_overflow_error():
    with pytest.raises((OverflowError, ValueError)):
        _core.correlate(X, W, padding=(2**64, 0, 0, 0))


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, so a crash fails one test instead of the suite."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(gcnn.__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_core_huge_stride_never_crashes():
    # 2**62 times the panel row's byte count (a multiple of 4) is 0 modulo 2**64 on every path.
    result = run_isolated("""
        import numpy as np
        from gcnn import _core, reference
        cases = [((2**62, 1), (0, 0, 0, 0)), ((2**60, 1), (0, 0, 0, 0)),
                 ((2**61, 1), (0, 0, 0, 0)), ((2**30, 2**30), (2**30, 0, 2**30, 0))]
        for dtype in ("float64", "float32"):
            for simd in (1, 2, 3):
                for stride, padding in cases:
                    x = np.ones((1, 2, 5, 5), dtype)
                    w = np.ones((3, 2, 3, 3), dtype)
                    try:
                        out = _core.correlate(x, w, None, stride, padding, 0, 0.0, 1, simd)
                    except (ValueError, MemoryError):
                        pass
                    else:
                        assert out.shape[:2] == (1, 3), out.shape
        print("ok")
    """)
    assert result.returncode == 0, f"crashed with return code {result.returncode}"
    assert result.stdout.strip() == "ok"


def test_core_huge_stride_gives_one_output_row():
    """A huge stride simply samples once, in either direction, without huge scratch."""
    x = np.arange(50.0).reshape(1, 2, 5, 5)
    weight = np.ones((3, 2, 3, 3))
    strides = (
        (2**40, 1),
        (1, 10**6),
        (10**6, 10**6),
        (2**40, 10**6),
        (1, 2**40),
        (1, 2**62),
        (2**62, 2**62),
    )
    for stride in strides:
        got = _core.correlate(x, weight, None, stride)
        np.testing.assert_array_equal(got, reference.correlate(x, weight, None, stride))


def test_core_num_threads_nonpositive_means_serial():
    rng = np.random.default_rng(25)
    x = rng.standard_normal((1, 2, 30, 30))
    weight = rng.standard_normal((2, 2, 3, 3))
    expected = _core.correlate(x, weight, num_threads=1)
    for count in (0, -1, -100):
        np.testing.assert_array_equal(_core.correlate(x, weight, num_threads=count), expected)


@pytest.mark.parametrize("simd", [0, 1, 2, 3, 4, 99, -1])
def test_core_any_simd_request_runs(simd):
    """Out-of-range requests fall back (documented: 'an unavailable request falls back')."""
    rng = np.random.default_rng(26)
    x = rng.standard_normal((1, 1, 9, 9))
    weight = rng.standard_normal((2, 1, 3, 3))
    got = _core.correlate(x, weight, simd=simd)
    expected = reference.correlate(x, weight)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
