"""gcnn.torch on the steerable groups: the same coefficients, outputs and gradients as gcnn.nn.

docs/design.md, §3.7 Steerable filters and §10.1 Modules. Skipped without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import models, nn
from gcnn.groups import get_group

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")

GROUPS = ["c8", "d8", "c16", "c3"]


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("kind", ["lift", "group"])
@pytest.mark.parametrize("use_gcnn_kernels", [False, True])
def test_modules_match_the_numpy_layers(group, kind, use_gcnn_kernels):
    rng = np.random.default_rng(0)
    order = get_group(group).order
    numpy_class, torch_class = {
        "lift": (nn.LiftingConv, gt.LiftingConv),
        "group": (nn.GroupConv, gt.GroupConv),
    }[kind]
    layer = numpy_class(2, 3, 5, group=group, padding=2, rng=4, dtype=np.float64)
    module = torch_class(
        2,
        3,
        5,
        group=group,
        padding=2,
        rng=4,
        dtype=torch.float64,
        use_gcnn_kernels=use_gcnn_kernels,
    )
    assert tuple(module.weight.shape) == layer.weight.shape  # coefficients, not pixels
    shape = (2, 2, 9, 9) if kind == "lift" else (2, 2, order, 9, 9)
    x = rng.standard_normal(shape)
    out = layer(x)
    tensor = torch.from_numpy(x)
    result = module(tensor)
    np.testing.assert_allclose(result.detach().numpy(), out, atol=1e-12)
    np.testing.assert_allclose(module.filters().detach().numpy(), layer.filters, atol=1e-13)
    grad = rng.standard_normal(out.shape)
    layer.zero_grad()
    layer.backward(grad)
    result.backward(torch.from_numpy(grad))
    weight_grad = dict(layer.named_parameters())["weight"].grad
    np.testing.assert_allclose(module.weight.grad.numpy(), weight_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "parameters"), [("c8cnn", 23132), ("c16cnn", 25786), ("d8cnn", 25786)]
)
def test_models_convert_both_ways(name, parameters):
    net = getattr(models, name)(padding=1, rng=0, dtype=np.float64).eval()
    module = gt.from_numpy(net).eval()
    assert sum(p.numel() for p in module.parameters()) == parameters
    built = getattr(gt.models, name)(padding=1, rng=0, dtype=torch.float64).eval()
    for ours, theirs in zip(built.parameters(), net.parameters()):
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.data)
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8))
    np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), net(x), atol=1e-12)
    back = gt.to_numpy(module).eval()
    np.testing.assert_allclose(back(x), net(x), atol=1e-12)
    # Quarter turns stay exact through torch too.
    turned = torch.from_numpy(np.rot90(x, 1, axes=(-2, -1)).copy())
    np.testing.assert_allclose(module(turned).detach().numpy(), net(x), atol=1e-10)
