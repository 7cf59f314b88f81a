"""The C kernels behind batch normalisation and max pooling, called directly (gcnn._core).

The layers in gcnn.nn are tested against PyTorch and finite differences; these tests pin the
kernels themselves: NumPy references, any thread count giving the same bits, and the glue's
errors for what the layers never pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import _core


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_moments_affine_and_backward_match_numpy(dtype, tolerance):
    rng = np.random.default_rng(0)
    x = (5 + rng.standard_normal((6, 5, 123))).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    sums = _core.channel_sums(x)
    assert sums.dtype == np.float64 and sums.shape == (5,)
    np.testing.assert_allclose(sums, x.astype(np.float64).sum(axis=(0, 2)), rtol=tolerance)
    mean, var = _core.channel_moments(x)
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=tolerance)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2)), rtol=10 * tolerance)

    scale, shift = rng.standard_normal(5), rng.standard_normal(5)
    out = _core.channel_affine(x, scale, shift)
    assert out.dtype == dtype
    expected = x * scale.astype(dtype)[:, None] + shift.astype(dtype)[:, None]
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance)

    inv_std = 1 / np.sqrt(var + 1e-5)
    weight = rng.standard_normal(5).astype(dtype)
    grad_x, grad_w, grad_b = _core.batch_norm_backward(g, x, mean, inv_std, weight)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    xhat = (x64 - mean[:, None]) * inv_std[:, None]
    count = x.shape[0] * x.shape[2]
    want_b = g64.sum(axis=(0, 2))
    want_w = (g64 * xhat).sum(axis=(0, 2))
    want_x = (
        weight[:, None]
        * inv_std[:, None]
        * (g64 - want_b[:, None] / count - xhat * want_w[:, None] / count)
    )
    np.testing.assert_allclose(grad_b, want_b, rtol=10 * tolerance, atol=tolerance * count)
    np.testing.assert_allclose(grad_w, want_w, rtol=10 * tolerance, atol=tolerance * count)
    np.testing.assert_allclose(grad_x, want_x, rtol=100 * tolerance, atol=100 * tolerance)


def test_moments_stay_accurate_when_the_runs_start_far_from_the_mean():
    # The one-pass variance is shifted by the mean of each run's first values; here those are
    # outliers, far from the mean in standard deviations, and a second pass must take over.
    rng = np.random.default_rng(4)
    x = (3 * rng.standard_normal((8, 3, 20000)) + 1).astype(np.float32)
    x[:, :, :16] = 10000.0
    mean, var = _core.channel_moments(x, 2)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=1e-6)


@pytest.mark.parametrize("simd", [1, 2, 3])  # generic, avx2, avx512 (else a fallback)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_through_a_relu_mask_is_the_backward_of_the_masked_gradient(simd, dtype):
    # The mask's bytes are widened to lanes in the vector loop (16, 8 or 4 bytes per vector
    # by path and dtype): a lane read from the wrong byte would pass or drop the wrong value.
    # 203 values per run leave a tail after every vector width.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 203)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    positive = (rng.random(x.shape) < 0.5).astype(np.uint8)
    mean, var = _core.channel_moments(x)
    inv_std = 1 / np.sqrt(var + 1e-5)
    weight = rng.standard_normal(4).astype(dtype)
    masked = np.where(positive != 0, g, 0).astype(dtype)
    fused = _core.batch_norm_backward(g, x, mean, inv_std, weight, 2, simd, positive=positive)
    apart = _core.batch_norm_backward(masked, x, mean, inv_std, weight, 2, simd)
    for a, b in zip(fused, apart):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("simd", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_forward_is_moments_then_the_affine_map(simd, dtype, affine):
    # One call, a channel at a time: the numbers of channel_moments, the scale and shift
    # computed in NumPy as gcnn.nn did before, and channel_affine (with and without ReLU).
    rng = np.random.default_rng(6)
    x = (2 + 3 * rng.standard_normal((5, 32, 203))).astype(dtype)
    weight = rng.standard_normal(32).astype(np.float32) if affine else None
    bias = rng.standard_normal(32).astype(np.float32) if affine else None
    mean, var = _core.channel_moments(x, 2, simd)
    inv_std = 1.0 / np.sqrt(var + 1e-5)
    scale = inv_std * weight if affine else inv_std
    shift = -mean * scale
    if affine:
        shift += bias
    for relu in (False, True):
        got = _core.batch_norm_forward(x, 1e-5, weight, bias, 2, simd, relu=relu)
        want = _core.channel_affine(x, scale, shift, 2, simd, relu=relu)
        want = (want,) if not relu else want
        assert len(got) == len(want) + 3
        for a, b in zip(got, tuple(want) + (mean, var, inv_std)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_batch_norm_forward_errors():
    x = np.ones((2, 3, 5))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        _core.batch_norm_forward(x, 1e-5, np.ones(2))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        _core.batch_norm_forward(x, 1e-5, np.ones(3), np.ones(4))
    with pytest.raises(TypeError):
        _core.batch_norm_forward(x, "eps")


@pytest.mark.parametrize("simd", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("plane", [(6, 8), (7, 5)])
def test_batch_norm_with_a_2x2_max_pool_is_the_two_apart(simd, dtype, plane):
    # Forward: the batch norm and ReLU, then max_pool on every plane of the map; backward:
    # max_pool_backward, then the batch-norm backward through the mask. The same bits.
    rng = np.random.default_rng(9)
    h, w = plane
    x = rng.standard_normal((3, 4, 2 * h * w)).astype(dtype)
    weight, bias = rng.standard_normal(4), rng.standard_normal(4)
    out, positive, mean, var, inv_std = _core.batch_norm_forward(
        x, 1e-5, weight, bias, 2, simd, relu=True
    )
    planes = out.reshape(-1, h, w)
    pooled, winners = _core.max_pool(planes, (2, 2), (2, 2), (0, 0), 2)
    got = _core.batch_norm_forward(x, 1e-5, weight, bias, 2, simd, relu=True, plane=plane)
    want = (pooled.reshape(3, 4, -1), positive, winners.reshape(3, 4, -1), mean, var, inv_std)
    assert len(got) == 6
    for a, b in zip(got, want):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)

    g = rng.standard_normal(want[0].shape).astype(dtype)
    spread = _core.max_pool_backward(
        g.reshape(pooled.shape), winners, (h, w), (2, 2), (2, 2), (0, 0), 2
    ).reshape(x.shape)
    apart = _core.batch_norm_backward(
        spread, x, mean, inv_std, weight, 2, simd, positive=positive, sums=True
    )
    fused = _core.batch_norm_backward(
        g,
        x,
        mean,
        inv_std,
        weight,
        2,
        simd,
        positive=positive,
        sums=True,
        pool_index=want[2],
        plane=plane,
    )
    for a, b in zip(fused, apart):
        np.testing.assert_array_equal(a, b)


def test_pooled_batch_norm_errors():
    x = np.ones((2, 3, 2 * 4 * 6))
    g, index = np.ones((2, 3, 2 * 2 * 3)), np.zeros((2, 3, 2 * 2 * 3), np.int32)
    mean, inv_std = np.zeros(3), np.ones(3)
    for plane, error in [((5, 6), ValueError), ((1, 48), ValueError), ((4,), TypeError)]:
        with pytest.raises(error, match="plane must"):
            _core.batch_norm_forward(x, 1e-5, plane=plane)
        with pytest.raises(error, match="plane must"):
            _core.batch_norm_backward(g, x, mean, inv_std, pool_index=index, plane=plane)
    with pytest.raises(TypeError, match="pool_index and plane must be given together"):
        _core.batch_norm_backward(g, x, mean, inv_std, pool_index=index)
    with pytest.raises(TypeError, match="pool_index must be an int32"):
        _core.batch_norm_backward(g, x, mean, inv_std, pool_index=index + 0.0, plane=(4, 6))
    with pytest.raises(ValueError, match="pooled shape of x"):
        _core.batch_norm_backward(g[:, :, 1:], x, mean, inv_std, pool_index=index, plane=(4, 6))
    bad = index.copy()
    bad[0, 0, 0] = 24  # not a position of a 4 x 6 plane
    with pytest.raises(ValueError):
        _core.batch_norm_backward(g, x, mean, inv_std, pool_index=bad, plane=(4, 6))


def test_results_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 10, 4 * 26 * 26)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    one = _core.channel_moments(x, 1)
    two = _core.channel_moments(x, 2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_core.channel_sums(x, 1), _core.channel_sums(x, 2))
    # the sums are the moments' first pass: mean = sum / count, bit for bit
    np.testing.assert_array_equal(_core.channel_sums(x, 2) / (x.shape[0] * x.shape[2]), one[0])
    inv_std = 1 / np.sqrt(one[1] + 1e-5)
    for a, b in zip(
        _core.batch_norm_backward(g, x, one[0], inv_std, None, 1),
        _core.batch_norm_backward(g, x, one[0], inv_std, None, 2),
    ):
        np.testing.assert_array_equal(a, b)
    planes = x.reshape(-1, 52, 52)
    for a, b in zip(
        _core.max_pool(planes, (2, 2), (2, 2), (0, 0), 1),
        _core.max_pool(planes, (2, 2), (2, 2), (0, 0), 2),
    ):
        np.testing.assert_array_equal(a, b)


def test_max_pool_matches_numpy_and_routes_gradients_to_winners():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, (3, 6, 7)).astype(np.float64)  # many ties
    out, index = _core.max_pool(x, (2, 3), (2, 2), (1, 1))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2, 3), axis=(1, 2))[:, ::2, ::2]
    np.testing.assert_array_equal(out, windows.max(axis=(-2, -1)))
    # the winner is the first maximum in row-major window order
    flat = windows.reshape(*windows.shape[:3], -1)
    first = flat.argmax(axis=-1)
    ky, kx = np.divmod(first, 3)
    rows = np.arange(out.shape[1])[:, None] * 2 - 1 + ky
    cols = np.arange(out.shape[2])[None, :] * 2 - 1 + kx
    np.testing.assert_array_equal(index, rows * 7 + cols)
    grad = rng.standard_normal(out.shape)
    grad_x = _core.max_pool_backward(grad, index, (6, 7), (2, 3), (2, 2), (1, 1))
    expected = np.zeros_like(x)
    for p in range(3):
        np.add.at(expected[p].reshape(-1), index[p].reshape(-1), grad[p].reshape(-1))
    np.testing.assert_array_equal(grad_x, expected)


def _first_winner_pool_2x2(x):
    """The 2x2, stride-2 max pool by its rule, in Python: candidates in row-major window
    order, a later one wins when it is larger, or NaN while the best is not."""
    planes, height, width = x.shape
    out = np.empty((planes, height // 2, width // 2), x.dtype)
    index = np.empty(out.shape, np.int32)
    for p, i, j in np.ndindex(out.shape):
        best, at = None, None
        for y, xx in (
            (2 * i, 2 * j),
            (2 * i, 2 * j + 1),
            (2 * i + 1, 2 * j),
            (2 * i + 1, 2 * j + 1),
        ):
            v = x[p, y, xx]
            if best is None or (not np.isnan(best) and (v > best or np.isnan(v))):
                best, at = v, y * width + xx
        out[p, i, j], index[p, i, j] = best, at
    return out, index


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("height, width", [(2, 2), (5, 7), (8, 16), (9, 19), (24, 24), (3, 42)])
def test_max_pool_2x2_stride_2_ties_and_nans(dtype, height, width):
    """The C&W pooling has its own (for float32, vectorised) loop: same numbers and winners."""
    rng = np.random.default_rng(height * 100 + width)
    x = rng.integers(-2, 3, (4, height, width)).astype(dtype)  # many ties
    x[rng.random(x.shape) < 0.08] = np.nan
    x[0, 0, :2] = np.nan  # a window whose first two candidates are NaN
    out, index = _core.max_pool(x, (2, 2), (2, 2))
    want_out, want_index = _first_winner_pool_2x2(x)
    np.testing.assert_array_equal(out, want_out)  # NaN where NaN
    np.testing.assert_array_equal(index, want_index)


def test_max_pool_nan_wins_its_window():
    x = np.array([[[1.0, np.nan, 5.0, 2.0]]])
    out, index = _core.max_pool(x, (1, 2), (1, 2))
    assert np.isnan(out[0, 0, 0]) and index[0, 0, 0] == 1
    assert out[0, 0, 1] == 5.0 and index[0, 0, 1] == 2


def test_glue_errors():
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\)"):
        _core.channel_affine(x, np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="grad must have the dtype of x"):
        _core.batch_norm_backward(x.astype(np.float32), x, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="grad must have the shape of x"):
        _core.batch_norm_backward(np.ones((2, 3, 5)), x, np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match="positive must be a uint8 numpy.ndarray or None"):
        _core.batch_norm_backward(x, x, np.zeros(3), np.ones(3), positive=x > 0)
    with pytest.raises(ValueError, match="positive must have as many values as x"):
        _core.batch_norm_backward(x, x, np.zeros(3), np.ones(3), positive=np.ones(5, np.uint8))
    with pytest.raises(ValueError, match="x must be 3-D"):
        _core.channel_moments(np.ones((2, 3)))
    with pytest.raises(ValueError, match="x must be 3-D"):
        _core.channel_sums(np.ones((2, 3)))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        _core.channel_sums(np.ones((2, 3, 4), dtype=np.int64))
    with pytest.raises(ValueError):
        _core.channel_sums(np.ones((0, 3, 4)))
    with pytest.raises(ValueError, match="invalid pooling"):
        _core.max_pool(x, (2, 2), (1, 1), (2, 0))
    out, index = _core.max_pool(x, (2, 2), (2, 2))
    with pytest.raises(ValueError, match="outside the input planes"):
        _core.max_pool_backward(out, index + 100, (3, 4), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="grad and index must have shape"):
        _core.max_pool_backward(out, index[:1], (3, 4), (2, 2), (2, 2))
    with pytest.raises(ValueError, match=r"grad and index must have shape \(2, 2, 2\)"):
        _core.max_pool_backward(out, index, (5, 4), (2, 2), (2, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_its_gradient(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5, 7)).astype(dtype)
    x[0, 0, :4] = [np.nan, np.inf, -np.inf, 0.0]
    g = rng.standard_normal(x.shape).astype(dtype)
    g[1, 1, 1] = np.nan
    out, positive = _core.relu(x, 2)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(positive, (x > 0).astype(np.uint8))
    grad_x = _core.relu_backward(g, positive, 2)
    np.testing.assert_array_equal(grad_x, np.where(x > 0, g, 0))
    with pytest.raises(TypeError, match="x must be a float32 or float64"):
        _core.relu(x.astype(np.int64))
    with pytest.raises(ValueError, match="positive must have grad's shape"):
        _core.relu_backward(g, positive[:1])
