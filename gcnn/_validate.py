"""Argument checking and dtype promotion shared by every public function.

The rules of docs/design.md, §5 Numbers: float32 and float64 are computed
natively; bool and integers promote to float64, float16 to float32; complex,
object and string dtypes are a TypeError.  Any memory layout is accepted;
inputs are never modified (conversion copies when it must, never writes back).

scipy.signal's building blocks and the tutorial's functions follow SciPy's
rules instead (docs/design.md, §1.3 scipy-compatible building blocks):
integer results, complex input, and SciPy's conversion of `fillvalue`.
"""

from __future__ import annotations

import numbers
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


def as_numeric_array(obj, name: str) -> np.ndarray:
    """`obj` as an ndarray of a bool, integer, float or complex dtype (no copy when possible)."""
    try:
        arr = np.asarray(obj)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise TypeError(f"{name} must be array-like: {exc}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(
            f"{name} must have a numeric dtype (bool, integer, float or complex), "
            f"got dtype {arr.dtype}"
        )
    return arr


def signal_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype scipy.signal.convolve2d gives these operands, as gcnn returns it.

    SciPy computes in NumPy's result type of the operands.  Where SciPy has no
    loop, gcnn keeps its float rules: bool with bool gives float64 and float16
    gives float32; extended precision is computed in (and returned as) double.
    """
    dtype = np.result_type(*arrays)
    if dtype.kind == "b":
        return np.dtype(np.float64)
    if dtype.kind == "f":
        return np.dtype(np.float32 if dtype.itemsize <= 4 else np.float64)
    if dtype.kind == "c":
        return np.dtype(np.complex64 if dtype.itemsize <= 8 else np.complex128)
    return dtype  # integers: computed exactly, with wrap-around


def _is_number(arr: np.ndarray) -> bool:
    """Whether an array from np.asarray holds numbers (Python ints too large for int64 and
    other numbers NumPy keeps as objects included)."""
    if arr.dtype.kind in "biufc":
        return True
    return arr.dtype.kind == "O" and all(isinstance(v, numbers.Number) for v in arr.flat)


def signal_fillvalue(fillvalue, dtype: np.dtype) -> np.ndarray:
    """`fillvalue` converted to the output `dtype` as scipy.signal.convolve2d converts it.

    Python numbers, NumPy scalars and lists convert by value, as
    ``np.asarray(fillvalue, dtype=dtype)`` does (a float fill truncates for an
    integer output); an ndarray converts only where NumPy casts its dtype
    safely.  What does not convert is a ValueError with SciPy's words: a
    complex fill for a real output, an integer out of the output's range, NaN
    for an integer output.  Non-numbers (strings, None) are a TypeError.
    Returns a 0-d array of `dtype`.
    """
    try:
        arr = np.asarray(fillvalue)
    except (TypeError, ValueError):  # e.g. ragged nested lists
        raise TypeError(f"fillvalue must be a number, got {fillvalue!r}") from None
    if not _is_number(arr):
        raise TypeError(f"fillvalue must be a number, got {fillvalue!r}")
    try:
        if isinstance(fillvalue, np.ndarray):
            if not np.can_cast(arr.dtype, dtype, "safe"):
                raise TypeError
            direct = arr.astype(dtype)
        else:
            direct = np.asarray(fillvalue, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"could not cast `fillvalue` directly to the output type ({dtype}), got {fillvalue!r}"
        ) from None
    if direct.size == 0:
        raise ValueError("`fillvalue` cannot be an empty array.")
    if direct.size != 1:
        raise ValueError(
            f"`fillvalue` must be scalar or an array with one element, got shape {direct.shape}"
        )
    return direct.reshape(())


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


def flag(value, name: str) -> bool:
    """`value` as a bool: True, False, NumPy's bools, or a 0-d bool array (a stored flag)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind == "b":
        value = value.item()
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


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
