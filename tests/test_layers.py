"""gcnn's group-CNN layers against the slow reference of docs/design.md, §3 Layers, and their
laws (docs/design.md, §4 Equivariance).

The layer functions are imported from their private modules so these tests do not depend on
what ``gcnn/__init__.py`` exports.
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcnn import _config, nn
from gcnn import reference as ref
from gcnn._equivariance import EquivarianceErrors, check_equivariance, equivariance_conditions
from gcnn._layers import expand_filter, group_conv, group_pool, lift, spatial_pool
from gcnn.groups import p4, p4m

GROUPS = {"p4": p4, "p4m": p4m}
FAST = settings(max_examples=30, deadline=None)
TOLERANCES = {np.float32: 1e-5, np.float64: 1e-12}


def assert_close_to_reference(out, expected, x, weight, bias, dtype):
    """rtol per dtype, with atol scaled to the largest possible sum of |products|."""
    rtol = TOLERANCES[dtype]
    weight = np.asarray(weight, dtype=np.float64)
    per_output = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1).max()
    scale = np.abs(np.asarray(x, dtype=np.float64)).max() * per_output
    if bias is not None:
        scale += np.abs(np.asarray(bias, dtype=np.float64)).max()
    assert out.dtype == dtype
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------------------- strategies


@st.composite
def conv_cases(draw, kind: str):
    group = draw(st.sampled_from(["p4", "p4m"]))
    order = GROUPS[group].order
    n = draw(st.integers(1, 3))
    c_in = draw(st.integers(1, 3))
    c_out = draw(st.integers(1, 3))
    height = draw(st.integers(5, 11))
    width = draw(st.integers(5, 11))
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    choices = [0, 1, 2, "valid"]
    if k % 2 == 1 and stride == 1:
        choices.append("same")
    padding = draw(st.sampled_from(choices))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    with_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "lift":
        x = rng.standard_normal((n, c_in, height, width)).astype(dtype)
        weight = rng.standard_normal((c_out, c_in, k, k)).astype(dtype)
    else:
        x = rng.standard_normal((n, c_in, order, height, width)).astype(dtype)
        weight = rng.standard_normal((c_out, c_in, order, k, k)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if with_bias else None
    return {
        "x": x,
        "weight": weight,
        "bias": bias,
        "group": group,
        "stride": stride,
        "padding": padding,
    }


@st.composite
def equivariant_geometry(draw, max_side: int = 11):
    """(k, stride, padding, H) with (H + 2p - k) % stride == 0 and H + 2p >= k, H >= 1."""
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    # H = k - 2p + stride * m for some m >= 0, kept in [1, max_side].
    sizes = [k - 2 * padding + stride * m for m in range(12)]
    sizes = [h for h in sizes if 1 <= h <= max_side]
    height = draw(st.sampled_from(sizes))
    return k, stride, padding, height


# --------------------------------------------------------------------------- against the reference


@FAST
@given(case=conv_cases("lift"))
def test_lift_matches_reference(case):
    out = lift(**case)
    expected = ref.lift(**case)
    assert_close_to_reference(
        out, expected, case["x"], case["weight"], case["bias"], case["x"].dtype.type
    )


@FAST
@given(case=conv_cases("group"))
def test_group_conv_matches_reference(case):
    out = group_conv(**case)
    expected = ref.group_conv(**case)
    assert_close_to_reference(
        out, expected, case["x"], case["weight"], case["bias"], case["x"].dtype.type
    )


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_fixed_cases_with_even_kernels_and_anisotropic_arguments(group):
    rng = np.random.default_rng(1)
    order = GROUPS[group].order
    x = rng.standard_normal((2, 2, 7, 10))
    w = rng.standard_normal((3, 2, 4, 4))
    b = rng.standard_normal(3)
    for stride, padding in [((1, 2), (2, 0)), ((3, 1), (0, 1)), (2, "valid")]:
        out = lift(x, w, b, group=group, stride=stride, padding=padding)
        expected = ref.lift(x, w, b, group=group, stride=stride, padding=padding)
        assert_close_to_reference(out, expected, x, w, b, np.float64)
    features = rng.standard_normal((1, 2, order, 6, 9))
    wg = rng.standard_normal((2, 2, order, 2, 2))
    out = group_conv(features, wg, b[:2], group=group, stride=(2, 1), padding=(1, 0))
    expected = ref.group_conv(features, wg, b[:2], group=group, stride=(2, 1), padding=(1, 0))
    assert_close_to_reference(out, expected, features, wg, b[:2], np.float64)


def test_group_conv_p4_kernel_index_is_h_minus_g():
    """For p4 the kernel index g^-1 h reduces to (h - g) % 4 (docs/design.md, §3.2 lift and
    group_conv)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 4, 6, 6))
    w = rng.standard_normal((1, 1, 4, 3, 3))
    out = group_conv(x, w)
    for g in range(4):
        expected = sum(
            ref.corr(x[0, 0, h], np.rot90(w[0, 0, (h - g) % 4], g), 1, (0, 0)) for h in range(4)
        )
        np.testing.assert_allclose(out[0, 0, g], expected, rtol=1e-12, atol=1e-12)


def test_unbatched_input_gives_unbatched_output():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 7))
    w = rng.standard_normal((3, 2, 3, 3))
    out = lift(x, w, padding=1, group="p4m")
    assert out.shape == (3, 8, 7, 7)
    np.testing.assert_array_equal(out, lift(x[None], w, padding=1, group="p4m")[0])
    features = rng.standard_normal((2, 4, 7, 7))
    wg = rng.standard_normal((3, 2, 4, 3, 3))
    out = group_conv(features, wg, stride=2)
    assert out.shape == (3, 4, 3, 3)
    np.testing.assert_array_equal(out, group_conv(features[None], wg, stride=2)[0])
    assert group_pool(out).shape == (3, 3, 3)


def test_bias_is_added_to_every_orientation_and_pixel():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    bias = np.array([1.5, -2.0, 0.25])
    difference = lift(x, w, bias, group="p4m") - lift(x, w, group="p4m")
    expected = np.broadcast_to(bias[None, :, None, None, None], difference.shape)
    np.testing.assert_allclose(difference, expected, rtol=0, atol=1e-12)
    wg = rng.standard_normal((3, 2, 4, 2, 2))
    features = lift(x, w[:2])
    difference = group_conv(features, wg, bias, stride=2) - group_conv(features, wg, stride=2)
    expected = np.broadcast_to(bias[None, :, None, None, None], difference.shape)
    np.testing.assert_allclose(difference, expected, rtol=0, atol=1e-12)


def test_empty_batch_and_empty_channels():
    w = np.ones((2, 3, 3, 3))
    out = lift(np.zeros((0, 3, 5, 5)), w)
    assert out.shape == (0, 2, 4, 3, 3)
    # No input channels: every sum is empty, so the output is the bias.
    out = lift(np.zeros((1, 0, 5, 5)), np.ones((2, 0, 3, 3)), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out[0, :, 0, 0, 0], [1.0, 2.0])
    assert out.shape == (1, 2, 4, 3, 3)
    out = group_conv(np.zeros((1, 2, 4, 5, 5)), np.ones((0, 2, 4, 3, 3)))
    assert out.shape == (1, 0, 4, 3, 3)


def test_same_and_valid_padding():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 1, 8, 9))
    w = rng.standard_normal((1, 1, 5, 5))
    assert lift(x, w, padding="same").shape == (1, 1, 4, 8, 9)
    np.testing.assert_array_equal(lift(x, w, padding="same"), lift(x, w, padding=2))
    np.testing.assert_array_equal(lift(x, w, padding="valid"), lift(x, w, padding=0))


# --------------------------------------------------------------------------- expand_filter


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_expand_filter_rows_are_transformed_filters(group, k):
    grp = GROUPS[group]
    order = grp.order
    rng = np.random.default_rng(k)
    w = rng.standard_normal((2, 3, k, k))
    bank = expand_filter(w, group, kind="lift")
    assert bank.shape == (2 * order, 3, k, k) and bank.flags.c_contiguous
    for o in range(2):
        for g in range(order):
            np.testing.assert_array_equal(bank[o * order + g], ref.transform_image(w[o], g))
    wg = rng.standard_normal((2, 3, order, k, k))
    bank = expand_filter(wg, group, kind="group")
    assert bank.shape == (2 * order, 3 * order, k, k)
    for o in range(2):
        for g in range(order):
            for c in range(3):
                for h in range(order):
                    source = wg[o, c, ref.compose(ref.inverse(g), h)]
                    np.testing.assert_array_equal(
                        bank[o * order + g, c * order + h], ref.transform_image(source, g)
                    )
    if group == "p4":
        np.testing.assert_array_equal(bank[1, 0], np.rot90(wg[0, 0, 3]))  # g=1, h=0: (0-1)%4


@pytest.mark.parametrize("group", ["p4", "p4m"])
@pytest.mark.parametrize("k,stride,padding", [(3, 1, 1), (2, 2, 0), (4, 3, 2), (1, 1, 0)])
def test_expand_filter_plus_plain_correlation_is_the_layer(group, k, stride, padding):
    order = GROUPS[group].order
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((2, 3, k, k))
    plain = ref.conv2d(x, expand_filter(w, group, "lift"), stride=stride, padding=padding)
    out = lift(x, w, group=group, stride=stride, padding=padding)
    np.testing.assert_allclose(out, plain.reshape(out.shape), rtol=1e-12, atol=1e-12)

    features = rng.standard_normal((2, 3, order, 9, 8))
    wg = rng.standard_normal((2, 3, order, k, k))
    flat = features.reshape(2, 3 * order, 9, 8)
    plain = ref.conv2d(flat, expand_filter(wg, group, "group"), stride=stride, padding=padding)
    out = group_conv(features, wg, group=group, stride=stride, padding=padding)
    np.testing.assert_allclose(out, plain.reshape(out.shape), rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_cached_gathers_give_the_fancy_indexing_results(monkeypatch, group):
    # Small banks expand and fold through one cached flat index; big ones by fancy indexing.
    # Both must give the same bits (the fold's sums in the same order).
    from gcnn import _layers

    grp = GROUPS[group]
    rng = np.random.default_rng(8)
    cases = [("lift", (3, 2, 3, 3)), ("group", (3, 2, grp.order, 3, 3))]
    cases += [("group", (2, 3, grp.order, 4, 4))]
    results = []
    for limit in (_layers._CACHED_GATHER_MAX, 0):
        monkeypatch.setattr(_layers, "_CACHED_GATHER_MAX", limit)
        out = []
        for kind, shape in cases:
            w = rng.standard_normal(shape).astype(np.float32)
            bank = _layers._expand(w, grp, kind)
            out += [w, bank]
            if kind == "group":
                grad_bank = rng.standard_normal(bank.shape).astype(np.float32)
                out += [_layers._fold_group(grad_bank, grp, shape[0])]
        results.append(out)
        rng = np.random.default_rng(8)
    for a, b in zip(*results):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_expand_filter_dtypes():
    assert expand_filter(np.ones((1, 1, 3, 3), np.float32)).dtype == np.float32
    assert expand_filter(np.ones((1, 1, 3, 3), np.float16)).dtype == np.float32
    assert expand_filter(np.ones((1, 1, 3, 3), np.int64)).dtype == np.float64


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_torch_conv2d_with_expanded_filters_reproduces_the_layers(group):
    torch = pytest.importorskip("torch")
    order = GROUPS[group].order
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 9, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(expand_filter(w, group, "lift")),
        torch.from_numpy(np.repeat(b, order)),
        stride=2,
        padding=1,
    ).numpy()
    out = lift(x, w, b, group=group, stride=2, padding=1)
    np.testing.assert_allclose(out, expected.reshape(out.shape), rtol=1e-12, atol=1e-12)

    features = rng.standard_normal((2, 3, order, 9, 9))
    wg = rng.standard_normal((4, 3, order, 2, 2))
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(features.reshape(2, 3 * order, 9, 9)),
        torch.from_numpy(expand_filter(wg, group, "group")),
        stride=1,
        padding=1,
    ).numpy()
    out = group_conv(features, wg, group=group, padding=1)
    np.testing.assert_allclose(out, expected.reshape(out.shape), rtol=1e-12, atol=1e-11)


# --------------------------------------------------------------------------- pooling


@FAST
@given(
    shape=st.sampled_from([(2, 3, 4, 5, 6), (3, 8, 4, 4), (1, 1, 8, 3, 7)]),
    reduce=st.sampled_from(["max", "mean", "sum"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 1000),
)
def test_group_pool_matches_loops(shape, reduce, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    out = group_pool(x, reduce)
    assert out.dtype == dtype and out.shape == shape[:-3] + shape[-2:]
    np.testing.assert_allclose(
        out, ref.group_pool(x, reduce), rtol=TOLERANCES[dtype] * 10, atol=TOLERANCES[dtype] * 10
    )


@FAST
@given(
    ndim=st.sampled_from([4, 5]),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    data=st.data(),
    reduce=st.sampled_from(["max", "mean"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_spatial_pool_matches_loops(ndim, height, width, kernel, stride, data, reduce, dtype):
    padding = (data.draw(st.integers(0, kernel[0] // 2)), data.draw(st.integers(0, kernel[1] // 2)))
    if height + 2 * padding[0] < kernel[0] or width + 2 * padding[1] < kernel[1]:
        return
    shape = (2, 3, 4)[: ndim - 2] + (height, width)
    x = np.random.default_rng(height * 10 + width).standard_normal(shape).astype(dtype)
    out = spatial_pool(x, kernel, stride, padding, reduce)
    expected = ref.spatial_pool(x, kernel, stride, padding, reduce)
    assert out.dtype == dtype
    assert out.shape == expected.shape
    np.testing.assert_allclose(
        out, expected, rtol=TOLERANCES[dtype] * 10, atol=TOLERANCES[dtype] * 10
    )


@pytest.mark.parametrize(
    "kernel, stride, padding",
    [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)), (3, 1, 1), (4, 3, 2)],
)
def test_spatial_pool_matches_torch(kernel, stride, padding):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(20).standard_normal((2, 3, 9, 8))
    functional = torch.nn.functional
    expected_max = functional.max_pool2d(torch.from_numpy(x), kernel, stride, padding).numpy()
    expected_mean = functional.avg_pool2d(
        torch.from_numpy(x), kernel, stride, padding, count_include_pad=True
    ).numpy()
    np.testing.assert_array_equal(spatial_pool(x, kernel, stride, padding), expected_max)
    np.testing.assert_allclose(
        spatial_pool(x, kernel, stride, padding, "mean"), expected_mean, rtol=1e-12, atol=1e-15
    )
    # With a group axis: the same pooling on every plane.
    features = np.stack([x, -x], axis=2)
    pooled = spatial_pool(features, kernel, stride, padding)
    np.testing.assert_array_equal(pooled[:, :, 0], expected_max)


def test_spatial_pool_pytorch_semantics_by_hand():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    # Floor mode: a 5 x 5 map with 2 x 2 windows gives 2 x 2 (the last row/column is dropped).
    np.testing.assert_array_equal(spatial_pool(x, 2)[0, 0], [[6.0, 8.0], [16.0, 18.0]])
    # -inf padding for max: the corner window sees only x[0, 0].
    assert spatial_pool(-x - 1, 2, padding=1)[0, 0, 0, 0] == -1.0
    # Counted zeros for mean: the corner 3 x 3 window holds x[:2, :2] and five zeros.
    corner = spatial_pool(x, 3, stride=1, padding=1, reduce="mean")[0, 0, 0, 0]
    assert corner == pytest.approx((0 + 1 + 5 + 6) / 9)
    # Global pooling.
    np.testing.assert_array_equal(spatial_pool(x, None), [[[[24.0]]]])
    assert spatial_pool(x, None, reduce="mean")[0, 0, 0, 0] == 12.0


# --------------------------------------------------------------------------- equivariance laws


def _error(a, b):
    assert a.shape == b.shape
    return np.abs(a - b).max()


@settings(max_examples=40, deadline=None)
@given(
    geometry=equivariant_geometry(),
    group=st.sampled_from(["p4", "p4m"]),
    seed=st.integers(0, 10**6),
)
def test_the_three_laws_for_every_group_element(geometry, group, seed):
    k, stride, padding, size = geometry
    order = GROUPS[group].order
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2, size, size))
    w = rng.standard_normal((2, 2, k, k))
    features = rng.standard_normal((1, 2, order, size, size))
    wg = rng.standard_normal((3, 2, order, k, k))
    b = rng.standard_normal(3)
    lifted = lift(x, w, b[:2], group=group, stride=stride, padding=padding)
    convolved = group_conv(features, wg, b, group=group, stride=stride, padding=padding)
    pooled = group_pool(features)
    tolerance = 1e-12 * max(1.0, np.abs(convolved).max(), np.abs(lifted).max()) * k * k * order
    for g in range(order):
        turned = lift(
            ref.transform_image(x, g), w, b[:2], group=group, stride=stride, padding=padding
        )
        assert _error(turned, ref.transform_features(lifted, g, order)) <= tolerance
        turned = group_conv(
            ref.transform_features(features, g, order),
            wg,
            b,
            group=group,
            stride=stride,
            padding=padding,
        )
        assert _error(turned, ref.transform_features(convolved, g, order)) <= tolerance
        turned = group_pool(ref.transform_features(features, g, order))
        assert _error(turned, ref.transform_image(pooled, g)) == 0.0


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_laws_hold_for_non_square_inputs_meeting_the_condition_on_both_axes(group):
    order = GROUPS[group].order
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 2, 7, 11))  # (7 - 3) % 2 == 0 and (11 - 3) % 2 == 0
    w = rng.standard_normal((2, 2, 3, 3))
    lifted = lift(x, w, group=group, stride=2)
    for g in range(order):
        turned = lift(ref.transform_image(x, g), w, group=group, stride=2)
        assert _error(turned, ref.transform_features(lifted, g, order)) < 1e-12


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_laws_break_when_the_stride_grid_does_not_fit(group):
    order = GROUPS[group].order
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 2, 8, 8))  # (8 - 3) % 2 == 1
    w = rng.standard_normal((2, 2, 3, 3))
    lifted = lift(x, w, group=group, stride=2)
    errors = {
        g: _error(
            lift(ref.transform_image(x, g), w, group=group, stride=2),
            ref.transform_features(lifted, g, order),
        )
        for g in range(1, order)
    }
    # Only the transpose (g = 5: mirror, then a quarter turn) fixes the corner the stride grid
    # starts from, so it alone keeps the grid; every other element moves it.
    assert errors.pop(5, 0.0) < 1e-12
    assert min(errors.values()) > 0.1


# --------------------------------------------------------------------------- check_equivariance


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_check_equivariance_is_zero_when_the_laws_hold(group):
    grp = GROUPS[group]
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2, 9, 9))
    w = rng.standard_normal((3, 2, 2, 2))
    features = rng.standard_normal((2, 2, grp.order, 9, 9))
    wg = rng.standard_normal((3, 2, grp.order, 3, 3))
    cases = [
        (lambda a: lift(a, w, group=group, stride=3, padding=1), x, "image", "group"),
        (lambda a: group_conv(a, wg, group=group, padding=1), features, "group", "group"),
        (lambda a: group_pool(a, "mean"), features, "group", "image"),
        (lambda a: group_pool(a).sum(axis=(-2, -1)), features, "group", "invariant"),
    ]
    for fn, arg, input_kind, output_kind in cases:
        errors = check_equivariance(fn, arg, group)
        assert isinstance(errors, EquivarianceErrors) and isinstance(errors, dict)
        assert (errors.input_kind, errors.output_kind) == (input_kind, output_kind)
        assert list(errors) == [grp.element_name(g) for g in grp.elements]
        assert errors["r0"] == 0.0
        assert errors.max_error < 1e-12 * max(1.0, errors.scale) * 100
        assert errors.scale == pytest.approx(np.abs(fn(arg)).max())


def test_check_equivariance_is_large_when_the_laws_break():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 1, 10, 10))
    w = rng.standard_normal((2, 1, 3, 3))
    # (10 - 3) % 2 == 1
    errors = check_equivariance(lambda a: lift(a, w, group="p4m", stride=2), x, "p4m")
    assert errors["r0"] == 0.0 and errors["m r1"] < 1e-12  # the transpose keeps the grid
    assert errors.relative_error > 0.05
    assert all(errors[name] > 0.01 * errors.scale for name in errors if name not in ("r0", "m r1"))
    # A map that is not equivariant at all: a plain crop of the top rows.
    crop = check_equivariance(lambda a: a[..., :5, :], x, "p4")
    assert crop["r0"] == 0.0 and crop["r1"] == np.inf  # the two sides differ in shape
    shift = check_equivariance(lambda a: np.roll(a, 1, axis=-1), x, "p4")
    assert shift["r1"] > 0.1


def test_check_equivariance_kinds_and_repr():
    rng = np.random.default_rng(13)
    w = rng.standard_normal((2, 1, 3, 3))
    unbatched = rng.standard_normal((1, 9, 9))
    errors = check_equivariance(lambda a: lift(a, w, padding=1), unbatched)
    assert (errors.input_kind, errors.output_kind) == ("image", "group")
    features = rng.standard_normal((1, 4, 9, 9))  # unbatched group maps: say so
    errors = check_equivariance(group_pool, features, input_kind="group")
    assert (errors.input_kind, errors.output_kind) == ("group", "image")
    assert errors.max_error == 0.0
    # A spatially pooled output compared as an image is the same numbers as "invariant".
    fn = nn.Sequential(nn.GroupPool(), nn.SpatialPool(None))
    as_image = check_equivariance(fn, features[None])
    as_invariant = check_equivariance(fn, features[None], output_kind="invariant")
    assert as_image.output_kind == "image" and as_invariant.output_kind == "invariant"
    assert dict(as_image) == dict(as_invariant)
    text = repr(check_equivariance(lambda a: lift(a, w, group="p4m", padding=1), unbatched, "p4m"))
    assert "p4m" in text and "m r3" in text and "image -> group" in text


def test_check_equivariance_passes_copies_to_fn():
    x = np.random.default_rng(14).standard_normal((1, 1, 5, 5))
    before = x.copy()

    def clobber(a):
        out = a.copy()
        a[...] = 0.0
        return out

    errors = check_equivariance(clobber, x)
    np.testing.assert_array_equal(x, before)
    assert errors.max_error == 0.0


# --------------------------------------------------------------------------- equivariance_conditions


@st.composite
def linear_stacks(draw):
    """A random stack of linear gcnn layers (so broken conditions show generically).

    Paddings stay below the kernel size: a window that sees only padding gives the bias
    wherever it lands, and a stack sampling only such windows is equivariant in spite of a
    broken grid (the conditions are sufficient, not necessary).
    """
    group = draw(st.sampled_from(["p4", "p4m"]))
    height = draw(st.integers(3, 10))
    width = draw(st.one_of(st.just(height), st.integers(3, 10)))
    size = [height, width]
    layers = []
    kind = "image"
    channels = draw(st.integers(1, 2))
    in_channels = channels
    for index in range(draw(st.integers(1, 3))):
        options = ["lift", "pool"] if kind == "image" else ["group", "pool", "group_pool"]
        choice = draw(st.sampled_from(options))
        if choice == "group_pool":
            layers.append(nn.GroupPool("mean"))
            kind = "image"
            continue
        k = draw(st.integers(1, min(4, *size) if choice != "pool" else min(3, *size)))
        stride = draw(st.integers(1, 3))
        if choice == "pool":
            padding = draw(st.integers(0, k // 2))
            layers.append(nn.SpatialPool(k, stride, padding, reduce="mean"))
        else:
            padding = draw(st.integers(0, min(2, k - 1)))
            out_channels = draw(st.integers(1, 2))
            cls = nn.LiftingConv if choice == "lift" else nn.GroupConv
            layers.append(
                cls(
                    channels,
                    out_channels,
                    k,
                    group=group,
                    stride=stride,
                    padding=padding,
                    dtype=np.float64,
                    rng=index,
                )
            )
            channels = out_channels
            kind = "group"
        size = [(n + 2 * padding - k) // stride + 1 for n in size]
    return group, (height, width), in_channels, nn.Sequential(*layers)


@settings(max_examples=60, deadline=None)
@given(stack=linear_stacks(), seed=st.integers(0, 10**6))
def test_equivariance_conditions_agree_with_measurement(stack, seed):
    """Exact: the whole stack measures ~0.  Broken: the stack up to the first layer named in the
    problems measures an error (later layers may wash it out, e.g. a global average)."""
    group, size, channels, net = stack
    report = equivariance_conditions(net, size)
    x = np.random.default_rng(seed).standard_normal((1, channels) + size)
    if report.exact:
        errors = check_equivariance(net, x, group)
        assert errors.max_error <= 1e-12 * max(1.0, errors.scale) * 100, str(report)
    else:
        first = next(i for i, step in enumerate(report.steps) if step.problems)
        assert report.problems[0].startswith(f"layer {first} {net[first]!r}: ")
        errors = check_equivariance(net[: first + 1], x, group)
        assert errors.max_error > 1e-6 * errors.scale, str(report)


def test_equivariance_conditions_reports():
    net = nn.Sequential(
        nn.LiftingConv(1, 4, 3, padding=1, rng=0),
        nn.ReLU(),
        nn.GroupConv(4, 4, 3, stride=2, rng=1),
        nn.GroupPool(),
        nn.SpatialPool(2),
    )
    report = equivariance_conditions(net, 9)  # 9 -> 9 -> 4 (9 - 3 = 6, even) -> pool 2: 4 - 2 = 2
    assert report.exact and report.problems == [] and report.group is p4
    assert [step.size_out for step in report.steps] == [(9, 9), (9, 9), (4, 4), (4, 4), (2, 2)]
    assert "exact" in str(report) and "GroupConv(4 -> 4" in str(report)

    report = equivariance_conditions(net, 10)  # 10 - 3 = 7, odd, at layer 2
    assert not report.exact
    assert len(report.problems) == 2  # rows and columns of layer 2
    assert all(problem.startswith("layer 2 GroupConv(4 -> 4, p4") for problem in report.problems)
    assert "% 2 = 1" in report.problems[0]
    assert "NOT exact" in repr(report)

    report = equivariance_conditions(net, (9, 10))  # non-square: only the column axis fails
    assert not report.exact and len(report.problems) == 1 and "columns" in report.problems[0]
    assert any("non-square" in note for note in report.notes)

    report = equivariance_conditions(list(net)[:2], (5, 8))  # non-square, stride 1: exact
    assert report.exact and any("non-square" in note for note in report.notes)


def test_equivariance_conditions_pool_and_structure_problems():
    report = equivariance_conditions([nn.SpatialPool((2, 3), stride=(2, 3))], 6)
    assert not report.exact
    assert any("not square" in problem for problem in report.problems)
    assert any("stride (2, 3)" in problem for problem in report.problems)
    report = equivariance_conditions([nn.SpatialPool(3, stride=1, padding=(1, 0))], 6)
    assert any("padding (1, 0)" in problem for problem in report.problems)
    report = equivariance_conditions(nn.SpatialPool(None), (5, 7))  # a single layer
    assert report.exact and report.group is None

    lifting = nn.LiftingConv(2, 3, 3, rng=0)
    report = equivariance_conditions([lifting, lifting], 9)
    assert any(
        "expects images (N, C, H, W) but receives group" in problem for problem in report.problems
    )
    report = equivariance_conditions([nn.GroupPool(), lifting, nn.GroupConv(4, 1, 1, rng=0)], 9)
    assert any("takes 4 channels but receives 3" in problem for problem in report.problems)
    report = equivariance_conditions([lifting, nn.GroupConv(3, 1, 1, group="p4m", rng=0)], 9)
    assert any("works on p4m" in problem for problem in report.problems)
    report = equivariance_conditions([lifting, np.tanh], 9)
    assert any("not a gcnn layer" in problem for problem in report.problems)
    report = equivariance_conditions([nn.LiftingConv(1, 1, 5, rng=0)], 3)
    assert any("cannot run" in problem for problem in report.problems)
    # Nested Sequentials are opened up.
    nested = nn.Sequential(nn.Sequential(lifting, nn.ReLU()), nn.GroupPool())
    report = equivariance_conditions(nested, 9)
    assert report.exact and [step.label for step in report.steps] == ["0.0", "0.1", "1"]


def test_max_pool_network_broken_condition_shows_an_error():
    net = nn.Sequential(
        nn.LiftingConv(1, 3, 3, padding=1, dtype=np.float64, rng=0),
        nn.GroupPool(),
        nn.SpatialPool(2),  # 8 x 8 -> fine; 9 x 9 -> (9 - 2) % 2 == 1
    )
    x = np.random.default_rng(15).standard_normal((1, 1, 9, 9))
    assert not equivariance_conditions(net, 9).exact
    assert check_equivariance(net, x).max_error > 1e-3
    assert equivariance_conditions(net, 8).exact
    assert check_equivariance(net, x[..., :8, :8]).max_error < 1e-12


# --------------------------------------------------------------------------- nn layers


def test_layer_parameters_shapes_bounds_and_dtypes():
    layer = nn.LiftingConv(3, 8, 5, rng=0)
    assert layer.weight.shape == (8, 3, 5, 5) and layer.bias.shape == (8,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    bound = 1 / np.sqrt(3 * 5 * 5)
    assert np.abs(layer.weight).max() <= bound and np.abs(layer.weight).max() > 0.9 * bound
    assert np.abs(layer.bias).max() <= bound

    layer = nn.GroupConv(8, 16, 3, group="p4m", dtype=np.float64, bias=False, rng=1)
    assert layer.weight.shape == (16, 8, 8, 3, 3) and layer.bias is None
    assert layer.weight.dtype == np.float64
    bound = 1 / np.sqrt(8 * 8 * 3 * 3)
    assert np.abs(layer.weight).max() <= bound and np.abs(layer.weight).max() > 0.9 * bound
    # The values spread over the whole range, with both signs.
    assert layer.weight.min() < -0.5 * bound and layer.weight.max() > 0.5 * bound


def test_layer_init_is_deterministic_with_a_seed():
    a = nn.GroupConv(2, 3, 3, rng=42)
    b = nn.GroupConv(2, 3, 3, rng=42)
    c = nn.GroupConv(2, 3, 3, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    np.testing.assert_array_equal(a.weight, c.weight)
    assert not np.array_equal(a.weight, nn.GroupConv(2, 3, 3, rng=43).weight)
    generator = np.random.default_rng(0)
    first, second = nn.LiftingConv(1, 1, 3, rng=generator), nn.LiftingConv(1, 1, 3, rng=generator)
    assert not np.array_equal(first.weight, second.weight)  # the generator advances
    assert nn.LiftingConv(1, 1, 3).weight.shape == (1, 1, 3, 3)  # default rng


def test_layer_reprs():
    assert repr(nn.GroupConv(8, 16, 3, padding=1)) == (
        "GroupConv(8 -> 16, p4, kernel 3x3, stride 1, padding 1)"
    )
    assert repr(
        nn.LiftingConv(3, 8, 4, group="p4m", stride=(1, 2), padding=(0, 1), bias=False)
    ) == ("LiftingConv(3 -> 8, p4m, kernel 4x4, stride (1, 2), padding (0, 1), bias=False)")
    assert repr(nn.LiftingConv(1, 2, 3, padding="same")).endswith("padding same)")
    assert repr(nn.GroupPool("sum")) == "GroupPool(sum)"
    assert repr(nn.SpatialPool(3, 2, 1, "mean")) == (
        "SpatialPool(mean, kernel 3x3, stride 2, padding 1)"
    )
    assert repr(nn.SpatialPool(None)) == "SpatialPool(max, global)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Sequential()) == "Sequential()"
    net = nn.Sequential(nn.ReLU(), nn.GroupPool())
    assert repr(net) == "Sequential(\n  (0): ReLU()\n  (1): GroupPool(max)\n)"


def test_layers_compute_the_functions():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    layer = nn.LiftingConv(3, 4, 3, stride=2, padding=1, rng=0)
    np.testing.assert_array_equal(layer(x), lift(x, layer.weight, layer.bias, stride=2, padding=1))
    layer2 = nn.GroupConv(4, 2, 2, padding="valid", rng=1)
    features = layer(x)
    np.testing.assert_array_equal(
        layer2(features), group_conv(features, layer2.weight, layer2.bias)
    )
    np.testing.assert_array_equal(nn.ReLU()(features), np.maximum(features, 0))
    assert nn.ReLU()(np.array([-1, 2])).dtype == np.float64
    np.testing.assert_array_equal(nn.GroupPool("mean")(features), group_pool(features, "mean"))
    np.testing.assert_array_equal(nn.SpatialPool(2)(features), spatial_pool(features, 2))


def test_sequential_is_iterable_indexable_and_sized():
    layers = [nn.LiftingConv(1, 2, 3, rng=0), nn.ReLU(), nn.GroupPool()]
    net = nn.Sequential(*layers)
    assert len(net) == 3 and list(net) == layers and net[1] is layers[1] and net[-1] is layers[2]
    head = net[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    x = np.random.default_rng(17).standard_normal((1, 1, 6, 6))
    np.testing.assert_array_equal(net(x), layers[2](layers[1](layers[0](x))))
    np.testing.assert_array_equal(nn.Sequential()(x), x)


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_small_network_is_invariant(group):
    grp = GROUPS[group]
    net = nn.Sequential(
        nn.LiftingConv(2, 6, 3, group=group, padding=1, rng=0),
        nn.ReLU(),
        nn.GroupConv(6, 5, 3, group=group, padding=1, rng=1),
        nn.ReLU(),
        nn.GroupPool(),
        nn.SpatialPool(None),
    )
    assert equivariance_conditions(net, 12).exact
    x = np.random.default_rng(18).standard_normal((3, 2, 12, 12)).astype(np.float32)
    out = net(x)
    assert out.shape == (3, 5, 1, 1) and out.dtype == np.float32
    assert np.abs(out).max() > 0.01
    for g in grp.elements:
        np.testing.assert_allclose(net(grp.transform_image(x, g)), out, rtol=1e-5, atol=1e-6)
    errors = check_equivariance(net, x, group, output_kind="invariant")
    assert errors.max_error < 1e-5
    if group == "p4":
        # p4 filters do not see mirrors: the network is not invariant to flips.
        assert check_equivariance(net, x, "p4m").max_error > 1e-3


# --------------------------------------------------------------------------- threads


def test_thread_count_and_concurrent_calls_give_identical_results():
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 4, 32, 32))
    w = rng.standard_normal((8, 4, 8, 3, 3))
    features = lift(x, rng.standard_normal((4, 4, 3, 3)), group="p4m")
    previous = _config.set_num_threads(1)
    try:
        serial = group_conv(features, w, group="p4m", padding=1)
        _config.set_num_threads(3)
        threaded = group_conv(features, w, group="p4m", padding=1)
    finally:
        _config.set_num_threads(previous)
    np.testing.assert_array_equal(serial, threaded)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: group_conv(features, w, group="p4m", padding=1), range(8))
        )
    for result in results:
        np.testing.assert_array_equal(result, serial)
