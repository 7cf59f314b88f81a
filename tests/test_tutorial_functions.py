"""gcnn.lift_correlation and gcnn.p4_group_convolution against the tutorial's published code.

The reference is ``gcnn.reference`` (the blog's sections 4.2/4.4, one documented fix).
Every expected value here comes from that reference, from scipy.signal, or from a law that
must hold whatever the numbers are (equivariance, orientations never mixing); none is copied
from running gcnn.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from scipy.signal import convolve2d

import gcnn
from gcnn import reference as ref

BOUNDARIES = ["fill", "pad", "wrap", "circular", "symm", "symmetric"]
CANONICAL_BOUNDARIES = ["fill", "wrap", "symm"]


def rng_for(*key) -> np.random.Generator:
    """A generator seeded from the test's parameters, so every case has its own data."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def assert_matches(got: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    """Relative comparison with an absolute floor scaled by the magnitude of `expected`.

    The floor is needed because p4 sums its rotated kernels before convolving (the
    reference sums four convolutions), so entries that cancel to near zero carry an
    absolute, not a relative, rounding error.
    """
    assert got.shape == expected.shape
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


def p4_formula(features, kernel, mode="same", boundary="symm", fillvalue=0):
    """The formula for p4 (docs/design.md, §1.1 The two functions), for modes where the
    published code cannot run.

    The published code writes each result into ``np.zeros_like(features)``, which has the
    input's spatial shape, so it raises for 'full' and 'valid'; gcnn extends it by this formula.
    """
    return np.stack(
        [
            sum(
                convolve2d(
                    f, np.rot90(kernel, j), mode=mode, boundary=boundary, fillvalue=fillvalue
                )
                for j in range(4)
            )
            for f in features
        ]
    )


def p4_action(features: np.ndarray, r: int = 1) -> np.ndarray:
    """The p4 action r times on (4, H, W) maps: rotate each map, shift the orientation axis."""
    return np.roll(np.rot90(features, r, axes=(1, 2)), r, axis=0)


IMAGE_SHAPES = [(7, 7), (8, 8), (6, 9), (9, 5), (1, 1), (2, 3)]
KERNEL_SHAPES = [(1, 1), (3, 3), (5, 5), (2, 2), (4, 4), (2, 3), (3, 5), (1, 4), (4, 1)]


# --- agreement with the published code, mode='same' ---------------------------------------------


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES, ids=str)
@pytest.mark.parametrize("image_shape", IMAGE_SHAPES, ids=str)
def test_lift_matches_reference_same_mode(image_shape, kernel_shape, boundary):
    rng = rng_for("lift", image_shape, kernel_shape, boundary)
    image = rng.standard_normal(image_shape)
    kernel = rng.standard_normal(kernel_shape)
    expected = ref.lift_correlation(image, kernel, boundary=boundary)
    got = gcnn.lift_correlation(image, kernel, boundary=boundary)
    assert got.dtype == np.float64
    assert got.shape == (4,) + image_shape
    assert_matches(got, expected, 1e-12)


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("kernel_shape", KERNEL_SHAPES, ids=str)
@pytest.mark.parametrize("image_shape", IMAGE_SHAPES, ids=str)
def test_p4_matches_reference_same_mode(image_shape, kernel_shape, boundary):
    rng = rng_for("p4", image_shape, kernel_shape, boundary)
    features = rng.standard_normal((4,) + image_shape)
    kernel = rng.standard_normal(kernel_shape)
    expected = ref.p4_group_convolution(features, kernel, boundary=boundary)
    got = gcnn.p4_group_convolution(features, kernel, boundary=boundary)
    assert got.dtype == np.float64
    assert got.shape == features.shape
    assert_matches(got, expected, 1e-12)


def test_defaults_are_the_published_same_symm_zero():
    """A call without keywords is the published call: mode 'same', boundary 'symm'."""
    rng = np.random.default_rng(1)
    image = rng.standard_normal((6, 6))
    features = rng.standard_normal((4, 6, 6))
    kernel = rng.standard_normal((3, 3))
    lift_published = np.array(
        [convolve2d(image, np.rot90(kernel, i), mode="same", boundary="symm") for i in range(4)]
    )
    assert_matches(gcnn.lift_correlation(image, kernel), lift_published, 1e-12)
    assert_matches(ref.lift_correlation(image, kernel), lift_published, 0)
    p4_published = p4_formula(features, kernel, "same", "symm")
    assert_matches(gcnn.p4_group_convolution(features, kernel), p4_published, 1e-12)
    # 'symm' must actually be in effect: with zero fill the border differs.
    assert not np.allclose(
        gcnn.lift_correlation(image, kernel), gcnn.lift_correlation(image, kernel, boundary="fill")
    )


@pytest.mark.parametrize(
    "image_shape,kernel_shape",
    [
        ((3, 3), (5, 5)),  # kernel larger than the image in both dimensions
        ((2, 2), (7, 7)),
        ((3, 8), (5, 5)),  # larger in one dimension only
        ((6, 2), (3, 5)),
        ((1, 1), (4, 4)),
    ],
    ids=str,
)
@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
def test_kernel_larger_than_image(image_shape, kernel_shape, boundary):
    rng = rng_for("large", image_shape, kernel_shape, boundary)
    image = rng.standard_normal(image_shape)
    features = rng.standard_normal((4,) + image_shape)
    kernel = rng.standard_normal(kernel_shape)
    assert_matches(
        gcnn.lift_correlation(image, kernel, boundary=boundary),
        ref.lift_correlation(image, kernel, boundary=boundary),
        1e-12,
    )
    assert_matches(
        gcnn.p4_group_convolution(features, kernel, boundary=boundary),
        ref.p4_group_convolution(features, kernel, boundary=boundary),
        1e-12,
    )
    if kernel_shape[0] == kernel_shape[1]:
        full = {"mode": "full", "boundary": boundary, "fillvalue": 1.25}
        assert_matches(
            gcnn.lift_correlation(image, kernel, **full),
            ref.lift_correlation(image, kernel, **full),
            1e-12,
        )
        assert_matches(
            gcnn.p4_group_convolution(features, kernel, **full),
            p4_formula(features, kernel, **full),
            1e-12,
        )


@pytest.mark.parametrize("fillvalue", [0, 2.5, -1, np.float32(3.25), np.array([1.5])], ids=repr)
@pytest.mark.parametrize("boundary", ["fill", "pad"])
def test_fillvalue(fillvalue, boundary):
    rng = rng_for("fill", repr(fillvalue), boundary)
    image = rng.standard_normal((6, 7))
    features = rng.standard_normal((4, 6, 7))
    kernel = rng.standard_normal((3, 3))
    expected_lift = ref.lift_correlation(image, kernel, boundary=boundary, fillvalue=fillvalue)
    expected_p4 = ref.p4_group_convolution(features, kernel, boundary=boundary, fillvalue=fillvalue)
    assert_matches(
        gcnn.lift_correlation(image, kernel, boundary=boundary, fillvalue=fillvalue),
        expected_lift,
        1e-12,
    )
    assert_matches(
        gcnn.p4_group_convolution(features, kernel, boundary=boundary, fillvalue=fillvalue),
        expected_p4,
        1e-12,
    )


def test_fillvalue_is_ignored_by_wrap_and_symm():
    rng = np.random.default_rng(2)
    image = rng.standard_normal((5, 5))
    kernel = rng.standard_normal((3, 3))
    for boundary in ("wrap", "symm"):
        np.testing.assert_array_equal(
            gcnn.lift_correlation(image, kernel, boundary=boundary, fillvalue=7.0),
            gcnn.lift_correlation(image, kernel, boundary=boundary),
        )


# --- modes 'full' and 'valid' --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "valid"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    "image_shape,k",
    [
        ((7, 7), 3),
        ((8, 8), 2),
        ((6, 9), 4),
        ((9, 5), 5),
        ((5, 5), 5),
        ((4, 6), 1),
    ],
    ids=str,
)
def test_full_and_valid_modes_square_kernels(image_shape, k, mode, boundary):
    rng = rng_for("modes", image_shape, k, mode, boundary)
    image = rng.standard_normal(image_shape)
    features = rng.standard_normal((3,) + image_shape)  # any number of maps is accepted
    kernel = rng.standard_normal((k, k))
    got = gcnn.lift_correlation(image, kernel, mode=mode, boundary=boundary, fillvalue=0.5)
    assert_matches(
        got, ref.lift_correlation(image, kernel, mode=mode, boundary=boundary, fillvalue=0.5), 1e-12
    )
    got = gcnn.p4_group_convolution(features, kernel, mode=mode, boundary=boundary, fillvalue=0.5)
    assert_matches(got, p4_formula(features, kernel, mode, boundary, 0.5), 1e-12)


def test_published_p4_cannot_change_shape():
    """Why p4 is compared with the formula in 'full' mode: np.zeros_like(features) is too small."""
    features = np.ones((4, 5, 5))
    kernel = np.ones((3, 3))
    with pytest.raises(ValueError):
        ref.p4_group_convolution(features, kernel, mode="full")
    assert gcnn.p4_group_convolution(features, kernel, mode="full").shape == (4, 7, 7)
    assert gcnn.p4_group_convolution(features, kernel, mode="valid").shape == (4, 3, 3)


@pytest.mark.parametrize("mode", ["full", "valid"])
@pytest.mark.parametrize("kernel_shape", [(2, 3), (3, 1), (1, 4)], ids=str)
def test_non_square_kernel_outside_same_mode_raises_like_published_code(kernel_shape, mode):
    rng = np.random.default_rng(3)
    image = rng.standard_normal((6, 6))
    features = rng.standard_normal((4, 6, 6))
    kernel = rng.standard_normal(kernel_shape)
    # The published code fails too: its four results have two different shapes.
    with pytest.raises(ValueError):
        ref.lift_correlation(image, kernel, mode=mode)
    with pytest.raises(ValueError):
        ref.p4_group_convolution(features, kernel, mode=mode)
    with pytest.raises(ValueError, match="kernel"):
        gcnn.lift_correlation(image, kernel, mode=mode)
    with pytest.raises(ValueError, match="kernel"):
        gcnn.p4_group_convolution(features, kernel, mode=mode)


def test_valid_mode_kernel_must_fit():
    """Documented gcnn rule (docstring): in 'valid' mode the kernel must fit in the image.

    Note: scipy (and so the reference with mode='valid') would swap the operands when the
    kernel is larger in every dimension; gcnn refuses instead.
    """
    with pytest.raises(ValueError, match="kernel"):
        gcnn.lift_correlation(np.ones((3, 3)), np.ones((5, 5)), mode="valid")
    with pytest.raises(ValueError, match="kernel"):
        gcnn.p4_group_convolution(np.ones((4, 3, 3)), np.ones((5, 5)), mode="valid")
    with pytest.raises(ValueError, match="kernel"):
        gcnn.lift_correlation(np.ones((6, 3)), np.ones((4, 4)), mode="valid")


# --- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
def test_float32_stays_float32(boundary):
    rng = rng_for("f32", boundary)
    image = rng.standard_normal((9, 9)).astype(np.float32)
    features = rng.standard_normal((4, 9, 9)).astype(np.float32)
    kernel = rng.standard_normal((3, 3)).astype(np.float32)
    got = gcnn.lift_correlation(image, kernel, boundary=boundary)
    expected = ref.lift_correlation(image, kernel, boundary=boundary)
    assert got.dtype == expected.dtype == np.float32
    assert_matches(got, expected.astype(np.float64), 1e-5)
    got = gcnn.p4_group_convolution(features, kernel, boundary=boundary)
    expected = ref.p4_group_convolution(features, kernel, boundary=boundary)
    assert got.dtype == expected.dtype == np.float32
    assert_matches(got, expected.astype(np.float64), 1e-5)


def test_float64_stays_float64():
    rng = np.random.default_rng(4)
    image = rng.standard_normal((6, 6))
    kernel = rng.standard_normal((3, 3))
    assert gcnn.lift_correlation(image, kernel).dtype == np.float64
    assert gcnn.p4_group_convolution(image[None], kernel).dtype == np.float64


def test_p4_output_takes_the_features_float_dtype():
    """As np.zeros_like(features) does in the published code."""
    rng = np.random.default_rng(5)
    f32 = rng.standard_normal((4, 6, 6)).astype(np.float32)
    k64 = rng.standard_normal((3, 3))
    got = gcnn.p4_group_convolution(f32, k64)
    expected = ref.p4_group_convolution(f32, k64)
    assert got.dtype == expected.dtype == np.float32
    assert_matches(got, expected.astype(np.float64), 1e-5)
    got = gcnn.p4_group_convolution(f32.astype(np.float64), k64.astype(np.float32))
    expected = ref.p4_group_convolution(f32.astype(np.float64), k64.astype(np.float32))
    assert got.dtype == expected.dtype == np.float64
    assert_matches(got, expected, 1e-12)  # float32 kernel values are exact in float64


INTEGER_PAIRS = [
    ("int8", "int8"),
    ("uint8", "uint8"),
    ("int16", "int8"),
    ("int32", "uint16"),
    ("int64", "int64"),
    ("uint64", "uint32"),
    ("uint8", "int8"),
    ("int8", "int64"),
    ("uint16", "bool"),
]


def extremes(rng, dtype, shape):
    """Integers at and near the type's extremes, where sums wrap around."""
    info = np.iinfo(dtype)
    values = np.array([info.min, info.max, 0, 1, info.max // 2 + 1, info.max - 1], dtype=object)
    return rng.choice(values, shape).astype(dtype)


@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
@pytest.mark.parametrize("features_dtype,kernel_dtype", INTEGER_PAIRS, ids=str)
def test_integers_return_what_the_published_code_returns(features_dtype, kernel_dtype, boundary):
    """Bit for bit, dtype included (docs/design.md, §1.2 Facts about the published code):
    the lift returns convolve2d's integer type; p4 the features' type where the published
    ``+=`` into ``np.zeros_like(features)`` is allowed, else convolve2d's type."""
    rng = rng_for("int", features_dtype, kernel_dtype, boundary)
    image = extremes(rng, features_dtype, (6, 7))
    features = extremes(rng, features_dtype, (4, 6, 7))
    if kernel_dtype == "bool":
        kernel = rng.random((3, 3)) < 0.5
    else:
        kernel = extremes(rng, kernel_dtype, (3, 3))
    expected = ref.lift_correlation(image, kernel, boundary=boundary)
    got = gcnn.lift_correlation(image, kernel, boundary=boundary)
    assert got.dtype == expected.dtype == np.result_type(image, kernel)
    np.testing.assert_array_equal(got, expected)

    got = gcnn.p4_group_convolution(features, kernel, boundary=boundary)
    convolution_type = np.result_type(features, kernel)
    if np.can_cast(convolution_type, features.dtype, "same_kind"):
        expected = ref.p4_group_convolution(features, kernel, boundary=boundary)
        assert got.dtype == expected.dtype == features.dtype
    else:
        with pytest.raises(TypeError):  # numpy's UFuncTypeError in the published `+=`
            ref.p4_group_convolution(features, kernel, boundary=boundary)
        with np.errstate(over="ignore"):  # the formula's sums wrap, as convolve2d's do
            expected = p4_formula(features, kernel, boundary=boundary).astype(convolution_type)
        assert got.dtype == convolution_type
    np.testing.assert_array_equal(got, expected)


def test_bool_computes_in_float64():
    """SciPy has no bool loop (the published code raises); gcnn counts in float64."""
    rng = np.random.default_rng(3)
    image, kernel = rng.random((6, 7)) > 0.5, rng.random((3, 3)) > 0.5
    features = rng.random((4, 6, 7)) > 0.5
    got = gcnn.lift_correlation(image, kernel)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, ref.lift_correlation(image * 1.0, kernel * 1.0))
    got = gcnn.p4_group_convolution(features, kernel)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, ref.p4_group_convolution(features * 1.0, kernel * 1.0))
    # bool features with an integer kernel: float64 as well (the published `+=` into a bool
    # buffer raises)
    assert gcnn.p4_group_convolution(features, kernel.astype(np.int8)).dtype == np.float64


COMPLEX_PAIRS = [
    ("complex128", "complex128"),
    ("complex64", "complex64"),
    ("complex64", "complex128"),
    ("complex128", "float64"),
    ("float64", "complex128"),
    ("uint8", "complex64"),
    ("float32", "complex64"),
]


@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
@pytest.mark.parametrize("features_dtype,kernel_dtype", COMPLEX_PAIRS, ids=str)
def test_complex_returns_what_the_published_code_returns(features_dtype, kernel_dtype, boundary):
    rng = rng_for("complex", features_dtype, kernel_dtype, boundary)

    def draw(dtype, shape):
        if np.dtype(dtype).kind in "iu":
            return rng.integers(0, 256, shape).astype(dtype)
        values = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        return (values if np.dtype(dtype).kind == "c" else values.real).astype(dtype)

    image, features = draw(features_dtype, (7, 6)), draw(features_dtype, (4, 7, 6))
    kernel = draw(kernel_dtype, (3, 3))
    rtol = 1e-5 if np.complex64 in (np.dtype(features_dtype), np.dtype(kernel_dtype)) else 1e-12
    fill = {"fillvalue": 1 - 2j} if boundary == "fill" else {}
    expected = ref.lift_correlation(image, kernel, boundary=boundary, **fill)
    got = gcnn.lift_correlation(image, kernel, boundary=boundary, **fill)
    assert got.dtype == expected.dtype
    assert_matches(got, expected, rtol)

    got = gcnn.p4_group_convolution(features, kernel, boundary=boundary, **fill)
    convolution_type = np.result_type(features, kernel)
    if np.can_cast(convolution_type, features.dtype, "same_kind"):
        expected = ref.p4_group_convolution(features, kernel, boundary=boundary, **fill)
    else:
        with pytest.raises(TypeError):  # complex results into real zeros_like(features)
            ref.p4_group_convolution(features, kernel, boundary=boundary, **fill)
        expected = p4_formula(features, kernel, boundary=boundary, **fill)
    assert got.dtype == expected.dtype
    assert_matches(got, expected, rtol)


def test_published_p4_chokes_on_int_features_gcnn_promotes():
    features = np.arange(4 * 5 * 5).reshape(4, 5, 5)
    kernel = np.full((3, 3), 0.5)
    with pytest.raises(TypeError):  # numpy's UFuncTypeError: float into zeros_like(int)
        ref.p4_group_convolution(features, kernel)
    got = gcnn.p4_group_convolution(features, kernel)
    assert got.dtype == np.float64
    assert_matches(got, ref.p4_group_convolution(features.astype(float), kernel), 1e-12)


def test_float16_computes_in_float32():
    rng = np.random.default_rng(6)
    image = rng.standard_normal((7, 7)).astype(np.float16)
    features = rng.standard_normal((4, 7, 7)).astype(np.float16)
    kernel = rng.standard_normal((3, 3)).astype(np.float16)
    got = gcnn.lift_correlation(image, kernel)
    assert got.dtype == np.float32
    # float16 values are exact in float64: the float64 reference is the float32 target.
    assert_matches(got, ref.lift_correlation(image.astype(float), kernel.astype(float)), 1e-5)
    got = gcnn.p4_group_convolution(features, kernel)
    assert got.dtype == np.float32
    assert_matches(
        got, ref.p4_group_convolution(features.astype(float), kernel.astype(float)), 1e-5
    )
    assert gcnn.lift_correlation(image, kernel.astype(np.float32)).dtype == np.float32


BAD_DTYPE_ARRAYS = [
    np.ones((4, 4), dtype=object),
    np.full((4, 4), "a"),
    np.full((4, 4), b"a"),
]


@pytest.mark.parametrize("bad", BAD_DTYPE_ARRAYS, ids=lambda a: a.dtype.name)
def test_object_string_raise_type_error(bad):
    good = np.ones((4, 4))
    with pytest.raises(TypeError, match="image"):
        gcnn.lift_correlation(bad, good[:3, :3])
    with pytest.raises(TypeError, match="kernel"):
        gcnn.lift_correlation(good, bad[:3, :3])
    with pytest.raises(TypeError, match="features"):
        gcnn.p4_group_convolution(np.stack([bad] * 4), good[:3, :3])
    with pytest.raises(TypeError, match="kernel"):
        gcnn.p4_group_convolution(np.stack([good] * 4), bad[:3, :3])


# --- equivariance laws ---------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("size", [5, 8, 9])
def test_lift_equivariance_odd_kernels(size, k, boundary):
    """lift(rot90(x, r)) == roll(rot90(lift(x), r, axes=(1, 2)), r, axis=0), r = 0..3.

    Checked on the reference too: this is the direction the published code satisfies
    (rotating the image counter-clockwise moves map i to slot i + r, not i - r).
    """
    rng = rng_for("lift-eq", size, k, boundary)
    image = rng.standard_normal((size, size))
    kernel = rng.standard_normal((k, k))
    lifted = gcnn.lift_correlation(image, kernel, boundary=boundary, fillvalue=0.75)
    ref_lifted = ref.lift_correlation(image, kernel, boundary=boundary, fillvalue=0.75)
    for r in range(4):
        rotated = np.rot90(image, r)
        assert_matches(
            gcnn.lift_correlation(rotated, kernel, boundary=boundary, fillvalue=0.75),
            p4_action(lifted, r),
            1e-12,
        )
        assert_matches(
            ref.lift_correlation(rotated, kernel, boundary=boundary, fillvalue=0.75),
            p4_action(ref_lifted, r),
            1e-12,
        )


def test_lift_equivariance_direction_is_plus_r():
    """The opposite shift (roll by -r) is wrong for r = 1, 3: the direction is not a convention."""
    rng = np.random.default_rng(7)
    image = rng.standard_normal((7, 7))
    kernel = rng.standard_normal((3, 3))
    lifted = gcnn.lift_correlation(image, kernel)
    for r in (1, 3):
        wrong = np.roll(np.rot90(lifted, r, axes=(1, 2)), -r, axis=0)
        got = gcnn.lift_correlation(np.rot90(image, r), kernel)
        assert np.max(np.abs(got - wrong)) > 1e-3 * np.max(np.abs(got))


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("size", [5, 8])
def test_p4_commutes_with_p4_action(size, k, boundary):
    rng = rng_for("p4-eq", size, k, boundary)
    features = rng.standard_normal((4, size, size))
    kernel = rng.standard_normal((k, k))
    out = gcnn.p4_group_convolution(features, kernel, boundary=boundary, fillvalue=-0.5)
    for r in range(4):
        got = gcnn.p4_group_convolution(
            p4_action(features, r), kernel, boundary=boundary, fillvalue=-0.5
        )
        assert_matches(got, p4_action(out, r), 1e-12)


def test_lift_then_p4_pipeline_is_equivariant():
    rng = np.random.default_rng(8)
    image = rng.standard_normal((9, 9))
    k1, k2 = rng.standard_normal((3, 3)), rng.standard_normal((5, 5))
    out = gcnn.p4_group_convolution(gcnn.lift_correlation(image, k1), k2)
    for r in range(4):
        got = gcnn.p4_group_convolution(gcnn.lift_correlation(np.rot90(image, r), k1), k2)
        assert_matches(got, p4_action(out, r), 1e-12)


def relative_equivariance_error(image_shape, kernel_shape, boundary, mode="same"):
    """Largest error of both laws over r = 1..3, relative to the output's magnitude."""
    rng = rng_for("break", image_shape, kernel_shape, boundary, mode)
    image = rng.standard_normal(image_shape)
    features = rng.standard_normal((4,) + image_shape)
    kernel = rng.standard_normal(kernel_shape)
    lifted = gcnn.lift_correlation(image, kernel, mode=mode, boundary=boundary)
    out = gcnn.p4_group_convolution(features, kernel, mode=mode, boundary=boundary)
    lift_err = max(
        np.max(
            np.abs(
                gcnn.lift_correlation(np.rot90(image, r), kernel, mode=mode, boundary=boundary)
                - p4_action(lifted, r)
            )
        )
        for r in (1, 2, 3)
    ) / np.max(np.abs(lifted))
    p4_err = max(
        np.max(
            np.abs(
                gcnn.p4_group_convolution(
                    p4_action(features, r), kernel, mode=mode, boundary=boundary
                )
                - p4_action(out, r)
            )
        )
        for r in (1, 2, 3)
    ) / np.max(np.abs(out))
    return lift_err, p4_err


@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
@pytest.mark.parametrize("kernel_shape", [(2, 2), (4, 4), (2, 3), (3, 4)], ids=str)
def test_even_kernels_break_equivariance_in_same_mode(kernel_shape, boundary):
    """An even kernel side is centred half a pixel off in 'same' mode; the offset does not
    rotate with the image, so both laws fail by far more than rounding."""
    lift_err, p4_err = relative_equivariance_error((8, 8), kernel_shape, boundary)
    assert lift_err > 1e-3
    assert p4_err > 1e-3


@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
@pytest.mark.parametrize(
    "image_shape,kernel_shape",
    [
        ((7, 9), (3, 3)),
        ((6, 9), (5, 5)),
        ((8, 5), (3, 3)),
        ((8, 8), (3, 5)),
        ((7, 10), (1, 3)),
    ],
    ids=str,
)
def test_non_square_inputs_stay_equivariant_with_odd_kernels(image_shape, kernel_shape, boundary):
    """Non-square images do NOT break the laws (docs/design.md, §4.3 Non-square inputs):
    with every kernel side odd, 'same' mode centres symmetrically, and rot90 of an (H, W)
    image is a (W, H) image for which the same laws hold exactly. Odd non-square kernels too."""
    lift_err, p4_err = relative_equivariance_error(image_shape, kernel_shape, boundary)
    assert lift_err < 1e-13
    assert p4_err < 1e-13


@pytest.mark.parametrize("image_shape", [(8, 8), (7, 9)], ids=str)
@pytest.mark.parametrize("mode", ["full", "valid"])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_full_and_valid_modes_equivariant_for_any_square_kernel(image_shape, mode, k):
    """No centring in 'full'/'valid': even kernels are exactly equivariant there."""
    for boundary in CANONICAL_BOUNDARIES:
        lift_err, p4_err = relative_equivariance_error(image_shape, (k, k), boundary, mode)
        assert lift_err < 1e-13
        assert p4_err < 1e-13


# --- the tutorial's p4 never mixes orientations -------------------------------------------------


@pytest.mark.parametrize("boundary", CANONICAL_BOUNDARIES)
def test_p4_never_mixes_orientations(boundary):
    rng = rng_for("mix", boundary)
    features = rng.standard_normal((4, 7, 7))
    kernel = rng.standard_normal((3, 3))
    changed = features.copy()
    changed[1] = rng.standard_normal((7, 7)) * 10
    before = gcnn.p4_group_convolution(features, kernel, boundary=boundary)
    after = gcnn.p4_group_convolution(changed, kernel, boundary=boundary)
    for i in (0, 2, 3):
        np.testing.assert_array_equal(after[i], before[i])
    assert np.max(np.abs(after[1] - before[1])) > 1.0
    # The published code behaves the same way, to the bit.
    ref_before = ref.p4_group_convolution(features, kernel, boundary=boundary)
    ref_after = ref.p4_group_convolution(changed, kernel, boundary=boundary)
    for i in (0, 2, 3):
        np.testing.assert_array_equal(ref_after[i], ref_before[i])


def test_p4_is_convolution_with_the_c4_symmetrised_kernel():
    rng = np.random.default_rng(9)
    features = rng.standard_normal((4, 8, 8))
    kernel = rng.standard_normal((3, 3))
    symmetrised = sum(np.rot90(kernel, j) for j in range(4))
    expected = np.stack(
        [convolve2d(f, symmetrised, mode="same", boundary="symm") for f in features]
    )
    assert_matches(gcnn.p4_group_convolution(features, kernel), expected, 1e-12)


def test_lift_is_convolution_not_correlation():
    """Despite its name the published lift convolves (flips the kernel)."""
    image = np.zeros((5, 5))
    image[2, 2] = 1.0
    kernel = np.arange(9.0).reshape(3, 3)
    got = gcnn.lift_correlation(image, kernel, boundary="fill")
    # A unit impulse convolved gives the kernel itself around the impulse (a correlation
    # would give the kernel flipped).
    for i in range(4):
        np.testing.assert_array_equal(got[i, 1:4, 1:4], np.rot90(kernel, i))


# --- shape errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [np.ones(5), np.ones((2, 5, 5)), np.ones(()), np.ones((0, 3)), np.ones((3, 0))],
    ids=lambda a: str(a.shape),
)
def test_lift_bad_image_shape(image):
    with pytest.raises(ValueError, match="image"):
        gcnn.lift_correlation(image, np.ones((3, 3)))


@pytest.mark.parametrize(
    "features",
    [np.ones((5, 5)), np.ones((1, 4, 5, 5)), np.ones((0, 5, 5)), np.ones((4, 0, 5))],
    ids=lambda a: str(a.shape),
)
def test_p4_bad_features_shape(features):
    with pytest.raises(ValueError, match="features"):
        gcnn.p4_group_convolution(features, np.ones((3, 3)))


@pytest.mark.parametrize(
    "kernel", [np.ones(3), np.ones((1, 3, 3)), np.ones((0, 3))], ids=lambda a: str(a.shape)
)
def test_bad_kernel_shape(kernel):
    with pytest.raises(ValueError, match="kernel"):
        gcnn.lift_correlation(np.ones((5, 5)), kernel)
    with pytest.raises(ValueError, match="kernel"):
        gcnn.p4_group_convolution(np.ones((4, 5, 5)), kernel)


@pytest.mark.parametrize(
    "func,first",
    [
        (gcnn.lift_correlation, np.ones((5, 5))),
        (gcnn.p4_group_convolution, np.ones((4, 5, 5))),
    ],
    ids=["lift", "p4"],
)
def test_bad_mode_boundary_fillvalue(func, first):
    kernel = np.ones((3, 3))
    for mode in ("bad", "SAME", None, 1):
        with pytest.raises(ValueError, match="mode"):
            func(first, kernel, mode=mode)
    for boundary in ("reflect", "bad", None, 0):
        with pytest.raises(ValueError, match="boundary"):
            func(first, kernel, boundary=boundary)
    with pytest.raises(ValueError, match="fillvalue"):
        func(first, kernel, boundary="fill", fillvalue=1j)
    with pytest.raises(ValueError, match="fillvalue"):
        func(first, kernel, boundary="fill", fillvalue=[1.0, 2.0])
    with pytest.raises(TypeError, match="fillvalue"):
        func(first, kernel, boundary="fill", fillvalue="x")
    with pytest.raises(TypeError):  # keyword-only (docs/design.md, §1.1 The two functions)
        func(first, kernel, "same")


def test_inputs_unchanged():
    rng = np.random.default_rng(10)
    image = rng.standard_normal((6, 6))
    features = rng.standard_normal((4, 6, 6))
    kernel = rng.standard_normal((3, 3))
    copies = [a.copy() for a in (image, features, kernel)]
    for boundary, mode in itertools.product(CANONICAL_BOUNDARIES, ["same", "full", "valid"]):
        gcnn.lift_correlation(image, kernel, mode=mode, boundary=boundary)
        gcnn.p4_group_convolution(features, kernel, mode=mode, boundary=boundary)
    for original, copy in zip((image, features, kernel), copies):
        np.testing.assert_array_equal(original, copy)


def test_array_likes_accepted():
    image = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    kernel = [[0, 1], [1, 0]]
    got = gcnn.lift_correlation(image, kernel)
    expected = ref.lift_correlation(image, kernel)
    assert got.dtype == expected.dtype == np.int64  # lists of ints, as in the published code
    np.testing.assert_array_equal(got, expected)


def test_p4_non_finite_inputs_give_the_published_nan():
    """inf - inf across the four rotations is NaN in the published code; gcnn gives it too."""
    rng = np.random.default_rng(12)
    for trial in range(60):
        features = rng.standard_normal((4, 7, 7))
        kernel = rng.standard_normal((3, 3))
        for _ in range(int(rng.integers(1, 4))):
            features[rng.integers(4), rng.integers(7), rng.integers(7)] = rng.choice(
                [np.inf, -np.inf, np.nan]
            )
        boundary = ("fill", "wrap", "symm")[trial % 3]
        got = gcnn.p4_group_convolution(features, kernel, boundary=boundary)
        with np.errstate(invalid="ignore"):
            want = ref.p4_group_convolution(features, kernel, boundary=boundary)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)
