"""Layer objects: group-CNN layers holding their parameters as NumPy arrays, trainable by hand.

Each layer is a callable (``layer(x)`` runs ``layer.forward(x)``) with a readable repr and,
for the windowed layers, the geometry (``kernel_size``, ``stride``, ``padding``) that
:func:`gcnn.equivariance_conditions` reads.

The layers follow PyTorch's training contract without an autograd engine: a forward in
training mode (the default, as in PyTorch; see :meth:`Layer.train` and :meth:`Layer.eval`)
keeps what the layer's :meth:`Layer.backward` needs, and ``backward(grad_out)`` returns the
gradient with respect to the input and adds the parameter gradients to ``Parameter.grad``
(they accumulate until :meth:`Layer.zero_grad`).  :class:`Sequential` runs the chain backwards.
An optimizer updates ``Parameter.data`` (the layer's own array) in place.

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

A training step on a small classifier (the update is plain SGD):

>>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, rng=0))
>>> loss_fn = nn.CrossEntropyLoss()
>>> images, labels = np.ones((2, 1, 2, 2), np.float32), np.array([0, 2])
>>> loss = loss_fn(model(images), labels)
>>> grad_images = model.backward(loss_fn.backward())
>>> for parameter in model.parameters():
...     parameter.data -= 0.1 * parameter.grad
>>> loss_fn(model(images), labels) < loss
True
>>> [name for name, _ in model.named_parameters()]
['1.weight', '1.bias']
"""

from __future__ import annotations

import collections
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, Union, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _config, _core, _layers, fourier, steerable
from ._validate import as_real_array, compute_dtype, contiguous, flag, positive_int
from .groups import GroupLike, PointGroup, get_group

__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "FiberInterpolation",
    "Flatten",
    "GroupBatchNorm",
    "GroupConv",
    "GroupPool",
    "Layer",
    "LiftingConv",
    "Linear",
    "Parameter",
    "ReLU",
    "Sequential",
    "SpatialPool",
]

RngLike = Union[None, int, np.random.Generator]

# What a layer's cache holds once backward has used it (None: no training-mode forward yet).
_CONSUMED = object()

LoadResult = collections.namedtuple("LoadResult", ["missing_keys", "unexpected_keys"])
LoadResult.__doc__ = """What :meth:`Layer.load_state_dict` did not load, as in PyTorch."""


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


def _check_size(shape, dtype: np.dtype, arguments: str, what: str = "weight") -> None:
    """Refuse a parameter array NumPy cannot index, naming the arguments that asked for it."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    count = math.prod(shape)
    if count * np.dtype(dtype).itemsize > np.iinfo(np.intp).max:
        raise ValueError(
            f"{arguments} ask for a {what} of shape {shape}, {count} elements: too large to allocate"
        )


def _uniform(
    generator: np.random.Generator, bound: float, shape, dtype: np.dtype, arguments: str
) -> np.ndarray:
    _check_size(shape, dtype, arguments)
    try:
        return generator.uniform(-bound, bound, size=shape).astype(dtype)
    except MemoryError:
        gib = math.prod((shape,) if isinstance(shape, int) else shape) * 8 / 2**30
        raise MemoryError(
            f"{arguments} ask for a weight of shape {shape}: cannot allocate {gib:.1f} GiB"
        ) from None


# --------------------------------------------------------------------------- parameters


class Parameter:
    """A trainable array and its gradient: what optimizers read (``grad``) and update (``data``).

    Parameters
    ----------
    data : numpy.ndarray of float32 or float64
        The layer's own array; it is kept, not copied (``parameter.data is layer.weight``).

    Attributes
    ----------
    data : numpy.ndarray
        The values.  Update them in place (``p.data -= lr * p.grad``) so the layer sees the
        change; assigning a new array is allowed if it has the same shape and dtype.
    grad : numpy.ndarray
        Same shape and dtype as `data`, zeros at creation.  Backward passes ADD to it, as in
        PyTorch, until :meth:`zero_grad` zeroes it in place.

    Raises
    ------
    TypeError
        If `data` is not a float32 or float64 ndarray.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> layer = nn.Linear(3, 2, rng=0)
    >>> weight = next(layer.parameters())
    >>> weight
    Parameter(shape=(2, 3), dtype=float32)
    >>> weight.data is layer.weight, float(weight.grad.sum())
    (True, 0.0)
    """

    __slots__ = ("_data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        self._data = self._checked(data, None)
        self.grad: np.ndarray = np.zeros_like(self._data)

    @staticmethod
    def _checked(data, previous: np.ndarray | None) -> np.ndarray:
        if not isinstance(data, np.ndarray) or data.dtype not in (np.float32, np.float64):
            described = f"dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data)
            raise TypeError(
                f"Parameter data must be a float32 or float64 numpy.ndarray, got {described}"
            )
        if previous is not None and (data.shape, data.dtype) != (previous.shape, previous.dtype):
            raise ValueError(
                f"Parameter data must keep its shape {previous.shape} and dtype {previous.dtype}, "
                f"got shape {data.shape} and dtype {data.dtype}"
            )
        return data

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = self._checked(value, self._data)

    @property
    def shape(self) -> tuple:
        """The shape of `data`."""
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of `data` (and `grad`)."""
        return self._data.dtype

    def zero_grad(self) -> None:
        """Set `grad` to zero in place (an optimizer holding ``grad`` keeps the same array)."""
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter(shape={self._data.shape}, dtype={self._data.dtype})"


class _ParameterField:
    """``layer.weight``: the data of a registered Parameter (None when the layer has none)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        parameter = vars(layer).get("_parameters", {}).get(self.name)
        return None if parameter is None else parameter.data

    def __set__(self, layer, value) -> None:
        parameter = vars(layer).get("_parameters", {}).get(self.name)
        if parameter is None:
            raise AttributeError(
                f"{type(layer).__name__} was built without a {self.name}; it cannot be set"
            )
        parameter.data = value


class _BufferField:
    """``layer.running_mean`` and the like: a registered buffer (None when not tracked)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        return vars(layer).get("_buffers", {}).get(self.name)

    def __set__(self, layer, value) -> None:
        buffers = vars(layer).get("_buffers", {})
        if self.name not in buffers:
            raise AttributeError(f"{type(layer).__name__} does not track {self.name}")
        previous = buffers[self.name]
        if (
            not isinstance(value, np.ndarray)
            or value.shape != previous.shape
            or value.dtype != previous.dtype
        ):
            described = (
                f"shape {value.shape} and dtype {value.dtype}"
                if isinstance(value, np.ndarray)
                else type(value).__name__
            )
            raise ValueError(
                f"{self.name} must be a numpy.ndarray of shape {previous.shape} and dtype "
                f"{previous.dtype}, got {described}"
            )
        buffers[self.name] = value


# --------------------------------------------------------------------------- base class


_LayerT = TypeVar("_LayerT", bound="Layer")


class Layer:
    """Base class of the gcnn layers: PyTorch's training contract on NumPy arrays.

    ``layer(x)`` runs :meth:`forward`.  In training mode (``training`` is True from
    construction, as in PyTorch) the forward keeps what :meth:`backward` needs; in eval mode it
    keeps nothing.  Parameters are :class:`Parameter` objects whose ``data`` is the layer's own
    array (``layer.weight``, ``layer.bias``).

    Subclasses implement ``forward`` and, to be trainable, ``_backward(cache, grad_out)``; they
    register parameters with ``_register_parameter`` and buffers with ``_register_buffer``.

    Attributes
    ----------
    training : bool
        True in training mode.
    """

    training: bool = True  # also the default of subclasses that skip Layer.__init__

    def __init__(self) -> None:
        self.training = True
        self._parameters: dict[str, Parameter] = {}
        self._buffers: dict[str, np.ndarray] = {}
        self._cache: Any = None

    # ------------------------------------------------------------------ calling

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: ArrayLike) -> np.ndarray:
        """The layer's output for `x` (what ``layer(x)`` returns)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out: ArrayLike, *, input_grad: bool = True) -> np.ndarray | None:
        """Gradient of a scalar loss with respect to the input of the last forward.

        Parameters
        ----------
        grad_out : array_like
            d loss / d output, with the shape of the last forward's output.
        input_grad : bool, optional
            False: only the parameter gradients are wanted (the input is data, as an input
            that does not require grad in PyTorch), so the layer may skip the input gradient
            and returns None.  The convolutions skip it, which spares a training step the
            first layer's input gradient.

        Returns
        -------
        numpy.ndarray or None
            d loss / d input, with the shape of the last forward's input (unbatched when the
            input was), in the dtype the forward computed in; None if `input_grad` is False.

        Raises
        ------
        RuntimeError
            If no training-mode forward preceded this call (an eval-mode forward keeps
            nothing), or backward already ran for that forward (it frees what the forward
            kept).
        ValueError
            If `grad_out` does not have the shape of the forward's output.
        TypeError
            If `grad_out` is not a real array.

        Notes
        -----
        Parameter gradients are ADDED to ``Parameter.grad`` (as in PyTorch), so several
        backward passes accumulate until :meth:`zero_grad`.  The forward's input is kept by
        reference: do not modify it in place between forward and backward.
        """
        cache, grad = self._checked_cache(grad_out)
        input_grad = flag(input_grad, "input_grad")
        self._cache = _CONSUMED
        if not input_grad:
            self._backward_parameters(cache, grad)
            return None
        return self._backward(cache, grad)

    def _checked_cache(self, grad_out: ArrayLike) -> tuple[dict, np.ndarray]:
        """What the forward kept and grad_out in its dtype, after backward's checks (the
        cache stays until the caller consumes it)."""
        cache = vars(self).get("_cache")
        name = type(self).__name__
        if cache is None:
            raise RuntimeError(
                f"{name}.backward called before a training-mode forward (an eval-mode forward "
                "keeps nothing for backward; call train() and run the forward again)"
            )
        if cache is _CONSUMED:
            raise RuntimeError(
                f"{name}.backward called twice for one forward: backward frees what the forward "
                "kept; run a training-mode forward again"
            )
        grad = as_real_array(grad_out, "grad_out")
        if grad.shape != cache["out_shape"]:
            raise ValueError(
                f"grad_out must have the shape of {name}'s forward output {cache['out_shape']}, "
                f"got {grad.shape}"
            )
        return cache, grad.astype(cache["dtype"], copy=False)

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def _backward_parameters(self, cache: dict, grad: np.ndarray) -> None:
        """The parameter gradients alone (layers that can skip the input gradient override)."""
        self._backward(cache, grad)

    def _keep(self, **cache) -> None:
        """Store what backward needs after a training-mode forward (and nothing in eval mode)."""
        self._cache = cache if self.training else None

    # ------------------------------------------------------------------ modes

    def train(self: _LayerT, mode: bool = True) -> _LayerT:  # noqa: PYI019 (Self is 3.11+)
        """Set training mode (or eval mode with ``mode=False``), here and in sublayers.

        Returns
        -------
        Layer
            The layer itself, so that ``model = Model(...).train()`` works.

        Raises
        ------
        TypeError
            If `mode` is not a bool.
        """
        mode = flag(mode, "mode")
        self.training = mode
        for _, child in self._named_children():
            child.train(mode)
        return self

    def eval(self: _LayerT) -> _LayerT:  # noqa: PYI019 (Self is 3.11+)
        """Set eval mode (``train(False)``); returns the layer itself."""
        return self.train(False)

    # ------------------------------------------------------------------ parameters and state

    def _register_parameter(self, name: str, data: np.ndarray | None) -> None:
        if data is not None:
            self._parameters[name] = Parameter(data)

    def _register_buffer(self, name: str, data: np.ndarray) -> None:
        self._buffers[name] = data

    def _named_children(self) -> Iterator[tuple[str, Layer]]:
        return iter(())

    def _named_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, parameter in vars(self).get("_parameters", {}).items():
            yield prefix + name, parameter
        for child_name, child in self._named_children():
            yield from child._named_parameters(f"{prefix}{child_name}.")

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs with PyTorch's names: ``"weight"``, ``"bias"``, and
        ``"0.weight"``, ``"3.bias"``... in a Sequential (nested: ``"1.0.weight"``).

        Per layer the weight comes before the bias; a Sequential lists its layers in order.  A
        layer used twice appears once, under its first name (as in PyTorch).
        """
        seen = set()
        for name, parameter in self._named_parameters(""):
            if id(parameter) not in seen:
                seen.add(id(parameter))
                yield name, parameter

    def parameters(self) -> Iterator[Parameter]:
        """The :class:`Parameter` objects in the order of :meth:`named_parameters`."""
        for _, parameter in self.named_parameters():
            yield parameter

    def zero_grad(self) -> None:
        """Zero every parameter's ``grad`` in place."""
        for parameter in self.parameters():
            parameter.zero_grad()

    def _state_arrays(self, prefix: str) -> Iterator[tuple[str, np.ndarray]]:
        """(name, the layer's own array): parameters, then buffers, then sublayers."""
        for name, parameter in vars(self).get("_parameters", {}).items():
            yield prefix + name, parameter.data
        for name, buffer in vars(self).get("_buffers", {}).items():
            yield prefix + name, buffer
        for child_name, child in self._named_children():
            yield from child._state_arrays(f"{prefix}{child_name}.")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by name, in PyTorch's order and names.

        Returns
        -------
        dict of str to numpy.ndarray
            Per layer its parameters (``weight``, ``bias``) then its buffers (BatchNorm's
            ``running_mean``, ``running_var`` and ``num_batches_tracked``, a 0-d int64 array),
            prefixed by the layer index in a Sequential.  The arrays are copies: saving them
            with ``np.savez(path, **state)`` and reloading with ``np.load(path)`` round-trips.
        """
        return {name: array.copy() for name, array in self._state_arrays("")}

    def load_state_dict(self, state: Mapping[str, ArrayLike], strict: bool = True) -> LoadResult:
        """Copy values from `state` INTO the layer's own arrays (their identity is kept).

        Parameters
        ----------
        state : mapping of str to array_like
            E.g. a :meth:`state_dict` or the ``NpzFile`` of ``np.load``.
        strict : bool, optional
            If True, every key of :meth:`state_dict` must be in `state` and nothing else.

        Returns
        -------
        LoadResult
            ``(missing_keys, unexpected_keys)``, both empty when `strict` is True.

        Raises
        ------
        KeyError
            If `strict` and keys are missing or unexpected (all of them are named).
        ValueError
            If a value's shape differs from the layer's array (the key and both shapes are named).
        TypeError
            If `state` is not a mapping, or a value is not real or cannot be cast to the
            array's dtype (e.g. a float into ``num_batches_tracked``).

        Notes
        -----
        Everything is checked before anything is copied: a failed load changes nothing.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"state must be a mapping of names to arrays (e.g. a state_dict), "
                f"got {type(state).__name__}"
            )
        strict = flag(strict, "strict")
        targets = dict(self._state_arrays(""))
        missing = [name for name in targets if name not in state]
        unexpected = [name for name in state if name not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(f"load_state_dict(strict=True): {' and '.join(parts)}")
        values = {}
        for name, target in targets.items():
            if name not in state:
                continue
            value = as_real_array(state[name], f"state[{name!r}]")
            if value.shape != target.shape:
                raise ValueError(
                    f"state[{name!r}] has shape {value.shape} but the layer's {name} has shape "
                    f"{target.shape}"
                )
            if not np.can_cast(value.dtype, target.dtype, casting="same_kind"):
                raise TypeError(
                    f"state[{name!r}] has dtype {value.dtype}, which cannot be cast to the "
                    f"layer's {name} dtype {target.dtype}"
                )
            values[name] = value
        for name, value in values.items():
            np.copyto(targets[name], value, casting="same_kind")
        return LoadResult(missing, unexpected)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------- convolutions


class _Convolution(Layer):
    """Forward and backward shared by Conv2d, LiftingConv and GroupConv.

    Subclasses call ``_forward_function`` and ``_backward_function`` with the group keyword
    when ``_group_keyword`` is True.
    """

    weight = _ParameterField()
    bias = _ParameterField()
    _group_keyword = True
    # Set by the subclasses (their constructors and class bodies).
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    group: PointGroup
    _forward_function: Callable[..., np.ndarray]
    _backward_function: Callable[..., tuple[np.ndarray | None, np.ndarray, np.ndarray]]

    def _function_keywords(self) -> dict[str, Any]:
        keywords: dict[str, Any] = {"stride": self.stride, "padding": self.padding}
        if self._group_keyword:
            keywords["group"] = self.group
        return keywords

    def padding_pair(self) -> tuple[int, int]:
        """The (rows, columns) zero padding, with ``"same"``/``"valid"`` resolved."""
        return _layers.resolve_padding(self.padding, self.kernel_size[0], self.stride)

    def _pixel_weight(self) -> np.ndarray:
        """The weight the functional layer takes (the steerable layers override it)."""
        return self.weight

    def _weight_gradient(self, grad_pixels: np.ndarray) -> np.ndarray:
        """The gradient of `weight` from that of :meth:`_pixel_weight` (its transpose)."""
        return grad_pixels

    def forward(self, x: ArrayLike) -> np.ndarray:
        values = as_real_array(x, "x")
        out = type(self)._forward_function(
            values, self._pixel_weight(), self.bias, **self._function_keywords()
        )
        if self.training:
            self._keep(x=values, out_shape=out.shape, dtype=out.dtype)
        else:
            self._cache = None
        return out

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        grad_x = self._gradients(cache, grad, True)
        return np.asarray(grad_x).reshape(cache["x"].shape)

    def _backward_parameters(self, cache: dict, grad: np.ndarray) -> None:
        self._gradients(cache, grad, False)

    def _backward_with_sums(
        self, grad_out: ArrayLike, grad_sums: np.ndarray, input_grad: bool
    ) -> np.ndarray | None:
        """backward, given the sums of grad_out per channel (the bias gradient), which the
        batch norm that produced grad_out added up as it wrote it (Sequential)."""
        cache, grad = self._checked_cache(grad_out)
        self._cache = _CONSUMED
        grad_x = self._gradients(cache, grad, input_grad, grad_sums)
        return None if grad_x is None else np.asarray(grad_x).reshape(cache["x"].shape)

    def _gradients(
        self,
        cache: dict,
        grad: np.ndarray,
        input_grad: bool,
        grad_sums: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Add the parameter gradients; return the input gradient if `input_grad`."""
        grad_x, grad_weight, grad_bias = type(self)._backward_function(
            grad,
            cache["x"],
            self._pixel_weight(),
            input_grad=input_grad,
            grad_sums=grad_sums,
            **self._function_keywords(),
        )
        self._parameters["weight"].grad += self._weight_gradient(grad_weight)
        if "bias" in self._parameters:
            self._parameters["bias"].grad += grad_bias
        return grad_x


class _GroupConvolution(_Convolution):
    """Shared construction of LiftingConv and GroupConv.

    Subclasses set ``_forward_function``, ``_backward_function`` (the functional layer and its
    gradient) and ``_group_axis`` (True when the weight has a group axis, (C_out, C_in, |G|,
    k, k)).
    """

    _group_axis: bool

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
        super().__init__()
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
        bias = flag(bias, "bias")
        dtype = _float_dtype(dtype)
        generator = _generator(rng)

        k = kernel[0]
        shape: tuple[int, ...]
        # Groups with turns that are not quarter turns hold coefficients in the orthonormal
        # steerable basis instead of pixels (docs/design.md, §3.7 Steerable filters).
        self.basis: np.ndarray | None = None
        filter_shape: tuple[int, ...] = (k, k)
        if self.group.steerable:
            self.basis = steerable.filter_basis(k)
            filter_shape = (len(self.basis),)
        if self._group_axis:
            shape = (self.out_channels, self.in_channels, self.group.order) + filter_shape
        else:
            shape = (self.out_channels, self.in_channels) + filter_shape
        fan_in = math.prod(shape[1:])
        bound = 1.0 / math.sqrt(fan_in)
        sizes = f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={k}"
        self._register_parameter("weight", _uniform(generator, bound, shape, dtype, sizes))
        self._register_parameter(
            "bias", _uniform(generator, bound, self.out_channels, dtype, sizes) if bias else None
        )

    def _pixel_weight(self) -> np.ndarray:
        if self.basis is None:
            return self.weight
        return np.tensordot(self.weight, self.basis.astype(self.weight.dtype), axes=1)

    def _weight_gradient(self, grad_pixels: np.ndarray) -> np.ndarray:
        if self.basis is None:
            return grad_pixels
        basis = self.basis.astype(grad_pixels.dtype)
        return np.tensordot(grad_pixels, basis, axes=([-2, -1], [1, 2]))

    @property
    def filters(self) -> np.ndarray:
        """The ``k x k`` filters of the identity orientation, what :func:`gcnn.lift` takes.

        The weight itself for p4, p4m and the other groups of quarter turns; for the steerable
        groups the weight's coefficients times :attr:`basis`, ``np.tensordot(weight, basis,
        1)``: shape ``(C_out, C_in, k, k)`` or ``(C_out, C_in, |G|, k, k)``, a new array.
        ``gcnn.expand_filter(layer.filters, layer.group, kind)`` is the ``conv2d`` weight that
        exports the layer (docs/design.md, §3.5 expand_filter).
        """
        weight = self._pixel_weight()
        return weight.copy() if weight is self.weight else weight

    def __repr__(self) -> str:
        padding = self.padding if isinstance(self.padding, str) else _pair_text(self.padding)
        k = self.kernel_size
        text = (
            f"{type(self).__name__}({self.in_channels} -> {self.out_channels}, {self.group.name}, "
            f"kernel {k[0]}x{k[1]}, stride {_pair_text(self.stride)}, padding {padding}"
        )
        if self.basis is not None:
            text += f", {len(self.basis)} steerable filters"
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
        Dtype of the parameters (the output dtype follows the promotion rules of
        :func:`gcnn.lift`).
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

    Notes
    -----
    Backward is :func:`gcnn.lift_backward`: the weight gradient is for the compact weight,
    every transformed copy's gradient turned back and summed (docs/design.md, §6.2 Weight
    gradient).

    Examples
    --------
    >>> from gcnn import nn
    >>> layer = nn.LiftingConv(3, 8, 3, padding=1, rng=0)
    >>> layer
    LiftingConv(3 -> 8, p4, kernel 3x3, stride 1, padding 1)
    >>> layer.weight.shape, layer.weight.dtype
    ((8, 3, 3, 3), dtype('float32'))
    >>> [name for name, _ in layer.named_parameters()]
    ['weight', 'bias']
    """

    _forward_function = staticmethod(_layers.lift)
    _backward_function = staticmethod(_layers._lift_backward)
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

    Notes
    -----
    Backward is :func:`gcnn.group_conv_backward` (gradient of the compact weight).

    Examples
    --------
    >>> from gcnn import nn
    >>> nn.GroupConv(8, 16, 3, group="p4m", padding=1, rng=0).weight.shape
    (16, 8, 8, 3, 3)
    """

    _forward_function = staticmethod(_layers.group_conv)
    _backward_function = staticmethod(_layers._group_conv_backward)
    _group_axis = True


class Conv2d(_Convolution):
    """Planar convolution (PyTorch's ``Conv2d``): (N, C_in, H, W) to (N, C_out, H', W').

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel_size : int or (int, int)
        Kernel size (rows, columns).
    stride : int or (int, int), optional
        Step between output pixels.
    padding : int, (int, int), "same" or "valid", optional
        Zeros added on both sides of each axis; ``"same"`` needs stride 1 and, as in PyTorch,
        puts the extra row and column of an even kernel after the image.
    bias : bool, optional
        Whether the layer has a bias.
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the parameters.
    rng : int, numpy.random.Generator or None, optional
        Source of the initial parameters; an int is a seed.

    Attributes
    ----------
    weight : numpy.ndarray, shape (out_channels, in_channels, kh, kw)
        Drawn uniformly from ``[-b, b)`` with ``b = 1 / sqrt(in_channels * kh * kw)``, PyTorch's
        default initialisation.
    bias : numpy.ndarray, shape (out_channels,), or None
        Drawn from the same range.
    kernel_size, stride : (int, int)
    padding : (int, int) or str

    Raises
    ------
    TypeError, ValueError
        For invalid arguments, when the layer is built.

    Notes
    -----
    ``out[n, o] = sum_c corr(x[n, c], weight[o, c]) + bias[o]`` (cross-correlation, like
    PyTorch).  A planar convolution is translation-equivariant but, with a generic kernel, NOT
    equivariant to turns and flips: :func:`gcnn.equivariance_conditions` reports it unless its
    kernels are invariant under the group (a 1 x 1 kernel always is).

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> layer = nn.Conv2d(3, 8, 3, padding=1, rng=0)
    >>> layer
    Conv2d(3 -> 8, kernel 3x3, stride 1, padding 1)
    >>> layer(np.zeros((2, 3, 5, 5), np.float32)).shape
    (2, 8, 5, 5)
    """

    _forward_function = staticmethod(_layers.conv2d)
    _backward_function = staticmethod(_layers._conv2d_backward)
    _group_keyword = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size: tuple[int, int] = _layers.positive_pair(kernel_size, "kernel_size")
        self.stride: tuple[int, int] = _layers.positive_pair(stride, "stride")
        self.padding: tuple[int, int] | str = (
            padding if isinstance(padding, str) else _layers.nonnegative_pair(padding, "padding")
        )
        self.padding_sides()  # checked now so that a bad layer fails when built
        bias = flag(bias, "bias")
        dtype = _float_dtype(dtype)
        generator = _generator(rng)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        bound = 1.0 / math.sqrt(math.prod(shape[1:]))
        sizes = (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={_pair_text(self.kernel_size)}"
        )
        self._register_parameter("weight", _uniform(generator, bound, shape, dtype, sizes))
        self._register_parameter(
            "bias", _uniform(generator, bound, self.out_channels, dtype, sizes) if bias else None
        )

    def padding_sides(self) -> tuple[int, int, int, int]:
        """The (top, bottom, left, right) zero padding, with ``"same"``/``"valid"`` resolved."""
        return _layers._planar_padding(self.padding, self.kernel_size, self.stride)

    def padding_pair(self) -> tuple[int, int]:
        """The (rows, columns) zero padding when it is symmetric, as for the group layers.

        Raises
        ------
        ValueError
            For ``padding="same"`` with an even kernel side, which pads one more row or column
            after the image than before it (as PyTorch does).
        """
        top, bottom, left, right = self.padding_sides()
        if top != bottom or left != right:
            raise ValueError(
                f"padding='same' with the even kernel {self.kernel_size[0]}x"
                f"{self.kernel_size[1]} is lopsided: (top, bottom, left, right) = "
                f"{(top, bottom, left, right)}"
            )
        return top, left

    def __repr__(self) -> str:
        padding = self.padding if isinstance(self.padding, str) else _pair_text(self.padding)
        k = self.kernel_size
        text = (
            f"Conv2d({self.in_channels} -> {self.out_channels}, kernel {k[0]}x{k[1]}, "
            f"stride {_pair_text(self.stride)}, padding {padding}"
        )
        return text + (")" if self.bias is not None else ", bias=False)")


# --------------------------------------------------------------------------- pooling


class GroupPool(Layer):
    """Pool over the group axis: (N, C, |G|, H, W) to (N, C, H, W); see :func:`gcnn.group_pool`.

    Parameters
    ----------
    reduce : {"max", "mean", "sum"}, optional

    Notes
    -----
    Backward: ``"max"`` sends the gradient to the first maximal element along the group axis
    (``np.argmax``; ties go to the lowest group index); ``"mean"`` spreads it evenly (divided
    by |G|); ``"sum"`` copies it to every element.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> pool = nn.GroupPool("mean")
    >>> pool
    GroupPool(mean)
    >>> out = pool(np.zeros((1, 2, 4, 3, 3)))
    >>> pool.backward(np.ones_like(out))[0, 0, :, 0, 0]
    array([0.25, 0.25, 0.25, 0.25])
    """

    def __init__(self, reduce: str = "max") -> None:
        super().__init__()
        self.reduce = _layers.check_reduce(reduce, _layers.GROUP_POOL_REDUCTIONS)

    def forward(self, x: ArrayLike) -> np.ndarray:
        out = _layers.group_pool(x, self.reduce)
        if not self.training:
            self._cache = None
            return out
        values = as_real_array(x, "x")
        winners = None
        if self.reduce == "max":
            winners = np.argmax(values, axis=-3)
        self._keep(x_shape=values.shape, winners=winners, out_shape=out.shape, dtype=out.dtype)
        return out

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        shape = cache["x_shape"]
        if self.reduce == "max":
            grad_x = np.zeros(shape, dtype=grad.dtype)
            np.put_along_axis(
                grad_x, np.expand_dims(cache["winners"], -3), np.expand_dims(grad, -3), axis=-3
            )
            return grad_x
        share = grad / shape[-3] if self.reduce == "mean" else grad
        return np.ascontiguousarray(np.broadcast_to(np.expand_dims(share, -3), shape))

    def __repr__(self) -> str:
        return f"GroupPool({self.reduce})"


class FiberInterpolation(Layer):
    """Feature maps on a group evaluated at any orientations, by trigonometric interpolation.

    The tutorial's section 5 as a layer (docs/design.md, §3.8 Fibers over the orientations):
    the ``N`` values of a feature over the turns of ``cN`` (or over each coset of ``dN``) are
    read through their Fourier coefficients as a periodic function of the angle, moved by
    phase factors and evaluated at ``angles``.

    Parameters
    ----------
    angles : array_like of float, shape (A,)
        Orientations in radians (counter-clockwise, the sense of ``np.rot90``).
    group : str or PointGroup
        The group of the input feature maps.

    Attributes
    ----------
    matrix : numpy.ndarray of float64, shape (A, N)
        ``fourier.interpolation_matrix(N, angles)``: the layer is linear over the
        orientation axis, ``out[..., m*A + a, :, :] = sum_n matrix[a, n] x[..., m*N + n, :, :]``.

    Notes
    -----
    Input ``(B, C, |G|, H, W)``, output ``(B, C, (|G|/N) * A, H, W)``: for ``dN`` the turns
    come first, then the mirrored turns, as in the group's own index. At an angle of the grid
    (``2*pi*n/N``) the output is the input's slot ``n`` exactly; between the grid angles it is
    the lowest-degree trigonometric polynomial through the samples, which is exact only for
    responses that vary with the angle no faster than frequency ``N/2``
    (:func:`gcnn.fourier.steering_error` measures how far a network is from that). Backward
    multiplies by the transpose. No parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> layer = nn.FiberInterpolation(np.deg2rad([0, 45, 22.5]), "c8")
    >>> layer
    FiberInterpolation(c8, 3 angles)
    >>> x = np.random.default_rng(0).standard_normal((1, 2, 8, 3, 3))
    >>> out = layer(x)
    >>> out.shape
    (1, 2, 3, 3, 3)
    >>> bool(np.allclose(out[:, :, 1], x[:, :, 1]))
    True
    """

    def __init__(self, angles: ArrayLike, group: GroupLike = "p4") -> None:
        super().__init__()
        self.group = get_group(group)
        values = np.asarray(angles)
        if values.dtype.kind not in "buif":
            raise TypeError(f"angles must be real numbers, got {values.dtype}")
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"angles must be a non-empty 1-D array, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("angles must be finite")
        self.angles = values.astype(np.float64)
        self.matrix = fourier.interpolation_matrix(self.group.rotations, self.angles)
        self.matrix.flags.writeable = False

    def _cosets(self) -> int:
        return self.group.order // self.group.rotations

    def forward(self, x: ArrayLike) -> np.ndarray:
        values = as_real_array(x, "x")
        order = self.group.order
        if values.ndim < 3 or values.shape[-3] != order:
            raise ValueError(
                f"x must have shape (..., {order}, H, W) ({self.group.name} feature maps: the "
                f"group axis is -3), got {values.shape}"
            )
        dtype = compute_dtype(values)
        turns = self.group.rotations
        cosets = values.reshape(values.shape[:-3] + (self._cosets(), turns) + values.shape[-2:])
        out = np.einsum("an,...mnhw->...mahw", self.matrix.astype(dtype), cosets.astype(dtype))
        out = out.reshape(values.shape[:-3] + (-1,) + values.shape[-2:])
        if self.training:
            self._keep(x_shape=values.shape, out_shape=out.shape, dtype=out.dtype)
        return out

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        shape = cache["x_shape"]
        count = len(self.angles)
        blocks = grad.reshape(grad.shape[:-3] + (self._cosets(), count) + grad.shape[-2:])
        grad_x = np.einsum("an,...mahw->...mnhw", self.matrix.astype(grad.dtype), blocks)
        return np.ascontiguousarray(grad_x.reshape(shape))

    def __repr__(self) -> str:
        return f"FiberInterpolation({self.group.name}, {len(self.angles)} angles)"


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

    Notes
    -----
    Backward, as PyTorch's ``max_pool2d`` and ``avg_pool2d``: ``"max"`` sends each window's
    gradient to its first maximal element (row-major order inside the window; never to
    padding), and overlapping windows accumulate; ``"mean"`` spreads it evenly over the
    window, the zero padding counted (``count_include_pad=True``), so the gradient is divided
    by ``kh * kw`` everywhere.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> nn.SpatialPool(2)
    SpatialPool(max, kernel 2x2, stride 2, padding 0)
    >>> nn.SpatialPool(None, reduce="mean")
    SpatialPool(mean, global)
    >>> pool = nn.SpatialPool(2)
    >>> out = pool(np.array([[1.0, 4.0], [3.0, 2.0]]))
    >>> pool.backward(np.ones_like(out))
    array([[0., 1.],
           [0., 0.]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int] | None,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        reduce: str = "max",
    ) -> None:
        super().__init__()
        self.reduce = _layers.check_reduce(reduce, _layers.SPATIAL_POOL_REDUCTIONS)
        self.kernel_size, self.stride, self.padding = _layers.pool_geometry(
            kernel_size, stride, padding
        )

    def forward(self, x: ArrayLike) -> np.ndarray:
        windowed_max = self.reduce == "max" and self.kernel_size is not None
        if windowed_max and self.training:
            # the C kernel also returns each window's winner, for backward
            values = as_real_array(x, "x")
            out, winners = _layers.checked_max_pool(
                values, self.kernel_size, self.stride, self.padding
            )
            self._keep(x_shape=values.shape, winners=winners, out_shape=out.shape, dtype=out.dtype)
            return out
        out = _layers.spatial_pool(x, self.kernel_size, self.stride, self.padding, self.reduce)
        if not self.training:
            self._cache = None
            return out
        values = as_real_array(x, "x")
        cache = {"x_shape": values.shape, "out_shape": out.shape, "dtype": out.dtype}
        if self.reduce == "max":
            flat = values.reshape(values.shape[:-2] + (-1,))
            cache["winners"] = np.argmax(flat, axis=-1)
        self._keep(**cache)
        return out

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        shape = cache["x_shape"]
        height, width = shape[-2:]
        if self.kernel_size is None:
            if self.reduce == "mean":
                return np.ascontiguousarray(np.broadcast_to(grad / (height * width), shape))
            grad_x = np.zeros(shape[:-2] + (height * width,), dtype=grad.dtype)
            np.put_along_axis(
                grad_x, cache["winners"][..., None], grad.reshape(shape[:-2] + (1,)), axis=-1
            )
            return grad_x.reshape(shape)

        if self.reduce == "max":  # each window's gradient goes to its winner (in C)
            return _layers.max_pool_backward(
                grad, cache["winners"], shape, self.kernel_size, self.stride, self.padding
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        out_h, out_w = grad.shape[-2:]
        grad_padded = np.zeros(shape[:-2] + (height + 2 * ph, width + 2 * pw), dtype=grad.dtype)
        share = grad / (kh * kw)
        for ky in range(kh):
            for kx in range(kw):
                grad_padded[
                    ...,
                    ky : ky + sh * (out_h - 1) + 1 : sh,
                    kx : kx + sw * (out_w - 1) + 1 : sw,
                ] += share
        return grad_padded[..., ph : ph + height, pw : pw + width].copy()

    def __repr__(self) -> str:
        if self.kernel_size is None:
            return f"SpatialPool({self.reduce}, global)"
        k = self.kernel_size
        return (
            f"SpatialPool({self.reduce}, kernel {k[0]}x{k[1]}, stride {_pair_text(self.stride)}, "
            f"padding {_pair_text(self.padding)})"
        )


# --------------------------------------------------------------------------- pointwise and shape


class ReLU(Layer):
    """``max(x, 0)`` elementwise (NaN propagates); pointwise, so it commutes with every ``T_g``.

    Notes
    -----
    Backward passes the gradient where ``x > 0`` and gives 0 elsewhere: at ``x == 0`` as PyTorch
    does, and at NaN, where PyTorch's ReLU passes the gradient instead.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> relu = nn.ReLU()
    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> relu.backward(np.array([5.0, 5.0]))
    array([0., 5.])
    """

    def forward(self, x: ArrayLike) -> np.ndarray:
        values = as_real_array(x, "x")
        # one pass in C: the output and where the gradient passes (x > 0)
        out, positive = _core.relu(
            values.astype(compute_dtype(values), copy=False), _config.get_num_threads()
        )
        self._kept_forward(positive, out.shape, out.dtype)
        return out

    def _kept_forward(self, positive: np.ndarray, out_shape: tuple, dtype: np.dtype) -> None:
        """Keep what backward needs of a forward whose output had `out_shape` and `dtype`
        (here, or fused into a batch norm, where the output may never be written)."""
        if self.training:
            self._keep(positive=positive, out_shape=out_shape, dtype=dtype)
        else:
            self._cache = None

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        return _core.relu_backward(grad, cache["positive"], _config.get_num_threads())

    def __repr__(self) -> str:
        return "ReLU()"


class Flatten(Layer):
    """Flatten all axes but the first: (N, ...) to (N, prod(...)), like PyTorch's ``Flatten()``.

    The output is a new array (never a view of the input) in the float dtype the other layers
    compute in (integers and bool promote to float64, float16 to float32).

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> flatten = nn.Flatten()
    >>> out = flatten(np.zeros((2, 3, 1, 1), np.float32))
    >>> out.shape, out.dtype
    ((2, 3), dtype('float32'))
    >>> flatten.backward(np.ones((2, 3))).shape
    (2, 3, 1, 1)
    """

    def forward(self, x: ArrayLike) -> np.ndarray:
        values = as_real_array(x, "x")
        if values.ndim < 2:
            raise ValueError(f"x must have shape (N, ...) with at least 2 axes, got {values.shape}")
        features = math.prod(values.shape[1:])
        out = values.astype(compute_dtype(values)).reshape(values.shape[0], features)
        if self.training:
            self._keep(x_shape=values.shape, out_shape=out.shape, dtype=out.dtype)
        else:
            self._cache = None
        return out

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(cache["x_shape"]).copy()

    def __repr__(self) -> str:
        return "Flatten()"


class Linear(Layer):
    """Fully connected layer (PyTorch's ``Linear``): (..., in_features) to (..., out_features).

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the last axis in and out.
    bias : bool, optional
        Whether the layer has a bias.
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the parameters.
    rng : int, numpy.random.Generator or None, optional
        Source of the initial parameters; an int is a seed.

    Attributes
    ----------
    weight : numpy.ndarray, shape (out_features, in_features)
        Drawn uniformly from ``[-b, b)`` with ``b = 1 / sqrt(in_features)`` (PyTorch's
        default initialisation).
    bias : numpy.ndarray, shape (out_features,), or None
        Drawn from the same range.

    Notes
    -----
    ``out = x @ weight.T + bias``, usually on (N, in_features); any leading axes are carried
    along, as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> layer = nn.Linear(4, 2, rng=0)
    >>> layer
    Linear(4 -> 2)
    >>> layer(np.ones((3, 4), np.float32)).shape
    (3, 2)
    """

    weight = _ParameterField()
    bias = _ParameterField()

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
        rng: RngLike = None,
    ) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        bias = flag(bias, "bias")
        dtype = _float_dtype(dtype)
        generator = _generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        sizes = f"in_features={self.in_features}, out_features={self.out_features}"
        self._register_parameter("weight", _uniform(generator, bound, shape, dtype, sizes))
        self._register_parameter(
            "bias", _uniform(generator, bound, self.out_features, dtype, sizes) if bias else None
        )

    def forward(self, x: ArrayLike) -> np.ndarray:
        values = as_real_array(x, "x")
        if values.ndim < 1 or values.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have shape (..., {self.in_features}) for {self!r}, got {values.shape}"
            )
        dtype = compute_dtype(values, self.weight)
        values = values.astype(dtype, copy=False)
        out = values @ self.weight.T.astype(dtype, copy=False)
        if self.bias is not None:
            out += self.bias.astype(dtype, copy=False)
        if self.training:
            self._keep(x=values, out_shape=out.shape, dtype=out.dtype)
        else:
            self._cache = None
        return out

    def _backward(self, cache: dict, grad: np.ndarray) -> np.ndarray:
        x = cache["x"]
        rows = grad.reshape(-1, self.out_features)
        self._parameters["weight"].grad += rows.T @ x.reshape(-1, self.in_features)
        if "bias" in self._parameters:
            self._parameters["bias"].grad += rows.sum(axis=0)
        return grad @ self.weight.astype(grad.dtype, copy=False)

    def __repr__(self) -> str:
        text = f"Linear({self.in_features} -> {self.out_features}"
        return text + (")" if self.bias is not None else ", bias=False)")


# --------------------------------------------------------------------------- batch normalisation


class _BatchNorm(Layer):
    """PyTorch's batch normalisation over every axis but the channel axis 1.

    Subclasses set ``_ndim`` (the input's rank) and ``_layout`` (its axes, for messages).
    """

    weight = _ParameterField()
    bias = _ParameterField()
    running_mean = _BufferField()
    running_var = _BufferField()
    num_batches_tracked = _BufferField()

    _ndim: int
    _layout: str
    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool
    dtype: np.dtype

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        if not isinstance(eps, numbers.Real) or isinstance(eps, bool):
            raise TypeError(f"eps must be a positive number, got {eps!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.eps = float(eps)
        if momentum is not None:
            if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool):
                raise TypeError(f"momentum must be a number in [0, 1] or None, got {momentum!r}")
            if not 0 <= momentum <= 1:
                raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
            momentum = float(momentum)
        self.momentum = momentum
        self.affine = flag(affine, "affine")
        self.track_running_stats = flag(track_running_stats, "track_running_stats")
        self.dtype = _float_dtype(dtype)
        channels = self.num_features
        _check_size(
            channels, np.float64, f"num_features={channels}", "weight and running statistics"
        )
        if self.affine:
            self._register_parameter("weight", np.ones(channels, dtype=self.dtype))
            self._register_parameter("bias", np.zeros(channels, dtype=self.dtype))
        if self.track_running_stats:
            self._register_buffer("running_mean", np.zeros(channels, dtype=self.dtype))
            self._register_buffer("running_var", np.ones(channels, dtype=self.dtype))
            self._register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x: ArrayLike) -> np.ndarray:
        return self._normalize(x, None)

    def _normalize(self, x: ArrayLike, relu: ReLU | None) -> np.ndarray:
        """The forward; with `relu`, that ReLU layer's forward too, in the same pass over the
        output (Sequential's fusion: the numbers and what both layers keep are unchanged)."""
        return self._normalize_and_pool(x, relu, None)[0]

    def _normalize_and_pool(
        self, x: ArrayLike, relu: ReLU | None, pool: SpatialPool | None
    ) -> tuple[np.ndarray, bool]:
        """_normalize, and with `pool` (a 2x2, stride-2 max pool after `relu`) that layer's
        forward too where it can be one call (batch statistics, maps of at least 2x2).
        Returns the output and whether the pool ran."""
        values = as_real_array(x, "x")
        channels = self.num_features
        if values.ndim != self._ndim or values.shape[1] != channels:
            layout = self._layout.replace("C", str(channels), 1)
            raise ValueError(f"x must have shape {layout} for {self!r}, got {values.shape}")
        dtype = np.result_type(compute_dtype(values), self.dtype)
        # (N, C, S): a channel is N runs of S values for the C kernels
        rows = contiguous(values, dtype).reshape(values.shape[0], channels, -1)
        count = rows.shape[0] * rows.shape[2]
        threads = _config.get_num_threads()
        use_batch_statistics = self.training or not self.track_running_stats
        positive = None
        plane = values.shape[-2:]
        pooled_here = (
            pool is not None
            and relu is not None
            and use_batch_statistics
            and pool.training
            and min(plane) >= 2
            and count >= 2
        )
        if pooled_here:
            # batch norm, ReLU and the pool in one C call: each plane goes through the
            # affine map and ReLU into a scratch plane that is pooled at once, so the map
            # between the layers is never written out (max_pool's numbers and winners)
            pooled, positive, winners, mean, variance, inverse_std = _core.batch_norm_forward(
                rows,
                self.eps,
                self.weight if self.affine else None,
                self.bias if self.affine else None,
                threads,
                relu=True,
                plane=plane,
            )
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, variance * count / (count - 1))
            assert relu is not None and pool is not None  # (for mypy; pooled_here says so)
            relu._kept_forward(positive.reshape(values.shape), values.shape, pooled.dtype)
            pooled_shape = values.shape[:-2] + (plane[0] // 2, plane[1] // 2)
            out = pooled.reshape(pooled_shape)
            pool._keep(
                x_shape=values.shape,
                winners=winners.reshape(pooled_shape),
                out_shape=out.shape,
                dtype=out.dtype,
            )
            self._keep_forward(rows, mean, inverse_std, values.shape, out.dtype)
            return out, True
        if use_batch_statistics:
            if count < 2 and (self.training or count == 0):
                raise ValueError(
                    f"x must have more than 1 value per channel to compute batch statistics "
                    f"(as in PyTorch), got shape {values.shape}"
                )
            # the moments and the affine map below in one C call, a channel at a time
            # while it is in the core's cache (the same numbers as the NumPy lines below)
            out, *rest = _core.batch_norm_forward(
                rows,
                self.eps,
                self.weight if self.affine else None,
                self.bias if self.affine else None,
                threads,
                relu=relu is not None,
            )
            if relu is not None:
                positive = rest.pop(0)
            mean, variance, inverse_std = rest
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, variance * count / (count - 1))
        else:
            mean = self.running_mean.astype(np.float64)
            variance = self.running_var.astype(np.float64)
            inverse_std = 1.0 / np.sqrt(variance + self.eps)
            # out = (x - mean) * inverse_std * weight + bias, as one affine map per channel
            scale = inverse_std * self.weight if self.affine else inverse_std
            shift = -mean * scale
            if self.affine:
                shift += self.bias
            if relu is None:
                out = _core.channel_affine(rows, scale, shift, threads)
            else:
                out, positive = _core.channel_affine(rows, scale, shift, threads, relu=True)
        out = out.reshape(values.shape)
        if relu is not None and positive is not None:
            relu._kept_forward(positive.reshape(values.shape), out.shape, out.dtype)
        self._keep_forward(rows, mean, inverse_std, out.shape, out.dtype)
        return out, False

    def _keep_forward(self, rows, mean, inverse_std, out_shape, dtype) -> None:
        if self.training:
            self._keep(
                rows=rows,
                mean=mean,
                inverse_std=inverse_std,
                out_shape=out_shape,
                dtype=dtype,
            )
        else:
            self._cache = None

    def _update_running_stats(self, mean: np.ndarray, unbiased_variance: np.ndarray) -> None:
        self.num_batches_tracked += 1
        if self.momentum is None:  # PyTorch: a cumulative average over the batches seen
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        # In place, so that arrays handed out (state_dict targets, user references) stay live.
        self.running_mean[...] = (1 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1 - factor) * self.running_var + factor * unbiased_variance

    def _backward(
        self,
        cache: dict,
        grad: np.ndarray,
        positive: np.ndarray | None = None,
        sums: bool = False,
        winners: np.ndarray | None = None,
    ):
        # d x = weight / std * (g - mean(g) - x_hat * mean(g * x_hat)), means per channel;
        # `positive`: the mask of a ReLU after this layer, whose backward is folded in (grad
        # is then the ReLU's grad_out); `winners`: those of a 2x2 max pool after the ReLU,
        # whose backward is folded in too (grad is then the pool's grad_out); `sums`: also
        # return d x summed per channel, the bias gradient of the convolution before
        rows = cache["rows"]
        keywords: dict[str, Any] = {"positive": positive, "sums": sums}
        pooled_rows = rows.shape
        if winners is not None:
            pooled_rows = rows.shape[:2] + (-1,)
            keywords["pool_index"] = np.ascontiguousarray(winners).reshape(pooled_rows)
            keywords["plane"] = cache["out_shape"][-2:]
        grad_x, grad_weight, grad_bias, *grad_x_sums = _core.batch_norm_backward(
            np.ascontiguousarray(grad).reshape(pooled_rows),
            rows,
            cache["mean"],
            cache["inverse_std"],
            self.weight if self.affine else None,
            _config.get_num_threads(),
            **keywords,
        )
        if self.affine:
            self._parameters["weight"].grad += grad_weight
            self._parameters["bias"].grad += grad_bias
        grad_x = grad_x.reshape(cache["out_shape"])
        if sums:
            return grad_x, grad_x_sums[0]
        return grad_x

    def __repr__(self) -> str:
        text = f"{type(self).__name__}({self.num_features}, eps={self.eps:g}"
        text += f", momentum={self.momentum:g}" if self.momentum is not None else ", momentum=None"
        if not self.affine:
            text += ", affine=False"
        if not self.track_running_stats:
            text += ", track_running_stats=False"
        return text + ")"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of planar feature maps (N, C, H, W), as PyTorch's ``BatchNorm2d``.

    Parameters
    ----------
    num_features : int
        Channels ``C``.
    eps : float, optional
        Added to the variance before the square root.
    momentum : float in [0, 1] or None, optional
        ``running = (1 - momentum) * running + momentum * batch_statistic``; None makes it a
        cumulative average over the batches seen (as in PyTorch).
    affine : bool, optional
        Whether the layer has a per-channel scale (``weight``, ones) and shift (``bias``,
        zeros).
    track_running_stats : bool, optional
        Whether to keep running statistics for eval mode; without them eval mode normalises
        with the batch statistics too.
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the parameters and running statistics.

    Attributes
    ----------
    weight, bias : numpy.ndarray, shape (num_features,), or None
        None when ``affine=False``.
    running_mean, running_var : numpy.ndarray, shape (num_features,), or None
        Zeros and ones at first; None when ``track_running_stats=False``.
    num_batches_tracked : numpy.ndarray, 0-d int64, or None
        Training-mode forwards seen.

    Notes
    -----
    Training mode: ``out = (x - mean) / sqrt(var + eps) * weight + bias`` with the mean and the
    biased variance of each channel over the batch and space (axes 0, 2, 3); the running
    variance is updated with the unbiased one (times ``M / (M - 1)``, ``M = N * H * W``).  Eval
    mode uses the running statistics.  Per-channel statistics are invariant to turns and flips
    of every map in the batch, so the layer commutes with ``T_g`` in both modes.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> norm = nn.BatchNorm2d(3)
    >>> norm
    BatchNorm2d(3, eps=1e-05, momentum=0.1)
    >>> x = np.random.default_rng(0).normal(5.0, 2.0, (4, 3, 6, 6))
    >>> out = norm(x)
    >>> bool(np.allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-6))
    True
    >>> int(norm.num_batches_tracked), list(norm.state_dict())
    (1, ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'])
    """

    _ndim = 4
    _layout = "(N, C, H, W)"


class GroupBatchNorm(_BatchNorm):
    """Batch normalisation of group feature maps (N, C, |G|, H, W), one statistic per channel.

    Parameters
    ----------
    num_features, eps, momentum, affine, track_running_stats, dtype
        As in :class:`BatchNorm2d`.

    Attributes
    ----------
    weight, bias, running_mean, running_var, num_batches_tracked
        As in :class:`BatchNorm2d`, one value per channel (not per channel and orientation).

    Notes
    -----
    ONE mean and variance per channel over the batch, the group axis and space together
    (axes 0, 2, 3, 4), and one scale and shift per channel (docs/design.md, §7.3 Batch
    normalisation).  ``L_g`` permutes the group axis and turns every plane, which leaves these
    statistics unchanged, so the layer commutes with ``L_g`` exactly (up to rounding) in
    training and eval mode; statistics per orientation would break that.  Numerically this is
    PyTorch's ``BatchNorm3d`` applied to (N, C, |G|, H, W).  The group axis may have any length
    (the layer does not need the group).

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> from gcnn.groups import p4
    >>> norm = nn.GroupBatchNorm(2)
    >>> F = np.random.default_rng(0).standard_normal((3, 2, 4, 5, 5))
    >>> bool(np.allclose(norm(p4.transform_features(F, 1)), p4.transform_features(norm(F), 1)))
    True
    >>> norm.running_mean.shape
    (2,)
    """

    _ndim = 5
    _layout = "(N, C, |G|, H, W)"


# --------------------------------------------------------------------------- containers


def _in_layer(exc: Exception, index: int, layer: Any) -> Exception | None:
    """`exc` again, its message prefixed by the layer index and type (None if impossible)."""
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        message = exc.args[0]
    else:
        message = str(exc)
    try:
        return type(exc)(f"layer {index} ({type(layer).__name__}): {message}")
    except TypeError:  # an exception type whose constructor wants other arguments
        return None


class Sequential(Layer):
    """Layers applied in order; iterable, indexable (a slice is a Sequential) and sized.

    Parameters
    ----------
    *layers : callable
        Usually gcnn layers; any callable ``f(x) -> array`` runs forward, but only gcnn layers
        have a backward, parameters and state, and :func:`gcnn.equivariance_conditions` only
        vouches for gcnn layers.

    Raises
    ------
    TypeError
        If a layer is not callable.

    Notes
    -----
    ``backward`` runs the layers' backward in reverse order.  A ``BatchNorm2d`` or
    ``GroupBatchNorm`` directly followed by a ``ReLU`` runs as one pass each way (the same numbers
    and caches as the two layers apart, one read and write of the feature map fewer).  An
    exception raised by a layer in forward or backward is raised again with the same type, its
    message prefixed by the layer index and type (``"layer 2 (GroupConv): ..."``), chained from
    the original.
    ``train()``/``eval()`` reach every layer.

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
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias']
    >>> net.eval().training, net[0].training
    (False, False)
    """

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        for index, layer in enumerate(layers):
            if not callable(layer):
                raise TypeError(f"layer {index} must be callable, got {type(layer).__name__}")
        self._layers: tuple = tuple(layers)

    def _named_children(self) -> Iterator[tuple[str, Layer]]:
        for index, layer in enumerate(self._layers):
            if isinstance(layer, Layer):
                yield str(index), layer

    def _fused_with_next(self, index: int) -> bool:
        """True when layer `index` is a batch norm and the next a ReLU: one pass does both
        (forward: normalise and clamp; backward: the ReLU's mask applied while the batch norm
        reads the gradient), which spares a read and a write of the feature map each way.
        The numbers, and what each layer keeps, are those of the two layers run apart."""
        layers = self._layers
        return (
            index + 1 < len(layers)
            and type(layers[index]) in (BatchNorm2d, GroupBatchNorm)
            and type(layers[index + 1]) is ReLU
        )

    def _pool_after(self, index: int) -> bool:
        """True when batch norm `index` and ReLU `index + 1` are fused and layer `index + 2` is
        a 2x2, stride-2 max pool without padding in training mode: the three run as one C
        call each way (the batch norm's output is pooled plane by plane as it is made, and
        the pool's gradient is spread back channel by channel in the batch norm's backward)."""
        layers = self._layers
        if index + 2 >= len(layers) or type(layers[index + 2]) is not SpatialPool:
            return False
        pool = layers[index + 2]
        return (
            pool.training
            and pool.reduce == "max"
            and pool.kernel_size == (2, 2)
            and pool.stride == (2, 2)
            and pool.padding == (0, 0)
        )

    def forward(self, x: ArrayLike) -> np.ndarray:
        index = 0
        while index < len(self._layers):
            layer = self._layers[index]
            fused = self._fused_with_next(index)
            pooled = fused and self._pool_after(index)
            try:
                if fused:
                    pool = self._layers[index + 2] if pooled else None
                    x, pooled = layer._normalize_and_pool(x, self._layers[index + 1], pool)
                else:
                    x = layer(x)
            except Exception as exc:
                wrapped = _in_layer(exc, index, layer)
                if wrapped is None:
                    raise
                raise wrapped from exc
            index += 3 if pooled else 2 if fused else 1
        return np.asarray(x)

    def _sums_for_convolution(self, index: int) -> bool:
        """True when layer `index` is a batch norm whose input was the output of a convolution
        with a bias just before it: the batch norm's backward then also sums its input gradient
        per channel, which is that bias's gradient, as it writes it (the convolution's
        backward would read the whole gradient again for it)."""
        if index < 1:
            return False
        conv, norm = self._layers[index - 1], self._layers[index]
        if not isinstance(conv, _Convolution) or conv.bias is None:
            return False
        conv_cache, norm_cache = vars(conv).get("_cache"), vars(norm).get("_cache")
        if not isinstance(conv_cache, dict) or not isinstance(norm_cache, dict):
            return False
        shape, rows = conv_cache["out_shape"], norm_cache["rows"].shape
        return (
            len(shape) >= 3
            and shape[:2] == rows[:2]
            and math.prod(shape[2:]) == rows[2]
            and conv_cache["dtype"] == norm_cache["dtype"]
        )

    def _checked_cache_of(self, index: int, grad: ArrayLike) -> tuple[dict, np.ndarray]:
        """Layer `index`'s kept forward and grad, after its backward's checks, whose errors
        name the layer as its own backward's would."""
        layer = self._layers[index]
        try:
            return layer._checked_cache(grad)
        except Exception as exc:
            wrapped = _in_layer(exc, index, layer)
            if wrapped is None:
                raise
            raise wrapped from exc

    def _backward_through_pool(self, index: int, grad: ArrayLike, sums: bool = False):
        """The backward of batch norm `index`, ReLU `index + 1` and 2x2 max pool `index + 2`
        in one call, when all three kept a forward that fits together (None otherwise: the
        caller runs them apart, with their own errors).  With `sums`, as
        _backward_through_relu."""
        norm, relu, pool = self._layers[index : index + 3]
        caches = [vars(layer).get("_cache") for layer in (norm, relu, pool)]
        if not all(isinstance(cache, dict) for cache in caches):
            return None
        norm_cache, relu_cache, _ = caches
        pool_cache, grad_array = self._checked_cache_of(index + 2, grad)
        shape = norm_cache["out_shape"]
        if (
            relu_cache["out_shape"] != shape
            or pool_cache["x_shape"] != shape
            or len(shape) < 3
            or min(shape[-2:]) < 2
            or not norm_cache["dtype"] == relu_cache["dtype"] == pool_cache["dtype"]
            or pool_cache["winners"].dtype != np.int32
        ):
            return None
        norm._cache = relu._cache = pool._cache = _CONSUMED
        return norm._backward(
            norm_cache, grad_array, relu_cache["positive"], sums, pool_cache["winners"]
        )

    def _backward_through_relu(self, index: int, grad: ArrayLike, sums: bool = False):
        """The backward of batch norm `index` and ReLU `index + 1` in one pass, when both kept
        their forward (None otherwise: the caller runs them apart, with their own errors).
        With `sums`, (input gradient, its sums per channel)."""
        norm, relu = self._layers[index], self._layers[index + 1]
        relu_cache = vars(relu).get("_cache")
        norm_cache = vars(norm).get("_cache")
        if not isinstance(relu_cache, dict) or not isinstance(norm_cache, dict):
            return None
        relu_cache, grad_array = self._checked_cache_of(index + 1, grad)
        if (
            norm_cache["out_shape"] != relu_cache["out_shape"]
            or norm_cache["dtype"] != relu_cache["dtype"]
        ):
            return None  # (the ReLU's forward was not the batch norm's output)
        relu._cache = norm._cache = _CONSUMED
        return norm._backward(norm_cache, grad_array, relu_cache["positive"], sums)

    def backward(self, grad_out: ArrayLike, *, input_grad: bool = True) -> np.ndarray | None:
        """Run every layer's backward, last layer first; see :meth:`Layer.backward`.

        ``input_grad=False`` goes to the first layer only (every other layer's input gradient
        is the gradient of the layer before): a training step that does not use the gradient
        with respect to the images passes it, and gets None.

        Raises
        ------
        TypeError
            If a layer is not a gcnn layer (it has no backward).
        RuntimeError, ValueError
            From a layer's backward, naming the layer.
        """
        input_grad = flag(input_grad, "input_grad")
        grad: ArrayLike = grad_out
        grad_sums = None  # the bias gradient of convolution `index`, from its batch norm
        index = len(self._layers) - 1
        while index >= 0:
            if index > 1 and self._fused_with_next(index - 2) and self._pool_after(index - 2):
                sums = self._sums_for_convolution(index - 2)
                fused = self._backward_through_pool(index - 2, grad, sums)
                if fused is not None:
                    grad, grad_sums = fused if sums else (fused, None)
                    index -= 3
                    continue
            if index > 0 and self._fused_with_next(index - 1):
                sums = self._sums_for_convolution(index - 1)
                fused = self._backward_through_relu(index - 1, grad, sums)
                if fused is not None:
                    grad, grad_sums = fused if sums else (fused, None)
                    index -= 2
                    continue
            layer = self._layers[index]
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layer {index} ({type(layer).__name__}): is not a gcnn layer and has no "
                    "backward"
                )
            try:
                if grad_sums is not None and isinstance(layer, _Convolution):
                    returned = layer._backward_with_sums(grad, grad_sums, input_grad or index > 0)
                    grad_sums = None
                else:
                    returned = layer.backward(grad, input_grad=input_grad or index > 0)
            except Exception as exc:
                wrapped = _in_layer(exc, index, layer)
                if wrapped is None:
                    raise
                raise wrapped from exc
            if returned is None:  # the first layer, told input_grad=False
                return None
            grad, index = returned, index - 1
        return None if not input_grad else np.asarray(grad)

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
            part = Sequential(*self._layers[index])
            part.training = self.training
            return part
        return self._layers[index]

    def __repr__(self) -> str:
        if not self._layers:
            return "Sequential()"
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self._layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


# --------------------------------------------------------------------------- loss


class CrossEntropyLoss:
    """Mean over the batch of ``-log softmax(logits)[label]``, as PyTorch's ``CrossEntropyLoss``.

    ``loss = loss_fn(logits, labels)`` returns a Python float; ``loss_fn.backward()`` returns
    d loss / d logits for that call.

    Notes
    -----
    ``loss = mean_n (logsumexp(logits[n]) - logits[n, labels[n]])``, computed in float64 with
    the log-sum-exp shift (each row minus its maximum), so large logits do not overflow.  The
    gradient is ``(softmax(logits) - onehot(labels)) / N`` in the logits' float dtype.  No class
    weights, ignored index or label smoothing.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import nn
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    >>> round(loss_fn(logits, np.array([0, 1])), 6)  # (log(1 + e^-2) + log 2) / 2
    0.410038
    >>> loss_fn.backward().round(4)
    array([[-0.0596,  0.0596],
           [ 0.25  , -0.25  ]])
    """

    def __init__(self) -> None:
        self._cache: Any = None

    def __call__(self, logits: ArrayLike, labels: ArrayLike) -> float:
        return self.forward(logits, labels)

    def forward(self, logits: ArrayLike, labels: ArrayLike) -> float:
        """The mean cross-entropy of `logits` (N, C) against integer `labels` (N,).

        Parameters
        ----------
        logits : array_like, shape (N, C)
            Unnormalised class scores.
        labels : array_like of an integer dtype, shape (N,)
            Class indices in ``[0, C)``.

        Returns
        -------
        float

        Raises
        ------
        TypeError
            If `logits` is not real, or `labels` does not have an integer dtype.
        ValueError
            For wrong shapes, an empty batch, labels outside ``[0, C)`` (the first offending
            value and its index are named), or a loss that is not finite (NaN or infinite
            logits; their counts are named).
        """
        self._cache = None
        scores = as_real_array(logits, "logits")
        if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
            raise ValueError(
                f"logits must have shape (N, C) with N >= 1 and C >= 1, got {scores.shape}"
            )
        count, classes = scores.shape
        targets = np.asarray(labels)
        if targets.dtype.kind not in "iu":
            raise TypeError(
                f"labels must have an integer dtype (class indices), got dtype {targets.dtype}"
            )
        if targets.shape != (count,):
            raise ValueError(
                f"labels must have shape ({count},) for logits of shape {scores.shape}, "
                f"got {targets.shape}"
            )
        outside = (targets < 0) | (targets >= classes)
        if outside.any():
            where = np.flatnonzero(outside)
            raise ValueError(
                f"labels must be in [0, {classes}) for logits with {classes} classes, got "
                f"{targets[where[0]]} at index {where[0]} ({where.size} label(s) out of range)"
            )
        dtype = compute_dtype(scores)
        values = scores.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            shifted = values - values.max(axis=1, keepdims=True)
            log_sum = np.log(np.exp(shifted).sum(axis=1))
            rows = np.arange(count)
            loss = float(np.mean(log_sum - shifted[rows, targets]))
        if not math.isfinite(loss):
            nan_count = int(np.isnan(values).sum())
            inf_count = int(np.isinf(values).sum())
            if nan_count or inf_count:
                why = f"the logits contain {nan_count} NaN and {inf_count} infinite value(s)"
            else:
                why = "the logits are finite but their spread overflows float64"
            raise ValueError(f"the loss is not finite ({loss}): {why}")
        self._cache = {
            "softmax": np.exp(shifted - log_sum[:, None]),
            "labels": targets,
            "dtype": dtype,
        }
        return loss

    def backward(self) -> np.ndarray:
        """d loss / d logits of the last call, ``(softmax - onehot) / N``, shape (N, C).

        Raises
        ------
        RuntimeError
            If the loss was not computed yet, or backward already ran for that call.
        """
        if self._cache is None:
            raise RuntimeError(
                "CrossEntropyLoss.backward called before the loss was computed: call "
                "loss_fn(logits, labels) first"
            )
        if self._cache is _CONSUMED:
            raise RuntimeError(
                "CrossEntropyLoss.backward called twice for one loss: compute the loss again"
            )
        cache, self._cache = self._cache, _CONSUMED
        grad = cache["softmax"]
        count = grad.shape[0]
        grad[np.arange(count), cache["labels"]] -= 1.0
        grad /= count
        return grad.astype(cache["dtype"])

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"
