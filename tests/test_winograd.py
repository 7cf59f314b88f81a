"""Winograd's F(2x2,3x3), F(4x4,3x3) and F(2x2,5x5) paths of the C core.

The contract is docs/design.md, §9.1 One correlation primitive.

Every float32 Winograd result is compared with the float64 direct correlation of the same
(float32-representable) inputs.  The bound is relative to the rounding scale of the call: the
largest value of the correlation of ``|x|`` with ``|w|`` plus ``|bias|`` (a Winograd tile mixes
all its inputs, so an output whose own window is zero still carries its neighbours' rounding).
"""

from __future__ import annotations

import numpy as np
import pytest

import gcnn
from gcnn import _config, _core

#: The float32 error bound of docs/design.md, §9.1 One correlation primitive (relative).
WINOGRAD_F32_BOUND = 1e-5

TILES = ("winograd-f2", "winograd-f4")

#: (forced algorithm, kernel size): every Winograd variant of the C core.
VARIANTS = (("winograd-f2", 3), ("winograd-f4", 3), ("winograd-f2", 5))


def _operands(rng, batch, in_channels, out_channels, height, width, bias=True, kernel=3):
    x = rng.standard_normal((batch, in_channels, height, width)).astype(np.float32)
    w = rng.standard_normal((out_channels, in_channels, kernel, kernel)).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32) if bias else None
    return x, w, b


def _scale(x, w, b, **kwargs) -> float:
    """The rounding scale: max of |x| correlated with |w|, plus |bias|, in float64."""
    with _config.conv_algorithm("direct"):
        magnitude = gcnn.conv2d(
            np.abs(x.astype(np.float64)),
            np.abs(w.astype(np.float64)),
            None if b is None else np.abs(b.astype(np.float64)),
            **kwargs,
        )
    return float(magnitude.max())


def _reference(x, w, b, **kwargs) -> np.ndarray:
    with _config.conv_algorithm("direct"):
        return gcnn.conv2d(
            x.astype(np.float64),
            w.astype(np.float64),
            None if b is None else b.astype(np.float64),
            **kwargs,
        )


def _relative_error(result, reference, scale) -> float:
    return float(np.max(np.abs(result.astype(np.float64) - reference))) / scale


@pytest.mark.parametrize("tile, kernel", VARIANTS)
@pytest.mark.parametrize(
    "batch, in_channels, out_channels, height, width, padding",
    [
        (1, 1, 1, 3, 3, 0),
        (2, 1, 5, 7, 9, 1),
        (1, 3, 2, 8, 8, "same"),
        (3, 7, 11, 13, 6, 0),
        (2, 16, 16, 28, 28, 1),
        (1, 64, 8, 10, 17, "same"),
        (1, 5, 64, 32, 31, 1),
        (2, 33, 19, 4, 45, 0),
        (1, 2, 3, 1, 1, 1),
    ],
)
@pytest.mark.parametrize("bias", [False, True])
def test_winograd_within_bound_of_float64(
    tile, kernel, batch, in_channels, out_channels, height, width, padding, bias
):
    rng = np.random.default_rng(in_channels * 1000 + out_channels * 10 + height + kernel)
    if kernel == 5:  # the same shapes, grown by the extra taps
        height, width = height + 2, width + 2
        padding = padding if isinstance(padding, str) else 2 * padding
    x, w, b = _operands(rng, batch, in_channels, out_channels, height, width, bias, kernel)
    with _config.conv_algorithm(tile):
        result = gcnn.conv2d(x, w, b, padding=padding)
    reference = _reference(x, w, b, padding=padding)
    assert result.dtype == np.float32
    assert result.shape == reference.shape
    assert _relative_error(result, reference, _scale(x, w, b, padding=padding)) <= (
        WINOGRAD_F32_BOUND
    )


def test_winograd_is_not_direct_and_not_exact():
    """The forced paths really differ from direct correlation (by rounding only)."""
    rng = np.random.default_rng(1)
    x, w, b = _operands(rng, 2, 16, 16, 20, 20)
    results = {}
    for name in ("direct", "winograd-f2", "winograd-f4"):
        with _config.conv_algorithm(name):
            results[name] = gcnn.conv2d(x, w, b, padding=1)
    assert not np.array_equal(results["direct"], results["winograd-f2"])
    assert not np.array_equal(results["direct"], results["winograd-f4"])
    assert not np.array_equal(results["winograd-f2"], results["winograd-f4"])


def test_auto_takes_winograd_for_float32_with_channels():
    """auto picks Winograd for a 16->16 3x3 float32 layer, direct for 3 channels and stride 2."""
    rng = np.random.default_rng(2)
    x, w, b = _operands(rng, 2, 16, 16, 28, 28)
    with _config.conv_algorithm("auto"):
        auto = gcnn.conv2d(x, w, b, padding=1)
    with _config.conv_algorithm("winograd"):
        winograd = gcnn.conv2d(x, w, b, padding=1)
    with _config.conv_algorithm("direct"):
        direct = gcnn.conv2d(x, w, b, padding=1)
    np.testing.assert_array_equal(auto, winograd)
    assert not np.array_equal(auto, direct)

    x3 = x[:, :3]
    w3 = w[:, :3]
    with _config.conv_algorithm("auto"):
        auto = gcnn.conv2d(x3, w3, b, padding=1)
    with _config.conv_algorithm("direct"):
        direct = gcnn.conv2d(x3, w3, b, padding=1)
    np.testing.assert_array_equal(auto, direct)

    w7 = rng.standard_normal((16, 16, 7, 7)).astype(np.float32)
    for name in ("auto", "winograd"):  # Winograd does not apply: direct
        with _config.conv_algorithm(name):
            seven = gcnn.conv2d(x, w7, b, padding=3)
        with _config.conv_algorithm("direct"):
            np.testing.assert_array_equal(seven, gcnn.conv2d(x, w7, b, padding=3))
    with _config.conv_algorithm("auto"):  # stride 2: direct
        strided = gcnn.conv2d(x, w, b, padding=1, stride=2)
    with _config.conv_algorithm("direct"):
        np.testing.assert_array_equal(strided, gcnn.conv2d(x, w, b, padding=1, stride=2))


def test_auto_takes_f2_for_small_maps_with_many_channels():
    """auto takes F(2x2,3x3) for a P4CNN's 40 channels at 12x12 and 6x6 outputs (every path)."""
    rng = np.random.default_rng(12)
    for side in (12, 6):
        x, w, b = _operands(rng, 2, 40, 40, side, side)
        results = {}
        for name in ("auto", "winograd-f2", "winograd-f4", "direct"):
            with _config.conv_algorithm(name):
                results[name] = gcnn.conv2d(x, w, b, padding=1)
        np.testing.assert_array_equal(results["auto"], results["winograd-f2"])
        assert not np.array_equal(results["winograd-f2"], results["winograd-f4"])
        assert not np.array_equal(results["winograd-f2"], results["direct"])


def test_auto_takes_winograd_for_wide_5x5_layers():
    """auto picks F(2x2,5x5) for 64 -> 64 channels at 28x28, direct for 16 channels."""
    rng = np.random.default_rng(8)
    for channels, expect_winograd in ((64, True), (16, False)):
        x, w, b = _operands(rng, 1, channels, channels, 28, 28, kernel=5)
        results = {}
        for name in ("auto", "winograd-f2", "direct"):
            with _config.conv_algorithm(name):
                results[name] = gcnn.conv2d(x, w, b, padding=2)
        taken = "winograd-f2" if expect_winograd else "direct"
        np.testing.assert_array_equal(results["auto"], results[taken])
        assert not np.array_equal(results["winograd-f2"], results["direct"])


def test_float64_auto_is_direct_bit_for_bit():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 4, 12, 12))
    w = rng.standard_normal((16, 16, 4, 3, 3))
    b = rng.standard_normal(16)
    with _config.conv_algorithm("direct"):
        direct = gcnn.group_conv(x, w, b, padding="same")
    with _config.conv_algorithm("auto"):
        auto = gcnn.group_conv(x, w, b, padding="same")
    np.testing.assert_array_equal(auto, direct)
    with _config.conv_algorithm("winograd"):  # float64 Winograd only when asked
        asked = gcnn.group_conv(x, w, b, padding="same")
    assert not np.array_equal(asked, direct)
    np.testing.assert_allclose(asked, direct, rtol=0, atol=1e-12 * np.abs(direct).max())


@pytest.mark.parametrize("tile, kernel", VARIANTS)
def test_thread_count_does_not_change_winograd(tile, kernel):
    rng = np.random.default_rng(4)
    x, w, b = _operands(rng, 4, 24, 24, 30, 30, kernel=kernel)
    previous = gcnn.set_num_threads(1)
    try:
        with _config.conv_algorithm(tile):
            one = gcnn.conv2d(x, w, b, padding=kernel // 2)
            gcnn.set_num_threads(3)
            three = gcnn.conv2d(x, w, b, padding=kernel // 2)
    finally:
        gcnn.set_num_threads(previous)
    np.testing.assert_array_equal(one, three)


@pytest.mark.parametrize("tile, kernel", VARIANTS)
@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("kind", ["lift", "group_conv"])
def test_group_layers_within_bound(tile, kernel, group, kind):
    rng = np.random.default_rng(5)
    order = 4 if group == "p4" else 8
    axis = (order,) if kind == "group_conv" else ()
    x = rng.standard_normal((2, 6) + axis + (11, 11)).astype(np.float32)
    w = rng.standard_normal((5, 6) + axis + (kernel, kernel)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    layer = gcnn.lift if kind == "lift" else gcnn.group_conv
    with _config.conv_algorithm(tile):
        result = layer(x, w, b, group=group, padding="same")
    with _config.conv_algorithm("direct"):
        reference = layer(
            x.astype(np.float64),
            w.astype(np.float64),
            b.astype(np.float64),
            group=group,
            padding="same",
        )
        scale = float(
            layer(
                np.abs(x.astype(np.float64)),
                np.abs(w.astype(np.float64)),
                np.abs(b.astype(np.float64)),
                group=group,
                padding="same",
            ).max()
        )
    assert _relative_error(result, reference, scale) <= WINOGRAD_F32_BOUND


@pytest.mark.parametrize("tile, kernel", VARIANTS)
@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_equivariance_within_bound(tile, kernel, group):
    """check_equivariance of a lift + group_conv stack stays within the bound."""
    rng = np.random.default_rng(6)
    order = 4 if group == "p4" else 8
    w1 = rng.standard_normal((8, 3, kernel, kernel)).astype(np.float32)
    w2 = rng.standard_normal((8, 8, order, kernel, kernel)).astype(np.float32)
    x = rng.standard_normal((2, 3, 13, 13)).astype(np.float32)

    def stack(images):
        hidden = gcnn.lift(images, w1, group=group, padding="same")
        return gcnn.group_conv(hidden, w2, group=group, padding="same")

    def magnitude(images):
        hidden = gcnn.lift(
            np.abs(images), np.abs(w1.astype(np.float64)), group=group, padding="same"
        )
        return gcnn.group_conv(hidden, np.abs(w2.astype(np.float64)), group=group, padding="same")

    with _config.conv_algorithm(tile):
        errors = gcnn.check_equivariance(stack, x, group=group)
    with _config.conv_algorithm("direct"):
        scale = float(magnitude(x.astype(np.float64)).max())
    # both sides carry at most the bound's error (two layers: twice)
    assert errors.max_error <= 2 * 2 * WINOGRAD_F32_BOUND * scale
    assert errors.max_error > 0  # Winograd's rounding is not symmetric under T_g


@pytest.mark.parametrize("tile, kernel", VARIANTS)
def test_input_gradient_within_bound(tile, kernel):
    """conv2d_backward's input gradient is a stride-1 correlation: Winograd serves it."""
    rng = np.random.default_rng(7)
    x, w, _ = _operands(rng, 2, 12, 10, 15, 14, bias=False, kernel=kernel)
    grad_out = rng.standard_normal((2, 10, 15, 14)).astype(np.float32)
    pad = kernel // 2
    with _config.conv_algorithm(tile):
        grad_x, grad_w, _ = gcnn.conv2d_backward(grad_out, x, w, padding=pad)
    with _config.conv_algorithm("direct"):
        ref_x, ref_w, _ = gcnn.conv2d_backward(
            grad_out.astype(np.float64), x.astype(np.float64), w.astype(np.float64), padding=pad
        )
        scale = float(
            gcnn.conv2d_backward(
                np.abs(grad_out.astype(np.float64)),
                x.astype(np.float64),
                np.abs(w.astype(np.float64)),
                padding=pad,
            )[0].max()
        )
    assert _relative_error(grad_x, ref_x, scale) <= WINOGRAD_F32_BOUND
    np.testing.assert_allclose(grad_w, ref_w, rtol=1e-4, atol=1e-4 * np.abs(ref_w).max())


def test_core_algorithm_errors():
    x = np.ones((1, 2, 8, 8), np.float32)
    w5 = np.ones((2, 2, 5, 5), np.float32)
    w3 = np.ones((2, 2, 3, 3), np.float32)
    w7 = np.ones((2, 2, 7, 7), np.float32)
    with pytest.raises(ValueError, match=r"needs a 3x3 kernel.*got a 5x5 kernel"):
        _core.correlate(x, w5, algorithm=4)
    with pytest.raises(ValueError, match=r"needs a 3x3 or 5x5 kernel.*got a 7x7 kernel"):
        _core.correlate(x, w7, algorithm=3)
    with pytest.raises(ValueError, match=r"needs a 3x3 or 5x5 kernel.*stride \(2, 1\)"):
        _core.correlate(x, w3, stride=(2, 1), algorithm=3)
    with pytest.raises(ValueError, match=r"boundary 1"):
        _core.correlate(x, w3, boundary=1, algorithm=3)
    with pytest.raises(ValueError, match=r"algorithm must be 0 \(auto\).*got 7"):
        _core.correlate(x, w3, algorithm=7)
    with pytest.raises(ValueError, match=r"algorithm must be 0 \(auto\) or 1 \(direct\) for "):
        _core.correlate_int(x.astype(np.int32), w3.astype(np.int32), algorithm=2)
    with pytest.raises(TypeError):
        _core.correlate(x, w3, algorithm="winograd")
    # algorithm 2 falls back to direct where Winograd does not apply
    np.testing.assert_array_equal(
        _core.correlate(x, w7, algorithm=2), _core.correlate(x, w7, algorithm=1)
    )


def test_config_algorithm_setting(monkeypatch):
    assert _config.get_conv_algorithm() == "auto"
    with _config.conv_algorithm("winograd-f4"):
        assert _config.get_conv_algorithm() == "winograd-f4"
        assert _config.algorithm_code() == 4
    assert _config.get_conv_algorithm() == "auto"
    with pytest.raises(ValueError, match=r"algorithm must be one of .*got 'fast'"):
        _config.set_conv_algorithm("fast")
    with pytest.raises(TypeError, match="algorithm must be a str, got int"):
        _config.set_conv_algorithm(2)
    monkeypatch.setenv("GCNN_CONV_ALGORITHM", "direct")
    assert _config._default_algorithm() == "direct"
    monkeypatch.setenv("GCNN_CONV_ALGORITHM", "quick")
    with pytest.warns(RuntimeWarning, match="ignores GCNN_CONV_ALGORITHM='quick'"):
        assert _config._default_algorithm() == "auto"
    # a forced tile is an error for a layer it does not apply to, naming the cause
    with _config.conv_algorithm("winograd-f4"), pytest.raises(ValueError, match="5x5 kernel"):
        gcnn.conv2d(np.ones((1, 1, 6, 6), np.float32), np.ones((1, 1, 5, 5), np.float32))
    with _config.conv_algorithm("winograd-f2"), pytest.raises(ValueError, match="7x7 kernel"):
        gcnn.conv2d(np.ones((1, 1, 8, 8), np.float32), np.ones((1, 1, 7, 7), np.float32))


# ---- the weight gradient (the transposed algorithm) ------------------------------------


def _weight_gradient(x, grad_out, kernel, padding, algorithm):
    return _core.grad_weight(
        x, grad_out, (kernel, kernel), (1, 1), padding, algorithm=_config.ALGORITHMS[algorithm]
    )


@pytest.mark.parametrize("tile, kernel", VARIANTS)
@pytest.mark.parametrize(
    "batch, in_channels, out_channels, height, width, padding",
    [
        (1, 1, 1, 5, 5, (0, 0, 0, 0)),
        (2, 3, 5, 9, 11, (1, 1, 1, 1)),
        (3, 17, 33, 13, 6, (0, 2, 1, 0)),
        (2, 40, 40, 26, 26, (0, 0, 0, 0)),
        (1, 20, 18, 30, 17, (1, 2, 0, 3)),
        (2, 5, 7, 1, 1, (2, 2, 2, 2)),
    ],
)
def test_weight_gradient_within_bound(
    tile, kernel, batch, in_channels, out_channels, height, width, padding
):
    """|grad_w - exact| <= 1e-5 * S, S the largest |x| correlated with |grad_out|."""
    rng = np.random.default_rng(batch + in_channels * 7 + kernel)
    x = rng.standard_normal((batch, in_channels, height, width)).astype(np.float32)
    out_h = height + padding[0] + padding[1] - kernel + 1
    out_w = width + padding[2] + padding[3] - kernel + 1
    grad_out = rng.standard_normal((batch, out_channels, out_h, out_w)).astype(np.float32)
    result = _weight_gradient(x, grad_out, kernel, padding, tile)
    exact = _weight_gradient(
        x.astype(np.float64), grad_out.astype(np.float64), kernel, padding, "direct"
    )
    scale = float(
        _weight_gradient(
            np.abs(x.astype(np.float64)),
            np.abs(grad_out.astype(np.float64)),
            kernel,
            padding,
            "direct",
        ).max()
    )
    assert result.dtype == np.float32 and result.shape == exact.shape
    assert _relative_error(result, exact, scale) <= WINOGRAD_F32_BOUND
    direct = _weight_gradient(x, grad_out, kernel, padding, "direct")
    assert not np.array_equal(result, direct) or result.size == 1


@pytest.mark.parametrize("tile, kernel", VARIANTS)
def test_weight_gradient_thread_count_does_not_change_it(tile, kernel):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((37, 24, 20, 20)).astype(np.float32)
    grad_out = rng.standard_normal((37, 24, 20 - kernel + 1, 20 - kernel + 1)).astype(np.float32)
    code = _config.ALGORITHMS[tile]
    one = _core.grad_weight(x, grad_out, (kernel, kernel), num_threads=1, algorithm=code)
    for threads in (2, 3, 8):
        np.testing.assert_array_equal(
            one,
            _core.grad_weight(x, grad_out, (kernel, kernel), num_threads=threads, algorithm=code),
        )


def test_weight_gradient_auto_rule():
    """auto: F(4x4,3x3) for 40 -> 40 channels at 24x24 (the P4CNN's second layer); for 16
    channels direct, except on the AVX2 path, whose rule takes F(2x2,3x3) there (winograd.c);
    float64 direct (bit for bit)."""
    rng = np.random.default_rng(10)
    avx2 = _core.simd_level() == "avx2"
    for channels, expected in ((40, "winograd-f4"), (16, "winograd-f2" if avx2 else "direct")):
        x = rng.standard_normal((4, channels, 26, 26)).astype(np.float32)
        grad_out = rng.standard_normal((4, channels, 24, 24)).astype(np.float32)
        auto = _core.grad_weight(x, grad_out, (3, 3))
        taken = _weight_gradient(x, grad_out, 3, (0, 0, 0, 0), expected)
        np.testing.assert_array_equal(auto, taken)
        x64, grad64 = x.astype(np.float64), grad_out.astype(np.float64)
        np.testing.assert_array_equal(
            _core.grad_weight(x64, grad64, (3, 3)),
            _weight_gradient(x64, grad64, 3, (0, 0, 0, 0), "direct"),
        )


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_group_conv_weight_gradient_within_bound(group):
    """group_conv_backward's filter gradient, folded back through the group, within the bound
    (its S: the same gradient of |x| and |grad_out|, folded with absolute values)."""
    rng = np.random.default_rng(11)
    order = 4 if group == "p4" else 8
    x = rng.standard_normal((3, 8, order, 14, 14)).astype(np.float32)
    w = rng.standard_normal((8, 8, order, 3, 3)).astype(np.float32)
    grad_out = rng.standard_normal((3, 8, order, 14, 14)).astype(np.float32)
    with _config.conv_algorithm("winograd"):
        _, grad_w, _ = gcnn.group_conv_backward(grad_out, x, w, group=group, padding=1)
    with _config.conv_algorithm("direct"):
        _, exact, _ = gcnn.group_conv_backward(
            grad_out.astype(np.float64),
            x.astype(np.float64),
            w.astype(np.float64),
            group=group,
            padding=1,
        )
        _, magnitude, _ = gcnn.group_conv_backward(
            np.abs(grad_out.astype(np.float64)),
            np.abs(x.astype(np.float64)),
            w.astype(np.float64),
            group=group,
            padding=1,
        )
    assert _relative_error(grad_w, exact, float(magnitude.max())) <= WINOGRAD_F32_BOUND


def test_weight_gradient_algorithm_errors():
    x = np.ones((1, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"needs a 3x3 kernel.*got a 5x5 kernel"):
        _core.grad_weight(x, np.ones((1, 2, 4, 4), np.float32), (5, 5), algorithm=4)
    with pytest.raises(ValueError, match=r"needs a 3x3 or 5x5 kernel.*stride \(2, 2\)"):
        _core.grad_weight(x, np.ones((1, 2, 3, 3), np.float32), (3, 3), stride=(2, 2), algorithm=3)
    with pytest.raises(ValueError, match=r"algorithm must be 0 \(auto\).*got 5"):
        _core.grad_weight(x, np.ones((1, 2, 6, 6), np.float32), (3, 3), algorithm=5)
    # algorithm 2 falls back to direct where Winograd does not apply
    g7 = np.ones((1, 2, 2, 2), np.float32)
    np.testing.assert_array_equal(
        _core.grad_weight(x, g7, (7, 7), algorithm=2),
        _core.grad_weight(x, g7, (7, 7), algorithm=1),
    )
