"""Is the C path (gcnn's kernels inside autograd) correct, copy-free and strict about its inputs?

docs/design.md, §10.3 The C path: torch.autograd.gradcheck in float64 for each convolution kind,
the same numbers as PyTorch's own path, NumPy views instead of copies, and a TypeError for the
devices and dtypes it does not take.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")
from gcnn.torch import _kernels

CASES = [  # (stride, padding, bias, batched)
    (1, 0, True, True),
    ((2, 1), 1, True, True),
    (2, 1, False, False),
]


def double(*shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.float64, generator=generator).requires_grad_(True)


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("stride, padding, bias, batched", CASES)
def test_gradcheck_lift_and_group_conv(group, stride, padding, bias, batched):
    order = 4 if group == "p4" else 8
    lead = (2,) if batched else ()
    keywords = {"group": group, "stride": stride, "padding": padding}
    b = double(3, seed=2) if bias else None
    x = double(*lead, 2, 5, 6)
    inputs = (x, double(3, 2, 3, 3, seed=1), b)
    assert torch.autograd.gradcheck(lambda *a: _kernels.lift(*a, **keywords), inputs)
    x = double(*lead, 1, order, 5, 4)
    inputs = (x, double(2, 1, order, 2, 2, seed=1), b[:2] if bias else None)
    assert torch.autograd.gradcheck(lambda *a: _kernels.group_conv(*a, **keywords), inputs)


@pytest.mark.parametrize("stride, padding, bias, batched", CASES + [(1, "same", True, True)])
def test_gradcheck_conv2d(stride, padding, bias, batched):
    lead = (2,) if batched else ()
    inputs = (
        double(*lead, 2, 5, 6),
        double(3, 2, 2, 3, seed=1),
        double(3, seed=2) if bias else None,
    )
    assert torch.autograd.gradcheck(
        lambda *a: _kernels.conv2d(*a, stride=stride, padding=padding), inputs
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_numbers_as_pytorch_s_own_path(dtype):
    torch.manual_seed(0)
    model = gt.models.p4mcnn(channels=2, padding=1, dtype=dtype, rng=0)
    x = torch.rand(3, 1, 8, 8, dtype=dtype)
    results = []
    for enabled in (False, True):
        gt.set_gcnn_kernels(model, enabled)
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        results.append([out.detach().clone()] + [p.grad.clone() for p in model.parameters()])
    for theirs, ours in zip(*results):
        # float32: the 3x3 group convolutions take Winograd's algorithm, whose rounding is
        # bounded relative to the scale of a call's values, so the absolute tolerance
        # follows each tensor's scale (docs/design.md, §9.1 One correlation primitive)
        scale = max(1.0, float(theirs.abs().max()))
        tolerance = (
            {"rtol": 1e-4, "atol": 1e-5 * scale}
            if dtype == torch.float32
            else {"rtol": 1e-10, "atol": 1e-12}
        )
        torch.testing.assert_close(ours, theirs, **tolerance)


def test_contiguous_tensors_reach_the_kernels_without_a_copy():
    x = torch.rand(2, 3, 4, 5)
    assert np.shares_memory(_kernels._view(x), x.numpy())
    assert np.shares_memory(_kernels._view(x.requires_grad_(True)), x.detach().numpy())
    # a strided view is handed over as such (the C glue makes it contiguous once)
    transposed = torch.rand(2, 3, 5, 4).transpose(-2, -1)
    weight = torch.rand(2, 3, 3, 3)
    torch.testing.assert_close(
        _kernels.lift(transposed, weight),
        _kernels.lift(transposed.contiguous(), weight),
    )


def test_set_gcnn_kernels_reaches_every_convolution_and_shows():
    model = gt.models.z2cnn(channels=2, rng=0)
    assert gt.set_gcnn_kernels(model) is model
    convolutions = [m for m in model.modules() if isinstance(m, gt.Conv2d)]
    assert len(convolutions) == 7 and all(m.use_gcnn_kernels for m in convolutions)
    assert "use_gcnn_kernels=True" in repr(model[0])
    gt.set_gcnn_kernels(model, False)
    assert not any(m.use_gcnn_kernels for m in convolutions)
    with pytest.raises(TypeError, match="enabled must be True or False"):
        gt.set_gcnn_kernels(model, 1)


def test_works_without_grad_and_in_inference_mode():
    layer = gt.GroupConv(2, 2, 3, rng=0, use_gcnn_kernels=True)
    x = torch.rand(1, 2, 4, 5, 5)
    expected = gt.GroupConv(2, 2, 3, rng=0)(x).detach()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), expected)


def test_other_devices_and_dtypes_are_refused_clearly():
    layer = gt.LiftingConv(1, 2, 3, rng=0, use_gcnn_kernels=True)
    with pytest.raises(TypeError, match=r"float32 or float64; x is torch.float16"):
        layer.half()(torch.zeros(1, 1, 5, 5, dtype=torch.float16))
    with pytest.raises(TypeError, match=r"one dtype .* got x torch.float64, weight torch.float32"):
        gt.LiftingConv(1, 2, 3, rng=0, use_gcnn_kernels=True)(torch.zeros(1, 1, 5, 5).double())
    with pytest.raises(TypeError, match=r"CPU tensors; x is on meta .*use_gcnn_kernels=False"):
        _kernels.lift(torch.zeros(1, 1, 5, 5, device="meta"), torch.zeros(2, 1, 3, 3))
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        _kernels.conv2d(torch.zeros(1, 1, 5, 5), np.zeros((2, 1, 3, 3)))
