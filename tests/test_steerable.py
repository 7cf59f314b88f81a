"""Finer groups: cN and dN, steerable filters, and the layers, gradients and models on them.

The contract is docs/design.md, §2.5 Cyclic and dihedral groups of any order, §2.6 Turns that are
not quarter turns, §3.7 Steerable filters and §4.5 Approximate equivariance. The slow reference
here builds each turned filter independently of gcnn's matrices: it fits the continuous
circular harmonics to the filter by least squares and samples them at the turned grid points.
"""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest

import gcnn
from gcnn import models, nn, steerable
from gcnn._layers import _fold_group, _fold_lift
from gcnn.groups import cyclic, dihedral, get_group, p4, p4m

STEERABLE = [cyclic(8), dihedral(8), cyclic(3), cyclic(16), dihedral(6), cyclic(5)]
STEERABLE_IDS = [group.name for group in STEERABLE]
SMALL = [cyclic(1), cyclic(2), dihedral(1), dihedral(2), cyclic(3), cyclic(8), dihedral(3)]


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)


def smooth(rng, shape, width=2.0):
    """Random images blurred by a Gaussian of `width` pixels (smooth enough to turn)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    sigma = (0,) * (len(shape) - 2) + (width, width)
    values = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return values / values.std()


def steerable_weight(rng, leading, k):
    """Random filters inside the steerable subspace (coefficients times the basis)."""
    basis = steerable.filter_basis(k)
    return np.tensordot(rng.standard_normal(leading + (len(basis),)), basis, axes=1)


# --------------------------------------------------------------------------- the groups


def test_names_and_instances():
    assert get_group("c8") is cyclic(8) and cyclic(8).name == "c8" and cyclic(8).order == 8
    assert get_group("d8") is dihedral(8) and dihedral(8).order == 16
    assert get_group("c4") is p4 and cyclic(4) is p4 and get_group("d4") is p4m
    assert dihedral(4) is p4m and p4.rotations == 4 and p4m.mirrors
    assert get_group("c1").order == 1 and get_group("d1").order == 2
    assert repr(cyclic(8)) == "<group c8: rotations by multiples of 45 degrees, order 8>"
    assert repr(dihedral(16)).startswith("<group d16: rotations by multiples of 22.5 degrees")
    assert cyclic(8) == gcnn.groups.CyclicGroup(8) and hash(cyclic(8)) == hash(
        gcnn.groups.CyclicGroup(8)
    )
    assert cyclic(8) != dihedral(8) and cyclic(8) != cyclic(16)
    for group in (cyclic(8), dihedral(16), p4, p4m):  # unpickled to the module's instance
        assert pickle.loads(pickle.dumps(group)) is group
    for bad in ["c0", "c", "C8", "d-1", "c08", "c8m", "p8"]:
        with pytest.raises(ValueError, match="group must be 'p4', 'p4m' or a group instance.*'cN'"):
            get_group(bad)
    with pytest.raises(TypeError, match="N must be an integer"):
        cyclic(8.0)
    with pytest.raises(TypeError, match="N must be an integer"):
        dihedral(True)
    with pytest.raises(ValueError, match=r"N must be in range\(1, 4097\), got 0"):
        cyclic(0)


def test_steerable_and_exact_elements():
    assert not any(group.steerable for group in (p4, p4m, cyclic(1), cyclic(2), dihedral(2)))
    assert all(group.steerable for group in STEERABLE)
    assert cyclic(8).exact_elements == (0, 2, 4, 6)
    assert dihedral(8).exact_elements == (0, 2, 4, 6, 8, 10, 12, 14)
    assert cyclic(6).exact_elements == (0, 3) and cyclic(5).exact_elements == (0,)
    assert math.isclose(cyclic(16).angle(3), 3 * math.pi / 8)
    assert math.isclose(dihedral(8).angle(9), math.pi / 4)


@pytest.mark.parametrize("group", SMALL + STEERABLE, ids=lambda group: group.name)
def test_group_axioms(group):
    table = group.cayley_table()
    for a, b in itertools.product(group.elements, repeat=2):
        assert group.compose(a, b) == table[a, b]
        assert group.compose(group.compose(a, b), group.inverse(b)) == a
    for a, b, c in itertools.product(group.elements[:6], repeat=3):
        assert table[table[a, b], c] == table[a, table[b, c]]
    for row in table:
        assert sorted(row) == list(group.elements)
    for a in group.elements:
        assert group.compose(0, a) == a == group.compose(a, 0)


@pytest.mark.parametrize("group", SMALL + STEERABLE, ids=lambda group: group.name)
def test_compose_agrees_with_the_exact_actions(group, rng):
    image = rng.standard_normal((2, 5, 7))
    exact = group.exact_elements
    for a, b in itertools.product(exact, repeat=2):
        np.testing.assert_array_equal(
            group.transform_image(group.transform_image(image, b), a),
            group.transform_image(image, group.compose(a, b)),
        )
    features = rng.standard_normal((2, group.order, 5, 5))
    for a, b in itertools.product(exact, repeat=2):
        np.testing.assert_array_equal(
            group.transform_features(group.transform_features(features, b), a),
            group.transform_features(features, group.compose(a, b)),
        )


def test_the_generator_of_c8_by_hand(rng):
    # Mirror first, then turn counter-clockwise in np.rot90's sense: r2 of c8 is rot90.
    image = rng.standard_normal((6, 6))
    np.testing.assert_array_equal(cyclic(8).transform_image(image, 2), np.rot90(image))
    np.testing.assert_array_equal(
        dihedral(8).transform_image(image, 8 + 6), np.rot90(np.flip(image, -1), 3)
    )
    features = rng.standard_normal((8, 6, 6))
    np.testing.assert_array_equal(
        cyclic(8).transform_features(features, 2),
        np.roll(np.rot90(features, 1, axes=(-2, -1)), 2, axis=-3),
    )


def test_non_quarter_turns_interpolate_with_cubic_splines(rng):
    ndimage = pytest.importorskip("scipy.ndimage")
    image = rng.standard_normal((9, 11))
    turned = cyclic(8).transform_image(image, 1)
    assert turned.shape == image.shape and turned.dtype == np.float64
    theta = math.pi / 4
    rows, columns = np.mgrid[:9, :11]
    cy, cx = 4.0, 5.0
    y = cy + math.cos(theta) * (rows - cy) + math.sin(theta) * (columns - cx)
    x = cx - math.sin(theta) * (rows - cy) + math.cos(theta) * (columns - cx)
    expected = ndimage.map_coordinates(image, [y, x], order=3, mode="mirror")
    inside = (y >= 0) & (y <= 8) & (x >= 0) & (x <= 10)
    np.testing.assert_allclose(turned[inside], expected[inside], atol=1e-12)
    assert np.all(turned[~inside] == 0)
    assert cyclic(8).transform_image(image.astype(np.float32), 1).dtype == np.float32
    # Two turns by 45 degrees approximate a quarter turn on a smooth image (not exactly).
    picture = smooth(rng, (1, 1, 33, 33))[0, 0]
    twice = cyclic(8).transform_image(cyclic(8).transform_image(picture, 1), 1)
    disk = np.hypot(*np.mgrid[-16:17, -16:17]) <= 12
    error = np.abs(twice - np.rot90(picture))[disk].max()
    assert 1e-8 < error < 0.05 * np.abs(picture).max()


# --------------------------------------------------------------------------- the basis


def _reference_turned_filter(weight, theta, mirror):
    """Fit the continuous harmonics to `weight`, sample them at the turned grid (independent)."""
    k = weight.shape[-1]
    centre = (k - 1) / 2
    rows, columns = np.mgrid[:k, :k]
    x, y = (columns - centre).ravel(), (centre - rows).ravel()

    def functions(px, py):
        radius, angle = np.hypot(px, py), np.arctan2(py, px)
        values = []
        for ring in range((k - 1) // 2 + 1):
            width = steerable.ring_width(ring, k)
            profile = np.exp(-((radius - steerable.ring_radius(ring, k)) ** 2) / (2 * width**2))
            values.append(profile)
            for n in range(1, steerable.band_limit(ring, k) + 1):
                values.append(np.where(radius < 1e-12, 0, profile * np.cos(n * angle)))
                values.append(np.where(radius < 1e-12, 0, profile * np.sin(n * angle)))
        return np.stack(values, axis=1)

    coefficients = np.linalg.lstsq(functions(x, y), weight.ravel(), rcond=None)[0]
    # The turned function at p is the function at (mirror of) R^-1 p.
    c, s = math.cos(theta), math.sin(theta)
    source_x, source_y = c * x + s * y, -s * x + c * y
    if mirror:
        source_x = -source_x
    return (functions(source_x, source_y) @ coefficients).reshape(k, k)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7])
def test_basis_is_orthonormal_and_turns_like_the_reference(k, rng):
    basis = steerable.filter_basis(k)
    assert basis.shape == (steerable.filter_basis(k).shape[0], k, k) and not basis.flags.writeable
    np.testing.assert_allclose(
        np.tensordot(basis, basis, ([1, 2], [1, 2])), np.eye(len(basis)), atol=1e-12
    )
    weight = rng.standard_normal((k, k))
    for theta, mirror in [(0.0, False), (0.3, False), (math.pi / 4, True), (2.0, True)]:
        np.testing.assert_allclose(
            steerable.turn_filter(weight, theta, mirror=mirror),
            _reference_turned_filter(weight, theta, mirror),
            atol=1e-10,
        )


@pytest.mark.parametrize("k", [3, 4, 5, 7])
def test_turns_are_a_representation_exact_at_quarter_turns(k, rng):
    w = steerable_weight(rng, (), k)
    turn = steerable.turn_filter
    np.testing.assert_allclose(turn(w, 0.0), w, atol=1e-13)
    np.testing.assert_allclose(turn(turn(w, 0.4), 1.1), turn(w, 1.5), atol=1e-13)
    np.testing.assert_allclose(
        turn(turn(w, 0.4), 0.0, mirror=True), turn(w, -0.4, mirror=True), atol=1e-13
    )
    for quarter in range(4):
        np.testing.assert_allclose(turn(w, quarter * math.pi / 2), np.rot90(w, quarter), atol=1e-13)
    np.testing.assert_allclose(turn(w, 0.0, mirror=True), np.flip(w, -1), atol=1e-13)
    # A filter outside the subspace is projected first: turning by 0 is the projection.
    pixel = np.zeros((k, k))
    pixel[0, 0] = 1.0
    projected = turn(pixel, 0.0)
    basis = steerable.filter_basis(k)
    expected = np.tensordot(np.tensordot(basis, pixel, 2), basis, 1)
    np.testing.assert_allclose(projected, expected, atol=1e-13)


def test_basis_sizes_and_band_limits():
    assert [len(steerable.filter_basis(k)) for k in range(1, 8)] == [1, 1, 4, 4, 9, 9, 16]
    assert [steerable.band_limit(r, 7) for r in range(4)] == [0, 1, 3, 2]
    with pytest.raises(ValueError, match="kernel_size must be at most 31"):
        steerable.filter_basis(32)
    with pytest.raises(ValueError, match=r"weight must have shape \(\.\.\., k, k\)"):
        steerable.turn_filter(np.zeros((3, 4)), 0.1)


# --------------------------------------------------------------------------- layers


def lift_reference(x, w, group, padding):
    """Slow lift: each turned filter from the reference fit, correlated with NumPy."""
    banks = np.stack(
        [
            np.stack(
                [
                    _reference_turned_filter(w[o, c], group.angle(g), g >= group.rotations)
                    for c in range(w.shape[1])
                ]
            )
            for o in range(w.shape[0])
            for g in group.elements
        ]
    )
    return gcnn.conv2d(x, banks, padding=padding).reshape(
        x.shape[0], w.shape[0], group.order, *x.shape[-2:]
    )


@pytest.mark.parametrize("group", STEERABLE, ids=STEERABLE_IDS)
def test_lift_equals_the_reference_and_slot_zero_is_the_filter(group, rng):
    x = rng.standard_normal((2, 2, 7, 7))
    w = rng.standard_normal((3, 2, 3, 3))  # not in the subspace: projected
    np.testing.assert_allclose(
        gcnn.lift(x, w, group=group, padding=1), lift_reference(x, w, group, 1), atol=1e-10
    )
    inside = steerable_weight(rng, (3, 2), 5)
    bank = gcnn.expand_filter(inside, group, "lift")
    assert bank.shape == (3 * group.order, 2, 5, 5)
    np.testing.assert_allclose(bank[:: group.order], inside, atol=1e-13)
    group_bank = gcnn.expand_filter(steerable_weight(rng, (2, 3, group.order), 3), group, "group")
    assert group_bank.shape == (2 * group.order, 3 * group.order, 3, 3)


@pytest.mark.parametrize("group", STEERABLE, ids=STEERABLE_IDS)
def test_exact_elements_are_exact_for_lift_and_group_conv(group, rng):
    w = steerable_weight(rng, (2, 3), 3)
    x = rng.standard_normal((1, 3, 9, 9))
    errors = gcnn.check_equivariance(lambda a: gcnn.lift(a, w, group=group, padding=1), x, group)
    wg = steerable_weight(rng, (2, 3, group.order), 4)
    features = rng.standard_normal((1, 3, group.order, 10, 10))
    group_errors = gcnn.check_equivariance(
        lambda a: gcnn.group_conv(a, wg, group=group, stride=2), features, group
    )
    for result in (errors, group_errors):
        exact = [group.element_name(g) for g in group.exact_elements]
        assert set(result.approximate) == set(result) - set(exact)
        assert max(result[name] for name in exact) < 1e-12 * result.scale


@pytest.mark.parametrize("group", [cyclic(8), dihedral(8), cyclic(16)], ids=lambda g: g.name)
def test_other_turns_are_approximate_and_small_on_smooth_images(group, rng):
    x = smooth(rng, (1, 1, 41, 41))
    w = steerable_weight(rng, (4, 1), 5)
    errors = gcnn.check_equivariance(lambda a: gcnn.lift(a, w, group=group), x, group, margin=5)
    worst = max(errors.relative[name] for name in errors.approximate)
    assert 1e-6 < worst < 0.05
    # A p4 lifting with the same filters, turned by 45 degrees, is far off: the point of cN.
    features = rng.standard_normal((1, 2, group.order, 21, 21))
    wg = steerable_weight(rng, (2, 2, group.order), 3)
    blurred = smooth(rng, features.shape)
    group_errors = gcnn.check_equivariance(
        lambda a: gcnn.group_conv(a, wg, group=group, padding=1), blurred, group, margin=3
    )
    assert max(group_errors.relative[name] for name in group_errors.approximate) < 0.05
    assert np.isfinite(features).all()


@pytest.mark.parametrize("group", STEERABLE, ids=STEERABLE_IDS)
def test_backward_is_the_adjoint_and_the_fold_is_the_transpose(group, rng):
    x = rng.standard_normal((2, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    out = gcnn.lift(x, w, group=group, stride=1, padding=1)
    g = rng.standard_normal(out.shape)
    grad_x, grad_w, _ = gcnn.lift_backward(g, x, w, group=group, padding=1)
    probe_x, probe_w = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    scale = np.abs(out).sum() * np.abs(g).max() + 1
    assert (
        abs(np.vdot(gcnn.lift(probe_x, w, group=group, padding=1), g) - np.vdot(probe_x, grad_x))
        < 1e-11 * scale
    )
    assert (
        abs(np.vdot(gcnn.lift(x, probe_w, group=group, padding=1), g) - np.vdot(probe_w, grad_w))
        < 1e-11 * scale
    )
    # <E(w), B> == <w, E^T(B)> for the expansion alone.
    bank = rng.standard_normal((3 * group.order, 2, 3, 3))
    assert math.isclose(
        np.vdot(gcnn.expand_filter(probe_w, group, "lift"), bank),
        np.vdot(probe_w, _fold_lift(bank, group, 3)),
        rel_tol=1e-11,
        abs_tol=1e-11,
    )
    wg = rng.standard_normal((2, 2, group.order, 3, 3))
    group_bank = rng.standard_normal((2 * group.order, 2 * group.order, 3, 3))
    assert math.isclose(
        np.vdot(gcnn.expand_filter(wg, group, "group"), group_bank),
        np.vdot(wg, _fold_group(group_bank, group, 2)),
        rel_tol=1e-11,
        abs_tol=1e-11,
    )
    features = rng.standard_normal((1, 2, group.order, 7, 7))
    out = gcnn.group_conv(features, wg, group=group, stride=2)
    g = rng.standard_normal(out.shape)
    _, grad_wg, _ = gcnn.group_conv_backward(g, features, wg, group=group, stride=2)
    probe = rng.standard_normal(wg.shape)
    eps = 1e-6
    numeric = np.vdot(
        gcnn.group_conv(features, wg + eps * probe, group=group, stride=2)
        - gcnn.group_conv(features, wg - eps * probe, group=group, stride=2),
        g,
    )
    assert math.isclose(numeric / (2 * eps), np.vdot(probe, grad_wg), rel_tol=1e-6)


def test_float32_layers_stay_float32(rng):
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    assert gcnn.lift(x, w, group="c8").dtype == np.float32
    assert gcnn.expand_filter(w, "c8").dtype == np.float32


# --------------------------------------------------------------------------- nn and models


def test_steerable_layers_hold_coefficients(rng):
    layer = nn.GroupConv(3, 2, 3, group="c8", padding=1, rng=0)
    assert layer.weight.shape == (2, 3, 8, 4) and layer.basis.shape == (4, 3, 3)
    bound = 1 / math.sqrt(3 * 8 * 4)
    assert np.abs(layer.weight).max() <= bound
    filters = layer.filters
    assert filters.shape == (2, 3, 8, 3, 3) and filters.dtype == np.float32
    np.testing.assert_allclose(filters, np.tensordot(layer.weight, layer.basis, 1), atol=1e-7)
    assert "4 steerable filters" in repr(layer)
    x = rng.standard_normal((2, 3, 8, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(
        layer(x),
        gcnn.group_conv(x, filters, layer.bias, group="c8", padding=1),
        rtol=1e-5,
        atol=1e-6,
    )
    lifting = nn.LiftingConv(1, 2, 3, group="p4", rng=0)
    assert lifting.basis is None and lifting.weight.shape == (2, 1, 3, 3)
    np.testing.assert_array_equal(lifting.filters, lifting.weight)
    assert lifting.filters is not lifting.weight


@pytest.mark.parametrize("cls", [nn.LiftingConv, nn.GroupConv])
def test_steerable_layer_gradients_by_finite_differences(cls, rng):
    layer = cls(2, 3, 3, group="d8", padding=1, rng=1, dtype=np.float64)
    shape = (2, 2, 7, 7) if cls is nn.LiftingConv else (2, 2, 16, 7, 7)
    x = rng.standard_normal(shape)
    out = layer(x)
    g = rng.standard_normal(out.shape)
    layer.zero_grad()
    layer.backward(g)
    probe = rng.standard_normal(layer.weight.shape)
    eps = 1e-6
    layer.weight += eps * probe
    plus = np.vdot(layer(x), g)
    layer.weight -= 2 * eps * probe
    minus = np.vdot(layer(x), g)
    layer.weight += eps * probe
    grad = next(p for name, p in layer.named_parameters() if name == "weight").grad
    assert math.isclose((plus - minus) / (2 * eps), np.vdot(probe, grad), rel_tol=1e-6)


@pytest.mark.parametrize(
    ("factory", "group", "parameters"),
    [(models.c8cnn, "c8", 23132), (models.c16cnn, "c16", 25786), (models.d8cnn, "d8", 25786)],
)
def test_finer_models(factory, group, parameters, rng):
    net = factory(padding=1, dtype=np.float64, rng=0).eval()
    assert (
        sum(p.data.size for p in net.parameters())
        == sum(p.data.size for p in factory(rng=0).parameters())
        == parameters
    )
    assert net[0].group == get_group(group)
    x = rng.standard_normal((2, 1, 8, 8))
    logits = net(x)
    grp = get_group(group)
    for g in grp.exact_elements:
        np.testing.assert_allclose(net(grp.transform_image(x, g)), logits, atol=1e-10)
    state = net.state_dict()
    again = factory(padding=1, dtype=np.float64, rng=5).eval()
    again.load_state_dict(state)
    np.testing.assert_array_equal(again(x), logits)


def test_conditions_note_the_approximate_turns():
    net = models.c8cnn(rng=0)
    report = gcnn.equivariance_conditions(net, 28)
    assert report.exact
    assert any("c8 has turns that are not quarter turns" in note for note in report.notes)
