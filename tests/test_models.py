"""Cohen & Welling's networks (gcnn.models): shapes, parameter counts, invariance, gradients."""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import equivariance_conditions, models, nn
from gcnn.groups import p4m


def count(net) -> int:
    return sum(p.data.size for p in net.parameters())


def expected_parameters(kind: str, channels: int, order: int) -> int:
    """Weights and biases of the 7 convolutions plus scale and shift of the 6 batch norms."""
    fan = order if kind == "group" else 1
    first = 1 * channels * 9 + channels  # the lifting layer has no group axis on its input
    hidden = 5 * (channels * channels * fan * 9 + channels)
    last = channels * 10 * fan * 16 + 10
    return first + hidden + last + 6 * 2 * channels


def test_parameter_counts_follow_the_architecture():
    assert count(models.z2cnn()) == expected_parameters("planar", 20, 1)
    assert count(models.p4cnn()) == expected_parameters("group", 10, 4)
    assert count(models.p4mcnn()) == expected_parameters("group", 7, 8)
    # "about the same number of parameters" (within 25%)
    assert 0.75 < count(models.p4cnn()) / count(models.z2cnn()) < 1.25


@pytest.mark.parametrize("factory", [models.z2cnn, models.p4cnn, models.p4mcnn])
@pytest.mark.parametrize("size, padding", [(28, 0), (8, 1), (32, 0)])
def test_logits_have_one_row_per_image(factory, size, padding):
    net = factory(padding=padding, rng=0, num_classes=7, in_channels=2)
    x = np.random.default_rng(0).random((3, 2, size, size), dtype=np.float32)
    assert net.eval()(x).shape == (3, 7)


def test_the_paper_network_ends_at_one_pixel():
    shapes = []
    x = np.zeros((1, 1, 28, 28), dtype=np.float32)
    for layer in models.p4cnn(rng=0).eval():
        x = layer(x)
        if isinstance(layer, (nn.LiftingConv, nn.GroupConv)):
            shapes.append(x.shape[-1])
    assert shapes == [26, 24, 10, 8, 6, 4, 1]


@pytest.mark.parametrize("size, padding", [(28, 0), (8, 1)])
def test_group_networks_are_exactly_invariant(size, padding):
    rng = np.random.default_rng(1)
    x = rng.random((4, 1, size, size))
    p4net = models.p4cnn(padding=padding, dtype=np.float64, rng=2)
    p4mnet = models.p4mcnn(padding=padding, dtype=np.float64, rng=3)
    planar = models.z2cnn(padding=padding, dtype=np.float64, rng=4)
    for net, elements in ((p4net, range(4)), (p4mnet, range(8))):
        for mode in ("train", "eval"):
            getattr(net, mode)()
            logits = net(x)
            for g in elements:
                turned = net(p4m.transform_image(x, g))
                np.testing.assert_allclose(turned, logits, rtol=1e-10, atol=1e-10)
    # the planar baseline is not: a quarter turn changes its logits far beyond rounding
    planar.eval()
    logits = planar(x)
    assert (
        np.abs(planar(np.rot90(x, 1, axes=(-2, -1))) - logits).max() > 1e-3 * np.abs(logits).max()
    )


def test_equivariance_conditions_vouch_for_the_group_networks():
    assert equivariance_conditions(models.p4cnn(rng=0), 28).exact
    assert equivariance_conditions(models.p4mcnn(padding=1, rng=0), 8).exact
    # 27 is odd: the 2x2 pool after layer 2 cannot tile the 23x23 maps symmetrically
    assert not equivariance_conditions(models.p4cnn(rng=0), 27).exact


def test_end_to_end_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    net = models.p4cnn(channels=3, padding=1, dtype=np.float64, rng=6)
    x = rng.random((2, 1, 8, 8))
    labels = np.array([3, 7])
    loss_fn = nn.CrossEntropyLoss()

    def loss() -> float:
        return loss_fn(net(x), labels)

    net.train()
    loss()
    net.zero_grad()
    net.backward(loss_fn.backward())
    eps = 1e-6
    for name, param in list(net.named_parameters())[::4]:
        direction = rng.standard_normal(param.data.shape)
        saved = param.data.copy()
        param.data += eps * direction
        plus = loss()
        param.data[...] = saved - eps * direction
        minus = loss()
        param.data[...] = saved
        numeric = (plus - minus) / (2 * eps)
        assert abs(numeric - np.vdot(param.grad, direction)) < 1e-6 * max(1, abs(numeric)), name


def test_same_seed_same_network():
    a, b = models.p4cnn(rng=3), models.p4cnn(rng=3)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    c = models.p4cnn(rng=4)
    assert not np.array_equal(next(a.parameters()).data, next(c.parameters()).data)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"padding": 2}, ValueError, "padding must be 0"),
        ({"padding": True}, ValueError, "padding must be 0"),
        ({"channels": 0}, ValueError, "channels must be positive"),
        ({"num_classes": 2.5}, TypeError, "num_classes must be an integer"),
        ({"rng": "seed"}, TypeError, "rng must be None"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        models.p4cnn(**kwargs)
