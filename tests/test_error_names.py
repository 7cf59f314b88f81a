"""Every bad argument is refused with TypeError or ValueError whose message names it.

A sweep over the public functions: each argument in turn gets values of the wrong type, shape,
sign or size while the others stay valid.  Other exceptions (AttributeError, IndexError,
OverflowError, a crash) or a message that does not say which argument was wrong fail.
"""

from __future__ import annotations

import numpy as np
import pytest

import gcnn
from gcnn import datasets

IMAGE = np.ones((6, 6))
KERNEL = np.ones((3, 3))
X = np.ones((1, 2, 6, 6))
W_LIFT = np.ones((3, 2, 3, 3))
F = np.ones((1, 2, 4, 6, 6))
W_GROUP = np.ones((3, 2, 4, 3, 3))

# Values of the wrong kind for an array argument and for an integer argument.
BAD_ARRAYS = [None, "text", object(), np.ones((2, 2), dtype=complex), np.array(["a", "b"])]
BAD_INTS = [None, "3", 2.5, True, -1, 0, 2**64, np.ones(3), object()]
BAD_CHOICES = [None, 3, "nonsense", object()]
# The drop-in and the tutorial's functions compute complex input, as SciPy does; not as 2-D
# arrays is what they refuse.
BAD_PLANES = [BAD_ARRAYS[i] for i in (1, 2, 4)] + [np.ones((2, 2, 2))]

# (function, valid keyword arguments, the argument under test, its bad values, its name in
# the message)
CASES = [
    (gcnn.convolve2d, {"in1": IMAGE, "in2": KERNEL}, "in1", BAD_PLANES, "in1"),
    (gcnn.convolve2d, {"in1": IMAGE, "in2": KERNEL}, "in2", BAD_PLANES, "in2"),
    (gcnn.convolve2d, {"in1": IMAGE, "in2": KERNEL}, "mode", BAD_CHOICES, "mode"),
    (gcnn.correlate2d, {"in1": IMAGE, "in2": KERNEL}, "boundary", BAD_CHOICES, "boundary"),
    (gcnn.correlate2d, {"in1": IMAGE, "in2": KERNEL}, "fillvalue", ["x", object()], "fillvalue"),
    (gcnn.lift_correlation, {"image": IMAGE, "kernel": KERNEL}, "image", BAD_PLANES, "image"),
    (gcnn.lift_correlation, {"image": IMAGE, "kernel": KERNEL}, "kernel", BAD_PLANES, "kernel"),
    (gcnn.lift_correlation, {"image": IMAGE, "kernel": KERNEL}, "mode", BAD_CHOICES, "mode"),
    (
        gcnn.p4_group_convolution,
        {"features": np.ones((4, 6, 6)), "kernel": KERNEL},
        "features",
        BAD_ARRAYS + [np.ones((6, 6))],
        "features",
    ),
    (gcnn.lift, {"x": X, "weight": W_LIFT}, "x", BAD_ARRAYS + [np.ones((6, 6))], "x"),
    (
        gcnn.lift,
        {"x": X, "weight": W_LIFT},
        "weight",
        BAD_ARRAYS + [np.ones((3, 2, 3, 4))],
        "weight",
    ),
    (gcnn.lift, {"x": X, "weight": W_LIFT}, "bias", BAD_ARRAYS[1:] + [np.ones(2)], "bias"),
    (gcnn.lift, {"x": X, "weight": W_LIFT}, "stride", BAD_INTS, "stride"),
    (gcnn.lift, {"x": X, "weight": W_LIFT}, "padding", BAD_INTS[:4] + [-1, 2**64], "padding"),
    (gcnn.lift, {"x": X, "weight": W_LIFT}, "group", BAD_CHOICES, "group"),
    (gcnn.group_conv, {"x": F, "weight": W_GROUP}, "x", BAD_ARRAYS + [X], "x"),
    (gcnn.group_conv, {"x": F, "weight": W_GROUP}, "weight", BAD_ARRAYS + [W_LIFT], "weight"),
    (gcnn.group_conv, {"x": F, "weight": W_GROUP}, "stride", BAD_INTS, "stride"),
    (gcnn.conv2d, {"x": X, "weight": W_LIFT}, "x", BAD_ARRAYS, "x"),
    (gcnn.conv2d, {"x": X, "weight": W_LIFT}, "padding", BAD_INTS[:4] + [-2], "padding"),
    (gcnn.group_pool, {"x": F}, "x", BAD_ARRAYS + [np.ones(3)], "x"),
    (gcnn.group_pool, {"x": F}, "reduce", BAD_CHOICES, "reduce"),
    (gcnn.spatial_pool, {"x": X, "kernel_size": 2}, "kernel_size", BAD_INTS[1:], "kernel_size"),
    (gcnn.spatial_pool, {"x": X, "kernel_size": 2}, "stride", BAD_INTS[1:], "stride"),
    (gcnn.spatial_pool, {"x": X, "kernel_size": 2}, "reduce", BAD_CHOICES, "reduce"),
    (gcnn.expand_filter, {"weight": W_LIFT}, "weight", BAD_ARRAYS + [np.ones(3)], "weight"),
    (gcnn.expand_filter, {"weight": W_LIFT}, "kind", BAD_CHOICES, "kind"),
    (gcnn.expand_filter, {"weight": W_LIFT}, "group", BAD_CHOICES, "group"),
    (
        gcnn.lift_backward,
        {"grad_out": np.ones((1, 3, 4, 4, 4)), "x": X, "weight": W_LIFT},
        "grad_out",
        BAD_ARRAYS + [np.ones((1, 3, 4, 4))],
        "grad_out",
    ),
    (gcnn.set_num_threads, {}, "n", BAD_INTS[1:] + [257], "n"),
    (gcnn.equivariance_conditions, {"layers": []}, "input_size", BAD_INTS[1:], "input_size"),
    (datasets.rotate, {"images": X}, "degrees", [None, "x", np.nan, np.ones(5)], "degrees"),
    (datasets.rotate, {"images": X, "degrees": 90}, "images", BAD_ARRAYS + [np.ones(3)], "images"),
]


PAIRS = [
    pytest.param(function, valid, argument, bad, name, id=f"{function.__name__}-{argument}-{i}")
    for function, valid, argument, bad_values, name in CASES
    for i, bad in enumerate(bad_values)
]


@pytest.mark.parametrize("function, valid, argument, bad, name", PAIRS)
def test_bad_arguments_are_named(function, valid, argument, bad, name):
    with pytest.raises((TypeError, ValueError)) as raised:
        function(**{**valid, argument: bad})
    assert name in str(raised.value), str(raised.value)


def _linear_parameters():
    from gcnn import nn

    return nn.Linear(2, 2).parameters()


def _constructor_cases():
    from gcnn import nn, optim

    # (callable, valid keyword arguments, the argument under test, its bad values)
    return [
        (
            nn.LiftingConv,
            {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
            "in_channels",
            BAD_INTS,
        ),
        (
            nn.GroupConv,
            {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
            "kernel_size",
            BAD_INTS,
        ),
        (
            nn.GroupConv,
            {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
            "group",
            BAD_CHOICES,
        ),
        (nn.Conv2d, {"in_channels": 2, "out_channels": 3, "kernel_size": 3}, "stride", BAD_INTS),
        (nn.GroupBatchNorm, {"num_features": 3}, "num_features", BAD_INTS),
        (nn.GroupBatchNorm, {"num_features": 3}, "eps", [None, "x", -1.0, 0.0]),
        (nn.GroupBatchNorm, {"num_features": 3}, "momentum", ["x", -0.5, 2.0]),
        (nn.Linear, {"in_features": 3, "out_features": 2}, "out_features", BAD_INTS),
        (nn.SpatialPool, {"kernel_size": 2}, "kernel_size", BAD_INTS[1:]),
        (nn.GroupPool, {}, "reduce", BAD_CHOICES),
        (optim.SGD, {"params": _linear_parameters, "lr": 0.1}, "lr", [None, "x", -1.0]),
        (optim.SGD, {"params": _linear_parameters, "lr": 0.1}, "momentum", ["x", -1.0]),
        (optim.Adam, {"params": _linear_parameters}, "betas", [(1.5, 0.9), (0.9, -1.0)]),
    ]


CONSTRUCTOR_PAIRS = [
    pytest.param(function, valid, argument, bad, id=f"{function.__name__}-{argument}-{i}")
    for function, valid, argument, bad_values in _constructor_cases()
    for i, bad in enumerate(bad_values)
]


@pytest.mark.parametrize("function, valid, argument, bad", CONSTRUCTOR_PAIRS)
def test_bad_constructor_arguments_are_named(function, valid, argument, bad):
    # Parameters are a generator: make a fresh one for every call.
    arguments = {
        key: value() if callable(value) and key == "params" else value
        for key, value in valid.items()
    }
    with pytest.raises((TypeError, ValueError)) as raised:
        function(**{**arguments, argument: bad})
    assert argument in str(raised.value), str(raised.value)
