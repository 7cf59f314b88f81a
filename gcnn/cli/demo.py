"""``python -m gcnn demo``.

The demo lifts a picture to the p4 group with :func:`gcnn.lift_correlation`, checks the
equivariance laws of the tutorial's two functions numerically, times gcnn against the
tutorial's SciPy code and draws the lifted maps of the picture and of its rotation.

SciPy and matplotlib are imported lazily, so ``python -m gcnn --help`` works and the demo
degrades gracefully when the optional libraries are missing.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import datasets

__all__ = ["run_demo"]

# The lifting and p4 laws are exact in exact arithmetic; what is left is rounding of
# sums of k*k products, far below this bound (relative to the largest output value).
_LAW_RTOL = 1e-9


# --------------------------------------------------------------------------- inputs


def _to_gray(array: np.ndarray, source: str) -> np.ndarray:
    """Turn a 2-D array or an RGB(A) picture into a float64 grayscale image."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{source}: expected a real numeric array, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        # ITU-R BT.601 luma weights; an alpha channel is ignored.
        array = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    if array.ndim != 2:
        raise ValueError(
            f"{source}: expected a 2-D grayscale array or an (H, W, 3|4) colour picture, "
            f"got shape {array.shape}"
        )
    image = np.array(array, dtype=np.float64)
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{source}: the image contains NaN or infinite values")
    if min(image.shape) < 1:
        raise ValueError(f"{source}: the image is empty (shape {image.shape})")
    return image


def read_image(path: str) -> np.ndarray:
    """Read a ``.npy`` array or, when matplotlib is importable, a PNG as grayscale.

    Parameters
    ----------
    path : str
        A ``.npy`` file holding a 2-D array (or ``(H, W, 3|4)`` colours), or a picture
        that :func:`matplotlib.image.imread` reads (PNG natively).

    Returns
    -------
    image : ndarray of float64, shape (H, W)

    Raises
    ------
    ValueError
        If the file cannot be read or holds no 2-D image.
    """
    if path.lower().endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read {path!r}: {error}") from error
        return _to_gray(array, path)
    try:
        import matplotlib.image as mpimg
    except ImportError as error:
        raise ValueError(
            f"cannot read {path!r}: only .npy files can be read without matplotlib "
            "(python -m pip install matplotlib)"
        ) from error
    try:
        array = mpimg.imread(path)
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"cannot read {path!r}: {error}") from error
    return _to_gray(array, path)


def crop_to_square(image: np.ndarray) -> np.ndarray:
    """Crop the centred largest square out of ``image`` (a view when already square)."""
    height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def demo_kernel(size: int) -> np.ndarray:
    """The demo's filter: ``size x size`` standard normals from ``default_rng(0)``."""
    return np.random.default_rng(0).standard_normal((size, size))


# --------------------------------------------------------------------------- laws


def rotate_group_maps(maps: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Apply the p4 rotation ``r`` to maps on the group, shape (4, H, W).

    ``(L_r F)[h] = rot90(F[(h - r) mod 4], r)`` (docs/design.md, §2.4 Action on feature maps):
    each map is turned by ``r`` quarter turns in the plane and the orientation axis is shifted
    cyclically by ``+r``.
    """
    rotated = np.rot90(maps, quarter_turns, axes=(-2, -1))
    return np.roll(rotated, quarter_turns, axis=-3)


@dataclass
class LawCheck:
    """One row of the equivariance table."""

    quarter_turns: int
    max_abs_error: float
    relative_error: float

    @property
    def holds(self) -> bool:
        return self.relative_error <= _LAW_RTOL


def _compare(actual: np.ndarray, expected: np.ndarray, quarter_turns: int) -> LawCheck:
    max_abs_error = float(np.max(np.abs(actual - expected)))
    scale = float(np.max(np.abs(expected)))
    relative_error = max_abs_error / scale if scale > 0 else max_abs_error
    return LawCheck(quarter_turns, max_abs_error, relative_error)


def check_lift_law(
    lift: Callable[[np.ndarray, np.ndarray], np.ndarray],
    image: np.ndarray,
    kernel: np.ndarray,
    orientation_shift_sign: int = 1,
) -> list[LawCheck]:
    """Compare ``lift(rot90(image, r))`` with ``roll(rot90(lift(image), r), s*r, axis=0)``.

    ``s = orientation_shift_sign`` is +1 for the law that holds; -1 exists only to show
    that the other direction of the shift is wrong.
    """
    lifted = lift(image, kernel)
    rows = []
    for quarter_turns in range(4):
        actual = lift(np.rot90(image, quarter_turns), kernel)
        expected = np.roll(
            np.rot90(lifted, quarter_turns, axes=(1, 2)),
            orientation_shift_sign * quarter_turns,
            axis=0,
        )
        rows.append(_compare(actual, expected, quarter_turns))
    return rows


def check_group_conv_law(
    group_conv: Callable[[np.ndarray, np.ndarray], np.ndarray],
    features: np.ndarray,
    kernel: np.ndarray,
) -> list[LawCheck]:
    """Compare ``group_conv(L_r F)`` with ``L_r group_conv(F)`` for r = 0..3."""
    convolved = group_conv(features, kernel)
    return [
        _compare(
            group_conv(rotate_group_maps(features, quarter_turns), kernel),
            rotate_group_maps(convolved, quarter_turns),
            quarter_turns,
        )
        for quarter_turns in range(4)
    ]


def format_law_table(rows: list[LawCheck]) -> str:
    """The table ``rotation | max abs error | relative error | holds?`` as text."""
    lines = [f"  {'rotation':<14} | {'max abs error':>13} | {'relative error':>14} | holds?"]
    lines.append("  " + "-" * (len(lines[0]) - 2))
    for row in rows:
        label = f"r={row.quarter_turns} ({90 * row.quarter_turns:>3} deg)"
        lines.append(
            f"  {label:<14} | {row.max_abs_error:>13.3e} | {row.relative_error:>14.3e} | "
            f"{'yes' if row.holds else 'NO'}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- figure


def save_figure(
    path: str,
    lifted: np.ndarray,
    lifted_rotated: np.ndarray,
    image: np.ndarray,
    kernel_size: int,
) -> None:
    """Draw the lifted maps of ``image`` (top) and of ``rot90(image)`` (bottom) to a PNG.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One colour scale for all eight maps, so equal values look equal across rows.
    vmin = float(min(lifted.min(), lifted_rotated.min()))
    vmax = float(max(lifted.max(), lifted_rotated.max()))
    figure, axes = plt.subplots(2, 5, figsize=(15, 6.8), squeeze=False, constrained_layout=True)
    rows = (
        (image, lifted, "input x", "lift(x)[{i}]: kernel turned {deg} deg"),
        (
            np.rot90(image),
            lifted_rotated,
            "rot90(x)",
            "lift(rot90 x)[{i}] = rot90(lift(x)[{j}])",
        ),
    )
    for row_axes, (picture, maps, picture_title, map_title) in zip(axes, rows):
        row_axes[0].imshow(picture, cmap="gray", vmin=0.0, vmax=max(1.0, float(image.max())))
        row_axes[0].set_title(picture_title)
        for orientation in range(4):
            axis = row_axes[orientation + 1]
            axis.imshow(maps[orientation], cmap="viridis", vmin=vmin, vmax=vmax)
            axis.set_title(
                map_title.format(i=orientation, deg=90 * orientation, j=(orientation - 1) % 4),
                fontsize=9,
            )
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(
        "p4 lifting (gcnn.lift_correlation, "
        f"{kernel_size}x{kernel_size} kernel): rotation of input = planar rotation "
        "+ cyclic shift of the orientation axis",
        fontsize=12,
    )
    try:
        figure.savefig(path, format="png", dpi=100)
    finally:
        plt.close(figure)


# --------------------------------------------------------------------------- command


def _timing_lines(image: np.ndarray, kernel: np.ndarray, lifted: np.ndarray) -> list[str]:
    """Time gcnn against the tutorial's SciPy code on the demo's own inputs."""
    import gcnn
    from gcnn import reference

    from .bench import _bind, median_seconds, scipy_available

    pairs = (
        ("lift_correlation", gcnn.lift_correlation, reference.lift_correlation, image),
        (
            "p4_group_convolution",
            gcnn.p4_group_convolution,
            reference.p4_group_convolution,
            lifted,
        ),
    )
    have_scipy = scipy_available()
    header = (
        f"  {'function':<21} | {'gcnn':>10} | {'tutorial (SciPy)':>16} | "
        f"{'ratio':>7} | max relative difference"
    )
    lines = [header]
    lines.append("  " + "-" * (len(lines[0]) - 2))
    for name, fast, tutorial, data in pairs:
        fast_seconds = median_seconds(_bind(fast, data, kernel), budget_seconds=0.25)
        slow_text, ratio_text, agreement = "-", "-", "-"
        if have_scipy:
            expected = tutorial(data, kernel)
            difference = np.max(np.abs(fast(data, kernel) - expected))
            relative = float(difference / max(float(np.max(np.abs(expected))), 1e-300))
            slow_seconds = median_seconds(_bind(tutorial, data, kernel), budget_seconds=0.5)
            slow_text = _ms(slow_seconds)
            ratio_text = f"{slow_seconds / fast_seconds:.1f}x"
            agreement = f"{relative:.1e}"
        lines.append(
            f"  {name:<21} | {_ms(fast_seconds):>10} | {slow_text:>16} | {ratio_text:>7} | "
            f"{agreement}"
        )
    if have_scipy:
        lines.append("  ratio = SciPy time / gcnn time, median per call.")
    else:
        lines.append("  SciPy is not installed: gcnn timed alone (python -m pip install scipy).")
    return lines


def _say(text: str, indent: str = "  ") -> None:
    """Print prose wrapped to a terminal's width."""
    print(
        textwrap.fill(_printable(text), width=92, initial_indent=indent, subsequent_indent=indent)
    )


def _printable(text: str) -> str:
    """`text`, with the section sign of its citations spelled out when stdout cannot encode it.

    An ASCII-only stdout then reads "section 2.4 ..." instead of raising UnicodeEncodeError.
    """
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return text.replace("\u00a7", "section ")
    return text


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def run_demo(
    image_path: str | None = None,
    kernel_size: int = 5,
    output: str = "gcnn_demo.png",
    plot: bool = True,
) -> int:
    """Run ``python -m gcnn demo``; return the process exit code.

    Parameters
    ----------
    image_path : str or None
        ``.npy`` or picture file; None uses :func:`gcnn.datasets.demo_image`.
    kernel_size : int
        Side of the random filter (odd for exact equivariance with ``mode="same"``).
    output : str
        Where the PNG figure goes.
    plot : bool
        False skips the figure.

    Returns
    -------
    int
        0 when both equivariance laws hold for every rotation, 1 when one fails, 2 when the
        inputs are unusable or the figure cannot be written.
    """
    import gcnn

    if kernel_size < 1:
        print(f"error: --kernel-size must be at least 1, got {kernel_size}", file=sys.stderr)
        return 2
    if image_path is None:
        image = datasets.demo_image()
        print(f"image : gcnn's demo picture, {image.shape[0]}x{image.shape[1]}")
    else:
        try:
            image = read_image(image_path)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"image : {image_path}, {image.shape[0]}x{image.shape[1]}")
        if image.shape[0] != image.shape[1]:
            image = np.ascontiguousarray(crop_to_square(image))
            _say(
                f"not square: cropped to the centred {image.shape[0]}x{image.shape[1]} "
                "square (a quarter turn of a non-square image changes its shape)",
                indent="        ",
            )
    kernel = demo_kernel(kernel_size)
    print(f"kernel: {kernel_size}x{kernel_size}, standard normal from np.random.default_rng(0)")
    if kernel_size % 2 == 0:
        _say(
            f"note: {kernel_size} is even. With mode='same' the output of an even "
            "kernel sits half a pixel off centre, so a quarter turn moves it by one pixel and "
            "the laws below are expected to fail. Use an odd --kernel-size.",
            indent="        ",
        )
    print()

    def lift(picture: np.ndarray, filter_: np.ndarray) -> np.ndarray:
        return gcnn.lift_correlation(picture, filter_)

    def p4(features: np.ndarray, filter_: np.ndarray) -> np.ndarray:
        return gcnn.p4_group_convolution(features, filter_)

    lifted = lift(image, kernel)
    lift_rows = check_lift_law(lift, image, kernel)
    wrong_direction = check_lift_law(lift, image, kernel, orientation_shift_sign=-1)
    print("Lifting law, gcnn.lift_correlation (the tutorial's section 4.2):")
    print("  lift(rot90(x, r)) == roll(rot90(lift(x), r, axes=(1, 2)), +r, axis=0)")
    print(format_law_table(lift_rows))
    _say(
        "The orientation axis shifts by +r, as the p4 action on feature maps says "
        "(docs/design.md, §2.4 Action on feature maps): the "
        "tutorial's lift convolves, and convolution commutes with rotating image and kernel "
        "together, so lift(rot x)[i] = rot(lift(x)[i - r])."
    )
    _say(
        "Shifting by -r instead gives relative errors "
        f"{', '.join(f'{row.relative_error:.2g}' for row in wrong_direction)} for r=0..3 "
        "(for r=0 and r=2 the two directions coincide)."
    )
    print()

    p4_rows = check_group_conv_law(p4, lifted, kernel)
    print("Group convolution law, gcnn.p4_group_convolution (the tutorial's section 4.4):")
    print("  p4(L_r F) == L_r p4(F),  L_r F = roll(rot90(F, r, axes=(1, 2)), r, axis=0)")
    print(format_law_table(p4_rows))
    _say(
        "Note: the tutorial's p4_group_convolution filters each orientation alone with the "
        "C4-symmetrised kernel sum_j rot90(kernel, j); it commutes with the p4 action but "
        "never mixes orientations (gcnn.group_conv is the real group convolution)."
    )
    print()

    print("Timing on the same inputs (median of repeated runs):")
    for line in _timing_lines(image, kernel, lifted):
        print(line)
    print()

    status = 0
    if plot:
        try:
            save_figure(output, lifted, lift(np.rot90(image), kernel), image, kernel_size)
        except ImportError:
            print("figure: matplotlib is not installed. To get the picture, run")
            print("            python -m pip install matplotlib")
            print("        and repeat this command.")
        except (OSError, ValueError) as error:
            print(f"error: cannot write the figure to {output!r}: {error}", file=sys.stderr)
            status = 2
        else:
            print(f"figure: wrote {output}")
    else:
        print("figure: skipped (--no-plot). Without it the demo draws the lifted maps to a PNG,")
        print("        which needs matplotlib: python -m pip install matplotlib")

    laws_hold = all(row.holds for row in lift_rows + p4_rows)
    print(
        "result: both equivariance laws hold for all four rotations."
        if laws_hold
        else "result: an equivariance law FAILED (see the tables above)."
    )
    if status:
        return status
    return 0 if laws_hold else 1
