"""Cubic B-spline rotation of images about their centre, in NumPy.

Used where a turn does not move pixels onto pixels (docs/design.md, §2.6 Turns that are not
quarter turns): :meth:`gcnn.groups.PointGroup.transform_image` for the elements of ``cN`` and
``dN`` whose angle is not a multiple of 90 degrees.  The interpolation is the one of
``scipy.ndimage.map_coordinates(..., order=3, mode="mirror")`` (B-spline coefficients with
mirror boundaries, then the 4 x 4 cubic B-spline taps), except that a point whose source lies
outside the image reads 0: the corners that a turn brings in from outside are empty.
"""

from __future__ import annotations

import math

import numpy as np

# The pole of the cubic B-spline's inverse filter (Unser 1999).
_POLE = math.sqrt(3.0) - 2.0


def _spline_coefficients_along(values: np.ndarray, axis: int) -> np.ndarray:
    """Cubic B-spline coefficients along `axis` with mirror boundaries (float64, a new array)."""
    data = np.moveaxis(np.array(values, dtype=np.float64, copy=True), axis, 0)
    length = data.shape[0]
    if length == 1:
        return np.moveaxis(data, 0, axis)
    z = _POLE
    data *= (1.0 - z) * (1.0 - 1.0 / z)
    # Causal initial value for the mirror-symmetric extension, summed over the whole period.
    powers = z ** np.arange(length)
    mirrored = z ** (2 * (length - 1) - np.arange(length))
    total = np.tensordot(powers[1:-1] + mirrored[1:-1], data[1:-1], axes=1) if length > 2 else 0
    total = total + data[0] + z ** (length - 1) * data[-1]
    data[0] = total / (1.0 - z ** (2 * (length - 1)))
    for index in range(1, length):
        data[index] += z * data[index - 1]
    data[-1] = (z / (z * z - 1.0)) * (z * data[-2] + data[-1])
    for index in range(length - 2, -1, -1):
        data[index] = z * (data[index + 1] - data[index])
    return np.moveaxis(data, 0, axis)


def _mirror_index(index: np.ndarray, length: int) -> np.ndarray:
    """Indices reflected into range(length) about the first and last sample (mirror mode)."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * (length - 1)
    index = np.mod(index, period)
    return np.where(index >= length, period - index, index)


def _cubic_weights(fraction: np.ndarray) -> list[np.ndarray]:
    """The four cubic B-spline weights of the taps at floor - 1 ... floor + 2."""
    t = fraction
    u = 1.0 - t
    return [u**3 / 6.0, 2.0 / 3.0 - t * t + t**3 / 2.0, 2.0 / 3.0 - u * u + u**3 / 2.0, t**3 / 6.0]


def rotate(values: np.ndarray, theta: float) -> np.ndarray:
    """Turn the last two axes of a real float array by `theta` radians (float64 result).

    Counter-clockwise as displayed with row 0 at the top (the sense of ``np.rot90``), about
    ``((H - 1) / 2, (W - 1) / 2)``; the shape is kept.  Output pixel ``(i, j)`` reads the input
    at ``y = cy + cos(t) (i - cy) + sin(t) (j - cx)``, ``x = cx - sin(t) (i - cy) + cos(t)
    (j - cx)`` by cubic B-spline interpolation, and 0 where that point is outside
    ``[0, H - 1] x [0, W - 1]`` (more than a rounding error away).
    """
    height, width = values.shape[-2:]
    coefficients = _spline_coefficients_along(values, -2)
    coefficients = _spline_coefficients_along(coefficients, -1)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    offset_y = np.arange(height)[:, None] - centre_y
    offset_x = np.arange(width)[None, :] - centre_x
    source_y = centre_y + cos_t * offset_y + sin_t * offset_x
    source_x = centre_x - sin_t * offset_y + cos_t * offset_x
    slack = 1e-9 * max(height, width)
    inside = (
        (source_y >= -slack)
        & (source_y <= height - 1 + slack)
        & (source_x >= -slack)
        & (source_x <= width - 1 + slack)
    )
    floor_y, floor_x = np.floor(source_y), np.floor(source_x)
    weights_y = _cubic_weights(source_y - floor_y)
    weights_x = _cubic_weights(source_x - floor_x)
    base_y, base_x = floor_y.astype(np.intp), floor_x.astype(np.intp)
    out = np.zeros(values.shape[:-2] + (height, width), dtype=np.float64)
    for tap_y in range(4):
        rows = _mirror_index(base_y + tap_y - 1, height)
        for tap_x in range(4):
            columns = _mirror_index(base_x + tap_x - 1, width)
            out += coefficients[..., rows, columns] * (weights_y[tap_y] * weights_x[tap_x])
    out *= inside
    return out
