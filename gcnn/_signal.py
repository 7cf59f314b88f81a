"""scipy.signal-compatible 2-D convolution and the tutorial's two functions.

Everything here reduces to calls of the C correlation kernels with a filter
bank and padding chosen so that the numbers match
``scipy.signal.convolve2d``/``correlate2d`` index for index:

* convolution is correlation with the kernel flipped on both axes;
* ``full`` pads ``k - 1`` on both sides, ``valid`` pads nothing, and ``same``
  pads ``k // 2`` before and ``k - 1 - k // 2`` after for convolution
  (``(k - 1) // 2`` before for correlation), exactly where scipy centres it;
* ``boundary`` decides what the padding holds, with scipy's index rules.

The output dtype is SciPy's (docs/design.md, §1.3 scipy-compatible building
blocks): floats go to ``gcnn._core.correlate``, integers to
``gcnn._core.correlate_int`` (wrap-around arithmetic, exact), and complex
numbers to the float kernel as real correlations of the real and imaginary
parts, stacked as channels so that one call computes both parts.
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from . import _config, _core
from ._validate import (
    as_numeric_array,
    boundary_code,
    check_mode,
    require_ndim,
    signal_dtype,
    signal_fillvalue,
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


def _call_correlate(x, bank, pads, boundary, fill):
    """One call of the float kernel: x (N, C, H, W), bank (O, C, kh, kw), one dtype."""
    return _core.correlate(x, bank, None, (1, 1), pads, boundary, fill, _config.get_num_threads())


def _int_operand(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`arr` in integer `dtype`, as the unsigned bits the C kernel computes on.

    Reduction modulo 2**n is a ring homomorphism: the bits of the two's
    complement do for signed types, and 8- and 16-bit values widen to the
    32-bit kernel, whose low bits are the narrow result.
    """
    bits = arr.astype(dtype, copy=False).view(f"u{dtype.itemsize}")
    return np.ascontiguousarray(bits, dtype=np.uint32 if dtype.itemsize <= 4 else np.uint64)


def _complex_bank(images, bank, dtype, pads, boundary, fill):
    """The complex correlation as real correlations of the real and imaginary parts.

    With images ``a = ar + i ai`` and filters ``k = kr + i ki``,
    ``corr(a, k) = corr(ar, kr) - corr(ai, ki) + i (corr(ar, ki) + corr(ai, kr))``.
    The parts of the image are input channels and each filter gives two bank
    rows, ``[kr, -ki]`` (real part) and ``[ki, kr]`` (imaginary part), so one
    call of the float kernel computes both parts.  A real image has one
    channel; a real kernel makes the parts two batches of images instead.  A
    fill value's real part pads the real channel and its imaginary part the
    imaginary channel: when they differ, each channel is one call.
    """
    real = np.finfo(dtype).dtype
    fill = complex(fill)
    count, filters = len(images), len(bank)
    if bank.dtype.kind != "c":  # (then the image is complex)
        parts = np.concatenate([images.real, images.imag])
        x = np.ascontiguousarray(parts, dtype=real)[:, None]
        kernel = np.ascontiguousarray(bank, dtype=real)[:, None]
        if fill.real == fill.imag:
            r = _call_correlate(x, kernel, pads, boundary, fill.real)
        else:
            r = np.concatenate(
                [
                    _call_correlate(x[:count], kernel, pads, boundary, fill.real),
                    _call_correlate(x[count:], kernel, pads, boundary, fill.imag),
                ]
            )
        out = np.empty((count,) + r.shape[1:], dtype=dtype)
        out.real = r[:count]
        out.imag = r[count:]
        return out
    channels = 2 if images.dtype.kind == "c" or fill.imag != 0 else 1
    x = np.empty((count, channels) + images.shape[1:], dtype=real)
    x[:, 0] = images.real
    if channels == 2:
        x[:, 1] = images.imag
    w = np.empty((2 * filters, channels) + bank.shape[1:], dtype=real)
    w[0::2, 0] = bank.real
    w[1::2, 0] = bank.imag
    if channels == 2:
        w[0::2, 1] = -bank.imag
        w[1::2, 1] = bank.real
    if channels == 1 or fill.real == fill.imag:
        r = _call_correlate(x, w, pads, boundary, fill.real)
    else:
        r = _call_correlate(x[:, :1], np.ascontiguousarray(w[:, :1]), pads, boundary, fill.real)
        r += _call_correlate(x[:, 1:], np.ascontiguousarray(w[:, 1:]), pads, boundary, fill.imag)
    out = np.empty((count, filters) + r.shape[2:], dtype=dtype)
    out.real = r[:, 0::2]
    out.imag = r[:, 1::2]
    return out


def _correlate_bank(
    images: np.ndarray,
    bank: np.ndarray,
    dtype: np.dtype,
    mode: str,
    boundary: int,
    fill,
    flipped: bool,
) -> np.ndarray:
    """Correlate each image (N, H, W) with each filter (O, kh, kw) -> (N, O, H', W').

    `dtype` is the output dtype (:func:`signal_dtype` of the operands) and
    `fill` the fill value converted to it.  `bank` holds the filters as they
    are applied (already flipped for a convolution); `flipped` only selects
    scipy's centring for 'same'.
    """
    kh, kw = bank.shape[1:]
    top, bottom = _pads(kh, mode, flipped)
    left, right = _pads(kw, mode, flipped)
    pads = (top, bottom, left, right)
    if dtype.kind == "c":
        return _complex_bank(images, bank, dtype, pads, boundary, fill)
    if dtype.kind in "iu":
        out = _core.correlate_int(
            _int_operand(images, dtype)[:, None],
            _int_operand(bank, dtype)[:, None],
            None,
            (1, 1),
            pads,
            boundary,
            int(np.asarray(fill, dtype=dtype).view(f"u{dtype.itemsize}")),
            _config.get_num_threads(),
        )
        # the low bits are the result (two's complement for signed dtypes)
        return out.astype(f"u{dtype.itemsize}", copy=False).view(dtype)
    return _call_correlate(
        np.ascontiguousarray(images, dtype=dtype)[:, None],
        np.ascontiguousarray(bank, dtype=dtype)[:, None],
        pads,
        boundary,
        float(fill),
    )


def _filter2d(in1, in2, mode, boundary, fillvalue, flip: bool) -> np.ndarray:
    """Shared body of convolve2d (flip=True) and correlate2d (flip=False)."""
    a = as_numeric_array(in1, "in1")
    b = as_numeric_array(in2, "in2")
    require_ndim(a, 2, "in1", "array")
    require_ndim(b, 2, "in2", "array")
    mode = check_mode(mode)
    code = boundary_code(boundary)
    dtype = signal_dtype(a, b)
    # As in scipy, the fill value is read (and checked) for boundary='fill' only.
    fill = signal_fillvalue(fillvalue, dtype) if code == 0 else np.zeros((), dtype)

    swapped = mode == "valid" and _valid_swap_needed(a.shape, b.shape)
    if swapped:
        a, b = b, a
    out_shape = _out_shape(a.shape, b.shape, mode)
    if b.size == 0 or 0 in out_shape:
        # No kernel taps (or nothing to compute): every sum is empty.
        return np.zeros(out_shape, dtype=dtype)
    if a.size == 0 and code != 0:
        raise ValueError(f"in1 must not be empty with boundary={boundary!r}, got shape {a.shape}")
    # scipy's correlate2d correlates with the conjugate of in2 (after the swap)
    kernel = b[::-1, ::-1] if flip else b.conj() if b.dtype.kind == "c" else b
    out = _correlate_bank(a[None], kernel[None], dtype, mode, code, fill, flip)[0, 0]
    if swapped and not flip:
        # scipy computes correlate(in2, in1) here and reverses it (for real
        # input, correlate(in1, in2) read backwards); convolution commutes.
        out = out[::-1, ::-1].copy()
    return out


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0) -> np.ndarray:
    """Convolve two 2-D arrays, with scipy.signal.convolve2d's arguments, dtypes and numbers.

    Parameters
    ----------
    in1 : array_like, shape (M1, N1)
        First input (the image): bool, integer, float or complex.
    in2 : array_like, shape (M2, N2)
        Second input (the kernel): bool, integer, float or complex.
    mode : {'full', 'valid', 'same'}, optional
        Output size: ``full`` (M1+M2-1, N1+N2-1); ``valid`` (M1-M2+1, N1-N2+1),
        the inputs swapped first when `in2` is the larger in every dimension;
        ``same`` the size of `in1`, centred as in scipy.
    boundary : {'fill', 'wrap', 'symm'}, optional
        What lies outside `in1`: `fillvalue`, periodic repetition, or a mirror
        image with the edge repeated. ``'circular'``, ``'symmetric'`` and
        ``'pad'`` are accepted as in scipy.
    fillvalue : scalar, optional
        Value outside `in1` for ``boundary='fill'`` (ignored otherwise, as in
        scipy), converted to the output dtype as scipy converts it: numbers
        by value (2.5 is 2 for an integer output), arrays only where NumPy
        casts their dtype safely.

    Returns
    -------
    ndarray
        The convolution, in scipy's dtype: NumPy's result type of `in1` and
        `in2` (docs/design.md, §1.3 scipy-compatible building blocks).

        * bool and integers: that integer type, computed exactly, and on
          overflow wrapped around modulo ``2**bits`` as scipy (and NumPy)
          wrap: ``convolve2d(np.uint8([[200, 100]]), np.uint8([[1, 1]]),
          'valid')`` is ``[[44]]``.
        * float32 and float64: computed natively.
        * complex64 and complex128: computed as real correlations of the real
          and imaginary parts.
        * Where scipy has no loop, gcnn keeps its float rules: bool with bool
          gives float64, a float16 result float32; longdouble and clongdouble
          are computed in and returned as float64 and complex128.

    Raises
    ------
    TypeError
        For object or string inputs (scipy: ValueError), or a `fillvalue`
        that is not a number.
    ValueError
        For inputs that are not 2-D, an unknown `mode` or `boundary`, a
        `fillvalue` that is not one element or does not convert to the output
        dtype (a complex fill for a real output, an integer out of range; with
        scipy's words), or ``mode='valid'`` when neither input is at least as
        large as the other in every dimension.

    Notes
    -----
    ``out[i, j] = sum_{a, b} in1_ext[i + o_i - a, j + o_j - b] * in2[a, b]``
    with ``in1_ext`` the input extended by `boundary` and the offsets ``o``
    fixed by `mode` (``0`` for full, ``M2 // 2`` and ``N2 // 2`` for same,
    ``M2 - 1`` and ``N2 - 1`` for valid).  Computed as a correlation with the
    flipped kernel by the C core.  Integer results equal scipy's bit for bit
    (sums modulo ``2**bits`` do not depend on their order); float and complex
    results agree to rounding (about 1e-15 relative in float64), since the
    summation order differs from scipy's.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> gcnn.convolve2d(np.eye(3), np.array([[1.0, 2.0]]), mode="same")
    array([[1., 2., 0.],
           [0., 1., 2.],
           [0., 0., 1.]])
    >>> gcnn.convolve2d([[1, 2, 3], [3, 4, 5]], [[2, 3, 4], [4, 5, 6]], mode="valid")
    array([[62]])
    >>> gcnn.convolve2d(np.array([[200, 100]], dtype=np.uint8), np.ones((1, 2), np.uint8))
    array([[200,  44, 100]], dtype=uint8)
    >>> gcnn.convolve2d([[1, 2]], [[1j, 1]])
    array([[0.+1.j, 1.+2.j, 2.+0.j]])
    """
    return _filter2d(in1, in2, mode, boundary, fillvalue, flip=True)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0) -> np.ndarray:
    """Cross-correlate two 2-D arrays, with scipy.signal.correlate2d's arguments and numbers.

    Parameters
    ----------
    in1 : array_like, shape (M1, N1)
        First input.
    in2 : array_like, shape (M2, N2)
        Second input (the template slid over `in1`); complex templates are
        conjugated, as scipy does.
    mode, boundary, fillvalue
        As for :func:`convolve2d`.  In ``valid`` mode with `in2` the larger
        input, the inputs are swapped (so the conjugate falls on `in1`) and
        the result is reversed on both axes, as scipy does.

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
    ``out[i, j] = sum_{a, b} in1_ext[i - o_i + a, j - o_j + b] * conj(in2[a, b])``
    where ``o`` is ``M2 - 1`` (full), ``(M2 - 1) // 2`` (same) or 0 (valid).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> gcnn.correlate2d(np.arange(4.0).reshape(2, 2), np.ones((1, 2)), mode="valid")
    array([[1.],
           [5.]])
    >>> gcnn.correlate2d([[1]], [[2j]])
    array([[0.-2.j]])
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
    """Checked arguments of the tutorial's functions, and convolve2d's output dtype.

    The kernel comes back in the precision the correlation computes in (the
    real one when only the image is complex); the image as it was given.
    """
    arr = as_numeric_array(image, image_name)
    ker = as_numeric_array(kernel, "kernel")
    what = "image (H, W)" if image_ndim == 2 else "stack of feature maps (|G|, H, W)"
    require_ndim(arr, image_ndim, image_name, what)
    require_ndim(ker, 2, "kernel", "array (kh, kw)")
    if arr.size == 0:
        raise ValueError(f"{image_name} must not be empty, got shape {arr.shape}")
    if ker.size == 0:
        raise ValueError(f"kernel must not be empty, got shape {ker.shape}")
    mode = check_mode(mode)
    code = boundary_code(boundary)
    dtype = signal_dtype(arr, ker)
    fill = signal_fillvalue(fillvalue, dtype) if code == 0 else np.zeros((), dtype)
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
    kernel_dtype = np.finfo(dtype).dtype if dtype.kind == "c" and ker.dtype.kind != "c" else dtype
    return arr, ker.astype(kernel_dtype, copy=False), mode, code, fill, dtype


def _all_finite(*arrays) -> bool:
    return all(bool(np.isfinite(np.asarray(a)).all()) for a in arrays)


def _p4_dtype(features: np.ndarray, dtype: np.dtype) -> np.dtype:
    """The published p4 code's output dtype, where it has one.

    It adds each convolution (of `dtype`) into ``np.zeros_like(features)``,
    which NumPy allows when `dtype` casts to the features' dtype within its
    kind.  Where it does not (the published code raises), gcnn returns the
    convolution's own dtype (docs/design.md, §1.2 Facts about the published
    code).
    """
    own = signal_dtype(features)
    return own if np.can_cast(dtype, own, "same_kind") else dtype


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
        ``out[i] = convolve2d(image, np.rot90(kernel, i), mode, boundary, fillvalue)``,
        in :func:`convolve2d`'s dtype, as the published code returns it:
        integer images and kernels give scipy's integer type (exact, wrapping
        around on overflow), complex ones a complex type.

    Raises
    ------
    TypeError
        For object or string inputs.
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
    img, ker, mode, code, fill, dtype = _prepare_blog_args(
        image, kernel, mode, boundary, fillvalue, "image", 2
    )
    groups = _rotation_groups(ker)
    parts = [
        # convolution flips the kernel: correlate with the flipped rotations
        _correlate_bank(img[None], rotated[:, ::-1, ::-1], dtype, mode, code, fill, flipped=True)[0]
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
        boundary, fillvalue)``, in the dtype of `features`, as the published
        code writes into ``np.zeros_like(features)`` (float16 and bool
        features read as float32 and float64, as :func:`convolve2d` does).
        Where the published code raises because :func:`convolve2d`'s dtype
        does not cast to the features' within its kind (integer features
        with a float kernel, real features with a complex kernel), gcnn
        returns :func:`convolve2d`'s dtype (docs/design.md, §1.2 Facts about
        the published code).

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
      computes it (a quarter of the work; equal up to rounding).  With
      infinities or NaN in the input, kernel or fill value gcnn computes the
      four convolutions and adds them as the published code does, so NaN
      appears exactly where it does there (``inf - inf`` across rotations).  The result
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
    feats, ker, mode, code, fill, dtype = _prepare_blog_args(
        features, kernel, mode, boundary, fillvalue, "features", 3
    )
    if dtype.kind in "fc" and not _all_finite(feats, ker, fill):
        # Infinities and NaN: the published code sums four convolutions, where inf - inf
        # and 0 * inf make NaN that one convolution with the summed kernel would not see.
        # Compute its four convolutions and add them in its order, to give its NaN.
        terms = []
        with np.errstate(invalid="ignore", over="ignore"):
            for _, rotated in _rotation_groups(ker):
                flipped = rotated[:, ::-1, ::-1]
                parts = _correlate_bank(feats, flipped, dtype, mode, code, fill, True)
                terms += [parts[:, j] for j in range(parts.shape[1])]
            out = functools.reduce(operator.add, terms)  # left to right, in its order
        return out.astype(_p4_dtype(feats, dtype), copy=False)
    terms = []
    for _, rotated in _rotation_groups(ker):
        # Convolving with each rotation and adding is convolving with their
        # sum: sum the (flipped) kernels once instead of the outputs (in the
        # kernel's own dtype, so integer sums wrap like the convolutions).
        symmetrised = rotated.sum(axis=0, dtype=rotated.dtype)[::-1, ::-1]
        part = _correlate_bank(feats, symmetrised[None], dtype, mode, code, fill, flipped=True)[
            :, 0
        ]
        terms.append(part)
    out = functools.reduce(operator.add, terms)
    return out.astype(_p4_dtype(feats, dtype), copy=False)
