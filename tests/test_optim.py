"""gcnn.optim: SGD and Adam against torch.optim and closed forms; in-place updates; state."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gcnn import optim

SHAPES = [(3, 4), (5,), (2, 2, 3)]


class Param:
    """The smallest parameter: an array updated in place and its gradient."""

    def __init__(self, data, grad=None):
        self.data = data
        self.grad = grad


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def make_params(rng, dtype=np.float64):
    return [Param(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]


def gradient_schedule(rng, steps, dtype=np.float64):
    """Random gradients per step and parameter; some are None (the parameter is skipped)."""
    return [
        [
            None if (step + index) % 7 == 3 else rng.standard_normal(shape).astype(dtype)
            for index, shape in enumerate(SHAPES)
        ]
        for step in range(steps)
    ]


def run(optimizer, params, schedule):
    for grads in schedule:
        for param, grad in zip(params, grads):
            param.grad = None if grad is None else grad.copy()
        optimizer.step()


SGD_SETTINGS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.8, "nesterov": True},
    {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    {"lr": 0.1, "weight_decay": 0.2},
]
ADAM_SETTINGS = [
    {},
    {"lr": 0.01},
    {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.01, "betas": (0.3, 0.5), "eps": 1e-3, "amsgrad": True, "weight_decay": 0.05},
    {"lr": 0.05, "betas": (0.0, 0.0)},
    {"lr": 0.01, "betas": (0.6, 0.9)},  # 1 - beta1 >= 0.5: torch's other lerp formula
]
SETTINGS = [("SGD", s) for s in SGD_SETTINGS] + [("Adam", s) for s in ADAM_SETTINGS]
IDS = [f"{name}-{settings}" for name, settings in SETTINGS]


# --------------------------------------------------------------------------- against PyTorch


@pytest.mark.parametrize("name, settings", SETTINGS, ids=IDS)
def test_matches_torch_float64(rng, name, settings):
    torch = pytest.importorskip("torch")
    params = make_params(rng)
    tensors = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    ours = getattr(optim, name)(params, **settings)
    theirs = getattr(torch.optim, name)(tensors, foreach=False, **settings)
    for grads in gradient_schedule(rng, steps=25):
        for param, tensor, grad in zip(params, tensors, grads):
            param.grad = None if grad is None else grad.copy()
            tensor.grad = None if grad is None else torch.tensor(grad)
        ours.step()
        theirs.step()
        for param, tensor in zip(params, tensors):
            # rtol as asked; the tiny atol covers elements passing near zero, where torch's
            # fused multiply-adds (one rounding instead of two) differ in the last bits.
            np.testing.assert_allclose(param.data, tensor.detach().numpy(), rtol=1e-12, atol=1e-14)
    # The state matches torch's too, under torch's names.
    state = ours.state_dict()
    for index, tensor in enumerate(tensors):
        for key, value in theirs.state[tensor].items():
            ours_value = state[f"state.{index}.{key}"]
            if key == "step":
                assert ours_value == int(value.item())
            else:
                np.testing.assert_allclose(
                    ours_value, value.numpy(), rtol=1e-12, atol=1e-14, err_msg=key
                )


@pytest.mark.parametrize(
    "name, settings",
    [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}), ("Adam", {"amsgrad": True})],
)
def test_matches_torch_float32_and_stays_float32(rng, name, settings):
    torch = pytest.importorskip("torch")
    params = make_params(rng, np.float32)
    tensors = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    ours = getattr(optim, name)(params, **settings)
    theirs = getattr(torch.optim, name)(tensors, foreach=False, **settings)
    for grads in gradient_schedule(rng, steps=20, dtype=np.float32):
        for param, tensor, grad in zip(params, tensors, grads):
            param.grad = None if grad is None else grad.copy()
            tensor.grad = None if grad is None else torch.tensor(grad)
        ours.step()
        theirs.step()
    for param, tensor in zip(params, tensors):
        assert param.data.dtype == np.float32
        np.testing.assert_allclose(param.data, tensor.detach().numpy(), rtol=1e-5, atol=1e-6)
    for key, value in ours.state_dict().items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


# --------------------------------------------------------------------------- closed forms


def test_sgd_plain_step_is_data_minus_lr_grad(rng):
    data = rng.standard_normal((4, 3))
    grad = rng.standard_normal((4, 3))
    param = Param(data.copy(), grad.copy())
    optim.SGD([param], lr=0.3).step()
    np.testing.assert_array_equal(param.data, data - 0.3 * grad)


def test_sgd_weight_decay_adds_to_the_gradient(rng):
    data, grad = rng.standard_normal(6), rng.standard_normal(6)
    param = Param(data.copy(), grad.copy())
    optim.SGD([param], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(param.data, data - 0.1 * (grad + 0.5 * data), rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_with_constant_gradient(rng, nesterov):
    data, grad = rng.standard_normal(5), rng.standard_normal(5)
    param = Param(data.copy())
    momentum, dampening = 0.9, 0.0 if nesterov else 0.25
    opt = optim.SGD([param], lr=0.1, momentum=momentum, dampening=dampening, nesterov=nesterov)
    buffers = [grad, momentum * grad + (1 - dampening) * grad]  # the first is undamped
    expected = data.copy()
    for buffer in buffers:
        param.grad = grad.copy()
        opt.step()
        expected -= 0.1 * (grad + momentum * buffer if nesterov else buffer)
        np.testing.assert_allclose(param.data, expected, rtol=1e-14)


def test_adam_first_step_moves_by_lr_against_the_gradient(rng):
    grad = rng.standard_normal(50) * np.logspace(-3, 3, 50)
    grad[7] = 0.0
    data = rng.standard_normal(50)
    param = Param(data.copy(), grad.copy())
    optim.Adam([param], lr=0.01).step()
    np.testing.assert_allclose(param.data - data, -0.01 * np.sign(grad), rtol=1e-4, atol=1e-12)
    assert param.data[7] == data[7]


def test_adam_constant_gradient_moves_lr_per_step(rng):
    # With a constant gradient the bias-corrected moments are g and g**2 exactly, so every
    # step moves lr * g / (|g| + eps).
    grad = rng.standard_normal(8) + np.sign(rng.standard_normal(8))
    data = rng.standard_normal(8)
    param = Param(data.copy())
    opt = optim.Adam([param], lr=0.02, betas=(0.7, 0.9), eps=1e-8)
    for _ in range(10):
        param.grad = grad.copy()
        opt.step()
    np.testing.assert_allclose(param.data, data - 10 * 0.02 * grad / (np.abs(grad) + 1e-8))


def test_adam_amsgrad_uses_the_largest_second_moment():
    param = Param(np.zeros(1))
    opt = optim.Adam([param], lr=0.1, betas=(0.0, 0.5), eps=0.0, amsgrad=True)
    for grad in (4.0, 1.0):
        param.grad = np.array([grad])
        opt.step()
    # v1 = 0.5 * 16 = 8, v2 = 0.5 * 8 + 0.5 * 1 = 4.5: max stays 8; bias corrections are
    # 1 - 0.5**2 = 0.75 for v, and 1 for m (beta1 = 0), so step 2 moves 0.1 * 1 / sqrt(8/0.75).
    first = -0.1 * 4.0 / np.sqrt(8.0 / 0.5)
    second = -0.1 * 1.0 / np.sqrt(8.0 / 0.75)
    np.testing.assert_allclose(param.data, [first + second], rtol=1e-14)
    np.testing.assert_array_equal(opt.state_dict()["state.0.max_exp_avg_sq"], [8.0])


# --------------------------------------------------------------------------- in place


@pytest.mark.parametrize("name, settings", SETTINGS, ids=IDS)
def test_step_updates_data_in_place(rng, name, settings):
    params = make_params(rng)
    arrays = [p.data for p in params]
    views = [p.data.reshape(-1)[::2] for p in params]  # taken before step()
    before = [v.copy() for v in views]
    opt = getattr(optim, name)(params, **settings)
    run(opt, params, gradient_schedule(rng, steps=3))
    for param, array, view, old in zip(params, arrays, views, before):
        assert param.data is array
        assert not np.array_equal(view, old)
        np.testing.assert_array_equal(view, param.data.reshape(-1)[::2])


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_step_on_strided_view_updates_its_base(rng, name):
    base = rng.standard_normal((6, 8))
    untouched = base[1::2].copy()
    param = Param(base[::2, ::2], np.ones((3, 4)))
    opt = getattr(optim, name)([param], lr=0.1)
    expected_view = base[::2, ::2] - 0.1 * (1.0 if name == "SGD" else 1.0 / (1.0 + 1e-8))
    opt.step()
    np.testing.assert_allclose(base[::2, ::2], expected_view, rtol=1e-12)
    np.testing.assert_array_equal(base[1::2], untouched)


@pytest.mark.parametrize("name, settings", SETTINGS, ids=IDS)
def test_step_leaves_gradients_alone(rng, name, settings):
    params = make_params(rng)
    grads = [rng.standard_normal(shape) for shape in SHAPES]
    for param, grad in zip(params, grads):
        param.grad = grad.copy()
    opt = getattr(optim, name)(params, **settings)
    opt.step()
    opt.step()
    for param, grad in zip(params, grads):
        np.testing.assert_array_equal(param.grad, grad)


def test_float32_param_with_float64_grad_stays_float32(rng):
    param = Param(np.ones(4, np.float32), np.full(4, 0.1))
    array = param.data
    for opt in (optim.SGD([param], lr=0.5, momentum=0.9), optim.Adam([param])):
        opt.step()
        assert param.data is array and param.data.dtype == np.float32
        for value in opt.state_dict().values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
    np.testing.assert_allclose(param.data, np.float32(1 - 0.05 - 0.001), rtol=1e-5)


def test_none_gradient_is_skipped(rng):
    first, second = Param(np.ones(3), np.ones(3)), Param(np.ones(2))
    opt = optim.Adam([first, second], lr=0.1)
    opt.step()
    second.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(second.data, 1 - 0.1 / (1 + 1e-8))
    state = opt.state_dict()
    assert state["state.0.step"] == 2 and state["state.1.step"] == 1

    sgd_param = Param(np.ones(3))
    sgd = optim.SGD([sgd_param], lr=0.1, momentum=0.9)
    sgd.step()
    np.testing.assert_array_equal(sgd_param.data, np.ones(3))
    assert "state.0.momentum_buffer" not in sgd.state_dict()


# --------------------------------------------------------------------------- zero_grad and lr


def test_zero_grad_fills_in_place(rng):
    params = make_params(rng)
    grads = [rng.standard_normal(shape) for shape in SHAPES]
    for param, grad in zip(params, grads[:2]):
        param.grad = grad
    optim.SGD(params, lr=0.1).zero_grad()
    for param, grad in zip(params[:2], grads[:2]):
        assert param.grad is grad
        np.testing.assert_array_equal(grad, 0.0)
    assert params[2].grad is None


def test_zero_grad_needs_arrays():
    param = Param(np.ones(2), [1.0, 2.0])
    with pytest.raises(TypeError, match=r"params\[0\]\.grad must be an ndarray or None"):
        optim.SGD([param], lr=0.1).zero_grad()


def test_lr_is_settable_between_steps():
    param = Param(np.zeros(2), np.ones(2))
    opt = optim.SGD([param], lr=0.1)
    opt.step()
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(param.data, [-0.6, -0.6], rtol=1e-15)
    assert opt.lr == 0.5 and opt.state_dict()["lr"] == 0.5
    with pytest.raises(ValueError, match="lr must be nonnegative, got -1.0"):
        opt.lr = -1
    assert opt.lr == 0.5


def test_hyperparameters_are_readable():
    param = Param(np.zeros(2))
    sgd = optim.SGD([param], lr=0.1, momentum=0.9, dampening=0.0, weight_decay=1e-4)
    assert (sgd.lr, sgd.momentum, sgd.dampening, sgd.weight_decay, sgd.nesterov) == (
        0.1,
        0.9,
        0.0,
        1e-4,
        False,
    )
    adam = optim.Adam([param], betas=[0.5, 0.6], amsgrad=True)
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay, adam.amsgrad) == (
        1e-3,
        (0.5, 0.6),
        1e-8,
        0.0,
        True,
    )
    assert adam.params == (param,)
    assert repr(sgd).startswith("SGD(1 parameters, lr=0.1, momentum=0.9")


# --------------------------------------------------------------------------- state dict


ROUND_TRIP = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
]


@pytest.mark.parametrize("through_npz", [False, True], ids=["dict", "npz"])
@pytest.mark.parametrize("name, settings", ROUND_TRIP)
def test_restored_optimizer_continues_identically(rng, name, settings, through_npz):
    schedule = gradient_schedule(rng, steps=20)
    params = make_params(rng)
    original = getattr(optim, name)(params, **settings)
    run(original, params, schedule[:10])

    saved = original.state_dict()
    if through_npz:
        buffer = io.BytesIO()
        np.savez(buffer, **saved)
        buffer.seek(0)
        saved = np.load(buffer)
    # A fresh optimizer with other hyperparameters over copies of the parameters.
    copies = [Param(p.data.copy()) for p in params]
    restored = getattr(optim, name)(copies, lr=123.0)
    restored.load_state_dict(saved)
    assert restored.state_dict().keys() == original.state_dict().keys()

    run(original, params, schedule[10:])
    run(restored, copies, schedule[10:])
    for param, copy in zip(params, copies):
        np.testing.assert_array_equal(copy.data, param.data)
    assert restored.lr == original.lr


def test_state_dict_holds_copies(rng):
    param = Param(np.ones(3), np.ones(3))
    opt = optim.SGD([param], lr=0.1, momentum=0.9)
    opt.step()
    saved = opt.state_dict()
    buffer_before = saved["state.0.momentum_buffer"].copy()
    opt.step()
    np.testing.assert_array_equal(saved["state.0.momentum_buffer"], buffer_before)
    saved["state.0.momentum_buffer"][:] = 100.0
    np.testing.assert_array_equal(opt.state_dict()["state.0.momentum_buffer"], 1.9)


def test_state_dict_contents():
    param = Param(np.ones(3, np.float32), np.ones(3, np.float32))
    opt = optim.SGD([param], lr=0.1, momentum=0.9)
    assert opt.state_dict() == {
        "num_params": 1,
        "lr": 0.1,
        "momentum": 0.9,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
    }
    opt.step()
    assert set(opt.state_dict()) > {"state.0.momentum_buffer"}


def test_load_state_dict_casts_into_param_dtype():
    param = Param(np.ones(2, np.float32), np.ones(2, np.float32))
    opt = optim.SGD([param], lr=0.1, momentum=0.5)
    opt.load_state_dict(
        {
            "num_params": 1,
            "lr": 0.1,
            "momentum": 0.5,
            "dampening": 0.0,
            "weight_decay": 0.0,
            "nesterov": False,
            "state.0.momentum_buffer": np.array([2.0, 4.0]),
        }
    )
    opt.step()
    buffer = opt.state_dict()["state.0.momentum_buffer"]
    assert buffer.dtype == np.float32
    np.testing.assert_array_equal(buffer, [2.0, 3.0])


def good_sgd_state():
    param = Param(np.ones((2, 3)), np.ones((2, 3)))
    opt = optim.SGD([param, Param(np.ones(4))], lr=0.1, momentum=0.9)
    opt.step()
    return opt, opt.state_dict()


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda s: s.update(num_params=3), ValueError, "is for 3 parameters, .* has 2"),
        (lambda s: s.pop("num_params"), ValueError, "missing 'num_params'"),
        (lambda s: s.pop("momentum"), ValueError, r"missing 'momentum' \(is it from another"),
        (lambda s: s.update({"state.0.exp_avg": np.ones((2, 3))}), ValueError, "unexpected"),
        (lambda s: s.update({"state.2.momentum_buffer": np.ones(4)}), ValueError, "unexpected"),
        (lambda s: s.update({"extra": 1}), ValueError, "unexpected entry 'extra'"),
        (
            lambda s: s.update({"state.0.momentum_buffer": np.ones(6)}),
            ValueError,
            r"has shape \(6,\) but params\[0\] has shape \(2, 3\)",
        ),
        (
            lambda s: s.update({"state.0.momentum_buffer": np.ones((2, 3), complex)}),
            TypeError,
            "must be a real array",
        ),
        (lambda s: s.update(lr=-0.5), ValueError, "lr must be nonnegative"),
        (lambda s: s.update(nesterov=True, dampening=0.5), ValueError, "nesterov=True requires"),
        (lambda s: s.update(nesterov="yes"), TypeError, "nesterov must be True or False"),
    ],
)
def test_load_state_dict_errors_change_nothing(change, error, match):
    opt, state = good_sgd_state()
    before = opt.state_dict()
    change(state)
    with pytest.raises(error, match=match):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_load_state_dict_needs_a_mapping():
    opt, _ = good_sgd_state()
    with pytest.raises(TypeError, match="state_dict must be a mapping, got list"):
        opt.load_state_dict([("lr", 0.1)])


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda s: s.pop("state.0.exp_avg_sq"), ValueError, "for parameter 0, Adam with"),
        (lambda s: s.update(amsgrad=True), ValueError, r"amsgrad=True needs .*max_exp_avg_sq"),
        (lambda s: s.update({"state.0.step": 0}), ValueError, "must be positive, got 0"),
        (lambda s: s.update({"state.0.step": 1.5}), TypeError, "must be an integer, got 1.5"),
        (lambda s: s.update(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
        (lambda s: s.pop("eps"), ValueError, "missing 'eps'"),
    ],
)
def test_load_adam_state_dict_errors(change, error, match):
    param = Param(np.ones(3), np.ones(3))
    opt = optim.Adam([param])
    opt.step()
    state = opt.state_dict()
    change(state)
    with pytest.raises(error, match=match):
        opt.load_state_dict(state)
    assert opt.amsgrad is False and opt.betas == (0.9, 0.999)


def test_sgd_state_does_not_load_into_adam():
    _, state = good_sgd_state()
    opt = optim.Adam([Param(np.ones((2, 3))), Param(np.ones(4))])
    with pytest.raises(ValueError, match="missing 'betas', 'eps', 'amsgrad'"):
        opt.load_state_dict(state)


# --------------------------------------------------------------------------- argument errors


def test_params_may_be_any_iterable(rng):
    params = make_params(rng)
    opt = optim.SGD((p for p in params), lr=0.1)
    assert opt.params == tuple(params)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ([], ValueError, "optimizer got an empty parameter list"),
        (iter([]), ValueError, "optimizer got an empty parameter list"),
        (Param(np.ones(2)), TypeError, "got a single Param; wrap it in a list"),
        (np.ones((2, 2)), TypeError, "got a single ndarray"),
        (5, TypeError, "params must be an iterable of parameters .* got int"),
        ([np.ones(2)], TypeError, r"params\[0\] must have a \.data ndarray and a \.grad"),
        ([Param([1.0, 2.0])], TypeError, r"params\[0\] must have a \.data ndarray"),
        ([Param(np.ones(2, int))], TypeError, r"params\[0\]\.data must have a floating dtype"),
    ],
)
def test_bad_params(params, error, match):
    for name in ("SGD", "Adam"):
        with pytest.raises(error, match=match):
            getattr(optim, name)(params, lr=0.1)


def test_read_only_and_repeated_params():
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\]\.data is read-only"):
        optim.SGD([Param(frozen)], lr=0.1)
    param = Param(np.ones(2))
    with pytest.raises(ValueError, match=r"params\[2\] is the same parameter as params\[0\]"):
        optim.Adam([param, Param(np.ones(2)), param])


@pytest.mark.parametrize(
    "settings, error, match",
    [
        ({"lr": -0.1}, ValueError, "lr must be nonnegative, got -0.1"),
        ({"lr": 0.1, "momentum": -0.5}, ValueError, "momentum must be nonnegative"),
        ({"lr": 0.1, "weight_decay": -1e-4}, ValueError, "weight_decay must be nonnegative"),
        ({"lr": 0.1, "nesterov": True}, ValueError, "nesterov=True requires momentum > 0"),
        (
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True},
            ValueError,
            "dampening == 0, got momentum=0.9 and dampening=0.1",
        ),
        ({"lr": float("nan")}, ValueError, "lr must be finite, got nan"),
        ({"lr": 0.1, "dampening": float("inf")}, ValueError, "dampening must be finite"),
        ({"lr": True}, TypeError, "lr must be a real number, got True"),
        ({"lr": "0.1"}, TypeError, "lr must be a real number, got str"),
        ({"lr": np.array([0.1])}, TypeError, r"lr must be a real number, got an array of shape"),
        ({"lr": 0.1, "momentum": 0.9, "nesterov": 1}, TypeError, "nesterov must be True or False"),
    ],
)
def test_sgd_hyperparameter_errors(settings, error, match):
    with pytest.raises(error, match=match):
        optim.SGD([Param(np.ones(2))], **settings)


@pytest.mark.parametrize(
    "settings, error, match",
    [
        ({"lr": -1e-3}, ValueError, "lr must be nonnegative"),
        ({"eps": -1e-8}, ValueError, "eps must be nonnegative"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be nonnegative"),
        ({"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] must be in \[0, 1\), got 1.0"),
        ({"betas": (0.9, -0.1)}, ValueError, r"betas\[1\] must be in \[0, 1\), got -0.1"),
        ({"betas": (0.9,)}, ValueError, "betas must be a pair of numbers"),
        ({"betas": 0.9}, TypeError, "betas must be a pair of numbers"),
        ({"betas": (0.9, "a")}, TypeError, r"betas\[1\] must be a real number"),
        ({"amsgrad": "yes"}, TypeError, "amsgrad must be True or False"),
    ],
)
def test_adam_hyperparameter_errors(settings, error, match):
    with pytest.raises(error, match=match):
        optim.Adam([Param(np.ones(2))], **settings)


@pytest.mark.parametrize(
    "name, settings",
    [
        ("SGD", {"lr": -0.1}),
        ("SGD", {"lr": 0.1, "momentum": -0.5}),
        ("SGD", {"lr": 0.1, "weight_decay": -1.0}),
        ("SGD", {"lr": 0.1, "nesterov": True}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
        ("Adam", {"lr": -1.0}),
        ("Adam", {"eps": -1.0}),
        ("Adam", {"betas": (1.0, 0.9)}),
        ("Adam", {"betas": (0.9, -0.1)}),
        ("Adam", {"weight_decay": -1.0}),
    ],
)
def test_torch_rejects_the_same_hyperparameters(name, settings):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **settings)
    with pytest.raises(ValueError):
        getattr(optim, name)([Param(np.zeros(2))], **settings)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_bad_gradients(name):
    param = Param(np.ones((2, 3)), np.ones(6))
    opt = getattr(optim, name)([param], lr=0.1)
    with pytest.raises(ValueError, match=r"params\[0\]\.grad has shape \(6,\) but .* \(2, 3\)"):
        opt.step()
    param.grad = np.ones((2, 3), complex)
    with pytest.raises(TypeError, match=r"params\[0\]\.grad must be real, got dtype complex128"):
        opt.step()
    np.testing.assert_array_equal(param.data, 1.0)


def test_base_class_has_no_update_rule():
    with pytest.raises(NotImplementedError):
        optim.Optimizer([Param(np.ones(1))], lr=0.1).step()
