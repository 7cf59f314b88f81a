"""Tests for gcnn.fourier: the steerable (Fourier) view of p4 fibers, and rotations by any angle.

Expected values come from the stated conventions written out independently here (explicit sums,
np.roll, np.rot90, analytic functions), never from the module's own code path.
"""

from __future__ import annotations

import numpy as np
import pytest

from gcnn import fourier, groups
from gcnn.fourier import (
    equivariance_gap,
    fiber_coefficients,
    interpolate_fiber,
    rotate_features,
    rotate_image,
    shift_theorem_phase,
)

scipy_signal = pytest.importorskip("scipy.signal")

QUARTER = np.pi / 2


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def grid_angles(n_bins: int) -> np.ndarray:
    return 2 * np.pi * np.arange(n_bins) / n_bins


def values_from_coefficients(coefficients: np.ndarray) -> np.ndarray:
    """f_n = sum_k c_k exp(i k theta_n), the documented convention, by an explicit double loop."""
    n_bins = len(coefficients)
    values = np.zeros(n_bins, dtype=complex)
    for n, angle in enumerate(grid_angles(n_bins)):
        for k in range(n_bins):
            values[n] += coefficients[k] * np.exp(1j * k * angle)
    return values


def hermitian_coefficients(rng: np.random.Generator, n_bins: int) -> np.ndarray:
    """Random coefficients of a real fiber: c_{N-k} = conj(c_k), c_0 (and c_{N/2}) real."""
    coefficients = rng.standard_normal(n_bins) + 1j * rng.standard_normal(n_bins)
    coefficients[0] = coefficients[0].real
    for k in range(1, n_bins):
        if 2 * k > n_bins:
            coefficients[k] = np.conj(coefficients[n_bins - k])
    if n_bins % 2 == 0:
        coefficients[n_bins // 2] = coefficients[n_bins // 2].real
    return coefficients


# --------------------------------------------------------------------------- coefficients


@pytest.mark.parametrize("n_bins", [1, 2, 3, 4, 5, 8])
def test_coefficients_follow_the_stated_convention(rng, n_bins):
    fiber = rng.standard_normal(n_bins)
    coefficients = fiber_coefficients(fiber, axis=0)
    # c_k = (1/N) sum_n f_n exp(-i k theta_n), the inverse of the documented synthesis.
    expected = np.array(
        [np.mean(fiber * np.exp(-1j * k * grid_angles(n_bins))) for k in range(n_bins)]
    )
    np.testing.assert_allclose(coefficients, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(values_from_coefficients(coefficients), fiber, atol=1e-12)


@pytest.mark.parametrize("n_bins", [3, 4, 5, 8])
def test_round_trip_coefficients_values_coefficients(rng, n_bins):
    coefficients = hermitian_coefficients(rng, n_bins)
    values = values_from_coefficients(coefficients)
    np.testing.assert_allclose(values.imag, 0, atol=1e-12)
    values = values.real
    np.testing.assert_allclose(fiber_coefficients(values, axis=0), coefficients, atol=1e-12)
    # The interpolant through those values returns them at the grid angles.
    np.testing.assert_allclose(
        interpolate_fiber(values, grid_angles(n_bins), axis=0), values, atol=1e-12
    )


def test_coefficients_along_the_p4_rotation_axis(rng):
    features = rng.standard_normal((2, 4, 3, 5))
    coefficients = fiber_coefficients(features)  # default axis=-3
    assert coefficients.shape == features.shape
    for y in range(3):
        for x in range(5):
            fiber = features[1, :, y, x]
            np.testing.assert_allclose(
                coefficients[1, :, y, x], fiber_coefficients(fiber, axis=0), atol=1e-14
            )
    # The mean over orientations is coefficient 0.
    np.testing.assert_allclose(coefficients[:, 0].real, features.mean(axis=-3), atol=1e-14)


def test_coefficient_dtypes(rng):
    fiber32 = rng.standard_normal((4, 2, 2)).astype(np.float32)
    assert fiber_coefficients(fiber32).dtype == np.complex64
    assert fiber_coefficients(fiber32.astype(np.float64)).dtype == np.complex128
    assert fiber_coefficients(np.arange(4), axis=0).dtype == np.complex128


# --------------------------------------------------------------------------- shift theorem


@pytest.mark.parametrize("n_bins", [1, 3, 4, 5, 8])
@pytest.mark.parametrize("shift", [-5, -1, 0, 1, 2, 3, 4, 7])
def test_shift_theorem_for_integer_shifts(rng, n_bins, shift):
    phase = shift_theorem_phase(n_bins, shift)
    k = np.arange(n_bins)
    np.testing.assert_allclose(phase, np.exp(-2j * np.pi * k * shift / n_bins), atol=1e-12)
    fiber = rng.standard_normal(n_bins)
    np.testing.assert_allclose(
        phase * fiber_coefficients(fiber, axis=0),
        fiber_coefficients(np.roll(fiber, shift), axis=0),
        atol=1e-12,
    )


def test_shift_theorem_accepts_numpy_scalars():
    np.testing.assert_allclose(
        shift_theorem_phase(np.int64(4), np.float32(1.0)), shift_theorem_phase(4, 1)
    )


@pytest.mark.parametrize("n_bins", [3, 4, 5, 8])
@pytest.mark.parametrize("shift", [0.25, 0.5, -1.3, 2.75])
def test_fractional_shift_moves_the_interpolant(rng, n_bins, shift):
    fiber = rng.standard_normal(n_bins)
    phase = shift_theorem_phase(n_bins, shift)
    shifted = np.fft.ifft(np.fft.fft(fiber) * phase)
    np.testing.assert_allclose(shifted.imag, 0, atol=1e-12)
    # Shifting by s bins = evaluating the interpolant s bins earlier: f(theta_n - 2 pi s / N).
    delay = 2 * np.pi * shift / n_bins
    expected = interpolate_fiber(fiber, grid_angles(n_bins) - delay, axis=0)
    np.testing.assert_allclose(shifted.real, expected, atol=1e-12)


def test_fractional_shift_of_a_pure_cosine_is_exact():
    # cos(theta) sampled at 4 angles, shifted by half a bin (45 degrees) = cos(theta - pi/4).
    fiber = np.cos(grid_angles(4))
    shifted = np.fft.ifft(np.fft.fft(fiber) * shift_theorem_phase(4, 0.5)).real
    np.testing.assert_allclose(shifted, np.cos(grid_angles(4) - np.pi / 4), atol=1e-12)


# --------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize("n_bins", [1, 2, 4, 5, 6])
def test_interpolation_is_exact_at_the_grid(rng, n_bins):
    features = rng.standard_normal((3, n_bins, 4, 2))
    at_grid = interpolate_fiber(features, grid_angles(n_bins), axis=1)
    assert at_grid.shape == features.shape
    np.testing.assert_allclose(at_grid, features, atol=1e-12)
    for n, angle in enumerate(grid_angles(n_bins)):
        single = interpolate_fiber(features, angle, axis=1)
        assert single.shape == (3, 4, 2)  # scalar angle: the fiber axis is removed
        np.testing.assert_allclose(single, features[:, n], atol=1e-12)
        # 2 pi periodic.
        np.testing.assert_allclose(
            interpolate_fiber(features, angle + 4 * np.pi, axis=1), features[:, n], atol=1e-11
        )


@pytest.mark.parametrize(
    ("n_bins", "frequency"),
    [(4, 0), (4, 1), (5, 1), (5, 2), (7, 3), (8, 1), (8, 3)],
)
def test_single_frequency_fiber_is_reproduced_at_every_angle(rng, n_bins, frequency):
    phase_offset = rng.uniform(0, 2 * np.pi)
    fiber = np.cos(frequency * grid_angles(n_bins) + phase_offset)
    angles = rng.uniform(-10, 10, size=50)
    np.testing.assert_allclose(
        interpolate_fiber(fiber, angles, axis=0),
        np.cos(frequency * angles + phase_offset),
        atol=1e-12,
    )


@pytest.mark.parametrize("n_bins", [2, 4, 8])
def test_nyquist_cosine_is_reproduced_and_result_is_real(rng, n_bins):
    fiber = np.cos(n_bins / 2 * grid_angles(n_bins))  # alternates +1, -1
    angles = rng.uniform(0, 2 * np.pi, size=20)
    result = interpolate_fiber(fiber, angles, axis=0)
    assert np.isrealobj(result)
    np.testing.assert_allclose(result, np.cos(n_bins / 2 * angles), atol=1e-12)


def test_interpolation_on_p4_maps_default_axis_and_dtype(rng):
    features = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    result = interpolate_fiber(features, np.array([0.0, 0.3]))
    assert result.shape == (2, 2, 3, 3) and result.dtype == np.float32
    np.testing.assert_allclose(result[:, 0], features[:, 0], atol=1e-6)
    # Interpolation is linear in the fiber, and between samples it is a genuine blend.
    assert not np.allclose(result[:, 1], features[:, 0])


# --------------------------------------------------------------------------- rotate_image


def test_rotate_image_by_zero_is_the_identity(rng):
    image = rng.standard_normal((2, 6, 9))
    np.testing.assert_array_equal(rotate_image(image, 0.0), image)
    np.testing.assert_array_equal(rotate_image(image, 2 * np.pi), image)


@pytest.mark.parametrize("turns", [1, 2, 3, -1])
def test_rotate_image_by_quarter_turns_is_rot90(rng, turns):
    image = rng.standard_normal((9, 9))
    interior = (slice(1, -1), slice(1, -1))
    np.testing.assert_array_equal(rotate_image(image, turns * QUARTER), np.rot90(image, turns))
    # Slightly off the quarter turn, the bilinear path must land on the same answer: this checks
    # that its sense of rotation is np.rot90's.
    nearly = rotate_image(image, turns * QUARTER + 1e-7)
    np.testing.assert_allclose(nearly[interior], np.rot90(image, turns)[interior], atol=1e-5)


def test_rotate_image_reproduces_linear_ramps_exactly(rng):
    # Bilinear interpolation is exact on affine functions, so rotating the ramp x - cx gives the
    # analytically rotated ramp -sin(t) (y - cy) + cos(t) (x - cx) wherever the source is inside.
    size = 21
    offsets = np.arange(size) - (size - 1) / 2
    offset_y, offset_x = np.meshgrid(offsets, offsets, indexing="ij")
    ramp = offset_x.copy()
    # The quarter-turn reading of the formula agrees with np.rot90.
    np.testing.assert_array_equal(np.rot90(ramp), -offset_y)
    inside = np.hypot(offset_y, offset_x) <= (size - 1) / 2 - 1
    for theta in rng.uniform(-np.pi, np.pi, size=5):
        expected = -np.sin(theta) * offset_y + np.cos(theta) * offset_x
        np.testing.assert_allclose(rotate_image(ramp, theta)[inside], expected[inside], atol=1e-12)


def reference_rotate_image(image: np.ndarray, theta: float) -> np.ndarray:
    """Slow bilinear rotation, pixel by pixel, reading zero outside the image."""
    height, width = image.shape
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2

    def pixel(y: int, x: int) -> float:
        return image[y, x] if 0 <= y < height and 0 <= x < width else 0.0

    out = np.zeros_like(image, dtype=np.float64)
    for y in range(height):
        for x in range(width):
            # Inverse map: where output pixel (y, x) comes from, rotating back by theta.
            source_y = centre_y + np.cos(theta) * (y - centre_y) + np.sin(theta) * (x - centre_x)
            source_x = centre_x - np.sin(theta) * (y - centre_y) + np.cos(theta) * (x - centre_x)
            y0, x0 = int(np.floor(source_y)), int(np.floor(source_x))
            wy, wx = source_y - y0, source_x - x0
            out[y, x] = (
                (1 - wy) * (1 - wx) * pixel(y0, x0)
                + (1 - wy) * wx * pixel(y0, x0 + 1)
                + wy * (1 - wx) * pixel(y0 + 1, x0)
                + wy * wx * pixel(y0 + 1, x0 + 1)
            )
    return out


@pytest.mark.parametrize("shape", [(7, 7), (6, 9), (10, 5)])
def test_rotate_image_matches_a_slow_bilinear_reference(rng, shape):
    image = rng.standard_normal(shape)
    for theta in (0.1, -0.4, 1.0, 2.5, np.pi / 4):
        np.testing.assert_allclose(
            rotate_image(image, theta), reference_rotate_image(image, theta), atol=1e-12
        )


def test_rotate_image_is_zero_outside_and_keeps_dtype_and_batch(rng):
    image = np.ones((3, 11, 11), dtype=np.float32)
    rotated = rotate_image(image, np.pi / 4)
    assert rotated.shape == image.shape and rotated.dtype == np.float32
    np.testing.assert_array_equal(rotated[:, 0, 0], 0)  # corners come from outside the image
    np.testing.assert_allclose(rotated[:, 5, 5], 1)  # the centre stays put
    # Non-square images keep their grid.
    assert rotate_image(rng.standard_normal((5, 8)), 0.4).shape == (5, 8)


def test_rotate_image_round_trip_on_a_smooth_image():
    offsets = np.arange(31) - 15
    offset_y, offset_x = np.meshgrid(offsets, offsets, indexing="ij")
    smooth = np.exp(-((offset_y - 3) ** 2 + (offset_x + 2) ** 2) / 40)
    back = rotate_image(rotate_image(smooth, 0.6), -0.6)
    inside = np.hypot(offset_y, offset_x) <= 12
    np.testing.assert_allclose(back[inside], smooth[inside], atol=0.02)


# --------------------------------------------------------------------------- rotate_features


@pytest.mark.parametrize("turns", [0, 1, 2, 3, 4, 5, -1, -2])
def test_rotate_features_at_quarter_turns_is_the_group_action(rng, turns):
    features = rng.standard_normal((2, 3, 4, 5, 7))  # batch axes and non-square planes
    expected = groups.p4.transform_features(features, turns % 4)
    np.testing.assert_array_equal(rotate_features(features, turns * QUARTER), expected)


def test_rotate_features_shifts_fibers_the_same_way_as_the_group(rng):
    # Spatially constant planes isolate the fiber part: away from the border, every pixel's
    # fiber is the interpolant delayed by theta.
    fiber = rng.standard_normal(4)
    features = np.broadcast_to(fiber[:, None, None], (4, 15, 15)).copy()
    for theta in (0.3, QUARTER, 2.0, -0.7):
        rotated = rotate_features(features, theta)
        expected = interpolate_fiber(fiber, grid_angles(4) - theta, axis=0)
        np.testing.assert_allclose(rotated[:, 7, 7], expected, atol=1e-12)
    # One quarter turn moves orientation h to h + 1, like np.roll(..., 1).
    np.testing.assert_allclose(rotate_features(features, QUARTER)[:, 7, 7], np.roll(fiber, 1))


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_rotate_features_is_continuous_at_quarter_turns(rng, turns):
    # The fractional path (DFT shift + bilinear) must agree with the exact path next to it.
    features = rng.standard_normal((4, 9, 9))
    exact = rotate_features(features, turns * QUARTER)
    for epsilon in (1e-7, -1e-7):
        nearly = rotate_features(features, turns * QUARTER + epsilon)
        np.testing.assert_allclose(nearly[:, 1:-1, 1:-1], exact[:, 1:-1, 1:-1], atol=1e-5)


def test_rotate_features_keeps_dtype_and_inputs(rng):
    features = rng.standard_normal((4, 6, 6)).astype(np.float32)
    before = features.copy()
    for theta in (0.0, QUARTER, 0.5):
        out = rotate_features(features, theta)
        assert out.dtype == np.float32
        assert not np.shares_memory(out, features)
    np.testing.assert_array_equal(features, before)


# --------------------------------------------------------------------------- equivariance_gap


def make_lift(kernel: np.ndarray):
    """Lifting as docs/design.md, §3.2 lift and group_conv defines it, zero-filled 'same' mode:

    out[g] = corr(image, rot90(kernel, g)).
    """

    def lift(image: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                scipy_signal.correlate2d(image, np.rot90(kernel, g), mode="same", boundary="fill")
                for g in range(4)
            ]
        )

    return lift


@pytest.fixture
def image_and_lift(rng):
    image = rng.standard_normal((21, 21))
    kernel = rng.standard_normal((5, 5))
    return image, make_lift(kernel)


def test_reference_lift_is_p4_equivariant(image_and_lift):
    # Sanity check of the test's own lifting: lift(T_g x) == L_g lift(x).
    image, lift = image_and_lift
    for g in range(4):
        np.testing.assert_allclose(
            lift(np.rot90(image, g)),
            groups.p4.transform_features(lift(image), g),
            atol=1e-12,
        )


def test_gap_vanishes_at_quarter_turns(image_and_lift):
    image, lift = image_and_lift
    angles = np.array([0, 1, 2, 3, -1, 4]) * QUARTER
    gaps = equivariance_gap(lift, image, angles, margin=5)
    assert gaps.shape == angles.shape and gaps.dtype == np.float64
    np.testing.assert_allclose(gaps, 0, atol=1e-12)
    # With no margin too: quarter turns lose nothing at the border of a square image.
    np.testing.assert_allclose(equivariance_gap(lift, image, angles), 0, atol=1e-12)


def test_gap_is_positive_between_quarter_turns(image_and_lift):
    image, lift = image_and_lift
    gaps = equivariance_gap(lift, image, [np.pi / 8, np.pi / 4, 1.0], margin=5)
    assert np.all(gaps > 1e-3)
    assert np.all(np.isfinite(gaps))


def test_gap_is_continuous_at_quarter_turns(image_and_lift):
    image, lift = image_and_lift
    gaps = equivariance_gap(lift, image, [QUARTER - 1e-7, QUARTER + 1e-7, np.pi + 1e-7], margin=5)
    assert np.all(gaps < 1e-4)


def test_gap_detects_a_lifting_that_turns_the_wrong_way(rng, image_and_lift):
    image, _ = image_and_lift
    kernel = rng.standard_normal((5, 5))

    # Rotates its kernels clockwise: not equivariant with the L_g of docs/design.md, §2.4 Action
    # on feature maps.
    def wrong_lift(x):
        return make_lift(kernel)(x)[[0, 3, 2, 1]]

    assert equivariance_gap(wrong_lift, image, QUARTER, margin=5) > 0.1


def test_gap_for_a_scalar_angle_is_zero_dimensional(image_and_lift):
    image, lift = image_and_lift
    gap = equivariance_gap(lift, image, 0.0)
    assert gap.shape == ()


def test_gap_leaves_the_image_unchanged(image_and_lift):
    image, lift = image_and_lift
    before = image.copy()
    equivariance_gap(lift, image, [0.3, QUARTER], margin=5)
    np.testing.assert_array_equal(image, before)


# --------------------------------------------------------------------------- errors


def test_non_real_input_raises_type_error():
    complex_maps = np.zeros((4, 3, 3), dtype=complex)
    with pytest.raises(TypeError, match="F must be a real"):
        fiber_coefficients(complex_maps)
    with pytest.raises(TypeError, match="F must be a real"):
        interpolate_fiber(complex_maps, 0.1)
    with pytest.raises(TypeError, match="F must be a real"):
        rotate_features(complex_maps, 0.1)
    with pytest.raises(TypeError, match="image must be a real"):
        rotate_image(np.array([["a", "b"], ["c", "d"]]), 0.1)
    with pytest.raises(TypeError, match="theta must be a real"):
        interpolate_fiber(np.zeros(4), 1j, axis=0)
    with pytest.raises(TypeError, match="theta must be a real number"):
        rotate_features(np.zeros((4, 3, 3)), 1 + 0j)
    with pytest.raises(TypeError, match="theta must be a real number"):
        rotate_image(np.zeros((3, 3)), "0.5")
    with pytest.raises(TypeError, match="shift must be a real number"):
        shift_theorem_phase(4, 1j)


def test_bad_shapes_and_values_raise_value_error():
    with pytest.raises(ValueError, match=r"F must have shape \(\.\.\., 4, H, W\).*\(8, 3, 3\)"):
        rotate_features(np.zeros((8, 3, 3)), 0.3)
    with pytest.raises(ValueError, match=r"F must have shape \(\.\.\., 4, H, W\).*\(4, 3\)"):
        rotate_features(np.zeros((4, 3)), QUARTER)
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        fiber_coefficients(np.zeros((4, 3, 3)), axis=3)
    with pytest.raises(TypeError, match="axis must be an integer"):
        fiber_coefficients(np.zeros((4, 3, 3)), axis=1.0)
    with pytest.raises(ValueError, match="F must have at least one dimension"):
        fiber_coefficients(np.float64(1.0))
    with pytest.raises(ValueError, match="non-empty fiber axis"):
        interpolate_fiber(np.zeros((0, 3)), 0.1, axis=0)
    with pytest.raises(ValueError, match=r"theta must be a scalar or 1-D.*\(2, 2\)"):
        interpolate_fiber(np.zeros(4), np.zeros((2, 2)), axis=0)
    with pytest.raises(ValueError, match="theta must be finite"):
        interpolate_fiber(np.zeros(4), [0.0, np.nan], axis=0)
    with pytest.raises(ValueError, match="theta must be finite"):
        rotate_image(np.zeros((3, 3)), np.inf)
    with pytest.raises(ValueError, match=r"image must have at least 2 dimensions.*\(3,\)"):
        rotate_image(np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="n_bins must be at least 1, got 0"):
        shift_theorem_phase(0, 1)
    with pytest.raises(TypeError, match="n_bins must be an integer"):
        shift_theorem_phase(4.0, 1)
    with pytest.raises(TypeError, match="n_bins must be an integer"):
        shift_theorem_phase(True, 1)
    with pytest.raises(ValueError, match="shift must be finite"):
        shift_theorem_phase(4, np.nan)


def test_equivariance_gap_errors(image_and_lift):
    image, lift = image_and_lift
    with pytest.raises(TypeError, match="lift_fn must be callable"):
        equivariance_gap("lift", image, 0.1)
    with pytest.raises(ValueError, match=r"image must be a square 2-D array.*\(21, 20\)"):
        equivariance_gap(lift, image[:, :20], 0.1)
    with pytest.raises(ValueError, match=r"lift_fn must return p4 feature maps.*\(21, 21\)"):
        equivariance_gap(lambda x: x, image, 0.1)
    with pytest.raises(ValueError, match="margin=20.0 leaves no pixel"):
        equivariance_gap(lift, image, 0.1, margin=20)
    with pytest.raises(ValueError, match="lift_fn\\(image\\) is zero"):
        equivariance_gap(lambda x: np.zeros((4, *x.shape)), image, 0.1)
    with pytest.raises(TypeError, match="angles must be real"):
        equivariance_gap(lift, image, [1j])
    with pytest.raises(ValueError, match="angles must be finite"):
        equivariance_gap(lift, image, [0.1, np.inf])


def test_module_exports():
    assert sorted(fourier.__all__) == [
        "equivariance_gap",
        "fiber_coefficients",
        "interpolate_fiber",
        "interpolation_matrix",
        "rotate_features",
        "rotate_image",
        "shift_theorem_phase",
        "steer_features",
        "steering_error",
        "turn_image",
    ]
