"""Slow, obviously-correct references for gcnn's layers, from docs/design.md, §3 Layers.

Loops over every index of the formulas, with ``scipy.signal.correlate2d`` for ``corr`` and an
independent ``np.rot90``/``np.flip`` for ``T_g``; the group law (``g^-1 h``) comes from the
geometry of the transforms, not from gcnn.  Everything is computed in float64.

    lift:       out[n, o, g] = sum_c corr(x[n, c], T_g(weight[o, c])) + bias[o]
    group_conv: out[n, o, g] = sum_{c, h} corr(x[n, c, h], T_g(weight[o, c, g^-1 h])) + bias[o]

``corr(a, k)`` is the 'valid' correlation of ``a`` zero-padded by ``padding`` on every side,
sampled every ``stride`` pixels.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.signal import correlate2d

ORDERS = {"p4": 4, "p4m": 8}


def transform_image(a: np.ndarray, g: int) -> np.ndarray:
    """T_g on the last two axes: mirror (flip the last axis) if g >= 4, then g % 4 quarter turns."""
    mirror, turns = divmod(g, 4)
    if mirror:
        a = np.flip(a, -1)
    return np.rot90(a, turns, axes=(-2, -1))


@functools.cache
def compose(a: int, b: int) -> int:
    """The element c with T_c == T_a o T_b, found from what the maps do to an asymmetric image."""
    probe = np.arange(9).reshape(3, 3)
    target = transform_image(transform_image(probe, b), a)
    return next(c for c in range(8) if np.array_equal(transform_image(probe, c), target))


@functools.cache
def inverse(a: int) -> int:
    return next(b for b in range(8) if compose(a, b) == 0)


def transform_features(F: np.ndarray, g: int, order: int) -> np.ndarray:
    """(L_g F)[h] = T_g(F[g^-1 h]) on axis -3."""
    g_inverse = inverse(g)
    planes = [transform_image(F[..., compose(g_inverse, h), :, :], g) for h in range(order)]
    return np.stack(planes, axis=-3)


def _pair(value):
    return (value, value) if np.isscalar(value) else tuple(value)


def _padding(padding, k):
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (k - 1) // 2, (k - 1) // 2
    return _pair(padding)


def corr(a: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """Correlation of a 2-D array with a 2-D kernel over zero padding, sampled every stride."""
    sh, sw = _pair(stride)
    ph, pw = padding
    padded = np.pad(np.asarray(a, dtype=np.float64), ((ph, ph), (pw, pw)))
    full = correlate2d(padded, np.asarray(kernel, dtype=np.float64), mode="valid")
    return full[::sh, ::sw]


def lift(x, weight, bias=None, *, group="p4", stride=1, padding=0) -> np.ndarray:
    """Reference lift: x (N, C_in, H, W), weight (C_out, C_in, k, k) -> (N, C_out, |G|, H', W')."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    order = ORDERS[group]
    pads = _padding(padding, weight.shape[-1])
    rows = []
    for n in range(x.shape[0]):
        per_out = []
        for o in range(weight.shape[0]):
            per_g = []
            for g in range(order):
                total = 0.0
                for c in range(x.shape[1]):
                    total = total + corr(x[n, c], transform_image(weight[o, c], g), stride, pads)
                if bias is not None:
                    total = total + float(bias[o])
                per_g.append(total)
            per_out.append(per_g)
        rows.append(per_out)
    return np.array(rows, dtype=np.float64)


def group_conv(x, weight, bias=None, *, group="p4", stride=1, padding=0) -> np.ndarray:
    """Reference group convolution: x (N, C_in, |G|, H, W), weight (C_out, C_in, |G|, k, k)."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    order = ORDERS[group]
    pads = _padding(padding, weight.shape[-1])
    rows = []
    for n in range(x.shape[0]):
        per_out = []
        for o in range(weight.shape[0]):
            per_g = []
            for g in range(order):
                g_inverse = inverse(g)
                total = 0.0
                for c in range(x.shape[1]):
                    for h in range(order):
                        kernel = transform_image(weight[o, c, compose(g_inverse, h)], g)
                        total = total + corr(x[n, c, h], kernel, stride, pads)
                if bias is not None:
                    total = total + float(bias[o])
                per_g.append(total)
            per_out.append(per_g)
        rows.append(per_out)
    return np.array(rows, dtype=np.float64)


def group_pool(x, reduce="max") -> np.ndarray:
    """Reduce axis -3 one plane at a time."""
    x = np.asarray(x, dtype=np.float64)
    planes = [x[..., h, :, :] for h in range(x.shape[-3])]
    out = planes[0].copy()
    for plane in planes[1:]:
        out = np.maximum(out, plane) if reduce == "max" else out + plane
    return out / len(planes) if reduce == "mean" else out


def spatial_pool(x, kernel_size, stride=None, padding=0, reduce="max") -> np.ndarray:
    """PyTorch max_pool2d / avg_pool2d(count_include_pad=True) by explicit window loops."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(kernel_size if stride is None else stride)
    ph, pw = _pair(padding)
    height, width = x.shape[-2:]
    out_h = (height + 2 * ph - kh) // sh + 1
    out_w = (width + 2 * pw - kw) // sw + 1
    out = np.empty(x.shape[:-2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh - ph, j * sw - pw
            # The part of the window inside the image; the rest is padding.
            rows = slice(max(top, 0), min(top + kh, height))
            cols = slice(max(left, 0), min(left + kw, width))
            window = x[..., rows, cols]
            if reduce == "max":
                out[..., i, j] = window.max(axis=(-2, -1))
            else:
                out[..., i, j] = window.sum(axis=(-2, -1)) / (kh * kw)
    return out
