"""Argument checking and dtype promotion shared by every public function.

The rules of docs/design.md, §5 Numbers: float32 and float64 are computed
natively; bool and integers promote to float64, float16 to float32; complex,
object and string dtypes are a TypeError.  Any memory layout is accepted;
inputs are never modified (conversion copies when it must, never writes back).
"""

from __future__ import annotations

import operator

import numpy as np

_MODES = ("valid", "same", "full")
# scipy.signal's boundary names and the C kernel's codes for them.
_BOUNDARIES = {"fill": 0, "pad": 0, "wrap": 1, "circular": 1, "symm": 2, "symmetric": 2}


def as_real_array(obj, name: str) -> np.ndarray:
    """`obj` as an ndarray of a real numeric dtype (no copy when possible)."""
    try:
        arr = np.asarray(obj)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise TypeError(f"{name} must be array-like: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype, got dtype {arr.dtype}")
    return arr


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """The float dtype the kernels compute in for these operands."""
    dtype = np.result_type(*arrays)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype.itemsize <= 4:  # float16 and float32
        return np.dtype(np.float32)
    return np.dtype(np.float64)  # float64, and longdouble computed in double


def contiguous(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """C-contiguous, aligned, native-order copy-if-needed in `dtype`."""
    return np.ascontiguousarray(arr, dtype=dtype)


def require_ndim(arr: np.ndarray, ndim: int, name: str, what: str) -> None:
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {what}, got shape {arr.shape}")


def check_mode(mode) -> str:
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"mode must be 'valid', 'same' or 'full', got {mode!r}")
    return mode


def boundary_code(boundary) -> int:
    if not isinstance(boundary, str) or boundary not in _BOUNDARIES:
        raise ValueError(
            "boundary must be 'fill', 'wrap' (or 'circular') or 'symm' (or 'symmetric'), "
            f"got {boundary!r}"
        )
    return _BOUNDARIES[boundary]


def check_fillvalue(fillvalue) -> float:
    """A real scalar (or one-element array) fill value, as a float."""
    try:
        arr = np.asarray(fillvalue)
    except (TypeError, ValueError):
        raise TypeError(f"fillvalue must be a real number, got {fillvalue!r}") from None
    if arr.size != 1:
        raise ValueError(
            f"fillvalue must be a scalar or a one-element array, got shape {arr.shape}"
        )
    if arr.dtype.kind == "c":
        raise ValueError(f"fillvalue must be real, got {fillvalue!r}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"fillvalue must be a real number, got {fillvalue!r}")
    return float(arr.reshape(()))


def positive_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if number < 1:
        raise ValueError(f"{name} must be positive, got {number}")
    return number
