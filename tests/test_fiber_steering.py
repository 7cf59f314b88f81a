"""The tutorial's section 5 on the finer groups: fibers steered by phase factors, as a layer.

docs/design.md, §3.8 Fibers over the orientations: ``fourier.interpolation_matrix``,
``turn_image``, ``steer_features``, ``steering_error`` and ``nn.FiberInterpolation``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import gcnn
from gcnn import fourier, nn, steerable
from gcnn.groups import cyclic, dihedral, get_group

GROUPS = [cyclic(8), dihedral(8), cyclic(16), cyclic(3), "p4", "p4m"]


@pytest.fixture
def rng():
    return np.random.default_rng(1129)


def smooth(rng, shape, width=2.0):
    ndimage = pytest.importorskip("scipy.ndimage")
    values = ndimage.gaussian_filter(
        rng.standard_normal(shape), (0,) * (len(shape) - 2) + (width,) * 2
    )
    return values / values.std()


@pytest.mark.parametrize("n_bins", [1, 2, 3, 4, 8, 16])
def test_interpolation_matrix_is_the_fourier_series(n_bins, rng):
    grid = 2 * np.pi * np.arange(n_bins) / n_bins
    np.testing.assert_allclose(
        fourier.interpolation_matrix(n_bins, grid), np.eye(n_bins), atol=1e-13
    )
    angles = rng.uniform(-7, 7, size=5)
    matrix = fourier.interpolation_matrix(n_bins, angles)
    fiber = rng.standard_normal(n_bins)
    np.testing.assert_allclose(
        matrix @ fiber, fourier.interpolate_fiber(fiber, angles, axis=0), atol=1e-13
    )
    # Frequencies below N/2 are carried exactly at every angle: the phase factors of a shift.
    for frequency in range((n_bins - 1) // 2 + 1):
        samples = np.cos(frequency * grid - 0.7)
        np.testing.assert_allclose(matrix @ samples, np.cos(frequency * angles - 0.7), atol=1e-12)
    with pytest.raises(ValueError, match="n_bins must be at least 1"):
        fourier.interpolation_matrix(0, 0.1)
    with pytest.raises(TypeError, match="n_bins must be an integer"):
        fourier.interpolation_matrix(4.0, 0.1)


def test_turn_image_is_rot90_at_quarter_turns_and_splines_between(rng):
    image = rng.standard_normal((2, 7, 7))
    for quarter in range(-2, 6):
        np.testing.assert_array_equal(
            fourier.turn_image(image, quarter * math.pi / 2),
            np.rot90(image, quarter, axes=(-2, -1)),
        )
    np.testing.assert_array_equal(
        fourier.turn_image(image, math.pi / 4), cyclic(8).transform_image(image, 1)
    )
    assert fourier.turn_image(image.astype(np.float32), 0.4).dtype == np.float32
    with pytest.raises(ValueError, match="image must have at least 2 dimensions"):
        fourier.turn_image(np.ones(3), 0.1)
    with pytest.raises(ValueError, match="theta must be finite"):
        fourier.turn_image(image, np.inf)


@pytest.mark.parametrize("group", GROUPS, ids=str)
def test_steer_features_at_the_group_angles_is_the_group_action(group, rng):
    grp = get_group(group)
    features = rng.standard_normal((2, grp.order, 6, 6))
    for g in range(grp.rotations):  # the turns; mirrors are no angle
        np.testing.assert_allclose(
            fourier.steer_features(features, grp.angle(g), grp),
            grp.transform_features(features, g),
            atol=1e-12,
        )


@pytest.mark.parametrize("group", [cyclic(8), dihedral(8), cyclic(5)], ids=lambda g: g.name)
def test_steer_features_shifts_low_frequency_fibers_exactly(group, rng):
    # 1 x 1 planes: the plane turn does nothing, only the phase factors act.
    turns = group.rotations
    grid = 2 * np.pi * np.arange(turns) / turns
    cosets = group.order // turns
    phases = rng.uniform(0, 2 * np.pi, size=cosets)
    fibers = np.concatenate([np.cos(grid - phase) for phase in phases])
    features = fibers.reshape(group.order, 1, 1)
    for angle in (0.3, -1.1, 2.5):
        expected = np.concatenate([np.cos(grid - angle - phase) for phase in phases])
        np.testing.assert_allclose(
            fourier.steer_features(features, angle, group)[:, 0, 0], expected, atol=1e-12
        )
    with pytest.raises(ValueError, match=r"F must have shape \(\.\.\., 32, H, W\)"):
        fourier.steer_features(features, 0.1, dihedral(16))  # 32 slots


def test_steering_error_matches_check_equivariance_on_the_grid(rng):
    weight = np.tensordot(rng.standard_normal((3, 1, 9)), steerable.filter_basis(5), 1)
    image = smooth(rng, (1, 1, 31, 31))

    def lift(x):
        return gcnn.lift(x, weight, group="c8")

    errors = fourier.steering_error(
        lift, image, [cyclic(8).angle(g) for g in range(8)], "c8", margin=3
    )
    reported = gcnn.check_equivariance(lift, image, "c8", margin=3).relative
    np.testing.assert_allclose(errors, [reported[f"r{g}"] for g in range(8)], rtol=1e-9, atol=1e-14)
    assert errors[[0, 2, 4, 6]].max() < 1e-13 and errors[[1, 3, 5, 7]].min() > 1e-6


def test_steering_error_of_a_network_grows_between_the_grid_angles(rng):
    # ReLU puts high angular frequencies into the responses: p4's four samples cannot carry
    # them at 45 degrees; c8's eight carry them much better at its own grid angle.
    image = smooth(rng, (1, 1, 45, 45))

    def network(group, channels):
        return nn.Sequential(
            nn.LiftingConv(1, channels, 5, group=group, rng=0, dtype=np.float64),
            nn.ReLU(),
            nn.GroupConv(channels, channels, 5, group=group, rng=1, dtype=np.float64),
        ).eval()

    p4_errors = fourier.steering_error(
        network("p4", 6), image, [0, np.pi / 4, np.pi / 2], "p4", margin=8
    )
    c8_errors = fourier.steering_error(
        network("c8", 4), image, [np.pi / 8, np.pi / 4], "c8", margin=8
    )
    assert p4_errors[0] < 1e-13 and p4_errors[2] < 1e-13
    assert p4_errors[1] > 10 * c8_errors[1]
    assert c8_errors[0] > c8_errors[1]  # between c8's angles the fibers are interpolated


def test_steering_error_rejects_bad_arguments(rng):
    image = rng.standard_normal((1, 1, 9, 9))
    with pytest.raises(TypeError, match="fn must be callable"):
        fourier.steering_error(3, image, 0.1, "c8")
    with pytest.raises(ValueError, match="x must be square"):
        fourier.steering_error(lambda a: a, np.ones((1, 1, 9, 8)), 0.1, "c8")
    with pytest.raises(ValueError, match="fn must return c8 feature maps"):
        fourier.steering_error(lambda a: a, image, 0.1, "c8")
    with pytest.raises(TypeError, match="angles must be real"):
        fourier.steering_error(lambda a: a, image, "x", "c8")


# --------------------------------------------------------------------------- the layer


@pytest.mark.parametrize("group", [cyclic(8), dihedral(8), cyclic(3)], ids=lambda g: g.name)
def test_fiber_interpolation_layer(group, rng):
    angles = np.array([0.0, 0.2, group.angle(1), 4.0])
    layer = nn.FiberInterpolation(angles, group)
    x = rng.standard_normal((2, 3, group.order, 4, 5))
    out = layer(x)
    cosets = group.order // group.rotations
    assert out.shape == (2, 3, cosets * 4, 4, 5)
    for coset in range(cosets):
        base = coset * group.rotations
        np.testing.assert_allclose(out[:, :, coset * 4], x[:, :, base], atol=1e-13)
        np.testing.assert_allclose(out[:, :, coset * 4 + 2], x[:, :, base + 1], atol=1e-13)
        np.testing.assert_allclose(
            out[:, :, coset * 4 + 1],
            np.moveaxis(
                fourier.interpolate_fiber(x[:, :, base : base + group.rotations], 0.2, axis=2)[
                    ..., None, :, :
                ],
                -3,
                2,
            )[:, :, 0],
            atol=1e-12,
        )
    grad = rng.standard_normal(out.shape)
    grad_x = layer.backward(grad)
    probe = rng.standard_normal(x.shape)
    assert math.isclose(np.vdot(layer(probe), grad), np.vdot(probe, grad_x), rel_tol=1e-11)
    assert layer(x.astype(np.float32)).dtype == np.float32
    assert repr(layer) == f"FiberInterpolation({group.name}, 4 angles)"
    assert list(layer.parameters()) == []


def test_fiber_interpolation_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 8, H, W\)"):
        nn.FiberInterpolation([0.1], "c8")(np.ones((1, 1, 4, 3, 3)))
    with pytest.raises(ValueError, match="angles must be a non-empty 1-D array"):
        nn.FiberInterpolation(0.1, "c8")
    with pytest.raises(ValueError, match="angles must be finite"):
        nn.FiberInterpolation([np.nan], "c8")
    with pytest.raises(TypeError, match="angles must be real"):
        nn.FiberInterpolation(["a"], "c8")
    with pytest.raises(ValueError, match="group must be"):
        nn.FiberInterpolation([0.1], "c0")
