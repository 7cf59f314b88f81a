"""Thread count used by the C kernels.

Kept in Python and passed to every kernel call (the C side keeps only its
pool of worker threads).  Results never depend on the count: each output
element is computed by exactly one thread in a fixed order.
"""

from __future__ import annotations

import operator
import os
import warnings

from . import _core

__all__ = ["MAX_THREADS", "get_num_threads", "set_num_threads"]

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
