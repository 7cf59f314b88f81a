"""Thread count used by the C kernels.

Kept in Python and passed to every kernel call, so the C extension holds no
global state.  Results never depend on the count: each output element is
computed by exactly one thread in a fixed order.
"""

from __future__ import annotations

import operator
import os

__all__ = ["get_num_threads", "set_num_threads"]


def _default_threads() -> int:
    for var in ("GCNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


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
        A positive count, or None to restore the default (environment or
        CPU count).  Small inputs always run on one thread.

    Returns
    -------
    int
        The previous setting, so a caller can restore it.

    Raises
    ------
    TypeError
        If `n` is not an integer or None.
    ValueError
        If `n` is less than 1.

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
    if count < 1:
        raise ValueError(f"n must be at least 1, got {count}")
    _num_threads = count
    return previous
