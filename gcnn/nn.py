"""Layer objects for notebooks: group-CNN layers holding their parameters as NumPy arrays.

Each layer is a callable wrapping one function of gcnn (``layer(x)``), with a readable repr and
the geometry (``kernel_size``, ``stride``, ``padding``) that
:func:`gcnn.equivariance_conditions` reads.  Inference only: there is no autograd.

Examples
--------
>>> import numpy as np
>>> from gcnn import nn
>>> net = nn.Sequential(
...     nn.LiftingConv(1, 4, 3, padding=1, rng=0),
...     nn.ReLU(),
...     nn.GroupConv(4, 4, 3, padding=1, rng=1),
...     nn.GroupPool(),
...     nn.SpatialPool(None),
... )
>>> x = np.random.default_rng(2).standard_normal((1, 1, 8, 8)).astype(np.float32)
>>> net(x).shape
(1, 4, 1, 1)
>>> bool(np.allclose(net(np.rot90(x, 1, axes=(-2, -1))), net(x), atol=1e-5))
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Union, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _layers
from ._validate import as_real_array, compute_dtype, positive_int
from .groups import GroupLike, PointGroup

__all__ = [
    "GroupConv",
    "GroupPool",
    "Layer",
    "LiftingConv",
    "ReLU",
    "Sequential",
    "SpatialPool",
]

RngLike = Union[None, int, np.random.Generator]


def _generator(rng: RngLike) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


class Layer:
    """Base class of the gcnn layers: a callable ``layer(x)`` with a readable repr."""

    def __call__(self, x: ArrayLike) -> np.ndarray:
        raise NotImplementedError


class _GroupConvolution(Layer):
    """Shared construction of LiftingConv and GroupConv.

    Subclasses set ``_function`` (the functional layer) and ``_group_axis`` (True when the
    weight has a group axis, (C_out, C_in, |G|, k, k)).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        group: GroupLike = "p4",
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        rng: RngLike = None,
    ) -> None:
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        kernel = _layers.positive_pair(kernel_size, "kernel_size")
        if kernel[0] != kernel[1]:
            raise ValueError(
                f"kernel_size must be square (rotating a non-square kernel changes its shape), "
                f"got {kernel_size!r}"
            )
        self.kernel_size: tuple[int, int] = kernel
        self.group: PointGroup = _layers.resolve_group(group)
        self.stride: tuple[int, int] = _layers.positive_pair(stride, "stride")
        # Checked now (e.g. 'same' with an even kernel) so that a bad layer fails when built.
        _layers.resolve_padding(padding, kernel[0], self.stride)
        self.padding: tuple[int, int] | str = (
            padding if isinstance(padding, str) else _layers.nonnegative_pair(padding, "padding")
        )
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        dtype = _float_dtype(dtype)
        generator = _generator(rng)

        k = kernel[0]
        if self._group_axis:
            shape = (self.out_channels, self.in_channels, self.group.order, k, k)
        else:
            shape = (self.out_channels, self.in_channels, k, k)
        fan_in = math.prod(shape[1:])
        bound = 1.0 / math.sqrt(fan_in)
        self.weight: np.ndarray = generator.uniform(-bound, bound, size=shape).astype(dtype)
        self.bias: np.ndarray | None = (
            generator.uniform(-bound, bound, size=self.out_channels).astype(dtype) if bias else None
        )

    def padding_pair(self) -> tuple[int, int]:
        """The (rows, columns) zero padding, with ``"same"``/``"valid"`` resolved."""
        return _layers.resolve_padding(self.padding, self.kernel_size[0], self.stride)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return self._function(
            x,
            self.weight,
            self.bias,
            group=self.group,
            stride=self.stride,
            padding=self.padding,
        )

    def __repr__(self) -> str:
        padding = self.padding if isinstance(self.padding, str) else _pair_text(self.padding)
        k = self.kernel_size
        text = (
            f"{type(self).__name__}({self.in_channels} -> {self.out_channels}, {self.group.name}, "
            f"kernel {k[0]}x{k[1]}, stride {_pair_text(self.stride)}, padding {padding}"
        )
        return text + (")" if self.bias is not None else ", bias=False)")


class LiftingConv(_GroupConvolution):
    """Lifting layer: images (N, C_in, H, W) to group feature maps (N, C_out, |G|, H', W').

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel_size : int or (int, int)
        Side ``k`` of the square kernel.
    group : {"p4", "p4m"} or PointGroup, optional
        The group.
    stride, padding
        As in :func:`gcnn.lift` (``padding`` may be ``"same"`` or ``"valid"``).
    bias : bool, optional
        Whether the layer has a bias.
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the parameters (the output dtype follows DESIGN.md section 4).
    rng : int, numpy.random.Generator or None, optional
        Source of the initial parameters; an int is a seed.

    Attributes
    ----------
    weight : numpy.ndarray, shape (out_channels, in_channels, k, k)
        Drawn uniformly from ``[-b, b)`` with ``b = 1 / sqrt(in_channels * k * k)``.
    bias : numpy.ndarray, shape (out_channels,), or None
        Drawn from the same range.
    kernel_size, stride : (int, int)
    padding : (int, int) or str
    group : PointGroup

    Raises
    ------
    TypeError, ValueError
        For invalid arguments, when the layer is built.

    Examples
    --------
    >>> from gcnn import nn
    >>> layer = nn.LiftingConv(3, 8, 3, padding=1, rng=0)
    >>> layer
    LiftingConv(3 -> 8, p4, kernel 3x3, stride 1, padding 1)
    >>> layer.weight.shape, layer.weight.dtype
    ((8, 3, 3, 3), dtype('float32'))
    """

    _function = staticmethod(_layers.lift)
    _group_axis = False


class GroupConv(_GroupConvolution):
    """Group convolution layer: (N, C_in, |G|, H, W) to (N, C_out, |G|, H', W').

    Parameters
    ----------
    in_channels, out_channels, kernel_size, group, stride, padding, bias, dtype, rng
        As in :class:`LiftingConv`.

    Attributes
    ----------
    weight : numpy.ndarray, shape (out_channels, in_channels, |G|, k, k)
        Drawn uniformly from ``[-b, b)`` with ``b = 1 / sqrt(in_channels * |G| * k * k)``.
    bias : numpy.ndarray, shape (out_channels,), or None
        Drawn from the same range.
    kernel_size, stride : (int, int)
    padding : (int, int) or str
    group : PointGroup

    Raises
    ------
    TypeError, ValueError
        For invalid arguments, when the layer is built.

    Examples
    --------
    >>> from gcnn import nn
    >>> nn.GroupConv(8, 16, 3, group="p4m", padding=1, rng=0).weight.shape
    (16, 8, 8, 3, 3)
    """

    _function = staticmethod(_layers.group_conv)
    _group_axis = True


class GroupPool(Layer):
    """Pool over the group axis: (N, C, |G|, H, W) to (N, C, H, W); see :func:`gcnn.group_pool`.

    Parameters
    ----------
    reduce : {"max", "mean", "sum"}, optional

    Examples
    --------
    >>> from gcnn import nn
    >>> nn.GroupPool("mean")
    GroupPool(mean)
    """

    def __init__(self, reduce: str = "max") -> None:
        self.reduce = _layers.check_reduce(reduce, _layers.GROUP_POOL_REDUCTIONS)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return _layers.group_pool(x, self.reduce)

    def __repr__(self) -> str:
        return f"GroupPool({self.reduce})"


class SpatialPool(Layer):
    """Max or average pooling over the last two axes; see :func:`gcnn.spatial_pool`.

    Parameters
    ----------
    kernel_size : int, (int, int) or None
        Window; None pools each whole map (global pooling).
    stride : int or (int, int), optional
        Defaults to `kernel_size`.
    padding : int or (int, int), optional
        At most half the window.
    reduce : {"max", "mean"}, optional

    Attributes
    ----------
    kernel_size, stride : (int, int) or None
        None for global pooling.
    padding : (int, int)

    Examples
    --------
    >>> from gcnn import nn
    >>> nn.SpatialPool(2)
    SpatialPool(max, kernel 2x2, stride 2, padding 0)
    >>> nn.SpatialPool(None, reduce="mean")
    SpatialPool(mean, global)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int] | None,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        reduce: str = "max",
    ) -> None:
        self.reduce = _layers.check_reduce(reduce, _layers.SPATIAL_POOL_REDUCTIONS)
        self.kernel_size, self.stride, self.padding = _layers.pool_geometry(
            kernel_size, stride, padding
        )

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return _layers.spatial_pool(x, self.kernel_size, self.stride, self.padding, self.reduce)

    def __repr__(self) -> str:
        if self.kernel_size is None:
            return f"SpatialPool({self.reduce}, global)"
        k = self.kernel_size
        return (
            f"SpatialPool({self.reduce}, kernel {k[0]}x{k[1]}, stride {_pair_text(self.stride)}, "
            f"padding {_pair_text(self.padding)})"
        )


class ReLU(Layer):
    """``max(x, 0)`` elementwise (NaN propagates); pointwise, so it commutes with every ``T_g``.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> nn.ReLU()(np.array([-1.0, 2.0]))
    array([0., 2.])
    """

    def __call__(self, x: ArrayLike) -> np.ndarray:
        values = as_real_array(x, "x")
        return np.maximum(values.astype(compute_dtype(values), copy=False), 0)

    def __repr__(self) -> str:
        return "ReLU()"


class Sequential(Layer):
    """Layers applied in order; iterable, indexable (a slice is a Sequential) and sized.

    Parameters
    ----------
    *layers : callable
        Usually gcnn layers; any callable ``f(x) -> array`` runs, but
        :func:`gcnn.equivariance_conditions` only vouches for gcnn layers.

    Raises
    ------
    TypeError
        If a layer is not callable.

    Examples
    --------
    >>> from gcnn import nn
    >>> net = nn.Sequential(nn.LiftingConv(1, 2, 3, rng=0), nn.GroupPool())
    >>> len(net), net[1]
    (2, GroupPool(max))
    >>> net
    Sequential(
      (0): LiftingConv(1 -> 2, p4, kernel 3x3, stride 1, padding 0)
      (1): GroupPool(max)
    )
    """

    def __init__(self, *layers: Layer) -> None:
        for index, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"layer {index} must be callable, got {type(layer).__name__}")
        self._layers: tuple = tuple(layers)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        for layer in self._layers:
            x = layer(x)
        return np.asarray(x)

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    @overload
    def __getitem__(self, index: int) -> Layer: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __repr__(self) -> str:
        if not self._layers:
            return "Sequential()"
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self._layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"
