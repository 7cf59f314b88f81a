"""The steerable view of p4 feature maps: Fourier series along the rotation axis.

After a p4 lifting layer every pixel carries a *fiber*, the four values ``F[..., :, y, x]`` at
the orientations 0, 90, 180 and 270 degrees. Section 5 of the tutorial reads that fiber as
samples of a periodic function of the angle, takes its Fourier coefficients with a DFT, and
notes that a rotation of the input becomes a cyclic shift of the fiber, i.e. a phase factor
on the coefficients (the shift theorem). Interpolating the fiber between the samples gives a
way to "rotate" a p4 feature map by any angle, exactly at multiples of 90 degrees and only
approximately in between; :func:`equivariance_gap` measures how approximately.

Conventions
-----------
A fiber of ``N`` samples ``f_n`` sits at the angles ``theta_n = 2*pi*n/N`` (for p4, ``N = 4``
and ``theta_n = n*pi/2``, the orientation index of docs/design.md, §2.1 Element indices).
Its coefficients are defined by ::

    f_n = sum_{k=0}^{N-1} c_k exp(i*k*theta_n),     so     c = np.fft.fft(f) / N.

Between the samples the fiber is continued by the lowest-frequency trigonometric polynomial
through them: frequency ``k`` is read as ``k - N`` when ``k > N/2``, and for even ``N`` the
Nyquist term ``c_{N/2}`` contributes ``c_{N/2} cos(N*theta/2)``, its real, symmetric form.
The interpolant is therefore real for a real fiber and reproduces the samples exactly.

The same view holds for the finer groups ``cN`` and ``dN`` (docs/design.md, §3.8 Fibers over
the orientations): :func:`steer_features` turns their feature maps by any angle, and
:func:`steering_error` measures, angle by angle, how far a network is from that prediction;
``gcnn.nn.FiberInterpolation`` is the interpolation as a layer.

Everything here is pure NumPy (no SciPy at run time). Real input only: bool and integer arrays
are computed as float64, float16 as float32; float32 results stay float32.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from . import _spline
from .groups import GroupLike, PointGroup, get_group

__all__ = [
    "equivariance_gap",
    "fiber_coefficients",
    "interpolate_fiber",
    "interpolation_matrix",
    "rotate_features",
    "rotate_image",
    "shift_theorem_phase",
    "steer_features",
    "steering_error",
    "turn_image",
]

# p4 has four orientations; a rotation by theta moves a fiber by theta / (pi/2) bins.
_P4_ORIENTATIONS = 4
_QUARTER_TURN = math.pi / 2

# Angles closer than this (in units of quarter turns) to a multiple of pi/2 are treated as exact
# quarter turns, so that e.g. 3 * np.pi / 2 is not mistaken for a slightly-off angle.
_QUARTER_TURN_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- validation helpers


def _as_real_array(value: object, argument: str) -> np.ndarray:
    """Return ``value`` as a float32/float64 array, or raise TypeError naming ``argument``."""
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind in "bui":
        return array.astype(np.float64)
    if kind == "f":
        # float16 computes as float32, wider-than-double as double (docs/design.md, §5.1 Dtypes).
        if array.dtype.itemsize <= 4:
            return array.astype(np.float32)
        return array.astype(np.float64)
    raise TypeError(f"{argument} must be a real (bool, integer or float) array, got {array.dtype}")


def _result_dtype(array: np.ndarray) -> type:
    return np.float32 if array.dtype == np.float32 else np.float64


def _as_real_scalar(value: object, argument: str) -> float:
    """Return ``value`` as a finite Python float, or raise naming ``argument``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument} must be a real number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{argument} must be finite, got {result}")
    return result


def _normalize_axis(axis: object, ndim: int) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {int(axis)} is out of bounds for an array of dimension {ndim}")
    return int(axis) % ndim


def _fiber_array(F: object, axis: object) -> tuple[np.ndarray, int]:
    """Validate a real array with a non-empty fiber axis; return it and the axis as 0..ndim-1."""
    array = _as_real_array(F, "F")
    if array.ndim == 0:
        raise ValueError("F must have at least one dimension (the fiber axis), got shape ()")
    fiber_axis = _normalize_axis(axis, array.ndim)
    if array.shape[fiber_axis] == 0:
        raise ValueError(f"F must have a non-empty fiber axis {axis}, got shape {array.shape}")
    return array, fiber_axis


def _check_p4_features(F: object) -> np.ndarray:
    array = _as_real_array(F, "F")
    if array.ndim < 3 or array.shape[-3] != _P4_ORIENTATIONS:
        raise ValueError(f"F must have shape (..., 4, H, W) (p4 feature maps), got {array.shape}")
    return array


def _quarter_turns(theta: float) -> int | None:
    """Return r in 0..3 if ``theta`` is (numerically) r quarter turns mod 4, else None."""
    turns = theta / _QUARTER_TURN
    nearest = round(turns)
    if abs(turns - nearest) <= _QUARTER_TURN_TOLERANCE:
        return nearest % 4
    return None


def _signed_frequencies(n_bins: int) -> np.ndarray:
    """Frequencies 0, 1, ..., -1 of the DFT bins; for even N the Nyquist bin keeps +N/2."""
    frequencies = np.arange(n_bins)
    return np.where(2 * frequencies > n_bins, frequencies - n_bins, frequencies)


# --------------------------------------------------------------------------- Fourier view of fibers


def fiber_coefficients(F: ArrayLike, axis: int = -3) -> np.ndarray:
    """Return the Fourier coefficients of the fibers of ``F`` along ``axis``.

    Parameters
    ----------
    F : array_like, real, shape (..., N, ...)
        Fibers of ``N`` samples at angles ``theta_n = 2*pi*n/N`` along ``axis``; for p4 feature
        maps ``(..., 4, H, W)`` that is the default ``axis=-3``.
    axis : int, optional
        The fiber (rotation) axis. Default -3.

    Returns
    -------
    numpy.ndarray, complex, same shape as ``F``
        ``c`` with ``f_n = sum_k c_k exp(i*k*theta_n)``, i.e. ``np.fft.fft(F, axis=axis) / N``.
        complex64 for float32 input, complex128 otherwise.

    Raises
    ------
    TypeError
        If ``F`` is not real (complex, object, string) or ``axis`` is not an integer.
    ValueError
        If ``F`` is 0-d, ``axis`` is out of bounds or the fiber axis is empty.

    Notes
    -----
    ``c_0`` is the mean of the fiber. For a real fiber ``c_{N-k} = conj(c_k)``, and for even
    ``N`` the Nyquist coefficient ``c_{N/2}`` is real. A cyclic shift of the fiber multiplies
    the coefficients by :func:`shift_theorem_phase`.

    Examples
    --------
    >>> fiber = np.array([1.0, 0.0, -1.0, 0.0])  # cos(theta) sampled at 0, 90, 180, 270 deg
    >>> np.round(fiber_coefficients(fiber, axis=0), 12).real
    array([0. , 0.5, 0. , 0.5])
    """
    array, fiber_axis = _fiber_array(F, axis)
    n_bins = array.shape[fiber_axis]
    coefficients = np.fft.fft(array.astype(np.float64), axis=fiber_axis) / n_bins
    complex_dtype = np.complex64 if array.dtype == np.float32 else np.complex128
    return coefficients.astype(complex_dtype, copy=False)


def shift_theorem_phase(n_bins: int, shift: float) -> np.ndarray:
    """Return the factors that shift fibers of ``n_bins`` samples by ``shift`` bins.

    Parameters
    ----------
    n_bins : int
        Number of samples ``N`` in a fiber (4 for p4), at least 1.
    shift : float
        Shift in bins, in the sense of ``np.roll``: the value at bin ``n`` moves to
        ``n + shift``. May be fractional or negative.

    Returns
    -------
    numpy.ndarray of complex128, shape (n_bins,)
        ``phase`` with ``fiber_coefficients(np.roll(f, shift)) == phase * fiber_coefficients(f)``
        for integer ``shift``.

    Raises
    ------
    TypeError
        If ``n_bins`` is not an integer or ``shift`` is not a real number.
    ValueError
        If ``n_bins < 1`` or ``shift`` is not finite.

    Notes
    -----
    With ``c = fft(f) / N`` (see :func:`fiber_coefficients`), ``np.roll(f, s)[n] = f[n - s]``
    has coefficients ``exp(-2j*pi*k*s/N) * c_k``. For integer ``s`` that is exactly the value
    returned, for ``k = 0..N-1``.

    For fractional ``s`` the phase is taken at the signed frequency (``k - N`` for ``k > N/2``)
    and, for even ``N``, the Nyquist factor is ``cos(pi*s)``. Multiplying and transforming back
    then gives the samples of the trigonometric interpolant (:func:`interpolate_fiber`) moved by
    ``s`` bins, ``f(theta_n - 2*pi*s/N)``, which is real for a real fiber. For integer ``s`` both
    readings coincide.

    Examples
    --------
    >>> fiber = np.array([3.0, 1.0, 4.0, 1.0])
    >>> phase = shift_theorem_phase(4, 1)
    >>> np.allclose(phase * fiber_coefficients(fiber, axis=0),
    ...             fiber_coefficients(np.roll(fiber, 1), axis=0))
    True
    """
    if isinstance(n_bins, (bool, np.bool_)) or not isinstance(n_bins, (int, np.integer)):
        raise TypeError(f"n_bins must be an integer, got {type(n_bins).__name__}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    n_bins = int(n_bins)
    shift = _as_real_scalar(shift, "shift")
    phase = np.exp(-2j * np.pi * _signed_frequencies(n_bins) * shift / n_bins)
    if n_bins % 2 == 0:
        # The interpolant carries the Nyquist term as cos(N*theta/2); shifted by s bins and
        # sampled at the grid it becomes cos(pi*s) * cos(N*theta_n/2), a real factor.
        phase[n_bins // 2] = math.cos(math.pi * shift)
    return phase


def interpolate_fiber(
    F: ArrayLike,
    theta: ArrayLike,
    axis: int = -3,
) -> np.ndarray:
    """Evaluate the trigonometric interpolant of each fiber at angle(s) ``theta``.

    Parameters
    ----------
    F : array_like, real, shape (..., N, ...)
        Fibers of ``N`` samples at ``theta_n = 2*pi*n/N`` along ``axis``.
    theta : float or array_like of float, shape () or (M,)
        Angle(s) in radians; any real values (the interpolant has period ``2*pi``).
    axis : int, optional
        The fiber axis. Default -3 (p4 feature maps ``(..., 4, H, W)``).

    Returns
    -------
    numpy.ndarray, real
        For a scalar ``theta`` the fiber axis is removed; for ``theta`` of shape ``(M,)`` it is
        replaced by an axis of length ``M``. float32 for float32 input, float64 otherwise.

    Raises
    ------
    TypeError
        If ``F`` or ``theta`` is not real, or ``axis`` is not an integer.
    ValueError
        If ``theta`` has more than one dimension or non-finite values, ``F`` is 0-d, ``axis``
        is out of bounds or the fiber axis is empty.

    Notes
    -----
    With ``c = fiber_coefficients(F)``, the value at ``theta`` is ::

        sum_{|k| < N/2} c_k exp(i*k*theta)  [+ c_{N/2} cos(N*theta/2) if N is even]

    where ``c_{-k} = c_{N-k}``. This is the real trigonometric polynomial of lowest degree
    through the samples: it equals ``F`` exactly (up to rounding) at ``theta = theta_n`` and
    reproduces any fiber sampled from ``cos(k*theta + phi)`` with ``k < N/2`` (or
    ``cos(N*theta/2)``) at every angle.

    Examples
    --------
    >>> fiber = np.cos(np.arange(4) * np.pi / 2)  # cos(theta) at 0, 90, 180, 270 degrees
    >>> np.round(interpolate_fiber(fiber, [np.pi / 4, np.pi / 3], axis=0), 12)
    array([0.70710678, 0.5       ])
    """
    array, fiber_axis = _fiber_array(F, axis)
    angles = np.asarray(theta)
    if angles.dtype.kind not in "buif":
        raise TypeError(f"theta must be a real angle or 1-D array of angles, got {angles.dtype}")
    if angles.ndim > 1:
        raise ValueError(f"theta must be a scalar or 1-D, got shape {angles.shape}")
    angles = angles.astype(np.float64)
    if not np.all(np.isfinite(angles)):
        raise ValueError("theta must be finite")

    n_bins = array.shape[fiber_axis]
    frequencies = _signed_frequencies(n_bins)
    # basis[m, k]: the k-th Fourier mode evaluated at the m-th requested angle.
    basis = np.exp(1j * np.outer(np.atleast_1d(angles), frequencies))
    if n_bins % 2 == 0:
        basis[:, n_bins // 2] = np.cos(n_bins / 2 * np.atleast_1d(angles))

    fibers_last = np.moveaxis(array.astype(np.float64), fiber_axis, -1)
    coefficients = np.fft.fft(fibers_last, axis=-1) / n_bins
    # The imaginary part cancels between k and -k for a real fiber; only rounding is dropped.
    values = (coefficients @ basis.T).real
    if angles.ndim == 0:
        values = values[..., 0]
    else:
        values = np.moveaxis(values, -1, fiber_axis)
    return values.astype(_result_dtype(array), copy=False)


def _shift_fibers(array: np.ndarray, shift: float, axis: int) -> np.ndarray:
    """Shift real fibers along ``axis`` by ``shift`` (possibly fractional) bins, via the DFT."""
    n_bins = array.shape[axis]
    phase_shape = [1] * array.ndim
    phase_shape[axis] = n_bins
    phase = shift_theorem_phase(n_bins, shift).reshape(phase_shape)
    spectrum = np.fft.fft(array.astype(np.float64), axis=axis)
    # The phase is Hermitian-symmetric, so the shifted fibers are real up to rounding.
    return np.fft.ifft(spectrum * phase, axis=axis).real


# --------------------------------------------------------------------------- rotations


def rotate_image(image: ArrayLike, theta: float) -> np.ndarray:
    """Rotate the last two axes of ``image`` by ``theta`` radians about the centre (bilinear).

    Parameters
    ----------
    image : array_like, real, shape (..., H, W)
        Image(s); leading axes are carried along.
    theta : float
        Angle in radians, counter-clockwise as displayed with row 0 at the top, the sense of
        ``np.rot90``: ``rotate_image(x, np.pi / 2)`` equals ``np.rot90(x)`` for square ``x``.

    Returns
    -------
    numpy.ndarray, shape (..., H, W)
        A new array; float32 for float32 input, float64 otherwise. The output grid is the input
        grid: corners that come from outside the image are zero.

    Raises
    ------
    TypeError
        If ``image`` or ``theta`` is not real.
    ValueError
        If ``image`` has fewer than two dimensions or ``theta`` is not finite.

    Notes
    -----
    Output pixel ``(y, x)`` takes the bilinear interpolation of the input, zero-padded, at ::

        y_src = cy + cos(theta) * (y - cy) + sin(theta) * (x - cx)
        x_src = cx - sin(theta) * (y - cy) + cos(theta) * (x - cx)

    with ``(cy, cx) = ((H - 1) / 2, (W - 1) / 2)``. Angles within ``1e-9`` quarter turns of a
    multiple of ``pi/2`` use exact cosines and sines (0, 1, -1); on square images they return
    ``np.rot90`` exactly. Elsewhere bilinear interpolation smooths the image a little.

    Examples
    --------
    >>> image = np.arange(9.0).reshape(3, 3)
    >>> np.array_equal(rotate_image(image, np.pi / 2), np.rot90(image))
    True
    >>> float(rotate_image(np.ones((3, 3)), np.pi / 4)[1, 1])  # the centre stays put
    1.0
    """
    array = _as_real_array(image, "image")
    if array.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions (..., H, W), got {array.shape}")
    theta = _as_real_scalar(theta, "theta")
    height, width = array.shape[-2:]

    quarter_turns = _quarter_turns(theta)
    if quarter_turns is not None and height == width:
        return np.array(np.rot90(array, quarter_turns, axes=(-2, -1)), order="C", copy=True)
    if quarter_turns is not None:
        cos_theta, sin_theta = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[quarter_turns]
    else:
        cos_theta, sin_theta = math.cos(theta), math.sin(theta)

    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    offset_y = np.arange(height)[:, None] - centre_y
    offset_x = np.arange(width)[None, :] - centre_x
    source_y = centre_y + cos_theta * offset_y + sin_theta * offset_x
    source_x = centre_x - sin_theta * offset_y + cos_theta * offset_x

    floor_y = np.floor(source_y)
    floor_x = np.floor(source_x)
    weight_y = source_y - floor_y  # weight of the lower neighbour row floor_y + 1
    weight_x = source_x - floor_x

    # One ring of zeros around the image is the "outside". Padded index p is image index p - 1;
    # clipping into the ring sends every out-of-image neighbour to a zero.
    padding = [(0, 0)] * (array.ndim - 2) + [(1, 1), (1, 1)]
    padded = np.pad(array.astype(np.float64), padding)
    top = np.clip(floor_y.astype(np.intp) + 1, 0, height + 1)
    bottom = np.clip(floor_y.astype(np.intp) + 2, 0, height + 1)
    left = np.clip(floor_x.astype(np.intp) + 1, 0, width + 1)
    right = np.clip(floor_x.astype(np.intp) + 2, 0, width + 1)

    rotated = (
        padded[..., top, left] * ((1 - weight_y) * (1 - weight_x))
        + padded[..., top, right] * ((1 - weight_y) * weight_x)
        + padded[..., bottom, left] * (weight_y * (1 - weight_x))
        + padded[..., bottom, right] * (weight_y * weight_x)
    )
    return rotated.astype(_result_dtype(array), copy=False)


def rotate_features(F: ArrayLike, theta: float) -> np.ndarray:
    """Rotate p4 feature maps by any angle: shift the fibers, turn the planes.

    Parameters
    ----------
    F : array_like, real, shape (..., 4, H, W)
        p4 feature maps, orientation on axis -3 (docs/design.md, §2.4 Action on feature maps).
    theta : float
        Angle in radians, counter-clockwise in the sense of ``np.rot90``.

    Returns
    -------
    numpy.ndarray, shape (..., 4, H, W) (or (..., 4, W, H) for odd quarter turns)
        A new array; float32 for float32 input, float64 otherwise.

    Raises
    ------
    TypeError
        If ``F`` or ``theta`` is not real.
    ValueError
        If ``F`` is not of shape ``(..., 4, H, W)`` or ``theta`` is not finite.

    Notes
    -----
    A rotation by ``theta`` acts on a p4 feature map as the tutorial's section 5 describes: the
    fiber at every pixel is cyclically shifted by ``s = theta / (pi/2)`` bins (for fractional
    ``s``: the trigonometric interpolant of :func:`interpolate_fiber`, moved, via
    :func:`shift_theorem_phase`), and every plane is rotated spatially.

    For ``theta = r * pi/2`` this is exact, ``np.roll(np.rot90(F, r, axes=(-2, -1)), r,
    axis=-3)``, identical to ``gcnn.groups.p4.transform_features(F, r % 4)``. Between the
    90-degree steps it is an **approximation**: four samples only determine frequencies 0 and 1
    (and the Nyquist cosine) of the response as a function of angle, and the planes are rotated
    with the bilinear :func:`rotate_image` (zero outside the image). A p4 network is not
    equivariant to such rotations; :func:`equivariance_gap` measures how far from it it is.

    Examples
    --------
    >>> F = np.random.default_rng(0).standard_normal((4, 5, 5))
    >>> quarter = rotate_features(F, np.pi / 2)
    >>> np.array_equal(quarter, np.roll(np.rot90(F, 1, axes=(-2, -1)), 1, axis=-3))
    True
    >>> rotate_features(F, np.pi / 8).shape
    (4, 5, 5)
    """
    array = _check_p4_features(F)
    theta = _as_real_scalar(theta, "theta")
    quarter_turns = _quarter_turns(theta)
    if quarter_turns is not None:
        # Exactly the left-regular action L_r, no interpolation, no rounding (docs/design.md,
        # §2.4 Action on feature maps).
        turned = np.rot90(array, quarter_turns, axes=(-2, -1))
        return np.ascontiguousarray(np.roll(turned, quarter_turns, axis=-3))
    shifted = _shift_fibers(array, theta / _QUARTER_TURN, axis=-3)
    return rotate_image(shifted, theta).astype(_result_dtype(array), copy=False)


def equivariance_gap(
    lift_fn: Callable[[np.ndarray], np.ndarray],
    image: ArrayLike,
    angles: ArrayLike,
    *,
    margin: float = 0.0,
) -> np.ndarray:
    """Measure how far a p4 lifting is from equivariant under rotations by ``angles``.

    Parameters
    ----------
    lift_fn : callable
        ``lift_fn(image)`` maps a real ``(H, W)`` image to p4 feature maps ``(4, H', W')``
        following the convention ``out[g] = corr(image, np.rot90(kernel, g))`` of
        docs/design.md, §3.2 lift and group_conv, with which ``lift_fn(np.rot90(x, g))`` equals
        ``L_g lift_fn(x)``.
    image : array_like, real, shape (H, H)
        A square image (quarter turns must map the grid onto itself).
    angles : float or array_like of float
        Rotation angles in radians.
    margin : float, optional, keyword-only
        Only pixels within ``min(H', W') / 2 - margin`` of the centre of the feature maps are
        compared. Pass at least the kernel size ``k``: the rotated image is zero in its
        corners and the lifting pads the border, so pixels near the rim of the inscribed disk
        see different data in the two paths for reasons that have nothing to do with the
        group. Default 0 (the whole inscribed disk).

    Returns
    -------
    numpy.ndarray of float64, shape ``np.shape(angles)``
        For each angle ``a`` ::

            || lift_fn(rotate_image(image, a)) - rotate_features(lift_fn(image), a) ||
            -------------------------------------------------------------------------
                                  || lift_fn(image) ||

        with Frobenius norms over all 4 orientations and the central disk.

    Raises
    ------
    TypeError
        If ``lift_fn`` is not callable, or ``image``, ``angles`` or ``margin`` is not real.
    ValueError
        If ``image`` is not a square 2-D array, ``lift_fn`` returns anything but a real
        ``(4, H', W')`` array of the same shape for every input, ``margin`` leaves no pixel,
        or ``lift_fn(image)`` vanishes on the disk.

    Notes
    -----
    At multiples of 90 degrees both paths are exact (``rotate_image`` is ``np.rot90`` there) and
    the gap is zero up to rounding for an equivariant lifting, e.g. odd kernels with
    ``mode="same"`` on square images. Between the steps the gap is the error of pretending that
    the p4 lifting is steerable: fiber interpolation plus bilinear resampling.

    Examples
    --------
    A 3x3 lifting correlation written with NumPy only:

    >>> rng = np.random.default_rng(1)
    >>> kernel = rng.standard_normal((3, 3))
    >>> def lift(x):
    ...     windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, 1), (3, 3))
    ...     return np.stack([np.einsum("ijkl,kl->ij", windows, np.rot90(kernel, g))
    ...                      for g in range(4)])
    >>> image = rng.standard_normal((15, 15))
    >>> gaps = equivariance_gap(lift, image, [0, np.pi / 4, np.pi / 2], margin=3)
    >>> bool(gaps[0] < 1e-12 and gaps[2] < 1e-12 and gaps[1] > 1e-3)
    True
    """
    if not callable(lift_fn):
        raise TypeError(f"lift_fn must be callable, got {type(lift_fn).__name__}")
    picture = _as_real_array(image, "image")
    if picture.ndim != 2 or picture.shape[0] != picture.shape[1]:
        raise ValueError(f"image must be a square 2-D array (H, H), got shape {picture.shape}")
    angle_array = np.asarray(angles)
    if angle_array.dtype.kind not in "buif":
        raise TypeError(f"angles must be real, got {angle_array.dtype}")
    margin = _as_real_scalar(margin, "margin")

    def lifted(x: np.ndarray) -> np.ndarray:
        features = _as_real_array(lift_fn(x), "lift_fn(image)")
        if features.ndim != 3 or features.shape[0] != _P4_ORIENTATIONS:
            raise ValueError(
                f"lift_fn must return p4 feature maps of shape (4, H', W'), got {features.shape}"
            )
        return features.astype(np.float64, copy=False)

    reference = lifted(picture)
    out_height, out_width = reference.shape[-2:]
    if out_height != out_width:
        raise ValueError(
            f"lift_fn must return square maps (4, H', H') for a square image, got {reference.shape}"
        )
    offset_y = np.arange(out_height)[:, None] - (out_height - 1) / 2
    offset_x = np.arange(out_width)[None, :] - (out_width - 1) / 2
    radius = min(out_height, out_width) / 2 - margin
    disk = np.hypot(offset_y, offset_x) <= radius
    if not disk.any():
        raise ValueError(
            f"margin={margin} leaves no pixel of the {out_height}x{out_width} feature maps"
        )
    reference_norm = np.linalg.norm(reference[:, disk])
    if reference_norm == 0:
        raise ValueError(
            "lift_fn(image) is zero on the central disk; the relative gap is undefined"
        )

    gaps = np.empty(angle_array.shape, dtype=np.float64)
    for index, angle in np.ndenumerate(angle_array):
        angle = _as_real_scalar(angle, "angles")
        from_rotated_input = lifted(rotate_image(picture, angle))
        if from_rotated_input.shape != reference.shape:
            raise ValueError(
                f"lift_fn must return the same shape for every image, got "
                f"{from_rotated_input.shape} and {reference.shape}"
            )
        predicted = rotate_features(reference, angle)
        difference = from_rotated_input[:, disk] - predicted[:, disk]
        gaps[index] = np.linalg.norm(difference) / reference_norm
    return gaps


# --------------------------------------------------------------------------- finer groups


def interpolation_matrix(n_bins: int, theta: ArrayLike) -> np.ndarray:
    """Return the real matrix that evaluates fibers of ``n_bins`` samples at angles ``theta``.

    Parameters
    ----------
    n_bins : int
        Number of samples ``N`` in a fiber, at angles ``2*pi*n/N``; at least 1.
    theta : float or array_like of float, shape () or (M,)
        Angles in radians.

    Returns
    -------
    numpy.ndarray of float64, shape (M, n_bins)
        ``P`` with ``interpolate_fiber(f, theta, axis=0) == P @ f`` for every real fiber ``f``
        (``M = 1`` for a scalar ``theta``): the coefficients ``fft(f) / N``, multiplied by the
        phase factors ``exp(i*k*theta)`` and summed, written as one real linear map. At the
        grid angles ``2*pi*n/N`` its rows are the unit vectors.

    Raises
    ------
    TypeError
        If ``n_bins`` is not an integer or ``theta`` not real.
    ValueError
        If ``n_bins < 1`` or ``theta`` is not finite or has more than one dimension.

    Examples
    --------
    >>> np.round(interpolation_matrix(4, [0.0, np.pi / 4]), 3)
    array([[ 1.   ,  0.   ,  0.   ,  0.   ],
           [ 0.604,  0.604, -0.104, -0.104]])
    """
    if isinstance(n_bins, (bool, np.bool_)) or not isinstance(n_bins, (int, np.integer)):
        raise TypeError(f"n_bins must be an integer, got {type(n_bins).__name__}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    angles = np.atleast_1d(np.asarray(theta))
    # Row m of the result is the interpolant of every unit fiber at angle m.
    matrix = interpolate_fiber(np.eye(int(n_bins)), angles, axis=0)
    return np.ascontiguousarray(matrix, dtype=np.float64)


def turn_image(image: ArrayLike, theta: float) -> np.ndarray:
    """Turn the last two axes by ``theta`` radians: ``np.rot90`` at quarter turns, else splines.

    Parameters
    ----------
    image : array_like, real, shape (..., H, W)
    theta : float
        Radians, counter-clockwise in the sense of ``np.rot90``.

    Returns
    -------
    numpy.ndarray
        At multiples of 90 degrees ``np.rot90(image, r, axes=(-2, -1))`` exactly (odd quarter
        turns swap ``H`` and ``W``); otherwise the cubic B-spline turn of docs/design.md, §2.6
        Turns that are not quarter turns (same shape, 0 outside). float32 stays float32, other
        input becomes float64.

    Raises
    ------
    TypeError
        If ``image`` or ``theta`` is not real.
    ValueError
        If ``image`` has fewer than two dimensions or ``theta`` is not finite.

    Examples
    --------
    >>> image = np.arange(9.0).reshape(3, 3)
    >>> np.array_equal(turn_image(image, np.pi / 2), np.rot90(image))
    True
    >>> round(float(turn_image(np.ones((5, 5)), np.pi / 4)[2, 2]), 12)  # splines keep constants
    1.0
    """
    array = _as_real_array(image, "image")
    if array.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions (..., H, W), got {array.shape}")
    theta = _as_real_scalar(theta, "theta")
    quarter_turns = _quarter_turns(theta)
    if quarter_turns is not None:
        return np.array(np.rot90(array, quarter_turns, axes=(-2, -1)), order="C", copy=True)
    return _spline.rotate(array, theta).astype(_result_dtype(array), copy=False)


def _check_group_features(F: object, group: GroupLike) -> tuple[np.ndarray, PointGroup]:
    grp = get_group(group)
    array = _as_real_array(F, "F")
    if array.ndim < 3 or array.shape[-3] != grp.order:
        raise ValueError(
            f"F must have shape (..., {grp.order}, H, W) ({grp.name} feature maps), got "
            f"{array.shape}"
        )
    return array, grp


def steer_features(F: ArrayLike, theta: float, group: GroupLike) -> np.ndarray:
    """Turn ``cN`` or ``dN`` feature maps by any angle: shift the fibers, turn the planes.

    Parameters
    ----------
    F : array_like, real, shape (..., |G|, H, W)
        Feature maps on ``group`` (docs/design.md, §2.4 Action on feature maps).
    theta : float
        Radians, counter-clockwise in the sense of ``np.rot90``.
    group : str or PointGroup
        Any group of docs/design.md, §2.5 Cyclic and dihedral groups of any order.

    Returns
    -------
    numpy.ndarray, shape (..., |G|, H, W) (W and H swapped after odd quarter turns)
        Each coset of ``N`` slots (the turns, and for ``dN`` the mirrored turns) shifted
        forward by ``s = theta / (2*pi/N)`` slots, by the phase factors of
        :func:`shift_theorem_phase` (trigonometric interpolation between the slots; a plain
        cyclic shift when ``s`` is an integer), then every plane turned by :func:`turn_image`.
        float32 stays float32.

    Raises
    ------
    TypeError
        If ``F`` or ``theta`` is not real.
    ValueError
        If ``F`` is not of shape ``(..., |G|, H, W)``, ``theta`` not finite, or ``group``
        unknown.

    Notes
    -----
    At ``theta = angle(g)`` for a turn ``g`` of the group this is
    ``group.transform_features(F, g)`` (the same permutation and the same plane turn). Between
    the grid angles it is the tutorial's section 5: the response of each feature as a
    function of the angle is read as the lowest trigonometric polynomial through its ``N``
    samples. :func:`steering_error` measures how good that reading is.

    Examples
    --------
    >>> from gcnn.groups import cyclic
    >>> F = np.random.default_rng(0).standard_normal((8, 5, 5))
    >>> np.allclose(steer_features(F, np.pi / 2, "c8"), cyclic(8).transform_features(F, 2))
    True
    >>> steer_features(F, 0.3, "c8").shape
    (8, 5, 5)
    """
    array, grp = _check_group_features(F, group)
    theta = _as_real_scalar(theta, "theta")
    turns = grp.rotations
    shift = theta / (2 * math.pi / turns)
    whole = round(shift)
    cosets = array.reshape(array.shape[:-3] + (grp.order // turns, turns) + array.shape[-2:])
    if abs(shift - whole) <= _QUARTER_TURN_TOLERANCE:
        # Every coset moves forward by the same number of slots (docs/design.md, §2.5 Cyclic
        # and dihedral groups of any order).
        shifted = np.roll(cosets, whole, axis=-3)
    else:
        shifted = _shift_fibers(cosets, shift, axis=-3)
    shifted = shifted.reshape(array.shape)
    return turn_image(shifted, theta).astype(_result_dtype(array), copy=False)


def steering_error(
    fn: Callable[[np.ndarray], np.ndarray],
    x: ArrayLike,
    angles: ArrayLike,
    group: GroupLike,
    *,
    margin: float = 0.0,
) -> np.ndarray:
    """Measure, for each angle, how far ``fn`` is from turning with its input.

    Parameters
    ----------
    fn : callable
        Maps ``x`` (and its turned copies) to feature maps ``(..., |G|, H', W')`` on ``group``.
    x : array_like, real, shape (..., H, W)
        The input (images, or feature maps for a function of feature maps); square, so that
        quarter turns keep the shape.
    angles : float or array_like of float
        Angles in radians.
    group : str or PointGroup
        The group of ``fn``'s output.
    margin : float, optional, keyword-only
        Compare the pixels within ``min(H', W') / 2 - margin`` of the centre (the turned input
        is empty in its corners); about the receptive radius of ``fn``.

    Returns
    -------
    numpy.ndarray of float64, shape ``np.shape(angles)``
        ``|| fn(turn(x, a)) - steer_features(fn(x), a) || / || steer_features(fn(x), a) ||``
        on the central disk, ``turn`` being :func:`turn_image` on the last two axes (of every
        plane, and for a function of feature maps :func:`steer_features` of the input).

    Raises
    ------
    TypeError
        If ``fn`` is not callable or ``x``, ``angles`` or ``margin`` is not real.
    ValueError
        If ``x`` is not square, ``fn`` returns the wrong shape, or ``margin`` leaves no pixel.

    Notes
    -----
    The measure is the one :func:`gcnn.check_equivariance` reports as ``.relative`` at the
    group's own angles. Between them it adds the error of interpolating each fiber: an angle
    half-way between two orientations of ``cN`` shows how much a network's responses vary
    faster with the angle than ``N`` samples can carry. Exact equivariance would give 0 at
    every angle; on smooth inputs a C16 network comes closer between its grid angles than a C8
    one, and both far closer than p4 (notebook 04).

    Examples
    --------
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> w = np.tensordot(rng.standard_normal((2, 1, 4)), gcnn.steerable.filter_basis(3), 1)
    >>> image = rng.standard_normal((1, 1, 15, 15))
    >>> errors = steering_error(lambda a: gcnn.lift(a, w, group="c8", padding=1), image,
    ...                         [0, np.pi / 2], "c8", margin=3)
    >>> bool(errors.max() < 1e-12)
    True
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    grp = get_group(group)
    data = _as_real_array(x, "x")
    if data.ndim < 2 or data.shape[-1] != data.shape[-2]:
        raise ValueError(f"x must be square in its last two axes (..., H, H), got {data.shape}")
    angle_array = np.asarray(angles)
    if angle_array.dtype.kind not in "buif":
        raise TypeError(f"angles must be real, got {angle_array.dtype}")
    margin = _as_real_scalar(margin, "margin")
    on_group = data.ndim >= 3 and data.shape[-3] == grp.order

    def outputs(values: np.ndarray) -> np.ndarray:
        result = _as_real_array(fn(values), "fn(x)")
        if result.ndim < 3 or result.shape[-3] != grp.order:
            raise ValueError(
                f"fn must return {grp.name} feature maps (..., {grp.order}, H', W'), got "
                f"{result.shape}"
            )
        return result.astype(np.float64, copy=False)

    reference = outputs(data)
    height, width = reference.shape[-2:]
    rows = np.arange(height)[:, None] - (height - 1) / 2
    columns = np.arange(width)[None, :] - (width - 1) / 2
    disk = np.hypot(rows, columns) <= min(height, width) / 2 - margin
    if not disk.any():
        raise ValueError(f"margin={margin} leaves no pixel of the {height}x{width} outputs")

    errors = np.empty(angle_array.shape, dtype=np.float64)
    for index, angle in np.ndenumerate(angle_array):
        angle = _as_real_scalar(angle, "angles")
        turned = steer_features(data, angle, grp) if on_group else turn_image(data, angle)
        actual = outputs(turned)
        predicted = steer_features(reference, angle, grp).astype(np.float64)
        if actual.shape != predicted.shape:
            raise ValueError(
                f"fn must keep square outputs square, got {actual.shape} for {predicted.shape}"
            )
        norm = np.linalg.norm(predicted[..., disk])
        difference = np.linalg.norm(actual[..., disk] - predicted[..., disk])
        errors[index] = difference / norm if norm > 0 else difference
    return errors
