"""Batch statistics of the whole batch across processes (docs/design.md, §10.4 Distributed
training).

With DistributedDataParallel each process sees its shard of the batch.  Gradients are averaged
by DDP, but batch norm would normalise every shard with its own statistics, so N processes would
not train the network one process trains on the whole batch.  :func:`sync_batch_norm` makes the
gcnn.torch batch norms take the mean and variance over all shards, through collectives that
autograd differentiates (an all-reduce whose backward all-reduces the gradient), so forward,
backward and the running statistics are those of the whole batch on CPU (gloo) as on GPUs
(NCCL).
``torch.nn.SyncBatchNorm`` does the same on GPUs only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["active", "sync_batch_norm", "synchronized_batch_norm"]


class _AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over the processes, differentiable: the gradient of each process's
    summand is the sum of every process's gradient of the result."""

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad):
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, group=ctx.group)
        return total, None


def active(process_group: Any = None) -> bool:
    """Whether torch.distributed runs with more than one process in `process_group`."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(process_group) > 1


def _tensor(module: torch.nn.Module, name: str) -> torch.Tensor:
    """The parameter or buffer `name` of `module`, which the caller knows it has."""
    value = getattr(module, name)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{type(module).__name__}.{name} is {value!r}, not a tensor")
    return value


def synchronized_batch_norm(norm: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Training-mode batch norm of `x` with the statistics of every process's `x` together.

    `norm` is a gcnn.torch batch norm (its eps, momentum, affine parameters and running
    buffers); `x` is (N, C, ...) with the channels on axis 1.
    """
    process_group = getattr(norm, "process_group", None)
    group = process_group if process_group is not None else dist.group.WORLD
    axes = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    channels = x.shape[1]
    count = torch.tensor([x.numel() // max(channels, 1)], dtype=torch.int64, device=x.device)
    dist.all_reduce(count, group=group)
    total = int(count.item())
    if total < 2:
        raise ValueError(
            f"x must have more than 1 value per channel over all processes to compute batch "
            f"statistics (as in PyTorch), got {total}"
        )
    # Two passes (mean, then the mean square deviation), as gcnn computes them: no cancellation.
    mean = _AllReduceSum.apply(x.sum(dim=axes), group) / total
    centered = x - mean.reshape(shape)
    variance = _AllReduceSum.apply((centered * centered).sum(dim=axes), group) / total
    out = centered * torch.rsqrt(variance + norm.eps).reshape(shape)
    if norm.affine:
        out = out * _tensor(norm, "weight").reshape(shape) + _tensor(norm, "bias").reshape(shape)
    if norm.track_running_stats:
        batches = _tensor(norm, "num_batches_tracked")
        running_mean, running_var = _tensor(norm, "running_mean"), _tensor(norm, "running_var")
        with torch.no_grad():
            batches.add_(1)
            if norm.momentum is None:  # a cumulative average, as in PyTorch
                factor = 1.0 / float(batches.item())
            else:
                factor = norm.momentum
            unbiased = variance.detach() * (total / (total - 1))
            running_mean.mul_(1 - factor).add_(mean.detach().to(running_mean.dtype), alpha=factor)
            running_var.mul_(1 - factor).add_(unbiased.to(running_var.dtype), alpha=factor)
    return out


def sync_batch_norm(module: torch.nn.Module, process_group: Any = None) -> torch.nn.Module:
    """Make every gcnn.torch batch norm in `module` use the whole batch across processes.

    The counterpart of ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` that works on every
    device and backend (gloo on CPU included) and keeps the layers' classes, so
    :func:`gcnn.torch.to_numpy` and ``state_dict`` are unchanged.

    Parameters
    ----------
    module : torch.nn.Module
        Holds :class:`gcnn.torch.GroupBatchNorm` or :class:`gcnn.torch.BatchNorm2d` layers (as
        the models of :mod:`gcnn.torch.models` and :func:`gcnn.torch.from_numpy`'s output do).
    process_group : torch.distributed.ProcessGroup, optional
        The processes whose shards make up the batch; None is the default (world) group.

    Returns
    -------
    torch.nn.Module
        `module` itself.

    Notes
    -----
    Synchronisation happens only in training mode and while ``torch.distributed`` is
    initialised with more than one process; otherwise the layers compute as before.  Call it
    before wrapping the model in DistributedDataParallel.  Each process's mean and variance are
    all-reduced in the forward pass, and their gradients in the backward pass, so N processes
    with shards of a batch compute the gradients of one process with the whole batch.

    Examples
    --------
    >>> import gcnn.torch
    >>> model = gcnn.torch.sync_batch_norm(gcnn.torch.models.p4cnn(rng=0))
    >>> model[1].synchronized
    True
    """
    from gcnn.torch._modules import BatchNorm2d, GroupBatchNorm

    for child in module.modules():
        if isinstance(child, (BatchNorm2d, GroupBatchNorm)):
            child.synchronized = True
            child.process_group = process_group
    return module
