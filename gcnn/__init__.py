"""gcnn: group-equivariant convolutional networks with a fast C core.

The tutorial's functions (:func:`lift_correlation`, :func:`p4_group_convolution`),
scipy-compatible building blocks (:func:`convolve2d`, :func:`correlate2d`),
and thread control.  See ``README.md`` and DESIGN conventions in the docstrings.
"""

try:
    from . import _core  # noqa: F401  (the compiled kernels)
except ImportError as exc:  # a source checkout that was never built
    raise ImportError(
        "gcnn's C extension gcnn._core is not built. From the project root run "
        "`python -m pip install -e .` (or `python -m pip install .` and import gcnn "
        "from outside the source tree)."
    ) from exc

from . import fourier, groups
from ._config import get_num_threads, set_num_threads
from ._signal import convolve2d, correlate2d, lift_correlation, p4_group_convolution

__version__ = "0.1.0"

__all__ = [
    "convolve2d",
    "fourier",
    "groups",
    "correlate2d",
    "get_num_threads",
    "lift_correlation",
    "p4_group_convolution",
    "set_num_threads",
]
