"""Seeded differential fuzzing: thousands of random calls of the public functions against the
slow references (scipy.signal, the tutorial's published code, the layer formulas written out
in loops), so that what the C core promises stays true as it changes.

Every case draws its sizes, dtype, boundary, mode, stride, padding and thread count from one
seeded generator; a failure prints the case's seed, so it can be replayed alone.
"""

from __future__ import annotations

import numpy as np
import pytest

import gcnn
from gcnn import reference

signal = pytest.importorskip("scipy.signal")

CASES = 1000  # per function family (half for the layers): about 3,000 calls in all
TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}


def assert_close(got, want, dtype, scale, seed):
    assert got.shape == want.shape, seed
    error = np.max(np.abs(got.astype(np.float64) - want), initial=0.0)
    assert error <= TOLERANCE[dtype] * max(scale, 1.0), f"seed {seed}: error {error}"


def draw_dtype(rng):
    return (np.float64, np.float32)[rng.integers(2)]


def with_threads(rng, function, *args, **keywords):
    """function(*args, **keywords) on 1 or 2 threads, as `rng` draws."""
    previous = gcnn.set_num_threads(int(rng.integers(1, 3)))
    try:
        return function(*args, **keywords)
    finally:
        gcnn.set_num_threads(previous)


def test_convolve_and_correlate_against_scipy():
    for seed in range(CASES):
        rng = np.random.default_rng(seed)
        dtype = draw_dtype(rng)
        boundary = ("fill", "wrap", "symm")[rng.integers(3)]
        mode = ("full", "same", "valid")[rng.integers(3)]
        a = rng.standard_normal((rng.integers(1, 12), rng.integers(1, 12))).astype(dtype)
        k = rng.standard_normal((rng.integers(1, 6), rng.integers(1, 6))).astype(dtype)
        fill = float(rng.standard_normal()) if boundary == "fill" else 0.0
        if mode == "valid" and not (
            (a.shape[0] >= k.shape[0] and a.shape[1] >= k.shape[1])
            or (a.shape[0] <= k.shape[0] and a.shape[1] <= k.shape[1])
        ):
            continue  # scipy refuses these too (neither holds the other)
        name = ("convolve2d", "correlate2d")[rng.integers(2)]
        want = getattr(signal, name)(
            a.astype(np.float64), k.astype(np.float64), mode, boundary, fill
        )
        got = with_threads(rng, getattr(gcnn, name), a, k, mode, boundary, fill)
        scale = np.abs(a).max() * np.abs(k).sum() + abs(fill) * np.abs(k).sum()
        assert_close(got, want, dtype, scale, seed)


def test_tutorial_functions_against_the_published_code():
    for seed in range(CASES):
        rng = np.random.default_rng(10_000 + seed)
        dtype = np.float64  # the published code computes in the input's dtype: compare in f64
        size = int(rng.integers(1, 12))
        k = int(rng.integers(1, 6))
        boundary = ("fill", "wrap", "symm")[rng.integers(3)]
        mode = ("full", "same", "valid")[rng.integers(3)]
        if mode == "valid" and size < k:
            continue
        kernel = rng.standard_normal((k, k))
        if rng.integers(2):
            image = rng.standard_normal((size, size))
            want = reference.lift_correlation(image, kernel, mode=mode, boundary=boundary)
            got = with_threads(
                rng, gcnn.lift_correlation, image, kernel, mode=mode, boundary=boundary
            )
            scale = np.abs(image).max() * np.abs(kernel).sum()
        else:
            features = rng.standard_normal((4, size, size))
            if mode != "same" and k > 1:
                continue  # the published code cannot hold a resized map in zeros_like(features)
            want = reference.p4_group_convolution(features, kernel, mode=mode, boundary=boundary)
            got = with_threads(
                rng, gcnn.p4_group_convolution, features, kernel, mode=mode, boundary=boundary
            )
            scale = 4 * np.abs(features).max() * np.abs(kernel).sum()
        assert_close(got, want, dtype, scale, seed)


def test_layers_against_the_formulas():
    for seed in range(CASES // 2):
        rng = np.random.default_rng(20_000 + seed)
        dtype = draw_dtype(rng)
        group = ("p4", "p4m")[rng.integers(2)]
        order = 4 if group == "p4" else 8
        k = int(rng.integers(1, 5))
        stride = int(rng.integers(1, 4))
        padding = int(rng.integers(0, k + 1))
        size = int(rng.integers(max(1, k - 2 * padding), 9))
        n, c_in, c_out = (int(v) for v in rng.integers(1, 3, size=3))
        bias = rng.standard_normal(c_out).astype(dtype)
        if rng.integers(2):
            x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
            w = rng.standard_normal((c_out, c_in, k, k)).astype(dtype)
            slow, function = reference.lift, gcnn.lift
        else:
            x = rng.standard_normal((n, c_in, order, size, size)).astype(dtype)
            w = rng.standard_normal((c_out, c_in, order, k, k)).astype(dtype)
            slow, function = reference.group_conv, gcnn.group_conv
        want = slow(x, w, bias, group=group, stride=stride, padding=padding)
        got = with_threads(rng, function, x, w, bias, group=group, stride=stride, padding=padding)
        scale = np.abs(x).max() * np.abs(w).reshape(c_out, -1).sum(axis=1).max() + 3
        assert_close(got, want, dtype, scale, seed)


def test_gradients_against_the_adjoint_identity():
    """<forward(x', w), g> == <x', grad_x> and likewise for w, on random small layers."""
    for seed in range(CASES // 2):
        rng = np.random.default_rng(30_000 + seed)
        kind = ("conv2d", "lift", "group")[rng.integers(3)]
        group = ("p4", "p4m")[rng.integers(2)]
        order = 4 if group == "p4" else 8
        k = int(rng.integers(1, 5))
        stride = int(rng.integers(1, 4))
        padding = int(rng.integers(0, k + 2))
        size = int(rng.integers(max(1, k - 2 * padding), 9))
        n, c_in, c_out = (int(v) for v in rng.integers(1, 3, size=3))
        shape = (n, c_in, size, size) if kind != "group" else (n, c_in, order, size, size)
        wshape = (c_out, c_in, k, k) if kind != "group" else (c_out, c_in, order, k, k)
        x, w = rng.standard_normal(shape), rng.standard_normal(wshape)
        keywords = {"stride": stride, "padding": padding}
        if kind == "conv2d":
            forward, backward = gcnn.conv2d, gcnn.conv2d_backward
        else:
            keywords["group"] = group
            forward = gcnn.lift if kind == "lift" else gcnn.group_conv
            backward = gcnn.lift_backward if kind == "lift" else gcnn.group_conv_backward
        g = rng.standard_normal(forward(x, w, **keywords).shape)
        grad_x, grad_w, _ = with_threads(rng, backward, g, x, w, **keywords)
        x_probe, w_probe = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
        for lhs, rhs in (
            (np.vdot(forward(x_probe, w, **keywords), g), np.vdot(x_probe, grad_x)),
            (np.vdot(forward(x, w_probe, **keywords), g), np.vdot(w_probe, grad_w)),
        ):
            assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs)), f"seed {seed}: {lhs} != {rhs}"
