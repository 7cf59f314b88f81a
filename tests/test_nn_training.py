"""Does gcnn.nn keep PyTorch's training contract?  Parameters and their gradients, modes, state
dicts, the errors of backward and of the loss, and a small model that learns."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gcnn import nn


def random(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def small_model(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    """A p4 classifier with every kind of parameter and buffer."""
    return nn.Sequential(
        nn.LiftingConv(1, 3, 3, padding=1, dtype=dtype, rng=seed),
        nn.GroupBatchNorm(3, dtype=dtype),
        nn.ReLU(),
        nn.GroupConv(3, 2, 3, padding=1, bias=False, dtype=dtype, rng=seed + 1),
        nn.GroupPool(),
        nn.BatchNorm2d(2, dtype=dtype),
        nn.SpatialPool(None),
        nn.Flatten(),
        nn.Linear(2, 4, dtype=dtype, rng=seed + 2),
    )


def trained_a_little(model: nn.Sequential, steps: int = 3) -> nn.Sequential:
    """Running statistics that are no longer the initial zeros and ones."""
    for step in range(steps):
        model(random((4, 1, 6, 6), seed=100 + step) * (step + 2) + step)
    return model


# --------------------------------------------------------------------------- parameters


def test_parameter_holds_the_layers_own_array_and_a_zero_gradient():
    layer = nn.Linear(3, 2, rng=0)
    weight, bias = layer.parameters()
    assert weight.data is layer.weight and bias.data is layer.bias
    assert type(layer.weight) is np.ndarray
    assert weight.grad.shape == (2, 3) and weight.grad.dtype == np.float32
    assert not weight.grad.any()
    assert weight.shape == (2, 3) and weight.dtype == np.float32
    assert repr(weight) == "Parameter(shape=(2, 3), dtype=float32)"
    # An in-place update (what an optimizer does) is what the layer computes with.
    weight.data -= 1.0
    np.testing.assert_allclose(layer(np.zeros((1, 3), np.float32)), bias.data[None])
    np.testing.assert_allclose(
        layer(np.ones((1, 3), np.float32)), layer.weight.sum(1)[None] + bias.data
    )


def test_assigning_a_parameter_keeps_the_parameter_in_step():
    layer = nn.Linear(3, 2, rng=0)
    weight = next(layer.parameters())
    replacement = np.ones((2, 3), np.float32)
    layer.weight = replacement
    assert weight.data is replacement and layer.weight is replacement
    with pytest.raises(ValueError, match=r"keep its shape \(2, 3\) and dtype float32, got shape"):
        layer.weight = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="got shape \\(2, 3\\) and dtype float64"):
        weight.data = np.ones((2, 3))
    with pytest.raises(TypeError, match="float32 or float64 numpy.ndarray, got <class 'list'>"):
        nn.Parameter([1.0, 2.0])
    with pytest.raises(TypeError, match="got dtype int64"):
        nn.Parameter(np.arange(3))
    with pytest.raises(AttributeError, match="built without a bias"):
        nn.Linear(3, 2, bias=False, rng=0).bias = np.ones(2, np.float32)


def test_parameters_order_and_pytorch_names():
    model = small_model()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "3.weight",  # GroupConv without bias
        "5.weight",
        "5.bias",
        "8.weight",
        "8.bias",
    ]
    expected = [
        model[0].weight,
        model[0].bias,
        model[1].weight,
        model[1].bias,
        model[3].weight,
        model[5].weight,
        model[5].bias,
        model[8].weight,
        model[8].bias,
    ]
    parameters = list(model.parameters())
    assert len(parameters) == len(expected)
    assert all(p.data is array for p, array in zip(parameters, expected))
    assert [name for name, _ in nn.Linear(2, 2).named_parameters()] == ["weight", "bias"]
    assert list(nn.ReLU().parameters()) == [] and nn.GroupPool().state_dict() == {}
    # Nested Sequentials get nested names; a layer used twice is listed once.
    shared = nn.Linear(2, 2, rng=0)
    nested = nn.Sequential(nn.ReLU(), nn.Sequential(shared, nn.ReLU(), shared))
    assert [name for name, _ in nested.named_parameters()] == ["1.0.weight", "1.0.bias"]


def test_gradients_accumulate_until_zero_grad():
    model = small_model()
    x = random((2, 1, 6, 6), seed=1)
    r = random((2, 4), seed=2)
    model(x)
    grad_x = model.backward(r)
    first = [p.grad.copy() for p in model.parameters()]
    assert all(np.abs(grad).max() > 0 for grad in first)
    model(x)
    np.testing.assert_allclose(model.backward(r), grad_x, rtol=1e-12)
    for parameter, once in zip(model.parameters(), first):
        np.testing.assert_allclose(parameter.grad, 2 * once, rtol=1e-12)
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    for parameter, grad in zip(model.parameters(), grads):
        assert parameter.grad is grad and not grad.any()  # zeroed in place


# --------------------------------------------------------------------------- modes


def test_train_and_eval_return_self_and_reach_every_layer():
    model = small_model()
    assert model.training and all(layer.training for layer in model)
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model)
    assert model.train() is model and all(layer.training for layer in model)
    assert model.train(False) is model and not model[1].training
    with pytest.raises(TypeError, match="mode must be True or False, got 'yes'"):
        model.train("yes")


def test_batch_norm_training_and_eval_behaviour():
    norm = nn.BatchNorm2d(2, momentum=0.5, dtype=np.float64)
    x = random((8, 2, 3, 3), seed=3) * 3 + 5
    out = norm(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-4)  # eps
    mean, unbiased = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(norm.running_mean, 0.5 * mean, rtol=1e-12)
    np.testing.assert_allclose(norm.running_var, 0.5 + 0.5 * unbiased, rtol=1e-12)
    assert int(norm.num_batches_tracked) == 1

    norm.eval()
    running = norm.running_mean.copy(), norm.running_var.copy()
    evaluated = norm(x)
    expected = (x - running[0][:, None, None]) / np.sqrt(running[1][:, None, None] + 1e-5)
    np.testing.assert_allclose(evaluated, expected, rtol=1e-12)
    # Eval mode neither updates the statistics nor keeps anything for backward.
    np.testing.assert_array_equal(norm.running_mean, running[0])
    assert int(norm.num_batches_tracked) == 1
    with pytest.raises(RuntimeError, match="before a training-mode forward"):
        norm.backward(evaluated)

    # Without running statistics, eval mode normalises with the batch statistics.
    untracked = nn.BatchNorm2d(2, track_running_stats=False, dtype=np.float64).eval()
    np.testing.assert_allclose(untracked(x), out, rtol=1e-12)
    assert untracked.running_mean is None and list(untracked.state_dict()) == ["weight", "bias"]
    assert repr(untracked) == "BatchNorm2d(2, eps=1e-05, momentum=0.1, track_running_stats=False)"
    assert list(nn.GroupBatchNorm(2, affine=False).state_dict()) == [
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]


def test_group_batch_norm_uses_one_statistic_per_channel():
    norm = nn.GroupBatchNorm(2, dtype=np.float64)
    F = random((3, 2, 4, 5, 5), seed=4)
    F[:, :, 1] += 10.0  # one orientation much brighter: per-orientation statistics would hide it
    out = norm(F)
    mean = F.mean(axis=(0, 2, 3, 4), keepdims=True)
    std = np.sqrt(F.var(axis=(0, 2, 3, 4), keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, (F - mean) / std, rtol=1e-12)
    assert out[:, :, 1].mean() > 1.0


def test_batch_norm_refuses_a_single_value_per_channel_in_training():
    with pytest.raises(
        ValueError, match=r"more than 1 value per channel .* got shape \(1, 2, 1, 1\)"
    ):
        nn.BatchNorm2d(2)(np.ones((1, 2, 1, 1)))
    nn.BatchNorm2d(2).eval()(np.ones((1, 2, 1, 1)))  # running statistics need no batch


# --------------------------------------------------------------------------- state dicts


def test_state_dict_names_and_copies():
    model = trained_a_little(small_model())
    state = model.state_dict()
    assert list(state) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
        "3.weight",
        "5.weight",
        "5.bias",
        "5.running_mean",
        "5.running_var",
        "5.num_batches_tracked",
        "8.weight",
        "8.bias",
    ]
    assert state["1.num_batches_tracked"].shape == () and state["1.num_batches_tracked"] == 3
    assert state["1.num_batches_tracked"].dtype == np.int64
    np.testing.assert_array_equal(state["5.running_var"], model[5].running_var)
    state["0.weight"][...] = 0  # a copy: the model is untouched
    assert model[0].weight.any()


def test_state_dict_round_trip_through_npz_into_a_fresh_model(tmp_path):
    model = trained_a_little(small_model(seed=0)).eval()
    path = tmp_path / "model.npz"
    np.savez(path, **model.state_dict())
    fresh = small_model(seed=10).eval()
    x = random((2, 1, 6, 6), seed=5)
    assert not np.allclose(fresh(x), model(x))
    arrays = [fresh[0].weight, fresh[1].running_var, fresh[8].bias]
    parameters = list(fresh.parameters())
    with np.load(path, allow_pickle=False) as loaded:
        result = fresh.load_state_dict(loaded)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(fresh(x), model(x))
    # Loaded INTO the existing arrays: the layer's arrays and the Parameters are the same objects.
    assert arrays[0] is fresh[0].weight and arrays[1] is fresh[1].running_var
    assert arrays[2] is fresh[8].bias
    assert all(p.data is q.data for p, q in zip(parameters, fresh.parameters()))
    assert parameters[0].data is fresh[0].weight
    assert int(fresh[1].num_batches_tracked) == 3


def test_load_state_dict_errors_name_the_keys_and_change_nothing():
    model = small_model()
    state = model.state_dict()
    before = model.state_dict()

    missing = dict(state)
    del missing["8.bias"], missing["1.running_var"]
    with pytest.raises(KeyError, match=r"missing keys \['1.running_var', '8.bias'\]"):
        model.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['9.weight'\]"):
        model.load_state_dict({**state, "9.weight": np.zeros(2)})
    wrong_shape = {**state, "8.weight": np.zeros((4, 3)), "0.weight": state["0.weight"] + 1}
    with pytest.raises(
        ValueError, match=r"state\['8.weight'\] has shape \(4, 3\) .* has shape \(4, 2\)"
    ):
        model.load_state_dict(wrong_shape)
    with pytest.raises(TypeError, match=r"state\['1.num_batches_tracked'\] has dtype float64"):
        model.load_state_dict({**state, "1.num_batches_tracked": np.array(2.5)})
    with pytest.raises(TypeError, match="state must be a mapping"):
        model.load_state_dict([("0.weight", state["0.weight"])])
    for name, array in model.state_dict().items():  # nothing was copied by a failed load
        np.testing.assert_array_equal(array, before[name])

    # strict=False loads what matches and says what did not.
    partial = {"8.bias": np.arange(4.0), "extra": np.zeros(1)}
    result = model.load_state_dict(partial, strict=False)
    assert result.unexpected_keys == ["extra"] and "0.weight" in result.missing_keys
    np.testing.assert_array_equal(model[8].bias, np.arange(4.0))


def test_load_state_dict_accepts_a_pytorch_batch_norm_state():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    for step in range(3):
        theirs(torch.from_numpy(random((4, 3, 5, 5), seed=step) + step))
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
    ours = nn.BatchNorm2d(3, dtype=np.float64)
    ours.load_state_dict({name: value.numpy() for name, value in theirs.state_dict().items()})
    x = random((2, 3, 5, 5), seed=9)
    expected = theirs.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours.eval()(x), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- backward errors


@pytest.mark.parametrize(
    "layer, x",
    [
        (nn.LiftingConv(1, 2, 3, rng=0), random((1, 1, 5, 5))),
        (nn.GroupBatchNorm(2), random((2, 2, 4, 3, 3))),
        (nn.ReLU(), random((2, 3))),
        (nn.SpatialPool(2), random((1, 4, 4))),
        (nn.Linear(3, 2, rng=0), random((2, 3))),
        (nn.Flatten(), random((2, 3, 2))),
        (nn.GroupPool("mean"), random((1, 1, 4, 2, 2))),
    ],
)
def test_backward_errors(layer, x):
    name = type(layer).__name__
    with pytest.raises(
        RuntimeError, match=f"^{name}.backward called before a training-mode forward"
    ):
        layer.backward(np.zeros(3))
    out = layer(x)
    wrong = np.zeros(out.shape + (1,))
    message = (
        f"grad_out must have the shape of {name}'s forward output {out.shape}, got {wrong.shape}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.backward(wrong)
    with pytest.raises(TypeError, match="grad_out must be real"):
        layer.backward(out * 1j)
    layer.backward(np.ones_like(out))  # the failed calls above kept the cache
    with pytest.raises(RuntimeError, match=f"^{name}.backward called twice for one forward"):
        layer.backward(np.ones_like(out))
    layer.eval()
    layer(x)
    with pytest.raises(RuntimeError, match="an eval-mode forward keeps nothing"):
        layer.backward(np.ones_like(out))


def test_backward_returns_the_unbatched_shape_for_unbatched_input():
    for layer, x in [
        (nn.ReLU(), random((3, 4, 4))),
        (nn.GroupPool(), random((3, 4, 4, 4))),
        (nn.SpatialPool(2), random((3, 4, 4))),
        (nn.Linear(4, 2, rng=0), random((4,))),
    ]:
        out = layer(x)
        assert layer.backward(np.ones_like(out)).shape == x.shape


def test_errors_inside_sequential_name_the_layer():
    model = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(5, 2, rng=0))
    with pytest.raises(
        ValueError, match=r"^layer 2 \(Linear\): x must have shape \(\.\.\., 5\)"
    ) as info:
        model(np.ones((2, 3, 2)))
    assert isinstance(info.value.__cause__, ValueError)
    assert str(info.value.__cause__).startswith("x must have shape (..., 5)")

    with pytest.raises(RuntimeError, match=r"^layer 2 \(Linear\): Linear.backward called before"):
        model.backward(np.ones((2, 2)))
    out = model(np.ones((2, 5, 1)))
    with pytest.raises(ValueError, match=r"^layer 2 \(Linear\): grad_out must have the shape"):
        model.backward(np.ones((2, 3)))
    model.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match=r"^layer 2 \(Linear\): Linear.backward called twice"):
        model.backward(np.ones_like(out))

    with_function = nn.Sequential(nn.ReLU(), np.tanh)
    with_function(np.ones(3))
    with pytest.raises(TypeError, match=r"^layer 1 \(ufunc\): is not a gcnn layer"):
        with_function.backward(np.ones(3))
    # Nested Sequentials: the outer index, then the inner one.
    nested = nn.Sequential(nn.ReLU(), nn.Sequential(nn.ReLU(), nn.BatchNorm2d(2)))
    with pytest.raises(ValueError, match=r"^layer 1 \(Sequential\): layer 1 \(BatchNorm2d\): x"):
        nested(np.ones((2, 3, 4, 4)))


@pytest.mark.parametrize("model", ["p4cnn", "z2cnn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("side", [10, 11])
def test_batch_norm_then_relu_in_a_sequential_gives_the_numbers_of_the_layers_apart(
    monkeypatch, model, dtype, training, side
):
    """Sequential runs a batch norm and the ReLU after it in one pass each way (and the 2x2
    max pool after them too, in training), and takes the bias gradient of the convolution
    before from the batch norm's backward; the output, the input gradient, the parameter
    gradients and the running statistics must be those of the layers run one by one (and
    the separate ReLU and pool kernels must not run at all in training). Odd sides leave a
    row and a column outside every pooling window."""
    from gcnn import _core, models

    fused = getattr(models, model)(4, padding=1, rng=0, dtype=dtype)
    apart = getattr(models, model)(4, padding=1, rng=0, dtype=dtype)
    fused.train(training)
    apart.train(training)
    x = (random((6, 1, side, side), seed=3) + 0.2).astype(dtype)
    expected = x
    for layer in apart:
        expected = layer(expected)
    calls = []
    for name in ("relu", "max_pool", "max_pool_backward"):
        real = getattr(_core, name)
        monkeypatch.setattr(_core, name, lambda *a, real=real: calls.append(1) or real(*a))
    out = fused(x)
    # every ReLU of the P4CNN follows a batch norm; its pool is fused in training only
    assert len(calls) == (0 if training else 1)
    np.testing.assert_array_equal(out, expected)
    for (name, a), (_, b) in zip(fused.state_dict().items(), apart.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    if not training:
        return
    grad = random(out.shape, seed=4).astype(dtype)
    real_sums = _core.channel_sums
    monkeypatch.setattr(_core, "channel_sums", lambda *a: calls.append(1) or real_sums(*a))
    grad_x = fused.backward(grad)
    assert len(calls) == 1  # only the last convolution, which has no batch norm after it
    for layer in reversed(list(apart)):
        grad = layer.backward(grad)
    np.testing.assert_array_equal(grad_x, grad)
    for (name, a), (_, b) in zip(fused.named_parameters(), apart.named_parameters()):
        np.testing.assert_array_equal(a.grad, b.grad, err_msg=name)


def test_fused_batch_norm_relu_and_pool_keep_their_own_errors_and_caches():
    seq = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU(), nn.SpatialPool(2))
    # maps too small to pool: the pool runs as its own layer and names itself
    with pytest.raises(ValueError, match=r"^layer 2 \(SpatialPool\): x is too small"):
        seq(np.ones((4, 2, 1, 5), np.float32))
    x = random((4, 2, 5, 5), seed=5).astype(np.float32)
    out = seq(x)
    assert out.shape == (4, 2, 2, 2)
    grad_x = seq.backward(np.ones_like(out))
    # what the fused forward kept serves each layer's own backward as well
    seq(x)
    grad = np.ones_like(out)
    for layer in reversed(list(seq)):
        grad = layer.backward(grad)
    np.testing.assert_array_equal(grad, grad_x)
    with pytest.raises(RuntimeError, match="backward called twice"):
        seq.backward(np.ones_like(out))


def test_fused_batch_norm_and_relu_keep_their_own_errors_and_caches():
    model = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU())
    with pytest.raises(RuntimeError, match=r"^layer 1 \(ReLU\): ReLU.backward called before"):
        model.backward(np.ones((3, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"^layer 0 \(BatchNorm2d\): x must have shape"):
        model(np.ones((3, 5, 4, 4)))
    x = random((3, 2, 4, 4), seed=5)
    out = model(x)
    with pytest.raises(ValueError, match=r"^layer 1 \(ReLU\): grad_out must have the shape"):
        model.backward(np.ones((3, 2, 4, 5)))
    # the failed call kept both caches: each layer's own backward still works
    grad = random(out.shape, seed=6)
    through_relu = model[1].backward(grad)
    grad_x = model[0].backward(through_relu)
    model(x)
    np.testing.assert_array_equal(model.backward(grad), grad_x)
    with pytest.raises(RuntimeError, match=r"^layer 1 \(ReLU\): ReLU.backward called twice"):
        model.backward(grad)


# --------------------------------------------------------------------------- loss


def test_cross_entropy_value_and_gradient_by_hand():
    loss_fn = nn.CrossEntropyLoss()
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss = loss_fn(logits, np.array([2, 0], dtype=np.uint8))
    softmax = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert isinstance(loss, float)
    assert loss == pytest.approx(-np.log(softmax[2]) / 2, rel=1e-12)  # row 2 costs ~0
    grad = loss_fn.backward()
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad[0], (softmax - [0, 0, 1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(grad[1], 0, atol=1e-12)
    assert repr(loss_fn) == "CrossEntropyLoss()"


def test_cross_entropy_errors():
    loss_fn = nn.CrossEntropyLoss()
    logits = random((3, 4))
    with pytest.raises(RuntimeError, match="backward called before the loss was computed"):
        loss_fn.backward()
    with pytest.raises(TypeError, match="labels must have an integer dtype .* got dtype float64"):
        loss_fn(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="labels must have an integer dtype .* got dtype bool"):
        loss_fn(logits, np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\) .* got 4 at index 1"):
        loss_fn(logits, np.array([0, 4, -1]))
    with pytest.raises(ValueError, match=r"got -1 at index 0 \(1 label\(s\) out of range\)"):
        loss_fn(logits, [-1, 0, 0])
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\) .* got \(2,\)"):
        loss_fn(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\) .* got \(4,\)"):
        loss_fn(logits[0], np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"got \(0, 4\)"):
        loss_fn(np.zeros((0, 4)), np.zeros(0, dtype=int))
    nan_logits = logits.copy()
    nan_logits[0, 1] = np.nan
    nan_logits[2, :2] = np.inf
    with pytest.raises(
        ValueError, match=r"the loss is not finite .* contain 1 NaN and 2 infinite value"
    ):
        loss_fn(nan_logits, np.array([0, 1, 2]))
    with pytest.raises(RuntimeError, match="before the loss was computed"):
        loss_fn.backward()  # the failed call left nothing behind
    with pytest.raises(ValueError, match="finite but their spread overflows"):
        loss_fn(np.array([[1e308, -1e308]]), np.array([1]))
    loss_fn(logits, np.array([0, 1, 2]))
    loss_fn.backward()
    with pytest.raises(RuntimeError, match="backward called twice for one loss"):
        loss_fn.backward()


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    "cls, args, kwargs, error, match",
    [
        (nn.Linear, (0, 2), {}, ValueError, "in_features must be positive, got 0"),
        (nn.Linear, (2, 2.0), {}, TypeError, "out_features must be an integer"),
        (nn.Linear, (2, 2), {"bias": 1}, TypeError, "bias must be True or False, got 1"),
        (nn.Linear, (2, 2), {"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
        (nn.Linear, (2, 2), {"rng": "seed"}, TypeError, "rng must be None, an int seed"),
        (nn.BatchNorm2d, (0,), {}, ValueError, "num_features must be positive, got 0"),
        (nn.BatchNorm2d, (2,), {"eps": 0.0}, ValueError, "eps must be positive, got 0.0"),
        (nn.BatchNorm2d, (2,), {"eps": "1"}, TypeError, "eps must be a positive number"),
        (nn.GroupBatchNorm, (2,), {"momentum": 1.5}, ValueError, r"momentum must be in \[0, 1\]"),
        (nn.GroupBatchNorm, (2,), {"affine": None}, TypeError, "affine must be True or False"),
        (nn.Conv2d, (1, 2, 0), {}, ValueError, "kernel_size must be positive"),
        (nn.Conv2d, (1, 2, 3), {"stride": 2, "padding": "same"}, ValueError, "stride"),
    ],
)
def test_construction_errors(cls, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(*args, **kwargs)


def test_new_layer_parameters_follow_pytorch_initialisation():
    linear = nn.Linear(16, 5, rng=0)
    assert linear.weight.shape == (5, 16) and linear.bias.shape == (5,)
    assert 0.9 / 4 < np.abs(linear.weight).max() <= 1 / 4 and np.abs(linear.bias).max() <= 1 / 4
    conv = nn.Conv2d(2, 3, (3, 5), dtype=np.float64, rng=0)
    bound = 1 / np.sqrt(2 * 3 * 5)
    assert conv.weight.shape == (3, 2, 3, 5) and conv.weight.dtype == np.float64
    assert 0.9 * bound < np.abs(conv.weight).max() <= bound and np.abs(conv.bias).max() <= bound
    norm = nn.GroupBatchNorm(3, dtype=np.float64)
    assert (norm.weight == 1).all() and (norm.bias == 0).all() and norm.weight.dtype == np.float64
    assert (norm.running_mean == 0).all() and (norm.running_var == 1).all()
    assert repr(linear) == "Linear(16 -> 5)" and repr(nn.Linear(2, 3, bias=False)) == (
        "Linear(2 -> 3, bias=False)"
    )
    assert repr(nn.Flatten()) == "Flatten()"
    assert repr(nn.GroupBatchNorm(4, momentum=None, affine=False)) == (
        "GroupBatchNorm(4, eps=1e-05, momentum=None, affine=False)"
    )
    assert repr(conv) == "Conv2d(2 -> 3, kernel 3x5, stride 1, padding 0)"
    assert repr(nn.Conv2d(1, 1, 3, 2, "valid", bias=False)) == (
        "Conv2d(1 -> 1, kernel 3x3, stride 2, padding valid, bias=False)"
    )


def test_flatten_and_linear_shapes_dtypes_and_copies():
    x = np.arange(12).reshape(2, 3, 2)
    out = nn.Flatten()(x)
    assert out.shape == (2, 6) and out.dtype == np.float64
    out[...] = -1
    assert x.min() == 0  # never a view of the input
    assert nn.Flatten()(np.zeros((0, 3, 2), np.float32)).shape == (0, 6)
    with pytest.raises(ValueError, match=r"x must have shape \(N, \.\.\.\) with at least 2 axes"):
        nn.Flatten()(np.zeros(3))
    linear = nn.Linear(3, 2, rng=0)
    assert linear(np.ones((4, 3), np.float32)).dtype == np.float32
    assert linear(np.ones((4, 3))).dtype == np.float64
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\) for Linear\(3 -> 2\)"):
        linear(np.ones((4, 2)))


# --------------------------------------------------------------------------- learning


def test_sgd_on_a_separable_toy_problem_drives_the_loss_down():
    rng = np.random.default_rng(0)
    count = 64
    labels = rng.integers(0, 3, size=count)
    centres = np.array([[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, -1.0], [0.0, 0.0, 2.0, 0.0]])
    x = centres[labels] + 0.5 * rng.standard_normal((count, 4))
    model = nn.Sequential(nn.Linear(4, 16, rng=1), nn.ReLU(), nn.Linear(16, 3, rng=2))
    loss_fn = nn.CrossEntropyLoss()
    initial = loss_fn(model(x.astype(np.float32)), labels)
    for _ in range(300):
        model.zero_grad()
        loss_fn(model(x.astype(np.float32)), labels)
        model.backward(loss_fn.backward())
        for parameter in model.parameters():
            parameter.data -= 0.2 * parameter.grad
    final = loss_fn(model.eval()(x.astype(np.float32)), labels)
    assert final < 0.2 * initial
    assert (model(x.astype(np.float32)).argmax(axis=1) == labels).mean() > 0.95


def crosses_and_plusses(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """9 x 9 noisy images of a '+' (label 0) or an 'x' (label 1) at a random place: two shapes
    that every turn keeps, so a p4-invariant network can tell them apart."""
    rng = np.random.default_rng(seed)
    plus = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.float32)
    cross = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
    labels = rng.integers(0, 2, size=count)
    images = 0.3 * rng.standard_normal((count, 1, 9, 9)).astype(np.float32)
    for image, label in zip(images, labels):
        row, column = rng.integers(0, 7, size=2)
        image[0, row : row + 3, column : column + 3] += plus if label == 0 else cross
    return images, labels


def test_sgd_trains_a_small_group_cnn():
    images, labels = crosses_and_plusses(48, seed=0)
    model = nn.Sequential(
        nn.LiftingConv(1, 4, 3, padding=1, rng=0),
        nn.GroupBatchNorm(4),
        nn.ReLU(),
        nn.GroupPool(),
        nn.SpatialPool(None),
        nn.Flatten(),
        nn.Linear(4, 2, rng=1),
    )
    loss_fn = nn.CrossEntropyLoss()
    initial = loss_fn(model(images), labels)
    for _ in range(200):
        model.zero_grad()
        loss_fn(model(images), labels)
        model.backward(loss_fn.backward())
        for parameter in model.parameters():
            parameter.data -= 0.1 * parameter.grad
    model.eval()
    final = loss_fn(model(images), labels)
    assert final < 0.3 * initial
    test_images, test_labels = crosses_and_plusses(48, seed=1)
    assert (model(test_images).argmax(axis=1) == test_labels).mean() > 0.9


def test_gcnn_optim_trains_the_layers_in_place():
    """gcnn.optim reads Parameter.grad and writes Parameter.data, which is the layer's array."""
    from gcnn import optim

    images, labels = crosses_and_plusses(32, seed=2)
    model = small_model(seed=3, dtype=np.float32)
    weights = [parameter.data for parameter in model.parameters()]
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    initial = loss_fn(model(images), labels)
    for _ in range(60):
        optimizer.zero_grad()
        loss_fn(model(images), labels)
        model.backward(loss_fn.backward())
        optimizer.step()
    assert loss_fn(model(images), labels) < 0.5 * initial
    assert all(p.data is array for p, array in zip(model.parameters(), weights))
    assert model[0].weight is weights[0]
