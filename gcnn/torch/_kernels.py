"""gcnn's C kernels inside autograd: one ``torch.autograd.Function`` per convolution kind.

The forward calls :func:`gcnn.lift`, :func:`gcnn.group_conv` or :func:`gcnn.conv2d`; the backward
calls :func:`gcnn.lift_backward`, :func:`gcnn.group_conv_backward` or
:func:`gcnn.conv2d_backward` (docs/design.md, §6.1 The backward functions).  Tensors reach the C
core as NumPy views (``tensor.detach().numpy()``), so contiguous CPU tensors are not copied, and
the results come back as tensors sharing the arrays' memory.  Only float32 and float64 CPU
tensors of one dtype qualify (docs/design.md, §10.3 The C path); anything else is a TypeError
that says to turn the C path off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from gcnn import _layers

__all__ = ["Conv2dFunction", "GroupConvFunction", "LiftFunction", "conv2d", "group_conv", "lift"]

_DTYPES = (torch.float32, torch.float64)


def check_operands(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """TypeError unless x, weight and bias are float32/float64 CPU tensors of one dtype."""
    for name, tensor in (("x", x), ("weight", weight), ("bias", bias)):
        if tensor is None:
            continue
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.device.type != "cpu":
            raise TypeError(
                f"use_gcnn_kernels=True runs gcnn's C kernels, which take CPU tensors; {name} is "
                f"on {tensor.device} (set use_gcnn_kernels=False to compute with PyTorch there)"
            )
        if tensor.dtype not in _DTYPES:
            raise TypeError(
                f"use_gcnn_kernels=True runs gcnn's C kernels, which take float32 or float64; "
                f"{name} is {tensor.dtype} (set use_gcnn_kernels=False for other dtypes)"
            )
    dtypes = {tensor.dtype for tensor in (x, weight, bias) if tensor is not None}
    if len(dtypes) > 1:
        raise TypeError(
            f"x, weight and bias must have one dtype (as in torch.nn.functional.conv2d), got x "
            f"{x.dtype}, weight {weight.dtype}" + ("" if bias is None else f", bias {bias.dtype}")
        )


def _view(tensor: torch.Tensor | None) -> np.ndarray | None:
    """The tensor's memory as an ndarray: no copy (lazy negation or conjugation resolved)."""
    if tensor is None:
        return None
    return tensor.detach().resolve_conj().resolve_neg().numpy()


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


def _forward(ctx, function, x, weight, bias, keywords: dict[str, Any]) -> torch.Tensor:
    check_operands(x, weight, bias)
    out = function(_view(x), _view(weight), _view(bias), **keywords)
    ctx.save_for_backward(x, weight)
    ctx.keywords = keywords
    ctx.has_bias = bias is not None
    return _tensor(out)


def _backward(ctx, function, grad_out: torch.Tensor) -> tuple:
    x, weight = ctx.saved_tensors
    wanted = ctx.needs_input_grad
    grad_x, grad_weight, grad_bias = function(
        _view(grad_out.to(x.dtype)),
        _view(x),
        _view(weight),
        input_grad=bool(wanted[0]),
        **ctx.keywords,
    )
    return (
        _tensor(grad_x) if wanted[0] else None,
        _tensor(grad_weight) if wanted[1] else None,
        _tensor(grad_bias) if ctx.has_bias and wanted[2] else None,
    )


class LiftFunction(torch.autograd.Function):
    """``gcnn.lift`` forward and ``gcnn.lift_backward`` backward, for CPU tensors.

    ``LiftFunction.apply(x, weight, bias, group, stride, padding)``; `bias` may be None.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, group, stride, padding):
        keywords = {"group": group, "stride": stride, "padding": padding}
        return _forward(ctx, _layers.lift, x, weight, bias, keywords)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        return _backward(ctx, _layers.lift_backward, grad_out) + (None, None, None)


class GroupConvFunction(torch.autograd.Function):
    """``gcnn.group_conv`` forward and ``gcnn.group_conv_backward`` backward, for CPU tensors.

    ``GroupConvFunction.apply(x, weight, bias, group, stride, padding)``; `bias` may be None.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, group, stride, padding):
        keywords = {"group": group, "stride": stride, "padding": padding}
        return _forward(ctx, _layers.group_conv, x, weight, bias, keywords)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        return _backward(ctx, _layers.group_conv_backward, grad_out) + (None, None, None)


class Conv2dFunction(torch.autograd.Function):
    """``gcnn.conv2d`` forward and ``gcnn.conv2d_backward`` backward, for CPU tensors.

    ``Conv2dFunction.apply(x, weight, bias, stride, padding)``; `bias` may be None.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        keywords = {"stride": stride, "padding": padding}
        return _forward(ctx, _layers.conv2d, x, weight, bias, keywords)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        return _backward(ctx, _layers.conv2d_backward, grad_out) + (None, None)


def lift(x, weight, bias=None, *, group="p4", stride=1, padding=0) -> torch.Tensor:
    """:func:`gcnn.lift` on CPU tensors, differentiable through :func:`gcnn.lift_backward`."""
    return LiftFunction.apply(x, weight, bias, group, stride, padding)


def group_conv(x, weight, bias=None, *, group="p4", stride=1, padding=0) -> torch.Tensor:
    """:func:`gcnn.group_conv` on CPU tensors, differentiable through its backward."""
    return GroupConvFunction.apply(x, weight, bias, group, stride, padding)


def conv2d(x, weight, bias=None, *, stride=1, padding=0) -> torch.Tensor:
    """:func:`gcnn.conv2d` on CPU tensors, differentiable through :func:`gcnn.conv2d_backward`."""
    return Conv2dFunction.apply(x, weight, bias, stride, padding)
