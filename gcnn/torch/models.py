"""Cohen & Welling's rotated-MNIST networks (:mod:`gcnn.models`) as torch modules.

Each function takes the arguments of its :mod:`gcnn.models` namesake, builds that model (the
architecture is defined once, there) and converts it with :func:`gcnn.torch.from_numpy`, so the
modules, parameter names and shapes are the gcnn model's (docs/design.md, §8.1 Cohen & Welling's
networks).

Examples
--------
>>> import torch
>>> import gcnn.torch
>>> net = gcnn.torch.models.p4cnn(rng=0).eval()
>>> x = torch.rand(2, 1, 28, 28)
>>> logits = net(x)
>>> logits.shape
torch.Size([2, 10])
>>> bool(torch.allclose(net(torch.rot90(x, 1, dims=(-2, -1))), logits, atol=1e-5))
True
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from gcnn import models
from gcnn.torch._convert import from_numpy
from gcnn.torch._modules import _template_dtype, resolve_dtype

__all__ = ["c8cnn", "c16cnn", "d8cnn", "p4cnn", "p4mcnn", "z2cnn"]


def _build(
    factory: Callable,
    channels: int,
    in_channels: int,
    num_classes: int,
    padding: int,
    dtype: Any,
    rng: Any,
    device: Any,
    use_gcnn_kernels: bool,
) -> torch.nn.Sequential:
    torch_dtype = resolve_dtype(dtype)
    template = factory(
        channels,
        in_channels=in_channels,
        num_classes=num_classes,
        padding=padding,
        dtype=_template_dtype(torch_dtype),
        rng=0 if rng is None else rng,
    )
    module = from_numpy(template, use_gcnn_kernels=use_gcnn_kernels)
    if not isinstance(module, torch.nn.Sequential):  # gcnn.models builds nn.Sequential
        raise TypeError(f"{factory.__name__} built {type(module).__name__}, not a Sequential")
    if rng is None:  # torch's default generator, as torch.nn modules draw from it
        for child in module.modules():
            reset_parameters = getattr(child, "reset_parameters", None)
            if child is not module and callable(reset_parameters):
                reset_parameters()
    return module.to(device=device, dtype=torch_dtype)


def z2cnn(
    channels: int = 20,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: Any = None,
    rng: Any = None,
    device: Any = None,
    use_gcnn_kernels: bool = False,
) -> torch.nn.Sequential:
    """:func:`gcnn.models.z2cnn` as a ``torch.nn.Sequential`` of gcnn.torch modules.

    Parameters
    ----------
    channels, in_channels, num_classes, padding
        As in :func:`gcnn.models.z2cnn`.
    dtype : torch or NumPy floating dtype, optional
        None is torch's default dtype.
    rng : None, int or numpy.random.Generator, optional
        None draws the weights from torch's default generator; a seed or Generator gives
        exactly the weights of the gcnn model built with it.
    device : torch.device or str, optional
    use_gcnn_kernels : bool, optional
        The C path for the convolutions (see :class:`gcnn.torch.LiftingConv`).

    Examples
    --------
    >>> import gcnn.torch
    >>> sum(p.numel() for p in gcnn.torch.models.z2cnn(rng=0).parameters())
    21750
    """
    return _build(
        models.z2cnn,
        channels,
        in_channels,
        num_classes,
        padding,
        dtype,
        rng,
        device,
        use_gcnn_kernels,
    )


def p4cnn(
    channels: int = 10,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: Any = None,
    rng: Any = None,
    device: Any = None,
    use_gcnn_kernels: bool = False,
) -> torch.nn.Sequential:
    """:func:`gcnn.models.p4cnn` as a ``torch.nn.Sequential`` of gcnn.torch modules.

    Parameters
    ----------
    channels, in_channels, num_classes, padding, dtype, rng, device, use_gcnn_kernels
        As in :func:`z2cnn`.

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn.torch
    >>> from gcnn import models
    >>> ours, theirs = gcnn.torch.models.p4cnn(rng=0), models.p4cnn(rng=0)
    >>> all(np.array_equal(a.detach().numpy(), b.data)
    ...     for a, b in zip(ours.parameters(), theirs.parameters()))
    True
    """
    return _build(
        models.p4cnn,
        channels,
        in_channels,
        num_classes,
        padding,
        dtype,
        rng,
        device,
        use_gcnn_kernels,
    )


def p4mcnn(
    channels: int = 7,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: Any = None,
    rng: Any = None,
    device: Any = None,
    use_gcnn_kernels: bool = False,
) -> torch.nn.Sequential:
    """:func:`gcnn.models.p4mcnn` as a ``torch.nn.Sequential`` of gcnn.torch modules.

    Parameters
    ----------
    channels, in_channels, num_classes, padding, dtype, rng, device, use_gcnn_kernels
        As in :func:`z2cnn`.

    Examples
    --------
    >>> import gcnn.torch
    >>> sum(p.numel() for p in gcnn.torch.models.p4mcnn(rng=0).parameters())
    26799
    """
    return _build(
        models.p4mcnn,
        channels,
        in_channels,
        num_classes,
        padding,
        dtype,
        rng,
        device,
        use_gcnn_kernels,
    )


def c8cnn(
    channels: int = 11,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: Any = None,
    rng: Any = None,
    device: Any = None,
    use_gcnn_kernels: bool = False,
) -> torch.nn.Sequential:
    """:func:`gcnn.models.c8cnn` as a ``torch.nn.Sequential`` of gcnn.torch modules.

    The group convolutions hold steerable coefficients, as their gcnn namesakes do
    (docs/design.md, §3.7 Steerable filters).

    Parameters
    ----------
    channels, in_channels, num_classes, padding, dtype, rng, device, use_gcnn_kernels
        As in :func:`z2cnn`.

    Examples
    --------
    >>> import gcnn.torch
    >>> sum(p.numel() for p in gcnn.torch.models.c8cnn(rng=0).parameters())
    23132
    """
    return _build(
        models.c8cnn,
        channels,
        in_channels,
        num_classes,
        padding,
        dtype,
        rng,
        device,
        use_gcnn_kernels,
    )


def c16cnn(
    channels: int = 8,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: Any = None,
    rng: Any = None,
    device: Any = None,
    use_gcnn_kernels: bool = False,
) -> torch.nn.Sequential:
    """:func:`gcnn.models.c16cnn` as a ``torch.nn.Sequential`` of gcnn.torch modules.

    The group convolutions hold steerable coefficients, as their gcnn namesakes do
    (docs/design.md, §3.7 Steerable filters).

    Parameters
    ----------
    channels, in_channels, num_classes, padding, dtype, rng, device, use_gcnn_kernels
        As in :func:`z2cnn`.

    Examples
    --------
    >>> import gcnn.torch
    >>> sum(p.numel() for p in gcnn.torch.models.c16cnn(rng=0).parameters())
    25786
    """
    return _build(
        models.c16cnn,
        channels,
        in_channels,
        num_classes,
        padding,
        dtype,
        rng,
        device,
        use_gcnn_kernels,
    )


def d8cnn(
    channels: int = 8,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: Any = None,
    rng: Any = None,
    device: Any = None,
    use_gcnn_kernels: bool = False,
) -> torch.nn.Sequential:
    """:func:`gcnn.models.d8cnn` as a ``torch.nn.Sequential`` of gcnn.torch modules.

    The group convolutions hold steerable coefficients, as their gcnn namesakes do
    (docs/design.md, §3.7 Steerable filters).

    Parameters
    ----------
    channels, in_channels, num_classes, padding, dtype, rng, device, use_gcnn_kernels
        As in :func:`z2cnn`.

    Examples
    --------
    >>> import gcnn.torch
    >>> sum(p.numel() for p in gcnn.torch.models.d8cnn(rng=0).parameters())
    25786
    """
    return _build(
        models.d8cnn,
        channels,
        in_channels,
        num_classes,
        padding,
        dtype,
        rng,
        device,
        use_gcnn_kernels,
    )
