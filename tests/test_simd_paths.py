"""Does every SIMD path of the C core compute the formula? Generic, AVX2 and AVX-512 (an
unavailable one falls back) against the slow transcription in gcnn.reference, over random
shapes, strides, lopsided paddings and the three boundaries (docs/design.md, §9.1 One correlation
primitive)."""

from __future__ import annotations

import numpy as np
import pytest

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
