"""gcnn.groups against docs/design.md, §2 Groups, tested from the formulas, not the code."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gcnn import groups
from gcnn import reference as ref
from gcnn.groups import get_group, p4, p4m

GROUPS = [p4, p4m]
GROUP_IDS = ["p4", "p4m"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


# --------------------------------------------------------------------------- basic attributes


def test_names_orders_elements():
    assert (p4.name, p4.order, p4.elements) == ("p4", 4, (0, 1, 2, 3))
    assert (p4m.name, p4m.order, p4m.elements) == ("p4m", 8, tuple(range(8)))


def test_repr_is_readable():
    assert repr(p4) == "<group p4: rotations by multiples of 90 degrees, order 4>"
    assert "p4m" in repr(p4m) and "mirror" in repr(p4m) and "order 8" in repr(p4m)


def test_element_names_are_distinct_and_identity_is_r0():
    for group in GROUPS:
        names = [group.element_name(g) for g in group.elements]
        assert len(set(names)) == group.order
        assert names[0] == "r0"
    assert p4m.element_name(7) == "m r3"


def test_get_group():
    assert get_group("p4") is p4
    assert get_group("p4m") is p4m
    assert get_group(p4m) is p4m
    # A fresh instance is the same group.
    assert groups.P4Group() == p4 and hash(groups.P4Group()) == hash(p4)
    assert p4 != p4m
    for bad in ["P4", "p6", "", 4, None]:
        with pytest.raises(ValueError, match="group must be 'p4', 'p4m'"):
            get_group(bad)


# --------------------------------------------------------------------------- group axioms


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_closure(group):
    for a, b in itertools.product(group.elements, repeat=2):
        product = group.compose(a, b)
        assert type(product) is int
        assert product in group.elements


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_associativity(group):
    for a, b, c in itertools.product(group.elements, repeat=3):
        assert group.compose(group.compose(a, b), c) == group.compose(a, group.compose(b, c))


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_identity_is_element_zero(group):
    for a in group.elements:
        assert group.compose(0, a) == a
        assert group.compose(a, 0) == a


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_inverses(group):
    for a in group.elements:
        a_inverse = group.inverse(a)
        assert a_inverse in group.elements
        assert group.compose(a, a_inverse) == 0
        assert group.compose(a_inverse, a) == 0


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_inverse_undoes_the_spatial_action(group, rng):
    image = rng.standard_normal((2, 5, 7))
    for g in group.elements:
        there = group.transform_image(image, g)
        back = group.transform_image(there, group.inverse(g))
        np.testing.assert_array_equal(back, image)


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_cayley_table_is_a_latin_square_matching_compose(group):
    table = group.cayley_table()
    assert table.shape == (group.order, group.order)
    assert np.issubdtype(table.dtype, np.integer)
    for a, b in itertools.product(group.elements, repeat=2):
        assert table[a, b] == group.compose(a, b)
    # Every row and column is a permutation of the elements (cancellation law).
    for row in table:
        assert sorted(row) == list(group.elements)
    for column in table.T:
        assert sorted(column) == list(group.elements)
    # Each call returns a fresh array: scribbling on one must not affect the next.
    table[:] = -1
    assert group.cayley_table().min() == 0


def test_group_structure_is_c4_and_d4():
    # Facts about C4 and D4 that do not depend on how elements are numbered.
    def element_order(group, g):
        power, steps = g, 1
        while power != 0:
            power, steps = group.compose(power, g), steps + 1
        return steps

    assert sorted(element_order(p4, g) for g in p4.elements) == [1, 2, 4, 4]
    assert sorted(element_order(p4m, g) for g in p4m.elements) == [1, 2, 2, 2, 2, 2, 4, 4]
    # p4 is abelian, p4m is not; the centre of D4 is {identity, half turn}.
    assert all(p4.compose(a, b) == p4.compose(b, a) for a in p4.elements for b in p4.elements)
    centre = [
        a for a in p4m.elements if all(p4m.compose(a, b) == p4m.compose(b, a) for b in p4m.elements)
    ]
    assert centre == [0, 2]


def test_p4_is_the_rotation_subgroup_of_p4m():
    for a, b in itertools.product(p4.elements, repeat=2):
        assert p4.compose(a, b) == p4m.compose(a, b)
        assert p4.compose(a, b) < 4
    for a in p4.elements:
        assert p4.inverse(a) == p4m.inverse(a)


# --------------------------------------------------------------------------- spatial action


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_transform_image_follows_design_formula(group, rng):
    image = rng.standard_normal((3, 4, 6))
    for g in group.elements:
        np.testing.assert_array_equal(
            group.transform_image(image, g), ref.transform_image(image, g)
        )


def test_compose_agrees_with_the_geometry():
    # The law derived from what the maps do to an image, not from the compose formula.
    for a, b in itertools.product(p4m.elements, repeat=2):
        assert p4m.compose(a, b) == ref.compose(a, b)


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_compose_matches_composing_transform_image(group, rng):
    image = rng.standard_normal((2, 5, 7))  # non-square, with a leading batch axis
    for a, b in itertools.product(group.elements, repeat=2):
        two_steps = group.transform_image(group.transform_image(image, b), a)
        one_step = group.transform_image(image, group.compose(a, b))
        np.testing.assert_array_equal(two_steps, one_step)


def test_transform_image_geometry_of_a_quarter_turn():
    # A marker in the top-right corner moves to the top-left under one counter-clockwise turn
    # (np.rot90's sense with row 0 drawn at the top), and a mirror moves it to the top-left too.
    image = np.zeros((3, 5))
    image[0, -1] = 1.0
    turned = p4.transform_image(image, 1)
    assert turned.shape == (5, 3)
    assert turned[0, 0] == 1.0 and turned.sum() == 1.0
    mirrored = p4m.transform_image(image, 4)
    assert mirrored[0, 0] == 1.0 and mirrored.sum() == 1.0


def test_transform_image_keeps_dtype_and_accepts_any_layout(rng):
    image = rng.standard_normal((6, 5)).astype(np.float32)
    strided = np.asfortranarray(rng.standard_normal((8, 10)))[::2, ::2]
    readonly = rng.standard_normal((4, 4))
    readonly.flags.writeable = False
    byteswapped = rng.standard_normal((3, 4)).astype(">f8")
    for array in (image, strided, readonly, byteswapped, [[1, 2], [3, 4]]):
        for g in p4m.elements:
            out = p4m.transform_image(array, g)
            assert out.dtype == np.asarray(array).dtype
            assert out.flags.c_contiguous
            np.testing.assert_array_equal(out, ref.transform_image(np.asarray(array), g))


# --------------------------------------------------------------------------- feature maps


def reference_transform_features(group, features: np.ndarray, g: int) -> np.ndarray:
    """(L_g F)[h] = T_g(F[g^-1 h]), by an explicit loop over the output orientation h."""
    planes = []
    for h in group.elements:
        source = group.compose(group.inverse(g), h)
        planes.append(ref.transform_image(features[..., source, :, :], g))
    return np.stack(planes, axis=-3)


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_transform_features_matches_the_formula_by_loop(group, rng):
    features = rng.standard_normal((2, 3, group.order, 5, 6))
    for g in group.elements:
        expected = reference_transform_features(group, features, g)
        np.testing.assert_array_equal(group.transform_features(features, g), expected)
        # and with the group law derived from the geometry (gcnn.reference)
        np.testing.assert_array_equal(expected, ref.transform_features(features, g, group.order))


def test_p4m_transform_features_by_hand_for_one_mirror(rng):
    # g = 4 (pure mirror) is its own inverse; g^-1 h = compose(4, h) swaps the slots
    # 0<->4, 1<->7, 2<->6, 3<->5 because mirror(r^k) = (m r^-k).
    features = rng.standard_normal((8, 3, 4))
    out = p4m.transform_features(features, 4)
    for h, source in enumerate([4, 7, 6, 5, 0, 3, 2, 1]):
        np.testing.assert_array_equal(out[h], np.flip(features[source], -1))


def test_p4_generator_is_roll_of_rot90(rng):
    features = rng.standard_normal((3, 4, 5, 5))
    expected = np.roll(np.rot90(features, 1, axes=(-2, -1)), 1, axis=-3)
    np.testing.assert_array_equal(p4.transform_features(features, 1), expected)
    # ...and powers of the generator are the other rotations.
    for g in p4.elements:
        expected = features
        for _ in range(g):
            expected = np.roll(np.rot90(expected, 1, axes=(-2, -1)), 1, axis=-3)
        np.testing.assert_array_equal(p4.transform_features(features, g), expected)


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_transform_features_is_a_representation(group, rng):
    features = rng.standard_normal((2, group.order, 4, 7))  # non-square planes
    for a, b in itertools.product(group.elements, repeat=2):
        two_steps = group.transform_features(group.transform_features(features, b), a)
        one_step = group.transform_features(features, group.compose(a, b))
        np.testing.assert_array_equal(two_steps, one_step)


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_permutation_describes_transform_features(group, rng):
    features = rng.standard_normal((group.order, 3, 5))
    for g in group.elements:
        permutation = group.permutation(g)
        assert sorted(permutation) == list(group.elements)
        out = group.transform_features(features, g)
        for h in group.elements:
            np.testing.assert_array_equal(out[h], ref.transform_image(features[permutation[h]], g))


# --------------------------------------------------------------------------- no aliasing


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_inputs_unmodified_and_outputs_never_alias(group, rng):
    image = rng.standard_normal((4, 4))
    features = rng.standard_normal((group.order, 4, 4))
    image_before, features_before = image.copy(), features.copy()
    for g in group.elements:  # g = 0 included: identity must still copy
        out_image = group.transform_image(image, g)
        out_features = group.transform_features(features, g)
        assert not np.shares_memory(out_image, image)
        assert not np.shares_memory(out_features, features)
        out_image[...] = 0
        out_features[...] = 0
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(features, features_before)


# --------------------------------------------------------------------------- element arguments


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_numpy_integers_are_accepted(group):
    last = group.order - 1
    assert group.compose(np.int64(1), np.uint8(last)) == group.compose(1, last)
    assert group.inverse(np.int32(1)) == group.inverse(1)
    assert group.element_name(np.int16(0)) == "r0"
    np.testing.assert_array_equal(group.permutation(np.intp(1)), group.permutation(1))


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
@pytest.mark.parametrize("bad", [1.0, True, np.bool_(False), "1", None, np.array(1)])
def test_non_integer_elements_raise_type_error(group, bad):
    with pytest.raises(TypeError, match="a must be an integer element index"):
        group.compose(bad, 0)
    with pytest.raises(TypeError, match="b must be an integer element index"):
        group.compose(0, bad)
    with pytest.raises(TypeError, match="a must be an integer element index"):
        group.inverse(bad)
    with pytest.raises(TypeError, match="g must be an integer element index"):
        group.element_name(bad)
    with pytest.raises(TypeError, match="g must be an integer element index"):
        group.permutation(bad)
    with pytest.raises(TypeError, match="g must be an integer element index"):
        group.transform_image(np.zeros((2, 2)), bad)
    with pytest.raises(TypeError, match="g must be an integer element index"):
        group.transform_features(np.zeros((group.order, 2, 2)), bad)


@pytest.mark.parametrize("group", GROUPS, ids=GROUP_IDS)
def test_out_of_range_elements_raise_value_error(group):
    for bad in (-1, group.order, np.int64(100)):
        with pytest.raises(ValueError, match=rf"a must be an element of {group.name}.*got"):
            group.compose(bad, 0)
        with pytest.raises(ValueError, match=rf"b must be an element of {group.name}"):
            group.compose(0, bad)
        with pytest.raises(ValueError, match=rf"a must be an element of {group.name}"):
            group.inverse(bad)
        with pytest.raises(ValueError, match=rf"g must be an element of {group.name}"):
            group.transform_image(np.zeros((2, 2)), bad)
    # Mirrored elements are not part of p4.
    if group is p4:
        with pytest.raises(ValueError, match=r"range\(0, 4\), got 4"):
            p4.element_name(4)


def test_bad_shapes_raise_value_error_naming_the_argument():
    with pytest.raises(ValueError, match=r"a must have at least 2 dimensions.*\(5,\)"):
        p4.transform_image(np.zeros(5), 1)
    with pytest.raises(ValueError, match=r"F must have shape \(\.\.\., 4, H, W\).*\(8, 3, 3\)"):
        p4.transform_features(np.zeros((8, 3, 3)), 1)
    with pytest.raises(ValueError, match=r"F must have shape \(\.\.\., 8, H, W\).*\(4, 3, 3\)"):
        p4m.transform_features(np.zeros((4, 3, 3)), 1)
    with pytest.raises(ValueError, match=r"F must have shape.*\(4, 3\)"):
        p4.transform_features(np.zeros((4, 3)), 1)
