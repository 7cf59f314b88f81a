"""Thread count and convolution algorithm used by the C kernels.

Kept in Python and passed to every kernel call (the C side keeps only its
pool of worker threads).  Results never depend on the count: each output
element is computed by exactly one thread in a fixed order.  The algorithm
(docs/design.md, §9.1 One correlation primitive) is automatic unless ``GCNN_CONV_ALGORITHM`` or
:func:`conv_algorithm` says otherwise; that override exists for tests and
measurements.
"""

from __future__ import annotations

import contextlib
import operator
import os
import warnings
from collections.abc import Iterator

from . import _core

__all__ = [
    "ALGORITHMS",
    "MAX_THREADS",
    "algorithm_code",
    "conv_algorithm",
    "get_conv_algorithm",
    "get_num_threads",
    "set_conv_algorithm",
    "set_num_threads",
]

#: The largest thread team the kernels use (their pool holds at most this many threads).
MAX_THREADS: int = _core.MAX_THREADS


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _default_threads() -> int:
    """GCNN_NUM_THREADS or OMP_NUM_THREADS when set to a usable count, else the usable CPUs."""
    for var in ("GCNN_NUM_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(var)
        if text is None or not text.strip():
            continue
        value = text.split(",")[0].strip()  # OMP_NUM_THREADS may list one count per level
        if value.isdigit() and 1 <= int(value) <= MAX_THREADS:
            return int(value)
        warnings.warn(
            f"gcnn ignores {var}={text!r}: it must be an integer from 1 to {MAX_THREADS}; "
            f"using {_usable_cpus()} threads (the usable CPUs)",
            RuntimeWarning,
            stacklevel=2,
        )
        break
    return min(_usable_cpus(), MAX_THREADS)


_num_threads = _default_threads()


def get_num_threads() -> int:
    """Number of threads the kernels use for large inputs.

    Returns
    -------
    int
        Set by :func:`set_num_threads`; initially ``GCNN_NUM_THREADS`` or
        ``OMP_NUM_THREADS`` if set, otherwise the CPUs this process may use.

    Examples
    --------
    >>> import gcnn
    >>> gcnn.get_num_threads() >= 1
    True
    """
    return _num_threads


def set_num_threads(n: int | None) -> int:
    """Set the number of threads the kernels use; return the previous value.

    Parameters
    ----------
    n : int or None
        A count from 1 to :data:`MAX_THREADS` (256), or None to restore the
        default (environment or CPU count).  Small inputs always run on one
        thread; more threads than CPUs is allowed (the kernels hand work to
        whichever thread is free, so idle or descheduled ones cost nothing).

    Returns
    -------
    int
        The previous setting, so a caller can restore it.

    Raises
    ------
    TypeError
        If `n` is not an integer or None.
    ValueError
        If `n` is less than 1 or more than :data:`MAX_THREADS`.

    Examples
    --------
    >>> import gcnn
    >>> previous = gcnn.set_num_threads(1)
    >>> gcnn.get_num_threads()
    1
    >>> _ = gcnn.set_num_threads(previous)
    """
    global _num_threads
    previous = _num_threads
    if n is None:
        _num_threads = _default_threads()
        return previous
    if isinstance(n, bool):
        raise TypeError(f"n must be an integer or None, got {n!r}")
    try:
        count = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer or None, got {type(n).__name__}") from None
    if not 1 <= count <= MAX_THREADS:
        raise ValueError(f"n must be from 1 to {MAX_THREADS} (gcnn's largest team), got {count}")
    _num_threads = count
    return previous


#: The layers' correlation algorithms and their codes in ``gcnn._core.correlate``:
#: ``"auto"`` takes Winograd's F(2x2,3x3) or F(4x4,3x3) for float32 3x3 stride-1 calls, and
#: F(2x2,5x5) for 5x5 ones, with enough channels, and direct correlation otherwise (float64
#: always direct); ``"direct"`` never Winograd; ``"winograd"`` Winograd wherever it applies
#: (3x3 or 5x5, stride 1, float32 or float64); ``"winograd-f2"`` (3x3 and 5x5) and
#: ``"winograd-f4"`` (3x3) that tile, an error for calls it does not apply to.
ALGORITHMS: dict[str, int] = {
    "auto": 0,
    "direct": 1,
    "winograd": 2,
    "winograd-f2": 3,
    "winograd-f4": 4,
}


def _checked_algorithm(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"algorithm must be a str, got {type(name).__name__}")
    if name not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}, got {name!r}")
    return name


def _default_algorithm() -> str:
    """GCNN_CONV_ALGORITHM when set to a known name, else "auto"."""
    text = os.environ.get("GCNN_CONV_ALGORITHM")
    if text is None or not text.strip():
        return "auto"
    if text.strip() in ALGORITHMS:
        return text.strip()
    warnings.warn(
        f"gcnn ignores GCNN_CONV_ALGORITHM={text!r}: it must be one of {sorted(ALGORITHMS)}; "
        "using 'auto'",
        RuntimeWarning,
        stacklevel=2,
    )
    return "auto"


_algorithm = _default_algorithm()


def get_conv_algorithm() -> str:
    """The correlation algorithm the layers ask the C core for (a key of :data:`ALGORITHMS`)."""
    return _algorithm


def set_conv_algorithm(name: str | None) -> str:
    """Set the layers' correlation algorithm (None: the default); return the previous one.

    Raises
    ------
    TypeError
        If `name` is not a str or None.
    ValueError
        If `name` is not a key of :data:`ALGORITHMS`.
    """
    global _algorithm
    previous = _algorithm
    _algorithm = _default_algorithm() if name is None else _checked_algorithm(name)
    return previous


@contextlib.contextmanager
def conv_algorithm(name: str) -> Iterator[None]:
    """Use the correlation algorithm `name` inside a ``with`` block (tests, measurements).

    Examples
    --------
    >>> import numpy as np
    >>> import gcnn
    >>> from gcnn import _config
    >>> x = np.ones((1, 8, 6, 6), np.float32)
    >>> w = np.ones((8, 8, 3, 3), np.float32)
    >>> with _config.conv_algorithm("winograd-f2"):
    ...     out = gcnn.conv2d(x, w)
    >>> float(out[0, 0, 0, 0])
    72.0
    """
    previous = set_conv_algorithm(name)
    try:
        yield
    finally:
        set_conv_algorithm(previous)


def algorithm_code() -> int:
    """The code of the current algorithm for ``gcnn._core.correlate(..., algorithm=...)``."""
    return ALGORITHMS[_algorithm]
