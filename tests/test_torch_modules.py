"""Do gcnn.torch's modules compute what their gcnn.nn namesakes compute, forward and backward?

Every layer kind, in float64, with both ways of computing the convolutions (autograd through
conv2d on the expanded filter, and gcnn's C kernels): the outputs, the input gradient and every
parameter gradient against gcnn.nn's forward and backward (docs/design.md, §10.1 Modules).
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import nn

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")

RTOL, ATOL = 1e-10, 1e-12


def assert_same_computation(layer, x: np.ndarray, use_gcnn_kernels: bool = False) -> None:
    """The module from_numpy(layer) gives layer's output and gradients for input x."""
    module = gt.from_numpy(layer, use_gcnn_kernels=use_gcnn_kernels)
    out = layer(x)
    grad_out = np.random.default_rng(99).standard_normal(out.shape)
    grad_x = layer.backward(grad_out)

    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    out_torch = module(x_torch)
    (out_torch * torch.from_numpy(grad_out)).sum().backward()

    np.testing.assert_allclose(out_torch.detach().numpy(), out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(x_torch.grad.numpy(), grad_x, rtol=RTOL, atol=ATOL)
    ours = dict(layer.named_parameters())
    theirs = dict(module.named_parameters())
    assert list(ours) == list(theirs)
    for name, parameter in ours.items():
        np.testing.assert_allclose(
            theirs[name].grad.numpy(), parameter.grad, rtol=RTOL, atol=ATOL, err_msg=name
        )


def random(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("use_gcnn_kernels", [False, True])
@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize(
    "kernel, stride, padding, bias",
    [
        (3, 1, 0, True),
        (3, 2, 1, False),
        (2, 1, 1, True),
        (3, 1, "same", True),
        (3, (2, 1), 0, True),
    ],
)
def test_lifting_and_group_convolutions(group, kernel, stride, padding, bias, use_gcnn_kernels):
    order = 4 if group == "p4" else 8
    keywords = {
        "group": group,
        "stride": stride,
        "padding": padding,
        "bias": bias,
        "dtype": np.float64,
    }
    lifting = nn.LiftingConv(2, 3, kernel, rng=0, **keywords)
    assert_same_computation(lifting, random((2, 2, 7, 6)), use_gcnn_kernels)
    convolution = nn.GroupConv(2, 3, kernel, rng=1, **keywords)
    assert_same_computation(convolution, random((2, 2, order, 6, 7)), use_gcnn_kernels)


@pytest.mark.parametrize("use_gcnn_kernels", [False, True])
def test_unbatched_input_gives_unbatched_output(use_gcnn_kernels):
    layer = nn.LiftingConv(2, 3, 3, padding=1, dtype=np.float64, rng=0)
    assert_same_computation(layer, random((2, 5, 5)), use_gcnn_kernels)
    assert_same_computation(
        nn.GroupConv(2, 3, 3, dtype=np.float64, rng=0), random((2, 4, 5, 5)), use_gcnn_kernels
    )


@pytest.mark.parametrize("use_gcnn_kernels", [False, True])
@pytest.mark.parametrize(
    "kernel, stride, padding", [(3, 1, 0), ((3, 2), 2, 1), (4, 1, "same"), ((1, 3), 1, "valid")]
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_planar_convolution(kernel, stride, padding, use_gcnn_kernels):
    layer = nn.Conv2d(2, 3, kernel, stride=stride, padding=padding, dtype=np.float64, rng=0)
    assert_same_computation(layer, random((2, 2, 7, 6)), use_gcnn_kernels)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norms_train_and_eval(momentum):
    for layer, shape in (
        (nn.GroupBatchNorm(3, momentum=momentum, dtype=np.float64), (4, 3, 4, 5, 5)),
        (nn.BatchNorm2d(3, momentum=momentum, dtype=np.float64), (4, 3, 5, 5)),
    ):
        layer.weight[...] = [0.5, 2.0, -1.0]
        layer.bias[...] = [0.1, 0.0, -0.3]
        module = gt.from_numpy(layer)
        for step in range(2):  # running statistics must follow the same updates
            x = random(shape, seed=step) * 3 + 1
            np.testing.assert_allclose(
                module(torch.from_numpy(x)).detach().numpy(), layer(x), rtol=RTOL, atol=ATOL
            )
        for name, value in layer.state_dict().items():
            np.testing.assert_allclose(module.state_dict()[name].numpy(), value, rtol=RTOL)
        layer.eval()
        module.eval()
        x = random(shape, seed=5)
        np.testing.assert_allclose(
            module(torch.from_numpy(x)).detach().numpy(), layer(x), rtol=RTOL, atol=ATOL
        )
        assert_same_computation(layer.train(), random(shape, seed=6))


def test_batch_norm_without_affine_or_running_statistics():
    layer = nn.GroupBatchNorm(2, affine=False, track_running_stats=False, dtype=np.float64)
    assert_same_computation(layer, random((3, 2, 4, 3, 3)))
    x = random((3, 2, 4, 3, 3), seed=1)  # eval mode without running statistics: the batch's
    module = gt.from_numpy(layer.eval())
    np.testing.assert_allclose(
        module(torch.from_numpy(x)).detach().numpy(), layer(x), rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize("reduce", ["max", "mean", "sum"])
def test_group_pool(reduce):
    assert_same_computation(nn.GroupPool(reduce), random((2, 3, 8, 4, 5)))
    assert_same_computation(nn.GroupPool(reduce), random((3, 4, 4, 5)))


def test_group_max_pool_routes_ties_to_the_first_orientation():
    # after a ReLU, whole fibres are zero: both libraries send the gradient to orientation 0
    assert_same_computation(nn.GroupPool("max"), np.zeros((1, 2, 4, 2, 2)))


@pytest.mark.parametrize(
    "kernel, stride, padding, reduce",
    [(2, None, 0, "max"), (3, 2, 1, "max"), (3, 2, 1, "mean"), (None, None, 0, "max"),
     (None, None, 0, "mean"), ((2, 3), (1, 2), (1, 0), "max")],
)  # fmt: skip
def test_spatial_pool(kernel, stride, padding, reduce):
    layer = nn.SpatialPool(kernel, stride, padding, reduce)
    assert_same_computation(layer, random((2, 3, 4, 7, 6)))
    assert_same_computation(layer, random((3, 7, 6)))
    assert_same_computation(layer, np.zeros((1, 2, 4, 4)))  # ties: the first in row-major order


def test_relu_linear_flatten():
    assert_same_computation(nn.ReLU(), np.array([[-1.0, 0.0, 2.0, -0.0, np.inf]]))
    assert_same_computation(nn.Linear(5, 3, dtype=np.float64, rng=0), random((4, 5)))
    assert_same_computation(nn.Linear(5, 3, bias=False, dtype=np.float64, rng=0), random((4, 5)))
    assert_same_computation(nn.Flatten(), random((2, 3, 2, 2)))


def test_relu_at_nan_the_one_documented_difference():
    # docs/design.md, §10.1 Modules: PyTorch's ReLU passes the gradient at NaN, gcnn's gives 0
    x = np.array([np.nan, 1.0])
    layer = nn.ReLU()
    assert np.isnan(layer(x)[0])
    np.testing.assert_array_equal(layer.backward(np.ones(2)), [0.0, 1.0])
    x_torch = torch.from_numpy(x).requires_grad_(True)
    out = gt.from_numpy(layer)(x_torch)
    assert torch.isnan(out[0])
    out.sum().backward()
    np.testing.assert_array_equal(x_torch.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("factory", ["z2cnn", "p4cnn", "p4mcnn"])
def test_an_empty_batch_gives_an_empty_batch(factory):
    # what a process of a distributed run gets when a batch has fewer images than processes
    module = getattr(gt.models, factory)(channels=2, padding=1, rng=0)
    empty = torch.zeros(0, 1, 8, 8)
    for use_gcnn_kernels in (False, True):
        gt.set_gcnn_kernels(module, use_gcnn_kernels)
        for mode in ("train", "eval"):
            assert getattr(module, mode)()(empty).shape == (0, 10)


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_seed_draws_the_weights_gcnn_draws(dtype):
    pairs = [
        (gt.LiftingConv(3, 4, 3, group="p4m", dtype=dtype, rng=7),
         nn.LiftingConv(3, 4, 3, group="p4m", dtype=dtype, rng=7)),
        (gt.GroupConv(3, 4, 5, dtype=dtype, rng=7), nn.GroupConv(3, 4, 5, dtype=dtype, rng=7)),
        (gt.Conv2d(3, 4, (3, 2), dtype=dtype, rng=7), nn.Conv2d(3, 4, (3, 2), dtype=dtype, rng=7)),
        (gt.Linear(3, 4, dtype=dtype, rng=7), nn.Linear(3, 4, dtype=dtype, rng=7)),
    ]  # fmt: skip
    for module, layer in pairs:
        state = module.state_dict()
        assert list(state) == list(layer.state_dict())
        for name, value in layer.state_dict().items():
            assert state[name].dtype == torch.from_numpy(value).dtype
            np.testing.assert_array_equal(state[name].numpy(), value)


def test_without_a_seed_torch_s_generator_draws_and_a_seed_leaves_it_alone():
    for build in (
        lambda rng: gt.GroupConv(2, 3, 3, rng=rng),
        lambda rng: gt.Conv2d(2, 3, 3, rng=rng),
        lambda rng: gt.Linear(2, 3, rng=rng),
    ):
        torch.manual_seed(5)
        first = build(None).weight.detach().clone()
        torch.manual_seed(5)
        assert torch.equal(build(None).weight, first)
        assert not torch.equal(build(None).weight, first)
        bound = 1 / np.sqrt(np.prod(first.shape[1:]))
        assert float(first.abs().max()) <= bound
        state = torch.random.get_rng_state()
        build(0)
        assert torch.equal(torch.random.get_rng_state(), state)


def test_models_follow_the_same_rule_and_conversion_leaves_torch_s_generator_alone():
    torch.manual_seed(3)
    first = gt.models.p4cnn(channels=2).state_dict()
    torch.manual_seed(3)
    again = gt.models.p4cnn(channels=2).state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    state = torch.random.get_rng_state()
    gt.from_numpy(nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Linear(2, 2, rng=0)))
    gt.models.p4mcnn(channels=2, rng=0)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_constructors_check_their_arguments_as_gcnn_does():
    with pytest.raises(ValueError, match="kernel_size must be square"):
        gt.LiftingConv(1, 2, (3, 2))
    with pytest.raises(ValueError, match="padding='same' needs an odd kernel"):
        gt.GroupConv(1, 2, 4, padding="same")
    with pytest.raises(ValueError, match="group must be"):
        gt.GroupConv(1, 2, 3, group="p6")
    with pytest.raises(ValueError, match="padding must be at most half"):
        gt.SpatialPool(2, padding=2)
    with pytest.raises(ValueError, match="reduce must be"):
        gt.GroupPool("median")
    with pytest.raises(ValueError, match="momentum must be in"):
        gt.GroupBatchNorm(3, momentum=2.0)
    with pytest.raises(TypeError, match="use_gcnn_kernels must be True or False"):
        gt.LiftingConv(1, 2, 3, use_gcnn_kernels="yes")
    with pytest.raises(TypeError, match="floating-point dtype"):
        gt.LiftingConv(1, 2, 3, dtype=torch.int32)
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        gt.BatchNorm2d(3, dtype=np.int64)


def test_inputs_of_the_wrong_layout_are_named():
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4, 8, H, W\)"):
        # (N, 8, 4, H, W) has as many values per pixel as (N, 4, 8, H, W) but a wrong layout
        gt.GroupConv(4, 1, 3, group="p4m")(torch.zeros(1, 8, 4, 5, 5))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, H, W\)"):
        gt.LiftingConv(3, 1, 3)(torch.zeros(1, 5, 5, 3))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, \|G\|, H, W\)"):
        gt.GroupBatchNorm(3)(torch.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, H, W\)"):
        gt.BatchNorm2d(3)(torch.zeros(2, 4, 5, 5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_other_dtypes_compute_through_pytorch(dtype):
    net = gt.models.p4cnn(channels=2, padding=1, rng=0, dtype=torch.float64).eval()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    expected = net(x)
    lower = gt.models.p4cnn(channels=2, padding=1, rng=0, dtype=dtype).eval()
    assert all(p.dtype == dtype for p in lower.parameters())
    tolerance = 1e-4 if dtype == torch.float32 else 0.1
    torch.testing.assert_close(
        lower(x.to(dtype)).double(), expected, rtol=tolerance, atol=tolerance
    )
