"""Error paths, dtype promotion, memory layouts, untouched inputs and refcounts of the layers."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from gcnn import _core, nn
from gcnn._equivariance import check_equivariance, equivariance_conditions
from gcnn._layers import expand_filter, group_conv, group_pool, lift, spatial_pool

RNG = np.random.default_rng(20240611)
X = RNG.standard_normal((2, 3, 7, 7))
W = RNG.standard_normal((4, 3, 3, 3))
F = RNG.standard_normal((2, 3, 4, 7, 7))
WG = RNG.standard_normal((4, 3, 4, 3, 3))
B = RNG.standard_normal(4)


# --------------------------------------------------------------------------- lift / group_conv


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"x": X[0, 0]},
            ValueError,
            (
                r"x must have shape \(N, C_in, H, W\) or \(C_in, H, W\), "
                r"got \(7, 7\)"
            ),
        ),
        ({"x": X[None]}, ValueError, r"x must have shape .* got \(1, 2, 3, 7, 7\)"),
        (
            {"weight": W[:, :2]},
            ValueError,
            r"weight must have shape \(C_out, 3, k, k\) for x with 3 channels, got \(4, 2, 3, 3\)",
        ),
        ({"weight": W[0]}, ValueError, r"weight must have shape \(C_out, 3, k, k\)"),
        ({"weight": W[..., :2]}, ValueError, r"weight must have a square kernel .* \(4, 3, 3, 2\)"),
        ({"weight": W[..., :0, :0]}, ValueError, r"weight must have a kernel size of at least 1"),
        (
            {"bias": B[:3]},
            ValueError,
            r"bias must have shape \(4,\) for weight with 4 output channels, got \(3,\)",
        ),
        ({"bias": B[None]}, ValueError, r"bias must have shape \(4,\) .* got \(1, 4\)"),
        ({"bias": B + 1j}, TypeError, r"bias must be real, got complex"),
        ({"x": X + 0j}, TypeError, r"x must be real, got complex"),
        ({"weight": W.astype(object)}, TypeError, r"weight must have a real numeric dtype"),
        ({"x": np.full((1, 3, 7, 7), "a")}, TypeError, r"x must have a real numeric dtype"),
        ({"group": "p6"}, ValueError, r"group must be 'p4', 'p4m' or a group instance, got 'p6'"),
        ({"group": None}, ValueError, r"group must be"),
        ({"stride": 0}, ValueError, r"stride must be positive, got 0"),
        ({"stride": (1, -1)}, ValueError, r"stride must be positive"),
        ({"stride": (1, 2, 3)}, ValueError, r"stride must be an integer or a pair"),
        ({"stride": 1.5}, TypeError, r"stride must be an integer or a pair"),
        ({"stride": True}, TypeError, r"stride must be an integer or a pair"),
        ({"stride": "2"}, TypeError, r"stride must be an integer or a pair"),
        ({"padding": -1}, ValueError, r"padding must be nonnegative, got -1"),
        ({"padding": (1, -1)}, ValueError, r"padding must be nonnegative"),
        ({"padding": 1.0}, TypeError, r"padding must be an integer or a pair"),
        (
            {"padding": "full"},
            ValueError,
            r"padding must be an int, a pair of ints, 'same' or 'valid', got 'full'",
        ),
        (
            {"padding": "same", "stride": 2},
            ValueError,
            r"padding='same' is not supported with stride \(2, 2\)",
        ),
        (
            {"x": X[..., :2, :2]},
            ValueError,
            r"x is too small for a 3x3 kernel: its spatial size 2x2 padded by \(0, 0\) is 2x2",
        ),
        ({"x": X[..., :1, :], "padding": (0, 1)}, ValueError, r"x is too small for a 3x3 kernel"),
    ],
)
def test_lift_errors(kwargs, error, match):
    arguments = {"x": X, "weight": W, "bias": B, "group": "p4", "stride": 1, "padding": 0}
    arguments.update(kwargs)
    x, weight, bias = arguments.pop("x"), arguments.pop("weight"), arguments.pop("bias")
    with pytest.raises(error, match=match):
        lift(x, weight, bias, **arguments)


def test_same_padding_with_even_kernel_says_lopsided():
    with pytest.raises(
        ValueError, match=r"padding='same' needs an odd kernel size, got 4.*lopsided"
    ):
        lift(X, np.ones((1, 3, 4, 4)), padding="same")
    with pytest.raises(ValueError, match=r"padding='same' needs an odd kernel size, got 2"):
        group_conv(F, np.ones((1, 3, 4, 2, 2)), padding="same")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"x": F[0, 0]},
            (
                r"x must have shape \(N, C_in, 4, H, W\) or \(C_in, 4, H, W\) for group "
                r"p4, got \(4, 7, 7\)"
            ),
        ),
        ({"x": X}, r"x must have shape \(N, C_in, 4, H, W\) .* got \(2, 3, 7, 7\)"),
        (
            {"group": "p4m"},
            (
                r"x must have shape \(N, C_in, 8, H, W\) .* for group p4m, "
                r"got \(2, 3, 4, 7, 7\)"
            ),
        ),
        (
            {"weight": np.ones((2, 3, 8, 3, 3))},
            (
                r"weight must have shape \(C_out, 3, 4, k, k\) for "
                r"x with 3 channels and group p4, got \(2, 3, 8, 3, 3\)"
            ),
        ),
        (
            {"weight": WG[:, :1]},
            (
                r"weight must have shape \(C_out, 3, 4, k, k\) .* got "
                r"\(4, 1, 4, 3, 3\)"
            ),
        ),
        ({"weight": W}, r"weight must have shape \(C_out, 3, 4, k, k\) .* got \(4, 3, 3, 3\)"),
        ({"weight": WG[..., :1]}, r"weight must have a square kernel"),
        ({"bias": B[:1]}, r"bias must have shape \(4,\)"),
        ({"group": "P4"}, r"group must be 'p4', 'p4m'"),
        ({"stride": 0}, r"stride must be positive"),
        ({"x": F[..., :1, :1], "padding": 0}, r"x is too small for a 3x3 kernel"),
    ],
)
def test_group_conv_errors(kwargs, match):
    arguments = {"x": F, "weight": WG, "bias": B, "group": "p4"}
    arguments.update(kwargs)
    x, weight, bias = arguments.pop("x"), arguments.pop("weight"), arguments.pop("bias")
    with pytest.raises(ValueError, match=match):
        group_conv(x, weight, bias, **arguments)


def test_group_conv_type_errors():
    with pytest.raises(TypeError, match="x must be real"):
        group_conv(F.astype(complex), WG)
    with pytest.raises(TypeError, match="weight must have a real numeric dtype"):
        group_conv(F, WG.astype(str))
    with pytest.raises(TypeError, match="x must be array-like"):
        group_conv([[1.0], [1.0, 2.0]], WG)


def test_expand_filter_errors():
    with pytest.raises(ValueError, match=r"kind must be 'lift' or 'group', got 'planar'"):
        expand_filter(W, kind="planar")
    with pytest.raises(
        ValueError,
        match=r"weight must have shape \(C_out, C_in, k, k\) for "
        r"kind='lift', got \(4, 3, 4, 3, 3\)",
    ):
        expand_filter(WG, kind="lift")
    with pytest.raises(
        ValueError,
        match=r"weight must have shape \(C_out, C_in, 8, k, k\) for "
        r"kind='group' and group p4m, got \(4, 3, 4, 3, 3\)",
    ):
        expand_filter(WG, "p4m", kind="group")
    with pytest.raises(ValueError, match="square kernel"):
        expand_filter(W[..., :2], kind="lift")
    with pytest.raises(ValueError, match="group must be"):
        expand_filter(W, "p6")
    with pytest.raises(TypeError, match="weight must be real"):
        expand_filter(W.astype(complex))


# --------------------------------------------------------------------------- pooling


def test_group_pool_errors():
    with pytest.raises(
        ValueError,
        match=r"x must have shape \(N, C, \|G\|, H, W\) or "
        r"\(C, \|G\|, H, W\), got \(7, 7\)",
    ):
        group_pool(X[0, 0])
    with pytest.raises(ValueError, match=r"got \(1, 2, 3, 4, 7, 7\)"):
        group_pool(F[None])
    with pytest.raises(ValueError, match=r"reduce must be 'max', 'mean' or 'sum', got 'min'"):
        group_pool(F, "min")
    with pytest.raises(ValueError, match=r"nonempty group axis"):
        group_pool(F[:, :, :0])
    with pytest.raises(TypeError, match="x must be real"):
        group_pool(F + 1j)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((X[0, 0, 0], 2), {}, ValueError, r"x must have shape \(\.\.\., H, W\), got \(7,\)"),
        ((X, 2), {"reduce": "sum"}, ValueError, r"reduce must be 'max' or 'mean', got 'sum'"),
        ((X, 0), {}, ValueError, r"kernel_size must be positive, got 0"),
        ((X, (2, 2, 2)), {}, ValueError, r"kernel_size must be an integer or a pair"),
        ((X, 2.0), {}, TypeError, r"kernel_size must be an integer or a pair"),
        ((X, 2), {"stride": 0}, ValueError, r"stride must be positive"),
        ((X, 2), {"padding": -1}, ValueError, r"padding must be nonnegative"),
        (
            (X, 3),
            {"padding": 2},
            ValueError,
            (
                r"padding must be at most half the kernel size \(as in PyTorch\), got padding \(2, 2\) "
                r"for kernel_size \(3, 3\)"
            ),
        ),
        ((X, 9), {}, ValueError, r"x is too small for a 9x9 window: its spatial size 7x7"),
        ((X[..., :0], 2), {}, ValueError, r"x must have a nonempty spatial size"),
        ((X, None), {"stride": 2}, ValueError, r"global pooling \(kernel_size=None\) takes no"),
        ((X, None), {"padding": 1}, ValueError, r"global pooling"),
        ((X + 1j, 2), {}, TypeError, r"x must be real"),
    ],
)
def test_spatial_pool_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        spatial_pool(*args, **kwargs)


# --------------------------------------------------------------------------- equivariance tools


def test_check_equivariance_errors():
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        check_equivariance(3, X)
    with pytest.raises(ValueError, match="group must be"):
        check_equivariance(group_pool, F, "p3")
    with pytest.raises(ValueError, match=r"input_kind must be 'image', 'group' or None, got 'map'"):
        check_equivariance(group_pool, F, input_kind="map")
    with pytest.raises(ValueError, match=r"output_kind must be 'image', 'group', 'invariant'"):
        check_equivariance(group_pool, F, output_kind="vector")
    with pytest.raises(
        ValueError,
        match=r"x must have shape \(\.\.\., H, W\) for "
        r"input_kind='image', got \(3,\)",
    ):
        check_equivariance(np.negative, np.ones(3))
    with pytest.raises(
        ValueError,
        match=r"x must have shape \(\.\.\., 8, H, W\) for "
        r"input_kind='group' and group p4m, got \(2, 3, 4, 7, 7\)",
    ):
        check_equivariance(group_pool, F, "p4m")
    with pytest.raises(
        ValueError,
        match=r"cannot infer output_kind from fn\(x\) of shape "
        r"\(1, 1, 2, 3, 7, 7\)",
    ):
        check_equivariance(lambda a: a[None, None], X)
    with pytest.raises(
        ValueError,
        match=r"fn\(x\) must have shape \(\.\.\., 4, H, W\) for "
        r"output_kind='group'",
    ):
        check_equivariance(np.negative, X, output_kind="group")
    with pytest.raises(
        ValueError,
        match=r"fn\(x\) must have shape \(\.\.\., H, W\) for "
        r"output_kind='image', got \(2,\)",
    ):
        check_equivariance(lambda a: a.sum(axis=(1, 2, 3)), X, output_kind="image")
    with pytest.raises(TypeError, match=r"fn\(x\) must be real"):
        check_equivariance(lambda a: a + 1j, X)


def test_equivariance_conditions_errors():
    net = nn.Sequential(nn.LiftingConv(1, 1, 3, rng=0))
    with pytest.raises(ValueError, match="input_size must be positive, got 0"):
        equivariance_conditions(net, 0)
    with pytest.raises(ValueError, match="input_size must be an integer or a pair"):
        equivariance_conditions(net, (8, 8, 8))
    with pytest.raises(TypeError, match="input_size must be an integer or a pair"):
        equivariance_conditions(net, True)
    with pytest.raises(TypeError, match="input_size must be an integer or a pair"):
        equivariance_conditions(net, 8.0)
    with pytest.raises(TypeError, match="layers must be a gcnn.nn.Sequential, an iterable"):
        equivariance_conditions(5, 8)


# --------------------------------------------------------------------------- nn layers


@pytest.mark.parametrize(
    "cls, args, kwargs, error, match",
    [
        (nn.LiftingConv, (0, 2, 3), {}, ValueError, "in_channels must be positive, got 0"),
        (nn.GroupConv, (1, -2, 3), {}, ValueError, "out_channels must be positive, got -2"),
        (nn.GroupConv, (1.0, 2, 3), {}, TypeError, "in_channels must be an integer"),
        (nn.LiftingConv, (1, 2, (3, 5)), {}, ValueError, r"kernel_size must be square"),
        (nn.LiftingConv, (1, 2, 0), {}, ValueError, r"kernel_size must be positive"),
        (nn.LiftingConv, (1, 2, 4), {"padding": "same"}, ValueError, "needs an odd kernel size"),
        (
            nn.GroupConv,
            (1, 2, 3),
            {"padding": "same", "stride": 2},
            ValueError,
            "not supported with stride",
        ),
        (nn.GroupConv, (1, 2, 3), {"padding": -1}, ValueError, "padding must be nonnegative"),
        (nn.GroupConv, (1, 2, 3), {"stride": 0}, ValueError, "stride must be positive"),
        (nn.GroupConv, (1, 2, 3), {"group": "p8"}, ValueError, "group must be"),
        (nn.LiftingConv, (1, 2, 3), {"bias": "yes"}, TypeError, "bias must be True or False"),
        (
            nn.LiftingConv,
            (1, 2, 3),
            {"dtype": np.int32},
            TypeError,
            "dtype must be float32 or float64, got int32",
        ),
        (
            nn.LiftingConv,
            (1, 2, 3),
            {"dtype": "not a dtype"},
            TypeError,
            "dtype must be float32 or float64",
        ),
        (
            nn.LiftingConv,
            (1, 2, 3),
            {"rng": "seed"},
            TypeError,
            "rng must be None, an int seed or a numpy.random.Generator",
        ),
        (nn.LiftingConv, (1, 2, 3), {"rng": np.random.RandomState(0)}, TypeError, "rng must be"),
        (nn.GroupPool, ("min",), {}, ValueError, "reduce must be 'max', 'mean' or 'sum'"),
        (nn.SpatialPool, (2,), {"reduce": "sum"}, ValueError, "reduce must be 'max' or 'mean'"),
        (nn.SpatialPool, (3,), {"padding": 2}, ValueError, "padding must be at most half"),
        (nn.SpatialPool, (0,), {}, ValueError, "kernel_size must be positive"),
    ],
)
def test_layer_construction_errors(cls, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(*args, **kwargs)


def test_layer_call_errors_name_the_argument():
    with pytest.raises(
        ValueError,
        match=r"weight must have shape \(C_out, 2, k, k\) for x with 2 "
        r"channels, got \(4, 3, 3, 3\)",
    ):
        nn.LiftingConv(3, 4, 3, rng=0)(np.ones((1, 2, 5, 5)))
    with pytest.raises(TypeError, match="layer 1 must be callable, got int"):
        nn.Sequential(nn.ReLU(), 3)
    with pytest.raises(TypeError, match="x must be real"):
        nn.ReLU()(np.ones(2) * 1j)


# --------------------------------------------------------------------------- dtypes


def test_dtype_promotion():
    x32, w32 = X.astype(np.float32), W.astype(np.float32)
    assert lift(x32, w32).dtype == np.float32
    assert lift(x32, W).dtype == np.float64
    assert lift(X.astype(np.float16), w32).dtype == np.float32
    assert lift(X.astype(np.int16), W.astype(np.int8)).dtype == np.float64
    assert lift(X > 0, W > 0).dtype == np.float64  # bool promotes to float64
    assert lift(X > 0, w32).dtype == np.float32  # ... unless the other operand is float32
    assert lift(x32, w32, B).dtype == np.float32  # the bias is cast, it does not promote
    np.testing.assert_allclose(
        lift(x32, w32, B), lift(x32, w32, B.astype(np.float32)), rtol=0, atol=0
    )
    integers = RNG.integers(-3, 4, size=(1, 3, 6, 6))
    np.testing.assert_array_equal(lift(integers, W), lift(integers.astype(float), W))
    assert group_conv(F.astype(np.float32), WG.astype(np.float32)).dtype == np.float32
    assert group_pool(F.astype(np.int32)).dtype == np.float64
    assert group_pool(F.astype(np.float16)).dtype == np.float32
    assert spatial_pool(X.astype(np.uint8), 2).dtype == np.float64
    assert spatial_pool(X.astype(np.float32), 2, reduce="mean").dtype == np.float32
    assert lift(X.tolist(), W.tolist()).dtype == np.float64  # nested lists are array-like


# --------------------------------------------------------------------------- layouts and inputs


def _layouts(array: np.ndarray):
    """The same values as Fortran-ordered, strided, byte-swapped and read-only arrays."""
    fortran = np.asfortranarray(array)
    doubled = np.repeat(array, 2, axis=-1)[..., ::2]  # every other column of a wider buffer
    swapped = array.astype(array.dtype.newbyteorder(">" if sys.byteorder == "little" else "<"))
    readonly = array.copy()
    readonly.flags.writeable = False
    reversed_view = array[..., ::-1].copy()[..., ::-1]  # negative strides, same values
    return {
        "fortran": fortran,
        "strided": doubled,
        "byteswapped": swapped,
        "readonly": readonly,
        "negative": reversed_view,
    }


@pytest.mark.parametrize("layout", ["fortran", "strided", "byteswapped", "readonly", "negative"])
def test_any_layout_gives_the_contiguous_result(layout):
    cases = [
        (lambda x, w, b: lift(x, w, b, group="p4m", stride=2, padding=1), (X, W, B)),
        (lambda x, w, b: group_conv(x, w, b, padding="same"), (F, WG, B)),
        (lambda x, w, b: expand_filter(w, "p4", "group"), (F, WG, B)),
        (lambda x, w, b: group_pool(x, "mean"), (F, WG, B)),
        (lambda x, w, b: spatial_pool(x, 3, 2, 1), (F, WG, B)),
    ]
    for fn, arrays in cases:
        expected = fn(*arrays)
        converted = [_layouts(array)[layout] for array in arrays]
        for array, original in zip(converted, arrays):
            np.testing.assert_array_equal(array, original)  # same values, other memory layout
        out = fn(*converted)
        if layout == "negative":
            assert converted[0].strides[-1] < 0
        assert out.dtype == expected.dtype and out.dtype.isnative
        np.testing.assert_array_equal(out, expected)


def test_inputs_are_never_modified():
    arrays = [X.copy(), W.copy(), B.copy(), F.copy(), WG.copy()]
    for array in arrays:
        array.flags.writeable = False  # any write would raise
    x, w, b, f, wg = arrays
    lift(x, w, b, padding=1)
    group_conv(f, wg, b, stride=2)
    expand_filter(w)
    expand_filter(wg, kind="group")
    group_pool(f)
    spatial_pool(f, 2, padding=1)
    spatial_pool(x, None, reduce="mean")
    check_equivariance(lambda a: lift(a, w, padding=1), x)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(w, W)
    np.testing.assert_array_equal(b, B)
    np.testing.assert_array_equal(f, F)
    np.testing.assert_array_equal(wg, WG)
    # Writable inputs: results never alias them, so writing into a result leaves them intact.
    x = X.copy()
    for out in (group_pool(F.copy()), spatial_pool(x, 1), nn.ReLU()(x)):
        out[...] = 0.0
    np.testing.assert_array_equal(x, X)


def test_float32_weight_of_a_layer_is_not_modified_by_float64_input():
    layer = nn.GroupConv(3, 4, 3, rng=0)
    before = layer.weight.copy()
    out = layer(F)
    assert out.dtype == np.float64 and layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight, before)


def test_refcounts_stay_flat():
    x, w, b, f, wg = X.copy(), W.copy(), B.copy(), F.copy(), WG.copy()
    before = [sys.getrefcount(a) for a in (x, w, b, f, wg)]
    for _ in range(200):
        lift(x, w, b, padding=1)
        group_conv(f, wg, b)
        group_pool(f)
        spatial_pool(f, 2)
        expand_filter(wg, kind="group")
        with pytest.raises(ValueError):
            lift(x, w[:, :1], b)
        with pytest.raises(ValueError):
            group_conv(f, wg, b[:1])
    after = [sys.getrefcount(a) for a in (x, w, b, f, wg)]
    assert after == before


# --------------------------------------------------------------------------- the C backstop


def test_c_core_rejects_what_the_wrapper_would_have_caught():
    x = np.ones((1, 12, 5, 5))
    bank = expand_filter(WG, kind="group")  # (16, 12, 3, 3)
    with pytest.raises(TypeError, match="weight must have the dtype of x"):
        _core.correlate(x, bank.astype(np.float32))
    with pytest.raises(ValueError, match=r"weight must have shape \(out_channels, 12, kh, kw\)"):
        _core.correlate(x, bank[:, :4].copy())
    with pytest.raises(ValueError, match=r"bias must have shape \(16,\)"):
        _core.correlate(x, bank, np.ones(4))
    with pytest.raises(ValueError, match="padded input must be at least as large"):
        _core.correlate(x[..., :2, :2].copy(), bank)


# --------------------------------------------------------------------------- sizes out of range


@pytest.mark.parametrize(
    "keywords, match",
    [
        ({"stride": 2**64}, r"stride is too large: at most 2\*\*62, got 18446744073709551616"),
        ({"padding": 2**64}, r"padding is too large: at most 2\*\*62"),
        ({"padding": (1, 2**63)}, r"padding is too large"),
        ({"padding": 2**30}, r"lift of x with shape \(1, 2, 8, 8\).*padding=1073741824.*too large"),
        ({"padding": 2**62}, r"lift of x .* too large"),
    ],
)
def test_huge_geometry_names_the_argument(keywords, match):
    with pytest.raises(ValueError, match=match):
        lift(np.ones((1, 2, 8, 8)), np.ones((3, 2, 3, 3)), **keywords)


def test_an_output_too_large_for_memory_says_which():
    from gcnn import conv2d

    x = np.broadcast_to(np.float32(1), (1, 1, 30000, 30000))  # no memory of its own
    with pytest.raises(MemoryError, match=r"conv2d of x with shape \(1, 1, 30000, 30000\).*GiB"):
        conv2d(x, np.ones((1, 1, 1, 1), np.float32), padding=2000000)  # 16 TiB of output
    stride_ok = lift(np.ones((1, 2, 8, 8)), np.ones((3, 2, 3, 3)), stride=2**62, padding=2**61)
    assert stride_ok.shape == (1, 3, 4, 2, 2)  # huge but valid geometry still computes


def test_equivariance_conditions_refuses_what_is_not_a_layer():
    with pytest.raises(TypeError, match="layer 0 is int 3"):
        equivariance_conditions([3], 8)
