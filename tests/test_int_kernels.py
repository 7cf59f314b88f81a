"""gcnn._core.correlate_int: the correlation primitive in wrap-around integer arithmetic.

docs/design.md, §9.5 Wrap-around integer kernels: the contract of the float primitive
(docs/design.md, §9.1 One correlation primitive) on 32- and 64-bit integers, every output
the exact integer sum reduced modulo 2**bits, bit-identical for every SIMD path and thread
count.  The reference below computes the formula with Python's unbounded integers.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gcnn import _core

SIMD_PATHS = [1, 2, 3]  # generic, avx2, avx512 (an unavailable one falls back)
PAD_MODES = {0: "constant", 1: "wrap", 2: "symmetric"}
DTYPES = ["int32", "uint32", "int64", "uint64"]


def exact_reference(
    x, weight, bias=None, stride=(1, 1), padding=(0, 0, 0, 0), boundary=0, fillvalue=0
):
    """The formula of csrc/gcnn_kernels.h in Python integers, reduced modulo 2**bits into
    x's dtype (two's complement for signed dtypes)."""
    dtype = x.dtype
    bits = 8 * dtype.itemsize
    xs, ws = x.astype(object), weight.astype(object)
    top, bottom, left, right = padding
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    if boundary == 0:  # (np.pad would turn the fill into an np.int64, which overflows)
        xpad = np.full(
            x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right),
            int(fillvalue),
            dtype=object,
        )
        xpad[:, :, top : top + x.shape[2], left : left + x.shape[3]] = xs
    else:
        xpad = np.pad(xs, widths, mode=PAD_MODES[boundary])
    batch, channels = x.shape[:2]
    out_channels, _, kernel_h, kernel_w = weight.shape
    out_h = (xpad.shape[2] - kernel_h) // stride[0] + 1
    out_w = (xpad.shape[3] - kernel_w) // stride[1] + 1
    out = np.zeros((batch, out_channels, out_h, out_w), dtype=object)
    for o in range(out_channels):
        out[:, o] = 0 if bias is None else int(bias[o])
        for c in range(channels):
            for ky in range(kernel_h):
                for kx in range(kernel_w):
                    window = xpad[
                        :,
                        c,
                        ky : ky + stride[0] * (out_h - 1) + 1 : stride[0],
                        kx : kx + stride[1] * (out_w - 1) + 1 : stride[1],
                    ]
                    out[:, o] += window * ws[o, c, ky, kx]
    # modulo 2**bits, then held as an int64 of the same low bits (NumPy converts Python
    # integers to int64, not beyond), cut to the width and read as `dtype`
    modular = np.vectorize(lambda v: (v % 2**bits + 2**63) % 2**64 - 2**63, otypes=[object])(out)
    return modular.astype(np.int64).astype(f"u{dtype.itemsize}").view(dtype)


def extremes(rng, dtype, shape):
    """Values where wrap-around shows: the type's extremes, 0, +-1, and anything."""
    info = np.iinfo(dtype)
    special = [info.min, info.max, 0, 1, info.max // 2 + 1]
    if info.min < 0:
        special += [-1, info.min + 1]
    choice = rng.choice(np.array(special, dtype=object), shape).astype(dtype)
    anywhere = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return np.where(rng.random(shape) < 0.5, choice, anywhere)


def random_case(seed, dtype):
    rng = np.random.default_rng(seed)
    batch, channels, out_channels = rng.integers(1, 3), rng.integers(1, 4), rng.integers(1, 11)
    height, width = rng.integers(4, 14, size=2)
    kernel_h, kernel_w = rng.integers(1, 6, size=2)
    boundary = int(rng.integers(0, 3))
    return {
        "x": extremes(rng, dtype, (batch, channels, height, width)),
        "weight": extremes(rng, dtype, (out_channels, channels, kernel_h, kernel_w)),
        "bias": extremes(rng, dtype, (out_channels,)) if rng.random() < 0.5 else None,
        "stride": tuple(int(s) for s in rng.integers(1, 4, size=2)),
        "padding": tuple(int(p) for p in rng.integers(0, 5, size=4)),  # uneven on purpose
        "boundary": boundary,
        "fillvalue": int(extremes(rng, dtype, ())) if boundary == 0 else 0,
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_every_path_and_thread_count_equals_the_exact_sums(seed, dtype):
    case = random_case(seed, dtype)
    expected = exact_reference(**case)
    for simd in SIMD_PATHS:
        for threads in (1, 2):
            got = _core.correlate_int(**case, num_threads=threads, simd=simd)
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, expected)


def test_large_call_is_split_between_threads_and_still_exact():
    rng = np.random.default_rng(7)
    x = extremes(rng, "int64", (2, 3, 64, 80))
    w = extremes(rng, "int64", (5, 3, 5, 5))
    one = _core.correlate_int(x, w, None, (1, 1), (2, 2, 2, 2), 2, 0, 1)
    two = _core.correlate_int(x, w, None, (1, 1), (2, 2, 2, 2), 2, 0, 2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(
        one[:1, :2], exact_reference(x[:1], w[:2], padding=(2,) * 4, boundary=2)
    )


def test_signed_and_unsigned_bits_give_the_same_result_bits():
    rng = np.random.default_rng(8)
    x, w = extremes(rng, "int32", (1, 2, 9, 9)), extremes(rng, "int32", (3, 2, 3, 3))
    signed = _core.correlate_int(x, w, fillvalue=-7, padding=(1, 1, 1, 1))
    unsigned = _core.correlate_int(
        x.view(np.uint32), w.view(np.uint32), fillvalue=2**32 - 7, padding=(1, 1, 1, 1)
    )
    assert signed.dtype == np.int32 and unsigned.dtype == np.uint32
    np.testing.assert_array_equal(signed.view(np.uint32), unsigned)


def test_bias_and_fill_wrap_modulo_two_to_the_bits():
    x = np.full((1, 1, 1, 1), -1, dtype=np.int64)
    w = np.full((1, 1, 1, 2), 2, dtype=np.int64)
    bias = np.array([2**63 - 1], dtype=np.int64)
    # padded row (fill, -1) with fill 2**64 + 5 (taken modulo 2**64: 5): 2*5 - 2 + bias
    out = _core.correlate_int(x, w, bias, (1, 1), (0, 0, 1, 0), 0, 2**64 + 5)
    assert out.tolist() == [[[[2**63 - 1 + 8 - 2**64]]]]
    unsigned = _core.correlate_int(
        x.view(np.uint64), w.view(np.uint64), None, (1, 1), (0, 0, 1, 0), 0, -3
    )
    assert unsigned.dtype == np.uint64
    assert unsigned.tolist() == [[[[(2 * (2**64 - 3) + 2 * (2**64 - 1)) % 2**64]]]]


def test_layouts_equal_the_contiguous_result():
    rng = np.random.default_rng(9)
    x, w = extremes(rng, "int64", (2, 2, 7, 8)), extremes(rng, "int64", (3, 2, 3, 2))
    expected = _core.correlate_int(x, w)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for variant in (np.asfortranarray(x), x.astype(">i8"), padded[:, :, 1:-1, 1:-1]):
        np.testing.assert_array_equal(_core.correlate_int(variant, w), expected)


def test_arguments_are_checked():
    x = np.ones((1, 1, 4, 4), dtype=np.int32)
    w = np.ones((1, 1, 2, 2), dtype=np.int32)
    assert _core.correlate_int(x, w).dtype == np.int32
    with pytest.raises(TypeError, match="x must have an integer dtype of 4 or 8 bytes"):
        _core.correlate_int(x.astype(np.int16), w.astype(np.int16))
    with pytest.raises(TypeError, match="x must have an integer dtype"):
        _core.correlate_int(x.astype(np.float32), w)
    with pytest.raises(TypeError, match="weight must have the dtype of x"):
        _core.correlate_int(x, w.astype(np.uint32))
    with pytest.raises(TypeError, match="bias must have the dtype of x"):
        _core.correlate_int(x, w, np.ones(1, dtype=np.int64))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        _core.correlate_int([[[[1]]]], w)
    with pytest.raises(TypeError):
        _core.correlate_int(x, w, fillvalue=1.5)
    with pytest.raises(ValueError, match="x must be 4-D"):
        _core.correlate_int(x[0], w)
    with pytest.raises(ValueError, match="weight must have shape"):
        _core.correlate_int(x, np.ones((1, 2, 2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="bias must have shape"):
        _core.correlate_int(x, w, np.ones(2, dtype=np.int32))
    with pytest.raises(ValueError, match="padded input must be at least as large"):
        _core.correlate_int(x, np.ones((1, 1, 5, 5), dtype=np.int32))
    with pytest.raises(ValueError, match="dilation"):
        _core.correlate_int(x, w, boundary=1, dilation=(2, 1))
    # the float entry point still refuses integers (gcnn._core.correlate)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        _core.correlate(x, w)


def test_refcounts_stable():
    x = np.arange(16, dtype=np.int32).reshape(1, 1, 4, 4)
    w = np.ones((2, 1, 2, 2), dtype=np.int32)
    bias = np.zeros(2, dtype=np.int32)
    before = [sys.getrefcount(a) for a in (x, w, bias)]
    for _ in range(200):
        _core.correlate_int(x, w, bias)
        with pytest.raises(TypeError):
            _core.correlate_int(x, w.astype(np.int64))
    assert [sys.getrefcount(a) for a in (x, w, bias)] == before
