"""Do calls leak? Reference counts stay flat over many calls, on success and error paths, and
traced memory does not grow."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import numpy as np
import pytest

import gcnn
from gcnn import _core


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


def test_refcounts_flat_channel_reductions():
    x = np.ones((2, 3, 40), dtype=np.float32)
    fortran = np.asfortranarray(np.ones((2, 3, 40)))  # converted by a copy inside the glue
    flat, empty = np.ones((2, 3)), np.ones((0, 3, 4))
    before = refcounts(x, fortran, flat, empty)
    for _ in range(1000):
        for reduce in (_core.channel_sums, _core.channel_moments):
            reduce(x, 2)
            reduce(fortran)
            with pytest.raises(ValueError):
                reduce(flat)
            with pytest.raises(ValueError):
                reduce(empty)
    assert refcounts(x, fortran, flat, empty) == before
    assert sys.getrefcount(_core.channel_sums(x)) == 2
    mean, var = _core.channel_moments(x)
    assert sys.getrefcount(mean) == sys.getrefcount(var) == 2


def test_refcounts_flat_batch_norm_backward_with_sums():
    rng = np.random.default_rng(31)
    x = rng.standard_normal((2, 3, 40)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    mean, var = _core.channel_moments(x)
    inv_std = 1 / np.sqrt(var + 1e-5)
    positive = (x > 0).astype(np.uint8)
    short_mask = positive.ravel()[:7]
    before = refcounts(x, g, mean, inv_std, positive, short_mask)
    for _ in range(1000):
        _core.batch_norm_backward(g, x, mean, inv_std, None, 2, positive=positive, sums=True)
        with pytest.raises(ValueError):
            _core.batch_norm_backward(g, x, mean, inv_std, positive=short_mask, sums=True)
    assert refcounts(x, g, mean, inv_std, positive, short_mask) == before
    outputs = _core.batch_norm_backward(g, x, mean, inv_std, sums=True)
    assert len(outputs) == 4
    assert [sys.getrefcount(out) for out in outputs] == [3, 3, 3, 3]  # outputs + argument
    # the fourth is channel_sums of the first, bit for bit
    np.testing.assert_array_equal(outputs[3], _core.channel_sums(outputs[0]))


def test_refcounts_flat_batch_norm_forward():
    rng = np.random.default_rng(32)
    x = rng.standard_normal((2, 3, 40)).astype(np.float32)
    weight, bias, short = np.ones(3, np.float32), np.zeros(3), np.ones(2)
    before = refcounts(x, weight, bias, short)
    for _ in range(1000):
        _core.batch_norm_forward(x, 1e-5, weight, bias, 2)
        _core.batch_norm_forward(x, 1e-5, None, None, 2, relu=True)
        with pytest.raises(ValueError):
            _core.batch_norm_forward(x, 1e-5, weight, short)
    assert refcounts(x, weight, bias, short) == before
    for relu in (False, True):
        outputs = _core.batch_norm_forward(x, 1e-5, weight, bias, relu=relu)
        assert [sys.getrefcount(out) for out in outputs] == [3] * len(outputs)


def test_refcounts_flat_pooled_batch_norm():
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 3, 4 * 6)).astype(np.float32)
    plane = (4, 6)
    before = refcounts(x, plane)
    for _ in range(500):
        pooled, positive, winners, mean, var, inv_std = _core.batch_norm_forward(
            x, 1e-5, None, None, 2, relu=True, plane=plane
        )
        _core.batch_norm_backward(
            pooled, x, mean, inv_std, None, 2, positive=positive, pool_index=winners, plane=plane
        )
        with pytest.raises(ValueError):
            _core.batch_norm_forward(x, 1e-5, plane=(5, 6))
        with pytest.raises(ValueError):
            _core.batch_norm_backward(x, x, mean, inv_std, pool_index=winners, plane=plane)
    assert refcounts(x, plane) == before
    outputs = _core.batch_norm_forward(x, 1e-5, relu=True, plane=plane)
    assert [sys.getrefcount(out) for out in outputs] == [3] * 6
