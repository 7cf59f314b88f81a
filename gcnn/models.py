"""The rotated-MNIST networks of Cohen & Welling (ICML 2016) as :class:`gcnn.nn.Sequential` models.

Cohen & Welling compare a planar CNN with its group-equivariant twin on rotated digits: seven
layers of 3x3 convolutions (the last one 4x4), batch normalisation and ReLU after every layer but
the last, and 2x2 max pooling after layer 2.  The Z2CNN has 20 channels per layer; the P4CNN
replaces each convolution by a p4 convolution and divides the channels by sqrt(4) = 2, so that
both have about the same number of parameters, and max-pools over the rotations at the end.  The
p4m variant divides by sqrt(8) (7 channels).  (Their networks also use dropout, which gcnn leaves
out.)

On 28x28 inputs with ``padding=0`` the maps shrink 28 -> 26 -> 24 -> 12 (pool) -> 10 -> 8 -> 6 ->
4 -> 1, as in the paper.  ``padding=1`` keeps the 3x3 layers' size instead, which suits small
inputs such as scikit-learn's 8x8 digits (8 -> 8 -> 8 -> 4 -> ... -> 4 -> 1).  A global max pool
before the logits makes the output one vector per image for any input size, and keeps the group
networks exactly invariant: quarter turns (and, for p4m, mirrors) of a square input whose sizes
divide evenly give the same logits up to rounding (:func:`gcnn.equivariance_conditions` tells).

Examples
--------
>>> import numpy as np
>>> from gcnn import models
>>> net = models.p4cnn(rng=0)
>>> x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
>>> logits = net.eval()(x)
>>> logits.shape
(2, 10)
>>> turned = net(np.rot90(x, 1, axes=(-2, -1)))
>>> bool(np.allclose(turned, logits, atol=1e-5))
True
"""

from __future__ import annotations

from typing import Union

import numpy as np
from numpy.typing import DTypeLike

from . import nn
from ._validate import positive_int

__all__ = ["c8cnn", "c16cnn", "d8cnn", "p4cnn", "p4mcnn", "z2cnn"]

RngLike = Union[None, int, np.random.Generator]

#: Layers of 3x3 convolutions before the final 4x4 one, and the layer after which a 2x2 max pool
#: halves the maps (Cohen & Welling's rotated-MNIST architecture).
HIDDEN_LAYERS = 6
POOL_AFTER = 2


def _padding(padding) -> int:
    if padding not in (0, 1) or isinstance(padding, bool):
        raise ValueError(
            f"padding must be 0 (the paper's 28x28 network) or 1 (3x3 layers keep the size), "
            f"got {padding!r}"
        )
    return int(padding)


def _generator(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")


def _build(group, channels, in_channels, num_classes, padding, dtype, rng) -> nn.Sequential:
    channels = positive_int(channels, "channels")
    in_channels = positive_int(in_channels, "in_channels")
    num_classes = positive_int(num_classes, "num_classes")
    padding = _padding(padding)
    generator = _generator(rng)
    layers: list = []
    width = in_channels
    for index in range(HIDDEN_LAYERS):
        conv: nn.Layer
        norm: nn.Layer
        if group is None:
            conv = nn.Conv2d(width, channels, 3, padding=padding, dtype=dtype, rng=generator)
            norm = nn.BatchNorm2d(channels, dtype=dtype)
        elif index == 0:
            conv = nn.LiftingConv(
                width, channels, 3, group=group, padding=padding, dtype=dtype, rng=generator
            )
            norm = nn.GroupBatchNorm(channels, dtype=dtype)
        else:
            conv = nn.GroupConv(
                width, channels, 3, group=group, padding=padding, dtype=dtype, rng=generator
            )
            norm = nn.GroupBatchNorm(channels, dtype=dtype)
        layers += [conv, norm, nn.ReLU()]
        if index + 1 == POOL_AFTER:
            layers.append(nn.SpatialPool(2))
        width = channels
    if group is None:
        layers.append(nn.Conv2d(width, num_classes, 4, dtype=dtype, rng=generator))
    else:
        layers.append(nn.GroupConv(width, num_classes, 4, group=group, dtype=dtype, rng=generator))
        layers.append(nn.GroupPool("max"))
    layers += [nn.SpatialPool(None), nn.Flatten()]
    return nn.Sequential(*layers)


def z2cnn(
    channels: int = 20,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: DTypeLike = np.float32,
    rng: RngLike = None,
) -> nn.Sequential:
    """Cohen & Welling's planar baseline: 7 convolutions, batch norm, ReLU, one max pool.

    Parameters
    ----------
    channels : int, optional
        Channels of every hidden layer (20 in the paper).
    in_channels : int, optional
        Channels of the input images.
    num_classes : int, optional
        Outputs of the last layer (the logits).
    padding : {0, 1}, optional
        0: the paper's valid 3x3 convolutions (28x28 inputs end at 1x1); 1: the 3x3 layers keep
        the map size (for small inputs such as 8x8 digits).
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the parameters.
    rng : int, numpy.random.Generator or None, optional
        Source of the initial weights; an int is a seed.

    Returns
    -------
    gcnn.nn.Sequential
        (N, in_channels, H, W) images to (N, num_classes) logits.

    Examples
    --------
    >>> from gcnn import models
    >>> net = models.z2cnn(rng=0)
    >>> sum(p.data.size for p in net.parameters())
    21750
    """
    return _build(None, channels, in_channels, num_classes, padding, dtype, rng)


def p4cnn(
    channels: int = 10,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: DTypeLike = np.float32,
    rng: RngLike = None,
) -> nn.Sequential:
    """Cohen & Welling's P4CNN: the Z2CNN with p4 convolutions and half the channels.

    A lifting layer, five p4 group convolutions and a final 4x4 one, group batch norm (one mean
    and variance per channel over batch, rotations and space) and ReLU, a 2x2 max pool after
    layer 2, and a max over the rotations at the end: the logits are invariant to quarter turns
    of the input.

    Parameters
    ----------
    channels : int, optional
        Channels of every hidden layer (10 in the paper; each carries 4 orientations).
    in_channels, num_classes, padding, dtype, rng
        As in :func:`z2cnn`.

    Returns
    -------
    gcnn.nn.Sequential
        (N, in_channels, H, W) images to (N, num_classes) logits.

    Examples
    --------
    >>> from gcnn import models
    >>> net = models.p4cnn(rng=0)
    >>> sum(p.data.size for p in net.parameters())
    24680
    """
    return _build("p4", channels, in_channels, num_classes, padding, dtype, rng)


def p4mcnn(
    channels: int = 7,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: DTypeLike = np.float32,
    rng: RngLike = None,
) -> nn.Sequential:
    """The P4CNN with p4m convolutions (turns and mirrors) and 20 / sqrt(8) ~ 7 channels.

    Parameters
    ----------
    channels : int, optional
        Channels of every hidden layer (each carries 8 orientations).
    in_channels, num_classes, padding, dtype, rng
        As in :func:`z2cnn`.

    Returns
    -------
    gcnn.nn.Sequential
        (N, in_channels, H, W) images to (N, num_classes) logits, invariant to quarter turns and
        mirrors of the input.

    Examples
    --------
    >>> from gcnn import models
    >>> net = models.p4mcnn(rng=0)
    >>> sum(p.data.size for p in net.parameters())
    26799
    """
    return _build("p4m", channels, in_channels, num_classes, padding, dtype, rng)


def c8cnn(
    channels: int = 11,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: DTypeLike = np.float32,
    rng: RngLike = None,
) -> nn.Sequential:
    """The P4CNN with C8 convolutions: turns by 45 degrees, steerable filters, 11 channels.

    Turns that are not quarter turns need steerable filters (docs/design.md, §3.7 Steerable
    filters): a 3x3 filter holds 4 coefficients instead of 9 pixels and a 4x4 one 4 instead of
    16, so 11 channels of 8 orientations give about the P4CNN's parameter count
    (docs/design.md, §8.4 Finer groups). Quarter turns of the input give the same logits up
    to rounding; turns by other multiples of 45 degrees approximately (docs/design.md, §4.5
    Approximate equivariance).

    Parameters
    ----------
    channels : int, optional
        Channels of every hidden layer (each carries 8 orientations).
    in_channels, num_classes, padding, dtype, rng
        As in :func:`z2cnn`.

    Returns
    -------
    gcnn.nn.Sequential
        (N, in_channels, H, W) images to (N, num_classes) logits.

    Examples
    --------
    >>> from gcnn import models
    >>> net = models.c8cnn(rng=0)
    >>> sum(p.data.size for p in net.parameters())
    23132
    """
    return _build("c8", channels, in_channels, num_classes, padding, dtype, rng)


def c16cnn(
    channels: int = 8,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: DTypeLike = np.float32,
    rng: RngLike = None,
) -> nn.Sequential:
    """The P4CNN with C16 convolutions: turns by 22.5 degrees, steerable filters, 8 channels.

    Parameters
    ----------
    channels : int, optional
        Channels of every hidden layer (each carries 16 orientations).
    in_channels, num_classes, padding, dtype, rng
        As in :func:`z2cnn`.

    Returns
    -------
    gcnn.nn.Sequential
        (N, in_channels, H, W) images to (N, num_classes) logits.

    Examples
    --------
    >>> from gcnn import models
    >>> net = models.c16cnn(rng=0)
    >>> sum(p.data.size for p in net.parameters())
    25786
    """
    return _build("c16", channels, in_channels, num_classes, padding, dtype, rng)


def d8cnn(
    channels: int = 8,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    padding: int = 0,
    dtype: DTypeLike = np.float32,
    rng: RngLike = None,
) -> nn.Sequential:
    """The P4MCNN with D8 convolutions: turns by 45 degrees and mirrors, 8 channels.

    Parameters
    ----------
    channels : int, optional
        Channels of every hidden layer (each carries 16 orientations: 8 turns, mirrored or not).
    in_channels, num_classes, padding, dtype, rng
        As in :func:`z2cnn`.

    Returns
    -------
    gcnn.nn.Sequential
        (N, in_channels, H, W) images to (N, num_classes) logits; quarter turns and mirrors of
        the input give the same logits up to rounding.

    Examples
    --------
    >>> from gcnn import models
    >>> net = models.d8cnn(rng=0)
    >>> sum(p.data.size for p in net.parameters())
    25786
    """
    return _build("d8", channels, in_channels, num_classes, padding, dtype, rng)
