"""gcnn.convolve2d / gcnn.correlate2d against scipy.signal, value for value and error for error.

scipy.signal is the reference (docs/design.md, §1.3 scipy-compatible building blocks: the
same arguments, output shapes, dtypes and numbers).  This file checks the float numbers;
integer, complex and fillvalue rules are tests/test_scipy_dtypes.py, and SciPy's own test
classes run against gcnn in tests/test_scipy_suite.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gcnn

MODES = ["full", "same", "valid"]
BOUNDARIES = ["fill", "pad", "wrap", "circular", "symm", "symmetric"]
FILLVALUES = [0, 2.5, -1]
FUNCTIONS = [
    (gcnn.convolve2d, scipy.signal.convolve2d),
    (gcnn.correlate2d, scipy.signal.correlate2d),
]
FUNCTION_IDS = ["convolve2d", "correlate2d"]

SHAPE_PAIRS = [
    ((1, 1), (1, 1)),
    ((1, 1), (3, 3)),  # kernel larger than a single pixel
    ((5, 5), (1, 1)),
    ((1, 7), (1, 3)),  # 1xN
    ((1, 3), (1, 7)),
    ((7, 1), (3, 1)),
    ((1, 6), (3, 1)),  # neither contains the other: 'valid' raises
    ((6, 6), (3, 3)),  # even image, odd kernel
    ((6, 6), (2, 2)),  # even kernel
    ((7, 5), (4, 3)),
    ((5, 8), (3, 2)),
    ((9, 9), (9, 9)),  # equal shapes
    ((4, 4), (5, 5)),  # kernel larger in both dims: 'valid' swaps
    ((3, 4), (6, 7)),
    ((2, 9), (4, 3)),  # kernel larger in one dim only
    ((8, 3), (2, 5)),
    ((10, 12), (4, 4)),
    ((4, 6), (4, 2)),
]


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def assert_matches(got, expected, rtol):
    """rtol relative, with an absolute floor scaled by the result's magnitude (cancellation)."""
    assert got.shape == expected.shape
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def scipy_or_error(scipy_func, *args, **kwargs):
    try:
        return scipy_func(*args, **kwargs)
    except ValueError as exc:
        return exc


def check_like_scipy(ours, theirs, in1, in2, rtol=1e-12, expected_dtype=np.float64, **kwargs):
    """gcnn equals scipy where scipy answers, and raises ValueError where scipy does."""
    expected = scipy_or_error(theirs, in1, in2, **kwargs)
    if isinstance(expected, ValueError):
        with pytest.raises(ValueError):
            ours(in1, in2, **kwargs)
        return None
    got = ours(in1, in2, **kwargs)
    assert got.dtype == expected_dtype
    assert_matches(got, expected.astype(np.float64), rtol)
    return got


# --- the grid ------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_grid_float64(shapes, mode, boundary):
    shape1, shape2 = shapes
    rng = rng_for(shapes, mode, boundary)
    in1 = rng.standard_normal(shape1)
    in2 = rng.standard_normal(shape2)
    for ours, theirs in FUNCTIONS:
        for fillvalue in FILLVALUES:
            check_like_scipy(
                ours, theirs, in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue
            )


def test_grid_covers_both_valid_swaps_and_refusals():
    """Guard the grid itself: it must exercise the swap both ways and the refusal."""
    kinds = set()
    for shape1, shape2 in SHAPE_PAIRS:
        ge = all(a >= b for a, b in zip(shape1, shape2))
        le = all(a <= b for a, b in zip(shape1, shape2))
        kinds.add("no swap" if ge else "swap" if le else "refuse")
    assert kinds == {"no swap", "swap", "refuse"}


@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_valid_swap_rule_both_ways(func_pair):
    ours, theirs = func_pair
    rng = np.random.default_rng(11)
    big = rng.standard_normal((6, 7))
    small = rng.standard_normal((3, 2))
    for in1, in2 in ((big, small), (small, big)):
        expected = theirs(in1, in2, mode="valid")
        got = ours(in1, in2, mode="valid")
        assert got.shape == (4, 6)
        assert_matches(got, expected, 1e-12)
    # correlate2d with the larger second input is reversed, not just swapped (scipy's rule);
    # convolution commutes, so the swap is invisible there.
    forward = ours(big, small, mode="valid")
    backward = ours(small, big, mode="valid")
    if ours is gcnn.correlate2d:
        assert not np.allclose(forward, backward)
    else:
        assert_matches(backward, forward, 1e-12)


def test_mismatched_valid_shapes_raise():
    for ours, theirs in FUNCTIONS:
        with pytest.raises(ValueError):
            theirs(np.ones((3, 5)), np.ones((4, 2)), mode="valid")
        with pytest.raises(ValueError, match="in1"):
            ours(np.ones((3, 5)), np.ones((4, 2)), mode="valid")


@pytest.mark.parametrize(
    "fillvalue", FILLVALUES + [np.float32(0.5), np.array([3.0]), np.array([[-2]]), True], ids=repr
)
@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_fillvalue_forms(func_pair, fillvalue):
    ours, theirs = func_pair
    rng = np.random.default_rng(12)
    in1, in2 = rng.standard_normal((5, 6)), rng.standard_normal((3, 4))
    for mode in MODES:
        check_like_scipy(ours, theirs, in1, in2, mode=mode, boundary="fill", fillvalue=fillvalue)


# --- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_float32_computes_in_float32(func_pair, mode):
    ours, theirs = func_pair
    rng = rng_for("f32", mode)
    in1 = rng.standard_normal((9, 8)).astype(np.float32)
    in2 = rng.standard_normal((3, 4)).astype(np.float32)
    for boundary in ("fill", "wrap", "symm"):
        got = check_like_scipy(
            ours,
            theirs,
            in1,
            in2,
            rtol=1e-5,
            expected_dtype=np.float32,
            mode=mode,
            boundary=boundary,
            fillvalue=1.5,
        )
        assert got is not None


@pytest.mark.parametrize(
    "dtype1,dtype2",
    [
        (np.float16, np.float16),
        (np.float16, np.float32),
        (np.float32, np.float16),
    ],
    ids=str,
)
@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_float16_computes_in_float32(func_pair, dtype1, dtype2):
    ours, theirs = func_pair
    rng = np.random.default_rng(13)
    in1 = rng.standard_normal((7, 6)).astype(dtype1)
    in2 = rng.standard_normal((3, 3)).astype(dtype2)
    for mode in MODES:
        got = ours(in1, in2, mode=mode, boundary="symm")
        assert got.dtype == np.float32
        # scipy has no float16 loop; float16 values are exact in float64.
        assert_matches(
            got, theirs(in1.astype(float), in2.astype(float), mode=mode, boundary="symm"), 1e-5
        )


@pytest.mark.parametrize(
    "dtype1,dtype2",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.float32, np.int8),
        (np.float32, bool),
        (np.float32, np.int64),
        (np.int16, np.float32),
    ],
    ids=str,
)
def test_mixed_dtypes_follow_scipy(dtype1, dtype2):
    in1 = (np.arange(20).reshape(4, 5) % 7).astype(dtype1)
    in2 = (np.arange(6).reshape(2, 3) % 2).astype(dtype2)
    for ours, theirs in FUNCTIONS:
        expected = theirs(in1, in2)
        got = ours(in1, in2)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)  # small integers: exact in any float


# --- errors --------------------------------------------------------------------------------------


ERROR_CASES = [
    ((3, 5), (4, 2), {"mode": "valid"}),
    ((3, 3), (2, 2), {"mode": "bad"}),
    ((3, 3), (2, 2), {"mode": "Full"}),
    ((3, 3), (2, 2), {"boundary": "reflect"}),
    ((3, 3), (2, 2), {"boundary": "bad"}),
    ((3, 3), (2, 2), {"boundary": "Symm"}),
    ((2, 3, 3), (2, 2), {}),
    ((3, 3), (1, 2, 2), {}),
    ((3,), (2, 2), {}),
    ((3, 3), (2,), {}),
    ((3, 3), (2, 2), {"fillvalue": 1j}),
    ((3, 3), (2, 2), {"fillvalue": 1 + 0.5j}),
    ((3, 3), (2, 2), {"fillvalue": [1.0, 2.0]}),
    ((3, 3), (2, 2), {"fillvalue": np.zeros(2)}),
    ((3, 3), (2, 2), {"fillvalue": np.zeros((0,))}),
]


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")  # scipy, not gcnn
@pytest.mark.parametrize("shape1,shape2,kwargs", ERROR_CASES, ids=str)
@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_value_errors_where_scipy_raises(func_pair, shape1, shape2, kwargs):
    ours, theirs = func_pair
    in1, in2 = np.ones(shape1), np.ones(shape2)
    with pytest.raises(ValueError):
        theirs(in1, in2, **kwargs)
    with pytest.raises(ValueError):
        ours(in1, in2, **kwargs)


# --- empty inputs --------------------------------------------------------------------------------


EMPTY_SHAPES = [(0, 0), (0, 3), (3, 0), (1, 1), (2, 2), (4, 3)]


def empty_pairs():
    return [
        (shape1, shape2)
        for shape1 in EMPTY_SHAPES
        for shape2 in EMPTY_SHAPES
        if 0 in shape1 + shape2
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_empty_inputs_like_scipy_with_fill(func_pair, mode):
    ours, theirs = func_pair
    compared = 0
    for shape1, shape2 in empty_pairs():
        result = check_like_scipy(
            ours,
            theirs,
            np.ones(shape1),
            np.ones(shape2),
            mode=mode,
            boundary="fill",
            fillvalue=2.0,
        )
        compared += result is not None
    assert compared > 0


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("func_pair", FUNCTIONS, ids=FUNCTION_IDS)
def test_empty_inputs_with_wrap_or_symm_never_crash(func_pair, mode, boundary):
    """Not compared with scipy here: scipy 1.17 dies with SIGFPE on some of these (e.g.
    convolve2d(np.ones((0, 0)), np.ones((2, 2)), 'full', 'wrap')).  gcnn must either give
    the result of boundary='fill' when no output entry reads outside in1 (empty output, empty
    kernel, or 'valid'), or else raise a ValueError naming in1 (there is nothing to wrap or
    mirror)."""
    ours, theirs = func_pair
    for shape1, shape2 in empty_pairs():
        in1, in2 = np.ones(shape1), np.ones(shape2)
        filled = scipy_or_error(theirs, in1, in2, mode=mode, boundary="fill")
        if isinstance(filled, ValueError):
            with pytest.raises(ValueError):
                ours(in1, in2, mode=mode, boundary=boundary)
            continue
        # 'valid' never reads outside in1 (and swaps an empty in1 into the kernel slot).
        reads_outside_empty_in1 = (
            in1.size == 0 and in2.size > 0 and filled.size > 0 and mode != "valid"
        )
        if reads_outside_empty_in1:
            with pytest.raises(ValueError, match="in1"):
                ours(in1, in2, mode=mode, boundary=boundary)
        else:
            got = ours(in1, in2, mode=mode, boundary=boundary)
            assert got.shape == filled.shape
            np.testing.assert_array_equal(got, filled)


def test_empty_kernel_gives_zeros_with_fill():
    """A concrete scipy case: no taps, so every output sum is empty (zero, not the fill)."""
    expected = scipy.signal.convolve2d(
        np.ones((3, 4)), np.ones((0, 2)), boundary="fill", fillvalue=5.0
    )
    got = gcnn.convolve2d(np.ones((3, 4)), np.ones((0, 2)), boundary="fill", fillvalue=5.0)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


# --- hypothesis properties -----------------------------------------------------------------------


shape_2d = st.tuples(st.integers(1, 12), st.integers(1, 12))
finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=50, deadline=None)
@given(
    in1=arrays(np.float64, shape_2d, elements=finite),
    in2=arrays(np.float64, shape_2d, elements=finite),
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    fillvalue=st.floats(-10, 10, allow_nan=False, width=64),
    which=st.sampled_from([0, 1]),
)
def test_hypothesis_equals_scipy(in1, in2, mode, boundary, fillvalue, which):
    ours, theirs = FUNCTIONS[which]
    expected = scipy_or_error(theirs, in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    if isinstance(expected, ValueError):
        with pytest.raises(ValueError):
            ours(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
        return
    got = ours(in1, in2, mode=mode, boundary=boundary, fillvalue=fillvalue)
    assert got.dtype == np.float64
    # Cancellation: the absolute error scales with sum |in1| * |in2|, not with the result.
    scale = (np.max(np.abs(in1)) + abs(fillvalue)) * np.sum(np.abs(in2)) + 1e-300
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13 * scale)


@settings(max_examples=50, deadline=None)
@given(
    shape1=shape_2d,
    shape2=shape_2d,
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(["fill", "wrap", "symm"]),
    alpha=st.floats(-3, 3, allow_nan=False),
    beta=st.floats(-3, 3, allow_nan=False),
    seed=st.integers(0, 2**32 - 1),
    which=st.sampled_from([0, 1]),
)
def test_hypothesis_linear_in_in1(shape1, shape2, mode, boundary, alpha, beta, seed, which):
    """f(a x + b y, k) == a f(x, k) + b f(y, k) (fill value 0 keeps the padding linear)."""
    if mode == "valid":
        assume(all(a >= b for a, b in zip(shape1, shape2)))  # in1 stays the image
    ours = FUNCTIONS[which][0]
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(shape1), rng.standard_normal(shape1)
    kernel = rng.standard_normal(shape2)
    combined = ours(alpha * x + beta * y, kernel, mode=mode, boundary=boundary)
    separate = alpha * ours(x, kernel, mode=mode, boundary=boundary) + beta * ours(
        y, kernel, mode=mode, boundary=boundary
    )
    scale = (abs(alpha) + abs(beta)) * 10 * np.sum(np.abs(kernel)) + 1e-300
    np.testing.assert_allclose(combined, separate, rtol=0, atol=1e-12 * scale)


@settings(max_examples=50, deadline=None)
@given(
    in1=arrays(
        st.sampled_from([np.float64, np.float32, np.int32, np.float16]),
        shape_2d,
        elements=st.integers(-50, 50),
    ),
    in2=arrays(
        st.sampled_from([np.float64, np.float32, np.uint8]), shape_2d, elements=st.integers(0, 50)
    ),
    mode=st.sampled_from(["full", "same"]),
    boundary=st.sampled_from(["fill", "wrap", "symm"]),
    which=st.sampled_from([0, 1]),
)
def test_hypothesis_inputs_unchanged(in1, in2, mode, boundary, which):
    ours = FUNCTIONS[which][0]
    copy1, copy2 = in1.copy(), in2.copy()
    ours(in1, in2, mode=mode, boundary=boundary, fillvalue=3)
    np.testing.assert_array_equal(in1, copy1)
    np.testing.assert_array_equal(in2, copy2)
    assert in1.dtype == copy1.dtype and in2.dtype == copy2.dtype
