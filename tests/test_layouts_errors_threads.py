"""Memory layouts, every error path (Python wrapper and C backstop), SIMD paths, threads, refcounts.

docs/design.md, §5 Numbers (any layout in, inputs never modified, ValueError naming the
argument, never a crash) and docs/design.md, §9.4 Status codes and the glue.  The C core is
compared against the slow transcription of its formula in gcnn.reference.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gcnn
from gcnn import _core, reference

SIMD_PATHS = [1, 2, 3]  # generic, avx2, avx512 (an unavailable one falls back)


def error_scale(x, weight, bias, fillvalue):
    """A bound on the magnitude of the sums, for an absolute tolerance."""
    per_tap = max(np.max(np.abs(x)), abs(fillvalue))
    total = per_tap * np.max(np.sum(np.abs(weight), axis=(1, 2, 3)))
    return total + (0.0 if bias is None else np.max(np.abs(bias)))


def random_core_case(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    batch, channels, out_channels = rng.integers(1, 3), rng.integers(1, 4), rng.integers(1, 11)
    height, width = rng.integers(4, 18, size=2)
    kernel_h, kernel_w = rng.integers(1, 6, size=2)
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    padding = tuple(int(p) for p in rng.integers(0, 5, size=4))  # uneven on purpose
    boundary = int(rng.integers(0, 3))
    fillvalue = float(rng.normal()) if boundary == 0 else 0.0
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    weight = rng.standard_normal((out_channels, channels, kernel_h, kernel_w)).astype(dtype)
    bias = rng.standard_normal(out_channels).astype(dtype) if rng.random() < 0.5 else None
    return {
        "x": x,
        "weight": weight,
        "bias": bias,
        "stride": stride,
        "padding": padding,
        "boundary": boundary,
        "fillvalue": fillvalue,
    }


# --- SIMD paths against the reference ------------------------------------------------------------


def test_simd_level_names_and_fallback():
    names = {"generic", "avx2", "avx512"}
    best = _core.simd_level()
    assert best in names
    assert _core.simd_level(0) == best
    assert _core.simd_level(1) == "generic"
    assert _core.simd_level(2) in {"generic", "avx2"}
    assert _core.simd_level(3) in names
    order = ["generic", "avx2", "avx512"]
    assert order.index(_core.simd_level(2)) <= order.index(_core.simd_level(3))
    assert order.index(_core.simd_level(3)) <= order.index(best)
    assert isinstance(_core.threads(), bool)


@pytest.mark.parametrize("seed", range(40))
def test_simd_paths_match_reference_float64(seed):
    case = random_core_case(seed)
    expected = reference.correlate(**case)
    scale = error_scale(case["x"], case["weight"], case["bias"], case["fillvalue"])
    results = []
    for simd in SIMD_PATHS:
        got = _core.correlate(**case, simd=simd)
        assert got.dtype == np.float64
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13 * scale)
        results.append(got)
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-12, atol=1e-13 * scale)


@pytest.mark.parametrize("seed", range(100, 120))
def test_simd_paths_match_reference_float32(seed):
    case = random_core_case(seed, np.float32)
    expected = reference.correlate(**case)
    scale = error_scale(case["x"], case["weight"], case["bias"], case["fillvalue"])
    for simd in SIMD_PATHS:
        got = _core.correlate(**case, simd=simd)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("boundary", [0, 1, 2])
def test_padding_larger_than_image(boundary):
    """Far-out indices: padding several times the image size, every boundary rule."""
    rng = np.random.default_rng(boundary)
    x = rng.standard_normal((1, 2, 3, 2))
    weight = rng.standard_normal((3, 2, 4, 3))
    for simd in SIMD_PATHS:
        got = _core.correlate(x, weight, None, (2, 1), (7, 5, 6, 9), boundary, -1.5, 1, simd)
        expected = reference.correlate(x, weight, None, (2, 1), (7, 5, 6, 9), boundary, -1.5)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_core_stride_larger_than_input():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    weight = np.ones((1, 1, 3, 3))
    got = _core.correlate(x, weight, stride=(7, 100))
    np.testing.assert_array_equal(got, reference.correlate(x, weight, stride=(7, 100)))
    assert got.shape == (1, 1, 1, 1)


def test_core_zero_height_with_fill_is_allowed():
    """The header's contract: height/width may be 0 with the fill boundary."""
    x = np.ones((1, 1, 0, 4))
    weight = np.ones((1, 1, 2, 2))
    got = _core.correlate(x, weight, None, (1, 1), (1, 1, 0, 0), 0, 2.0)
    np.testing.assert_array_equal(got, np.full((1, 1, 1, 3), 8.0))
    with pytest.raises(ValueError):
        _core.correlate(x, weight, None, (1, 1), (1, 1, 0, 0), 1, 2.0)


# --- layouts -------------------------------------------------------------------------------------


def layouts_2d(base: np.ndarray):
    """(name, array) pairs holding the same values as `base` in other memory layouts."""
    big = np.zeros((base.shape[0] * 2, base.shape[1] * 3), dtype=base.dtype)
    big[::2, ::3] = base
    readonly = base.copy()
    readonly.flags.writeable = False
    reversed_twice = base[::-1, ::-1].copy()[::-1, ::-1]
    return [
        ("fortran", np.asfortranarray(base)),
        ("strided", big[::2, ::3]),
        (
            "byteswapped",
            base.astype(base.dtype.newbyteorder(">") if base.dtype.byteorder != ">" else "<f8"),
        ),
        ("readonly", readonly),
        ("negative-strides", reversed_twice),
        ("transposed", base.T.copy().T),
    ]


def layouts_3d(base: np.ndarray):
    big = np.zeros((base.shape[0] * 2, base.shape[1] * 2, base.shape[2] * 3), dtype=base.dtype)
    big[::2, ::2, ::3] = base
    readonly = base.copy()
    readonly.flags.writeable = False
    return [
        ("fortran", np.asfortranarray(base)),
        ("strided", big[::2, ::2, ::3]),
        ("byteswapped", base.astype(base.dtype.newbyteorder(">"))),
        ("readonly", readonly),
        ("channels-last", np.moveaxis(np.moveaxis(base, 0, -1).copy(), -1, 0)),
    ]


def assert_layouts_give_contiguous_result(
    func, first, second, layouts_first, layouts_second, **kwargs
):
    expected = func(first, second, **kwargs)
    for (name1, a), (name2, b) in [(l1, ("contiguous", second)) for l1 in layouts_first] + [
        (("contiguous", first), l2) for l2 in layouts_second
    ]:
        snapshot = (a.copy(), b.copy(), a.flags.writeable, b.flags.writeable)
        got = func(a, b, **kwargs)
        assert got.dtype == expected.dtype, (name1, name2)
        np.testing.assert_array_equal(got, expected, err_msg=f"{name1} / {name2}")
        np.testing.assert_array_equal(a, snapshot[0])
        np.testing.assert_array_equal(b, snapshot[1])
        assert (a.flags.writeable, b.flags.writeable) == snapshot[2:]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(
    "func", [gcnn.convolve2d, gcnn.correlate2d], ids=["convolve2d", "correlate2d"]
)
def test_layouts_signal_functions(func, mode, dtype):
    rng = np.random.default_rng(20)
    in1 = rng.standard_normal((9, 7)).astype(dtype)
    in2 = rng.standard_normal((3, 4)).astype(dtype)
    for boundary in ("fill", "wrap", "symm"):
        assert_layouts_give_contiguous_result(
            func,
            in1,
            in2,
            layouts_2d(in1),
            layouts_2d(in2),
            mode=mode,
            boundary=boundary,
            fillvalue=0.5,
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_lift(dtype):
    rng = np.random.default_rng(21)
    image = rng.standard_normal((8, 9)).astype(dtype)
    kernel = rng.standard_normal((3, 3)).astype(dtype)
    for boundary in ("fill", "wrap", "symm"):
        assert_layouts_give_contiguous_result(
            gcnn.lift_correlation,
            image,
            kernel,
            layouts_2d(image),
            layouts_2d(kernel),
            boundary=boundary,
        )
    nonsquare = rng.standard_normal((2, 5)).astype(dtype)
    assert_layouts_give_contiguous_result(
        gcnn.lift_correlation, image, nonsquare, layouts_2d(image), layouts_2d(nonsquare)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layouts_p4(dtype):
    rng = np.random.default_rng(22)
    features = rng.standard_normal((4, 7, 8)).astype(dtype)
    kernel = rng.standard_normal((3, 3)).astype(dtype)
    for boundary in ("fill", "wrap", "symm"):
        assert_layouts_give_contiguous_result(
            gcnn.p4_group_convolution,
            features,
            kernel,
            layouts_3d(features),
            layouts_2d(kernel),
            boundary=boundary,
        )


def test_noncontiguous_float32_stays_float32():
    rng = np.random.default_rng(23)
    big = rng.standard_normal((20, 30)).astype(np.float32)
    view = big[::2, ::3]
    assert not view.flags.c_contiguous
    got = gcnn.convolve2d(view, np.ones((2, 2), np.float32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, gcnn.convolve2d(view.copy(), np.ones((2, 2), np.float32)))


def test_core_accepts_any_layout():
    """The glue converts with NPY_ARRAY_IN_ARRAY: every layout gives the contiguous answer."""
    rng = np.random.default_rng(24)
    x = rng.standard_normal((2, 3, 9, 8))
    weight = rng.standard_normal((4, 3, 3, 2))
    bias = rng.standard_normal(4)
    expected = _core.correlate(x, weight, bias, (2, 1), (1, 2, 0, 1), 2, 0.0)
    big = np.zeros((2, 3, 18, 24))
    big[:, :, ::2, ::3] = x
    readonly = x.copy()
    readonly.flags.writeable = False
    variants = [np.asfortranarray(x), big[:, :, ::2, ::3], x.astype(">f8"), readonly]
    for variant in variants:
        snapshot = variant.copy()
        got = _core.correlate(variant, weight, bias, (2, 1), (1, 2, 0, 1), 2, 0.0)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(variant, snapshot)
    for w_variant in (np.asfortranarray(weight), weight.astype(">f8")):
        got = _core.correlate(x, w_variant, bias.astype(">f8"), (2, 1), (1, 2, 0, 1), 2, 0.0)
        np.testing.assert_array_equal(got, expected)


# --- public error paths --------------------------------------------------------------------------


SIGNAL_FUNCS = [gcnn.convolve2d, gcnn.correlate2d]


@pytest.mark.parametrize("func", SIGNAL_FUNCS, ids=["convolve2d", "correlate2d"])
def test_signal_errors_name_the_argument(func):
    good = np.ones((4, 4))
    for bad, exc in [
        (np.ones((4, 4), object), TypeError),
        (np.full((4, 4), "s"), TypeError),
        (np.ones(4), ValueError),
        (np.ones((2, 2, 2)), ValueError),
        (np.float64(1.0), ValueError),
        ([[1.0, 2.0], [3.0]], TypeError),
    ]:
        with pytest.raises(exc, match="in1"):
            func(bad, good)
        with pytest.raises(exc, match="in2"):
            func(good, bad)
    with pytest.raises(ValueError, match="in1.*in2|valid"):
        func(np.ones((3, 5)), np.ones((4, 2)), mode="valid")
    for mode in ("bad", "FULL", None, 0, b"full"):
        with pytest.raises(ValueError, match="mode"):
            func(good, good, mode=mode)
    for boundary in ("reflect", "constant", "bad", None, 1, b"fill"):
        with pytest.raises(ValueError, match="boundary"):
            func(good, good, boundary=boundary)
    for fillvalue in (1j, 2 + 0j, [1.0, 2.0], np.zeros((2, 2)), np.zeros(0), np.array([1j])):
        with pytest.raises(ValueError, match="fillvalue"):
            func(good, good, fillvalue=fillvalue)
    # SciPy converts NumPy scalars by casting: a complex one loses its imaginary part, with
    # NumPy's warning (docs/design.md, §1.3 scipy-compatible building blocks)
    with pytest.warns(np.exceptions.ComplexWarning):
        got = func(good, good, fillvalue=np.complex128(2 + 1j))
    np.testing.assert_array_equal(got, func(good, good, fillvalue=2.0))
    for fillvalue in ("x", object()):
        with pytest.raises(TypeError, match="fillvalue"):
            func(good, good, fillvalue=fillvalue)


def test_tutorial_function_errors_name_the_argument():
    image, kernel, features = np.ones((5, 5)), np.ones((3, 3)), np.ones((4, 5, 5))
    lift, p4 = gcnn.lift_correlation, gcnn.p4_group_convolution
    with pytest.raises(TypeError, match="image"):
        lift(image.astype(object), kernel)
    with pytest.raises(TypeError, match="kernel"):
        lift(image, kernel.astype(object))
    with pytest.raises(TypeError, match="features"):
        p4(np.full(features.shape, "f"), kernel)
    with pytest.raises(TypeError, match="kernel"):
        p4(features, np.full((3, 3), "k"))
    with pytest.raises(ValueError, match="image"):
        lift(features, kernel)
    with pytest.raises(ValueError, match="image"):
        lift(np.ones((0, 5)), kernel)
    with pytest.raises(ValueError, match="features"):
        p4(image, kernel)
    with pytest.raises(ValueError, match="features"):
        p4(np.ones((4, 5, 0)), kernel)
    with pytest.raises(ValueError, match="kernel"):
        lift(image, np.ones(3))
    with pytest.raises(ValueError, match="kernel"):
        p4(features, np.ones((0, 0)))
    with pytest.raises(ValueError, match="kernel"):
        lift(image, np.ones((2, 3)), mode="full")
    for func, first in ((lift, image), (p4, features)):
        with pytest.raises(ValueError, match="mode"):
            func(first, kernel, mode="wide")
        with pytest.raises(ValueError, match="boundary"):
            func(first, kernel, boundary="reflect")
        with pytest.raises(ValueError, match="fillvalue"):
            func(first, kernel, boundary="fill", fillvalue=2j)
        with pytest.raises(ValueError, match="fillvalue"):
            func(first, kernel, boundary="fill", fillvalue=[0, 1])
        with pytest.raises(TypeError, match="fillvalue"):
            func(first, kernel, boundary="fill", fillvalue="zero")
        # the default boundary, 'symm', never reads fillvalue (the published call does not)
        np.testing.assert_array_equal(func(first, kernel, fillvalue=2j), func(first, kernel))


def test_error_messages_show_the_shape_received():
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        gcnn.convolve2d(np.ones((2, 3, 4)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\(7,\)"):
        gcnn.lift_correlation(np.ones(7), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        gcnn.p4_group_convolution(np.ones((5, 5)), np.ones((3, 3)))


# --- the C backstop ------------------------------------------------------------------------------


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


# --- threads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_num_threads_do_not_change_a_bit(dtype):
    rng = np.random.default_rng(27)
    x = rng.standard_normal((1, 4, 300, 300)).astype(dtype)  # ~13M multiply-adds: threaded
    weight = rng.standard_normal((4, 4, 3, 3)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    for simd in SIMD_PATHS:
        for boundary in (0, 1, 2):
            args = (x, weight, bias, (1, 1), (1, 2, 2, 1), boundary, 0.25)
            serial = _core.correlate(*args, num_threads=1, simd=simd)
            for count in (2, 3):
                np.testing.assert_array_equal(
                    _core.correlate(*args, num_threads=count, simd=simd), serial
                )


@pytest.fixture
def restore_threads():
    previous = gcnn.get_num_threads()
    yield
    gcnn.set_num_threads(previous)


def test_public_functions_identical_for_any_thread_count(restore_threads):
    rng = np.random.default_rng(28)
    image = rng.standard_normal((300, 300))
    features = rng.standard_normal((4, 300, 300))
    kernel = rng.standard_normal((5, 5))
    results = {}
    for count in (1, 2):
        gcnn.set_num_threads(count)
        results[count] = (
            gcnn.lift_correlation(image, kernel),
            gcnn.p4_group_convolution(features, kernel, boundary="wrap"),
            gcnn.convolve2d(image, kernel, mode="full"),
        )
    for serial, threaded in zip(results[1], results[2]):
        np.testing.assert_array_equal(threaded, serial)


def test_thread_pool_gives_serial_results(restore_threads):
    rng = np.random.default_rng(29)
    tasks = []
    for i in range(48):
        kind = i % 4
        if kind == 0:
            tasks.append(
                (
                    gcnn.convolve2d,
                    (rng.standard_normal((40, 50)), rng.standard_normal((5, 3))),
                    {"mode": "same"},
                )
            )
        elif kind == 1:
            tasks.append(
                (
                    gcnn.correlate2d,
                    (
                        rng.standard_normal((30, 30)).astype(np.float32),
                        rng.standard_normal((4, 4)).astype(np.float32),
                    ),
                    {"boundary": "wrap"},
                )
            )
        elif kind == 2:
            tasks.append(
                (
                    gcnn.lift_correlation,
                    (rng.standard_normal((64, 64)), rng.standard_normal((3, 3))),
                    {},
                )
            )
        else:
            tasks.append(
                (
                    gcnn.p4_group_convolution,
                    (rng.standard_normal((4, 32, 32)), rng.standard_normal((3, 3))),
                    {"boundary": "fill", "fillvalue": 1.0},
                )
            )
    # One large task too, so threaded kernels run inside pool threads.
    tasks.append(
        (gcnn.lift_correlation, (rng.standard_normal((256, 256)), rng.standard_normal((5, 5))), {})
    )
    for count in (1, 2):
        gcnn.set_num_threads(count)
        serial = [func(*args, **kwargs) for func, args, kwargs in tasks]
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(func, *args, **kwargs) for func, args, kwargs in tasks]
            concurrent = [future.result() for future in futures]
        for got, expected in zip(concurrent, serial):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


# --- set_num_threads -----------------------------------------------------------------------------


def test_set_num_threads_validation(restore_threads):
    for bad in (0, -1, -100):
        with pytest.raises(ValueError, match="1"):
            gcnn.set_num_threads(bad)
    for bad in (1.5, 2.0, True, False, "2", [2]):
        with pytest.raises(TypeError):
            gcnn.set_num_threads(bad)
    # A failed call changes nothing.
    gcnn.set_num_threads(3)
    with pytest.raises(ValueError):
        gcnn.set_num_threads(0)
    assert gcnn.get_num_threads() == 3


def test_set_num_threads_returns_previous(restore_threads):
    gcnn.set_num_threads(2)
    assert gcnn.set_num_threads(5) == 2
    assert gcnn.get_num_threads() == 5
    assert gcnn.set_num_threads(np.int64(1)) == 5
    assert gcnn.get_num_threads() == 1
    assert type(gcnn.get_num_threads()) is int


def test_set_num_threads_none_restores_default(restore_threads, monkeypatch):
    monkeypatch.delenv("GCNN_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    gcnn.set_num_threads(7)
    assert gcnn.set_num_threads(None) == 7
    assert gcnn.get_num_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    gcnn.set_num_threads(None)
    assert gcnn.get_num_threads() == 3
    monkeypatch.setenv("GCNN_NUM_THREADS", "2")
    gcnn.set_num_threads(None)
    assert gcnn.get_num_threads() == 2


# --- reference counts and leaks ------------------------------------------------------------------


def refcounts(*objects):
    return [sys.getrefcount(obj) for obj in objects]


def test_refcounts_flat_core():
    rng = np.random.default_rng(30)
    x = rng.standard_normal((1, 2, 8, 8))
    weight = rng.standard_normal((3, 2, 3, 3))
    bias = rng.standard_normal(3)
    fortran_x = np.asfortranarray(x)  # converted by a copy inside the glue
    before = refcounts(x, weight, bias, fortran_x)
    for _ in range(1000):
        _core.correlate(x, weight, bias, (1, 1), (1, 1, 1, 1), 2, 0.0)
        _core.correlate(fortran_x, weight, None)
    assert refcounts(x, weight, bias, fortran_x) == before
    out = _core.correlate(x, weight, bias)
    assert sys.getrefcount(out) == 2


def test_refcounts_flat_core_error_paths():
    x = np.ones((1, 2, 6, 6))
    weight = np.ones((3, 2, 3, 3))
    bias = np.ones(3)
    bad_bias = np.ones(4)
    f32_weight = weight.astype(np.float32)
    big_weight = np.ones((3, 2, 9, 9))
    before = refcounts(x, weight, bias, bad_bias, f32_weight, big_weight)
    calls = [
        lambda: _core.correlate(x, weight, bad_bias),
        lambda: _core.correlate(x, f32_weight, bias),
        lambda: _core.correlate(x, big_weight, bias),
        lambda: _core.correlate(x, weight, bias, (0, 1)),
        lambda: _core.correlate(x, weight, bias, (1, 1), (0, -1, 0, 0)),
        lambda: _core.correlate(x, weight, bias, (1, 1), (0, 0, 0, 0), 7),
        lambda: _core.correlate(x, weight, bias, (1, 1), (2**62, 2**62, 0, 0)),
        lambda: _core.correlate(x, weight, bias, (1, 1), (2**62, 0, 0, 0)),
        lambda: _core.correlate(x, weight, bias, (1,)),
        lambda: _core.correlate(x[0], weight, bias),
    ]
    for _ in range(1000):
        for call in calls:
            with pytest.raises((TypeError, ValueError, MemoryError)):
                call()
    assert refcounts(x, weight, bias, bad_bias, f32_weight, big_weight) == before


def test_refcounts_flat_public_api():
    rng = np.random.default_rng(31)
    in1 = rng.standard_normal((8, 8))
    kernel = rng.standard_normal((3, 3))
    features = rng.standard_normal((4, 8, 8))
    before = refcounts(in1, kernel, features)
    for _ in range(1000):
        gcnn.convolve2d(in1, kernel)
        gcnn.correlate2d(in1, kernel, mode="valid")
        gcnn.lift_correlation(in1, kernel)
        gcnn.p4_group_convolution(features, kernel)
    for _ in range(1000):
        with pytest.raises(ValueError):
            gcnn.convolve2d(in1, kernel, mode="nope")
        with pytest.raises(ValueError):
            gcnn.lift_correlation(in1, kernel[:2], mode="full")
        with pytest.raises(ValueError):
            gcnn.p4_group_convolution(in1, kernel)
    assert refcounts(in1, kernel, features) == before
    calls = [
        lambda: gcnn.convolve2d(in1, kernel),
        lambda: gcnn.correlate2d(in1, kernel),
        lambda: gcnn.lift_correlation(in1, kernel),
        lambda: gcnn.p4_group_convolution(features, kernel),
    ]
    for call in calls:
        out = call()  # only `out` and getrefcount's argument hold it
        assert sys.getrefcount(out) == 2


def traced_growth(call, repeats):
    """Bytes of traced memory still held after `repeats` calls (after a warm-up)."""
    for _ in range(20):
        call()
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(repeats):
            call()
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return end - start


def test_no_memory_growth_success_and_error_paths():
    """NumPy reports its data buffers to tracemalloc: a leaked output or leaked internal copy
    (8 KB per call here) would show as megabytes."""
    rng = np.random.default_rng(32)
    fortran_x = np.asfortranarray(rng.standard_normal((1, 2, 32, 32)))
    weight = rng.standard_normal((1, 2, 3, 3))
    bad_bias = np.ones(5)

    def success():
        _core.correlate(fortran_x, weight, None, (1, 1), (1, 1, 1, 1))

    def failure():
        try:  # x is copied (Fortran order) before the bias check fails
            _core.correlate(fortran_x, weight, bad_bias)
        except ValueError:
            pass

    def public():
        gcnn.lift_correlation(fortran_x[0, 0], weight[0, 0])

    for call in (success, failure, public):
        assert traced_growth(call, 500) < 200_000, call.__name__
