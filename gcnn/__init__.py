"""gcnn: group-equivariant convolutional networks with a fast C core.

The tutorial's functions (:func:`lift_correlation`, :func:`p4_group_convolution`),
scipy-compatible building blocks (:func:`convolve2d`, :func:`correlate2d`),
and thread control.  See ``README.md`` and DESIGN conventions in the docstrings.
"""

from ._config import get_num_threads, set_num_threads
from ._signal import convolve2d, correlate2d, lift_correlation, p4_group_convolution

__version__ = "0.1.0"

__all__ = [
    "convolve2d",
    "correlate2d",
    "get_num_threads",
    "lift_correlation",
    "p4_group_convolution",
    "set_num_threads",
]
