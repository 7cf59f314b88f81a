"""Build, execute and save the gcnn notebooks.

    python notebooks/build_notebooks.py                 # every notebook, executed, with outputs
    python notebooks/build_notebooks.py 02              # only the notebooks whose name contains "02"
    python notebooks/build_notebooks.py --figures DIR   # also write every figure to DIR as PNG
    python notebooks/build_notebooks.py --no-execute    # write the cells without running them

The notebooks are generated here (markdown and code cells as Python strings) so that their
text can be reviewed as a diff, then executed top to bottom in a fresh ``python3`` kernel with
nbclient and written WITH their outputs, so that they read well on a repository page.  The
kernel imports the gcnn of this checkout (the repository root goes first on ``PYTHONPATH``) and
uses matplotlib's Agg backend (``MPLBACKEND=Agg``; the ``%matplotlib inline`` magic in the first
cell embeds the figures as PNG outputs).

Needs ``python -m pip install nbformat nbclient ipykernel matplotlib scipy``.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
CELL_TIMEOUT_SECONDS = 600


# --------------------------------------------------------------------------- cell helpers


def _md(text: str):
    import nbformat

    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def _code(text: str):
    import nbformat

    return nbformat.v4.new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------- notebook 01

NOTEBOOK_01 = [
    _md(r"""
# Group CNNs with gcnn, step by step

This notebook walks the path of the tutorial **"Group CNNs"** (*Group Convolution
Neural Networks*, blog post) and turns each of its claims into code that runs, using gcnn
instead of hand-written loops. Every numeric claim is followed by an `assert`, so running the
notebook top to bottom is also a test (the project's CI does exactly that).

| | the tutorial | what is shown |
|---|---|---|
| 1 | 2.1 | the group axioms, checked on every element of p4 and p4m |
| 2 | 2.2-2.3 | representations, the left-regular one, equivariance vs invariance |
| 3 | 3 | translation equivariance of `gcnn.correlate2d` beside SciPy |
| 4 | 4.1-4.2 | lifting; a turn of the input = turned maps + a cyclic shift |
| 5 | 4.3-4.4 | the tutorial's `p4_group_convolution` vs `gcnn.group_conv` |
| 6 | 4.5 | lift, group conv, ReLU, group pool, spatial pool: invariance |
| 7 | - | where exact equivariance breaks; the validator predicting it |
| 8 | - | timing against the tutorial's SciPy code |

The steerable view of section 5 of the tutorial (Fourier series over the rotation axis) is the
subject of the companion notebook `02_steerable_fourier.ipynb`.
"""),
    _code(r"""
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy
import scipy.signal

import gcnn
from gcnn import nn
from gcnn._demo import load_demo_image
from gcnn.groups import p4, p4m

notebook_start = time.perf_counter()
np.set_printoptions(precision=4, suppress=True, linewidth=110)
plt.rcParams.update({"figure.dpi": 90, "axes.titlesize": 10})


def show(ax, picture, title, cmap="viridis", **kwargs):
    # One image panel: the picture, a title, no ticks (pixel indices say nothing here).
    ax.imshow(picture, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def relative_error(actual, expected):
    # max |actual - expected| relative to max |expected|: rounding in float64 is ~1e-16.
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


image = load_demo_image()
print(f"gcnn {gcnn.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
      f"{gcnn.get_num_threads()} thread(s)")
print(f"demo image: {image.shape[0]}x{image.shape[1]} float64, "
      f"values in [{image.min():.3f}, {image.max():.3f}]")
"""),
    # ------------------------------------------------------------------ 1. groups
    _md(r"""
## 1. Groups

A group is a set with a product that is closed, associative, has an identity and has an inverse
for every element (tutorial, section 2.1). A G-CNN for images uses two small groups besides the
translations, which the pixel grid already carries:

* **p4**: the four rotations by multiples of 90 degrees (the cyclic group C4, order 4);
* **p4m**: those four rotations and four mirrors (the dihedral group D4, order 8).

`gcnn.groups` numbers the elements `g = 4*m + r`: mirror `m` in {0, 1}, then `r` quarter turns.
`compose(a, b)` is the element that acts like "first `b`, then `a`". The cell below checks all
four axioms by brute force, over every pair and every triple of elements.
"""),
    _code(r"""
def check_group_axioms(group):
    elements = group.elements
    identity = 0
    table = group.cayley_table()                      # table[a, b] == compose(a, b)
    closure = set(table.ravel().tolist()) <= set(elements)
    associative = all(
        group.compose(a, group.compose(b, c)) == group.compose(group.compose(a, b), c)
        for a in elements for b in elements for c in elements
    )
    has_identity = all(group.compose(identity, g) == g == group.compose(g, identity)
                       for g in elements)
    has_inverses = all(group.compose(group.inverse(g), g) == identity
                       == group.compose(g, group.inverse(g)) for g in elements)
    print(f"{group.name}: order {group.order}, closure {closure}, associativity {associative} "
          f"({group.order ** 3} triples), identity {has_identity}, inverses {has_inverses}")
    return closure and associative and has_identity and has_inverses


assert check_group_axioms(p4)
assert check_group_axioms(p4m)

names = [p4m.element_name(g) for g in p4m.elements]
print("\np4m multiplication table, row a, column b, entry compose(a, b):")
print("        " + "".join(f"{name:>6}" for name in names))
for a, row in zip(names, p4m.cayley_table()):
    print(f"{a:>6}  " + "".join(f"{names[entry]:>6}" for entry in row))

# p4 is commutative, p4m is not: a mirror reverses the sense of the turns around it.
assert np.array_equal(p4.cayley_table(), p4.cayley_table().T)
print(f"\ncompose(r1, m r0) = {names[p4m.compose(1, 4)]}, "
      f"compose(m r0, r1) = {names[p4m.compose(4, 1)]}: p4m is not commutative")
assert p4m.compose(1, 4) != p4m.compose(4, 1)
"""),
    _md(r"""
The elements act on images through `transform_image`: mirror left-right first (if `m = 1`),
then `np.rot90` `r` times. Here is the demo image shipped with gcnn under all eight elements of
p4m. The picture (a letter F, an arrow, blobs, a gradient) has no symmetry of its own, so every
element changes it visibly.
"""),
    _code(r"""
fig, axes = plt.subplots(2, 4, figsize=(11, 6), constrained_layout=True)
for g, ax in zip(p4m.elements, axes.flat):
    m, r = divmod(g, 4)
    words = ("mirror, then " if m else "") + f"{90 * r} deg"
    show(ax, p4m.transform_image(image, g), f"g = {g} ({p4m.element_name(g)}): {words}",
         cmap="gray")
fig.suptitle("The demo image under the eight elements of p4m (top row: the subgroup p4)")
plt.show()
"""),
    _md(r"""
*Figure 1.* The top row is p4 (turns by 0, 90, 180, 270 degrees counter-clockwise); the bottom
row mirrors left-right first (the F faces the other way) and then turns.
"""),
    # ------------------------------------------------------------------ 2. representations
    _md(r"""
## 2. Representations, the left-regular representation, equivariance

### 2.1 A representation on images

A representation assigns to every group element an invertible linear map `rho(g)` of a vector
space, such that `rho(a) rho(b) = rho(compose(a, b))` (tutorial, section 2.2). For images the
vector space is all `H x W` arrays and `rho(g) = transform_image(., g)`: it only moves pixels, so
it is linear, and it can be undone. On a tiny 5x5 grid we can write each `rho(g)` down as a
25x25 matrix and check the homomorphism property with matrix products.
"""),
    _code(r"""
side = 5


def matrix_of(g, group=p4m):
    # Column p is the transformed p-th basis image (a single 1 at pixel p), flattened.
    basis = np.eye(side * side).reshape(side * side, side, side)
    return group.transform_image(basis, g).reshape(side * side, side * side).T


rho = {g: matrix_of(g) for g in p4m.elements}
for g, matrix in rho.items():
    # A permutation matrix: one 1 per row and column, so it is orthogonal and invertible.
    assert set(np.unique(matrix)) == {0.0, 1.0}
    assert np.array_equal(matrix.sum(axis=0), np.ones(side * side))
    assert np.array_equal(matrix @ matrix.T, np.eye(side * side))

homomorphism_error = max(np.max(np.abs(rho[a] @ rho[b] - rho[p4m.compose(a, b)]))
                         for a in p4m.elements for b in p4m.elements)
print(f"max over all 64 pairs |rho(a) rho(b) - rho(ab)| = {homomorphism_error}")
assert homomorphism_error == 0

# The same law on the demo image, without building matrices.
image_error = max(np.max(np.abs(p4m.transform_image(p4m.transform_image(image, b), a)
                                - p4m.transform_image(image, p4m.compose(a, b))))
                  for a in p4m.elements for b in p4m.elements)
print(f"on the demo image: max |T_a(T_b x) - T_(ab) x| = {image_error}")
assert image_error == 0
"""),
    _md(r"""
### 2.2 The left-regular representation

The left-regular representation moves a *function* by moving its domain with the inverse
element: `[L_g f](x) = f(g^-1 . x)` (tutorial, section 2.2). An image is a function on pixel
positions. Give each pixel Cartesian coordinates `(u, v)` about the centre, `u` to the right
and `v` up; then p4m acts on positions by 2x2 integer matrices (a turn `R` by +90 degrees and a
mirror `M` of `u`). The cell checks, pixel by pixel, that `transform_image` is exactly the
left-regular representation: the value at `x` after the transformation is the value that sat
at `g^-1 . x` before. It also checks that the matrices compose like the group elements (the
*group action* on the plane, the third structure in the tutorial's remark).
"""),
    _code(r"""
turn = np.array([[0, -1], [1, 0]])     # (u, v) -> (-v, u): 90 degrees counter-clockwise
mirror = np.array([[-1, 0], [0, 1]])   # (u, v) -> (-u, v): left-right


def action_matrix(g):
    m, r = divmod(g, 4)
    return np.linalg.matrix_power(turn, r) @ np.linalg.matrix_power(mirror, m)


size = image.shape[0]
centre = (size - 1) / 2
rows, cols = np.indices(image.shape)
positions = np.stack([cols - centre, centre - rows])          # (u, v) of every pixel

for g in p4m.elements:
    inverse_matrix = np.rint(np.linalg.inv(action_matrix(g))).astype(int)
    source_u, source_v = np.einsum("ij,jhw->ihw", inverse_matrix, positions)
    source_rows = np.rint(centre - source_v).astype(int)
    source_cols = np.rint(centre + source_u).astype(int)
    assert np.array_equal(p4m.transform_image(image, g), image[source_rows, source_cols])
    for h in p4m.elements:
        assert np.array_equal(action_matrix(p4m.compose(g, h)),
                              action_matrix(g) @ action_matrix(h))
print("transform_image(f, g)(x) == f(g^-1 . x) at every pixel, for all 8 elements of p4m")
print("action matrices compose like the group: A(compose(g, h)) == A(g) A(h) for all 64 pairs")
"""),
    _md(r"""
After lifting (section 4) a feature map is a function on the group itself: one plane per
group element, `F[h, y, x]`. Its left-regular representation turns every plane *and* permutes
the planes, `(L_g F)[h] = T_g(F[g^-1 h])`; gcnn calls it `transform_features`. It is a
representation too:
"""),
    _code(r"""
rng = np.random.default_rng(0)
for group in (p4, p4m):
    features = rng.standard_normal((group.order, 7, 7))
    error = max(np.max(np.abs(group.transform_features(group.transform_features(features, b), a)
                              - group.transform_features(features, group.compose(a, b))))
                for a in group.elements for b in group.elements)
    print(f"{group.name}: max |L_a(L_b F) - L_(ab) F| = {error}")
    assert error == 0

# For p4 and one quarter turn: turn every plane, shift the orientation axis by one.
features = rng.standard_normal((4, 7, 7))
assert np.array_equal(p4.transform_features(features, 1),
                      np.roll(np.rot90(features, 1, axes=(1, 2)), 1, axis=0))
"""),
    _md(r"""
### 2.3 Equivariance versus invariance

An operator `Phi` is **equivariant** when transforming the input and then applying `Phi` gives
the same as applying `Phi` and then transforming the output, `Phi(rho_X(g) x) = rho_Y(g) Phi(x)`;
it is **invariant** when the output does not change at all, `Phi(rho_X(g) x) = Phi(x)`
(tutorial, section 2.3). Invariance is equivariance with `rho_Y(g)` the identity. Note that the
output representation `rho_Y` may differ from the input one.

`gcnn.check_equivariance(fn, x, group)` applies every group element to `x` and reports the
largest error of the law for each; it picks the output representation from the output's shape
(an image, maps on the group, or fewer axes: invariant). Four operators on the demo image:
"""),
    _code(r"""
rng = np.random.default_rng(1)
random_kernel = rng.standard_normal((5, 5))
symmetric_kernel = sum(np.rot90(random_kernel, j) for j in range(4))  # unchanged by quarter turns
lift_weight = random_kernel[None, None]                               # (C_out, C_in, k, k)

operators = {
    "correlate2d, random kernel": (
        lambda x: gcnn.correlate2d(x, random_kernel, mode="same"), "T_g (same as input)"),
    "correlate2d, C4-symmetric kernel": (
        lambda x: gcnn.correlate2d(x, symmetric_kernel, mode="same"), "T_g (same as input)"),
    "lift (p4)": (
        lambda x: gcnn.lift(x[None, None], lift_weight, padding="same")[0, 0], "L_g on the group"),
    "lift, max over group, mean over plane": (
        lambda x: gcnn.group_pool(gcnn.lift(x[None, None], lift_weight, padding="same")).mean(),
        "identity (invariant)"),
}
print(f"{'operator':<40} {'output representation':<22} {'relative error of the law':>26}")
results = {}
for name, (operator, representation) in operators.items():
    errors = gcnn.check_equivariance(operator, image, "p4")
    results[name] = errors.relative_error
    print(f"{name:<40} {representation:<22} {errors.relative_error:>26.2e}")

assert results["correlate2d, random kernel"] > 0.1          # not rotation equivariant
for name in list(operators)[1:]:
    assert results[name] < 1e-12, name                        # exact up to rounding
"""),
    _md(r"""
An ordinary correlation is not rotation equivariant unless its kernel is itself symmetric; the
lifting layer is equivariant with a *different* representation on its output; pooling over the
group and the plane makes it invariant. The rest of the notebook builds these pieces one by one.
"""),
    # ------------------------------------------------------------------ 3. translations
    _md(r"""
## 3. Correlation and translation equivariance

The tutorial's section 3 recalls that correlation slides the kernel over the image, that
convolution is correlation with the kernel flipped, and that both commute with translations.
`gcnn.correlate2d` and `gcnn.convolve2d` take `scipy.signal`'s arguments and give its numbers:
"""),
    _code(r"""
rng = np.random.default_rng(2)
kernel = rng.standard_normal((5, 5))
worst = 0.0
for mode in ("full", "same", "valid"):
    for boundary in ("fill", "wrap", "symm"):
        for ours, theirs in ((gcnn.correlate2d, scipy.signal.correlate2d),
                             (gcnn.convolve2d, scipy.signal.convolve2d)):
            ours_out = ours(image, kernel, mode=mode, boundary=boundary)
            theirs_out = theirs(image, kernel, mode=mode, boundary=boundary)
            assert ours_out.shape == theirs_out.shape
            worst = max(worst, relative_error(ours_out, theirs_out))
print(f"gcnn vs scipy.signal over 3 modes x 3 boundaries x 2 functions: "
      f"max relative difference {worst:.1e}")
assert worst < 1e-12

# Convolution is correlation with the kernel turned by 180 degrees (flipped on both axes).
assert relative_error(gcnn.convolve2d(image, kernel),
                      gcnn.correlate2d(image, np.rot90(kernel, 2))) < 1e-14
"""),
    _md(r"""
Now shift the input. On a periodic domain (`boundary="wrap"`, the shift done with `np.roll`)
the law is exact at every pixel. With zero padding (`boundary="fill"`) the shifted image loses
pixels at one edge and gains zeros at the other, so the law holds everywhere except in strips
along the border (at most the shift plus half the kernel wide).
"""),
    _code(r"""
shift = (9, -14)                        # rows down, columns left


def translate(picture, offset):
    # Shift with zeros coming in (a true translation of a finite image).
    moved = np.zeros_like(picture)
    dy, dx = offset
    height, width = picture.shape
    moved[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        picture[max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return moved


periodic = gcnn.correlate2d(np.roll(image, shift, axis=(0, 1)), kernel, mode="same",
                            boundary="wrap")
periodic_expected = np.roll(gcnn.correlate2d(image, kernel, mode="same", boundary="wrap"),
                            shift, axis=(0, 1))
print(f"wrap: max |corr(shift x) - shift corr(x)| = "
      f"{np.max(np.abs(periodic - periodic_expected)):.1e} (whole image)")
assert relative_error(periodic, periodic_expected) < 1e-12

shifted_image = translate(image, shift)
shifted_output = gcnn.correlate2d(shifted_image, kernel, mode="same")
expected_output = translate(gcnn.correlate2d(image, kernel, mode="same"), shift)
difference = np.abs(shifted_output - expected_output)
half = kernel.shape[0] // 2
inner = (slice(abs(shift[0]) + half, -abs(shift[0]) - half),
         slice(abs(shift[1]) + half, -abs(shift[1]) - half))
print(f"fill: max difference inside the border strips {difference[inner].max():.1e}, "
      f"in the strips {difference.max():.2f}")
assert difference[inner].max() < 1e-12 * np.abs(expected_output).max()
"""),
    _code(r"""
fig, axes = plt.subplots(1, 4, figsize=(13, 3.8), constrained_layout=True)
show(axes[0], image, "input x", cmap="gray")
show(axes[1], shifted_image, f"shifted input (rows {shift[0]:+d}, cols {shift[1]:+d})",
     cmap="gray")
show(axes[2], shifted_output, "correlate2d(shifted x, k)")
show(axes[3], difference, "|corr(shift x) - shift corr(x)|", cmap="magma")
fig.suptitle("Translation equivariance of gcnn.correlate2d (5x5 random kernel, zero padding)")
plt.show()
"""),
    _md(r"""
*Figure 2.* The correlation of the shifted image (third panel) is the shifted correlation: the
difference (right) is zero everywhere except in the border strips where the zero padding and
the pixels pushed off the image differ.
"""),
    # ------------------------------------------------------------------ 4. lifting
    _md(r"""
## 4. Lifting: images to maps on the group

To become rotation equivariant, the network first **lifts** the image to a function on p4: it
correlates the image with the kernel turned by 0, 90, 180 and 270 degrees and stacks the four
results along a new orientation axis (tutorial, sections 4.1-4.2). Below is the tutorial's code
for both of its functions, written with SciPy as published, with one fix: the published
`lift_correlation` reads a global variable `conv_kernel` instead of its `kernel` argument.
"""),
    _code(r"""
def tutorial_lift_correlation(image, kernel):
    # The tutorial's lifting (its section 4.2), using the argument instead of a global.
    return np.array([scipy.signal.convolve2d(image, np.rot90(kernel, i), mode="same",
                                             boundary="symm") for i in range(4)])


def tutorial_p4_group_convolution(features, kernel):
    # The tutorial's p4 "group convolution" (its section 4.4), as published.
    output = np.zeros_like(features)
    for i in range(features.shape[0]):
        for j in range(4):
            output[i] += scipy.signal.convolve2d(features[i], np.rot90(kernel, j), mode="same",
                                                 boundary="symm")
    return output
"""),
    _md(r"""
`gcnn.lift_correlation` has the tutorial's name, defaults and numbers. Despite the name it
computes a true **convolution** (SciPy's `convolve2d` flips the kernel), so each map equals a
correlation with the kernel turned by a further 180 degrees. The layer `gcnn.lift` is the
multi-channel, batched correlation of
[docs/design.md, §3.2 lift and group_conv](../docs/design.md#32-lift-and-group_conv); with zero
padding the two agree once the kernel is flipped.
"""),
    _code(r"""
kernel = np.random.default_rng(0).standard_normal((5, 5))
maps = gcnn.lift_correlation(image, kernel)                      # (4, 96, 96)
print("lift_correlation:", maps.shape, maps.dtype)
error = relative_error(maps, tutorial_lift_correlation(image, kernel))
print(f"gcnn.lift_correlation vs the tutorial's SciPy code: relative difference {error:.1e}")
assert error < 1e-12

# It convolves: map i is a correlation with the kernel turned by (i + 2) quarter turns.
for i in range(4):
    assert relative_error(maps[i], scipy.signal.correlate2d(
        image, np.rot90(kernel, i + 2), mode="same", boundary="symm")) < 1e-12

# The layer gcnn.lift (correlation, zero padding) with the flipped kernel gives the same maps.
layer_maps = gcnn.lift(image[None, None], np.rot90(kernel, 2)[None, None], padding="same")[0, 0]
assert relative_error(layer_maps, gcnn.lift_correlation(image, kernel, boundary="fill")) < 1e-12
print("gcnn.lift(x, rot180(k), padding='same') == gcnn.lift_correlation(x, k, boundary='fill')")
"""),
    _code(r"""
fig, axes = plt.subplots(2, 4, figsize=(11, 6), constrained_layout=True,
                         gridspec_kw={"height_ratios": [1, 2.2]})
limit = np.abs(kernel).max()
map_range = {"vmin": maps.min(), "vmax": maps.max()}
for i in range(4):
    show(axes[0, i], np.rot90(kernel, i), f"kernel turned {90 * i} deg", cmap="RdBu_r",
         vmin=-limit, vmax=limit)
    show(axes[1, i], maps[i], f"lift_correlation(x, k)[{i}]", **map_range)
fig.suptitle("Lifting the demo image: one map per rotated copy of a 5x5 random kernel")
plt.show()
"""),
    _md(r"""
*Figure 3.* Top: the kernel in its four orientations (red positive, blue negative). Bottom: the
four lifted maps on one colour scale. Each map responds most to the edges of the image that
match its own orientation of the kernel, so the four maps differ even though the kernel is the
same.
"""),
    _md(r"""
The central claim of the tutorial's section 4.2: **a rotation of the input becomes a planar
rotation of every map plus a cyclic shift along the orientation axis.** For one quarter turn,
`lift(rot90(x))[i] == rot90(lift(x)[i - 1])`: the map that was at orientation `i - 1` turns and
moves to slot `i`. This is the left-regular representation `L_g` of section 2.2. With a
shift in the other direction the law fails:
"""),
    _code(r"""
for r in range(4):
    rotated_maps = gcnn.lift_correlation(np.rot90(image, r), kernel)
    predicted = np.roll(np.rot90(maps, r, axes=(1, 2)), r, axis=0)
    wrong_way = np.roll(np.rot90(maps, r, axes=(1, 2)), -r, axis=0)
    error = relative_error(rotated_maps, predicted)
    note = "  (-r = +r mod 4)" if r in (0, 2) else ""
    print(f"r = {r} ({90 * r:3d} deg): shift +r error {error:.1e}, "
          f"shift -r error {relative_error(rotated_maps, wrong_way):.2f}{note}")
    assert error < 1e-12
    assert np.array_equal(predicted, p4.transform_features(maps, r))

# The same law for the p4m layer: all eight elements, maps permuted by the group product.
p4m_weight = np.random.default_rng(3).standard_normal((2, 1, 5, 5))
errors = gcnn.check_equivariance(
    lambda x: gcnn.lift(x, p4m_weight, group="p4m", padding="same"), image[None, None], "p4m")
print(f"gcnn.lift on p4m (2 output channels, 8 maps each): {errors.relative_error:.1e}")
assert errors.relative_error < 1e-12
"""),
    _code(r"""
rotated_maps = gcnn.lift_correlation(np.rot90(image), kernel)
frame_colours = ["tab:red", "tab:blue", "tab:green", "tab:orange"]
fig, axes = plt.subplots(2, 5, figsize=(14, 6), constrained_layout=True)
show(axes[0, 0], image, "input x", cmap="gray")
show(axes[1, 0], np.rot90(image), "input rot90(x)", cmap="gray")
for i in range(4):
    show(axes[0, i + 1], maps[i], f"lift(x)[{i}]", **map_range)
    source = (i - 1) % 4
    show(axes[1, i + 1], rotated_maps[i], f"lift(rot90 x)[{i}] = rot90(lift(x)[{source}])",
         **map_range)
    for row, colour in ((0, frame_colours[i]), (1, frame_colours[source])):
        for spine in axes[row, i + 1].spines.values():
            spine.set_color(colour)
            spine.set_linewidth(4)
fig.suptitle("A quarter turn of the input = a quarter turn of every map + a cyclic shift of "
             "the orientation axis by one (frame colour = which map it is)")
plt.show()
"""),
    _md(r"""
*Figure 4.* Top: the lifted maps of the image, each with its own frame colour. Bottom: the maps
of the image turned by 90 degrees. Every bottom map is a top map turned by 90 degrees, and the
frame colours show that they have moved one slot to the right, the last one wrapping around to
the first: the cyclic shift along the rotation axis.
"""),
    # ------------------------------------------------------------------ 5. group conv
    _md(r"""
## 5. Group convolution: the tutorial's version and the real one

After lifting, the next layer should correlate over the whole group: output orientation `g`
sums over *all* input orientations `h`, each with its own kernel, turned by `g`
(tutorial, section 4.3):

    out[g] = sum_h corr(F[h], T_g(w[g^-1 h]))        (gcnn.group_conv; for p4: w[(h - g) % 4])

The tutorial's `p4_group_convolution` (section 4.4) loops over the input maps `i` and, inside,
over four rotations `j` of one 2-D kernel. The inner sum runs over rotations of the *kernel*,
not over input orientations, so output `i` depends on input `i` only: the layer **never mixes
orientations**. Summing the turned kernels first shows what it really is: one convolution per
map with the C4-symmetrised kernel `sum_j rot90(kernel, j)`, which is how
`gcnn.p4_group_convolution` computes it (a quarter of the work).
"""),
    _code(r"""
features = maps                                               # the lifted maps of section 4
tutorial_out = tutorial_p4_group_convolution(features, kernel)
fast_out = gcnn.p4_group_convolution(features, kernel)
error = relative_error(fast_out, tutorial_out)
print(f"gcnn.p4_group_convolution vs the tutorial's SciPy code: relative difference {error:.1e}")
assert error < 1e-12

symmetrised = sum(np.rot90(kernel, j) for j in range(4))
per_map = np.array([scipy.signal.convolve2d(f, symmetrised, mode="same", boundary="symm")
                    for f in features])
print(f"... vs one convolution per map with sum_j rot90(k, j): "
      f"{relative_error(per_map, tutorial_out):.1e}")
assert relative_error(per_map, tutorial_out) < 1e-12

# Both layers are equivariant: L_g in, L_g out.
group_weight = np.random.default_rng(4).standard_normal((1, 1, 4, 5, 5))
for name, layer in (
    ("tutorial p4_group_convolution", lambda F: gcnn.p4_group_convolution(F, kernel)),
    ("gcnn.group_conv", lambda F: gcnn.group_conv(F[None], group_weight, padding="same")[0]),
):
    errors = gcnn.check_equivariance(layer, features, "p4", input_kind="group")
    print(f"{name:<30} equivariance error {errors.relative_error:.1e}")
    assert errors.relative_error < 1e-12
"""),
    _md(r"""
Both are equivariant, so the difference is not in the law but in what the layer can see. Feed
both layers a change in **orientation 0 only**: a single bright pixel in the middle of map 0,
zeros in maps 1-3. Both layers are linear, so their outputs for this input are exactly how
their outputs change.
"""),
    _code(r"""
impulse = np.zeros((4, 15, 15))
impulse[0, 7, 7] = 1.0

tutorial_response = gcnn.p4_group_convolution(impulse, kernel, boundary="fill")
group_response = gcnn.group_conv(impulse[None, None], group_weight, padding="same")[0, 0]
print("output orientation:            ", "   ".join(f"{i:>8}" for i in range(4)))
for name, response in (("tutorial p4_group_convolution", tutorial_response),
                       ("gcnn.group_conv", group_response)):
    norms = np.linalg.norm(response, axis=(1, 2))
    print(f"{name:<30}", "   ".join(f"{value:8.3f}" for value in norms))

assert np.all(tutorial_response[1:] == 0)                      # never leaves orientation 0
assert np.all(np.linalg.norm(group_response, axis=(1, 2)) > 0.1)  # reaches every orientation

# The tutorial's layer is the special case of group_conv whose kernel on the group is the
# symmetrised kernel at the identity orientation and zero at the others.
special_weight = np.zeros((1, 1, 4, 5, 5))
special_weight[0, 0, 0] = symmetrised                          # symmetric: flipping changes nothing
assert relative_error(
    gcnn.group_conv(features[None, None], special_weight, padding="same")[0, 0],
    gcnn.p4_group_convolution(features, kernel, boundary="fill")) < 1e-12
print("tutorial layer == gcnn.group_conv with weight [sum_j rot90(k, j), 0, 0, 0]")
"""),
    _code(r"""
fig, axes = plt.subplots(2, 5, figsize=(14, 6.2), constrained_layout=True)
for row, (name, response) in enumerate((("tutorial", tutorial_response),
                                        ("group_conv", group_response))):
    show(axes[row, 0], impulse[0], "input: impulse in orientation 0\n(orientations 1-3 zero)",
         cmap="gray")
    limit = np.abs(response).max()
    for i in range(4):
        show(axes[row, i + 1], response[i],
             f"{name} output, orientation {i}\nnorm {np.linalg.norm(response[i]):.3f}",
             cmap="RdBu_r", vmin=-limit, vmax=limit)
fig.suptitle("Which output orientations an input at orientation 0 reaches: tutorial's "
             "p4_group_convolution (top) vs gcnn.group_conv (bottom)")
plt.show()
"""),
    _md(r"""
*Figure 5.* Top row: the tutorial's layer answers the impulse with the C4-symmetric kernel in
output orientation 0 and exact zeros (white) in orientations 1-3. Bottom row: the real group
convolution answers in all four orientations, each with a differently turned slice of its
kernel on the group; this mixing across orientations is what makes a group convolution more
expressive than a per-orientation filter.
"""),
    # ------------------------------------------------------------------ 6. pipeline
    _md(r"""
## 6. The whole pipeline: an invariant output

The tutorial's section 4.5 assembles a G-CNN: a lifting layer, group convolutions, then a
projection that collapses the group axis. With `gcnn.nn` layers: lift, group convolution,
ReLU, max over the group (`GroupPool`), and a global max over the plane (`SpatialPool(None)`).
Each step is equivariant or invariant, so the whole network's output cannot change when the
input is turned (or, for a p4m network, also mirrored).
"""),
    _code(r"""
def build_network(group):
    return nn.Sequential(
        nn.LiftingConv(1, 8, 5, group=group, padding="same", dtype=np.float64, rng=0),
        nn.GroupConv(8, 8, 5, group=group, padding="same", dtype=np.float64, rng=1),
        nn.ReLU(),
        nn.GroupPool("max"),
        nn.SpatialPool(None),
    )


network = build_network("p4")
print(network)
x = image[None, None]                                          # (N, C, H, W)
activation = x
for layer in network:
    activation = layer(activation)
    print(f"  {type(layer).__name__:<12} -> {activation.shape}")
print(gcnn.equivariance_conditions(network, image.shape))
assert gcnn.equivariance_conditions(network, image.shape).exact

for group in (p4, p4m):
    net = build_network(group.name)
    reference = net(x).ravel()
    worst = max(relative_error(net(group.transform_image(x, g)).ravel(), reference)
                for g in group.elements)
    print(f"{group.name} network: 8 outputs {np.round(reference, 4)}, "
          f"max relative change over the {group.order} elements {worst:.1e}")
    assert worst < 1e-12
"""),
    _md(r"""
For contrast, an ordinary CNN with the same shape (the identity-orientation slices of the same
weights, correlated as plain 2-D filters) loses its invariance as soon as the input turns:
"""),
    _code(r"""
lifting, group_layer = network[0], network[1]


def plain_cnn(picture):
    # Two plain correlation layers (no rotated copies), ReLU, global max.
    first = np.array([gcnn.correlate2d(picture, w[0], mode="same") + b
                      for w, b in zip(lifting.weight, lifting.bias)])
    second = np.array([sum(gcnn.correlate2d(first[c], w[c, 0], mode="same") for c in range(8)) + b
                       for w, b in zip(group_layer.weight, group_layer.bias)])
    return np.maximum(second, 0).max(axis=(1, 2))


plain_reference = plain_cnn(image)
plain_change = max(relative_error(plain_cnn(np.rot90(image, r)), plain_reference)
                   for r in range(1, 4))
print(f"plain CNN: max relative change of its 8 outputs under quarter turns {plain_change:.2f}")
assert plain_change > 0.01
"""),
    _code(r"""
pool_to_plane = network[:4]                                   # stop before the spatial pool
fig, axes = plt.subplots(2, 4, figsize=(11, 6), constrained_layout=True)
pooled_maps = [pool_to_plane(np.rot90(x, r, axes=(-2, -1)))[0, 0] for r in range(4)]
pooled_range = {"vmin": min(p.min() for p in pooled_maps),
                "vmax": max(p.max() for p in pooled_maps)}
for r in range(4):
    show(axes[0, r], np.rot90(image, r), f"input turned {90 * r} deg", cmap="gray")
    show(axes[1, r], pooled_maps[r],
         f"after group pool, channel 0\nglobal max {pooled_maps[r].max():.6f}", **pooled_range)
fig.suptitle("p4 network: the group-pooled map turns with the input (equivariant), "
             "its global max does not change (invariant)")
plt.show()
"""),
    _md(r"""
*Figure 6.* Bottom row: channel 0 after the group pool, for the four turned inputs above it. The
map is a planar feature map that turns exactly with the input (equivariance); its global
maximum, the network's output, is the same number in all four panels (invariance).
"""),
    # ------------------------------------------------------------------ 7. breaking
    _md(r"""
## 7. Where exact equivariance breaks

The laws above are exact only when the sampling grid of every layer is itself symmetric under
the group. Two common ways to break that, silently in most libraries:

1. **An even kernel with `same` output size.** A 4x4 kernel has no centre pixel; to keep the
   size, one side gets one more row and column of padding than the other. That half-pixel
   offset does not turn with the image.
2. **A stride that does not fit the input size.** With stride `s` the windows start at the top
   left corner; if `(H + 2*padding - k) % s != 0` the last window stops short of the far edge,
   so the grid sits lopsided and a turn moves it.

First the even kernel, with the tutorial's function (which accepts it) and with the layer
(which refuses `same` and asks for explicit, symmetric padding):
"""),
    _code(r"""
even_kernel = np.random.default_rng(5).standard_normal((4, 4))
even_maps = gcnn.lift_correlation(image, even_kernel)
for r in range(1, 4):
    error = relative_error(gcnn.lift_correlation(np.rot90(image, r), even_kernel),
                           p4.transform_features(even_maps, r))
    print(f"lift_correlation, 4x4 kernel, mode='same', r = {r}: relative error {error:.2f}")
    assert error > 0.05

try:
    gcnn.lift(image[None, None], even_kernel[None, None], padding="same")
except ValueError as exc:
    print(f"\ngcnn.lift(..., padding='same') with a 4x4 kernel raises ValueError:\n  {exc}")
else:
    raise AssertionError("expected a ValueError")

errors = gcnn.check_equivariance(
    lambda x: gcnn.lift(x, even_kernel[None, None], padding=1), image[None, None])
print(f"\ngcnn.lift, 4x4 kernel, padding=1 on every side (output 95x95): "
      f"relative error {errors.relative_error:.1e}")
assert errors.relative_error < 1e-12
"""),
    _md(r"""
Now the stride. `gcnn.equivariance_conditions(network, input_size)` reads the geometry of every
layer and says *before running anything* whether the laws hold exactly, and if not, which layer
breaks them and why. `gcnn.check_equivariance` measures. For a lifting layer with a 3x3 kernel,
padding 1 and strides 2 and 3, over input sizes 24 to 40:
"""),
    _code(r"""
rng = np.random.default_rng(6)
sizes = np.arange(24, 41)
strides = (2, 3)
predicted_exact = {}
measured_error = {}
for stride in strides:
    net = nn.Sequential(nn.LiftingConv(1, 4, 3, stride=stride, padding=1, dtype=np.float64, rng=0),
                        nn.GroupPool())
    predicted_exact[stride] = np.array([gcnn.equivariance_conditions(net, int(n)).exact
                                        for n in sizes])
    measured_error[stride] = np.array([
        gcnn.check_equivariance(net, rng.standard_normal((1, 1, n, n))).relative_error
        for n in sizes])
    exact_sizes = sizes[predicted_exact[stride]].tolist()
    print(f"stride {stride}: predicted exact for H = {exact_sizes}")
    # The prediction matches the measurement at every size.
    assert np.all(measured_error[stride][predicted_exact[stride]] < 1e-12)
    assert np.all(measured_error[stride][~predicted_exact[stride]] > 1e-3)
print("prediction == measurement for all", 2 * len(sizes), "cases\n")

broken = nn.Sequential(nn.LiftingConv(1, 4, 3, stride=2, padding=1, rng=0), nn.GroupPool())
print(gcnn.equivariance_conditions(broken, 32))
"""),
    _code(r"""
fig, ax = plt.subplots(figsize=(9, 4.2), constrained_layout=True)
floor = 1e-17                                                  # exact zeros drawn at the floor
for stride, marker, colour, nudge in zip(strides, ("o", "s"), ("tab:blue", "tab:orange"),
                                         (-0.15, 0.15)):
    values = np.maximum(measured_error[stride], floor)
    exact = predicted_exact[stride]
    at = sizes + nudge                                          # side by side, not on top
    ax.semilogy(at[exact], values[exact], marker, color=colour, markersize=8,
                label=f"stride {stride}: predicted exact")
    ax.semilogy(at[~exact], values[~exact], marker, color=colour, markersize=8,
                markerfacecolor="none", label=f"stride {stride}: predicted broken")
ax.axhline(1e-12, color="gray", linestyle=":", label="1e-12")
ax.set_xlabel("input size H = W (pixels)")
ax.set_ylabel("measured relative equivariance error")
ax.set_xticks(sizes[::2])
ax.set_title("LiftingConv(3x3, padding 1, stride 2 or 3) + GroupPool: measured error vs the "
             "validator's prediction")
ax.legend(loc="center right", fontsize=8)
plt.show()
"""),
    _md(r"""
*Figure 7.* Filled markers: sizes the validator predicts exact; the measured error is at the
rounding level (about 1e-16). Hollow markers: sizes it predicts broken; the error is of the
order of the outputs themselves. Stride 2 works for every odd size, stride 3 for one size in
three. Nothing falls between the two clusters.
"""),
    # ------------------------------------------------------------------ 8. timing
    _md(r"""
## 8. Timing against the tutorial's SciPy code

The same inputs through the tutorial's SciPy functions (section 4 above) and gcnn's C kernels,
with one thread and with gcnn's default thread count (`gcnn.set_num_threads`); median of
several runs, with the speed-up over SciPy after each time. The numbers depend on the machine
and on what else it is doing at the time; the agreement column is the relative difference of
the results (the results do not depend on the thread count). gcnn only starts threads for
calls of more than a few million multiply-adds, so the small inputs run serially either way;
on a machine whose cores are busy with other work, the threaded column of the large inputs can
even be slower than the serial one, because the threads wait for a free core.
"""),
    _code(r"""
def median_seconds(function, *arguments, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*arguments)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


threads = gcnn.get_num_threads()
rng = np.random.default_rng(7)
print(f"5x5 kernel; median of 7 runs; gcnn with 1 thread and with its default of {threads}\n")
print(f"{'function':<22} {'input':>10} {'tutorial (SciPy)':>17} {'gcnn, 1 thread':>15} "
      f"{f'gcnn, {threads} threads':>16} {'agreement':>10}")
for size in (96, 256):
    picture = image if size == 96 else rng.standard_normal((size, size))
    lifted = gcnn.lift_correlation(picture, kernel)
    for name, ours, theirs, data in (
        ("lift_correlation", gcnn.lift_correlation, tutorial_lift_correlation, picture),
        ("p4_group_convolution", gcnn.p4_group_convolution, tutorial_p4_group_convolution, lifted),
    ):
        slow = median_seconds(theirs, data, kernel)
        gcnn.set_num_threads(1)
        serial = median_seconds(ours, data, kernel)
        gcnn.set_num_threads(threads)
        parallel = median_seconds(ours, data, kernel)
        agreement = relative_error(ours(data, kernel), theirs(data, kernel))
        assert agreement < 1e-12
        shape = "x".join(map(str, data.shape))
        print(f"{name:<22} {shape:>10} {slow * 1e3:>14.2f} ms "
              f"{serial * 1e3:>9.3f} ms {slow / serial:>3.0f}x "
              f"{parallel * 1e3:>9.3f} ms {slow / parallel:>3.0f}x {agreement:>10.1e}")
"""),
    _code(r"""
print(f"notebook ran in {time.perf_counter() - notebook_start:.1f} s; every assert held.")
"""),
]


# --------------------------------------------------------------------------- notebook 02

NOTEBOOK_02 = [
    _md(r"""
# The steerable view: Fourier series along the rotation axis

Section 5 of the tutorial **"Group CNNs"** (*Group Convolution Neural Networks*,
blog post) sketches how steerable CNNs go beyond the four angles of p4: read the four values of
a lifted feature map at one pixel as samples of a periodic function of the angle, describe that
function by its Fourier coefficients, and interpolate. This notebook does each step with
`gcnn.fourier` and checks it with numbers:

1. the Fourier coefficients of each fiber along the rotation axis (a DFT over the group);
2. the shift theorem: a cyclic shift of the fiber is a phase factor on the coefficients, and a
   convolution along the fiber is a product of coefficients;
3. trigonometric interpolation of a fiber to any angle, and what four samples cannot see;
4. rotating a p4 feature map by an arbitrary angle in the Fourier domain;
5. the tutorial's "little caveat" measured: how far this is from equivariance for input
   rotations between the 90-degree steps.

Every numeric claim is followed by an `assert`; the project's CI runs this notebook.

**Conventions.** A fiber has `N = 4` samples `f_n` at the angles `theta_n = n * 90` degrees
(orientation `n` of the p4 maps). Its coefficients are `c = np.fft.fft(f) / N`, so that
`f_n = sum_k c_k exp(i k theta_n)`; frequency `k = 3` is read as `-1`, and the Nyquist term
`k = 2` as `c_2 cos(2 theta)`.
"""),
    _code(r"""
%matplotlib inline
import functools
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy
import scipy.ndimage

import gcnn
from gcnn import fourier
from gcnn._demo import load_demo_image
from gcnn.groups import p4

notebook_start = time.perf_counter()
np.set_printoptions(precision=4, suppress=True, linewidth=110)
plt.rcParams.update({"figure.dpi": 90, "axes.titlesize": 10})


def show(ax, picture, title, cmap="viridis", **kwargs):
    # One image panel: the picture, a title, no ticks.
    ax.imshow(picture, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def lift_p4(picture, kernel):
    # p4 lifting of one grayscale image, zero padding, same size: (H, W) -> (4, H, W).
    # Orientation n is the correlation with np.rot90(kernel, n), the kernel turned n * 90 deg.
    return gcnn.lift(picture[None, None], kernel[None, None], padding="same")[0, 0]


image = load_demo_image()
size = image.shape[0]
random_kernel = np.random.default_rng(0).standard_normal((5, 5))
F = lift_p4(image, random_kernel)
print(f"gcnn {gcnn.__version__}, scipy {scipy.__version__}; demo image {image.shape}, "
      f"lifted maps F {F.shape}")
"""),
    # ------------------------------------------------------------------ 1. coefficients
    _md(r"""
## 1. Fibers and their Fourier coefficients

At a pixel `(y, x)` the lifted maps hold four numbers, `F[:, y, x]`: the response to the kernel
in its four orientations. This is the *fiber* over that pixel. `fourier.fiber_coefficients`
takes the DFT of every fiber along the rotation axis at once. The cell compares it with the
defining sum, written out by hand for one pixel, and checks the properties of a real fiber:
`c_0` is its mean, `c_3` is the complex conjugate of `c_1`, and the Nyquist coefficient `c_2`
is real.
"""),
    _code(r"""
pixel = (30, 60)
fiber = F[:, pixel[0], pixel[1]]
angles = np.arange(4) * np.pi / 2
by_hand = np.array([np.mean(fiber * np.exp(-1j * k * angles)) for k in range(4)])
coefficients = fourier.fiber_coefficients(fiber, axis=0)
print(f"fiber at pixel {pixel}: {fiber}")
print(f"coefficients c_0..c_3:  {coefficients}")
assert np.allclose(coefficients, by_hand, rtol=0, atol=1e-12)

# The coefficients give the samples back: f_n = sum_k c_k exp(i k theta_n).
resynthesised = np.array([np.sum(coefficients * np.exp(1j * np.arange(4) * t)) for t in angles])
assert np.allclose(resynthesised, fiber, rtol=0, atol=1e-12)

C = fourier.fiber_coefficients(F)                            # every pixel at once: (4, H, W)
assert np.allclose(C[0], F.mean(axis=0), rtol=0, atol=1e-12)
assert np.allclose(C[3], np.conj(C[1]), rtol=0, atol=1e-12)
assert np.max(np.abs(C[2].imag)) < 1e-12
print("for every pixel: c_0 = mean of the fiber, c_3 = conj(c_1), c_2 real")
"""),
    _md(r"""
A quarter turn of the input turns every map and shifts every fiber cyclically by one slot
(notebook 01, section 4). A cyclic shift changes only the *phases* of the coefficients (next
section), so the magnitude maps `|c_k|` simply turn with the image, for every `k`:
"""),
    _code(r"""
C_turned = fourier.fiber_coefficients(lift_p4(np.rot90(image), random_kernel))
for k in range(3):
    error = relative_error(np.abs(C_turned[k]), np.rot90(np.abs(C[k])))
    print(f"| |c_{k}|(lift(rot90 x)) - rot90(|c_{k}|(lift x)) | relative {error:.1e}")
    assert error < 1e-12

fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), constrained_layout=True)
for row, (picture, coefficient_maps, label) in enumerate(
        ((image, C, "x"), (np.rot90(image), C_turned, "rot90 x"))):
    show(axes[row, 0], picture, f"input {label}", cmap="gray")
    for k in range(3):
        show(axes[row, k + 1], np.abs(coefficient_maps[k]), f"|c_{k}| of lift({label})",
             cmap="magma", vmin=0, vmax=np.abs(C[k]).max())
fig.suptitle("Fourier magnitudes of the fibers (5x5 random kernel): "
             "they turn with the input, the cyclic shift only changes phases")
plt.show()
"""),
    _md(r"""
*Figure 1.* Columns 2-4: `|c_0|` (the fiber mean, the part that does not depend on the kernel's
orientation), `|c_1|` and `|c_2|` (how strongly the response varies with the orientation, once
and twice per turn). The bottom row is the top row turned by 90 degrees, panel by panel.
"""),
    # ------------------------------------------------------------------ 2. shift theorem
    _md(r"""
## 2. The shift theorem

Shifting a fiber cyclically by `s` slots, `np.roll(f, s)`, multiplies coefficient `k` by
`exp(-2 pi i k s / N)`; `fourier.shift_theorem_phase(N, s)` returns those factors. For p4 a
quarter turn of the input is a shift by one slot plus a turn of the planes, so the coefficients
of the lifted turned image are the turned coefficients times the phase (tutorial, section 5:
"a periodic shift is a phase shift on these coefficients").
"""),
    _code(r"""
for s in range(4):
    phase = fourier.shift_theorem_phase(4, s)
    rolled = fourier.fiber_coefficients(np.roll(F, s, axis=0))
    error = np.max(np.abs(rolled - phase[:, None, None] * C)) / np.max(np.abs(C))
    shown = np.round(phase, 12) + 0.0                          # + 0.0 turns -0 into 0
    print(f"shift s = {s}: phase factors {shown}, relative error {error:.1e}")
    assert error < 1e-12

for r in range(4):
    C_r = fourier.fiber_coefficients(lift_p4(np.rot90(image, r), random_kernel))
    predicted = fourier.shift_theorem_phase(4, r)[:, None, None] * np.rot90(C, r, axes=(1, 2))
    error = np.max(np.abs(C_r - predicted)) / np.max(np.abs(C))
    print(f"input turned {90 * r:3d} deg: coefficients = phase x turned coefficients, "
          f"relative error {error:.1e}")
    assert error < 1e-12
"""),
    _md(r"""
The same section of the tutorial says that a convolution becomes a pointwise product of
coefficients. A group convolution whose kernel is 1x1 in space mixes only along the fiber:
`out[g] = sum_h F[h] w[(h - g) % 4]`, a cyclic correlation. By the correlation theorem its
coefficients are `N conj(c_k(w)) c_k(F)`, pixel by pixel:
"""),
    _code(r"""
w = np.random.default_rng(1).standard_normal(4)
out = gcnn.group_conv(F[None, None], w.reshape(1, 1, 4, 1, 1))[0, 0]
by_definition = np.array([sum(F[h] * w[(h - g) % 4] for h in range(4)) for g in range(4)])
assert relative_error(out, by_definition) < 1e-12
predicted = 4 * np.conj(fourier.fiber_coefficients(w, axis=0))[:, None, None] * C
error = np.max(np.abs(fourier.fiber_coefficients(out) - predicted)) / np.max(np.abs(predicted))
print(f"c_k(group_conv(F, 1x1 kernel w)) = 4 conj(c_k(w)) c_k(F): relative error {error:.1e}")
assert error < 1e-12
"""),
    # ------------------------------------------------------------------ 3. interpolation
    _md(r"""
## 3. Interpolating a fiber to any angle

Four samples of a periodic function determine a trigonometric polynomial of lowest degree
through them: `c_0 + c_1 e^{i theta} + c_{-1} e^{-i theta} + c_2 cos(2 theta)`.
`fourier.interpolate_fiber(F, theta)` evaluates it at any angle. Whether this is the *true*
response at that angle depends on the kernel: the true fiber is the correlation with the
kernel turned by `theta`, and four samples can only capture a fiber whose angular frequencies
are 0, 1 (and the `cos 2 theta` part of 2).

To know the truth at every angle we need kernels that can be turned by any angle exactly. The
derivatives of a Gaussian can: define them by formula on the pixel grid (`u` right, `v` up,
matching `np.rot90`'s counter-clockwise turn), then the kernel at angle `theta + 90` is exactly
`np.rot90` of the kernel at `theta`, and the p4 lifting samples the fiber at 0, 90, 180, 270
degrees.
* order 0 (a round Gaussian): the fiber is constant;
* order 1 (first derivative along the direction `theta`): the fiber is `a cos theta + b sin theta`,
  frequency 1, **steerable** from its samples;
* order 2 (second derivative): the fiber is `a + b cos 2 theta + c sin 2 theta`. The part
  `sin 2 theta` is zero at all four sample angles, so the samples cannot see it.
"""),
    _code(r"""
kernel_size = 9
half = (kernel_size - 1) / 2
grid_rows, grid_cols = np.mgrid[0:kernel_size, 0:kernel_size]
u, v = grid_cols - half, half - grid_rows                    # u to the right, v up


def gaussian_derivative(order, theta, sigma=1.5):
    # Derivative of the given order of a Gaussian, along the direction at angle theta.
    along = u * np.cos(theta) + v * np.sin(theta)
    gaussian = np.exp(-(u ** 2 + v ** 2) / (2 * sigma ** 2))
    factor = [np.ones_like(along), -along / sigma ** 2,
              along ** 2 / sigma ** 4 - 1 / sigma ** 2][order]
    return factor * gaussian


for order in range(3):
    for theta in (0.0, 0.3, 1.1):
        assert np.allclose(gaussian_derivative(order, theta + np.pi / 2),
                           np.rot90(gaussian_derivative(order, theta)), rtol=0, atol=1e-14)
print("gaussian_derivative(order, theta + 90 deg) == np.rot90(gaussian_derivative(order, theta))")

dense_degrees = np.arange(0, 361, 2.5)
dense = np.deg2rad(dense_degrees)
truth, interpolated, samples = {}, {}, {}
for order in range(3):
    samples[order] = lift_p4(image, gaussian_derivative(order, 0.0))          # (4, H, W)
    # The true fiber: correlate with the kernel turned by each angle (zero padding, same size).
    truth[order] = np.array([gcnn.correlate2d(image, gaussian_derivative(order, t), mode="same")
                             for t in dense])                                  # (M, H, W)
    interpolated[order] = fourier.interpolate_fiber(samples[order], dense)     # (M, H, W)
    at_samples = interpolated[order][:144:36]                                    # 0, 90, 180, 270
    assert relative_error(at_samples, samples[order]) < 1e-12                    # through samples
    error = relative_error(interpolated[order], truth[order])
    print(f"order {order}: max |interpolated - true| / max |true| over all pixels and "
          f"{len(dense)} angles = {error:.1e}")
    assert (error < 1e-12) if order < 2 else (error > 0.1)
"""),
    _code(r"""
# The pixel where the unseen sin(2 theta) part of the order-2 fiber is largest.
hidden = np.abs(truth[2] - interpolated[2]).max(axis=0)
probe = np.unravel_index(np.argmax(hidden), hidden.shape)

fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
titles = ("order 0 (round): constant fiber", "order 1: steerable, interpolation exact",
          "order 2: sin(2 theta) unseen by 4 samples")
for order, ax in enumerate(axes):
    ax.plot(dense_degrees, truth[order][:, probe[0], probe[1]], color="black", linewidth=2.5,
            label="true response (kernel turned by theta)")
    ax.plot(dense_degrees, interpolated[order][:, probe[0], probe[1]], color="tab:orange",
            linestyle="--", linewidth=2, label="trigonometric interpolant")
    ax.plot(np.arange(4) * 90, samples[order][:, probe[0], probe[1]], "o", color="tab:blue",
            markersize=9, label="p4 samples (lifted maps)")
    ax.set_xticks(np.arange(0, 361, 90))
    ax.set_xlabel("kernel angle theta (degrees)")
    ax.set_ylabel(f"response at pixel (row {probe[0]}, column {probe[1]})")
    ax.set_title(titles[order])
axes[0].legend(fontsize=8, loc="lower left")
fig.suptitle("Fiber of the demo image at one pixel: true response vs interpolation from the "
             "four p4 samples (Gaussian derivative kernels, 9x9)")
plt.show()
"""),
    _md(r"""
*Figure 2.* Black: the response at one pixel as the kernel turns through a full circle; blue
dots: the four values the p4 lifting computes; dashed orange: the Fourier interpolant through
them. For the round and the first-derivative kernels the interpolant lies on the true curve at
every angle. For the second derivative it goes through the four dots but misses the
`sin 2 theta` wave in between, which vanishes at every sample.
"""),
    # ------------------------------------------------------------------ 4. rotate features
    _md(r"""
## 4. Rotating a p4 feature map by any angle

`fourier.rotate_features(F, theta)` does what section 5 of the tutorial suggests for an
arbitrary angle: shift every fiber by `s = theta / 90 degrees` slots in the Fourier domain
(multiply by `shift_theorem_phase(4, s)`, a fractional shift evaluating the interpolant at the
angles `theta_n - theta`), then turn every plane by `theta` (bilinear interpolation,
`fourier.rotate_image`). At multiples of 90 degrees it is exactly the left-regular
representation `L_g`. The cell rebuilds it from these pieces.
"""),
    _code(r"""
for r in range(4):
    assert np.array_equal(fourier.rotate_features(F, r * np.pi / 2), p4.transform_features(F, r))
print("rotate_features(F, r * 90 deg) == p4.transform_features(F, r), bit for bit")

theta = np.deg2rad(30.0)
shift = theta / (np.pi / 2)                                     # a third of a slot
phase = fourier.shift_theorem_phase(4, shift)
shifted = np.fft.ifft(np.fft.fft(F, axis=0) * phase[:, None, None], axis=0)
assert np.max(np.abs(shifted.imag)) < 1e-12                     # a real fiber stays real
shifted = shifted.real
# A fractional shift is the interpolant read at the angles theta_n - theta.
at_shifted_angles = fourier.interpolate_fiber(F, np.arange(4) * np.pi / 2 - theta)
assert relative_error(shifted, at_shifted_angles) < 1e-12
by_hand = fourier.rotate_image(shifted, theta)
assert relative_error(fourier.rotate_features(F, theta), by_hand) < 1e-12
print("rotate_features(F, 30 deg) == rotate_image(ifft(fft(F) * phase(1/3 slot)), 30 deg)")
"""),
    _md(r"""
How close is that to the maps of the input actually turned by 30 degrees? The input is turned
with `scipy.ndimage.rotate(image, 30, reshape=False, order=1)` (bilinear, same grid, zeros
outside) and lifted again. Pixels near the rim see the zeros of the turned image's corners,
which has nothing to do with the group, so the comparison uses a central disk, shown by the
dashed circle.
"""),
    _code(r"""
margin = 9                                                     # at least the kernel size
centred = np.arange(size) - (size - 1) / 2
disk = np.hypot(centred[:, None], centred[None, :]) <= size / 2 - margin

angle_degrees = 30.0
turned_input = scipy.ndimage.rotate(image, angle_degrees, reshape=False, order=1)
actual = lift_p4(turned_input, random_kernel)
predicted = fourier.rotate_features(F, np.deg2rad(angle_degrees))
gap_30 = np.linalg.norm((actual - predicted)[:, disk]) / np.linalg.norm(F[:, disk])
print(f"30 degrees, random 5x5 kernel: ||lift(rotate x) - rotate_features(lift x)|| / ||lift x|| "
      f"= {gap_30:.3f} on the disk")

fig, axes = plt.subplots(3, 4, figsize=(11, 8.8), constrained_layout=True)
value_range = {"vmin": F.min(), "vmax": F.max()}
limit = np.abs((actual - predicted)[:, disk]).max()
circle_angles = np.linspace(0, 2 * np.pi, 200)
radius = size / 2 - margin
for n in range(4):
    show(axes[0, n], actual[n], f"lift(x turned 30 deg)[{n}]", **value_range)
    show(axes[1, n], predicted[n], f"rotate_features(lift x, 30 deg)[{n}]", **value_range)
    show(axes[2, n], np.where(disk, actual[n] - predicted[n], 0), f"difference on the disk [{n}]",
         cmap="RdBu_r", vmin=-limit, vmax=limit)
    for row, style in ((0, "w--"), (1, "w--"), (2, "k--")):
        axes[row, n].plot((size - 1) / 2 + radius * np.cos(circle_angles),
                          (size - 1) / 2 + radius * np.sin(circle_angles), style, linewidth=0.8)
fig.suptitle("A 30-degree turn: lifting the turned image (top) vs turning the lifted maps in the "
             f"Fourier domain (middle); relative gap {gap_30:.2f}")
plt.show()
"""),
    _md(r"""
*Figure 3.* The top and middle rows agree in their large structures (the letter, the arrow and
the blobs turn the same way), but not in detail: the bottom row shows the difference inside the
disk (red and blue, on its own scale), concentrated on the edges, where the random kernel's
response changes fastest with the angle.
"""),
    # ------------------------------------------------------------------ 5. the caveat
    _md(r"""
## 5. Measuring the caveat

The tutorial ends section 5 with a caveat: for angles that are not among the sampled ones this
is only *approximately* equivariant. Here is how far, for input turns from 0 to 360 degrees in
steps of 2.5 degrees:

    gap(alpha) = || lift(rotate(x, alpha)) - rotate_features(lift(x), alpha) ||  /  || lift(x) ||

with the input turned by `scipy.ndimage.rotate(image, alpha, reshape=False, order=1)` and the
norms over the four orientations and the central disk. Four kernels: the random 5x5 kernel and
the three Gaussian derivatives of section 3. The cell also computes the same curve with
`gcnn.fourier.equivariance_gap`, which turns the input with gcnn's own bilinear
`rotate_image`; on the disk the two rotations sample the same pixels, so the curves agree.
"""),
    _code(r"""
kernels = {"random 5x5": random_kernel}
kernels.update({f"Gaussian derivative, order {order}": gaussian_derivative(order, 0.0)
                for order in range(3)})
alpha_degrees = np.arange(0, 360.1, 2.5)
gaps = {}
for name, kernel in kernels.items():
    reference = lift_p4(image, kernel)
    norm = np.linalg.norm(reference[:, disk])
    gaps[name] = np.array([
        np.linalg.norm((lift_p4(scipy.ndimage.rotate(image, alpha, reshape=False, order=1), kernel)
                        - fourier.rotate_features(reference, np.deg2rad(alpha)))[:, disk]) / norm
        for alpha in alpha_degrees])
    library = fourier.equivariance_gap(functools.partial(lift_p4, kernel=kernel), image,
                                       np.deg2rad(alpha_degrees), margin=margin)
    assert np.allclose(gaps[name], library, rtol=1e-9, atol=1e-12)
    steps = gaps[name][alpha_degrees % 90 == 0]
    between = gaps[name][alpha_degrees % 90 != 0]
    print(f"{name:<32} at 0/90/180/270/360 deg: max {steps.max():.1e};  "
          f"between: mean {between.mean():.4f}, max {between.max():.4f} "
          f"(at {alpha_degrees[np.argmax(gaps[name])]:.1f} deg)")
    assert steps.max() < 1e-12                                   # exact at the p4 angles
    assert between.min() > 1e-4                                  # never exact in between

# Only resampling error is left for the steerable kernels; the others add the unseen frequencies.
worst = {name: values.max() for name, values in gaps.items()}
assert worst["Gaussian derivative, order 0"] < 0.01
assert worst["Gaussian derivative, order 1"] < 0.05
assert worst["Gaussian derivative, order 2"] > 5 * worst["Gaussian derivative, order 1"]
assert worst["random 5x5"] > 5 * worst["Gaussian derivative, order 1"]
"""),
    _code(r"""
fig, ax = plt.subplots(figsize=(10, 4.8), constrained_layout=True)
floor = 1e-17                                                   # exact zeros, if any
styles = {"random 5x5": ("tab:red", "-"), "Gaussian derivative, order 0": ("tab:gray", "-"),
          "Gaussian derivative, order 1": ("tab:blue", "-"),
          "Gaussian derivative, order 2": ("tab:green", "-")}
for name, values in gaps.items():
    colour, line = styles[name]
    ax.semilogy(alpha_degrees, np.maximum(values, floor), line, color=colour, marker=".",
                markersize=4, label=name)
for step in range(0, 361, 90):
    ax.axvline(step, color="black", linewidth=0.6, linestyle=":")
ax.set_xticks(np.arange(0, 361, 45))
ax.set_ylim(1e-4, 1.5)
ax.text(135, 1.4e-4, "at 0, 90, 180, 270 and 360 deg\nevery gap is below 1e-15",
        fontsize=8, ha="center", va="bottom")
ax.set_xlabel("input rotation alpha (degrees)")
ax.set_ylabel("relative equivariance gap on the central disk")
ax.set_title("How far Fourier-interpolated p4 maps are from the maps of the turned input")
ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
plt.show()
"""),
    _md(r"""
*Figure 4.* At 0, 90, 180, 270 and 360 degrees (dotted lines) every curve dives off the bottom
of the plot to the rounding level (printed above): there the p4 lifting is exactly equivariant.
In between, the gap is largest near the diagonals (45 degrees plus multiples of 90). For the
round and first-derivative kernels (gray, blue) what is left, at most about 2 percent, is only
bilinear resampling; the second-derivative kernel (green) adds the frequency its four samples
cannot see, and the random kernel (red), whose response has every angular frequency, is
furthest from equivariant: the caveat, in numbers.
"""),
    _code(r"""
print(f"notebook ran in {time.perf_counter() - notebook_start:.1f} s; every assert held.")
"""),
]


# --------------------------------------------------------------------------- notebook 04

NOTEBOOK_04 = [
    _md(r"""
# Finer rotations: C8 and C16 networks with steerable filters

p4 turns images by quarter turns only. Objects in aerial, microscopy or histology images
appear at any angle, and the tutorial's section 5 notes that steerable CNNs interpolate
between the discrete angles. gcnn's groups `cN` and `dN` (docs/design.md, §2.5 Cyclic and
dihedral groups of any order) bring 8 or 16 orientations; this notebook shows, with numbers:

1. the groups C8 and C16 and which of their elements move pixels onto pixels;
2. steerable filters: circular harmonics times rings, turned exactly in the plane and sampled
   (docs/design.md, §3.7 Steerable filters);
3. an image turned by 30 and 45 degrees through a C8 and a C16 network, beside p4;
4. the equivariance error against the angle, from 0 to 90 degrees, for p4, C8 and C16;
5. the tutorial's section 5 as a layer: fibers over the orientations evaluated at any angle.

Every numeric claim is followed by an `assert`; the project's CI runs this notebook.

**Conventions.** Element `g = N*m + r` of `cN`/`dN` mirrors first (`m = 1`) and then turns
counter-clockwise by `2*pi*r/N` in `np.rot90`'s sense; p4 and p4m are C4 and D4.
"""),
    _code(r"""
%matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.ndimage

import gcnn
from gcnn import fourier, nn, steerable
from gcnn._demo import load_demo_image
from gcnn.groups import cyclic, dihedral

notebook_start = time.perf_counter()
np.set_printoptions(precision=4, suppress=True, linewidth=110)
plt.rcParams.update({"figure.dpi": 90, "axes.titlesize": 10})
c8, c16 = cyclic(8), cyclic(16)


def show(ax, picture, title, cmap="viridis", **kwargs):
    # One image panel: the picture, a title, no ticks.
    ax.imshow(picture, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


print(c8, c16, dihedral(8), sep="\n")
"""),
    _md(r"""
## 1. The groups

C8 has eight turns by multiples of 45 degrees. Those by 0, 90, 180 and 270 degrees move pixels
onto pixels (`np.rot90`) and are exact; the others can only be done by interpolation, cubic
B-splines here (docs/design.md, §2.6 Turns that are not quarter turns).
"""),
    _code(r"""
for group in (c8, c16):
    exact = [group.element_name(g) for g in group.exact_elements]
    print(f"{group.name}: angles {np.rad2deg([group.angle(g) for g in group.elements])}")
    print(f"    exact elements {exact}")

picture = np.random.default_rng(0).standard_normal((6, 6))
assert np.array_equal(c8.transform_image(picture, 2), np.rot90(picture))
assert np.array_equal(c16.transform_image(picture, 4), np.rot90(picture))
assert c8.exact_elements == (0, 2, 4, 6) and c16.exact_elements == (0, 4, 8, 12)
# Composition is the same rule as for p4, modulo N: two turns by 45 degrees are one by 90.
assert c8.compose(1, 1) == 2 and c8.compose(7, 1) == 0 and dihedral(8).compose(8, 1) == 15
# On feature maps: the planes turn and the orientation axis shifts by the same number of slots.
maps = np.random.default_rng(1).standard_normal((8, 5, 5))
assert np.array_equal(c8.transform_features(maps, 2),
                      np.roll(np.rot90(maps, 1, axes=(-2, -1)), 2, axis=0))
"""),
    _md(r"""
## 2. Steerable filters

A 5x5 filter of a C8 layer is a combination of the sampled functions
`ring(rho) * cos(n phi)` and `ring(rho) * sin(n phi)`: one ring at the centre, one at radius 1
(frequencies up to 1) and one drawn in from radius 2 (frequencies up to 2). Turning such a
function by any angle only mixes the cos and sin of each frequency, so the turned filter is
exact in the continuous plane and then sampled again. `steerable.filter_basis(5)` is an
orthonormal basis of the 9 filters they span.
"""),
    _code(r"""
basis = steerable.filter_basis(5)
print("basis:", basis.shape, "orthonormal:",
      np.allclose(np.tensordot(basis, basis, axes=([1, 2], [1, 2])), np.eye(len(basis))))
assert basis.shape == (9, 5, 5)
assert np.allclose(np.tensordot(basis, basis, axes=([1, 2], [1, 2])), np.eye(9), atol=1e-12)

fig, axes = plt.subplots(1, 9, figsize=(11, 1.8))
for index, (ax, member) in enumerate(zip(axes, basis)):
    show(ax, member, f"#{index}", cmap="RdBu_r", vmin=-0.8, vmax=0.8)
fig.suptitle("the orthonormal steerable basis of 5x5 filters (C8, C16, ...)")
plt.show()
"""),
    _md(r"""
*Figure 1.* The nine orthonormal steerable 5x5 filters: the centre, the ring at radius 1 with
frequencies 0 and 1, the outer ring with frequencies 0, 1 and 2. A C8 or C16 layer holds one
coefficient per basis filter and per channel pair (and per orientation for group layers).
"""),
    _code(r"""
rng = np.random.default_rng(2)
weight = np.tensordot(rng.standard_normal(9), basis, 1)
angles_degrees = [0, 22.5, 45, 67.5, 90]
turned = [steerable.turn_filter(weight, np.deg2rad(a)) for a in angles_degrees]

# Quarter turns are exact; the turns form a representation (two turns are one turn).
assert np.allclose(turned[-1], np.rot90(weight), atol=1e-13)
assert np.allclose(steerable.turn_filter(turned[1], np.deg2rad(22.5)), turned[2], atol=1e-13)
assert np.allclose(steerable.turn_filter(weight, 0.0, mirror=True), np.flip(weight, -1), atol=1e-13)

fig, axes = plt.subplots(1, 5, figsize=(8, 2))
limit = np.abs(weight).max()
for ax, angle, member in zip(axes, angles_degrees, turned):
    show(ax, member, f"{angle} deg", cmap="RdBu_r", vmin=-limit, vmax=limit)
fig.suptitle("one steerable filter turned by multiples of 22.5 degrees (the C16 bank)")
plt.show()
"""),
    _md(r"""
*Figure 2.* One random steerable filter and its turns by 22.5, 45, 67.5 and 90 degrees, as a
C16 lifting layer builds its bank. The last panel is `np.rot90` of the first to rounding.
"""),
    _md(r"""
## 3. An image turned by 30 and 45 degrees through C8 and C16 networks

Three layers each (a lifting, ReLU, two group convolutions with a ReLU between, 5x5 filters,
default initialisation), on p4, C8 and C16, with 8, 6 and 4 channels (a finer group has more
orientations per channel; the cell prints the parameter counts). The demo picture is blurred by one pixel: an image must be smooth at the scale of a pixel for a
turn by 30 degrees to mean the same thing on the pixel grid.

For an equivariant network, turning the input by an angle turns the output feature maps by
that angle and moves their orientation axis by `angle / (360 / N)` slots. At the group's own
angles that is a permutation of slots; in between, `fourier.steer_features` moves each fiber
by the phase factors of the tutorial's section 5 (docs/design.md, §3.8 Fibers over the
orientations). The error is measured on the central disk, away from the corners that the
turned picture lacks.
"""),
    _code(r"""
image = scipy.ndimage.gaussian_filter(load_demo_image(), 1.0)
image = (image - image.mean()) / image.std()
x = image[None, None]


def network(group, channels):
    return nn.Sequential(
        nn.LiftingConv(1, channels, 5, group=group, rng=0, dtype=np.float64),
        nn.ReLU(),
        nn.GroupConv(channels, channels, 5, group=group, rng=1, dtype=np.float64),
        nn.ReLU(),
        nn.GroupConv(channels, channels, 5, group=group, rng=2, dtype=np.float64),
    ).eval()


networks = {"p4": network("p4", 8), "c8": network("c8", 6), "c16": network("c16", 4)}
for name, net in networks.items():
    print(f"{name:>4}: {sum(p.data.size for p in net.parameters())} parameters")

MARGIN = 14  # the receptive radius of three 5x5 layers is 6; leave the empty corners well out
errors_at = {}
for name, net in networks.items():
    errors_at[name] = fourier.steering_error(net, x, np.deg2rad([30, 45, 90]), name,
                                             margin=MARGIN)
    print(f"{name:>4}: relative error at 30 / 45 / 90 degrees: "
          + " / ".join(f"{e:.2%}" for e in errors_at[name]))

assert all(errors_at[name][2] < 1e-12 for name in networks)  # quarter turns: exact
assert errors_at["c8"][1] < errors_at["p4"][1] / 5      # 45 degrees is a C8 angle
assert errors_at["c16"][1] < errors_at["p4"][1] / 5
assert errors_at["c16"][0] < errors_at["c8"][0] < errors_at["p4"][0]   # 30 degrees: no grid angle
"""),
    _code(r"""
fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
theta = np.deg2rad(45)
for row, name in enumerate(["p4", "c8"]):
    net = networks[name]
    actual = net(fourier.turn_image(x, theta))[0, 0]
    predicted = fourier.steer_features(net(x), theta, name)[0, 0]
    slot = 0
    limit = np.abs(predicted[slot]).max()
    show(axes[row, 0], fourier.turn_image(image, theta), "input turned by 45 deg", cmap="gray")
    show(axes[row, 1], actual[slot], f"{name}: net(turned input)", cmap="RdBu_r",
         vmin=-limit, vmax=limit)
    show(axes[row, 2], predicted[slot], f"{name}: turned net(input)", cmap="RdBu_r",
         vmin=-limit, vmax=limit)
    show(axes[row, 3], actual[slot] - predicted[slot], f"{name}: difference", cmap="RdBu_r",
         vmin=-limit, vmax=limit)
fig.suptitle("orientation 0 of the third layer's first channel, after a 45-degree turn")
plt.show()
"""),
    _md(r"""
*Figure 3.* The same picture turned by 45 degrees through a p4 network (top) and a C8 network
(bottom). For p4, 45 degrees lies half-way between two of its orientations; the best a
p4 map can do is the fiber interpolated half-way (third panel), and the network's actual
response (second panel) differs visibly. For C8, 45 degrees is one slot of the orientation
axis and the difference (last panel, same colour scale) is the interpolation error of the
pixels and filters only.
"""),
    _md(r"""
## 4. Equivariance error against the angle

The same measure at every 2.5 degrees from 0 to 90: zero at 0 and 90 degrees for all three
(exact quarter turns); small at the group's own angles (every 45 degrees for C8, every 22.5
for C16), where only the pixels are interpolated; larger in between, where the fibers are
interpolated too, and that part shrinks as `N` grows.
"""),
    _code(r"""
sweep = np.arange(0, 90.01, 2.5)
curves = {name: fourier.steering_error(net, x, np.deg2rad(sweep), name, margin=MARGIN)
          for name, net in networks.items()}

fig, ax = plt.subplots(figsize=(7, 3.6))
for name, marker in (("p4", "o"), ("c8", "s"), ("c16", "^")):
    ax.plot(sweep, 100 * curves[name], marker=marker, markersize=4, label=name)
for angle in (22.5, 45, 67.5):
    ax.axvline(angle, color="0.85", linewidth=0.8, zorder=0)
ax.set_xlabel("turn of the input (degrees)")
ax.set_ylabel("relative error on the central disk (%)")
ax.set_title("how far three-layer networks are from turning with their input")
ax.legend()
plt.show()

for name, curve in curves.items():
    print(f"{name:>4}: largest error {curve.max():.2%} at {sweep[np.argmax(curve)]:.1f} degrees")
at = {angle: index for index, angle in enumerate(sweep)}
assert all(curves[name][at[0.0]] < 1e-12 and curves[name][at[90.0]] < 1e-12 for name in curves)
assert curves["c16"].max() < curves["c8"].max() < curves["p4"].max()
assert curves["c8"][at[45.0]] < curves["c8"][at[22.5]] / 2   # a C8 angle against a half-way one
assert curves["p4"][at[45.0]] > 0.1                          # p4 is far off at 45 degrees
"""),
    _md(r"""
*Figure 4.* Relative equivariance error of the three networks against the turn of the input.
p4 rises to its largest error half-way between its orientations. C8 dips at 45 degrees,
its own angle, and C16 stays low throughout, with its dips every 22.5 degrees.
"""),
    _md(r"""
## 5. The tutorial's section 5 as a layer

A lifting layer with a steerable filter of frequencies up to 2 responds to the turn of its
filter by a trigonometric polynomial of degree 2 in the angle. Eight samples (C8) carry that
exactly; four (p4) do not, since frequency 2 is p4's Nyquist frequency. `nn.FiberInterpolation`
evaluates the fibers at any angles: the Fourier coefficients of each fiber, moved by phase
factors, summed. Here it finds the orientation of a striped pattern at half-degree
resolution from the eight samples of a C8 lifting.
"""),
    _code(r"""
rows, columns = np.mgrid[:33, :33] - 16.0
stripe = np.deg2rad(37)
stripes = np.cos(0.5 * (columns * np.cos(stripe) - rows * np.sin(stripe)))
stripes *= np.exp(-(rows**2 + columns**2) / 200)
bar = np.exp(-((np.mgrid[:5, :5][0] - 2.0) ** 2))           # a horizontal bar ...
bar = np.tensordot(np.tensordot(basis, bar - bar.mean(), 2), basis, 1)  # ... made steerable

fine = np.deg2rad(np.arange(0, 180, 0.5))
direct = np.array([
    gcnn.conv2d(stripes[None, None], steerable.turn_filter(bar, a)[None, None], padding=2)[0, 0, 16, 16]
    for a in fine
])
interpolated = {}
for name in ("p4", "c8"):
    lifted = gcnn.lift(stripes[None, None], bar[None, None], group=name, padding=2)
    interpolated[name] = nn.FiberInterpolation(fine, name).eval()(lifted)[0, 0, :, 16, 16]
    gap = np.abs(interpolated[name] - direct).max() / np.abs(direct).max()
    print(f"{name:>3}: largest interpolation error {gap:.2e}; peak at "
          f"{np.rad2deg(fine[np.argmax(interpolated[name])]):.1f} degrees")

assert np.abs(interpolated["c8"] - direct).max() < 1e-12 * np.abs(direct).max()
assert np.abs(interpolated["p4"] - direct).max() > 0.1 * np.abs(direct).max()
peak = np.rad2deg(fine[np.argmax(interpolated["c8"])])
assert abs(peak - 127) <= 1.0    # the bar lies along the crests: 37 + 90 degrees

fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(np.rad2deg(fine), direct, color="0.6", linewidth=4, label="filter turned directly")
for name, style in (("p4", "--"), ("c8", "-")):
    ax.plot(np.rad2deg(fine), interpolated[name], style, label=f"{name} fiber, interpolated")
ax.plot(np.arange(0, 180, 45), direct[::90], "ks", label="C8 samples")
ax.set_xlabel("turn of the filter (degrees)")
ax.set_ylabel("response at the centre")
ax.set_title("response against filter angle: C8's eight samples carry it exactly")
ax.legend(fontsize=8)
plt.show()
"""),
    _md(r"""
*Figure 5.* The response of a bar-shaped steerable filter to stripes at 37 degrees, against
the angle of the filter (grey: computed directly at every half degree). C8's eight samples,
interpolated by `nn.FiberInterpolation`, coincide with it to rounding and put the peak at
127 degrees (the bar along the crests); p4's four samples miss the frequency-2 part. Between
layers with ReLUs the responses carry higher frequencies, which is why the networks of
Figure 4 are not exact between their angles: `fourier.steering_error` measures how far.
"""),
    _code(r"""
print(f"notebook ran in {time.perf_counter() - notebook_start:.1f} s; every assert held.")
"""),
]


NOTEBOOKS = {
    "01_group_cnns.ipynb": NOTEBOOK_01,
    "02_steerable_fourier.ipynb": NOTEBOOK_02,
    "04_finer_rotations.ipynb": NOTEBOOK_04,
}


# --------------------------------------------------------------------------- build


def kernel_environment() -> dict:
    """The kernel's environment: this checkout's gcnn first on the path, matplotlib Agg."""
    environment = dict(os.environ)
    paths = [str(REPO_ROOT)] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment["MPLBACKEND"] = "Agg"
    return environment


def make_notebook(cells):
    import copy

    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = copy.deepcopy(cells)
    for index, cell in enumerate(notebook.cells):
        # Stable ids, so that rebuilding a notebook changes only what really changed.
        cell["id"] = f"cell-{index:02d}"
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def execute(notebook, working_directory: Path, environment: dict) -> None:
    """Run every cell in a fresh python3 kernel; raises CellExecutionError on the first error."""
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(working_directory)}},
    )
    client.execute(env=environment, cwd=str(working_directory))


def dump_figures(notebook, stem: str, directory: Path) -> list[Path]:
    """Write every image/png output of ``notebook`` to ``directory`` and return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                path = directory / f"{stem}_figure{len(written) + 1}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="build only notebooks whose name contains this")
    parser.add_argument("--no-execute", action="store_true", help="write cells without outputs")
    parser.add_argument("--figures", type=Path, help="also write every figure to this directory")
    arguments = parser.parse_args(argv)

    import nbformat

    environment = kernel_environment()
    for name, cells in NOTEBOOKS.items():
        if arguments.only and not any(part in name for part in arguments.only):
            continue
        notebook = make_notebook(cells)
        start = time.perf_counter()
        if not arguments.no_execute:
            execute(notebook, NOTEBOOK_DIR, environment)
        seconds = time.perf_counter() - start
        nbformat.validate(notebook)
        nbformat.write(notebook, str(NOTEBOOK_DIR / name))
        print(
            f"{name}: {len(cells)} cells"
            + ("" if arguments.no_execute else f", executed in {seconds:.1f} s")
        )
        if arguments.figures and not arguments.no_execute:
            for path in dump_figures(notebook, Path(name).stem, arguments.figures):
                print(f"  figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
