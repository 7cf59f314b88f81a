"""gcnn: group-equivariant convolutional networks with a fast C core.

- the tutorial's functions: :func:`lift_correlation`, :func:`p4_group_convolution`;
- scipy-compatible building blocks: :func:`convolve2d`, :func:`correlate2d`;
- G-CNN layers for p4, p4m and the cyclic and dihedral groups of any order (steerable
  filters in :mod:`gcnn.steerable`): :func:`lift`, :func:`group_conv`, :func:`group_pool`,
  :func:`spatial_pool`, :func:`expand_filter`, the planar :func:`conv2d`, layer objects in
  :mod:`gcnn.nn`;
- their gradients, computed in C: :func:`lift_backward`, :func:`group_conv_backward`,
  :func:`conv2d_backward`;
- exact equivariance: :func:`check_equivariance`, :func:`equivariance_conditions`;
- training: optimizers (:mod:`gcnn.optim`) and data sets (:mod:`gcnn.datasets`);
- the groups (:mod:`gcnn.groups`) and the Fourier view (:mod:`gcnn.fourier`);
- thread control: :func:`set_num_threads`, :func:`get_num_threads`.
"""

try:
    from . import _core  # noqa: F401  (the compiled kernels)
except ImportError as exc:  # a source checkout that was never built
    raise ImportError(
        "gcnn's C extension gcnn._core is not built. From the project root run "
        "`python -m pip install -e .` (or `python -m pip install .` and import gcnn "
        "from outside the source tree)."
    ) from exc

from . import datasets, fourier, groups, nn, optim, steerable
from ._config import get_num_threads, set_num_threads
from ._equivariance import check_equivariance, equivariance_conditions
from ._layers import (
    conv2d,
    conv2d_backward,
    expand_filter,
    group_conv,
    group_conv_backward,
    group_pool,
    lift,
    lift_backward,
    spatial_pool,
)
from ._signal import convolve2d, correlate2d, lift_correlation, p4_group_convolution
from ._version import __version__ as __version__

__all__ = [
    "check_equivariance",
    "conv2d",
    "conv2d_backward",
    "convolve2d",
    "correlate2d",
    "datasets",
    "equivariance_conditions",
    "expand_filter",
    "fourier",
    "get_num_threads",
    "group_conv",
    "group_conv_backward",
    "group_pool",
    "groups",
    "lift",
    "lift_backward",
    "lift_correlation",
    "nn",
    "optim",
    "p4_group_convolution",
    "set_num_threads",
    "spatial_pool",
    "steerable",
]
