"""Whole networks against PyTorch autograd: logits, every parameter's gradient, and a step.

The twin (gcnn.torch.from_numpy, also the network the benchmark times) computes each layer with
PyTorch: conv2d on the expanded filter gathered from the compact weight, BatchNorm2d/3d, ReLU,
max pooling.  In float64 gcnn's forward, backward and Adam step must match it to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import models, nn, optim

torch = pytest.importorskip("torch")
torch_twin = pytest.importorskip("gcnn.torch").from_numpy


@pytest.mark.parametrize("factory", [models.z2cnn, models.p4cnn, models.p4mcnn])
@pytest.mark.parametrize("size, padding", [(8, 1), (28, 0)])
def test_gradients_and_adam_step_match_pytorch(factory, size, padding):
    net = factory(channels=3, padding=padding, dtype=np.float64, rng=0)
    twin = torch_twin(net)
    rng = np.random.default_rng(1)
    x = rng.random((4, 1, size, size))
    labels = rng.integers(0, 10, 4)
    loss_fn = nn.CrossEntropyLoss()
    ours_opt = optim.Adam(net.parameters(), lr=1e-2)
    theirs_opt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    for _ in range(2):
        net.train()
        twin.train()
        logits = net(x)
        loss = loss_fn(logits, labels)
        net.zero_grad()
        net.backward(loss_fn.backward())
        ours_opt.step()

        theirs_logits = twin(torch.from_numpy(x))
        theirs_loss = torch.nn.functional.cross_entropy(theirs_logits, torch.from_numpy(labels))
        theirs_opt.zero_grad()
        theirs_loss.backward()
        np.testing.assert_allclose(logits, theirs_logits.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert abs(loss - theirs_loss.item()) < 1e-10
        theirs_grads = [p.grad.numpy() for p in twin.parameters()]
        ours = list(net.parameters())
        assert len(ours) == len(theirs_grads)
        for param, grad in zip(ours, theirs_grads):
            np.testing.assert_allclose(param.grad, grad, rtol=1e-8, atol=1e-11)
        theirs_opt.step()
    # Adam divides by sqrt(v): where a gradient is tiny (near eps) a rounding-level difference
    # in it moves the update by more, hence the looser tolerance on the weights after 2 steps
    for param, theirs in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(param.data, theirs.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_the_benchmark_s_four_ways_start_from_the_same_network():
    from gcnn.cli import bench_train

    net = models.p4cnn(channels=2, padding=1, dtype=np.float64, rng=0).eval()
    module = torch_twin(net)
    plain = bench_train._plain_twin(module)
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    expected = net(x)
    for twin in (module, plain):
        np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-10)
    expanded = sum(p.numel() for p in plain.parameters())
    assert expanded > 3 * sum(p.numel() for p in module.parameters())  # no weight sharing
    steps = bench_train.step_ways("p4cnn", 2, 28, threads=1)
    assert list(steps) == list(bench_train.STEP_WAYS)
    for step in steps.values():
        step()
