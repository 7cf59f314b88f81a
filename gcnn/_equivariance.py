"""Measure equivariance numerically, and predict it from a network's geometry.

:func:`check_equivariance` transforms an input by every group element and reports how far a
function is from commuting with the transformation.  :func:`equivariance_conditions` walks a
stack of :mod:`gcnn.nn` layers and says, before anything runs, whether the laws hold exactly
for a given input size and, if not, which layer breaks them and why.  The laws and their
conditions are docs/design.md, §4 Equivariance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike

from . import _layers, nn
from ._validate import as_real_array
from .groups import GroupLike, PointGroup

__all__ = [
    "EquivarianceErrors",
    "EquivarianceReport",
    "check_equivariance",
    "equivariance_conditions",
]

_INPUT_KINDS = ("image", "group")
_OUTPUT_KINDS = ("image", "group", "invariant")


# --------------------------------------------------------------------------- measuring


class EquivarianceErrors(dict):
    """Largest absolute error per group element, keyed by element name (``"r0"``, ``"m r1"``...).

    A ``dict`` with a few extra attributes and a table as its repr.

    Attributes
    ----------
    group : PointGroup
        The group whose elements were tried.
    input_kind, output_kind : str
        How the input and the output were transformed (see :func:`check_equivariance`).
    scale : float
        ``max |fn(x)|``, to judge the errors against (rounding errors are about
        ``scale * eps`` times the depth of the computation).
    approximate : tuple of str
        The elements whose turn is not a quarter turn (``cN``, ``dN``): their input and output
        were turned by interpolation and compared on the central disk only (docs/design.md,
        §4.5 Approximate equivariance). Empty for p4 and p4m.
    relative : dict
        Per element, ``||fn(T_g x) - T'_g fn(x)|| / ||T'_g fn(x)||`` (Frobenius norms over the
        compared values): the size of the error, the measure the README's comparison with
        e2cnn uses.
    """

    def __init__(
        self,
        errors: dict,
        *,
        group: PointGroup,
        input_kind: str,
        output_kind: str,
        scale: float,
        approximate: tuple = (),
        relative: dict | None = None,
    ) -> None:
        super().__init__(errors)
        self.group = group
        self.input_kind = input_kind
        self.output_kind = output_kind
        self.scale = scale
        self.approximate = tuple(approximate)
        self.relative = dict(relative or {})

    @property
    def max_error(self) -> float:
        """The largest error over all group elements."""
        return max(self.values(), default=0.0)

    @property
    def relative_error(self) -> float:
        """``max_error / scale`` (``max_error`` itself when the output is all zeros)."""
        return self.max_error / self.scale if self.scale > 0 else self.max_error

    def __repr__(self) -> str:
        lines = [
            (
                f"check_equivariance on {self.group.name} ({self.input_kind} -> {self.output_kind}), "
                f"max |fn(x)| = {self.scale:.3g}:"
            ),
            "  element  max |fn(T_g x) - T'_g fn(x)|  relative",
        ]
        for name, error in self.items():
            mark = "  (turned by interpolation, central disk)" if name in self.approximate else ""
            relative = self.relative.get(name, float("nan"))
            lines.append(f"  {name:<7}  {error:<28.3g}  {relative:.3g}{mark}")
        return "\n".join(lines)


def _infer_output_kind(x: np.ndarray, out: np.ndarray, input_kind: str) -> str:
    """Compare fn(x)'s rank with that of an image batched like x (see check_equivariance)."""
    image_ndim = x.ndim if input_kind == "image" else x.ndim - 1
    extra_axes = out.ndim - image_ndim
    if extra_axes == 1:
        return "group"
    if extra_axes == 0:
        return "image"
    if extra_axes < 0:
        return "invariant"
    raise ValueError(
        f"cannot infer output_kind from fn(x) of shape {out.shape} for x of shape {x.shape}; "
        "pass output_kind='image', 'group' or 'invariant'"
    )


def check_equivariance(
    fn: Callable[[np.ndarray], Any],
    x: ArrayLike,
    group: GroupLike = "p4",
    *,
    input_kind: str | None = None,
    output_kind: str | None = None,
    margin: float = 0.0,
) -> EquivarianceErrors:
    """Measure ``max |fn(T_g x) - T'_g fn(x)|`` for every element ``g`` of the group.

    Parameters
    ----------
    fn : callable
        A function of one array, e.g. a :mod:`gcnn.nn` layer, a ``Sequential``, or a lambda
        around :func:`gcnn.lift`.
    x : array_like
        The test input: images (..., H, W) or group feature maps (..., |G|, H, W).  Random
        values are best (a symmetric input hides errors).
    group : {"p4", "p4m"} or PointGroup, optional
        The group whose elements are tried.
    input_kind : {"image", "group"}, optional
        How the group acts on `x`: ``"image"`` is ``T_g`` on the last two axes, ``"group"`` is
        ``L_g`` (turn every plane and permute axis -3).  Default: ``"group"`` for a 5-D `x`
        (N, C, |G|, H, W), ``"image"`` otherwise, so pass ``"group"`` for unbatched maps.
    output_kind : {"image", "group", "invariant"}, optional
        How the group acts on ``fn(x)``; ``"invariant"`` compares ``fn(T_g x)`` with ``fn(x)``
        itself.  Default: from ranks, taking an image batched like `x` (``x.ndim`` axes for
        image input, ``x.ndim - 1`` for group input) as the yardstick: one axis more is
        ``"group"``, the same is ``"image"``, fewer (e.g. flattened features) is
        ``"invariant"``.  Pass it explicitly for a spatially pooled (..., 1, 1) output only if
        you want the comparison labelled ``"invariant"``; the numbers are the same.
    margin : float, optional
        For the elements whose turn is not a quarter turn (``cN``, ``dN``) only: compare the
        output's pixels within ``min(H', W') / 2 - margin`` of its centre. A turned image is
        empty in its corners, so pass about the receptive radius of `fn` (the kernel size for
        one layer) to leave out the pixels that see them. Default 0, the inscribed disk.

    Returns
    -------
    EquivarianceErrors
        A dict ``{element name: largest absolute error}`` (float64 arithmetic; ``inf`` when
        the two sides have different shapes), with ``.max_error``, ``.scale`` (``max |fn(x)|``)
        and ``.relative_error``; its repr is a table.

    Raises
    ------
    TypeError
        If `fn` is not callable, or `x` or ``fn(x)`` is not a real array.
    ValueError
        For an unknown `group` or kind, an `x` or ``fn(x)`` whose shape does not fit its kind,
        or an output kind that cannot be inferred.

    Notes
    -----
    ``T_g`` mirrors left-right first (``g >= 4``) and then turns ``g % 4`` quarter turns with
    ``np.rot90(a, g % 4, axes=(-2, -1))``; ``L_g F[h] = T_g(F[g^-1 h])``.  gcnn's layers are
    exactly equivariant (errors at rounding level, about ``1e-15 * scale`` in float64 and
    ``1e-6 * scale`` in float32) when :func:`equivariance_conditions` says so; otherwise the
    errors are of the order of the outputs.

    For ``cN`` and ``dN`` the quarter turns (and mirrors) are measured as above.  The other
    turns move no pixel onto a pixel: ``T_g`` turns the input and the output by cubic B-spline
    interpolation (:meth:`gcnn.groups.PointGroup.transform_image`), and the comparison is
    restricted to the central disk of the output (see `margin`); those elements are listed in
    ``.approximate``, and their errors measure how far the layers are from equivariant, not
    rounding (docs/design.md, §4.5 Approximate equivariance).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_normal((2, 1, 3, 3))
    >>> x = rng.standard_normal((1, 1, 9, 9))
    >>> errors = gcnn.check_equivariance(lambda a: gcnn.lift(a, w, padding=1), x)
    >>> sorted(errors)
    ['r0', 'r1', 'r2', 'r3']
    >>> errors.max_error < 1e-12
    True
    >>> broken = gcnn.check_equivariance(lambda a: gcnn.lift(a, w, stride=2), x[..., :8, :8])
    >>> broken.max_error > 0.1  # (8 - 3) % 2 != 0: the stride-2 grid is not symmetric
    True
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    grp = _layers.resolve_group(group)
    xa = as_real_array(x, "x")
    if input_kind is None:
        input_kind = "group" if xa.ndim == 5 else "image"
    if input_kind not in _INPUT_KINDS:
        raise ValueError(f"input_kind must be 'image', 'group' or None, got {input_kind!r}")
    if output_kind is not None and output_kind not in _OUTPUT_KINDS:
        raise ValueError(
            f"output_kind must be 'image', 'group', 'invariant' or None, got {output_kind!r}"
        )
    if input_kind == "image" and xa.ndim < 2:
        raise ValueError(f"x must have shape (..., H, W) for input_kind='image', got {xa.shape}")
    if input_kind == "group" and (xa.ndim < 3 or xa.shape[-3] != grp.order):
        raise ValueError(
            f"x must have shape (..., {grp.order}, H, W) for input_kind='group' and group "
            f"{grp.name}, got {xa.shape}"
        )

    def transform_input(g: int) -> np.ndarray:
        if input_kind == "image":
            return grp.transform_image(xa, g)
        return grp.transform_features(xa, g)

    # fn gets copies, so that a function writing into its input cannot spoil the comparison.
    reference = as_real_array(fn(xa.copy()), "fn(x)")
    if output_kind is None:
        output_kind = _infer_output_kind(xa, reference, input_kind)
    if output_kind == "image" and reference.ndim < 2:
        raise ValueError(
            f"fn(x) must have shape (..., H, W) for output_kind='image', got {reference.shape}"
        )
    if output_kind == "group" and (reference.ndim < 3 or reference.shape[-3] != grp.order):
        raise ValueError(
            f"fn(x) must have shape (..., {grp.order}, H, W) for output_kind='group' and group "
            f"{grp.name}, got {reference.shape}"
        )
    margin = float(margin)
    if not np.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin}")
    expected_dtype = np.float64
    errors = {}
    relative = {}
    approximate = []
    for g in grp.elements:
        name = grp.element_name(g)
        actual = as_real_array(fn(transform_input(g)), "fn(x)")
        if output_kind == "image":
            expected = grp.transform_image(reference, g)
        elif output_kind == "group":
            expected = grp.transform_features(reference, g)
        else:
            expected = reference
        if not grp.is_exact(g):
            approximate.append(name)
        if actual.shape != expected.shape:
            errors[name] = relative[name] = float("inf")
            continue
        difference = actual.astype(expected_dtype) - expected.astype(expected_dtype)
        compared = expected.astype(expected_dtype)
        if not grp.is_exact(g) and output_kind != "invariant":
            disk = _central_disk(expected.shape[-2:], margin)
            difference, compared = difference[..., disk], compared[..., disk]
        if difference.size == 0:
            errors[name] = relative[name] = 0.0
            continue
        errors[name] = float(np.max(np.abs(difference)))
        norm = float(np.linalg.norm(compared))
        relative[name] = float(np.linalg.norm(difference)) / norm if norm > 0 else errors[name]
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    return EquivarianceErrors(
        errors,
        group=grp,
        input_kind=input_kind,
        output_kind=output_kind,
        scale=scale,
        approximate=tuple(approximate),
        relative=relative,
    )


def _central_disk(shape: tuple, margin: float) -> np.ndarray:
    """Boolean (H, W) mask: within min(H, W) / 2 - margin of the centre ((H-1)/2, (W-1)/2)."""
    height, width = shape
    rows = np.arange(height)[:, None] - (height - 1) / 2
    columns = np.arange(width)[None, :] - (width - 1) / 2
    return np.hypot(rows, columns) <= min(height, width) / 2 - margin


# --------------------------------------------------------------------------- predicting


@dataclasses.dataclass(frozen=True)
class LayerStep:
    """One row of an :class:`EquivarianceReport`.

    Attributes
    ----------
    label : str
        The layer's index (``"2.1"`` for layer 1 of a Sequential nested at index 2).
    layer : str
        The layer's repr.
    size_in, size_out : (int, int) or None
        Spatial size entering and leaving the layer (None once unknown).
    problems : tuple of str
        Why this layer breaks exact equivariance (empty when it does not).
    """

    label: str
    layer: str
    size_in: tuple[int, int] | None
    size_out: tuple[int, int] | None
    problems: tuple


@dataclasses.dataclass(frozen=True)
class EquivarianceReport:
    """What :func:`equivariance_conditions` found.

    Attributes
    ----------
    exact : bool
        True when every law of docs/design.md, §4.1 The laws holds exactly (up to rounding)
        for this input size: every layer is a gcnn layer and every condition is met.
    problems : list of str
        One entry per broken condition, naming the layer (index and repr) and why.
    notes : list of str
        Facts that do not break equivariance (e.g. a non-square input that still fits).
    group : PointGroup or None
        The group of the convolutions (None when the stack has none; pooling and ReLU then
        commute with every element of p4m).
    input_size : (int, int)
    steps : list of LayerStep
        Per layer: the spatial sizes entering and leaving it and its own problems.
    """

    exact: bool
    problems: list
    notes: list
    group: PointGroup | None
    input_size: tuple
    steps: list

    def __str__(self) -> str:
        height, width = self.input_size
        group = self.group.name if self.group is not None else "any group (no convolutions)"
        verdict = "exact (up to rounding)" if self.exact else "NOT exact"
        lines = [f"equivariance for a {height} x {width} input under {group}: {verdict}"]

        def size_text(size):
            return "?" if size is None else f"{size[0]} x {size[1]}"

        for step in self.steps:
            sizes = f"{size_text(step.size_in)} -> {size_text(step.size_out)}"
            mark = "  <- broken" if step.problems else ""
            lines.append(f"  [{step.label}] {sizes:<16} {step.layer}{mark}")
        if self.problems:
            lines.append("problems:")
            lines += [f"  - {problem}" for problem in self.problems]
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _flatten(layers, prefix: str = "") -> list:
    """(label, layer) pairs, nested Sequentials opened up with labels like '2.1'."""
    items = []
    for index, layer in enumerate(layers):
        label = f"{prefix}{index}"
        if isinstance(layer, nn.Sequential):
            items += _flatten(layer, label + ".")
        else:
            items.append((label, layer))
    return items


def _window_problems(
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> tuple[tuple[int, int] | None, list]:
    """Output size of a sliding window and the reasons it breaks the symmetry, if any."""
    reasons = []
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        reasons.append(
            f"its input {size[0]} x {size[1]} padded by {padding} is {padded[0]} x {padded[1]}, "
            f"smaller than the {kernel[0]} x {kernel[1]} window: the layer cannot run"
        )
        return None, reasons
    if kernel[0] != kernel[1]:
        reasons.append(
            f"the window {kernel[0]} x {kernel[1]} is not square: a quarter turn swaps its sides"
        )
    if stride[0] != stride[1]:
        reasons.append(
            f"stride {stride} differs between rows and columns: a quarter turn swaps them"
        )
    if padding[0] != padding[1]:
        reasons.append(
            f"padding {padding} differs between rows and columns: a quarter turn swaps them"
        )
    for axis, (symbol, name) in enumerate((("H", "rows"), ("W", "columns"))):
        remainder = (padded[axis] - kernel[axis]) % stride[axis]
        if remainder:
            reasons.append(
                f"({symbol} + 2*padding - k) % stride = ({size[axis]} + 2*{padding[axis]} - "
                f"{kernel[axis]}) % {stride[axis]} = {remainder} != 0: the last window stops "
                f"{remainder} pixel(s) short of the far padded edge of the {name}, so the "
                "sampling grid is not symmetric and a turn or flip moves it"
            )
    out = ((padded[0] - kernel[0]) // stride[0] + 1, (padded[1] - kernel[1]) // stride[1] + 1)
    return out, reasons


def _is_lopsided(sides: tuple[int, int, int, int]) -> bool:
    """Whether (top, bottom, left, right) padding differs between the two ends of an axis."""
    return sides[0] != sides[1] or sides[2] != sides[3]


def _planar_kernel_problems(layer: nn.Conv2d, group: PointGroup) -> list:
    """Why a planar convolution breaks the laws for `group` (empty if its kernels are invariant)."""
    weight = layer.weight
    moved = [
        group.element_name(g)
        for g in group.exact_elements
        if not np.array_equal(group.transform_image(weight, g), weight)
    ]
    if not moved:
        return []
    reason = (
        "is a planar convolution: with a generic kernel it is not equivariant to turns and flips "
        f"(only to translations); its kernels are not invariant under {group.name} "
        f"(T_g(weight) != weight for g = {', '.join(moved)}); use LiftingConv or GroupConv"
    )
    return [reason]


def _flatten_problems(kind: str | None, size: tuple[int, int] | None) -> list:
    """Why flattening this input gives a vector that is not invariant (empty if it is)."""
    if kind == "vector":
        return []
    if kind == "group":
        reason = (
            "flattens group feature maps: L_g permutes their group axis, so the flat vector is "
            "not invariant (pool over the group first: GroupPool)"
        )
        return [reason]
    if size is not None and size != (1, 1):
        reason = (
            f"flattens {size[0]} x {size[1]} maps, which turns and flips move: the flat vector is "
            "not invariant (pool to 1 x 1 first, e.g. SpatialPool(None))"
        )
        return [reason]
    return []


def equivariance_conditions(
    layers: nn.Sequential | Iterable[Any] | nn.Layer,
    input_size: int | tuple[int, int],
) -> EquivarianceReport:
    """Say whether a stack of layers is exactly equivariant for one input size, and if not why.

    Parameters
    ----------
    layers : gcnn.nn.Sequential, list of gcnn.nn layers, or one layer
        The network, applied in order (nested Sequentials are opened up).
    input_size : int or (int, int)
        Spatial size (H, W) of the input; an int means a square input.

    Returns
    -------
    EquivarianceReport
        ``.exact``, ``.problems`` (naming each layer by index and repr, and the reason),
        ``.notes``, ``.group``, ``.steps``; ``str(report)`` is a readable table.

    Raises
    ------
    TypeError
        If `layers` is neither a layer nor an iterable of layers (or holds something that is
        not callable), or `input_size` is not an int
        or a pair of ints.
    ValueError
        If `input_size` is not positive.

    Notes
    -----
    Walking the stack, each sliding window (convolution or spatial pooling) with kernel ``k``,
    stride ``s`` and padding ``p`` on a ``H x W`` input must have

    * ``(H + 2p - k) % s == 0`` and ``(W + 2p - k) % s == 0``: the windows then cover the padded
      input exactly, so its sampling grid is symmetric under every turn and flip;
    * the same stride and padding on both axes, and a square window (a turn swaps the axes).

    Padding in gcnn's group layers is always symmetric (top = bottom, left = right): the
    lopsided padding an even kernel would need for ``"same"`` is refused when a layer is built.
    ``Conv2d`` follows PyTorch and accepts it (the extra row and column go after the image),
    which is reported as a problem.  ``GroupPool`` and
    ``ReLU`` always commute with the group, and so does global pooling (``SpatialPool(None)``).
    ``BatchNorm2d`` and ``GroupBatchNorm`` do too, in eval and in training mode: their statistics
    are per channel, over space (and the group axis), which turns, flips and ``L_g`` leave
    unchanged.  In training mode the statistics are those of the batch, so the laws hold when
    the whole batch is transformed by the same element (a note says so).
    Consecutive layers must also fit together (images into ``LiftingConv``, ``Conv2d`` and
    ``BatchNorm2d``, group feature maps into ``GroupConv``, ``GroupPool`` and ``GroupBatchNorm``,
    flat vectors into ``Linear``, one group, matching channels).

    A planar ``Conv2d`` has the window conditions above and one more: with a generic kernel it
    is NOT equivariant to turns and flips (it is only translation-equivariant).  It commutes
    with the group when every kernel is itself invariant, ``T_g(weight) == weight`` for every
    element (exactly; a 1 x 1 kernel always is); that is checked on the current weights, under
    the group of the stack's group convolutions, or p4m when it has none.

    ``Flatten`` keeps invariance when its input is invariant: planar maps of size 1 x 1 (after
    ``GroupPool`` and global pooling, say).  Flattening larger planar maps, or group feature maps
    (``L_g`` permutes their group axis), gives a vector that the group still moves, so the
    output is not invariant: a problem.  ``Linear`` needs flat vectors (after ``Flatten``) and
    keeps their invariance.

    A non-square input is exactly equivariant when the conditions hold on both axes (its turned
    copy, W x H, then meets them as well; docs/design.md, §4.3 Non-square inputs), so it is
    reported as a note, and as a problem only through an axis whose condition fails.

    A layer that is not a gcnn layer is reported as a problem: nothing is known about it (use
    :func:`check_equivariance` on it).  The conditions are sufficient, not necessary: ``exact``
    is a guarantee for every input of this size.  A problem means that the output of the layer
    it names is generically off by the order of its values, but some cases show no error: a
    particular input (a constant image, a max that falls in both grids), windows that only ever
    see padding, a single element that keeps the grid (in p4m the transpose ``m r1`` keeps a
    grid that fails equally on both axes), or later layers that wash the error out (a global
    average of maps whose misplaced windows together still cover the input evenly).

    Examples
    --------
    >>> import gcnn
    >>> from gcnn import nn
    >>> net = nn.Sequential(nn.LiftingConv(1, 4, 3, stride=2, rng=0), nn.GroupPool())
    >>> gcnn.equivariance_conditions(net, 9).exact
    True
    >>> report = gcnn.equivariance_conditions(net, 8)
    >>> report.exact
    False
    >>> print(report.problems[0][:60])
    layer 0 LiftingConv(1 -> 4, p4, kernel 3x3, stride 2, paddin
    """
    if isinstance(layers, nn.Layer) and not isinstance(layers, nn.Sequential):
        layers = [layers]
    try:
        items = _flatten(layers)
    except TypeError:
        raise TypeError(
            "layers must be a gcnn.nn.Sequential, an iterable of layers or one layer, "
            f"got {type(layers).__name__}"
        ) from None
    for label, layer in items:
        if not callable(layer):
            raise TypeError(
                f"layers must hold layers (gcnn.nn layers or callables), but layer {label} is "
                f"{type(layer).__name__} {layer!r}"
            )
    start = _layers.positive_pair(input_size, "input_size")
    size: tuple[int, int] | None = start

    problems: list = []
    notes: list = []
    steps: list = []
    group: PointGroup | None = None
    # "image", "group" or "vector" once a layer has fixed it (None: the network's input).
    kind: str | None = None
    channels: int | None = None  # channels of maps, features of vectors
    # Conv2d kernels must be invariant under the group of the stack (p4m when it has none).
    stack_group = next(
        (layer.group for _, layer in items if isinstance(layer, (nn.LiftingConv, nn.GroupConv))),
        _layers.resolve_group("p4m"),
    )

    if start[0] != start[1]:
        notes.append(
            f"the input is non-square ({start[0]} x {start[1]}): a quarter turn makes it "
            f"{start[1]} x {start[0]}; every condition is checked on both axes (a non-square input is "
            "exactly equivariant when they all hold)"
        )

    wording = {
        "image": "images (N, C, H, W)",
        "group": "group feature maps (N, C, |G|, H, W)",
        "vector": "flat feature vectors (N, F)",
    }
    # The kind of input each layer needs and the kind it produces.
    kinds = [
        (nn.LiftingConv, "image", "group"),
        (nn.GroupConv, "group", "group"),
        (nn.Conv2d, "image", "image"),
        (nn.GroupPool, "group", "image"),
        (nn.BatchNorm2d, "image", "image"),
        (nn.GroupBatchNorm, "group", "group"),
        (nn.Linear, "vector", "vector"),
    ]
    batch_statistics_noted = False
    for label, layer in items:
        size_in = size
        reasons: list = []
        wanted, produced = next(
            ((needs, gives) for cls, needs, gives in kinds if isinstance(layer, cls)), (None, None)
        )
        if isinstance(layer, (nn.LiftingConv, nn.GroupConv, nn.Conv2d)):
            if isinstance(layer, nn.Conv2d):
                reasons += _planar_kernel_problems(layer, stack_group)
            else:
                if group is not None and layer.group != group:
                    reasons.append(
                        f"works on {layer.group.name} but the layers before it on {group.name}"
                    )
                group = layer.group
            if channels is not None and layer.in_channels != channels:
                reasons.append(f"takes {layer.in_channels} channels but receives {channels}")
            channels = layer.out_channels
            if isinstance(layer, nn.Conv2d) and _is_lopsided(layer.padding_sides()):
                # PyTorch's 'same' for an even kernel, stride 1: the output keeps the size.
                reasons.append(
                    f"pads lopsidedly, (top, bottom, left, right) = {layer.padding_sides()} "
                    "(padding='same' with an even kernel puts the extra row and column after the "
                    "image, as in PyTorch): a turn or flip moves the sampling grid"
                )
                kh, kw = layer.kernel_size
                if kh != kw:
                    reasons.append(
                        f"the window {kh} x {kw} is not square: a quarter turn swaps its sides"
                    )
            else:
                try:
                    padding = layer.padding_pair()
                except (TypeError, ValueError) as exc:
                    reasons.append(f"has an invalid padding: {exc}")
                    size = None
                else:
                    if size is not None:
                        size, window_reasons = _window_problems(
                            size, layer.kernel_size, layer.stride, padding
                        )
                        reasons += window_reasons
        elif isinstance(layer, nn.SpatialPool):
            if kind == "vector":
                reasons.append(f"expects spatial maps but receives {wording[kind]}")
            elif layer.kernel_size is None:
                size = None if size is None else (1, 1)
            elif size is not None:
                size, window_reasons = _window_problems(
                    size, layer.kernel_size, layer.stride, layer.padding
                )
                reasons += window_reasons
        elif isinstance(layer, (nn.BatchNorm2d, nn.GroupBatchNorm)):
            if channels is not None and layer.num_features != channels:
                reasons.append(f"normalises {layer.num_features} channels but receives {channels}")
            channels = layer.num_features
            if layer.training and not batch_statistics_noted:
                batch_statistics_noted = True
                notes.append(
                    f"layer {label} {layer!r} is in training mode: it normalises with the "
                    "statistics of the batch, so the laws hold when the whole batch is "
                    "transformed by the same element (in eval mode, for every input)"
                )
        elif isinstance(layer, nn.Flatten):
            reasons += _flatten_problems(kind, size)
            if kind != "vector":
                features = None
                if channels is not None and size is not None:
                    features = channels * size[0] * size[1]
                    if kind == "group":
                        features = None if group is None else features * group.order
                channels = features
            produced, size = "vector", None
        elif isinstance(layer, nn.Linear):
            if kind is None:
                reasons.append(
                    f"expects {wording['vector']} but receives the network's input, spatial maps "
                    "that turns and flips move"
                )
            elif channels is not None and layer.in_features != channels:
                reasons.append(f"takes {layer.in_features} features but receives {channels}")
            channels, size = layer.out_features, None
        elif not isinstance(layer, (nn.GroupPool, nn.ReLU)):
            reasons.append(
                "is not a gcnn layer: nothing is known about its equivariance (measure it with "
                "check_equivariance)"
            )
            size = None
        if wanted is not None and kind is not None and kind != wanted:
            reasons.insert(0, f"expects {wording[wanted]} but receives {wording[kind]}")
        if produced is not None:
            kind = produced

        problems += [f"layer {label} {layer!r}: {reason}" for reason in reasons]
        steps.append(LayerStep(label, repr(layer), size_in, size, tuple(reasons)))
        if size is None and size_in is not None and kind != "vector":
            notes.append(f"spatial sizes after layer {label} are unknown and no longer checked")

    if group is not None and group.steerable:
        exact_names = ", ".join(group.element_name(g) for g in group.exact_elements)
        notes.append(
            f"{group.name} has turns that are not quarter turns: 'exact' covers its elements "
            f"that move pixels onto pixels ({exact_names}); the others are approximate, through "
            "steerable filters (docs/design.md, §4.5 Approximate equivariance): measure them "
            "with check_equivariance"
        )
    return EquivarianceReport(
        exact=not problems,
        problems=problems,
        notes=notes,
        group=group,
        input_size=start,
        steps=steps,
    )
