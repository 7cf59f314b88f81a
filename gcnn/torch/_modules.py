"""gcnn's layers as ``torch.nn.Module``\\ s (docs/design.md, §10.1 Modules).

Each module takes the constructor arguments of its :mod:`gcnn.nn` namesake (plus PyTorch's
``device`` and, for the convolutions, ``use_gcnn_kernels``), checks them with the same code (it
builds the gcnn layer as a template), and holds parameters and buffers of the same names and
shapes.  The group convolutions keep the compact weight as their parameter and gather the
expanded filter of :func:`gcnn.expand_filter` from it on every forward, then call
``torch.nn.functional.conv2d``: autograd folds the gradient back onto the compact weight, and
every device and floating dtype PyTorch supports works.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional

from gcnn import _layers, nn
from gcnn._validate import flag
from gcnn.torch import _distributed, _kernels

__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "GroupBatchNorm",
    "GroupConv",
    "GroupPool",
    "LiftingConv",
    "Linear",
    "SpatialPool",
    "set_gcnn_kernels",
]

_NUMPY_TO_TORCH = {
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
}


def resolve_dtype(dtype: Any) -> torch.dtype:
    """A torch floating dtype from None (torch's default), a torch dtype or a NumPy float dtype."""
    if dtype is None:
        return torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        return dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a torch or NumPy floating dtype, got {dtype!r}") from None
    if resolved not in _NUMPY_TO_TORCH:
        raise TypeError(f"dtype must be float16, float32 or float64, got {resolved}")
    return _NUMPY_TO_TORCH[resolved]


def _template_dtype(dtype: torch.dtype) -> type:
    """The gcnn.nn dtype that draws a torch dtype's initial values (float64 only for float64)."""
    return np.float64 if dtype == torch.float64 else np.float32


def _resolve_device(device: Any) -> torch.device:
    return torch.device(device) if device is not None else torch.empty(()).device


def copy_state(module: torch.nn.Module, layer: nn.Layer) -> None:
    """Copy a gcnn layer's state_dict into a module whose state_dict has the same names."""
    state = {
        name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in layer.state_dict().items()
    }
    module.load_state_dict(state, strict=True)


def _gcnn_kernels_text(module: torch.nn.Module) -> str:
    return ", use_gcnn_kernels=True" if module.use_gcnn_kernels else ""


# --------------------------------------------------------------------------- convolutions


class _GroupConvolution(torch.nn.Module):
    """LiftingConv and GroupConv: the compact weight, expanded on every forward."""

    _template_class: type
    _kind: str

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        group: Any = "p4",
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        dtype: Any = None,
        rng: Any = None,
        *,
        device: Any = None,
        use_gcnn_kernels: bool = False,
    ) -> None:
        super().__init__()
        torch_dtype = resolve_dtype(dtype)
        template = self._template_class(
            in_channels,
            out_channels,
            kernel_size,
            group=group,
            stride=stride,
            padding=padding,
            bias=bias,
            dtype=_template_dtype(torch_dtype),
            rng=0 if rng is None else rng,
        )
        self.in_channels, self.out_channels = template.in_channels, template.out_channels
        self.kernel_size, self.group = template.kernel_size, template.group
        self.stride, self.padding = template.stride, template.padding
        self.use_gcnn_kernels = flag(use_gcnn_kernels, "use_gcnn_kernels")
        self._padding_pair = template.padding_pair()
        device = _resolve_device(device)
        self.weight = torch.nn.Parameter(
            torch.empty(template.weight.shape, dtype=torch_dtype, device=device)
        )
        if template.bias is not None:
            self.bias = torch.nn.Parameter(
                torch.empty(template.out_channels, dtype=torch_dtype, device=device)
            )
        else:
            self.register_parameter("bias", None)
        # Where each entry of the expanded filter comes from in the compact weight (an index
        # per device, not a buffer: it is not state, and DDP need not broadcast it).
        self._steering = None
        if self.group.steerable:
            # The weight holds steerable coefficients (docs/design.md, §3.7 Steerable filters):
            # steering[g] = A_g basis^T maps them to the k*k pixels of orientation g's filter.
            basis = template.basis.reshape(len(template.basis), -1)
            k = self.kernel_size[0]
            matrices = _layers._turn_matrices(self.group, k)
            self._steering = np.ascontiguousarray(matrices @ basis.T)
            self._basis = np.ascontiguousarray(template.basis)
            self._gather = _layers._orientation_gather(self.group)
            self._expansion = None
        else:
            positions = np.arange(template.weight.size).reshape(template.weight.shape)
            self._expansion = _layers._expand(positions, self.group, self._kind)
        self._expansion_on: dict = {}
        if rng is None:
            self.reset_parameters()
        else:
            copy_state(self, template)

    def reset_parameters(self) -> None:
        """Draw weight and bias uniformly from ``[-b, b)``, ``b = 1 / sqrt(fan_in)``, from torch's
        default generator (gcnn's and PyTorch's default initialisation)."""
        bound = 1.0 / math.sqrt(math.prod(self.weight.shape[1:]))
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def _constant(self, name: str, array: np.ndarray) -> torch.Tensor:
        """A fixed array on the weight's device (and in its dtype when floating), cached."""
        floating = array.dtype.kind == "f"
        key = (name, self.weight.device, self.weight.dtype if floating else None)
        tensor = self._expansion_on.get(key)
        if tensor is None:
            tensor = torch.from_numpy(np.array(array, copy=True)).to(self.weight.device)
            if floating:
                tensor = tensor.to(self.weight.dtype)
            self._expansion_on[key] = tensor
        return tensor

    def filters(self) -> torch.Tensor:
        """The ``k x k`` filters of the identity orientation (the weight itself unless the
        group is steerable: then the coefficients times the basis), differentiable."""
        if self._steering is None:
            return self.weight
        return torch.tensordot(self.weight, self._constant("basis", self._basis), dims=1)

    def expanded_weight(self) -> torch.Tensor:
        """The ``conv2d`` weight ``E(weight)`` of :func:`gcnn.expand_filter`, differentiable."""
        if self._steering is not None:
            steering = self._constant("steering", self._steering)
            order, k = self.group.order, self.kernel_size[0]
            if self._kind == "lift":
                expanded = torch.einsum("gpb,ocb->ogcp", steering, self.weight)
                return expanded.reshape(self.out_channels * order, self.in_channels, k, k)
            gathered = self.weight[:, :, self._constant("gather", self._gather)]
            expanded = torch.einsum("gpb,ocghb->ogchp", steering, gathered)
            return expanded.reshape(self.out_channels * order, self.in_channels * order, k, k)
        device = self.weight.device
        index = self._expansion_on.get(device)
        if index is None:
            index = torch.from_numpy(self._expansion).to(device)
            self._expansion_on[device] = index
        return self.weight.reshape(-1)[index]

    def _check_input(self, x: torch.Tensor) -> bool:
        """ValueError unless x has this layer's layout; returns whether x is batched."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_gcnn_kernels:
            function = _kernels.lift if self._kind == "lift" else _kernels.group_conv
            return function(
                x,
                self.filters(),
                self.bias,
                group=self.group,
                stride=self.stride,
                padding=self.padding,
            )
        batched = self._check_input(x)
        if not batched:
            x = x.unsqueeze(0)
        order = self.group.order
        if self._kind == "group":  # (N, C_in, |G|, H, W) as (N, C_in*|G|, H, W), spelled out:
            rows = x.reshape(x.shape[0], self.in_channels * order, *x.shape[-2:])  # N may be 0
        else:
            rows = x
        bias = None if self.bias is None else self.bias.repeat_interleave(order)
        out = functional.conv2d(rows, self.expanded_weight(), bias, self.stride, self._padding_pair)
        out = out.reshape(out.shape[0], self.out_channels, order, *out.shape[-2:])
        return out if batched else out[0]

    def extra_repr(self) -> str:
        k = self.kernel_size
        text = (
            f"{self.in_channels} -> {self.out_channels}, {self.group.name}, kernel {k[0]}x{k[1]}, "
            f"stride={self.stride}, padding={self.padding!r}"
        )
        if self.bias is None:
            text += ", bias=False"
        return text + _gcnn_kernels_text(self)


class LiftingConv(_GroupConvolution):
    """Lifting layer: images (N, C_in, H, W) to group feature maps (N, C_out, |G|, H', W').

    Parameters
    ----------
    in_channels, out_channels, kernel_size, group, stride, padding, bias
        As in :class:`gcnn.nn.LiftingConv` (checked by the same code).
    dtype : torch or NumPy floating dtype, optional
        Dtype of the parameters; None is torch's default dtype (float32 unless changed).
    rng : None, int or numpy.random.Generator, optional
        None draws the initial parameters from torch's default generator, as ``torch.nn``
        modules do (``torch.manual_seed`` reproduces them); an int seed or a Generator draws
        exactly what :class:`gcnn.nn.LiftingConv` draws from it.
    device : torch.device or str, optional
        Where the parameters live.
    use_gcnn_kernels : bool, optional
        Compute forward and backward with gcnn's C kernels (float32/float64 CPU tensors only,
        TypeError otherwise) instead of ``torch.nn.functional.conv2d``.  Settable later, as the
        attribute of the same name or with :func:`gcnn.torch.set_gcnn_kernels`.

    Attributes
    ----------
    weight : torch.nn.Parameter, shape (out_channels, in_channels, k, k)
    bias : torch.nn.Parameter, shape (out_channels,), or None
    kernel_size, stride : (int, int)
    padding : (int, int) or str
    group : gcnn.groups.PointGroup

    Notes
    -----
    ``out = conv2d(x, E(weight), bias repeated |G| times).reshape(N, C_out, |G|, H', W')`` with
    ``E`` the expansion of :func:`gcnn.expand_filter` (docs/design.md, §3.5 expand_filter),
    gathered from ``weight`` on every call, so autograd's weight gradient is
    :func:`gcnn.lift_backward`'s.  Unbatched input (C_in, H, W) gives unbatched output.

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> layer = gcnn.torch.LiftingConv(1, 4, 3, padding=1, rng=0)
    >>> layer
    LiftingConv(1 -> 4, p4, kernel 3x3, stride=(1, 1), padding=(1, 1))
    >>> layer(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 4, 4, 8, 8])
    >>> from gcnn import nn
    >>> same = nn.LiftingConv(1, 4, 3, padding=1, rng=0).weight   # a seed draws gcnn's weights
    >>> bool((layer.weight.detach().numpy() == same).all())
    True
    """

    _template_class = nn.LiftingConv
    _kind = "lift"

    def _check_input(self, x: torch.Tensor) -> bool:
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"x must have shape (N, {self.in_channels}, H, W) or ({self.in_channels}, H, W) "
                f"for {self!r}, got {tuple(x.shape)}"
            )
        return x.dim() == 4


class GroupConv(_GroupConvolution):
    """Group convolution: (N, C_in, |G|, H, W) to (N, C_out, |G|, H', W').

    Parameters
    ----------
    in_channels, out_channels, kernel_size, group, stride, padding, bias, dtype, rng, device
        As in :class:`LiftingConv` and :class:`gcnn.nn.GroupConv`.
    use_gcnn_kernels : bool, optional
        As in :class:`LiftingConv`.

    Attributes
    ----------
    weight : torch.nn.Parameter, shape (out_channels, in_channels, |G|, k, k)
    bias : torch.nn.Parameter, shape (out_channels,), or None

    Notes
    -----
    ``out = conv2d(x.reshape(N, C_in*|G|, H, W), E(weight), ...)`` reshaped to
    (N, C_out, |G|, H', W'), as :func:`gcnn.group_conv` (docs/design.md, §3.2 lift and
    group_conv).

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> layer = gcnn.torch.GroupConv(4, 2, 3, group="p4m", rng=0)
    >>> layer.weight.shape, layer.expanded_weight().shape
    (torch.Size([2, 4, 8, 3, 3]), torch.Size([16, 32, 3, 3]))
    """

    _template_class = nn.GroupConv
    _kind = "group"

    def _check_input(self, x: torch.Tensor) -> bool:
        order = self.group.order
        if x.dim() not in (4, 5) or tuple(x.shape[-4:-2]) != (self.in_channels, order):
            raise ValueError(
                f"x must have shape (N, {self.in_channels}, {order}, H, W) or "
                f"({self.in_channels}, {order}, H, W) for {self!r}, got {tuple(x.shape)}"
            )
        return x.dim() == 5


class Conv2d(torch.nn.Conv2d):
    """Planar convolution: a ``torch.nn.Conv2d`` built from :class:`gcnn.nn.Conv2d`'s arguments.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, bias
        As in :class:`gcnn.nn.Conv2d` (``padding="same"`` with an even kernel pads the extra
        row and column after the image, as both libraries do).
    dtype, rng, device, use_gcnn_kernels
        As in :class:`LiftingConv`; with ``rng=None`` the weights come from
        ``torch.nn.Conv2d``'s own initialisation (the same uniform law).

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> layer = gcnn.torch.Conv2d(3, 8, 3, padding=1, rng=0)
    >>> isinstance(layer, torch.nn.Conv2d), layer(torch.zeros(2, 3, 5, 5)).shape
    (True, torch.Size([2, 8, 5, 5]))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        dtype: Any = None,
        rng: Any = None,
        *,
        device: Any = None,
        use_gcnn_kernels: bool = False,
    ) -> None:
        torch_dtype = resolve_dtype(dtype)
        template = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=bias,
            dtype=_template_dtype(torch_dtype),
            rng=0 if rng is None else rng,
        )
        # With a seed, build on the meta device: torch's initialisation would draw from (and
        # advance) torch's global generator for values that are overwritten at once.
        super().__init__(
            template.in_channels,
            template.out_channels,
            template.kernel_size,
            stride=template.stride,
            padding=template.padding,
            bias=template.bias is not None,
            device="meta" if rng is not None else device,
            dtype=torch_dtype,
        )
        if rng is not None:
            self.to_empty(device=_resolve_device(device))
            copy_state(self, template)
        self.use_gcnn_kernels = flag(use_gcnn_kernels, "use_gcnn_kernels")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_gcnn_kernels:
            return _kernels.conv2d(
                x, self.weight, self.bias, stride=self.stride, padding=self.padding
            )
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + _gcnn_kernels_text(self)


class Linear(torch.nn.Linear):
    """Fully connected layer: a ``torch.nn.Linear`` built from :class:`gcnn.nn.Linear`'s arguments.

    Parameters
    ----------
    in_features, out_features, bias
        As in :class:`gcnn.nn.Linear`.
    dtype, rng, device
        As in :class:`LiftingConv`.

    Examples
    --------
    >>> import gcnn.torch
    >>> gcnn.torch.Linear(4, 2, rng=0).weight.shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
        rng: Any = None,
        *,
        device: Any = None,
    ) -> None:
        torch_dtype = resolve_dtype(dtype)
        template = nn.Linear(
            in_features,
            out_features,
            bias=bias,
            dtype=_template_dtype(torch_dtype),
            rng=0 if rng is None else rng,
        )
        super().__init__(
            template.in_features,
            template.out_features,
            bias=template.bias is not None,
            device="meta" if rng is not None else device,
            dtype=torch_dtype,
        )
        if rng is not None:
            self.to_empty(device=_resolve_device(device))
            copy_state(self, template)


def set_gcnn_kernels(module: torch.nn.Module, enabled: bool = True) -> torch.nn.Module:
    """Turn the C path on (or off) in every gcnn.torch convolution of `module`; returns `module`.

    Parameters
    ----------
    module : torch.nn.Module
        A model holding :class:`LiftingConv`, :class:`GroupConv` or :class:`Conv2d` layers
        (nested anywhere, e.g. inside DistributedDataParallel).
    enabled : bool, optional
        True: forward and backward through gcnn's C kernels (float32/float64 CPU tensors only);
        False: through ``torch.nn.functional.conv2d``.

    Examples
    --------
    >>> import gcnn.torch
    >>> model = gcnn.torch.models.p4cnn(rng=0)
    >>> gcnn.torch.set_gcnn_kernels(model)[0]
    LiftingConv(1 -> 10, p4, kernel 3x3, stride=(1, 1), padding=(0, 0), use_gcnn_kernels=True)
    """
    enabled = flag(enabled, "enabled")
    for child in module.modules():
        if isinstance(child, (_GroupConvolution, Conv2d)):
            child.use_gcnn_kernels = enabled
    return module


# --------------------------------------------------------------------------- batch norm


if TYPE_CHECKING:  # the mixin is only ever combined with a torch batch norm
    from torch.nn.modules.batchnorm import _BatchNorm as _BatchNormBase
else:
    _BatchNormBase = object


class _BatchNormChecks(_BatchNormBase):
    """Checks with gcnn's words, and statistics synchronised across processes when asked."""

    _ndim: int
    _layout: str
    synchronized: bool = False
    process_group: Any = None

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() != self._ndim or x.shape[1] != self.num_features:
            layout = self._layout.replace("C", str(self.num_features), 1)
            raise ValueError(f"x must have shape {layout} for {self!r}, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.synchronized and _distributed.active(self.process_group):
            self._check_input_dim(x)
            return _distributed.synchronized_batch_norm(self, x)
        return super().forward(x)


def _batch_norm_template(cls, num_features, eps, momentum, affine, track_running_stats, dtype):
    torch_dtype = resolve_dtype(dtype)
    template = cls(
        num_features,
        eps=eps,
        momentum=momentum,
        affine=affine,
        track_running_stats=track_running_stats,
        dtype=_template_dtype(torch_dtype),
    )
    return template, torch_dtype


class BatchNorm2d(_BatchNormChecks, torch.nn.BatchNorm2d):
    """``torch.nn.BatchNorm2d`` built from :class:`gcnn.nn.BatchNorm2d`'s arguments.

    Parameters
    ----------
    num_features, eps, momentum, affine, track_running_stats
        As in :class:`gcnn.nn.BatchNorm2d` (checked by the same code).
    dtype, device
        As in :class:`LiftingConv`.

    Notes
    -----
    :func:`gcnn.torch.sync_batch_norm` makes training-mode statistics those of the whole batch
    across the processes of a ``torch.distributed`` group, on CPU (gloo) as on GPUs.

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> norm = gcnn.torch.BatchNorm2d(3)
    >>> isinstance(norm, torch.nn.BatchNorm2d), norm.running_var.shape
    (True, torch.Size([3]))
    """

    _ndim = 4
    _layout = "(N, C, H, W)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
        *,
        device: Any = None,
    ) -> None:
        template, torch_dtype = _batch_norm_template(
            nn.BatchNorm2d, num_features, eps, momentum, affine, track_running_stats, dtype
        )
        super().__init__(
            template.num_features,
            eps=template.eps,
            momentum=template.momentum,
            affine=template.affine,
            track_running_stats=template.track_running_stats,
            device=device,
            dtype=torch_dtype,
        )


class GroupBatchNorm(_BatchNormChecks, torch.nn.BatchNorm3d):
    """Batch norm of group feature maps (N, C, |G|, H, W): one statistic per channel.

    A ``torch.nn.BatchNorm3d`` (which is what :class:`gcnn.nn.GroupBatchNorm` computes: one
    mean, variance, scale and shift per channel over batch, group axis and space) built from the
    gcnn layer's arguments, with its parameter and buffer names.

    Parameters
    ----------
    num_features, eps, momentum, affine, track_running_stats
        As in :class:`gcnn.nn.GroupBatchNorm`.
    dtype, device
        As in :class:`LiftingConv`.

    Notes
    -----
    Statistics over axes (0, 2, 3, 4) keep the layer exactly equivariant (docs/design.md, §7.3
    Batch normalisation).  :func:`gcnn.torch.sync_batch_norm` synchronises them across
    processes.

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> norm = gcnn.torch.GroupBatchNorm(2)
    >>> list(norm.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> norm(torch.randn(3, 2, 4, 5, 5)).shape
    torch.Size([3, 2, 4, 5, 5])
    """

    _ndim = 5
    _layout = "(N, C, |G|, H, W)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
        *,
        device: Any = None,
    ) -> None:
        template, torch_dtype = _batch_norm_template(
            nn.GroupBatchNorm, num_features, eps, momentum, affine, track_running_stats, dtype
        )
        super().__init__(
            template.num_features,
            eps=template.eps,
            momentum=template.momentum,
            affine=template.affine,
            track_running_stats=template.track_running_stats,
            device=device,
            dtype=torch_dtype,
        )


# --------------------------------------------------------------------------- pooling


class GroupPool(torch.nn.Module):
    """Pool over the group axis: (N, C, |G|, H, W) to (N, C, H, W), as :class:`gcnn.nn.GroupPool`.

    Parameters
    ----------
    reduce : {"max", "mean", "sum"}, optional

    Notes
    -----
    ``"max"`` sends the gradient to the first maximal orientation (``Tensor.max(dim)``; a NaN
    wins), as gcnn does.

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> gcnn.torch.GroupPool()(torch.zeros(2, 3, 4, 5, 5)).shape
    torch.Size([2, 3, 5, 5])
    """

    def __init__(self, reduce: str = "max") -> None:
        super().__init__()
        self.reduce = nn.GroupPool(reduce).reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3 or x.shape[-3] == 0:
            raise ValueError(
                f"x must have shape (N, C, |G|, H, W) with a nonempty group axis, got "
                f"{tuple(x.shape)}"
            )
        if self.reduce == "max":
            return x.max(dim=-3).values
        if self.reduce == "mean":
            return x.mean(dim=-3)
        return x.sum(dim=-3)

    def extra_repr(self) -> str:
        return self.reduce


class SpatialPool(torch.nn.Module):
    """Max or mean pooling over the last two axes, as :class:`gcnn.nn.SpatialPool`.

    Parameters
    ----------
    kernel_size, stride, padding, reduce
        As in :class:`gcnn.nn.SpatialPool`; ``kernel_size=None`` pools each whole map.

    Notes
    -----
    ``torch.nn.functional.max_pool2d`` and ``avg_pool2d`` (``count_include_pad=True``) on every
    plane of (..., H, W); the global max sends its gradient to the first maximum in row-major
    order, as gcnn does.

    Examples
    --------
    >>> import torch
    >>> import gcnn.torch
    >>> gcnn.torch.SpatialPool(2)(torch.zeros(2, 3, 4, 8, 8)).shape
    torch.Size([2, 3, 4, 4, 4])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int] | None,
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        reduce: str = "max",
    ) -> None:
        super().__init__()
        template = nn.SpatialPool(kernel_size, stride, padding, reduce)
        self.kernel_size, self.stride = template.kernel_size, template.stride
        self.padding, self.reduce = template.padding, template.reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"x must have shape (..., H, W), got {tuple(x.shape)}")
        if self.kernel_size is None:
            if self.reduce == "mean":
                return x.mean(dim=(-2, -1), keepdim=True)
            return x.flatten(-2).max(dim=-1, keepdim=True).values.unsqueeze(-1)
        planes = x.reshape(-1, 1, *x.shape[-2:])
        if self.reduce == "max":
            out = functional.max_pool2d(planes, self.kernel_size, self.stride, self.padding)
        else:
            out = functional.avg_pool2d(planes, self.kernel_size, self.stride, self.padding)
        return out.reshape(*x.shape[:-2], *out.shape[-2:])

    def extra_repr(self) -> str:
        if self.kernel_size is None:
            return f"{self.reduce}, global"
        return (
            f"{self.reduce}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )
