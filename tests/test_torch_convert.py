"""Do models move between gcnn and PyTorch unchanged, state and mode included, and back?

from_numpy and to_numpy (docs/design.md, §10.2 Conversion): exact round trips of parameters,
running statistics and batch counts, interchangeable state_dicts, and clear errors for what
cannot be converted.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import models, nn

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")

FACTORIES = [models.z2cnn, models.p4cnn, models.p4mcnn]


def trained_a_little(model: nn.Sequential, steps: int = 2) -> nn.Sequential:
    """The model after a few training-mode forwards: running statistics and counts move."""
    x = np.random.default_rng(3).random((4, 1, 8, 8))
    for _ in range(steps):
        model.train()(x)
    return model


def assert_same_state(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for name, value in ours.items():
        other = theirs[name]
        other = other.detach().cpu().numpy() if isinstance(other, torch.Tensor) else other
        assert other.dtype == value.dtype, name
        np.testing.assert_array_equal(other, value, err_msg=name)


@pytest.mark.parametrize("factory", FACTORIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_keeps_every_number_and_the_mode(factory, dtype):
    net = trained_a_little(factory(channels=3, padding=1, dtype=dtype, rng=0))
    assert int(net[1].num_batches_tracked) == 2
    module = gt.from_numpy(net.eval())
    assert not module.training and not module[1].training
    assert_same_state(net.state_dict(), module.state_dict())
    back = gt.to_numpy(module)
    assert isinstance(back, nn.Sequential) and not back.training
    assert_same_state(net.state_dict(), back.state_dict())
    x = np.random.default_rng(4).random((2, 1, 8, 8)).astype(dtype)
    np.testing.assert_array_equal(back(x), net(x))
    assert gt.from_numpy(net.train()).training


def test_a_model_trained_in_torch_comes_back_with_its_statistics():
    module = gt.models.p4cnn(channels=2, padding=1, rng=0, dtype=torch.float64)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    for step in range(3):
        x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
        loss = module(x).logsumexp(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net = gt.to_numpy(module.eval())
    assert int(net[1].num_batches_tracked) == 3
    assert_same_state(net.state_dict(), module.state_dict())
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    np.testing.assert_allclose(
        net(x), module(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-13
    )


def test_state_dicts_are_interchangeable():
    net = trained_a_little(models.p4mcnn(channels=2, padding=1, rng=0))
    module = gt.models.p4mcnn(channels=2, padding=1, rng=1)  # other weights, same layout
    module.load_state_dict({k: torch.from_numpy(v) for k, v in net.state_dict().items()})
    assert_same_state(net.state_dict(), module.state_dict())

    other = models.p4mcnn(channels=2, padding=1, rng=2)
    other.load_state_dict(module.state_dict())  # torch tensors straight into gcnn
    assert_same_state(net.state_dict(), other.state_dict())


def test_parameter_order_and_nested_names():
    net = nn.Sequential(
        nn.LiftingConv(1, 2, 3, rng=0),
        nn.Sequential(nn.GroupBatchNorm(2), nn.ReLU(), nn.GroupConv(2, 2, 3, rng=1)),
        nn.GroupPool(),
        nn.SpatialPool(None),
        nn.Flatten(),
        nn.Linear(2, 3, rng=2),
    )
    module = gt.from_numpy(net)
    names = [name for name, _ in net.named_parameters()]
    assert names == [name for name, _ in module.named_parameters()]
    assert "1.0.running_mean" in module.state_dict()
    assert_same_state(net.state_dict(), gt.to_numpy(module).state_dict())


def test_torch_nn_namesakes_convert_too():
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding="same"),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 5 * 5, 3),
    ).double()
    module[1].running_mean.uniform_()
    net = gt.to_numpy(module.eval())
    assert [type(layer) for layer in net] == [
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.Flatten,
        nn.Linear,
    ]
    x = np.random.default_rng(0).random((2, 1, 5, 5))
    np.testing.assert_allclose(net(x), module(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    norm = gt.to_numpy(torch.nn.BatchNorm3d(3))
    assert isinstance(norm, nn.GroupBatchNorm)


def test_the_c_path_flag_travels_through_from_numpy():
    module = gt.from_numpy(models.z2cnn(channels=2, rng=0), use_gcnn_kernels=True)
    assert module[0].use_gcnn_kernels
    assert not gt.from_numpy(models.z2cnn(channels=2, rng=0))[0].use_gcnn_kernels


class Doubled(nn.ReLU):
    def forward(self, x):
        return 2 * super().forward(x)


def test_what_cannot_be_converted_is_named():
    with pytest.raises(TypeError, match=r"layer 1 \(function\): gcnn.torch.from_numpy converts"):
        gt.from_numpy(nn.Sequential(nn.ReLU(), lambda x: x))
    with pytest.raises(TypeError, match="got test_torch_convert.Doubled"):
        gt.from_numpy(Doubled())  # a subclass may compute something else
    with pytest.raises(TypeError, match="gcnn.torch.to_numpy converts"):
        gt.to_numpy(torch.nn.Tanh())
    with pytest.raises(TypeError, match=r"layer 0 \(Conv2d\): gcnn.nn.Conv2d has no groups"):
        gt.to_numpy(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, groups=2)))
    with pytest.raises(TypeError, match="padding modes"):
        gt.to_numpy(torch.nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"))
    with pytest.raises(TypeError, match=r"start_dim=1, end_dim=-1"):
        gt.to_numpy(torch.nn.Flatten(start_dim=2))
    with pytest.raises(TypeError, match=r"torch.bfloat16 \(convert it with .float\(\)"):
        gt.to_numpy(gt.LiftingConv(1, 2, 3, dtype=torch.bfloat16))
