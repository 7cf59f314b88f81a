# The compiled module gcnn._core (csrc/gcnn_module.c), for type checkers. Private: the
# public functions of gcnn wrap these with validation and friendlier messages. Arrays are
# taken as anything NumPy converts (the glue converts with an explicit dtype) and returned
# as new ndarrays.

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

MAX_THREADS: int

def correlate(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    boundary: int = 0,
    fillvalue: float = 0.0,
    num_threads: int = 1,
    simd: int = 0,
    dilation: Sequence[int] = (1, 1),
    algorithm: int = 0,
) -> np.ndarray: ...
def correlate_int(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    boundary: int = 0,
    fillvalue: int = 0,
    num_threads: int = 1,
    simd: int = 0,
    dilation: Sequence[int] = (1, 1),
    algorithm: int = 0,
) -> np.ndarray: ...
def grad_weight(
    x: ArrayLike,
    grad_out: ArrayLike,
    kernel_size: Sequence[int],
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    boundary: int = 0,
    fillvalue: float = 0.0,
    num_threads: int = 1,
    simd: int = 0,
    algorithm: int = 0,
) -> np.ndarray: ...
def channel_sums(x: ArrayLike, num_threads: int = 1, simd: int = 0) -> np.ndarray: ...
def channel_moments(
    x: ArrayLike, num_threads: int = 1, simd: int = 0
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def channel_affine(
    x: ArrayLike,
    scale: ArrayLike,
    shift: ArrayLike,
    num_threads: int = 1,
    simd: int = 0,
    relu: Literal[False] = False,
) -> np.ndarray: ...
@overload
def channel_affine(
    x: ArrayLike,
    scale: ArrayLike,
    shift: ArrayLike,
    num_threads: int = 1,
    simd: int = 0,
    *,
    relu: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def batch_norm_forward(
    x: ArrayLike,
    eps: float,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    num_threads: int = 1,
    simd: int = 0,
    relu: Literal[False] = False,
    plane: None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def batch_norm_forward(
    x: ArrayLike,
    eps: float,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    num_threads: int = 1,
    simd: int = 0,
    *,
    relu: Literal[True],
    plane: None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def batch_norm_forward(
    x: ArrayLike,
    eps: float,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    num_threads: int = 1,
    simd: int = 0,
    relu: bool = False,
    plane: tuple[int, int] | None = None,
) -> tuple[np.ndarray, ...]: ...
@overload
def batch_norm_backward(
    grad: ArrayLike,
    x: ArrayLike,
    mean: ArrayLike,
    inv_std: ArrayLike,
    weight: ArrayLike | None = None,
    num_threads: int = 1,
    simd: int = 0,
    positive: np.ndarray | None = None,
    sums: Literal[False] = False,
    pool_index: np.ndarray | None = None,
    plane: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def batch_norm_backward(
    grad: ArrayLike,
    x: ArrayLike,
    mean: ArrayLike,
    inv_std: ArrayLike,
    weight: ArrayLike | None = None,
    num_threads: int = 1,
    simd: int = 0,
    positive: np.ndarray | None = None,
    *,
    sums: Literal[True],
    pool_index: np.ndarray | None = None,
    plane: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def batch_norm_backward(
    grad: ArrayLike,
    x: ArrayLike,
    mean: ArrayLike,
    inv_std: ArrayLike,
    weight: ArrayLike | None = None,
    num_threads: int = 1,
    simd: int = 0,
    positive: np.ndarray | None = None,
    sums: bool = False,
    pool_index: np.ndarray | None = None,
    plane: tuple[int, int] | None = None,
) -> tuple[np.ndarray, ...]: ...
def max_pool(
    x: ArrayLike,
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int] = (0, 0),
    num_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]: ...
def max_pool_backward(
    grad: ArrayLike,
    index: ArrayLike,
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int] = (0, 0),
    num_threads: int = 1,
) -> np.ndarray: ...
def relu(x: ArrayLike, num_threads: int = 1) -> tuple[np.ndarray, np.ndarray]: ...
def relu_backward(grad: ArrayLike, positive: ArrayLike, num_threads: int = 1) -> np.ndarray: ...
def simd_level(requested: int = 0) -> str: ...
def fma_probe(iterations: int, double: bool = False, simd: int = 0) -> float: ...
def threads() -> bool: ...
