"""Are gcnn.torch's modules exactly equivariant, as gcnn's layers are?

The laws of docs/design.md, §4.1 The laws, for the torch modules (both ways of computing the
convolutions) under the conditions of §4.2, in float64: lifting and group convolutions commute
with the group, pools and batch norm too, and the models' logits are invariant.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn.groups import p4, p4m

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")

GROUPS = {"p4": p4, "p4m": p4m}


def turned_image(x: torch.Tensor, group, g: int) -> torch.Tensor:
    return torch.from_numpy(group.transform_image(x.numpy(), g))


def turned_features(features: torch.Tensor, group, g: int) -> np.ndarray:
    return group.transform_features(features.detach().numpy(), g)


def assert_exact(actual: torch.Tensor, expected: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual.detach().numpy(), expected, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("use_gcnn_kernels", [False, True])
@pytest.mark.parametrize("name", ["p4", "p4m"])
def test_lift_and_group_conv_commute_with_the_group(name, use_gcnn_kernels):
    group = GROUPS[name]
    keywords = {
        "group": name,
        "dtype": torch.float64,
        "rng": 0,
        "use_gcnn_kernels": use_gcnn_kernels,
    }
    lift = gt.LiftingConv(2, 3, 3, stride=2, padding=1, **keywords)
    conv = gt.GroupConv(3, 2, 4, padding=1, **keywords)  # even kernel, symmetric padding
    x = torch.rand(2, 2, 9, 9, dtype=torch.float64)  # (9 + 2 - 3) % 2 == 0: exact
    features = lift(x)
    for g in group.elements:
        assert_exact(lift(turned_image(x, group, g)), turned_features(features, group, g))
        turned = torch.from_numpy(turned_features(features, group, g))
        assert_exact(conv(turned), turned_features(conv(features), group, g))


@pytest.mark.parametrize("name", ["p4", "p4m"])
def test_pools_and_batch_norm_commute_with_the_group(name):
    group = GROUPS[name]
    features = torch.rand(3, 2, group.order, 6, 6, dtype=torch.float64)
    norm = gt.GroupBatchNorm(2, dtype=torch.float64)
    for g in group.elements:
        turned = torch.from_numpy(turned_features(features, group, g))
        # training mode: the whole batch is turned by the same element (§7.3)
        assert_exact(norm(turned), turned_features(norm(features), group, g))
        pooled = gt.GroupPool("max")(features)
        assert_exact(gt.GroupPool("max")(turned), group.transform_image(pooled.numpy(), g))
        window = gt.SpatialPool(2)
        assert_exact(window(turned), turned_features(window(features), group, g))


@pytest.mark.parametrize("use_gcnn_kernels", [False, True])
@pytest.mark.parametrize("factory, name", [(gt.models.p4cnn, "p4"), (gt.models.p4mcnn, "p4m")])
def test_models_give_the_same_logits_for_every_turn_and_mirror(factory, name, use_gcnn_kernels):
    group = GROUPS[name]
    model = factory(channels=2, dtype=torch.float64, rng=0, use_gcnn_kernels=use_gcnn_kernels)
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        logits = model(x).detach().numpy()
        for g in group.elements:
            assert_exact(model(turned_image(x, group, g)), logits)
