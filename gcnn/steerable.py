"""Steerable filters: what ``cN`` and ``dN`` layers turn when a turn is not a quarter turn.

A turn by 45 degrees does not move the pixels of a 3 x 3 filter onto pixels, so the layers of
the groups with such turns (``gcnn.groups.cyclic(8)``, ``dihedral(16)``, ...) cannot permute
pixels as p4 does. They read each ``k x k`` filter as the samples of a smooth function of the
plane built from circular harmonics times radial profiles (Weiler & Cesa's steerable basis),
turn that function exactly in the continuous plane, and sample it on the grid again. The
contract is docs/design.md, §3.7 Steerable filters.

The basis
---------
On the ``k x k`` grid centred at ``c = (k - 1) / 2``, pixel ``(i, j)`` sits at radius
``rho = hypot(i - c, j - c)`` and angle ``phi = atan2(c - i, j - c)`` (counter-clockwise from
the right, row 0 at the top, the sense of ``np.rot90``). The continuous functions are ::

    a_q(rho) * 1,   a_q(rho) * cos(n phi),   a_q(rho) * sin(n phi)     1 <= n <= n_max(q)
    a_q(rho) = exp(-(rho - r_q)**2 / (2 * s_q**2))                      q = 0, 1, ..., (k-1)//2

rings at every whole radius ``r_q = q`` that fits in the filter, of width ``s_q = 0.6`` pixels,
except the outermost, drawn in to ``r_q = q - 0.3`` with width 0.5 (its tails reach the corners,
which a turn carries off the grid); each ring has its own band limit ``n_max``
(:func:`band_limit`), and harmonics of frequency ``n >= 1`` are set to 0 at the centre. Turning
by ``t`` multiplies the pair ``(cos, sin)`` of frequency ``n`` by the rotation by ``n t``;
the mirror ``x -> -x`` multiplies cos by ``(-1)**n`` and sin by ``-(-1)**n``.

Sampled on the grid they span a subspace ``W`` of the ``k*k`` filters, of dimension ``B``
(:func:`filter_basis` gives an orthonormal basis of it). A filter ``w`` is turned by ::

    turn(w, t) = S R_t S^+ w          S: the sampled functions (k*k, B), S^+ its pseudo-inverse

which first projects ``w`` onto ``W`` (``S S^+`` is the orthogonal projection). On ``W`` these
maps are a representation of the rotations (``turn(turn(w, a), b) == turn(w, a + b)`` to
rounding), and because the grid is symmetric under quarter turns and the mirror, a quarter turn
of a filter in ``W`` is exactly ``np.rot90`` and the mirror exactly ``np.flip(w, -1)``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_real_array, compute_dtype, positive_int

__all__ = [
    "band_limit",
    "filter_basis",
    "ring_radius",
    "ring_width",
    "turn_filter",
    "turn_matrix",
]

#: Standard deviation of the Gaussian radial profiles, in pixels (e2cnn's default, 0.6) ...
RADIAL_WIDTH = 0.6
#: ... and of the outermost ring's, which is drawn in by OUTER_RING_INSET pixels. Chosen by
#: measurement (docs/design.md, §3.7 Steerable filters): over kernels 3, 5, 7 and images
#: blurred by 1 to 3 pixels, one C8 lifting's error under turns by 45 degrees is 1.2 to 3 times
#: smaller than with the ring at (k - 1) // 2 and width 0.4 (e2cnn's placement).
OUTER_RADIAL_WIDTH = 0.5
OUTER_RING_INSET = 0.3

#: Largest kernel side with a steerable basis (the matrices grow as k**4).
MAX_KERNEL_SIZE = 31


def band_limit(radius: float, kernel_size: int) -> int:
    """Return the highest angular frequency on the ring of the given radius.

    Parameters
    ----------
    radius : float
        Radius of the ring, in pixels (0, 1, 2, ...).
    kernel_size : int
        Side ``k`` of the filter.

    Returns
    -------
    int
        0 at the centre; ``min(2 * radius - 1, 2)`` on the outermost ring (radius
        ``(k - 1) // 2``, where a turned filter reaches the border); ``2 * radius - 1`` inside.
        A ring of radius ``r`` carries about ``2 pi r`` samples, so its frequencies stay well
        below that ring's Nyquist limit ``pi r`` and a sampled harmonic turns with little
        aliasing (e2cnn's default cut-off allows one more on inner rings and 2 at radius 1).

    Examples
    --------
    >>> [band_limit(r, 5) for r in (0, 1, 2)]
    [0, 1, 2]
    >>> [band_limit(r, 7) for r in (0, 1, 2, 3)]
    [0, 1, 3, 2]
    """
    if radius == 0:
        return 0
    highest = 2 * round(radius) - 1
    if radius >= (kernel_size - 1) // 2:
        highest = min(highest, 2)
    return highest


def _check_kernel_size(kernel_size: object) -> int:
    size = positive_int(kernel_size, "kernel_size")
    if size > MAX_KERNEL_SIZE:
        raise ValueError(
            f"kernel_size must be at most {MAX_KERNEL_SIZE} for a steerable basis, got {size}"
        )
    return size


def ring_radius(ring: int, kernel_size: int) -> float:
    """Radius (pixels) of ring ``q``: ``q``, and ``(k - 1) // 2 - 0.3`` for the outermost ring."""
    if ring > 0 and ring == (kernel_size - 1) // 2:
        # The outermost ring reaches the corners, which a turn by 45 degrees carries off the
        # grid: drawn in a little, its turned samples stay on it (docs/design.md, §3.7
        # Steerable filters).
        return ring - OUTER_RING_INSET
    return float(ring)


def ring_width(ring: int, kernel_size: int) -> float:
    """Width (standard deviation, pixels) of the Gaussian profile of a ring: 0.6, 0.5 outermost."""
    if ring > 0 and ring == (kernel_size - 1) // 2:
        return OUTER_RADIAL_WIDTH
    return RADIAL_WIDTH


@functools.lru_cache(maxsize=32)
def _harmonics(kernel_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sampled functions S (k*k, B), and per column its frequency and kind (0 cos, 1 sin)."""
    centre = (kernel_size - 1) / 2
    rows, columns = np.mgrid[:kernel_size, :kernel_size]
    y_up = (centre - rows).ravel()
    x_right = (columns - centre).ravel()
    radius = np.hypot(x_right, y_up)
    angle = np.arctan2(y_up, x_right)
    at_centre = radius < 1e-12
    functions, frequencies, kinds = [], [], []
    for ring in range((kernel_size - 1) // 2 + 1):
        width = ring_width(ring, kernel_size)
        profile = np.exp(-((radius - ring_radius(ring, kernel_size)) ** 2) / (2 * width**2))
        for frequency in range(band_limit(ring, kernel_size) + 1):
            for kind, wave in ((0, np.cos), (1, np.sin)):
                if frequency == 0 and kind == 1:
                    continue
                values = profile * (wave(frequency * angle) if frequency else 1.0)
                if frequency:
                    values = np.where(at_centre, 0.0, values)
                functions.append(values)
                frequencies.append(frequency)
                kinds.append(kind)
    sampled = np.stack(functions, axis=1)
    return sampled, np.array(frequencies), np.array(kinds)


def _coefficient_turn(frequencies: np.ndarray, kinds: np.ndarray, theta: float, mirror: bool):
    """The matrix (B, B) of T (mirror first, then the turn by theta) on the coefficients."""
    size = len(frequencies)
    matrix = np.zeros((size, size))
    index = 0
    while index < size:
        frequency = frequencies[index]
        if frequency == 0:
            matrix[index, index] = 1.0
            index += 1
            continue
        # A (cos, sin) pair: the mirror phi -> pi - phi, then the turn phi -> phi - theta.
        sign = (-1.0) ** frequency
        mirror_block = np.diag([sign, -sign]) if mirror else np.eye(2)
        c, s = math.cos(frequency * theta), math.sin(frequency * theta)
        turn_block = np.array([[c, -s], [s, c]])
        matrix[index : index + 2, index : index + 2] = turn_block @ mirror_block
        index += 2
    return matrix


@functools.lru_cache(maxsize=32)
def _analysis(kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, S^+) of the basis, and the orthonormal basis Q (B, k*k) of W."""
    sampled, _, _ = _harmonics(kernel_size)
    pseudo_inverse = np.linalg.pinv(sampled)
    # Symmetric (Loewdin) orthonormalisation: each row of Q stays as close as possible to its
    # harmonic, so the coefficients keep a meaning (ring, frequency, cos or sin).
    gram = sampled.T @ sampled
    values, vectors = np.linalg.eigh(gram)
    orthonormal = (sampled @ (vectors / np.sqrt(values)) @ vectors.T).T
    orthonormal.flags.writeable = False
    pseudo_inverse.flags.writeable = False
    return pseudo_inverse, orthonormal


@functools.lru_cache(maxsize=256)
def turn_matrix(kernel_size: int, theta: float, mirror: bool = False) -> np.ndarray:
    """The (k*k, k*k) matrix ``S T S^+`` turning a flattened filter (mirror first), read-only."""
    sampled, frequencies, kinds = _harmonics(kernel_size)
    pseudo_inverse, _ = _analysis(kernel_size)
    matrix = sampled @ _coefficient_turn(frequencies, kinds, theta, mirror) @ pseudo_inverse
    matrix.flags.writeable = False
    return matrix


def filter_basis(kernel_size: int) -> np.ndarray:
    """Return an orthonormal basis of the steerable ``k x k`` filters.

    Parameters
    ----------
    kernel_size : int
        Side ``k`` of the filters, 1 to 31.

    Returns
    -------
    numpy.ndarray of float64, shape (B, k, k)
        ``B`` filters, orthonormal as arrays of ``k*k`` numbers (``np.tensordot(basis, basis,
        2)`` is the identity), spanning the sampled circular harmonics of the module
        docstring: ``B`` is 1, 1, 4, 4, 9, 9, 16 for ``k = 1, 2, ..., 7``. Read-only.

    Raises
    ------
    TypeError
        If `kernel_size` is not an integer.
    ValueError
        If `kernel_size` is not in ``range(1, 32)``.

    Notes
    -----
    The layers of the steerable groups (docs/design.md, §3.7 Steerable filters) hold their
    filters as coefficients ``c`` in this basis: the ``k x k`` filter is
    ``np.tensordot(c, basis, 1)``. Because the basis is orthonormal, uniform coefficients in
    ``[-b, b)`` give filters whose energy is ``B b**2 / 3``, the same as ``B`` uniform pixels:
    PyTorch's initial law with ``fan_in = C_in * B`` keeps the variance of the activations of
    a pixel layer with ``fan_in = C_in * k * k``.

    Examples
    --------
    >>> basis = filter_basis(5)
    >>> basis.shape
    (9, 5, 5)
    >>> bool(np.allclose(np.tensordot(basis, basis, axes=([1, 2], [1, 2])), np.eye(9)))
    True
    """
    size = _check_kernel_size(kernel_size)
    orthonormal = _analysis(size)[1]
    view = orthonormal.reshape(-1, size, size)
    view.flags.writeable = False
    return view


def turn_filter(weight: ArrayLike, theta: float, *, mirror: bool = False) -> np.ndarray:
    """Turn filters by any angle through the steerable basis (mirror first when asked).

    Parameters
    ----------
    weight : array_like, shape (..., k, k)
        Square filters; each is first projected onto the steerable filters
        (:func:`filter_basis`).
    theta : float
        Angle in radians, counter-clockwise as displayed with row 0 at the top (the sense of
        ``np.rot90``).
    mirror : bool, optional, keyword-only
        Mirror left-right (``np.flip(w, -1)``) before turning.

    Returns
    -------
    numpy.ndarray, shape (..., k, k)
        ``S R S^+ w`` (module docstring), in the float dtype of docs/design.md, §5.1 Dtypes.

    Raises
    ------
    TypeError
        For complex, object or string filters.
    ValueError
        For filters that are not square, or a `theta` that is not finite.

    Examples
    --------
    >>> w = filter_basis(5)[3]                   # a steerable filter
    >>> bool(np.allclose(turn_filter(w, np.pi / 2), np.rot90(w)))
    True
    >>> bool(np.allclose(turn_filter(turn_filter(w, 0.3), 0.5), turn_filter(w, 0.8)))
    True
    """
    filters = as_real_array(weight, "weight")
    if filters.ndim < 2 or filters.shape[-1] != filters.shape[-2]:
        raise ValueError(f"weight must have shape (..., k, k), got {filters.shape}")
    theta = float(theta)
    if not math.isfinite(theta):
        raise ValueError(f"theta must be finite, got {theta}")
    size = _check_kernel_size(filters.shape[-1])
    matrix = turn_matrix(size, theta % (2 * math.pi), bool(mirror))
    dtype = compute_dtype(filters)
    flat = filters.reshape(*filters.shape[:-2], size * size).astype(np.float64)
    return (flat @ matrix.T).reshape(filters.shape).astype(dtype)
