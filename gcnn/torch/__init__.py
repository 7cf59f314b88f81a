"""gcnn.torch: gcnn's layers and models as PyTorch modules, for GPUs and many machines.

Imported only on demand (``import gcnn`` never imports PyTorch); it needs the ``torch`` extra,
``python -m pip install "gcnn[torch]"``.  The contract is docs/design.md, §10 PyTorch.

- Modules with the constructor arguments, parameter names and shapes of their :mod:`gcnn.nn`
  namesakes: :class:`LiftingConv`, :class:`GroupConv`, :class:`Conv2d`,
  :class:`GroupBatchNorm`, :class:`BatchNorm2d`, :class:`GroupPool`, :class:`SpatialPool`,
  :class:`Linear`; ``ReLU``, ``Flatten`` and ``Sequential`` are ``torch.nn``'s own.  The group
  convolutions compute through the expanded filter with ``torch.nn.functional.conv2d``, so
  autograd, every device and every floating dtype work.
- :mod:`gcnn.torch.models`: ``z2cnn``, ``p4cnn``, ``p4mcnn``.
- :func:`from_numpy` and :func:`to_numpy` move a model between gcnn and PyTorch; state_dicts
  have the same names, shapes and order.
- The C path: ``use_gcnn_kernels=True`` (or :func:`set_gcnn_kernels`) computes the
  convolutions of float32/float64 CPU tensors with gcnn's C kernels, forward and backward.
- :func:`sync_batch_norm`: batch statistics over all processes of DistributedDataParallel,
  on CPU (gloo) too.

Examples
--------
>>> import numpy as np
>>> import torch
>>> import gcnn.torch
>>> from gcnn import models
>>> net = models.p4cnn(padding=1, dtype=np.float64, rng=0)
>>> module = gcnn.torch.from_numpy(net)
>>> x = np.random.default_rng(0).random((4, 1, 8, 8))
>>> logits = module(torch.from_numpy(x))
>>> bool(np.allclose(logits.detach().numpy(), net(x)))
True
>>> logits.sum().backward()                  # autograd, on any device
>>> back = gcnn.torch.to_numpy(module)       # and back to gcnn
>>> sorted(back.state_dict()) == sorted(net.state_dict())
True
"""

from __future__ import annotations

try:
    import torch as _torch
except ImportError as exc:  # the real PyTorch (imports are absolute), not this package
    raise ImportError(
        "gcnn.torch needs PyTorch: python -m pip install 'gcnn[torch]' (or torch itself, "
        "see https://pytorch.org for GPU builds)"
    ) from exc

from gcnn.torch import models
from gcnn.torch._convert import from_numpy, to_numpy
from gcnn.torch._distributed import sync_batch_norm
from gcnn.torch._modules import (
    BatchNorm2d,
    Conv2d,
    GroupBatchNorm,
    GroupConv,
    GroupPool,
    LiftingConv,
    Linear,
    SpatialPool,
    set_gcnn_kernels,
)

#: ``torch.nn``'s own: gcnn's ReLU, Flatten and Sequential compute exactly what these do.
ReLU = _torch.nn.ReLU
Flatten = _torch.nn.Flatten
Sequential = _torch.nn.Sequential

__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "Flatten",
    "GroupBatchNorm",
    "GroupConv",
    "GroupPool",
    "LiftingConv",
    "Linear",
    "ReLU",
    "Sequential",
    "SpatialPool",
    "from_numpy",
    "models",
    "set_gcnn_kernels",
    "sync_batch_norm",
    "to_numpy",
]
