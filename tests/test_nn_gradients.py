"""Are the gradients of gcnn.nn right?  Backward against central finite differences (float64)
and against PyTorch's autograd.

The scalar differentiated is a random projection ``sum(out * r)`` of the layer's output, so
``backward(r)`` must equal its gradient with respect to the input and every parameter.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import nn
from gcnn import reference as ref

EPS = 1e-6
RTOL, ATOL = 1e-6, 1e-8


def numerical_gradient(scalar, array: np.ndarray) -> np.ndarray:
    """Central differences of ``scalar()`` with respect to every element of `array` (in place)."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + EPS
        plus = scalar()
        array[index] = saved - EPS
        minus = scalar()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * EPS)
    return grad


def assert_gradients_match_finite_differences(layer, x: np.ndarray, seed: int = 0) -> None:
    """backward(r) against finite differences of sum(layer(x) * r), input and parameters."""
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal(layer(x).shape)
    layer.zero_grad()
    layer(x)
    grad_x = layer.backward(projection)
    assert grad_x.shape == x.shape and grad_x.dtype == np.float64

    def scalar() -> float:
        return float(np.sum(layer(x) * projection))

    np.testing.assert_allclose(grad_x, numerical_gradient(scalar, x), rtol=RTOL, atol=ATOL)
    for name, parameter in layer.named_parameters():
        expected = numerical_gradient(scalar, parameter.data)
        np.testing.assert_allclose(parameter.grad, expected, rtol=RTOL, atol=ATOL, err_msg=name)
        assert np.abs(expected).max() > 1e-3, name  # the check is not vacuous


def random(shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# --------------------------------------------------------------------------- finite differences


def test_relu_gradient():
    assert_gradients_match_finite_differences(nn.ReLU(), random((2, 3, 4, 4)))


@pytest.mark.parametrize("reduce", ["max", "mean", "sum"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 3, 5), (3, 8, 2, 2)])  # batched p4, unbatched p4m
def test_group_pool_gradient(reduce, shape):
    assert_gradients_match_finite_differences(nn.GroupPool(reduce), random(shape))


@pytest.mark.parametrize("reduce", ["max", "mean"])
@pytest.mark.parametrize(
    "kernel, stride, padding, shape",
    [
        (2, None, 0, (2, 2, 6, 6)),
        (3, 1, 1, (1, 2, 5, 5)),  # overlapping windows accumulate
        (3, 2, 1, (2, 1, 7, 6)),
        ((2, 3), (1, 2), (1, 0), (1, 2, 5, 7)),
        (2, 1, 0, (2, 4, 4, 4)),  # group feature maps (N, C, |G|, H, W) minus a channel axis
        (3, 2, 1, (2, 4, 5, 5)),
        (None, None, 0, (2, 3, 4, 5)),  # global
        (None, None, 0, (1, 2, 4, 3, 3)),
        (2, None, 0, (3, 4, 4)),  # unbatched
    ],
)
def test_spatial_pool_gradient(reduce, kernel, stride, padding, shape):
    layer = nn.SpatialPool(kernel, stride, padding, reduce=reduce)
    assert_gradients_match_finite_differences(layer, random(shape))


def test_flatten_gradient():
    assert_gradients_match_finite_differences(nn.Flatten(), random((2, 3, 2, 2)))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
def test_linear_gradient(bias, shape):
    layer = nn.Linear(5, 3, bias=bias, dtype=np.float64, rng=0)
    assert_gradients_match_finite_differences(layer, random(shape))


def _scrambled(norm):
    """Non-trivial scale and shift, so that their gradients matter."""
    if norm.affine:
        norm.weight[...] = random(norm.weight.shape, seed=5) + 1.5
        norm.bias[...] = random(norm.bias.shape, seed=6)
    return norm


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"affine": False}, {"track_running_stats": False}, {"momentum": None, "eps": 0.1}],
)
def test_batch_norm_2d_gradient_in_training_mode(kwargs):
    norm = _scrambled(nn.BatchNorm2d(3, dtype=np.float64, **kwargs))
    assert_gradients_match_finite_differences(norm, random((4, 3, 3, 2)) * 2 + 1)


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}])
def test_group_batch_norm_gradient_in_training_mode(kwargs):
    norm = _scrambled(nn.GroupBatchNorm(2, dtype=np.float64, **kwargs))
    assert_gradients_match_finite_differences(norm, random((2, 2, 4, 3, 2)) * 3 - 1)


def test_cross_entropy_gradient():
    loss_fn = nn.CrossEntropyLoss()
    logits = random((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    loss_fn(logits, labels)
    grad = loss_fn.backward()
    expected = numerical_gradient(lambda: loss_fn(logits, labels), logits)
    np.testing.assert_allclose(grad, expected, rtol=RTOL, atol=ATOL)


def test_sequential_gradient_is_the_chain_rule():
    net = nn.Sequential(
        nn.GroupBatchNorm(2, dtype=np.float64),
        nn.ReLU(),
        nn.GroupPool("mean"),
        nn.BatchNorm2d(2, dtype=np.float64),
        nn.ReLU(),
        nn.SpatialPool(2, 1),
        nn.Flatten(),
        nn.Linear(8, 3, dtype=np.float64, rng=0),
    )
    _scrambled(net[0])
    assert_gradients_match_finite_differences(net, random((3, 2, 4, 3, 3)))


@pytest.mark.parametrize("first", ["lift", "conv2d", "linear"])
def test_backward_without_input_grad_gives_the_same_parameter_gradients(first):
    if first == "lift":
        net = nn.Sequential(
            nn.LiftingConv(2, 3, 3, dtype=np.float64, rng=0),
            nn.GroupBatchNorm(3, dtype=np.float64),
            nn.ReLU(),
            nn.GroupConv(3, 2, 3, padding=1, dtype=np.float64, rng=1),
            nn.GroupPool("max"),
            nn.Flatten(),
        )
    elif first == "conv2d":
        net = nn.Sequential(nn.Conv2d(2, 3, 3, dtype=np.float64, rng=0), nn.ReLU(), nn.Flatten())
    else:
        net = nn.Sequential(nn.Flatten(), nn.Linear(50, 3, dtype=np.float64, rng=0))
    x = random((4, 2, 5, 5))
    projection = random(net(x).shape, seed=2)
    net.zero_grad()
    net(x)
    grad_x = net.backward(projection)
    assert grad_x.shape == x.shape
    full = {name: p.grad.copy() for name, p in net.named_parameters()}
    net.zero_grad()
    net(x)
    assert net.backward(projection, input_grad=False) is None
    for name, parameter in net.named_parameters():
        np.testing.assert_array_equal(parameter.grad, full[name], err_msg=name)
    with pytest.raises(TypeError, match="input_grad must be True or False"):
        net(x)
        net.backward(projection, input_grad=1)


def test_a_layer_backward_without_input_grad_returns_none_and_frees_the_cache():
    layer = nn.GroupConv(2, 2, 3, dtype=np.float64, rng=0)
    x = random((1, 2, 4, 5, 5))
    grad = random(layer(x).shape)
    assert layer.backward(grad, input_grad=False) is None
    assert np.abs(dict(layer.named_parameters())["weight"].grad).sum() > 0
    with pytest.raises(RuntimeError, match="twice"):
        layer.backward(grad, input_grad=False)


# --------------------------------------------------------------------------- PyTorch autograd


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _assert_close(ours, theirs, dtype):
    tolerance = 1e-12 if dtype == np.float64 else 2e-5
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("kind", ["planar", "group"])
def test_batch_norms_match_torch_over_several_steps(torch, dtype, momentum, kind):
    """Training steps (outputs, gradients, running statistics) and then eval outputs."""
    rng = np.random.default_rng(7)
    channels = 3
    if kind == "planar":
        ours = nn.BatchNorm2d(channels, momentum=momentum, dtype=dtype)
        theirs = torch.nn.BatchNorm2d(channels, momentum=momentum, dtype=torch.float64)
        shape = (4, channels, 5, 6)
    else:
        # BatchNorm3d on (N, C, |G|, H, W) computes GroupBatchNorm's per-channel statistics.
        ours = nn.GroupBatchNorm(channels, momentum=momentum, dtype=dtype)
        theirs = torch.nn.BatchNorm3d(channels, momentum=momentum, dtype=torch.float64)
        shape = (2, channels, 4, 5, 5)
    if dtype == np.float32:
        theirs = theirs.float()
    _scrambled(ours)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight))
        theirs.bias.copy_(torch.from_numpy(ours.bias))
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        r = rng.standard_normal(shape).astype(dtype)
        x_torch = torch.from_numpy(x).requires_grad_(True)
        out_torch = theirs(x_torch)
        (out_torch * torch.from_numpy(r)).sum().backward()
        out = ours(x)
        grad_x = ours.backward(r)
        assert out.dtype == dtype and grad_x.dtype == dtype
        _assert_close(out, out_torch, dtype)
        _assert_close(grad_x, x_torch.grad, dtype)
        parameters = dict(ours.named_parameters())
        _assert_close(parameters["weight"].grad, theirs.weight.grad, dtype)  # both accumulate
        _assert_close(parameters["bias"].grad, theirs.bias.grad, dtype)
        _assert_close(ours.running_mean, theirs.running_mean, dtype)
        _assert_close(ours.running_var, theirs.running_var, dtype)
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == step + 1
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(dtype)
    _assert_close(ours(x), theirs(torch.from_numpy(x)), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(torch, dtype, bias):
    ours = nn.Linear(6, 4, bias=bias, dtype=dtype, rng=3)
    theirs = torch.nn.Linear(6, 4, bias=bias, dtype=torch.float64 if dtype == np.float64 else None)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight))
        if bias:
            theirs.bias.copy_(torch.from_numpy(ours.bias))
    x = random((5, 6)).astype(dtype)
    r = random((5, 4), seed=2).astype(dtype)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    out_torch = theirs(x_torch)
    (out_torch * torch.from_numpy(r)).sum().backward()
    _assert_close(ours(x), out_torch, dtype)
    _assert_close(ours.backward(r), x_torch.grad, dtype)
    parameters = dict(ours.named_parameters())
    _assert_close(parameters["weight"].grad, theirs.weight.grad, dtype)
    if bias:
        _assert_close(parameters["bias"].grad, theirs.bias.grad, dtype)


@pytest.mark.parametrize(
    "kernel, stride, padding",
    [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (3, 1, 1), (4, 3, 2)],
)
def test_spatial_pool_gradients_match_torch(torch, kernel, stride, padding):
    functional = torch.nn.functional
    x = random((2, 3, 9, 8), seed=20)
    r_shape = nn.SpatialPool(kernel, stride, padding)(x).shape
    r = random(r_shape, seed=21)
    for reduce, torch_pool in [
        ("max", lambda t: functional.max_pool2d(t, kernel, stride, padding)),
        ("mean", lambda t: functional.avg_pool2d(t, kernel, stride, padding)),
    ]:
        layer = nn.SpatialPool(kernel, stride, padding, reduce=reduce)
        layer(x)
        x_torch = torch.from_numpy(x).requires_grad_(True)
        (torch_pool(x_torch) * torch.from_numpy(r)).sum().backward()
        _assert_close(layer.backward(r), x_torch.grad, np.float64)


def test_global_pools_and_group_pool_match_torch(torch):
    x = random((2, 3, 4, 5, 6), seed=22)
    cases = [
        (nn.SpatialPool(None), lambda t: torch.nn.functional.max_pool3d(t, (1, 5, 6))),
        (nn.SpatialPool(None, reduce="mean"), lambda t: t.mean(dim=(-2, -1), keepdim=True)),
        (nn.GroupPool("max"), lambda t: t.max(dim=2).values),
        (nn.GroupPool("mean"), lambda t: t.mean(dim=2)),
        (nn.GroupPool("sum"), lambda t: t.sum(dim=2)),
    ]
    for layer, torch_function in cases:
        out = layer(x)
        r = random(out.shape, seed=23)
        x_torch = torch.from_numpy(x).requires_grad_(True)
        out_torch = torch_function(x_torch)
        (out_torch * torch.from_numpy(r)).sum().backward()
        _assert_close(out, out_torch, np.float64)
        _assert_close(layer.backward(r), x_torch.grad, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_matches_torch_including_exact_zeros(torch, dtype):
    x = np.array([[-2.0, -0.0, 0.0, 1e-30, 3.0]], dtype=dtype)
    r = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=dtype)
    relu = nn.ReLU()
    x_torch = torch.from_numpy(x).requires_grad_(True)
    (torch.relu(x_torch) * torch.from_numpy(r)).sum().backward()
    _assert_close(relu(x), torch.relu(torch.from_numpy(x)), dtype)
    grad = relu.backward(r)
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, x_torch.grad.numpy())
    np.testing.assert_array_equal(grad, [[0, 0, 0, 4, 5]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_matches_torch(torch, dtype):
    logits = (random((6, 5), seed=24) * 4).astype(dtype)
    logits[0, 2] = 80.0  # large logits are handled by the log-sum-exp shift
    labels = np.array([2, 0, 4, 4, 1, 3])
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(logits, labels)
    grad = loss_fn.backward()
    logits_torch = torch.from_numpy(logits).requires_grad_(True)
    loss_torch = torch.nn.CrossEntropyLoss()(logits_torch, torch.from_numpy(labels))
    loss_torch.backward()
    assert isinstance(loss, float)
    assert grad.dtype == dtype and grad.shape == logits.shape
    tolerance = 1e-12 if dtype == np.float64 else 1e-6
    assert loss == pytest.approx(loss_torch.item(), rel=tolerance)
    _assert_close(grad, logits_torch.grad, dtype)


def test_max_pool_ties_go_to_the_first_maximal_element():
    # Row-major order inside each window, as PyTorch: the top-left 5 of the first window wins.
    x = np.array([[5.0, 5.0, 1.0], [5.0, 0.0, 5.0], [2.0, 5.0, 5.0]])
    pool = nn.SpatialPool(2, 1)
    pool(x)
    np.testing.assert_array_equal(
        pool.backward(np.array([[1.0, 10.0], [100.0, 1000.0]])),
        [[1.0, 10.0, 0.0], [100.0, 0.0, 1000.0], [0.0, 0.0, 0.0]],
    )
    # Padding never receives the gradient, even when it ties with -inf inputs.
    pool = nn.SpatialPool(2, 2, 1)
    pool(np.full((2, 2), -np.inf))
    np.testing.assert_array_equal(pool.backward(np.ones((2, 2))), np.ones((2, 2)))
    # GroupPool: np.argmax, the lowest group index among ties.
    group_pool = nn.GroupPool()
    group_pool(np.array([[[[1.0]], [[3.0]], [[3.0]], [[0.0]]]]))
    np.testing.assert_array_equal(
        group_pool.backward(np.array([[[2.0]]]))[:, :, 0, 0], [[0, 2, 0, 0]]
    )
    # Global max: the first maximum in row-major order.
    global_pool = nn.SpatialPool(None)
    global_pool(np.array([[0.0, 4.0], [4.0, 1.0]]))
    np.testing.assert_array_equal(global_pool.backward(np.array([[1.0]])), [[0, 1], [0, 0]])


def test_max_pool_sends_the_gradient_of_a_nan_window_to_the_nan(torch):
    x = random((1, 1, 4, 4), seed=40)
    x[0, 0, 1, 2] = np.nan
    pool = nn.SpatialPool(3, 1, 1)
    out = pool(x)
    r = random(out.shape, seed=41)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    (torch.nn.functional.max_pool2d(x_torch, 3, 1, 1) * torch.from_numpy(r)).sum().backward()
    grad = pool.backward(r)
    np.testing.assert_allclose(grad, x_torch.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert grad[0, 0, 1, 2] == pytest.approx(r[0, 0, :3, 1:].sum())  # the 9 windows that see it


def test_mean_pool_counts_the_zero_padding():
    pool = nn.SpatialPool(3, 1, 1, reduce="mean")
    pool(np.zeros((1, 1)))  # one window, 8 of its 9 taps on padding
    np.testing.assert_allclose(pool.backward(np.array([[9.0]])), [[1.0]])


# --------------------------------------------------------------------------- convolutions

CONVOLUTION_CASES = [
    # (group, kernel, stride, padding, bias, height, width)
    ("p4", 3, 1, 1, True, 5, 5),
    ("p4", 2, 2, 0, False, 6, 5),
    ("p4m", 3, 2, 1, True, 6, 6),
    ("p4m", 1, 1, "valid", False, 3, 4),
    ("p4", 3, 1, "same", True, 4, 4),
]


@pytest.mark.parametrize("group, k, stride, padding, bias, height, width", CONVOLUTION_CASES)
def test_lifting_conv_gradient(group, k, stride, padding, bias, height, width):
    layer = nn.LiftingConv(
        2, 2, k, group=group, stride=stride, padding=padding, bias=bias, dtype=np.float64, rng=0
    )
    assert_gradients_match_finite_differences(layer, random((2, 2, height, width)))


@pytest.mark.parametrize("group, k, stride, padding, bias, height, width", CONVOLUTION_CASES)
def test_group_conv_gradient(group, k, stride, padding, bias, height, width):
    order = 4 if group == "p4" else 8
    layer = nn.GroupConv(
        2, 2, k, group=group, stride=stride, padding=padding, bias=bias, dtype=np.float64, rng=0
    )
    assert_gradients_match_finite_differences(layer, random((1, 2, order, height, width)))


@pytest.mark.parametrize(
    "kernel, stride, padding, bias",
    [
        (3, 1, 1, True),
        ((2, 3), (2, 1), (1, 0), False),
        (1, 2, 0, True),
        (3, 1, "same", False),
        ((4, 3), 1, "same", True),  # lopsided, as PyTorch: the extra row goes after the image
    ],
)
def test_conv2d_gradient(kernel, stride, padding, bias):
    layer = nn.Conv2d(3, 2, kernel, stride, padding, bias=bias, dtype=np.float64, rng=0)
    assert_gradients_match_finite_differences(layer, random((2, 3, 5, 6)))


def test_unbatched_convolutions_give_unbatched_gradients():
    for layer, x in [
        (nn.LiftingConv(2, 3, 3, padding=1, dtype=np.float64, rng=0), random((2, 5, 5))),
        (nn.GroupConv(2, 3, 3, group="p4m", dtype=np.float64, rng=0), random((2, 8, 5, 5))),
        (nn.Conv2d(2, 3, 3, dtype=np.float64, rng=0), random((2, 5, 5))),
    ]:
        out = layer(x)
        np.testing.assert_array_equal(out, layer(x[None])[0])
        layer(x)
        grad_x = layer.backward(np.ones_like(out))
        assert grad_x.shape == x.shape
        layer(x[None])
        np.testing.assert_allclose(layer.backward(np.ones_like(out)[None])[0], grad_x, rtol=1e-12)


def _torch_transform(tensor, g: int, torch):
    """T_g on the last two axes in PyTorch: mirror first, then quarter turns."""
    mirror, turns = divmod(g, 4)
    if mirror:
        tensor = torch.flip(tensor, dims=(-1,))
    return torch.rot90(tensor, turns, dims=(-2, -1))


def _torch_group_layer(x, weight, bias, group, stride, padding, torch):
    """lift or group_conv through autograd-tracked torch operations, from the formulas: the
    filter bank holds T_g(weight[o, c]) (lift) or T_g(weight[o, c, g^-1 h]) (group conv)."""
    order = 4 if group == "p4" else 8
    out_channels, in_channels = weight.shape[:2]
    k = weight.shape[-1]
    if weight.dim() == 4:
        bank = torch.stack([_torch_transform(weight, g, torch) for g in range(order)], dim=1)
        bank = bank.reshape(out_channels * order, in_channels, k, k)
        planes = x
    else:
        slots = []
        for g in range(order):
            source = [ref.compose(ref.inverse(g), h) for h in range(order)]
            slots.append(_torch_transform(weight[:, :, source], g, torch))
        bank = torch.stack(slots, dim=1).reshape(out_channels * order, in_channels * order, k, k)
        planes = x.reshape(x.shape[0], in_channels * order, *x.shape[-2:])
    pad = (k - 1) // 2 if padding == "same" else padding
    out = torch.nn.functional.conv2d(planes, bank, None, stride, pad)
    out = out.reshape(x.shape[0], out_channels, order, *out.shape[-2:])
    return out if bias is None else out + bias[None, :, None, None, None]


@pytest.mark.parametrize("kind", ["lift", "group"])
@pytest.mark.parametrize("group, k, stride, padding, bias, height, width", CONVOLUTION_CASES)
def test_group_convolutions_match_torch_autograd(
    torch, kind, group, k, stride, padding, bias, height, width
):
    order = 4 if group == "p4" else 8
    cls = nn.LiftingConv if kind == "lift" else nn.GroupConv
    layer = cls(
        3, 2, k, group=group, stride=stride, padding=padding, bias=bias, dtype=np.float64, rng=1
    )
    shape = (2, 3, height, width) if kind == "lift" else (2, 3, order, height, width)
    x = random(shape, seed=30)
    out = layer(x)
    r = random(out.shape, seed=31)
    grad_x = layer.backward(r)

    x_torch = torch.from_numpy(x).requires_grad_(True)
    weight_torch = torch.from_numpy(layer.weight.copy()).requires_grad_(True)
    bias_torch = torch.from_numpy(layer.bias.copy()).requires_grad_(True) if bias else None
    out_torch = _torch_group_layer(x_torch, weight_torch, bias_torch, group, stride, padding, torch)
    (out_torch * torch.from_numpy(r)).sum().backward()
    parameters = dict(layer.named_parameters())
    _assert_close(out, out_torch, np.float64)
    _assert_close(grad_x, x_torch.grad, np.float64)
    _assert_close(parameters["weight"].grad, weight_torch.grad, np.float64)
    if bias:
        _assert_close(parameters["bias"].grad, bias_torch.grad, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "kernel, stride, padding", [((3, 2), (2, 1), (1, 0)), ((2, 4), 1, "same"), (3, 2, "valid")]
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_conv2d_matches_torch(torch, dtype, kernel, stride, padding):
    ours = nn.Conv2d(3, 4, kernel, stride=stride, padding=padding, dtype=dtype, rng=2)
    theirs = torch.nn.Conv2d(3, 4, kernel, stride=stride, padding=padding)
    theirs = theirs.double() if dtype == np.float64 else theirs
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight))
        theirs.bias.copy_(torch.from_numpy(ours.bias))
    x = random((2, 3, 7, 6), seed=32).astype(dtype)
    out = ours(x)
    r = random(out.shape, seed=33).astype(dtype)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    out_torch = theirs(x_torch)
    (out_torch * torch.from_numpy(r)).sum().backward()
    parameters = dict(ours.named_parameters())
    assert out.dtype == dtype
    _assert_close(out, out_torch, dtype)
    _assert_close(ours.backward(r), x_torch.grad, dtype)
    _assert_close(parameters["weight"].grad, theirs.weight.grad, dtype)
    _assert_close(parameters["bias"].grad, theirs.bias.grad, dtype)
