"""Functional group-CNN layers: lifting, group convolution and pooling.

The contract is docs/design.md, §3 Layers; the backward functions follow docs/design.md,
§6 Gradients.

Layout is NCHW with the group axis right after the channels, ``(N, C, |G|, H, W)``, and the
convolutions are cross-correlations like PyTorch's ``conv2d``.  Both convolutions reduce to ONE
call of the C correlation kernel (``gcnn._core.correlate``): the filter bank is expanded once
per call into a plain ``conv2d`` weight holding every transformed copy of every filter
(:func:`expand_filter`), so each loaded input patch is shared by all |G| transformed kernels.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Literal, TypeVar, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _config, _core, steerable
from ._validate import as_real_array, compute_dtype, contiguous, flag, positive_int
from .groups import GroupLike, PointGroup, get_group

__all__ = [
    "conv2d",
    "conv2d_backward",
    "expand_filter",
    "group_conv",
    "group_conv_backward",
    "group_pool",
    "lift",
    "lift_backward",
    "spatial_pool",
]

IntPair = Union[int, tuple[int, int]]
Padding = Union[int, tuple[int, int], str]

GROUP_POOL_REDUCTIONS: tuple[Literal["max", "mean", "sum"], ...] = ("max", "mean", "sum")
SPATIAL_POOL_REDUCTIONS: tuple[Literal["max", "mean"], ...] = ("max", "mean")
_Reduce = TypeVar("_Reduce", bound=str)


# --------------------------------------------------------------------------- argument helpers


def resolve_group(group: GroupLike) -> PointGroup:
    """The PointGroup named by `group`; ValueError naming ``group`` otherwise."""
    try:
        return get_group(group)
    except (TypeError, ValueError):
        raise ValueError(
            f"group must be 'p4', 'p4m' or a group instance, got {group!r}; the cyclic and "
            "dihedral groups of any order N >= 1 are 'cN' and 'dN' (e.g. 'c8', 'd16')"
        ) from None


def _pair_of_ints(value, name: str) -> tuple[int, int]:
    """An int or a length-2 sequence of ints as a pair (no range check); bool is refused."""
    message = f"{name} must be an integer or a pair of integers, got {value!r}"
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(message)
    try:
        number = operator.index(value)
    except TypeError:
        pass
    else:
        return number, number
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(message) from None
    if len(items) != 2:
        raise ValueError(message)
    if any(isinstance(item, (bool, np.bool_)) for item in items):
        raise TypeError(message)
    try:
        return operator.index(items[0]), operator.index(items[1])
    except TypeError:
        raise TypeError(message) from None


#: Largest stride, padding or size a layer accepts: beyond it sizes cannot be represented in C
#: (and no array that large could exist).
MAX_GEOMETRY = 2**62


def _bounded(pair: tuple[int, int], value, name: str) -> tuple[int, int]:
    if max(pair) > MAX_GEOMETRY:
        raise ValueError(f"{name} is too large: at most 2**62, got {value!r}")
    return pair


def positive_pair(value, name: str) -> tuple[int, int]:
    """`value` (int or pair) as a pair of positive ints (at most MAX_GEOMETRY)."""
    pair = _pair_of_ints(value, name)
    for number in pair:
        positive_int(number, name)
    return _bounded(pair, value, name)


def nonnegative_pair(value, name: str) -> tuple[int, int]:
    """`value` (int or pair) as a pair of nonnegative ints."""
    pair = _pair_of_ints(value, name)
    if min(pair) < 0:
        raise ValueError(f"{name} must be nonnegative, got {value!r}")
    return _bounded(pair, value, name)


def resolve_padding(padding: Padding, kernel_size: int, stride: tuple[int, int]) -> tuple[int, int]:
    """Symmetric (rows, columns) padding for a square ``kernel_size`` kernel.

    ``"valid"`` is 0; ``"same"`` is ``(k - 1) // 2`` and needs an odd kernel (an even one would
    need more padding on one side than the other) and stride 1 (as PyTorch requires).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if kernel_size % 2 == 0:
                raise ValueError(
                    f"padding='same' needs an odd kernel size, got {kernel_size}: an even kernel "
                    "would need lopsided padding (one more row and column on one side), which "
                    "breaks equivariance; pad explicitly with an int instead"
                )
            if stride != (1, 1):
                raise ValueError(
                    f"padding='same' is not supported with stride {stride} (as in PyTorch): the "
                    "output cannot have the input's size; pad explicitly with an int instead"
                )
            return (kernel_size - 1) // 2, (kernel_size - 1) // 2
        raise ValueError(
            f"padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}"
        )
    return nonnegative_pair(padding, "padding")


def _square_kernel_size(weight: np.ndarray) -> int:
    kh, kw = weight.shape[-2:]
    if kh != kw:
        raise ValueError(
            "weight must have a square kernel (kh == kw): a quarter turn of a non-square "
            f"kernel changes its shape, got weight of shape {weight.shape}"
        )
    if kh < 1:
        raise ValueError(f"weight must have a kernel size of at least 1, got shape {weight.shape}")
    return kh


def check_reduce(reduce: object, allowed: Sequence[_Reduce]) -> _Reduce:
    for name in allowed:
        if isinstance(reduce, str) and reduce == name:
            return name
    names = ", ".join(repr(name) for name in allowed[:-1]) + f" or {allowed[-1]!r}"
    raise ValueError(f"reduce must be {names}, got {reduce!r}")


# --------------------------------------------------------------------------- filter expansion


@functools.lru_cache(maxsize=64)
def _pixel_gather(group: PointGroup, kernel_size: int) -> np.ndarray:
    """Index array (|G|, k*k): ``T_g(a).ravel() == a.ravel()[index[g]]`` for a k x k kernel."""
    positions = np.arange(kernel_size * kernel_size).reshape(kernel_size, kernel_size)
    index = np.stack([group.transform_image(positions, g).ravel() for g in group.elements])
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=8)
def _orientation_gather(group: PointGroup) -> np.ndarray:
    """Index array (|G|, |G|): ``index[g, h] = g^-1 h``, the input slot feeding slot h of L_g."""
    index = np.stack([group.permutation(g) for g in group.elements])
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=64)
def _turn_matrices(group: PointGroup, kernel_size: int) -> np.ndarray:
    """(|G|, k*k, k*k): ``A_g``, turning a flattened steerable filter by T_g (§3.7)."""
    matrices = np.stack(
        [
            steerable.turn_matrix(kernel_size, group.angle(g), g >= group.rotations)
            for g in group.elements
        ]
    )
    matrices.flags.writeable = False
    return matrices


def _expand_steerable(weight: np.ndarray, group: PointGroup, kind: str) -> np.ndarray:
    """expand_filter for groups with turns that are not quarter turns: ``A_g`` for ``T_g``."""
    order = group.order
    out_channels, in_channels = weight.shape[:2]
    k = weight.shape[-1]
    matrices = _turn_matrices(group, k).astype(weight.dtype, copy=False)
    if kind == "lift":
        flat = weight.reshape(1, out_channels * in_channels, k * k)
        # expanded[o, g, c] = A_g w[o, c]: one matrix product per g (BLAS, batched over g).
        turned = np.matmul(flat, matrices.transpose(0, 2, 1))
        by_output = turned.reshape(order, out_channels, in_channels, k * k).transpose(1, 0, 2, 3)
        return np.ascontiguousarray(by_output).reshape(out_channels * order, in_channels, k, k)
    by_orientation = weight.reshape(out_channels, in_channels, order, k * k)
    # expanded[o, g, c, h] = A_g w[o, c, g^-1 h]: gather the orientations, then g leads so
    # that each A_g multiplies one contiguous block.
    gathered = by_orientation[:, :, _orientation_gather(group)].transpose(2, 0, 1, 3, 4)
    blocks = gathered.reshape(order, out_channels * in_channels * order, k * k)
    turned = np.matmul(blocks, matrices.transpose(0, 2, 1))
    by_output = turned.reshape(order, out_channels, in_channels, order, k * k)
    expanded = np.ascontiguousarray(by_output.transpose(1, 0, 2, 3, 4))
    return expanded.reshape(out_channels * order, in_channels * order, k, k)


#: Banks up to this many values expand through a cached flat index (one np.take).
_CACHED_GATHER_MAX = 1 << 18


@functools.lru_cache(maxsize=16)
def _expand_index(group: PointGroup, kind: str, weight_shape: tuple) -> np.ndarray:
    """Flat index with ``_expand(w).ravel() == w.ravel()[index]``: the gather of _expand
    applied to the positions themselves, once per layer shape."""
    positions = np.arange(math.prod(weight_shape)).reshape(weight_shape)
    index = _expand_gather(positions, group, kind).ravel()
    index.flags.writeable = False
    return index


def _expand(weight: np.ndarray, group: PointGroup, kind: str) -> np.ndarray:
    """expand_filter on an already validated float weight (one gather, no Python pixel loops)."""
    if group.steerable:
        return _expand_steerable(weight, group, kind)
    if weight.size * group.order <= _CACHED_GATHER_MAX:  # the bank's size
        k = weight.shape[-1]
        rows = weight.shape[0] * group.order
        index = _expand_index(group, kind, weight.shape)
        return np.take(weight, index).reshape(rows, index.size // (rows * k * k), k, k)
    return _expand_gather(weight, group, kind)


def _expand_gather(weight: np.ndarray, group: PointGroup, kind: str) -> np.ndarray:
    """_expand's gather by fancy indexing, for any array of the weight's shape."""
    order = group.order
    out_channels, in_channels = weight.shape[:2]
    k = weight.shape[-1]
    pixels = _pixel_gather(group, k)
    channels = np.arange(in_channels)
    if kind == "lift":
        flat: np.ndarray = weight.reshape(out_channels, in_channels, k * k)
        # expanded[o, g, c, p] = weight[o, c].ravel()[pixels[g, p]] = T_g(weight[o, c]).ravel()[p]
        expanded = flat[:, channels[None, :, None], pixels[:, None, :]]
        return expanded.reshape(out_channels * order, in_channels, k, k)
    flat = weight.reshape(out_channels, in_channels, order, k * k)
    orientations = _orientation_gather(group)
    # expanded[o, g, c, h, p] = T_g(weight[o, c, g^-1 h]).ravel()[p]
    expanded = flat[
        :,
        channels[None, :, None, None],
        orientations[:, None, :, None],
        pixels[:, None, None, :],
    ]
    return expanded.reshape(out_channels * order, in_channels * order, k, k)


def expand_filter(
    weight: ArrayLike, group: GroupLike = "p4", kind: Literal["lift", "group"] = "lift"
) -> np.ndarray:
    """Expand group-CNN filters into an ordinary ``conv2d`` weight with every transformed copy.

    Parameters
    ----------
    weight : array_like
        ``kind="lift"``: shape (C_out, C_in, k, k).
        ``kind="group"``: shape (C_out, C_in, |G|, k, k).
    group : {"p4", "p4m"} or PointGroup, optional
        The group; ``|G|`` is 4 for p4 and 8 for p4m.
    kind : {"lift", "group"}, optional
        Which layer the filters belong to: :func:`lift` or :func:`group_conv`.

    Returns
    -------
    numpy.ndarray
        ``kind="lift"``: shape (C_out*|G|, C_in, k, k) with ``out[o*|G| + g] = T_g(weight[o])``.
        ``kind="group"``: shape (C_out*|G|, C_in*|G|, k, k) with
        ``out[o*|G| + g, c*|G| + h] = T_g(weight[o, c, g^-1 h])``.
        A new C-contiguous array in the float dtype of docs/design.md, §5.1 Dtypes (float32
        for float16/float32 weights, float64 otherwise).

    Raises
    ------
    TypeError
        If `weight` is complex, object or string.
    ValueError
        If `weight` has the wrong shape or a non-square kernel, or `group` or `kind` is unknown.

    Notes
    -----
    ``T_g`` mirrors left-right first (``np.flip(a, -1)`` when ``g >= 4``) and then turns ``g % 4``
    quarter turns with ``np.rot90(a, g % 4, axes=(-2, -1))`` (counter-clockwise as displayed with
    row 0 at the top).  For p4 the group weight index ``g^-1 h`` is ``(h - g) % 4``.

    Correlating with the expanded weight is the layer: ``lift(x, w)`` equals a plain 2-D
    cross-correlation (e.g. ``torch.nn.functional.conv2d``) of ``x`` with
    ``expand_filter(w, group, "lift")``, reshaped from (N, C_out*|G|, H', W') to
    (N, C_out, |G|, H', W'); ``group_conv(F, w)`` equals the correlation of ``F`` reshaped to
    (N, C_in*|G|, H, W) with ``expand_filter(w, group, "group")``.  Rows ``o*|G|`` (the identity
    slot) hold the filters unchanged, as e2cnn's ``expand_parameters()`` does.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> w = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> bank = gcnn.expand_filter(w, "p4", kind="lift")
    >>> bank.shape
    (4, 1, 2, 2)
    >>> bool(np.array_equal(bank[1, 0], np.rot90(w[0, 0])))
    True
    >>> gcnn.expand_filter(np.zeros((2, 3, 8, 3, 3)), "p4m", kind="group").shape
    (16, 24, 3, 3)
    """
    grp = resolve_group(group)
    if kind not in ("lift", "group"):
        raise ValueError(f"kind must be 'lift' or 'group', got {kind!r}")
    w = as_real_array(weight, "weight")
    order = grp.order
    if kind == "lift":
        if w.ndim != 4:
            raise ValueError(
                f"weight must have shape (C_out, C_in, k, k) for kind='lift', got {w.shape}"
            )
    elif w.ndim != 5 or w.shape[2] != order:
        raise ValueError(
            f"weight must have shape (C_out, C_in, {order}, k, k) for kind='group' and group "
            f"{grp.name}, got {w.shape}"
        )
    _square_kernel_size(w)
    return _expand(w.astype(compute_dtype(w), copy=False), grp, kind)


# --------------------------------------------------------------------------- convolutions


def _lift_operands(xa: np.ndarray, wa: np.ndarray) -> tuple[np.ndarray, bool]:
    """Check lift's shapes; x batched (N, C_in, H, W) and whether it came batched."""
    if xa.ndim not in (3, 4):
        raise ValueError(
            f"x must have shape (N, C_in, H, W) or (C_in, H, W), got {xa.shape}"
            + _channels_last_hint(xa.shape)
        )
    batched = xa[None] if xa.ndim == 3 else xa
    in_channels = batched.shape[1]
    if wa.ndim != 4 or wa.shape[1] != in_channels:
        raise ValueError(
            f"weight must have shape (C_out, {in_channels}, k, k) for x with {in_channels} "
            f"channels, got {wa.shape}" + _channels_last_hint(xa.shape)
        )
    return batched, xa.ndim == 4


def _group_operands(xa: np.ndarray, wa: np.ndarray, grp: PointGroup) -> tuple[np.ndarray, bool]:
    """Check group_conv's shapes; x batched (N, C_in, |G|, H, W) and whether it came batched."""
    order = grp.order
    if xa.ndim not in (4, 5) or xa.shape[-3] != order:
        raise ValueError(
            f"x must have shape (N, C_in, {order}, H, W) or (C_in, {order}, H, W) for group "
            f"{grp.name}, got {xa.shape}"
        )
    batched = xa[None] if xa.ndim == 4 else xa
    in_channels = batched.shape[1]
    if wa.ndim != 5 or wa.shape[1] != in_channels or wa.shape[2] != order:
        raise ValueError(
            f"weight must have shape (C_out, {in_channels}, {order}, k, k) for x with "
            f"{in_channels} channels and group {grp.name}, got {wa.shape}"
        )
    return batched, xa.ndim == 5


def _output_bytes(shape: tuple, dtype: np.dtype) -> int:
    return math.prod(shape) * np.dtype(dtype).itemsize


def _check_output(shape: tuple, dtype: np.dtype, cause: str) -> None:
    """ValueError naming `cause` when an array of `shape` could not even be addressed."""
    if _output_bytes(shape, dtype) > MAX_GEOMETRY:
        raise ValueError(
            f"{cause} would give an output of shape {shape} ({_output_bytes(shape, dtype)} bytes): "
            "too large"
        )


class _ExplainMemoryError:
    """Context manager: a MemoryError inside says which output did not fit, and for what."""

    def __init__(self, shape: tuple, dtype: np.dtype, cause: str) -> None:
        self.shape, self.dtype, self.cause = shape, dtype, cause

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> Literal[False]:
        if kind is not None and issubclass(kind, MemoryError):
            gib = _output_bytes(self.shape, self.dtype) / 2**30
            raise MemoryError(
                f"{self.cause}: the output of shape {self.shape} ({gib:.3g} GiB of "
                f"{np.dtype(self.dtype)}) and its scratch do not fit in memory ({error})"
            ) from error
        return False


def _whole_window(x: np.ndarray, bank: np.ndarray, strides, pads) -> bool:
    """True when correlate(x, bank) has one output position per map and no padding: the
    window then covers x[..., :kh, :kw] and the call is a product of (N, C*kh*kw) by
    (C*kh*kw, O), which :func:`_correlate` runs as a 1x1 correlation along the batch."""
    kh, kw = bank.shape[-2:]
    height, width = x.shape[-2:]
    return (
        not any(pads)
        and (height - kh) // strides[0] == 0
        and (width - kw) // strides[1] == 0
        and _config.algorithm_code() <= _config.ALGORITHMS["direct"]
    )


def _batch_product(rows: np.ndarray, matrix: np.ndarray, bias) -> np.ndarray:
    """rows (N, K) times matrix (O, K) transposed, plus bias (O,): (N, O), by the C core's
    1x1 correlation of the (1, K, 1, N) map (vectors along the batch, sums over K in order)."""
    n, depth = rows.shape
    out = _core.correlate(
        np.ascontiguousarray(rows.T).reshape(1, depth, 1, n),
        matrix.reshape(matrix.shape[0], depth, 1, 1),
        bias,
        (1, 1),
        (0, 0, 0, 0),
        0,
        0.0,
        _config.get_num_threads(),
        algorithm=_config.ALGORITHMS["direct"],
    )
    return np.ascontiguousarray(out.reshape(matrix.shape[0], n).T)


def _correlate(x: np.ndarray, bank: np.ndarray, bias, strides, pads) -> np.ndarray:
    """The layers' forward correlation: x (N, C, H, W) and bank (O, C, kh, kw) C-contiguous
    in one float dtype, zero padding (top, bottom, left, right).  A window that covers the
    whole map (the P4CNN's last layer) runs as a product along the batch, whose vectors
    are full, instead of one output position per image (docs/design.md, §9.1 One
    correlation primitive)."""
    if _whole_window(x, bank, strides, pads):
        kh, kw = bank.shape[-2:]
        rows = x[:, :, :kh, :kw].reshape(x.shape[0], -1)
        out = _batch_product(rows, bank, bias)
        return out.reshape(x.shape[0], bank.shape[0], 1, 1)
    return _core.correlate(
        x,
        bank,
        bias,
        strides,
        pads,
        0,
        0.0,
        _config.get_num_threads(),
        algorithm=_config.algorithm_code(),
    )


def _group_correlate(
    batched: np.ndarray,
    w: np.ndarray,
    bias,
    group: PointGroup,
    stride,
    padding,
    kind: str,
) -> np.ndarray:
    """Shared body of lift and group_conv once x is batched and the shapes are checked.

    `batched` is (N, C_in, H, W) for lift and (N, C_in, |G|, H, W) for group_conv.
    Returns (N, C_out, |G|, H', W').
    """
    order = group.order
    k = w.shape[-1]
    strides = positive_pair(stride, "stride")
    pads = resolve_padding(padding, k, strides)
    dtype = compute_dtype(batched, w)
    out_channels = w.shape[0]

    bias_array = None
    if bias is not None:
        bias_array = as_real_array(bias, "bias")
        if bias_array.shape != (out_channels,):
            raise ValueError(
                f"bias must have shape ({out_channels},) for weight with {out_channels} output "
                f"channels, got {bias_array.shape}"
            )

    height, width = batched.shape[-2:]
    padded = (height + 2 * pads[0], width + 2 * pads[1])
    if padded[0] < k or padded[1] < k:
        raise ValueError(
            f"x is too small for a {k}x{k} kernel: its spatial size {height}x{width} padded by "
            f"{pads} is {padded[0]}x{padded[1]} (x has shape {batched.shape})"
        )
    out_h = (padded[0] - k) // strides[0] + 1
    out_w = (padded[1] - k) // strides[1] + 1
    out_shape = (batched.shape[0], out_channels, order, out_h, out_w)
    layer = "lift" if kind == "lift" else "group_conv"
    cause = (
        f"{layer} of x with shape {batched.shape} by a {k}x{k} kernel with padding={padding!r} "
        f"and stride={stride!r}"
    )
    _check_output(out_shape, dtype, cause)

    in_channels = batched.shape[1]
    if batched.shape[0] == 0 or out_channels == 0 or in_channels == 0:
        # Nothing for the kernel to do (it needs nonempty sizes): empty sums are the bias.
        out = np.zeros(out_shape, dtype=dtype)
        if bias_array is not None:
            out += bias_array.astype(dtype)[:, None, None, None]
        return out

    x_rows = contiguous(batched, dtype)
    if kind == "group":
        x_rows = x_rows.reshape(batched.shape[0], in_channels * order, height, width)
    bank = _expand(w.astype(dtype, copy=False), group, kind)
    repeated_bias = None
    if bias_array is not None:
        # Every output slot o*|G| + g of the expanded bank shares bias[o].
        repeated_bias = np.repeat(contiguous(bias_array, dtype), order)
    with _ExplainMemoryError(out_shape, dtype, cause):
        out = _correlate(x_rows, bank, repeated_bias, strides, (pads[0], pads[0], pads[1], pads[1]))
    return out.reshape(out_shape)


def lift(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    group: GroupLike = "p4",
    stride: IntPair = 1,
    padding: Padding = 0,
) -> np.ndarray:
    """Lifting correlation: images to feature maps on the group (the first layer of a G-CNN).

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
        Input images; an unbatched input gives an unbatched output, as in PyTorch.
    weight : array_like, shape (C_out, C_in, k, k)
        Filters; the kernel must be square (its quarter turns must keep its shape).
    bias : array_like, shape (C_out,), optional
        Added to every orientation and pixel of output channel ``o``.
    group : {"p4", "p4m"} or PointGroup, optional
        Quarter turns (p4, ``|G| = 4``) or quarter turns and mirrors (p4m, ``|G| = 8``).
    stride : int or (int, int), optional
        Step between output pixels, rows then columns.
    padding : int, (int, int), "same" or "valid", optional
        Zeros added on every side (rows, columns).  ``"valid"`` is 0; ``"same"`` is
        ``(k - 1) // 2`` and needs an odd kernel and stride 1.

    Returns
    -------
    numpy.ndarray, shape (N, C_out, |G|, H', W') or (C_out, |G|, H', W')
        ``H' = (H + 2*padding - k) // stride + 1`` (and likewise ``W'``), in the float dtype of
        docs/design.md, §5.1 Dtypes: float32 if `x` and `weight` are float16/float32, float64
        otherwise.

    Raises
    ------
    TypeError
        For complex, object or string arrays, or non-integer `stride`/`padding`.
    ValueError
        For wrong shapes (the message names the argument and the shape received), a non-square
        kernel, an unknown `group`, negative padding, non-positive stride, ``"same"`` padding with
        an even kernel or stride > 1, or a padded input smaller than the kernel.

    See Also
    --------
    group_conv, group_pool, expand_filter

    Notes
    -----
    ``out[n, o, g] = sum_c corr(x[n, c], T_g(weight[o, c])) + bias[o]``, where ``corr`` is
    cross-correlation (no kernel flip, like PyTorch) over the zero-padded input sampled every
    `stride` pixels, and ``T_g`` mirrors left-right first (``g >= 4``, p4m only) and then turns
    ``g % 4`` quarter turns with ``np.rot90(a, g % 4, axes=(-2, -1))``.

    Equivariance, ``lift(T_g x) == L_g lift(x)`` for every ``g`` (``L_g`` as in
    :meth:`gcnn.groups.PointGroup.transform_features`), holds exactly up to rounding when
    ``(H + 2*padding - k) % stride == 0`` on both axes with equal strides and paddings on the two
    axes; it holds for square inputs and, with these conditions met on both axes, for non-square
    ones too.  Otherwise the sampling grid is not symmetric and equivariance breaks.  Use
    :func:`gcnn.equivariance_conditions` to check a whole network.

    Computed as one call of the C correlation kernel with the filters expanded by
    :func:`expand_filter` (every loaded input patch is shared by all |G| transformed kernels).

    float32 layers at stride 1 with 3x3 kernels and at least 16 channels in and out (counted
    after the expansion), or with 5x5 kernels, at least 64 channels and 20x20 outputs, use
    Winograd's algorithm, F(4x4,3x3), F(2x2,3x3) or F(2x2,5x5): the error is at most
    ``1e-5 * S``, ``S`` the largest value of ``|x|`` correlated with ``|weight|`` plus
    ``|bias|``, against exact arithmetic (direct float32 correlation: about ``2e-7 * S``);
    float64 is always direct.  See docs/design.md, §9.1 One correlation primitive.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 9, 9))
    >>> w = rng.standard_normal((5, 3, 3, 3))
    >>> out = gcnn.lift(x, w, padding=1)
    >>> out.shape
    (2, 5, 4, 9, 9)
    >>> rotated = gcnn.lift(np.rot90(x, 1, axes=(-2, -1)), w, padding=1)
    >>> bool(np.allclose(rotated, gcnn.groups.p4.transform_features(out, 1)))
    True
    """
    grp = resolve_group(group)
    xa = as_real_array(x, "x")
    wa = as_real_array(weight, "weight")
    batched, was_batched = _lift_operands(xa, wa)
    _square_kernel_size(wa)
    out = _group_correlate(batched, wa, bias, grp, stride, padding, "lift")
    return out if was_batched else out[0]


def group_conv(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    group: GroupLike = "p4",
    stride: IntPair = 1,
    padding: Padding = 0,
) -> np.ndarray:
    """Group convolution: feature maps on the group to feature maps on the group.

    Parameters
    ----------
    x : array_like, shape (N, C_in, |G|, H, W) or (C_in, |G|, H, W)
        Input feature maps, one plane per group element on axis -3; an unbatched input gives an
        unbatched output.
    weight : array_like, shape (C_out, C_in, |G|, k, k)
        Filters on the group; the kernel must be square.
    bias : array_like, shape (C_out,), optional
        Added to every orientation and pixel of output channel ``o``.
    group : {"p4", "p4m"} or PointGroup, optional
        The group; ``|G|`` is 4 for p4 and 8 for p4m.
    stride : int or (int, int), optional
        Step between output pixels, rows then columns.
    padding : int, (int, int), "same" or "valid", optional
        As in :func:`lift`.

    Returns
    -------
    numpy.ndarray, shape (N, C_out, |G|, H', W') or (C_out, |G|, H', W')
        ``H' = (H + 2*padding - k) // stride + 1``, in the float dtype of
        docs/design.md, §5.1 Dtypes.

    Raises
    ------
    TypeError
        For complex, object or string arrays, or non-integer `stride`/`padding`.
    ValueError
        As for :func:`lift`; also when axis -3 of `x` or axis 2 of `weight` is not ``|G|``.

    See Also
    --------
    lift, group_pool, expand_filter

    Notes
    -----
    ``out[n, o, g] = sum_{c, h} corr(x[n, c, h], T_g(weight[o, c, g^-1 h])) + bias[o]``, with
    ``corr`` and ``T_g`` as in :func:`lift` and ``g^-1 h`` from
    :meth:`gcnn.groups.PointGroup.compose`; for p4 the kernel index is ``(h - g) % 4``.

    Equivariance, ``group_conv(L_g F) == L_g group_conv(F)``, holds exactly up to rounding
    under the conditions stated in :func:`lift`: ``(H + 2*padding - k) % stride == 0`` on both
    axes, equal strides and paddings on the two axes.

    Computed as one call of the C correlation kernel on `x` reshaped to (N, C_in*|G|, H, W)
    with the filters expanded by :func:`expand_filter`.

    float32 layers at stride 1 with 3x3 kernels and at least 16 channels in and out (counted
    after the expansion), or with 5x5 kernels, at least 64 channels and 20x20 outputs, use
    Winograd's algorithm, F(4x4,3x3), F(2x2,3x3) or F(2x2,5x5): the error is at most
    ``1e-5 * S``, ``S`` the largest value of ``|x|`` correlated with ``|weight|`` plus
    ``|bias|``, against exact arithmetic (direct float32 correlation: about ``2e-7 * S``);
    float64 is always direct.  See docs/design.md, §9.1 One correlation primitive.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> features = rng.standard_normal((1, 2, 4, 8, 8))
    >>> w = rng.standard_normal((3, 2, 4, 3, 3))
    >>> out = gcnn.group_conv(features, w, padding="same")
    >>> out.shape
    (1, 3, 4, 8, 8)
    >>> p4 = gcnn.groups.p4
    >>> turned = gcnn.group_conv(p4.transform_features(features, 3), w, padding="same")
    >>> bool(np.allclose(turned, p4.transform_features(out, 3)))
    True
    """
    grp = resolve_group(group)
    xa = as_real_array(x, "x")
    wa = as_real_array(weight, "weight")
    batched, was_batched = _group_operands(xa, wa, grp)
    _square_kernel_size(wa)
    out = _group_correlate(batched, wa, bias, grp, stride, padding, "group")
    return out if was_batched else out[0]


# --------------------------------------------------------------------------- pooling


def group_pool(x: ArrayLike, reduce: Literal["max", "mean", "sum"] = "max") -> np.ndarray:
    """Pool over the group axis: feature maps on the group back to planar feature maps.

    Parameters
    ----------
    x : array_like, shape (N, C, |G|, H, W) or (C, |G|, H, W)
        Feature maps on the group; axis -3 is pooled, whatever its length (the group is not
        needed).
    reduce : {"max", "mean", "sum"}, optional
        The reduction over axis -3.

    Returns
    -------
    numpy.ndarray, shape (N, C, H, W) or (C, H, W)
        A new array in the float dtype of docs/design.md, §5.1 Dtypes.

    Raises
    ------
    TypeError
        For complex, object or string arrays.
    ValueError
        If `x` is not 4-D or 5-D, its axis -3 is empty, or `reduce` is unknown.

    Notes
    -----
    ``out[n, c] = reduce_g x[n, c, g]``.  Because ``L_g`` only permutes the planes and turns each
    one by ``T_g``, any symmetric reduction gives ``group_pool(L_g F) == T_g group_pool(F)``
    exactly, for any input size.  NaN propagates through ``"max"`` as in ``numpy.max``.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> F = np.arange(2 * 4 * 2 * 2, dtype=float).reshape(2, 4, 2, 2)
    >>> gcnn.group_pool(F)[0]
    array([[12., 13.],
           [14., 15.]])
    >>> gcnn.group_pool(F, reduce="mean").shape
    (2, 2, 2)
    """
    xa = as_real_array(x, "x")
    if xa.ndim not in (4, 5):
        raise ValueError(f"x must have shape (N, C, |G|, H, W) or (C, |G|, H, W), got {xa.shape}")
    reduce = check_reduce(reduce, GROUP_POOL_REDUCTIONS)
    if xa.shape[-3] == 0:
        raise ValueError(f"x must have a nonempty group axis (axis -3), got shape {xa.shape}")
    values = xa.astype(compute_dtype(xa), copy=False)
    if reduce == "max":
        out = values.max(axis=-3)
    elif reduce == "mean":
        out = values.mean(axis=-3)
    else:
        out = values.sum(axis=-3)
    return np.ascontiguousarray(out)


def pool_geometry(kernel_size, stride, padding) -> tuple:
    """Validated (kernel, stride, padding) pairs of a spatial pool; kernel None means global."""
    if kernel_size is None:
        if stride is not None or nonnegative_pair(padding, "padding") != (0, 0):
            raise ValueError("global pooling (kernel_size=None) takes no stride and no padding")
        return None, None, (0, 0)
    kernel = positive_pair(kernel_size, "kernel_size")
    strides = kernel if stride is None else positive_pair(stride, "stride")
    pads = nonnegative_pair(padding, "padding")
    if 2 * pads[0] > kernel[0] or 2 * pads[1] > kernel[1]:
        raise ValueError(
            f"padding must be at most half the kernel size (as in PyTorch), got padding {pads} "
            f"for kernel_size {kernel}"
        )
    return kernel, strides, pads


def spatial_pool(
    x: ArrayLike,
    kernel_size: IntPair | None,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    reduce: Literal["max", "mean"] = "max",
) -> np.ndarray:
    """Max or average pooling over the last two axes, with PyTorch's ``max_pool2d`` semantics.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        E.g. (N, C, H, W) planar or (N, C, |G|, H, W) group feature maps; every leading axis is
        carried along.
    kernel_size : int, (int, int) or None
        Window size (rows, columns); None pools each whole map (global pooling, output 1 x 1).
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size`.
    padding : int or (int, int), optional
        Added on every side, at most half the window: ``-inf`` for ``"max"`` and zeros that are
        counted in the average for ``"mean"`` (PyTorch's ``count_include_pad=True``).
    reduce : {"max", "mean"}, optional
        The reduction over each window.

    Returns
    -------
    numpy.ndarray, shape (..., H', W')
        ``H' = (H + 2*padding - kernel) // stride + 1`` (floor, PyTorch's ``ceil_mode=False``),
        a new array in the float dtype of docs/design.md, §5.1 Dtypes.

    Raises
    ------
    TypeError
        For complex, object or string arrays, or non-integer sizes.
    ValueError
        If `x` has fewer than 2 dimensions or an empty spatial axis, the padded map is smaller
        than the window, the padding exceeds half the window, or `reduce` is unknown.

    Notes
    -----
    ``out[..., i, j] = reduce x_pad[..., i*sh : i*sh + kh, j*sw : j*sw + kw]``.  Pooling commutes
    with the group action (``T_g`` on the last two axes, and ``L_g`` on group feature maps) when
    the window is square, stride and padding are the same on both axes, and
    ``(H + 2*padding - kernel) % stride == 0`` on both axes; global pooling always does.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> gcnn.spatial_pool(x, 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> float(gcnn.spatial_pool(x, 3, stride=1, padding=1, reduce="mean")[0, 0, 0, 0])  # 10 / 9
    1.1111111111111112
    >>> gcnn.spatial_pool(x, None).shape
    (1, 1, 1, 1)
    """
    xa = as_real_array(x, "x")
    if xa.ndim < 2:
        raise ValueError(f"x must have shape (..., H, W), got {xa.shape}")
    reduce = check_reduce(reduce, SPATIAL_POOL_REDUCTIONS)
    values, kernel, strides, pads = _pool_operands(xa, kernel_size, stride, padding)
    if kernel is None:
        if reduce == "max":
            return values.max(axis=(-2, -1), keepdims=True)
        return values.mean(axis=(-2, -1), keepdims=True)
    if reduce == "max":
        return max_pool_with_index(values, kernel, strides, pads)[0]
    if pads != (0, 0):
        widths = [(0, 0)] * (values.ndim - 2) + [(pads[0], pads[0]), (pads[1], pads[1])]
        values = np.pad(values, widths)
    out_h = (values.shape[-2] - kernel[0]) // strides[0] + 1
    out_w = (values.shape[-1] - kernel[1]) // strides[1] + 1
    # One strided slice per window offset (ky, kx), holding that tap of every window: kh*kw
    # vectorised operations on output-sized arrays.  About 25x faster than reducing the two
    # trailing axes of a sliding_window_view, which NumPy walks element by element.
    out = None
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            tap = values[
                ...,
                ky : ky + strides[0] * (out_h - 1) + 1 : strides[0],
                kx : kx + strides[1] * (out_w - 1) + 1 : strides[1],
            ]
            if out is None:
                out = np.array(tap, order="C", copy=True)
            else:
                out += tap
    out /= kernel[0] * kernel[1]
    return out


def _pool_operands(xa: np.ndarray, kernel_size, stride, padding) -> tuple:
    """Checked (values in the float dtype, kernel, strides, pads) of a spatial pool."""
    kernel, strides, pads = pool_geometry(kernel_size, stride, padding)
    height, width = xa.shape[-2:]
    if height == 0 or width == 0:
        raise ValueError(f"x must have a nonempty spatial size (H, W), got shape {xa.shape}")
    if kernel is not None:
        padded_size = (height + 2 * pads[0], width + 2 * pads[1])
        if padded_size[0] < kernel[0] or padded_size[1] < kernel[1]:
            raise ValueError(
                f"x is too small for a {kernel[0]}x{kernel[1]} window: its spatial size "
                f"{height}x{width} padded by {pads} is {padded_size[0]}x{padded_size[1]} "
                f"(x has shape {xa.shape})"
            )
    return xa.astype(compute_dtype(xa), copy=False), kernel, strides, pads


def checked_max_pool(x, kernel_size, stride, padding) -> tuple[np.ndarray, np.ndarray]:
    """Windowed max pooling with :func:`spatial_pool`'s checks; also returns the winners."""
    xa = as_real_array(x, "x")
    if xa.ndim < 2:
        raise ValueError(f"x must have shape (..., H, W), got {xa.shape}")
    values, kernel, strides, pads = _pool_operands(xa, kernel_size, stride, padding)
    return max_pool_with_index(values, kernel, strides, pads)


# --------------------------------------------------------------------------- planar conv2d

Padding4 = tuple[int, int, int, int]


def _planar_padding(padding: Padding, kernel: tuple[int, int], stride: tuple[int, int]) -> Padding4:
    """(top, bottom, left, right) padding of conv2d, with PyTorch's meaning of each form.

    ``"same"`` needs stride 1; for an even kernel the extra row and column go after the image
    (bottom and right), as in PyTorch.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"padding='same' is not supported with stride {stride} (as in PyTorch): the "
                    "output cannot have the input's size; pad explicitly with an int instead"
                )
            (kh, kw) = kernel
            return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2
        raise ValueError(
            f"padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}"
        )
    rows, columns = nonnegative_pair(padding, "padding")
    return rows, rows, columns, columns


def _output_size(shape: tuple, kernel: tuple[int, int], strides, pads: Padding4) -> tuple[int, int]:
    """(H', W') of a correlation of an input of `shape` (..., H, W); ValueError if too small."""
    height, width = shape[-2:]
    padded = (height + pads[0] + pads[1], width + pads[2] + pads[3])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(
            f"x is too small for a {kernel[0]}x{kernel[1]} kernel: its spatial size "
            f"{height}x{width} padded by {pads} (top, bottom, left, right) is "
            f"{padded[0]}x{padded[1]} (x has shape {shape})"
        )
    return (padded[0] - kernel[0]) // strides[0] + 1, (padded[1] - kernel[1]) // strides[1] + 1


def _check_bias(bias, out_channels: int):
    if bias is None:
        return None
    bias_array = as_real_array(bias, "bias")
    if bias_array.shape != (out_channels,):
        raise ValueError(
            f"bias must have shape ({out_channels},) for weight with {out_channels} output "
            f"channels, got {bias_array.shape}"
        )
    return bias_array


def _planar_arguments(x, weight):
    """x batched (N, C_in, H, W), the weight (C_out, C_in, kh, kw), and whether x was batched."""
    xa = as_real_array(x, "x")
    wa = as_real_array(weight, "weight")
    if xa.ndim not in (3, 4):
        raise ValueError(
            f"x must have shape (N, C_in, H, W) or (C_in, H, W), got {xa.shape}"
            + _channels_last_hint(xa.shape)
        )
    batched = xa[None] if xa.ndim == 3 else xa
    in_channels = batched.shape[1]
    if wa.ndim != 4 or wa.shape[1] != in_channels:
        raise ValueError(
            f"weight must have shape (C_out, {in_channels}, kh, kw) for x with {in_channels} "
            f"channels, got {wa.shape}" + _channels_last_hint(xa.shape)
        )
    if min(wa.shape[-2:]) < 1:
        raise ValueError(f"weight must have a kernel size of at least 1, got shape {wa.shape}")
    return batched, wa, xa.ndim == 4


def _channels_last_hint(x_shape: tuple) -> str:
    """A hint when x looks like a channels-last image (..., H, W, C) with C in 1..4."""
    if len(x_shape) < 3 or x_shape[-1] not in (1, 3, 4) or x_shape[-3] <= 4:
        return ""
    return (
        f" (x looks like a channels-last image with {x_shape[-1]} channels on its last axis; "
        "gcnn takes channels first, NCHW: use np.moveaxis(x, -1, -3))"
    )


def conv2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: IntPair = 1,
    padding: Padding = 0,
) -> np.ndarray:
    """Planar 2-D cross-correlation with PyTorch's ``conv2d`` semantics, on gcnn's C core.

    The building block of ordinary CNNs (the Z2CNN baseline of a G-CNN comparison).

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
        Input images; an unbatched input gives an unbatched output.
    weight : array_like, shape (C_out, C_in, kh, kw)
        Filters (any kernel shape).
    bias : array_like, shape (C_out,), optional
        Added to every pixel of output channel ``o``.
    stride : int or (int, int), optional
        Step between output pixels, rows then columns.
    padding : int, (int, int), "same" or "valid", optional
        Zeros added on both sides of each axis.  ``"same"`` needs stride 1 and, as in PyTorch,
        puts the extra row and column of an even kernel after the image.

    Returns
    -------
    numpy.ndarray, shape (N, C_out, H', W') or (C_out, H', W')
        ``H' = (H + 2*padding - kh) // stride + 1`` (and likewise ``W'``), in the float dtype of
        the layers (docs/design.md, §5.1 Dtypes): float32 for float16/float32 operands,
        float64 otherwise.

    Raises
    ------
    TypeError
        For complex, object or string arrays, or non-integer `stride`/`padding`.
    ValueError
        For wrong shapes (naming the argument and the shape received), negative padding,
        non-positive stride, ``"same"`` with stride > 1, or a padded input smaller than the kernel.

    See Also
    --------
    conv2d_backward, lift, group_conv

    Notes
    -----
    ``out[n, o, y, x] = bias[o] + sum_{c, i, j} xpad[n, c, y*sh + i, x*sw + j] * weight[o, c, i, j]``
    (no kernel flip), computed in one call of the C correlation kernel.

    float32 calls at stride 1 with 3x3 kernels and at least 16 channels in and out, or with
    5x5 kernels, at least 64 channels and 20x20 outputs, use Winograd's algorithm, F(4x4,3x3),
    F(2x2,3x3) or F(2x2,5x5): the error is at most ``1e-5 * S``, ``S``
    the largest value of ``|x|`` correlated with ``|weight|`` plus ``|bias|``, against exact
    arithmetic (direct float32 correlation: about ``2e-7 * S``); float64 is always direct.
    See docs/design.md, §9.1 One correlation primitive.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> gcnn.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> gcnn.conv2d(x, np.ones((2, 1, 3, 3)), padding="same").shape
    (1, 2, 4, 4)
    """
    batched, wa, was_batched = _planar_arguments(x, weight)
    kernel = wa.shape[-2:]
    strides = positive_pair(stride, "stride")
    pads = _planar_padding(padding, kernel, strides)
    out_h, out_w = _output_size(batched.shape, kernel, strides, pads)
    bias_array = _check_bias(bias, wa.shape[0])
    dtype = compute_dtype(batched, wa)
    out_shape = (batched.shape[0], wa.shape[0], out_h, out_w)
    cause = (
        f"conv2d of x with shape {batched.shape} by weight {wa.shape} with "
        f"padding={padding!r} and stride={stride!r}"
    )
    _check_output(out_shape, dtype, cause)
    if batched.shape[0] == 0 or wa.shape[0] == 0 or batched.shape[1] == 0:
        out = np.zeros(out_shape, dtype=dtype)
        if bias_array is not None:
            out += bias_array.astype(dtype)[:, None, None]
    else:
        with _ExplainMemoryError(out_shape, dtype, cause):
            out = _correlate(
                contiguous(batched, dtype),
                contiguous(wa, dtype),
                None if bias_array is None else contiguous(bias_array, dtype),
                strides,
                pads,
            )
    return out if was_batched else out[0]


# --------------------------------------------------------------------------- gradients


def _crop_dilated(length: int, stride: int, before: int, target: int, k: int):
    """How to feed an axis of grad_out to the input-gradient correlation.

    grad_out has `length` samples; spread `stride` apart and padded by ``before = k - 1 - pad``
    zeros in front, its correlation with the flipped kernel has one output per input pixel
    (`target` of them).  Returns (first, stop, pad_before, pad_after): the rows of grad_out to use
    and the zeros to add, with any negative padding turned into rows cut off.
    """
    first = 0
    if before < 0:  # cut -before dilated positions off the front
        first = (-before + stride - 1) // stride
        before = first * stride + before
    stop = length
    kept = (stop - first - 1) * stride + 1 if stop > first else 0
    after = target + k - 1 - before - kept
    if after < 0:  # cut -after dilated positions off the back
        last = before + kept + after - 1  # last position kept, counted from the padded start
        rows = (last - before) // stride + 1 if last >= before else 0
        stop = first + max(rows, 0)
        kept = (rows - 1) * stride + 1 if rows > 0 else 0
        after = target + k - 1 - before - kept
    if stop <= first:  # no sample of grad_out reaches the input: zeros all along
        return first, first, target + k - 1, 0
    return first, stop, before, after


def _correlation_backward(
    grad: np.ndarray,
    x: np.ndarray,
    bank: np.ndarray,
    strides: tuple[int, int],
    pads: Padding4,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Input and filter-bank gradients of ``out = correlate(x, bank)`` for a given d out.

    All arrays C-contiguous in one float dtype: grad (N, O, H', W'), x (N, C, H, W), bank
    (O, C, kh, kw).  The input gradient correlates grad, spread out by the stride (input
    dilation in the C kernel, no copy), with the transposed, flipped bank; the bank gradient
    correlates x with grad (the C weight-gradient kernel).  With ``input_grad=False`` the
    input gradient is not computed (None).
    """
    threads = _config.get_num_threads()
    kh, kw = bank.shape[-2:]
    grad_bank = _core.grad_weight(
        x, grad, (kh, kw), strides, pads, 0, 0.0, threads, 0, _config.algorithm_code()
    )
    if not input_grad:
        return None, grad_bank
    if _whole_window(x, bank, strides, pads):
        # d x[n, :, :kh, :kw] = sum_o grad[n, o] bank[o]; zero beyond the window
        columns = np.ascontiguousarray(bank.reshape(bank.shape[0], -1).T)
        window = _batch_product(grad.reshape(grad.shape[0], -1), columns, None)
        grad_x = np.zeros(x.shape, dtype=x.dtype)
        grad_x[:, :, :kh, :kw] = window.reshape(x.shape[0], x.shape[1], kh, kw)
        return grad_x, grad_bank
    flipped = np.ascontiguousarray(bank.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    rows = _crop_dilated(grad.shape[2], strides[0], kh - 1 - pads[0], x.shape[2], kh)
    cols = _crop_dilated(grad.shape[3], strides[1], kw - 1 - pads[2], x.shape[3], kw)
    window = np.ascontiguousarray(grad[:, :, rows[0] : rows[1], cols[0] : cols[1]])
    grad_x = _core.correlate(
        window,
        flipped,
        None,
        (1, 1),
        (rows[2], rows[3], cols[2], cols[3]),
        0,
        0.0,
        threads,
        0,
        strides,
        _config.algorithm_code(),
    )
    return grad_x, grad_bank


def _channel_sums(grad: np.ndarray) -> np.ndarray:
    """grad (N, C, ...) C-contiguous, summed over every axis but C, in grad's dtype: the bias
    gradient.  The C kernel sums each image's run of values in vectors and adds the runs in
    double, in order of the images, on the configured threads (docs/design.md, §9.3 Per-channel
    kernels and pooling)."""
    runs = grad.reshape(grad.shape[0], grad.shape[1], math.prod(grad.shape[2:]))
    if runs.size == 0:
        return np.zeros(grad.shape[1], dtype=grad.dtype)
    return _core.channel_sums(runs, _config.get_num_threads()).astype(grad.dtype)


def _check_grad_out(grad_out, expected: tuple, dtype: np.dtype, layer: str) -> np.ndarray:
    """grad_out as a C-contiguous `dtype` array of exactly the forward output's shape."""
    grad = as_real_array(grad_out, "grad_out")
    if grad.shape != expected:
        raise ValueError(
            f"grad_out must have the shape of the {layer} output, {expected}, got {grad.shape}"
        )
    return contiguous(grad, dtype)


def _fold_lift(grad_bank: np.ndarray, group: PointGroup, out_channels: int) -> np.ndarray:
    """E^T for lift: the expanded bank's gradient (O*|G|, C, k, k) summed back onto (O, C, k, k).

    Slot g holds T_g(w); its gradient turned back by T_g^-1 is added to w's.
    """
    order = group.order
    in_channels, k = grad_bank.shape[1], grad_bank.shape[-1]
    slots = grad_bank.reshape(out_channels, order, in_channels, k * k)
    if group.steerable:
        # grad_weight[o, c] = sum_g A_g^T grad_B[o*|G| + g, c]
        matrices = _turn_matrices(group, k).astype(grad_bank.dtype, copy=False)
        by_element = slots.transpose(1, 0, 2, 3).reshape(order, out_channels * in_channels, k * k)
        total = np.matmul(by_element, matrices).sum(axis=0)
        return total.reshape(out_channels, in_channels, k, k)
    inverse_pixels = _inverse_pixel_gather(group, k)
    total = np.zeros((out_channels, in_channels, k * k), dtype=grad_bank.dtype)
    for g in range(order):
        total += slots[:, g][..., inverse_pixels[g]]
    return total.reshape(out_channels, in_channels, k, k)


def _fold_group(grad_bank: np.ndarray, group: PointGroup, out_channels: int) -> np.ndarray:
    """E^T for group_conv: (O*|G|, C*|G|, k, k) summed back onto (O, C, |G|, k, k).

    Slot (g, h) holds T_g(w[:, :, g^-1 h]); its gradient, turned back by T_g^-1, goes to
    orientation a = g^-1 h, i.e. h = g a.
    """
    order = group.order
    k = grad_bank.shape[-1]
    in_channels = grad_bank.shape[1] // order
    slots = grad_bank.reshape(out_channels, order, in_channels, order, k * k)
    table = group.cayley_table()
    if group.steerable:
        # grad_weight[o, c, a] = sum_g A_g^T grad_B[o*|G| + g, c*|G| + g a]
        matrices = _turn_matrices(group, k).astype(grad_bank.dtype, copy=False)
        # gathered[g, o, c, a] = grad_B[o*|G| + g, c*|G| + g a], then A_g^T on each g's block.
        gathered = slots.transpose(1, 0, 2, 3, 4)[np.arange(order)[:, None], :, :, table]
        # Advanced indices on axes 0 and 3 lead: gathered is (g, a, o, c, q).
        blocks = gathered.reshape(order, -1, k * k)
        turned = np.matmul(blocks, matrices).sum(axis=0)
        total = turned.reshape(order, out_channels, in_channels, k * k).transpose(1, 2, 0, 3)
        return np.ascontiguousarray(total).reshape(out_channels, in_channels, order, k, k)
    total = np.zeros((out_channels, in_channels, order, k * k), dtype=grad_bank.dtype)
    if grad_bank.size <= _CACHED_GATHER_MAX:
        index = _fold_index(group, grad_bank.shape)
        flat = grad_bank.ravel()
        sums = total.reshape(-1)
        for g in range(order):  # the same sums, in the same order, as the gathers below
            sums += np.take(flat, index[g])
        return total.reshape(out_channels, in_channels, order, k, k)
    return _fold_gather(slots, total, group, k)


def _fold_gather(slots: np.ndarray, total: np.ndarray, group: PointGroup, k: int) -> np.ndarray:
    """_fold_group's sums by fancy indexing: slots (O, |G|, C, |G|, k*k) added into total
    (O, C, |G|, k*k), returned as (O, C, |G|, k, k)."""
    table = group.cayley_table()
    inverse_pixels = _inverse_pixel_gather(group, k)
    for g in range(group.order):
        # total[o, c, a, q] += slots[o, g, c, g a, inverse_pixels[g][q]]
        total += slots[:, g][:, :, table[g]][..., inverse_pixels[g]]
    return total.reshape(*total.shape[:3], k, k)


@functools.lru_cache(maxsize=16)
def _fold_index(group: PointGroup, bank_shape: tuple) -> np.ndarray:
    """(|G|, O*C*|G|*k*k) flat indices into the bank gradient: row g is the gather that
    _fold_gather adds for g, once per layer shape."""
    order, k = group.order, bank_shape[-1]
    out_channels, in_channels = bank_shape[0] // order, bank_shape[1] // order
    positions = np.arange(math.prod(bank_shape)).reshape(
        out_channels, order, in_channels, order, k * k
    )
    table = group.cayley_table()
    inverse_pixels = _inverse_pixel_gather(group, k)
    index = np.stack(
        [positions[:, g][:, :, table[g]][..., inverse_pixels[g]].ravel() for g in range(order)]
    )
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=64)
def _inverse_pixel_gather(group: PointGroup, kernel_size: int) -> np.ndarray:
    """Index array (|G|, k*k) undoing _pixel_gather: ``a.ravel() == T_g(a).ravel()[index[g]]``."""
    index = np.argsort(_pixel_gather(group, kernel_size), axis=1)
    index.flags.writeable = False
    return index


def conv2d_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    weight: ArrayLike,
    *,
    stride: IntPair = 1,
    padding: Padding = 0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    Parameters
    ----------
    grad_out : array_like, shape of ``conv2d(x, weight)``
        Gradient of a scalar loss with respect to the output.
    x, weight, stride, padding
        The forward call's arguments.
    input_grad : bool, optional
        False skips the input gradient (``grad_x`` is None), as PyTorch does for an input that
        does not require grad: the first layer of a network needs only its weight gradient.

    Returns
    -------
    grad_x : numpy.ndarray, shape of `x`, or None
    grad_weight : numpy.ndarray, shape of `weight`
    grad_bias : numpy.ndarray, shape (C_out,)
        ``grad_out`` summed over the batch and space.  All three in the float dtype of
        `grad_out`, `x` and `weight` together (as in the forward).

    Raises
    ------
    TypeError, ValueError
        As for :func:`conv2d`; ValueError when `grad_out` does not have the output's shape.

    Notes
    -----
    ``grad_x`` is the correlation of `grad_out`, spread out by the stride, with the transposed
    and flipped weight; ``grad_weight[o, c, i, j] = sum_{n, y, x} grad_out[n, o, y, x] *
    xpad[n, c, y*sh + i, x*sw + j]``.  Both run in the C core (threads, GIL released, no
    im2col copy), and do not depend on the thread count.  In float32 at stride 1 both may take
    Winograd's algorithm (the weight gradient from 24 channels at 16x16 outputs for 3x3
    kernels, from 64 channels for 5x5), within ``1e-5 * S`` of exact arithmetic, ``S`` the
    largest value of the same gradient of ``|grad_out|`` and ``|x|`` (docs/design.md, §9.2
    Weight gradient).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    >>> out = gcnn.conv2d(x, w, padding=1)
    >>> gx, gw, gb = gcnn.conv2d_backward(np.ones_like(out), x, w, padding=1)
    >>> gx.shape, gw.shape, gb.shape
    ((2, 3, 6, 6), (4, 3, 3, 3), (4,))
    >>> bool(np.allclose(gb, 2 * 6 * 6))
    True
    """
    return _conv2d_backward(
        grad_out, x, weight, stride=stride, padding=padding, input_grad=input_grad
    )


def _conv2d_backward(
    grad_out, x, weight, *, stride=1, padding=0, input_grad=True, grad_sums=None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """conv2d_backward's body; `grad_sums` (float64 (C_out,)), when given, are the sums of
    grad_out per channel, the bias gradient, computed by the caller (Sequential takes them
    from the batch norm that produced grad_out, which sums each run as it writes it)."""
    batched, wa, was_batched = _planar_arguments(x, weight)
    kernel = wa.shape[-2:]
    strides = positive_pair(stride, "stride")
    pads = _planar_padding(padding, kernel, strides)
    input_grad = flag(input_grad, "input_grad")
    out_h, out_w = _output_size(batched.shape, kernel, strides, pads)
    expected = (batched.shape[0], wa.shape[0], out_h, out_w)
    grad_array = as_real_array(grad_out, "grad_out")
    dtype = compute_dtype(batched, wa, grad_array)
    grad = _check_grad_out(grad_array, expected if was_batched else expected[1:], dtype, "conv2d")
    if not was_batched:
        grad = grad[None]
    grad_bias = _channel_sums(grad) if grad_sums is None else grad_sums.astype(grad.dtype)
    grad_x: np.ndarray | None
    if 0 in batched.shape[:2] or wa.shape[0] == 0:
        grad_x = np.zeros(batched.shape, dtype=dtype)
        grad_weight = np.zeros(wa.shape, dtype=dtype)
    else:
        grad_x, grad_weight = _correlation_backward(
            grad, contiguous(batched, dtype), contiguous(wa, dtype), strides, pads, input_grad
        )
    if grad_x is None or not input_grad:
        return None, grad_weight, grad_bias
    return (grad_x if was_batched else grad_x[0]), grad_weight, grad_bias


def _group_backward(
    grad_out, x, weight, group, stride, padding, input_grad, kind: str, grad_sums=None
):
    """Shared body of lift_backward and group_conv_backward (arguments as the forward's;
    `grad_sums` as for :func:`_conv2d_backward`)."""
    input_grad = flag(input_grad, "input_grad")
    grp = resolve_group(group)
    order = grp.order
    xa = as_real_array(x, "x")
    wa = as_real_array(weight, "weight")
    if kind == "lift":
        batched, was_batched = _lift_operands(xa, wa)
    else:
        batched, was_batched = _group_operands(xa, wa, grp)
    k = _square_kernel_size(wa)
    strides = positive_pair(stride, "stride")
    rows, columns = resolve_padding(padding, k, strides)
    pads = (rows, rows, columns, columns)
    out_h, out_w = _output_size(batched.shape, (k, k), strides, pads)
    out_channels = wa.shape[0]
    expected = (batched.shape[0], out_channels, order, out_h, out_w)
    grad_array = as_real_array(grad_out, "grad_out")
    dtype = compute_dtype(batched, wa, grad_array)
    layer = "lift" if kind == "lift" else "group_conv"
    grad = _check_grad_out(grad_array, expected if was_batched else expected[1:], dtype, layer)
    if not was_batched:
        grad = grad[None]
    grad_bias = _channel_sums(grad) if grad_sums is None else grad_sums.astype(grad.dtype)
    grad_x: np.ndarray | None
    if 0 in batched.shape[:2] or out_channels == 0:
        grad_x = np.zeros(batched.shape, dtype=dtype)
        grad_weight = np.zeros(wa.shape, dtype=dtype)
    else:
        n = batched.shape[0]
        x_rows = contiguous(batched, dtype).reshape(n, -1, *batched.shape[-2:])
        bank = _expand(wa.astype(dtype, copy=False), grp, kind)
        grad_rows = grad.reshape(n, out_channels * order, out_h, out_w)
        grad_x, grad_bank = _correlation_backward(
            grad_rows, x_rows, bank, strides, pads, input_grad
        )
        if grad_x is not None:
            grad_x = grad_x.reshape(batched.shape)
        if kind == "lift":
            grad_weight = _fold_lift(grad_bank, grp, out_channels)
        else:
            grad_weight = _fold_group(grad_bank, grp, out_channels)
    if grad_x is None or not input_grad:
        return None, grad_weight, grad_bias
    return (grad_x if was_batched else grad_x[0]), grad_weight, grad_bias


def lift_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    weight: ArrayLike,
    *,
    group: GroupLike = "p4",
    stride: IntPair = 1,
    padding: Padding = 0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`lift` with respect to its input, its compact weight and its bias.

    Parameters
    ----------
    grad_out : array_like, shape (N, C_out, |G|, H', W') or (C_out, |G|, H', W')
        Gradient of a scalar loss with respect to ``lift(x, weight, ...)``.
    x, weight, group, stride, padding
        The forward call's arguments.
    input_grad : bool, optional
        False skips the input gradient (``grad_x`` is None), as for :func:`conv2d_backward`.

    Returns
    -------
    grad_x : numpy.ndarray, shape of `x`, or None
    grad_weight : numpy.ndarray, shape (C_out, C_in, k, k)
        The gradient with respect to the filters that live on the group, not the expanded bank.
    grad_bias : numpy.ndarray, shape (C_out,)
        ``grad_out`` summed over batch, group axis and space.  All three in the float dtype of
        `grad_out`, `x` and `weight` together.

    Raises
    ------
    TypeError, ValueError
        As for :func:`lift`; ValueError when `grad_out` does not have the output's shape.

    See Also
    --------
    lift, group_conv_backward, conv2d_backward

    Notes
    -----
    With ``E(w)`` the expanded bank of :func:`expand_filter` (slot ``o*|G| + g`` holds
    ``T_g(w[o])``), the layer is a plain correlation with ``E(w)``; its bank gradient, computed
    by the C core, is folded back by the transpose of ``E``: each slot's gradient is turned back
    by ``T_g^-1`` and added to the filter it came from,
    ``grad_weight[o] = sum_g T_g^-1(grad_E[o*|G| + g])``.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((2, 1, 7, 7)), rng.standard_normal((3, 1, 3, 3))
    >>> out = gcnn.lift(x, w, padding=1)
    >>> r = rng.standard_normal(out.shape)       # the loss is sum(out * r)
    >>> gx, gw, gb = gcnn.lift_backward(r, x, w, padding=1)
    >>> eps = 1e-6                               # check one weight by finite differences
    >>> w2 = w.copy(); w2[1, 0, 2, 0] += eps
    >>> numeric = ((gcnn.lift(x, w2, padding=1) - out) * r).sum() / eps
    >>> bool(abs(numeric - gw[1, 0, 2, 0]) < 1e-4)
    True
    """
    return _group_backward(grad_out, x, weight, group, stride, padding, input_grad, "lift")


def group_conv_backward(
    grad_out: ArrayLike,
    x: ArrayLike,
    weight: ArrayLike,
    *,
    group: GroupLike = "p4",
    stride: IntPair = 1,
    padding: Padding = 0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`group_conv` with respect to its input, its compact weight and bias.

    Parameters
    ----------
    grad_out : array_like, shape (N, C_out, |G|, H', W') or (C_out, |G|, H', W')
        Gradient of a scalar loss with respect to ``group_conv(x, weight, ...)``.
    x, weight, group, stride, padding
        The forward call's arguments.
    input_grad : bool, optional
        False skips the input gradient (``grad_x`` is None), as for :func:`conv2d_backward`.

    Returns
    -------
    grad_x : numpy.ndarray, shape of `x`, or None
    grad_weight : numpy.ndarray, shape (C_out, C_in, |G|, k, k)
        The gradient with respect to the filters on the group, not the expanded bank.
    grad_bias : numpy.ndarray, shape (C_out,)
        All three in the float dtype of `grad_out`, `x` and `weight` together.

    Raises
    ------
    TypeError, ValueError
        As for :func:`group_conv`; ValueError when `grad_out` does not have the output's shape.

    See Also
    --------
    group_conv, lift_backward

    Notes
    -----
    Slot ``(o*|G| + g, c*|G| + h)`` of the expanded bank holds ``T_g(w[o, c, g^-1 h])``; the
    fold adds its gradient, turned back by ``T_g^-1``, to ``w[o, c, g^-1 h]``.  The input and
    bank gradients run in the C core as for :func:`conv2d_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(1)
    >>> x, w = rng.standard_normal((1, 2, 4, 6, 6)), rng.standard_normal((2, 2, 4, 3, 3))
    >>> out = gcnn.group_conv(x, w)
    >>> gx, gw, gb = gcnn.group_conv_backward(np.ones_like(out), x, w)
    >>> gx.shape, gw.shape, gb.shape
    ((1, 2, 4, 6, 6), (2, 2, 4, 3, 3), (2,))
    """
    return _group_backward(grad_out, x, weight, group, stride, padding, input_grad, "group")


def _lift_backward(
    grad_out, x, weight, *, group="p4", stride=1, padding=0, input_grad=True, grad_sums=None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """lift_backward, with the bias gradient `grad_sums` when the caller has it (for gcnn.nn)."""
    return _group_backward(
        grad_out, x, weight, group, stride, padding, input_grad, "lift", grad_sums
    )


def _group_conv_backward(
    grad_out, x, weight, *, group="p4", stride=1, padding=0, input_grad=True, grad_sums=None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """group_conv_backward, with `grad_sums` as for :func:`_lift_backward`."""
    return _group_backward(
        grad_out, x, weight, group, stride, padding, input_grad, "group", grad_sums
    )


def max_pool_with_index(values: np.ndarray, kernel, strides, pads) -> tuple[np.ndarray, np.ndarray]:
    """Windowed max pooling over the last two axes of a float32/float64 array, in C.

    Returns the pooled array and, per output, the int32 position ``y * W + x`` within its plane
    of the window's first maximum (or first NaN), what the backward pass routes gradients to.
    """
    planes = values.reshape(-1, *values.shape[-2:]) if values.ndim != 3 else values
    out, index = _core.max_pool(
        np.ascontiguousarray(planes), kernel, strides, pads, _config.get_num_threads()
    )
    lead = values.shape[:-2]
    return out.reshape(*lead, *out.shape[-2:]), index.reshape(*lead, *out.shape[-2:])


def max_pool_backward(
    grad: np.ndarray, index: np.ndarray, input_shape: tuple, kernel, strides, pads
) -> np.ndarray:
    """Gradient of :func:`max_pool_with_index`: each output's gradient added at its winner."""
    planes = grad.reshape(-1, *grad.shape[-2:])
    grad_x = _core.max_pool_backward(
        np.ascontiguousarray(planes),
        index.reshape(planes.shape),
        tuple(input_shape[-2:]),
        kernel,
        strides,
        pads,
        _config.get_num_threads(),
    )
    return grad_x.reshape(input_shape)
