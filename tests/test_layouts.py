"""Any memory layout in, the contiguous result out: strided, Fortran-ordered, byte-swapped and
offset inputs give what their contiguous copies give, and inputs are never modified
(docs/design.md, §5 Numbers)."""

from __future__ import annotations

import numpy as np
import pytest

import gcnn
from gcnn import _core


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
