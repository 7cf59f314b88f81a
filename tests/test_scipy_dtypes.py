"""gcnn.convolve2d / gcnn.correlate2d follow SciPy's dtype rules.

docs/design.md, §1.3 scipy-compatible building blocks: the result dtype is SciPy's
(NumPy's result type of the operands); integer results equal SciPy's bit for bit, with its
wrap-around on overflow; complex results equal SciPy's to rounding; ``fillvalue`` is
converted, or refused, as SciPy converts it.  Where SciPy has no loop (bool with bool,
float16) gcnn keeps its float rules, and extended precision is computed in double.
"""

from __future__ import annotations

import itertools
import warnings
import zlib

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.exceptions import ComplexWarning

import gcnn

FUNCTIONS = [
    (gcnn.convolve2d, scipy.signal.convolve2d),
    (gcnn.correlate2d, scipy.signal.correlate2d),
]
FUNCTION_IDS = ["convolve2d", "correlate2d"]
MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "wrap", "symm"]
INTEGERS = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
NUMERIC = (
    ["bool"]
    + INTEGERS
    + ["float16", "float32", "float64", "longdouble"]
    + ["complex64", "complex128", "clongdouble"]
)


def gcnn_own_result(numpy_type: np.dtype):
    """What gcnn returns where SciPy has no loop for NumPy's result type, or computes in
    extended precision (docs/design.md, §1.3 scipy-compatible building blocks); else None."""
    if numpy_type.kind == "b":
        return np.dtype(np.float64)
    if numpy_type == np.float16:
        return np.dtype(np.float32)
    if numpy_type.kind == "f" and numpy_type.itemsize > 8:
        return np.dtype(np.float64)
    if numpy_type.kind == "c" and numpy_type.itemsize > 16:
        return np.dtype(np.complex128)
    return None


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def scipy_or_error(func, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ComplexWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            return func(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        return exc


def extreme_integers(rng, dtype, shape) -> np.ndarray:
    """Values where wrap-around shows: the type's extremes, 0, +-1, halves, and any."""
    info = np.iinfo(dtype)
    special = [info.min, info.max, 0, 1, info.max // 2 + 1, info.max - 1]
    if info.min < 0:
        special += [-1, info.min // 2 - 1, info.min + 1]
    choice = rng.choice(np.array(special, dtype=object), shape)
    anywhere = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return np.where(rng.random(shape) < 0.5, choice, anywhere).astype(dtype)


def operand(rng, dtype, shape) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return extreme_integers(rng, dtype, shape)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# --- the table of result dtypes -----------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("dtype2", NUMERIC)
@pytest.mark.parametrize("dtype1", NUMERIC)
def test_result_dtype_is_scipys(dtype1, dtype2):
    in1 = (np.arange(12).reshape(3, 4) % 3).astype(dtype1)
    in2 = (np.arange(6).reshape(2, 3) % 2).astype(dtype2)
    numpy_type = np.result_type(in1, in2)
    for ours, theirs in FUNCTIONS:
        got = ours(in1, in2)
        expected = scipy_or_error(theirs, in1, in2)
        if gcnn_own_result(numpy_type) is not None:
            assert got.dtype == gcnn_own_result(numpy_type)
            if isinstance(expected, Exception):  # SciPy has no loop: compare in float64
                assert "not available for this type" in str(expected)
                expected = theirs(in1.astype(float), in2.astype(float))
        else:
            assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)  # small integers: exact everywhere


def test_object_and_string_operands_raise_type_error():
    """SciPy says ValueError ("convolve2d not available for this type"); gcnn keeps its
    TypeError for dtypes it cannot compute (docs/design.md, §5.3 Errors)."""
    for bad in (np.ones((3, 3), dtype=object), np.full((3, 3), "a"), np.full((3, 3), b"a")):
        for ours, _ in FUNCTIONS:
            with pytest.raises(TypeError, match="in1 must have a numeric dtype"):
                ours(bad, np.ones((2, 2)))
            with pytest.raises(TypeError, match="in2 must have a numeric dtype"):
                ours(np.ones((2, 2)), bad)


# --- integers: bit for bit, wrap-around included ------------------------------------------------


INTEGER_PAIRS = [
    (a, b)
    for a, b in itertools.product(["bool"] + INTEGERS, repeat=2)
    if np.result_type(a, b).kind in "iu"
]


@pytest.mark.parametrize("dtype1,dtype2", INTEGER_PAIRS, ids=str)
def test_integers_equal_scipy_bit_for_bit(dtype1, dtype2):
    rng = rng_for("int", dtype1, dtype2)
    for (ours, theirs), mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        in1 = operand(rng, dtype1, (6, 7))
        in2 = operand(rng, dtype2, (3, 4) if mode != "valid" else (7, 9))  # valid swaps
        fillvalue = int(rng.integers(-3, 100))
        expected = scipy_or_error(theirs, in1, in2, mode, boundary, fillvalue)
        if isinstance(expected, Exception):  # e.g. a negative fill for an unsigned type
            with pytest.raises(type(expected)):
                ours(in1, in2, mode, boundary, fillvalue)
            continue
        got = ours(in1, in2, mode, boundary, fillvalue)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(
    dtypes=st.sampled_from(INTEGER_PAIRS),
    shape1=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    shape2=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    seed=st.integers(0, 2**32 - 1),
    which=st.sampled_from([0, 1]),
)
def test_hypothesis_integers_equal_scipy(dtypes, shape1, shape2, mode, boundary, seed, which):
    """Modular arithmetic is a ring homomorphism: however gcnn orders and widens the sums,
    the result's bits are SciPy's, at the extremes of every integer type."""
    ours, theirs = FUNCTIONS[which]
    rng = np.random.default_rng(seed)
    in1, in2 = operand(rng, dtypes[0], shape1), operand(rng, dtypes[1], shape2)
    result_type = np.result_type(in1, in2)
    fillvalue = extreme_integers(rng, result_type, ())[()]
    expected = scipy_or_error(theirs, in1, in2, mode, boundary, fillvalue)
    if isinstance(expected, Exception):
        with pytest.raises(type(expected)):
            ours(in1, in2, mode, boundary, fillvalue)
        return
    got = ours(in1, in2, mode, boundary, fillvalue)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_integer_overflow_wraps_around_as_documented():
    """The docstring's example: 200 + 100 in uint8 is 44, as in SciPy and NumPy."""
    image = np.array([[200, 100]], dtype=np.uint8)
    got = gcnn.convolve2d(image, np.ones((1, 2), dtype=np.uint8), mode="valid")
    assert got.dtype == np.uint8 and got.tolist() == [[44]]
    big = np.array([[2**62, 2**62]], dtype=np.int64)
    got = gcnn.correlate2d(big, np.array([[2, 1]]), mode="valid")
    assert got.tolist() == [[np.int64(3 * 2**62 - 2**64)]]  # wraps negative


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64"])
def test_integer_results_do_not_depend_on_threads(dtype):
    rng = rng_for("threads", dtype)
    image = operand(rng, dtype, (300, 257))
    kernel = operand(rng, dtype, (7, 5))
    previous = gcnn.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            gcnn.set_num_threads(threads)
            results.append(gcnn.convolve2d(image, kernel, "same", "symm"))
    finally:
        gcnn.set_num_threads(previous)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(
        results[0], scipy.signal.convolve2d(image, kernel, "same", "symm")
    )


# --- complex: SciPy's numbers to rounding ---------------------------------------------------------


COMPLEX_PAIRS = [
    ("complex128", "complex128"),
    ("complex64", "complex64"),
    ("complex64", "complex128"),
    ("float64", "complex128"),
    ("uint8", "complex64"),
    ("int64", "complex64"),
    ("complex128", "float64"),
    ("complex64", "float32"),
    ("complex64", "int16"),
    ("bool", "complex128"),
]
COMPLEX_FILLS = [0, 1.5, 2 - 1j, 1j, np.complex64(-0.5 + 0.25j)]


def assert_close(got, expected, dtype):
    assert got.shape == expected.shape
    rtol = 1e-5 if np.dtype(dtype) == np.complex64 else 1e-12
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("fillvalue", COMPLEX_FILLS, ids=repr)
@pytest.mark.parametrize("dtype1,dtype2", COMPLEX_PAIRS, ids=str)
def test_complex_matches_scipy(dtype1, dtype2, fillvalue):
    rng = rng_for("complex", dtype1, dtype2, repr(fillvalue))
    for (ours, theirs), mode, boundary in itertools.product(FUNCTIONS, MODES, BOUNDARIES):
        for shape1, shape2 in (((6, 7), (3, 4)), ((4, 3), (5, 5)), ((8, 5), (2, 1))):
            in1, in2 = operand(rng, dtype1, shape1), operand(rng, dtype2, shape2)
            expected = scipy_or_error(theirs, in1, in2, mode, boundary, fillvalue)
            if isinstance(expected, Exception):
                with pytest.raises(type(expected)):
                    ours(in1, in2, mode, boundary, fillvalue)
                continue
            got = ours(in1, in2, mode, boundary, fillvalue)
            assert got.dtype == expected.dtype
            assert_close(got, expected, got.dtype)


def test_scipy_docstring_scharr_gradient():
    """scipy.signal.convolve2d's own example: an image's gradient with a complex Scharr
    operator (horizontal real, vertical imaginary), symmetric boundary."""
    scharr = np.array(
        [[-3 - 3j, 0 - 10j, +3 - 3j], [-10 + 0j, 0 + 0j, +10 + 0j], [-3 + 3j, 0 + 10j, +3 + 3j]]
    )
    image = rng_for("scharr").integers(0, 256, (40, 50)).astype(np.uint8)
    got = gcnn.convolve2d(image, scharr, boundary="symm", mode="same")
    expected = scipy.signal.convolve2d(image, scharr, boundary="symm", mode="same")
    assert got.dtype == expected.dtype == np.complex128
    np.testing.assert_array_equal(got, expected)  # integer-valued: exact in double


def test_correlate2d_conjugates_the_second_input_after_the_valid_swap():
    """scipy correlates with conj(in2); in 'valid' mode with in2 the larger it swaps first,
    so the conjugate falls on the original in1."""
    rng = rng_for("conj")
    small = operand(rng, "complex128", (2, 3))
    big = operand(rng, "complex128", (5, 6))
    for in1, in2 in ((big, small), (small, big)):
        expected = scipy.signal.correlate2d(in1, in2, "valid")
        assert_close(gcnn.correlate2d(in1, in2, "valid"), expected, np.complex128)
    np.testing.assert_array_equal(gcnn.correlate2d([[1]], [[2j]]), [[-2j]])


@pytest.mark.parametrize("dtype", ["complex64", "complex128", "int16", "uint64"])
def test_layouts_equal_the_contiguous_result(dtype):
    rng = rng_for("layout", dtype)
    image = operand(rng, dtype, (12, 11))
    kernel = operand(rng, dtype, (3, 4))
    expected = gcnn.convolve2d(image, kernel, "same", "wrap")
    variants = [
        np.asfortranarray(image),
        np.pad(image, 2)[2:-2, 2:-2],
        image.astype(image.dtype.newbyteorder()),
    ]
    strided = np.zeros((24, 22), dtype=dtype)
    strided[::2, ::2] = image
    variants.append(strided[::2, ::2])
    for variant in variants:
        np.testing.assert_array_equal(gcnn.convolve2d(variant, kernel, "same", "wrap"), expected)
    copy = image.copy()
    gcnn.correlate2d(image, kernel)
    np.testing.assert_array_equal(image, copy)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "complex64"])
def test_empty_inputs_give_zeros_of_the_result_dtype(dtype):
    for ours, theirs in FUNCTIONS:
        for shape1, shape2 in (((3, 4), (0, 2)), ((0, 3), (2, 2))):
            in1, in2 = np.ones(shape1, dtype), np.ones(shape2, dtype)
            expected = theirs(in1, in2, fillvalue=2)
            got = ours(in1, in2, fillvalue=2)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


# --- fillvalue: SciPy's conversion and errors ----------------------------------------------------


FILL_DTYPES = [
    "uint8",
    "int8",
    "int16",
    "int64",
    "uint64",
    "float32",
    "float64",
    "complex64",
    "complex128",
]
FILLS = [
    0,
    1,
    2.5,
    -1,
    300,
    -300,
    2**63,
    2**64,
    True,
    1j,
    1 + 0j,
    2.5 + 0j,
    np.nan,
    np.inf,
    1e300,
    np.float64(2.5),
    np.float32(2.5),
    np.int64(300),
    np.int64(-1),
    np.uint8(7),
    np.complex128(1),
    np.array(2.5),
    np.array([2.5]),
    np.array([[3]]),
    np.array(300),
    np.array([-1]),
    np.array([1j]),
    np.array(2, dtype=np.uint8),
    [1],
    [2.5],
    [],
    [1, 2],
    np.zeros((0,)),
    np.zeros(2),
]


def scipy_words(message: str) -> str:
    """A message's SciPy part: up to its first ' (', ',' or ':' (gcnn adds details)."""
    for stop in (" (", ",", ":"):
        message = message.split(stop)[0]
    return message.rstrip(".")


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", FILL_DTYPES)
def test_fillvalue_converts_like_scipy(dtype):
    in1 = np.array([[1, 2], [3, 4]], dtype=dtype)
    in2 = np.array([[1, 1]], dtype=dtype)
    compared = errors = 0
    for fillvalue in FILLS:
        for ours, theirs in FUNCTIONS:
            expected = scipy_or_error(theirs, in1, in2, fillvalue=fillvalue)
            if isinstance(expected, Exception):
                with pytest.raises(ValueError) as caught:
                    ours(in1, in2, fillvalue=fillvalue)
                assert scipy_words(str(caught.value)) == scipy_words(str(expected)), fillvalue
                errors += 1
                continue
            got = ours(in1, in2, fillvalue=fillvalue)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
            compared += 1
    assert compared and errors


def test_scipy_fillvalue_error_texts():
    """The texts SciPy's own tests match (test_fillvalue_errors, test_fillvalue_empty)."""
    with pytest.raises(ValueError, match="could not cast `fillvalue` directly to the output "):
        gcnn.convolve2d([[1]], [[1, 2]], fillvalue=1j)
    with pytest.raises(ValueError, match="`fillvalue` must be scalar or an array with "):
        gcnn.convolve2d([[1]], [[1, 2]], fillvalue=[1, 2])
    with pytest.raises(ValueError, match="`fillvalue` cannot be an empty array"):
        gcnn.correlate2d([[1]], [[1, 2]], fillvalue=[])


def test_fillvalue_is_only_read_for_the_fill_boundary():
    """As in SciPy: with 'wrap' or 'symm' any fillvalue is ignored, even one 'fill' refuses."""
    in1, in2 = np.arange(6).reshape(2, 3), np.ones((2, 2), dtype=int)
    for boundary, fillvalue in itertools.product(["wrap", "symm"], [1j, [], [1, 2], -1.5]):
        for ours, theirs in FUNCTIONS:
            expected = theirs(in1, in2, boundary=boundary, fillvalue=fillvalue)
            np.testing.assert_array_equal(
                ours(in1, in2, boundary=boundary, fillvalue=fillvalue), expected
            )


def test_non_numeric_fillvalue_is_a_type_error():
    """SciPy parses strings ('1' is 1) and turns None into NaN for float output; gcnn asks
    for a number (docs/design.md, §1.3 scipy-compatible building blocks)."""
    for fillvalue in ("1", "x", None, object()):
        with pytest.raises(TypeError, match="fillvalue must be a number"):
            gcnn.convolve2d(np.ones((2, 2)), np.ones((2, 2)), fillvalue=fillvalue)
