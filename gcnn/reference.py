"""Slow, obviously-correct references: the tutorial's published code and gcnn's formulas.

Every fast path of gcnn is checked against a function of this module: the tests ask "does the
fast one equal the slow one", and ``python -m gcnn bench`` and ``python -m gcnn demo`` time the
tutorial's code from here. Nothing here calls gcnn's C core
or its Python layers; the functions are written from docs/design.md in loops over the indices
of the formulas, computing in float64 (the tutorial's functions excepted: they are the
published code and keep its dtypes).

- The tutorial's two functions, docs/design.md, §1.1 The two functions:
  :func:`lift_correlation` and :func:`p4_group_convolution`.
- The groups' actions, derived from the geometry of the transforms rather than from
  :mod:`gcnn.groups` (docs/design.md, §2.2 Action on images, §2.3 Composition and inverse and
  §2.4 Action on feature maps): :func:`transform_image`, :func:`compose`, :func:`inverse`,
  :func:`transform_features`.
- The layers, docs/design.md, §3 Layers: :func:`lift`, :func:`group_conv`,
  :func:`group_pool`, :func:`spatial_pool`, :func:`conv2d`.
- The C core's correlation primitive, docs/design.md, §9.1 One correlation primitive:
  :func:`correlate`.

SciPy is imported when a function that needs it is called (the tutorial's functions and
:func:`corr`, hence :func:`lift` and :func:`group_conv`); without it they raise an
``ImportError`` that says so, and everything else needs NumPy alone.

**The tutorial's code.** Source: the blog post *Group Convolution Neural Networks* (toy code in
the GitHub repository ``wenhangao21/Tutorials``, folder ``Equivariance``), section 4.2
"Demonstration: Lifting Correlation with the p4 Rotation Group" (``lift_correlation``) and
section 4.4 "Demonstration: Cross Correlation with the p4 Rotation Group"
(``p4_group_convolution``). Changes from the published text, and nothing else:

* ONE fix: the published ``lift_correlation`` body reads a global ``conv_kernel``
  (``np.rot90(conv_kernel, i)``), not its ``kernel`` argument, so as published it raises
  NameError unless such a global happens to exist. Here it rotates ``kernel``.
* The published code hard-codes ``mode='same', boundary='symm'`` (and SciPy's default
  ``fillvalue=0``). Both functions take them as keyword-only parameters whose defaults are
  exactly those published values, so a default call is the published call.
* The docstrings are written in the style of gcnn's; the published ones say the same in
  fewer words.

Everything else is kept as published, on purpose, including its quirks: ``convolve2d`` (true
convolution, despite the name "correlation"), the sum over the four rotated kernels per feature
map (which never mixes orientations), and ``np.zeros_like(features)`` as p4's output buffer
(the output takes the features' dtype, and a non-square kernel in 'full'/'valid' mode fails
with ValueError when the differently shaped results are combined). docs/design.md, §1.2 Facts
about the published code lists what follows from them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "compose",
    "conv2d",
    "corr",
    "correlate",
    "group_conv",
    "group_pool",
    "inverse",
    "lift",
    "lift_correlation",
    "p4_group_convolution",
    "spatial_pool",
    "transform_features",
    "transform_image",
]

#: The order |G| of each group, by name.
ORDERS = {"p4": 4, "p4m": 8}
# The C core's codes of its boundary rules.
_BOUNDARY_NAMES = {0: "fill", 1: "wrap", 2: "symm"}

Pair = Union[int, Sequence[int]]
Padding = Union[int, str, Sequence[int]]


def _convolve2d(*args: Any, **kwargs: Any) -> np.ndarray:
    """``scipy.signal.convolve2d``, imported on first use."""
    return _scipy_signal("convolve2d")(*args, **kwargs)


def _scipy_signal(name: str) -> Any:
    """A function of ``scipy.signal``, or an ImportError naming what needs it."""
    try:
        import scipy.signal
    except ImportError as error:
        raise ImportError(
            f"gcnn.reference needs SciPy for scipy.signal.{name} (the tutorial's functions and "
            "the reference lift and group_conv use it): python -m pip install scipy"
        ) from error
    return getattr(scipy.signal, name)


# --------------------------------------------------------------------------- the tutorial


def lift_correlation(
    image: ArrayLike,
    kernel: ArrayLike,
    *,
    mode: str = "same",
    boundary: str = "symm",
    fillvalue: Any = 0,
) -> np.ndarray:
    """The tutorial's lifting (its section 4.2), with ``kernel`` in place of ``conv_kernel``.

    Parameters
    ----------
    image : array_like, shape (H, W)
        The input image.
    kernel : array_like, shape (kh, kw)
        The filter; its four quarter turns are the four orientations.
    mode, boundary, fillvalue
        Passed to ``scipy.signal.convolve2d``; the defaults are the published values.

    Returns
    -------
    ndarray, shape (4, H', W')
        ``out[i] = convolve2d(image, rot90(kernel, i), mode, boundary, fillvalue)``, in the
        dtype SciPy gives.

    Raises
    ------
    ImportError
        Without SciPy.

    Notes
    -----
    The published code, kept as published but for the fix of the module's docstring; what gcnn
    promises about it is docs/design.md, §1.1 The two functions. Despite the name it
    convolves (SciPy's ``convolve2d`` flips the kernel).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> from gcnn import reference
    >>> image, kernel = np.arange(30.0).reshape(5, 6), np.arange(9.0).reshape(3, 3)
    >>> maps = reference.lift_correlation(image, kernel)
    >>> maps.shape
    (4, 5, 6)
    >>> bool(np.allclose(gcnn.lift_correlation(image, kernel), maps))
    True
    """
    results = []
    for i in range(4):  # apply rotations to the kernel and convolve with the input
        # FIX: the published line is `np.rot90(conv_kernel, i)` (a global); use the argument.
        rotated_kernel = np.rot90(kernel, i)
        result = _convolve2d(
            image, rotated_kernel, mode=mode, boundary=boundary, fillvalue=fillvalue
        )
        results.append(result)
    return np.array(results)


def p4_group_convolution(
    features: np.ndarray,
    kernel: ArrayLike,
    *,
    mode: str = "same",
    boundary: str = "symm",
    fillvalue: Any = 0,
) -> np.ndarray:
    """The tutorial's p4 "group convolution" (its section 4.4), as published.

    Parameters
    ----------
    features : ndarray, shape (M, H, W)
        Feature maps, one per orientation (usually M = 4).
    kernel : array_like, shape (kh, kw)
        The filter.
    mode, boundary, fillvalue
        Passed to ``scipy.signal.convolve2d``; the defaults are the published values.

    Returns
    -------
    ndarray, shape (M, H, W), the dtype of ``features``
        ``out[i] = sum_j convolve2d(features[i], rot90(kernel, j), mode, boundary, fillvalue)``
        for j = 0..3, added into ``np.zeros_like(features)``.

    Raises
    ------
    ImportError
        Without SciPy.
    ValueError
        When a result does not fit the features' spatial shape ('full' mode, or 'valid' with
        a kernel larger than 1 x 1): the published code writes into ``np.zeros_like``.

    Notes
    -----
    Output map ``i`` depends on input map ``i`` only: the function never mixes orientations
    (docs/design.md, §1.2 Facts about the published code).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> from gcnn import reference
    >>> rng = np.random.default_rng(0)
    >>> features, kernel = rng.standard_normal((4, 6, 6)), rng.standard_normal((3, 3))
    >>> out = reference.p4_group_convolution(features, kernel)
    >>> bool(np.allclose(gcnn.p4_group_convolution(features, kernel), out))
    True
    """
    output = np.zeros_like(features)
    # Perform convolution for each feature map, convolve over both planar and angular axes
    for i in range(features.shape[0]):
        feature_map = features[i]
        result = np.zeros_like(feature_map)
        # SE(2) group on the kernels
        for j in range(4):
            rotated_kernel = np.rot90(kernel, j)
            result += _convolve2d(
                feature_map, rotated_kernel, mode=mode, boundary=boundary, fillvalue=fillvalue
            )
        output[i] = result
    return output


# --------------------------------------------------------------------------- groups


def transform_image(a: ArrayLike, g: int) -> np.ndarray:
    """``T_g`` on the last two axes: mirror (flip the last axis) if ``g >= 4``, then turn.

    Parameters
    ----------
    a : array_like, shape (..., H, W)
    g : int
        A group element ``4*m + r``, 0 to 7 (docs/design.md, §2.1 Element indices).

    Returns
    -------
    ndarray, shape (..., H, W), or (..., W, H) for an odd ``r``
        ``np.rot90(np.flip(a, -1) if m else a, r, axes=(-2, -1))``: a view of ``a``.

    Notes
    -----
    docs/design.md, §2.2 Action on images.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import reference
    >>> reference.transform_image(np.array([[1, 2], [3, 4]]), 1)
    array([[2, 4],
           [1, 3]])
    """
    mirror, turns = divmod(g, 4)
    a = np.asarray(a)
    if mirror:
        a = np.flip(a, -1)
    return np.rot90(a, turns, axes=(-2, -1))


@functools.cache
def compose(a: int, b: int) -> int:
    """The element ``c`` with ``T_c == T_a o T_b`` ("``T_b``, then ``T_a``").

    Found from what the maps do to an image without any symmetry, so the group law comes from
    the geometry of :func:`transform_image` alone (docs/design.md, §2.3 Composition and
    inverse).

    Parameters
    ----------
    a, b : int
        Elements 0 to 7.

    Returns
    -------
    int

    Examples
    --------
    >>> from gcnn import reference
    >>> reference.compose(4, 1)     # one turn, then a mirror: a mirror, then three turns
    7
    """
    probe = np.arange(9).reshape(3, 3)
    target = transform_image(transform_image(probe, b), a)
    return next(c for c in range(8) if np.array_equal(transform_image(probe, c), target))


@functools.cache
def inverse(a: int) -> int:
    """The element ``b`` with ``compose(a, b) == 0``.

    Parameters
    ----------
    a : int
        An element 0 to 7.

    Returns
    -------
    int

    Examples
    --------
    >>> from gcnn import reference
    >>> reference.inverse(1), reference.inverse(5)
    (3, 5)
    """
    return next(b for b in range(8) if compose(a, b) == 0)


def transform_features(F: ArrayLike, g: int, order: int | None = None) -> np.ndarray:
    """``L_g`` on feature maps on the group: ``(L_g F)[h] = T_g(F[g^-1 h])`` on axis -3.

    Parameters
    ----------
    F : array_like, shape (..., |G|, H, W)
    g : int
        An element of the group.
    order : int, optional
        ``|G|``, 4 (p4) or 8 (p4m); by default the length of axis -3.

    Returns
    -------
    ndarray, shape (..., |G|, H, W), or (..., |G|, W, H) for an odd number of turns

    Notes
    -----
    docs/design.md, §2.4 Action on feature maps.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import reference
    >>> F = np.arange(4.0).reshape(4, 1, 1)          # one pixel per orientation
    >>> reference.transform_features(F, 1).ravel()   # p4: slots shift cyclically by one
    array([3., 0., 1., 2.])
    """
    F = np.asarray(F)
    order = F.shape[-3] if order is None else order
    g_inverse = inverse(g)
    planes = [transform_image(F[..., compose(g_inverse, h), :, :], g) for h in range(order)]
    return np.stack(planes, axis=-3)


# --------------------------------------------------------------------------- layers


def _pair(value: Pair) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def _padding(padding: Padding, k: int) -> tuple[int, int]:
    """The group layers' symmetric padding (docs/design.md, §3.1 Output size)."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        return ((k - 1) // 2,) * 2 if padding == "same" else (0, 0)
    return _pair(padding)


def corr(a: ArrayLike, kernel: ArrayLike, stride: Pair, padding: tuple[int, int]) -> np.ndarray:
    """The correlation of one 2-D array with one 2-D kernel over zero padding, strided.

    Parameters
    ----------
    a : array_like, shape (H, W)
    kernel : array_like, shape (kh, kw)
    stride : int or (int, int)
    padding : (int, int)
        Rows and columns of zeros added on both sides.

    Returns
    -------
    ndarray of float64, shape (H', W')
        ``scipy.signal.correlate2d(pad(a), kernel, "valid")[::s_rows, ::s_cols]``.

    Raises
    ------
    ImportError
        Without SciPy.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import reference
    >>> reference.corr(np.eye(3), np.ones((2, 2)), 1, (0, 0))
    array([[2., 1.],
           [1., 2.]])
    """
    correlate2d = _scipy_signal("correlate2d")
    sh, sw = _pair(stride)
    ph, pw = padding
    padded = np.pad(np.asarray(a, dtype=np.float64), ((ph, ph), (pw, pw)))
    full = correlate2d(padded, np.asarray(kernel, dtype=np.float64), mode="valid")
    return full[::sh, ::sw]


def lift(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    group: str = "p4",
    stride: Pair = 1,
    padding: Padding = 0,
) -> np.ndarray:
    """The lifting layer by its formula, one output plane at a time.

    ``out[n, o, g] = sum_c corr(x[n, c], T_g(weight[o, c])) + bias[o]``
    (docs/design.md, §3.2 lift and group_conv).

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W)
    weight : array_like, shape (C_out, C_in, k, k)
    bias : array_like, shape (C_out,), optional
    group : {"p4", "p4m"}
    stride : int or (int, int)
    padding : int, (int, int), "valid" or "same"

    Returns
    -------
    ndarray of float64, shape (N, C_out, |G|, H', W')

    Raises
    ------
    ImportError
        Without SciPy.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> from gcnn import reference
    >>> rng = np.random.default_rng(0)
    >>> x, weight = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    >>> out = reference.lift(x, weight, group="p4m", padding=1)
    >>> out.shape
    (1, 3, 8, 6, 6)
    >>> bool(np.allclose(gcnn.lift(x, weight, group="p4m", padding=1), out))
    True
    """
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
                total: Any = 0.0
                for c in range(x.shape[1]):
                    total = total + corr(x[n, c], transform_image(weight[o, c], g), stride, pads)
                if bias is not None:
                    total = total + float(np.asarray(bias)[o])
                per_g.append(total)
            per_out.append(per_g)
        rows.append(per_out)
    return np.array(rows, dtype=np.float64)


def group_conv(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    group: str = "p4",
    stride: Pair = 1,
    padding: Padding = 0,
) -> np.ndarray:
    """The group convolution by its formula, one output plane at a time.

    ``out[n, o, g] = sum_{c, h} corr(x[n, c, h], T_g(weight[o, c, g^-1 h])) + bias[o]``
    (docs/design.md, §3.2 lift and group_conv).

    Parameters
    ----------
    x : array_like, shape (N, C_in, |G|, H, W)
    weight : array_like, shape (C_out, C_in, |G|, k, k)
    bias : array_like, shape (C_out,), optional
    group : {"p4", "p4m"}
    stride : int or (int, int)
    padding : int, (int, int), "valid" or "same"

    Returns
    -------
    ndarray of float64, shape (N, C_out, |G|, H', W')

    Raises
    ------
    ImportError
        Without SciPy.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> from gcnn import reference
    >>> rng = np.random.default_rng(0)
    >>> x, weight = rng.standard_normal((1, 2, 4, 5, 5)), rng.standard_normal((1, 2, 4, 3, 3))
    >>> bool(np.allclose(gcnn.group_conv(x, weight), reference.group_conv(x, weight)))
    True
    """
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
                total: Any = 0.0
                for c in range(x.shape[1]):
                    for h in range(order):
                        kernel = transform_image(weight[o, c, compose(g_inverse, h)], g)
                        total = total + corr(x[n, c, h], kernel, stride, pads)
                if bias is not None:
                    total = total + float(np.asarray(bias)[o])
                per_g.append(total)
            per_out.append(per_g)
        rows.append(per_out)
    return np.array(rows, dtype=np.float64)


def group_pool(x: ArrayLike, reduce: str = "max") -> np.ndarray:
    """Pooling over the group axis -3, one plane at a time (docs/design.md, §3.3 group_pool).

    Parameters
    ----------
    x : array_like, shape (..., |G|, H, W)
    reduce : {"max", "mean", "sum"}

    Returns
    -------
    ndarray of float64, shape (..., H, W)

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import reference
    >>> reference.group_pool(np.arange(8.0).reshape(2, 2, 2), "sum")
    array([[ 4.,  6.],
           [ 8., 10.]])
    """
    x = np.asarray(x, dtype=np.float64)
    planes = [x[..., h, :, :] for h in range(x.shape[-3])]
    out = planes[0].copy()
    for plane in planes[1:]:
        out = np.maximum(out, plane) if reduce == "max" else out + plane
    return out / len(planes) if reduce == "mean" else out


def spatial_pool(
    x: ArrayLike,
    kernel_size: Pair,
    stride: Pair | None = None,
    padding: Pair = 0,
    reduce: str = "max",
) -> np.ndarray:
    """PyTorch's ``max_pool2d`` and ``avg_pool2d(count_include_pad=True)`` by window loops.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
    kernel_size, stride, padding : int or (int, int)
        As in docs/design.md, §3.4 spatial_pool; ``stride`` defaults to ``kernel_size``.
    reduce : {"max", "mean"}

    Returns
    -------
    ndarray of float64, shape (..., H', W')

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import reference
    >>> reference.spatial_pool(np.arange(16.0).reshape(4, 4), 2)
    array([[ 5.,  7.],
           [13., 15.]])
    """
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


def conv2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: Pair = 1,
    padding: Padding = 0,
) -> np.ndarray:
    """The planar convolution of ordinary CNNs (PyTorch's ``conv2d``), by :func:`correlate`.

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (C_out, C_in, kh, kw)
    bias : array_like, shape (C_out,), optional
    stride : int or (int, int)
    padding : int, (int, int), "valid" or "same"
        ``"same"`` pads as PyTorch does: an even kernel's extra row and column go after the
        image (docs/design.md, §3.6 conv2d).

    Returns
    -------
    ndarray of float64, shape (N, C_out, H', W') (no batch axis if ``x`` had none)

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> from gcnn import reference
    >>> rng = np.random.default_rng(0)
    >>> x, weight = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 2, 3))
    >>> out = reference.conv2d(x, weight, padding="same")
    >>> out.shape
    (2, 4, 7, 6)
    >>> bool(np.allclose(gcnn.conv2d(x, weight, padding="same"), out))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    kh, kw = weight.shape[-2:]
    if padding == "same":  # PyTorch's: the extra row and column of an even kernel go after
        pads = ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    else:
        ph, pw = _padding(padding, kh)
        pads = (ph, ph, pw, pw)
    if x.ndim == 3:
        return correlate(x[None], weight, bias, stride=_pair(stride), padding=pads)[0]
    return correlate(x, weight, bias, stride=_pair(stride), padding=pads)


def correlate(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    boundary: int | str = "fill",
    fillvalue: float = 0.0,
) -> np.ndarray:
    """The C core's correlation primitive by its formula (docs/design.md, §9.1 One correlation
    primitive).

    ``out[n, o, y, x] = bias[o] + sum_{c, ky, kx} xpad[n, c, y*sh + ky, x*sw + kx] *
    w[o, c, ky, kx]``, every window of the padded input read by NumPy's sliding windows.

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W)
    weight : array_like, shape (C_out, C_in, kh, kw)
    bias : array_like, shape (C_out,), optional
    stride : (int, int)
    padding : (int, int, int, int)
        Top, bottom, left and right, any sizes, lopsided too.
    boundary : {"fill", "wrap", "symm"} or the C core's codes 0, 1, 2
        What ``xpad`` holds outside ``x``: ``fillvalue``, ``x`` repeated periodically, or ``x``
        mirrored with the edge repeated (scipy's "symm"), also beyond one image size.
    fillvalue : float
        Read for ``"fill"`` only.

    Returns
    -------
    ndarray of float64, shape (N, C_out, H', W')

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import reference
    >>> x = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> reference.correlate(x, np.ones((1, 1, 1, 2)), padding=(0, 0, 1, 0), fillvalue=10.0)
    array([[[[10.,  1.],
             [12.,  5.]]]])
    """
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    name = _BOUNDARY_NAMES[boundary] if isinstance(boundary, int) else boundary
    top, bottom, left, right = padding
    widths = ((0, 0), (0, 0), (top, bottom), (left, right))
    if name == "fill":
        xpad = np.pad(x, widths, mode="constant", constant_values=fillvalue)
    elif name == "wrap":
        xpad = np.pad(x, widths, mode="wrap")
    elif name == "symm":  # np.pad's "symmetric" repeats the edge, as scipy's "symm" does
        xpad = np.pad(x, widths, mode="symmetric")
    else:
        raise ValueError(f"boundary must be 'fill', 'wrap' or 'symm', got {boundary!r}")
    kernel_h, kernel_w = weight.shape[-2:]
    windows = np.lib.stride_tricks.sliding_window_view(xpad, (kernel_h, kernel_w), axis=(-2, -1))
    windows = windows[:, :, :: stride[0], :: stride[1]]
    out = np.einsum("ncyxij,ocij->noyx", windows, weight)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)[:, None, None]
    return out
