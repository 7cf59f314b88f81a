"""scipy.signal-compatible 2-D convolution and the tutorial's two functions.

Everything here reduces to one call of the C correlation kernel
(``gcnn._core.correlate``) with a filter bank and padding chosen so that the
numbers match ``scipy.signal.convolve2d``/``correlate2d`` index for index:

* convolution is correlation with the kernel flipped on both axes;
* ``full`` pads ``k - 1`` on both sides, ``valid`` pads nothing, and ``same``
  pads ``k // 2`` before and ``k - 1 - k // 2`` after for convolution
  (``(k - 1) // 2`` before for correlation), exactly where scipy centres it;
* ``boundary`` decides what the padding holds, with scipy's index rules.
"""

from __future__ import annotations

import numpy as np

from . import _config, _core
from ._validate import (
    as_real_array,
    boundary_code,
    check_fillvalue,
    check_mode,
    compute_dtype,
    contiguous,
    require_ndim,
)

__all__ = ["convolve2d", "correlate2d", "lift_correlation", "p4_group_convolution"]


def _pads(kernel_len: int, mode: str, flipped: bool) -> tuple[int, int]:
    """(before, after) padding along one axis for scipy's output `mode`."""
    if mode == "full":
        return kernel_len - 1, kernel_len - 1
    if mode == "valid":
        return 0, 0
    before = kernel_len // 2 if flipped else (kernel_len - 1) // 2
    return before, kernel_len - 1 - before


def _out_shape(in_shape, k_shape, mode):
    if mode == "full":
        return tuple(a + b - 1 for a, b in zip(in_shape, k_shape))
    if mode == "same":
        return tuple(in_shape)
    return tuple(a - b + 1 for a, b in zip(in_shape, k_shape))


def _valid_swap_needed(shape1, shape2) -> bool:
    """scipy's rule: in 'valid' mode the larger operand goes first."""
    ok1 = all(a >= b for a, b in zip(shape1, shape2))
    ok2 = all(b >= a for a, b in zip(shape1, shape2))
    if not (ok1 or ok2):
        raise ValueError(
            "for mode='valid', one input must be at least as large as the other in every "
            f"dimension, got in1 {tuple(shape1)} and in2 {tuple(shape2)}"
        )
    return not ok1


def _correlate_bank(
    images: np.ndarray,
    bank: np.ndarray,
    mode: str,
    boundary: int,
    fillvalue: float,
    flipped: bool,
) -> np.ndarray:
    """Correlate each image (N, H, W) with each filter (O, kh, kw) -> (N, O, H', W').

    `bank` holds the filters as they are applied (already flipped for a
    convolution); `flipped` only selects scipy's centring for 'same'.
    """
    kh, kw = bank.shape[1:]
    top, bottom = _pads(kh, mode, flipped)
    left, right = _pads(kw, mode, flipped)
    return _core.correlate(
        images[:, None],
        bank[:, None],
        None,
        (1, 1),
        (top, bottom, left, right),
        boundary,
        fillvalue,
        _config.get_num_threads(),
    )


def _filter2d(in1, in2, mode, boundary, fillvalue, flip: bool) -> np.ndarray:
    """Shared body of convolve2d (flip=True) and correlate2d (flip=False)."""
    a = as_real_array(in1, "in1")
    b = as_real_array(in2, "in2")
    require_ndim(a, 2, "in1", "array")
    require_ndim(b, 2, "in2", "array")
    mode = check_mode(mode)
    code = boundary_code(boundary)
    fill = check_fillvalue(fillvalue)
    dtype = compute_dtype(a, b)

    swapped = mode == "valid" and _valid_swap_needed(a.shape, b.shape)
    if swapped:
        a, b = b, a
    out_shape = _out_shape(a.shape, b.shape, mode)
    if b.size == 0 or 0 in out_shape:
        # No kernel taps (or nothing to compute): every sum is empty.
        return np.zeros(out_shape, dtype=dtype)
    if a.size == 0 and code != 0:
        raise ValueError(f"in1 must not be empty with boundary={boundary!r}, got shape {a.shape}")
    kernel = contiguous(b, dtype)
    if flip:
        kernel = kernel[::-1, ::-1]
    out = _correlate_bank(
        contiguous(a, dtype)[None], np.ascontiguousarray(kernel)[None], mode, code, fill, flip
    )[0, 0]
    if swapped and not flip:
        # scipy computes correlate(in2, in1) here and reverses it, which is
        # correlate(in1, in2) read backwards; convolution commutes.
        out = out[::-1, ::-1].copy()
    return out


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0) -> np.ndarray:
    """Convolve two 2-D arrays, with scipy.signal.convolve2d's arguments and numbers.

    Parameters
    ----------
    in1 : array_like, shape (M1, N1)
        First input (the image).
    in2 : array_like, shape (M2, N2)
        Second input (the kernel).
    mode : {'full', 'valid', 'same'}, optional
        Output size: ``full`` (M1+M2-1, N1+N2-1); ``valid`` (M1-M2+1, N1-N2+1),
        the inputs swapped first when `in2` is the larger in every dimension;
        ``same`` the size of `in1`, centred as in scipy.
    boundary : {'fill', 'wrap', 'symm'}, optional
        What lies outside `in1`: `fillvalue`, periodic repetition, or a mirror
        image with the edge repeated. ``'circular'``, ``'symmetric'`` and
        ``'pad'`` are accepted as in scipy.
    fillvalue : scalar, optional
        Value outside `in1` for ``boundary='fill'``. Must be real.

    Returns
    -------
    ndarray
        The convolution. float32 for float16/float32 operands, float64
        otherwise (bool and integers are promoted; docs/design.md, §5.1 Dtypes).

    Raises
    ------
    TypeError
        For complex, object or string inputs.
    ValueError
        For inputs that are not 2-D, an unknown `mode` or `boundary`, a
        non-scalar or complex `fillvalue`, or ``mode='valid'`` when neither
        input is at least as large as the other in every dimension.

    Notes
    -----
    ``out[i, j] = sum_{a, b} in1_ext[i + o_i - a, j + o_j - b] * in2[a, b]``
    with ``in1_ext`` the input extended by `boundary` and the offsets ``o``
    fixed by `mode` (``0`` for full, ``M2 // 2`` and ``N2 // 2`` for same,
    ``M2 - 1`` and ``N2 - 1`` for valid).  Computed as a correlation with the
    flipped kernel by the C core; the summation order differs from scipy's,
    so results agree to rounding (about 1e-15 relative in float64).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> gcnn.convolve2d(np.eye(3), np.array([[1.0, 2.0]]), mode="same")
    array([[1., 2., 0.],
           [0., 1., 2.],
           [0., 0., 1.]])
    """
    return _filter2d(in1, in2, mode, boundary, fillvalue, flip=True)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0) -> np.ndarray:
    """Cross-correlate two 2-D arrays, with scipy.signal.correlate2d's arguments and numbers.

    Parameters
    ----------
    in1 : array_like, shape (M1, N1)
        First input.
    in2 : array_like, shape (M2, N2)
        Second input (the template slid over `in1`).
    mode, boundary, fillvalue
        As for :func:`convolve2d`.  In ``valid`` mode with `in2` the larger
        input, the result is reversed on both axes, as scipy does.

    Returns
    -------
    ndarray
        The correlation, with the dtype rules of :func:`convolve2d`.

    Raises
    ------
    TypeError, ValueError
        As for :func:`convolve2d`.

    Notes
    -----
    ``out[i, j] = sum_{a, b} in1_ext[i - o_i + a, j - o_j + b] * in2[a, b]``
    where ``o`` is ``M2 - 1`` (full), ``(M2 - 1) // 2`` (same) or 0 (valid).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> gcnn.correlate2d(np.arange(4.0).reshape(2, 2), np.ones((1, 2)), mode="valid")
    array([[1.],
           [5.]])
    """
    return _filter2d(in1, in2, mode, boundary, fillvalue, flip=False)


def _rotation_groups(kernel: np.ndarray):
    """The kernel's four quarter turns, grouped by shape.

    Yields (rotation indices, stacked rotated kernels).  A square kernel gives
    one group of four; a non-square one two groups, {0, 2} and {1, 3}.
    """
    # np.rot90(kernel, r) for r = 0..3, as views (np.rot90 costs ~5 us a call,
    # which shows at small image sizes)
    rotations = [kernel, kernel.T[::-1], kernel[::-1, ::-1], kernel.T[:, ::-1]]
    if kernel.shape[0] == kernel.shape[1]:
        return [((0, 1, 2, 3), np.stack(rotations))]
    return [((0, 2), np.stack(rotations[0::2])), ((1, 3), np.stack(rotations[1::2]))]


def _prepare_blog_args(image, kernel, mode, boundary, fillvalue, image_name, image_ndim):
    arr = as_real_array(image, image_name)
    ker = as_real_array(kernel, "kernel")
    what = "image (H, W)" if image_ndim == 2 else "stack of feature maps (|G|, H, W)"
    require_ndim(arr, image_ndim, image_name, what)
    require_ndim(ker, 2, "kernel", "array (kh, kw)")
    if arr.size == 0:
        raise ValueError(f"{image_name} must not be empty, got shape {arr.shape}")
    if ker.size == 0:
        raise ValueError(f"kernel must not be empty, got shape {ker.shape}")
    mode = check_mode(mode)
    code = boundary_code(boundary)
    fill = check_fillvalue(fillvalue)
    dtype = compute_dtype(arr, ker)
    if mode != "same" and ker.shape[0] != ker.shape[1]:
        raise ValueError(
            f"kernel must be square for mode={mode!r} (its quarter turns would give outputs "
            f"of different shapes; the tutorial's code fails here too), got shape {ker.shape}"
        )
    if mode == "valid" and any(k > s for k, s in zip(ker.shape, arr.shape[-2:])):
        raise ValueError(
            f"for mode='valid' the kernel must fit inside the {image_name}, got kernel "
            f"{ker.shape} and {image_name} {arr.shape}"
        )
    return contiguous(arr, dtype), contiguous(ker, dtype), mode, code, fill


def lift_correlation(image, kernel, *, mode="same", boundary="symm", fillvalue=0) -> np.ndarray:
    """Lift an image to the p4 group: one map per quarter turn of the kernel.

    The tutorial's function (section 4.2 of "Group CNNs"), with its defaults
    and its numbers, computed by the C core.

    Parameters
    ----------
    image : array_like, shape (H, W)
        The input image.
    kernel : array_like, shape (kh, kw)
        The kernel; it is rotated by 0, 90, 180 and 270 degrees.
    mode : {'same', 'full', 'valid'}, optional
        As in :func:`convolve2d`.  ``full`` and ``valid`` need a square
        kernel (its rotations would give differently shaped maps), and
        ``valid`` a kernel that fits inside the image.
    boundary : {'symm', 'fill', 'wrap'}, optional
        As in :func:`convolve2d`; the tutorial uses ``'symm'``.
    fillvalue : scalar, optional
        As in :func:`convolve2d`.

    Returns
    -------
    ndarray, shape (4, H', W')
        ``out[i] = convolve2d(image, np.rot90(kernel, i), mode, boundary, fillvalue)``.

    Raises
    ------
    TypeError
        For complex, object or string inputs.
    ValueError
        For an image or kernel that is not 2-D or is empty, a bad `mode`,
        `boundary` or `fillvalue`, or the shape rules above.

    Notes
    -----
    Facts about the published code that this function keeps or fixes:

    * Despite its name it computes a true **convolution** (the kernel is
      flipped), because the tutorial calls ``scipy.signal.convolve2d``.
      ``lift_correlation(x, k)[i]`` equals the correlation of ``x`` with
      ``rot90(k, i + 2)``.
    * The published body reads a global ``conv_kernel`` instead of its
      ``kernel`` argument; gcnn uses the argument.
    * Equivariance: ``lift(rot90(x)) == roll(rot90(lift(x), axes=(1, 2)), 1, axis=0)``,
      i.e. rotating the image by 90 degrees counter-clockwise rotates each map
      and moves map ``i`` to position ``i + 1``.  With ``mode='same'`` it is
      exact for odd kernel sizes only: an even kernel is centred half a pixel
      off, and the offset does not rotate with the image (``full`` and
      ``valid`` pad symmetrically and stay exact).  Square images are the
      safe rule of thumb; at this stride of 1 a non-square image is exact
      too, its maps simply rotate into the transposed shape.

    All four rotated kernels are applied in one pass over the image, sharing
    every load of an image patch.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> image = np.arange(25.0).reshape(5, 5)
    >>> kernel = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    >>> maps = gcnn.lift_correlation(image, kernel)
    >>> maps.shape
    (4, 5, 5)
    >>> rotated = gcnn.lift_correlation(np.rot90(image), kernel)
    >>> bool(np.allclose(rotated, np.roll(np.rot90(maps, axes=(1, 2)), 1, axis=0)))
    True
    """
    img, ker, mode, code, fill = _prepare_blog_args(
        image, kernel, mode, boundary, fillvalue, "image", 2
    )
    groups = _rotation_groups(ker)
    parts = [
        # convolution flips the kernel: correlate with the flipped rotations
        _correlate_bank(
            img[None], np.ascontiguousarray(rotated[:, ::-1, ::-1]), mode, code, fill, flipped=True
        )[0]
        for _, rotated in groups
    ]
    if len(parts) == 1:
        return parts[0]
    out = np.empty((4,) + parts[0].shape[1:], dtype=parts[0].dtype)
    for (indices, _), maps in zip(groups, parts):
        out[list(indices)] = maps
    return out


def p4_group_convolution(
    features, kernel, *, mode="same", boundary="symm", fillvalue=0
) -> np.ndarray:
    """The tutorial's p4 "group convolution" of a stack of feature maps.

    The tutorial's function (section 4.4 of "Group CNNs"), with its defaults
    and its numbers, computed by the C core.

    Parameters
    ----------
    features : array_like, shape (|G|, H, W)
        Feature maps, one per rotation (any number of maps is accepted, as
        by the published code).
    kernel : array_like, shape (kh, kw)
        A planar kernel.
    mode, boundary, fillvalue
        As in :func:`lift_correlation`.

    Returns
    -------
    ndarray, shape (|G|, H', W')
        ``out[i] = sum_j convolve2d(features[i], np.rot90(kernel, j), mode,
        boundary, fillvalue)``, in the float dtype of `features` (the
        published code writes into ``np.zeros_like(features)``).

    Raises
    ------
    TypeError, ValueError
        As for :func:`lift_correlation`; `features` must be 3-D.

    Notes
    -----
    * Like the published code this is a true **convolution**, not a
      correlation.
    * It **never mixes orientations**: map ``i`` of the output depends only on
      map ``i`` of the input.  It equals one convolution per map with the
      C4-symmetrised kernel ``sum_j rot90(kernel, j)``, which is how gcnn
      computes it (a quarter of the work; equal up to rounding).  The result
      is equivariant but degenerate; the real group convolution, whose
      kernels live on the group, is :func:`gcnn.group_conv`.
    * It commutes with the p4 action on its input,
      ``F -> roll(rot90(F, axes=(1, 2)), 1, axis=0)``, exactly for odd
      kernels in ``same`` mode (even kernels break it, as for
      :func:`lift_correlation`).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> features = rng.standard_normal((4, 6, 6))
    >>> kernel = rng.standard_normal((3, 3))
    >>> out = gcnn.p4_group_convolution(features, kernel)
    >>> symmetric = sum(np.rot90(kernel, j) for j in range(4))
    >>> expected = np.stack([gcnn.convolve2d(f, symmetric, "same", "symm") for f in features])
    >>> bool(np.allclose(out, expected))
    True
    """
    feats, ker, mode, code, fill = _prepare_blog_args(
        features, kernel, mode, boundary, fillvalue, "features", 3
    )
    out = None
    for _, rotated in _rotation_groups(ker):
        # Convolving with each rotation and adding is convolving with their
        # sum: sum the (flipped) kernels once instead of the outputs.
        symmetrised = np.ascontiguousarray(rotated.sum(axis=0)[::-1, ::-1])
        part = _correlate_bank(feats, symmetrised[None], mode, code, fill, flipped=True)[:, 0]
        out = part if out is None else out + part
    out_dtype = compute_dtype(as_real_array(features, "features"))
    return out.astype(out_dtype, copy=False)
