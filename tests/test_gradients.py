"""The functional backward passes: conv2d_backward, lift_backward, group_conv_backward.

Every layer here is linear in its input and in its weight, so the backward pass must be the exact
adjoint of the forward: ``<forward(x', w), g> == <x', grad_x(g)>`` and likewise for the weight.
That identity, checked on random arrays, pins each gradient to rounding; central finite
differences (the definition of a gradient) and PyTorch autograd on the expanded filter (when
torch is installed) check the same numbers independently.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcnn import _config, _core, _layers
from gcnn import reference as ref
from gcnn._layers import (
    conv2d,
    conv2d_backward,
    expand_filter,
    group_conv,
    group_conv_backward,
    lift,
    lift_backward,
)
from gcnn.groups import p4, p4m

GROUPS = {"p4": p4, "p4m": p4m}
FAST = settings(max_examples=40, deadline=None)


@st.composite
def planar_cases(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kh + 1)), draw(st.integers(0, kw + 1)))
    height = draw(st.integers(max(1, kh - 2 * padding[0]), 11))
    width = draw(st.integers(max(1, kw - 2 * padding[1]), 11))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, height, width))
    w = rng.standard_normal((c_out, c_in, kh, kw))
    return x, w, stride, padding, rng


@st.composite
def group_cases(draw, kind):
    group = draw(st.sampled_from(["p4", "p4m"]))
    order = GROUPS[group].order
    k = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k + 1))
    size = draw(st.integers(max(1, k - 2 * padding), 10))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "lift":
        x = rng.standard_normal((n, c_in, size, size))
        w = rng.standard_normal((c_out, c_in, k, k))
    else:
        x = rng.standard_normal((n, c_in, order, size, size))
        w = rng.standard_normal((c_out, c_in, order, k, k))
    return x, w, group, stride, padding, rng


def assert_adjoint(forward, backward_parts, x, w, g, rng):
    """<forward(x', w), g> == <x', grad_x> and <forward(x, w'), g> == <w', grad_w>."""
    grad_x, grad_w = backward_parts
    x_probe = rng.standard_normal(x.shape)
    w_probe = rng.standard_normal(w.shape)
    lhs_x = np.vdot(forward(x_probe, w), g)
    lhs_w = np.vdot(forward(x, w_probe), g)
    scale_x = np.abs(forward(np.abs(x_probe), np.abs(w))).ravel() @ np.abs(g).ravel() + 1
    scale_w = np.abs(forward(np.abs(x), np.abs(w_probe))).ravel() @ np.abs(g).ravel() + 1
    assert abs(lhs_x - np.vdot(x_probe, grad_x)) <= 1e-12 * scale_x
    assert abs(lhs_w - np.vdot(w_probe, grad_w)) <= 1e-12 * scale_w


# --------------------------------------------------------------------------- conv2d


@FAST
@given(planar_cases())
def test_conv2d_equals_numpy_reference(case):
    x, w, stride, padding, rng = case
    bias = rng.standard_normal(w.shape[0])
    pads = (padding[0], padding[0], padding[1], padding[1])
    expected = ref.correlate(x, w, bias, stride=stride, padding=pads)
    got = conv2d(x, w, bias, stride=stride, padding=padding)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


@FAST
@given(planar_cases())
def test_conv2d_backward_is_the_adjoint(case):
    x, w, stride, padding, rng = case
    out = conv2d(x, w, stride=stride, padding=padding)
    g = rng.standard_normal(out.shape)
    grad_x, grad_w, grad_b = conv2d_backward(g, x, w, stride=stride, padding=padding)
    assert grad_x.shape == x.shape and grad_w.shape == w.shape
    # (an absolute term for sums that cancel: the order of the additions differs from NumPy's)
    np.testing.assert_allclose(
        grad_b, g.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-14 * np.abs(g).sum()
    )

    def forward(a, b):
        return conv2d(a, b, stride=stride, padding=padding)

    assert_adjoint(forward, (grad_x, grad_w), x, w, g, rng)


@pytest.mark.parametrize("padding", [0, 1, "same", "valid"])
@pytest.mark.parametrize("k", [2, 3])
def test_conv2d_backward_against_finite_differences(padding, k):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 6, 7))
    w = rng.standard_normal((3, 2, k, k))
    b = rng.standard_normal(3)
    out = conv2d(x, w, b, padding=padding)
    r = rng.standard_normal(out.shape)  # the loss is sum(out * r)
    grad_x, grad_w, grad_b = conv2d_backward(r, x, w, padding=padding)
    eps = 1e-6
    for array, grad, name in ((x, grad_x, "x"), (w, grad_w, "w"), (b, grad_b, "b")):
        for index in [(0,) * array.ndim, tuple(s - 1 for s in array.shape)]:
            plus, minus = array.copy(), array.copy()
            plus[index] += eps
            minus[index] -= eps
            args = {"x": (x, w, b), "w": (x, w, b), "b": (x, w, b)}[name]
            args_plus = [plus if a is array else a for a in args]
            args_minus = [minus if a is array else a for a in args]
            numeric = (
                (conv2d(*args_plus, padding=padding) - conv2d(*args_minus, padding=padding)) * r
            ).sum() / (2 * eps)
            assert abs(numeric - grad[index]) < 1e-6 * max(1.0, abs(numeric)), (name, index)


def test_conv2d_same_padding_matches_pytorch_for_even_kernels():
    """PyTorch puts the extra row and column of an even kernel's 'same' padding after the image."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 5, 6))
    w = rng.standard_normal((1, 1, 2, 4))
    expected = ref.correlate(x, w, stride=(1, 1), padding=(0, 1, 1, 2))
    np.testing.assert_allclose(conv2d(x, w, padding="same"), expected, rtol=1e-12)
    gx, gw, _ = conv2d_backward(np.ones((1, 1, 5, 6)), x, w, padding="same")
    assert gx.shape == x.shape and gw.shape == w.shape


def test_conv2d_unbatched_input_gives_unbatched_gradients():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    out = conv2d(x, w)
    assert out.shape == (3, 3, 3)
    g = rng.standard_normal(out.shape)
    gx, gw, gb = conv2d_backward(g, x, w)
    gx_batched, gw_batched, gb_batched = conv2d_backward(g[None], x[None], w)
    np.testing.assert_array_equal(gx, gx_batched[0])
    np.testing.assert_array_equal(gw, gw_batched)
    np.testing.assert_array_equal(gb, gb_batched)


@pytest.mark.parametrize("kind", ["conv2d", "lift", "group"])
@pytest.mark.parametrize(
    "size, k, stride", [((4, 4), 4, 1), ((5, 4), 4, 2), ((3, 3), 3, 1), ((6, 5), 2, 5)]
)
def test_windows_that_cover_the_map_run_along_the_batch(monkeypatch, kind, size, k, stride):
    # One output position per map and no padding (the P4CNN's last layer): the forward and
    # the input gradient are products along the batch; the window covers x[..., :k, :k].
    rng = np.random.default_rng(11)
    calls = []
    real = _layers._batch_product
    monkeypatch.setattr(_layers, "_batch_product", lambda *a: calls.append(1) or real(*a))
    order = 1 if kind == "conv2d" else GROUPS["p4m"].order
    x_shape = {"conv2d": (5, 3), "lift": (5, 3), "group": (5, 3, order)}[kind] + size
    w_shape = {"conv2d": (4, 3), "lift": (4, 3), "group": (4, 3, order)}[kind] + (k, k)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(4)
    if kind == "conv2d":
        bank, forward_fn, backward_fn, keywords = w, conv2d, conv2d_backward, {}
    else:
        bank = expand_filter(w, "p4m", kind)
        forward_fn = lift if kind == "lift" else group_conv
        backward_fn = lift_backward if kind == "lift" else group_conv_backward
        keywords = {"group": "p4m"}
    out = forward_fn(x, w, b, stride=stride, **keywords)
    assert calls == [1]
    rows = x.reshape(5, -1, *size)[:, :, :k, :k].reshape(5, -1)
    expected = rows @ bank.reshape(bank.shape[0], -1).T + np.repeat(b, bank.shape[0] // 4)
    np.testing.assert_allclose(out.reshape(5, -1), expected, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    grad_x, grad_w, grad_b = backward_fn(g, x, w, stride=stride, **keywords)
    assert len(calls) == 2
    window = g.reshape(5, -1) @ bank.reshape(bank.shape[0], -1)
    flat_x = grad_x.reshape(5, -1, *size)
    np.testing.assert_allclose(flat_x[:, :, :k, :k].reshape(5, -1), window, rtol=1e-12, atol=1e-12)
    assert not flat_x[:, :, k:].any() and not flat_x[:, :, :, k:].any()

    def forward(a, c):
        return forward_fn(a, c, stride=stride, **keywords)

    assert_adjoint(forward, (grad_x, grad_w), x, w, g, rng)


# --------------------------------------------------------------------------- lift and group_conv


@FAST
@given(group_cases("lift"))
def test_lift_backward_is_the_adjoint(case):
    x, w, group, stride, padding, rng = case
    out = lift(x, w, group=group, stride=stride, padding=padding)
    g = rng.standard_normal(out.shape)
    grad_x, grad_w, grad_b = lift_backward(g, x, w, group=group, stride=stride, padding=padding)
    assert grad_w.shape == w.shape  # the compact weight on the group, not the expanded bank
    np.testing.assert_allclose(
        grad_b, g.sum(axis=(0, 2, 3, 4)), rtol=1e-12, atol=1e-14 * np.abs(g).sum()
    )

    def forward(a, b):
        return lift(a, b, group=group, stride=stride, padding=padding)

    assert_adjoint(forward, (grad_x, grad_w), x, w, g, rng)


@FAST
@given(group_cases("group"))
def test_group_conv_backward_is_the_adjoint(case):
    x, w, group, stride, padding, rng = case
    out = group_conv(x, w, group=group, stride=stride, padding=padding)
    g = rng.standard_normal(out.shape)
    grad_x, grad_w, grad_b = group_conv_backward(
        g, x, w, group=group, stride=stride, padding=padding
    )
    assert grad_w.shape == w.shape
    np.testing.assert_allclose(
        grad_b, g.sum(axis=(0, 2, 3, 4)), rtol=1e-12, atol=1e-14 * np.abs(g).sum()
    )

    def forward(a, b):
        return group_conv(a, b, group=group, stride=stride, padding=padding)

    assert_adjoint(forward, (grad_x, grad_w), x, w, g, rng)


@pytest.mark.parametrize("kind", ["lift", "group"])
@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_group_gradients_against_finite_differences(kind, group):
    rng = np.random.default_rng(7)
    order = GROUPS[group].order
    if kind == "lift":
        x = rng.standard_normal((2, 2, 7, 7))
        w = rng.standard_normal((2, 2, 3, 3))
        forward, backward = lift, lift_backward
    else:
        x = rng.standard_normal((2, 2, order, 6, 6))
        w = rng.standard_normal((2, 2, order, 3, 3))
        forward, backward = group_conv, group_conv_backward
    b = rng.standard_normal(2)
    out = forward(x, w, b, group=group, stride=2, padding=1)
    r = rng.standard_normal(out.shape)
    grad_x, grad_w, grad_b = backward(r, x, w, group=group, stride=2, padding=1)
    eps = 1e-6

    def loss(xx, ww, bb):
        return (forward(xx, ww, bb, group=group, stride=2, padding=1) * r).sum()

    for position, (array, grad) in enumerate(((x, grad_x), (w, grad_w), (b, grad_b))):
        direction = rng.standard_normal(array.shape)
        args_plus = [x, w, b]
        args_minus = [x, w, b]
        args_plus[position] = array + eps * direction
        args_minus[position] = array - eps * direction
        numeric = (loss(*args_plus) - loss(*args_minus)) / (2 * eps)
        assert abs(numeric - np.vdot(grad, direction)) < 1e-6 * max(1.0, abs(numeric))


def test_weight_gradient_is_folded_through_the_group_action():
    """grad_weight = E^T(grad of the expanded bank): the gradient of conv2d with the expanded
    filter, folded back by the transpose of expand_filter."""
    rng = np.random.default_rng(11)
    for group in ("p4", "p4m"):
        order = GROUPS[group].order
        x = rng.standard_normal((2, 3, order, 6, 6))
        w = rng.standard_normal((2, 3, order, 3, 3))
        out = group_conv(x, w, group=group)
        g = rng.standard_normal(out.shape)
        _, grad_w, _ = group_conv_backward(g, x, w, group=group)
        bank = expand_filter(w, group, "group")
        _, grad_bank, _ = conv2d_backward(g.reshape(2, -1, 4, 4), x.reshape(2, -1, 6, 6), bank)
        # <E(v), grad_bank> == <v, grad_w> for any v: grad_w is E^T(grad_bank)
        for _ in range(3):
            v = rng.standard_normal(w.shape)
            lhs = np.vdot(expand_filter(v, group, "group"), grad_bank)
            assert abs(lhs - np.vdot(v, grad_w)) < 1e-10 * abs(lhs) + 1e-10


def test_gradients_are_equivariant():
    """A loss that ignores orientation gives input gradients that turn with the input."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 9, 9))
    w = rng.standard_normal((3, 2, 3, 3))
    for g in range(4):
        turned = p4.transform_image(x, g)
        # loss = sum(lift(x)**2) / 2 is invariant, so d loss / d x turns with x
        grad = lift_backward(lift(x, w, padding=1), x, w, padding=1)[0]
        grad_turned = lift_backward(lift(turned, w, padding=1), turned, w, padding=1)[0]
        np.testing.assert_allclose(grad_turned, p4.transform_image(grad, g), atol=1e-11)


# --------------------------------------------------------------------------- dtypes, threads


def test_float32_gradients_are_float32_and_close_to_float64():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 4, 12, 12))
    w = rng.standard_normal((5, 3, 4, 3, 3))
    g = rng.standard_normal((4, 5, 4, 10, 10))
    exact = group_conv_backward(g, x, w)
    single = group_conv_backward(g.astype(np.float32), x.astype(np.float32), w.astype(np.float32))
    for got, want in zip(single, exact):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # a float64 grad_out with float32 operands computes in float64, as NumPy would
    mixed = group_conv_backward(g, x.astype(np.float32), w.astype(np.float32))
    assert all(part.dtype == np.float64 for part in mixed)


def test_gradients_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 8, 4, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 8, 4, 3, 3)).astype(np.float32)
    g = rng.standard_normal((32, 8, 4, 18, 18)).astype(np.float32)
    previous = _config.set_num_threads(1)
    try:
        one = group_conv_backward(g, x, w)
        _config.set_num_threads(2)
        two = group_conv_backward(g, x, w)
    finally:
        _config.set_num_threads(previous)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 2, 4, 6, 6))
    w = rng.standard_normal((2, 2, 4, 3, 3))
    g = rng.standard_normal((2, 2, 4, 4, 4))
    copies = [a.copy() for a in (g, x, w)]
    group_conv_backward(g, x, w)
    for before, after in zip(copies, (g, x, w)):
        np.testing.assert_array_equal(before, after)


def test_any_layout_gives_the_contiguous_result():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((2, 4 * 4, 6, 6)).reshape(2, 4, 4, 6, 6)
    expected = lift_backward(g, x, w)
    variants = [
        (np.asfortranarray(g), np.asfortranarray(x), w),
        (g, x.astype(">f8"), w[:, :, ::-1, ::-1].copy()[:, :, ::-1, ::-1]),
        (g[..., ::1], x[:, :, :, :], np.asfortranarray(w)),
    ]
    for gv, xv, wv in variants:
        for got, want in zip(lift_backward(gv, xv, wv), expected):
            np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "function, x_shape, w_shape, g_shape",
    [
        (conv2d_backward, (1, 2, 5, 5), (3, 2, 3, 3), (1, 3, 4, 3)),
        (lift_backward, (1, 2, 5, 5), (3, 2, 3, 3), (1, 3, 3, 3)),
        (group_conv_backward, (1, 2, 4, 5, 5), (3, 2, 4, 3, 3), (1, 3, 4, 3, 2)),
    ],
)
def test_grad_out_of_the_wrong_shape_is_refused(function, x_shape, w_shape, g_shape):
    with pytest.raises(ValueError, match=r"grad_out must have the shape of the \w+ output"):
        function(np.ones(g_shape), np.ones(x_shape), np.ones(w_shape))


def test_backward_argument_errors_name_the_argument():
    x, w = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3))
    g = np.ones((1, 3, 4, 3, 3))
    with pytest.raises(TypeError, match="grad_out must be real"):
        lift_backward(g.astype(complex), x, w)
    with pytest.raises(ValueError, match="weight must have shape"):
        lift_backward(g, x, np.ones((3, 1, 3, 3)))
    with pytest.raises(ValueError, match="stride must be positive"):
        lift_backward(g, x, w, stride=0)
    with pytest.raises(ValueError, match="group must be"):
        lift_backward(g, x, w, group="c0")


class _CorrelateSpy:
    """gcnn._core with a count of its correlate calls (the input gradient's kernel)."""

    def __init__(self):
        self.correlate_calls = 0

    def __getattr__(self, name):
        return getattr(_core, name)

    def correlate(self, *args):
        self.correlate_calls += 1
        return _core.correlate(*args)


@pytest.mark.parametrize(
    ("function", "x_shape", "w_shape"),
    [
        (conv2d_backward, (2, 3, 7, 6), (4, 3, 3, 3)),
        (lift_backward, (2, 2, 7, 7), (3, 2, 3, 3)),
        (group_conv_backward, (2, 2, 4, 7, 7), (3, 2, 4, 3, 3)),
    ],
)
def test_input_grad_false_skips_only_the_input_gradient(monkeypatch, function, x_shape, w_shape):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    forward = {conv2d_backward: conv2d, lift_backward: lift, group_conv_backward: group_conv}
    g = rng.standard_normal(forward[function](x, w, padding=1, stride=(1, 2)).shape)
    spy = _CorrelateSpy()
    monkeypatch.setattr(_layers, "_core", spy)
    gx, gw, gb = function(g, x, w, padding=1, stride=(1, 2))
    assert spy.correlate_calls == 1 and gx.shape == x.shape
    none, gw_only, gb_only = function(g, x, w, padding=1, stride=(1, 2), input_grad=False)
    assert none is None and spy.correlate_calls == 1  # the input gradient was not computed
    np.testing.assert_array_equal(gw_only, gw)
    np.testing.assert_array_equal(gb_only, gb)
    with pytest.raises(TypeError, match="input_grad must be True or False"):
        function(g, x, w, padding=1, stride=(1, 2), input_grad="no")


@pytest.mark.parametrize(("out_channels", "size"), [(56, 12), (64, 10), (50, 6), (57, 5)])
def test_weight_gradient_of_wide_layers_on_small_maps(out_channels, size):
    """49 to 64 output channels on small maps take (on AVX-512) channel-vector tiles of four
    vectors: against float64, and the same numbers on any number of threads."""
    rng = np.random.default_rng(out_channels)
    x = rng.standard_normal((9, 5, size, size))
    g = rng.standard_normal((9, out_channels, size - 2, size - 2))
    exact = _core.grad_weight(x, g, (3, 3), (1, 1), (0, 0, 0, 0), 0, 0.0, 1, 0, 1)
    scale = _core.grad_weight(np.abs(x), np.abs(g), (3, 3), (1, 1), (0, 0, 0, 0), 0, 0.0, 1, 0, 1)
    x32, g32 = x.astype(np.float32), g.astype(np.float32)
    results = [
        _core.grad_weight(x32, g32, (3, 3), (1, 1), (0, 0, 0, 0), 0, 0.0, threads, 0, 0)
        for threads in (1, 2, 3)
    ]
    assert np.abs(results[0] - exact).max() <= 1e-6 * scale.max()
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


def test_channels_last_images_get_a_layout_hint():
    with pytest.raises(ValueError, match="channels-last.*NCHW"):
        lift(np.ones((32, 32, 3)), np.ones((4, 1, 3, 3)))
    with pytest.raises(ValueError, match="channels-last.*NCHW"):
        conv2d(np.ones((2, 32, 32, 3)), np.ones((4, 3, 3, 3)))


def test_core_grad_weight_backstop():
    x = np.ones((1, 2, 5, 5))
    g = np.ones((1, 3, 3, 3))
    assert _core.grad_weight(x, g, (3, 3)).shape == (3, 2, 3, 3)
    with pytest.raises(TypeError, match="grad_out must have the dtype of x"):
        _core.grad_weight(x, g.astype(np.float32), (3, 3))
    with pytest.raises(ValueError, match="grad_out must have shape"):
        _core.grad_weight(x, np.ones((1, 3, 2, 3)), (3, 3))
    with pytest.raises(ValueError, match="at least as large as the kernel"):
        _core.grad_weight(x, g, (6, 6))
    with pytest.raises(ValueError, match="dilation must be positive"):
        _core.correlate(x, np.ones((3, 2, 3, 3)), dilation=(0, 1))
    with pytest.raises(ValueError, match="dilation must be positive, and 1 unless"):
        _core.correlate(x, np.ones((3, 2, 3, 3)), boundary=2, dilation=(2, 1))


# --------------------------------------------------------------------------- PyTorch


def test_gradients_match_pytorch_autograd_on_the_expanded_filter():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for group in ("p4", "p4m"):
        order = GROUPS[group].order
        for stride, padding in ((1, 1), (2, 0), (2, 3)):
            x = rng.standard_normal((2, 3, order, 9, 9))
            w = rng.standard_normal((4, 3, order, 3, 3))
            out = group_conv(x, w, group=group, stride=stride, padding=padding)
            r = rng.standard_normal(out.shape)
            grad_x, grad_w, _ = group_conv_backward(
                r, x, w, group=group, stride=stride, padding=padding
            )
            # the expanded bank as a differentiable gather of the compact weight
            index = np.arange(w.size).reshape(w.shape)
            gather = torch.from_numpy(expand_filter(index, group, "group").round().astype(np.int64))
            tw = torch.tensor(w, requires_grad=True)
            tx = torch.tensor(x.reshape(2, -1, 9, 9), requires_grad=True)
            bank = tw.reshape(-1)[gather]
            tout = torch.nn.functional.conv2d(tx, bank, stride=stride, padding=padding)
            (tout * torch.from_numpy(r.reshape(tout.shape))).sum().backward()
            np.testing.assert_allclose(grad_x, tx.grad.numpy().reshape(x.shape), atol=1e-12)
            np.testing.assert_allclose(grad_w, tw.grad.numpy(), atol=1e-12)
