"""gcnn.nn models to torch modules and back (docs/design.md, §10.2 Conversion)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from gcnn import nn
from gcnn.torch import _modules as tm

__all__ = ["from_numpy", "to_numpy"]

_SUPPORTED = (
    "LiftingConv, GroupConv, Conv2d, GroupBatchNorm, BatchNorm2d, GroupPool, SpatialPool, "
    "ReLU, Linear, Flatten and Sequential"
)


def _in_layer(index: int, layer: Any, error: TypeError) -> TypeError:
    return TypeError(f"layer {index} ({type(layer).__name__}): {error}")


# --------------------------------------------------------------------------- gcnn -> torch


def _group_convolution(cls) -> Callable:
    def convert(layer, use_gcnn_kernels: bool) -> torch.nn.Module:
        return cls(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            group=layer.group,
            stride=layer.stride,
            padding=layer.padding,
            bias=layer.bias is not None,
            dtype=layer.weight.dtype,
            rng=0,
            use_gcnn_kernels=use_gcnn_kernels,
        )

    return convert


def _conv2d(layer: nn.Conv2d, use_gcnn_kernels: bool) -> torch.nn.Module:
    return tm.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        bias=layer.bias is not None,
        dtype=layer.weight.dtype,
        rng=0,
        use_gcnn_kernels=use_gcnn_kernels,
    )


def _batch_norm(cls) -> Callable:
    def convert(layer, use_gcnn_kernels: bool) -> torch.nn.Module:
        return cls(
            layer.num_features,
            eps=layer.eps,
            momentum=layer.momentum,
            affine=layer.affine,
            track_running_stats=layer.track_running_stats,
            dtype=layer.dtype,
        )

    return convert


def _linear(layer: nn.Linear, use_gcnn_kernels: bool) -> torch.nn.Module:
    return tm.Linear(
        layer.in_features,
        layer.out_features,
        bias=layer.bias is not None,
        dtype=layer.weight.dtype,
        rng=0,
    )


def _sequential(model: nn.Sequential, use_gcnn_kernels: bool) -> torch.nn.Module:
    modules = []
    for index, layer in enumerate(model):
        try:
            modules.append(from_numpy(layer, use_gcnn_kernels=use_gcnn_kernels))
        except TypeError as error:
            raise _in_layer(index, layer, error) from None
    return torch.nn.Sequential(*modules)


_FROM_NUMPY: dict[type, Callable] = {
    nn.LiftingConv: _group_convolution(tm.LiftingConv),
    nn.GroupConv: _group_convolution(tm.GroupConv),
    nn.Conv2d: _conv2d,
    nn.GroupBatchNorm: _batch_norm(tm.GroupBatchNorm),
    nn.BatchNorm2d: _batch_norm(tm.BatchNorm2d),
    nn.GroupPool: lambda layer, _: tm.GroupPool(layer.reduce),
    nn.SpatialPool: lambda layer, _: tm.SpatialPool(
        layer.kernel_size, layer.stride, layer.padding, layer.reduce
    ),
    nn.ReLU: lambda layer, _: torch.nn.ReLU(),
    nn.Flatten: lambda layer, _: torch.nn.Flatten(),
    nn.Linear: _linear,
    nn.Sequential: _sequential,
}


def from_numpy(model: nn.Layer, *, use_gcnn_kernels: bool = False) -> torch.nn.Module:
    """The torch module computing what a :mod:`gcnn.nn` layer or model computes.

    Parameters
    ----------
    model : gcnn.nn.Layer
        A layer of :mod:`gcnn.nn` (LiftingConv, GroupConv, Conv2d, GroupBatchNorm, BatchNorm2d,
        GroupPool, SpatialPool, ReLU, Linear, Flatten) or a ``gcnn.nn.Sequential`` of them,
        such as the models of :mod:`gcnn.models`.
    use_gcnn_kernels : bool, optional
        Build the convolutions with the C path on (see :class:`gcnn.torch.LiftingConv`).

    Returns
    -------
    torch.nn.Module
        gcnn.torch modules (a ``torch.nn.Sequential`` for a Sequential; ``torch.nn.ReLU`` and
        ``torch.nn.Flatten`` for those layers) on the CPU, with COPIES of the parameters and
        buffers in their dtype, the same ``state_dict`` names and order, and the same training
        or eval mode.  Same outputs and gradients as the gcnn model, to rounding.

    Raises
    ------
    TypeError
        For a layer of another type (subclasses included: their forward may differ), or a
        Sequential holding one; the message names the layer's index.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> import gcnn.torch
    >>> from gcnn import models
    >>> net = models.p4cnn(padding=1, rng=0).eval()
    >>> module = gcnn.torch.from_numpy(net)
    >>> x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    >>> bool(np.allclose(module(torch.from_numpy(x)).detach().numpy(), net(x), atol=1e-5))
    True
    >>> list(module.state_dict()) == list(net.state_dict())
    True
    """
    convert = _FROM_NUMPY.get(type(model))
    if convert is None:
        raise TypeError(
            f"gcnn.torch.from_numpy converts gcnn.nn's {_SUPPORTED}; got "
            f"{type(model).__module__}.{type(model).__qualname__}"
        )
    module = convert(model, use_gcnn_kernels)
    if isinstance(model, nn.Layer) and not isinstance(model, nn.Sequential):
        tm.copy_state(module, model)
    module.train(model.training)
    return module


# --------------------------------------------------------------------------- torch -> gcnn


def _numpy_dtype(module: torch.nn.Module) -> type:
    """float32 or float64: the dtype of the module's floating parameters and buffers."""
    dtypes = {t.dtype for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()}
    if not dtypes:
        return np.float32
    if len(dtypes) > 1 or next(iter(dtypes)) not in (torch.float32, torch.float64):
        names = ", ".join(sorted(str(d) for d in dtypes))
        raise TypeError(
            f"gcnn layers hold float32 or float64 parameters; {type(module).__name__} has "
            f"{names} (convert it with .float() or .double() first)"
        )
    return np.float64 if torch.float64 in dtypes else np.float32


def _to_group_convolution(cls) -> Callable:
    def convert(module) -> nn.Layer:
        return cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            group=module.group,
            stride=module.stride,
            padding=module.padding,
            bias=module.bias is not None,
            dtype=_numpy_dtype(module),
            rng=0,
        )

    return convert


def _to_conv2d(module: torch.nn.Conv2d) -> nn.Layer:
    if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
        raise TypeError(
            "gcnn.nn.Conv2d has no groups, dilation or padding modes: this Conv2d has groups="
            f"{module.groups}, dilation={module.dilation}, padding_mode={module.padding_mode!r}"
        )
    kernel_h, kernel_w = module.kernel_size
    stride_h, stride_w = module.stride
    padding = module.padding
    return nn.Conv2d(
        module.in_channels,
        module.out_channels,
        (kernel_h, kernel_w),
        stride=(stride_h, stride_w),
        padding=padding if isinstance(padding, str) else (padding[0], padding[1]),
        bias=module.bias is not None,
        dtype=_numpy_dtype(module),
        rng=0,
    )


def _to_batch_norm(cls) -> Callable:
    def convert(module) -> nn.Layer:
        return cls(
            module.num_features,
            eps=module.eps,
            momentum=module.momentum,
            affine=module.affine,
            track_running_stats=module.track_running_stats,
            dtype=_numpy_dtype(module),
        )

    return convert


def _to_flatten(module: torch.nn.Flatten) -> nn.Layer:
    if module.start_dim != 1 or module.end_dim != -1:
        raise TypeError(
            "gcnn.nn.Flatten flattens every axis but the first (start_dim=1, end_dim=-1), got "
            f"start_dim={module.start_dim}, end_dim={module.end_dim}"
        )
    return nn.Flatten()


def _to_linear(module: torch.nn.Linear) -> nn.Layer:
    return nn.Linear(
        module.in_features,
        module.out_features,
        bias=module.bias is not None,
        dtype=_numpy_dtype(module),
        rng=0,
    )


def _to_sequential(module: torch.nn.Sequential) -> nn.Layer:
    layers = []
    for index, child in enumerate(module):
        try:
            layers.append(to_numpy(child))
        except TypeError as error:
            raise _in_layer(index, child, error) from None
    return nn.Sequential(*layers)


_TO_NUMPY: dict[type, Callable] = {
    tm.LiftingConv: _to_group_convolution(nn.LiftingConv),
    tm.GroupConv: _to_group_convolution(nn.GroupConv),
    tm.Conv2d: _to_conv2d,
    torch.nn.Conv2d: _to_conv2d,
    tm.GroupBatchNorm: _to_batch_norm(nn.GroupBatchNorm),
    torch.nn.BatchNorm3d: _to_batch_norm(nn.GroupBatchNorm),
    tm.BatchNorm2d: _to_batch_norm(nn.BatchNorm2d),
    torch.nn.BatchNorm2d: _to_batch_norm(nn.BatchNorm2d),
    tm.GroupPool: lambda module: nn.GroupPool(module.reduce),
    tm.SpatialPool: lambda module: nn.SpatialPool(
        module.kernel_size, module.stride, module.padding, module.reduce
    ),
    torch.nn.ReLU: lambda module: nn.ReLU(),
    torch.nn.Flatten: _to_flatten,
    tm.Linear: _to_linear,
    torch.nn.Linear: _to_linear,
    torch.nn.Sequential: _to_sequential,
}


def to_numpy(module: torch.nn.Module) -> nn.Layer:
    """The :mod:`gcnn.nn` layer or model computing what a torch module computes.

    Parameters
    ----------
    module : torch.nn.Module
        A gcnn.torch module, or one of ``torch.nn``'s Conv2d (no groups, dilation or padding
        mode), BatchNorm2d, BatchNorm3d (as GroupBatchNorm, which computes the same), ReLU,
        Linear, Flatten (the default axes) and Sequential of them, on any device, float32 or
        float64.  A DistributedDataParallel wrapper is unwrapped.

    Returns
    -------
    gcnn.nn.Layer
        With copies of the parameters and buffers (running statistics and
        ``num_batches_tracked`` included), the same ``state_dict`` names and the module's
        training or eval mode.

    Raises
    ------
    TypeError
        For other module types, options gcnn's layers do not have, or dtypes other than float32
        and float64; the message names the layer's index in a Sequential.

    Examples
    --------
    >>> import gcnn.torch
    >>> from gcnn import models
    >>> net = models.z2cnn(channels=4, rng=0)
    >>> back = gcnn.torch.to_numpy(gcnn.torch.from_numpy(net))
    >>> all((back.state_dict()[k] == v).all() for k, v in net.state_dict().items())
    True
    """
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        module = module.module
    convert = _TO_NUMPY.get(type(module))
    if convert is None:
        raise TypeError(
            f"gcnn.torch.to_numpy converts gcnn.torch's {_SUPPORTED} and their torch.nn "
            f"namesakes; got {type(module).__module__}.{type(module).__qualname__}"
        )
    layer = convert(module)
    if not isinstance(layer, nn.Sequential):
        state = {
            name: tensor.detach().cpu().numpy() for name, tensor in module.state_dict().items()
        }
        layer.load_state_dict(state)
    layer.train(module.training)
    return layer
