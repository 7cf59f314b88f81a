"""Do the public functions' errors name the argument and show the shape received
(docs/design.md, §5 Numbers: a ValueError or TypeError naming the argument, never a crash)?"""

from __future__ import annotations

import numpy as np
import pytest

import gcnn

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
