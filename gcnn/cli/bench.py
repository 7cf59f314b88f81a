"""``python -m gcnn bench``: gcnn side by side with the code it replaces.

The benchmark is a list of :class:`Case` rows, each with a label, a gcnn callable, an
optional peer callable (None when the peer library is missing) and the number of
floating-point operations of the published algorithm. Sections of rows:

- :func:`kernel_cases`: ``gcnn.lift_correlation`` and ``gcnn.p4_group_convolution``
  against the tutorial's SciPy functions (:mod:`gcnn.reference`).
- :func:`signal_cases`: ``gcnn.convolve2d`` against ``scipy.signal.convolve2d`` on
  integer and complex inputs (integers must agree bit for bit, dtype included).
- :func:`layer_cases`: ``gcnn.lift`` / ``gcnn.group_conv`` against
  ``torch.nn.functional.conv2d`` on the expanded filter, when both exist.

SciPy and PyTorch are imported lazily; without them only gcnn is timed.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Case",
    "Timing",
    "kernel_cases",
    "layer_cases",
    "median_seconds",
    "run_bench",
    "signal_cases",
    "time_call",
]

DEFAULT_SIZES = (64, 256, 1024)
QUICK_SIZES = (64, 256)
DEFAULT_KERNELS = (3, 5, 7)
DEFAULT_DTYPES = ("float64", "float32")


# --------------------------------------------------------------------------- the tutorial
#
# The peer of the tutorial rows is the tutorial's NumPy/SciPy code as published (true
# convolution, mode="same", boundary="symm"), from gcnn.reference, so the benchmark times the
# algorithm users have.


def scipy_available() -> bool:
    """Whether ``scipy.signal`` can be imported."""
    try:
        import scipy.signal  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Median seconds per call, how many samples it is the median of, and one result."""

    seconds: float
    samples: int
    calls_per_sample: int
    result: Any
    sample_seconds: tuple[float, ...] = ()


def time_call(
    func: Callable[[], Any],
    budget_seconds: float = 1.0,
    min_repeats: int = 3,
    max_repeats: int = 200,
    min_sample_seconds: float = 2e-3,
) -> Timing:
    """Median wall time of ``func()``, repeated adaptively within a time budget.

    Parameters
    ----------
    func : callable
        Called without arguments.
    budget_seconds : float
        Rough total time to spend; the number of samples is ``budget / time per sample``
        clipped to ``[min_repeats, max_repeats]``, so slow calls get ``min_repeats``.
    min_repeats, max_repeats : int
        Bounds on the number of samples.
    min_sample_seconds : float
        Fast calls are looped inside one sample until it lasts about this long, so the
        timer's resolution and the loop overhead do not count.

    Returns
    -------
    Timing
        The median per call and the result of the first (warm-up) call.

    Notes
    -----
    The first call warms caches and allocators and is not a sample, except when it takes
    more than 0.1 s: then cold effects are negligible and the call counts, which keeps the
    slow SciPy cases at large sizes to ``min_repeats`` calls in total.
    """
    start = time.perf_counter()
    result = func()
    first = time.perf_counter() - start
    calls_per_sample = max(1, math.ceil(min_sample_seconds / max(first, 1e-9)))
    samples = [first] if first > 0.1 else []
    wanted = int(budget_seconds / max(first * calls_per_sample, 1e-9))
    wanted = min(max(wanted, min_repeats), max_repeats)
    while len(samples) < wanted:
        start = time.perf_counter()
        for _ in range(calls_per_sample):
            func()
        samples.append((time.perf_counter() - start) / calls_per_sample)
    return Timing(
        statistics.median(samples), len(samples), calls_per_sample, result, tuple(samples)
    )


def time_side_by_side(
    fast: Callable[[], Any], slow: Callable[[], Any], budget_seconds: float, rounds: int = 3
) -> tuple[Timing, Timing]:
    """Time two callables in alternating rounds; medians over all rounds' samples.

    A shared machine drifts: timing one side fully and then the other lets the
    drift land on one side only. Alternating `rounds` times spreads it over both.
    """
    fast_rounds, slow_rounds = [], []
    for _ in range(rounds):
        fast_rounds.append(time_call(fast, budget_seconds / rounds, min_repeats=1))
        slow_rounds.append(time_call(slow, budget_seconds / rounds, min_repeats=1))

    def merged(parts: list[Timing]) -> Timing:
        samples = [t for part in parts for t in part.sample_seconds]
        return Timing(
            statistics.median(samples),
            len(samples),
            parts[0].calls_per_sample,
            parts[0].result,
            tuple(samples),
        )

    return merged(fast_rounds), merged(slow_rounds)


def median_seconds(func: Callable[[], Any], budget_seconds: float = 1.0) -> float:
    """Median seconds per call of ``func()``; see :func:`time_call`."""
    return time_call(func, budget_seconds=budget_seconds).seconds


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One benchmark row.

    Attributes
    ----------
    label : str
        What is computed, e.g. ``"lift_correlation s=256 k=5"``.
    dtype : str
        Element type of the inputs.
    run_gcnn : callable
        Computes the row with gcnn; no arguments.
    run_peer : callable or None
        Computes the same with the peer library; None when it is not installed.
    flops : float
        Floating-point operations of the published algorithm (multiply and add counted
        separately), for the effective GFLOP/s of gcnn.
    to_comparable : callable, optional
        Maps the peer's result to gcnn's layout (e.g. a torch tensor to an ndarray of
        shape (N, C_out, |G|, H', W')) for the agreement check.
    first_results : (gcnn result, peer result), optional
        What the agreement check compares, when calls change state (a training step updates
        the weights): the results of each side's first call from the same starting point.
        By default the check compares the results of the timed calls.
    """

    label: str
    dtype: str
    run_gcnn: Callable[[], Any]
    run_peer: Callable[[], Any] | None
    flops: float
    to_comparable: Callable[[Any], np.ndarray] | None = None
    first_results: tuple[Any, Any] | None = None


def kernel_cases(
    sizes: Sequence[int], kernels: Sequence[int], dtypes: Sequence[str], seed: int = 0
) -> list[Case]:
    """Rows for the tutorial's two functions against gcnn.

    ``lift_correlation`` on an (s, s) image and ``p4_group_convolution`` on (4, s, s)
    features, every size x kernel size x dtype. Flops: the tutorial computes 4 (lift)
    or 16 (p4) convolutions of s*s outputs with k*k multiply-adds each.
    """
    import gcnn
    from gcnn import reference

    have_scipy = scipy_available()
    rng = np.random.default_rng(seed)
    cases = []
    functions = (
        ("lift_correlation", gcnn.lift_correlation, reference.lift_correlation, (), 4),
        (
            "p4_group_convolution",
            gcnn.p4_group_convolution,
            reference.p4_group_convolution,
            (4,),
            16,
        ),
    )
    for name, fast, tutorial, leading_shape, convolutions in functions:
        for size in sizes:
            for kernel_size in kernels:
                for dtype in dtypes:
                    data = rng.standard_normal(leading_shape + (size, size)).astype(dtype)
                    kernel = rng.standard_normal((kernel_size, kernel_size)).astype(dtype)
                    cases.append(
                        Case(
                            label=f"{name} s={size} k={kernel_size}",
                            dtype=dtype,
                            run_gcnn=_bind(fast, data, kernel),
                            run_peer=_bind(tutorial, data, kernel) if have_scipy else None,
                            flops=float(convolutions * 2 * size * size * kernel_size**2),
                        )
                    )
    return cases


def _bind(func: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: func(*args)


# scipy.signal rows: (image dtype, kernel dtype) at s = 256, k = 5, mode "same". uint8 images
# with integer kernels and complex filters are what a drop-in is reached for.
SIGNAL_PAIRS = (
    ("uint8", "uint8"),
    ("uint8", "int64"),
    ("int32", "int32"),
    ("int64", "int64"),
    ("uint8", "complex128"),
    ("complex64", "complex64"),
    ("complex128", "complex128"),
)


def _signal_operand(rng: np.random.Generator, dtype: str, shape: tuple) -> np.ndarray:
    """Random values: uint8 pixels, small integer kernels, full-range wide integers (so sums
    wrap around), unit-variance complex numbers."""
    kind = np.dtype(dtype).kind
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(dtype)
    if kind in "iu" and shape[0] <= 9:  # a kernel
        return rng.integers(-8, 9, shape).astype(dtype)
    if kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def signal_cases(size: int = 256, kernel_size: int = 5, seed: int = 0) -> list[Case]:
    """Rows for ``gcnn.convolve2d`` against ``scipy.signal.convolve2d``: integer and complex.

    Each row is an (s, s) image and a (k, k) kernel of the dtypes of :data:`SIGNAL_PAIRS`,
    ``mode="same"``. The row's dtype is the result's (SciPy's). Flops count 2 per real
    multiply-add (integer ones too), 4 per real-by-complex and 8 per complex one.
    """
    import gcnn

    have_scipy = scipy_available()
    if have_scipy:
        from scipy.signal import convolve2d as scipy_convolve2d
    rng = np.random.default_rng(seed)
    cases = []
    for image_dtype, kernel_dtype in SIGNAL_PAIRS:
        image = _signal_operand(rng, image_dtype, (size, size))
        kernel = _signal_operand(rng, kernel_dtype, (kernel_size, kernel_size))
        result = np.result_type(image, kernel)
        complex_factors = sum(np.dtype(d).kind == "c" for d in (image_dtype, kernel_dtype))
        cases.append(
            Case(
                label=f"convolve2d s={size} k={kernel_size} {image_dtype}*{kernel_dtype}",
                dtype=result.name,
                run_gcnn=_bind(gcnn.convolve2d, image, kernel, "same"),
                run_peer=_bind(scipy_convolve2d, image, kernel, "same") if have_scipy else None,
                flops=float(2 * 2**complex_factors * size * size * kernel_size**2),
            )
        )
    return cases


# Layer rows: (function, group, N, C_in, C_out, H = W, k), all float32 with padding="same".
LAYER_SHAPES = (
    ("lift", "p4", 64, 3, 16, 64, 5),
    ("group_conv", "p4", 64, 10, 10, 28, 3),
    ("group_conv", "p4m", 32, 16, 16, 32, 3),
    # The p4m row's work on C8 (steerable filters, docs/design.md, §3.7 Steerable filters):
    # the same correlation with a bank built by turn matrices instead of pixel permutations.
    ("group_conv", "c8", 32, 16, 16, 32, 3),
    ("group_conv", "p4", 8, 32, 32, 64, 5),
)
GROUP_ORDER = {"p4": 4, "p4m": 8, "c8": 8}


def layer_cases(threads: int = 2, seed: int = 0) -> list[Case]:
    """Rows for gcnn's layers against ``torch.nn.functional.conv2d``, when both exist.

    Returns an empty list unless ``gcnn.lift``, ``gcnn.group_conv`` and
    ``gcnn.expand_filter`` exist and PyTorch is importable.

    Parameters
    ----------
    threads : int
        Threads for both libraries (``torch.set_num_threads``, ``gcnn.set_num_threads``).
        Set when this is called, so call it after the rows that should use other counts.
    seed : int
        Seed of the random inputs.

    Notes
    -----
    The peer is ``conv2d`` on the filter expanded by ``gcnn.expand_filter`` (the expansion
    is not timed) with the input viewed as (N, C_in*|G|, H, W); the inputs become torch
    tensors before timing. Flops: ``2 * N * C_out*|G| * C_in*(|G| or 1 for the lift) * k*k
    * H' * W'``, the work of a dense conv2d on the expanded filter (Winograd's algorithm does
    fewer multiplications, so its rows can exceed 100% of the peak). Each row with a 3x3 or
    5x5 kernel and at least 16 input channels after the expansion is followed by a "direct"
    row: the same layer with direct correlation forced.

    Each shape then has a "fwd+bwd" row: the forward call and both gradients (input and
    weight, for a fixed random output gradient): ``gcnn.lift_backward`` /
    ``gcnn.group_conv_backward`` (the weight gradient folded back to the compact weight)
    against ``conv2d`` and autograd on the expanded filter.  Flops: 3 x the forward's;
    the check compares the input gradients.
    """
    import gcnn
    from gcnn import _config

    if not all(hasattr(gcnn, name) for name in ("lift", "group_conv", "expand_filter")):
        return []
    try:
        import torch
        from torch.nn import functional
    except ImportError:
        return []

    torch.set_num_threads(threads)
    gcnn.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    cases = []
    for kind, group, batch, in_channels, out_channels, side, kernel_size in LAYER_SHAPES:
        order = GROUP_ORDER[group]
        input_group_axis = (order,) if kind == "group_conv" else ()
        x: np.ndarray = rng.standard_normal((batch, in_channels) + input_group_axis + (side, side))
        weight: np.ndarray = rng.standard_normal(
            (out_channels, in_channels) + input_group_axis + (kernel_size, kernel_size)
        )
        x = x.astype(np.float32)
        weight = weight.astype(np.float32) / np.float32(kernel_size)
        layer = gcnn.lift if kind == "lift" else gcnn.group_conv
        expanded = gcnn.expand_filter(weight, group, "lift" if kind == "lift" else "group")
        x_torch = torch.from_numpy(np.ascontiguousarray(x.reshape(batch, -1, side, side)))
        weight_torch = torch.from_numpy(np.ascontiguousarray(expanded, dtype=np.float32))
        output_shape = (batch, out_channels, order, side, side)

        def run_gcnn(layer=layer, x=x, weight=weight, group=group) -> Any:
            return layer(x, weight, group=group, padding="same")

        def run_torch(x_torch=x_torch, weight_torch=weight_torch, pad=kernel_size // 2) -> Any:
            with torch.no_grad():
                return functional.conv2d(x_torch, weight_torch, padding=pad)

        def to_comparable(result: Any, shape: tuple = output_shape) -> np.ndarray:
            return result.numpy().reshape(shape)

        def run_direct(run_gcnn=run_gcnn) -> Any:
            with _config.conv_algorithm("direct"):
                return run_gcnn()

        in_factor = in_channels * (order if kind == "group_conv" else 1)
        label = (
            f"{kind} {group} N={batch} {in_channels}->{out_channels} {side}x{side} k={kernel_size}"
        )
        flops = float(2 * batch * out_channels * order * in_factor * kernel_size**2 * side * side)
        # Rows with enough channels take Winograd's algorithm (docs/design.md, §9.1 One
        # correlation primitive); the "direct" row below each times direct correlation in the
        # same run.
        variants: list[tuple[str, Callable[..., Any]]] = [(label, run_gcnn)]
        if kernel_size in (3, 5) and in_factor >= 16:
            variants.append((label + " direct", run_direct))
        for name, run in variants:
            cases.append(
                Case(
                    label=name,
                    dtype="float32",
                    run_gcnn=run,
                    run_peer=run_torch,
                    flops=flops,
                    to_comparable=to_comparable,
                )
            )
        cases.append(
            _forward_backward_case(
                label, kind, group, x, weight, x_torch, weight_torch, kernel_size, flops, rng
            )
        )
    return cases


def _forward_backward_case(
    label: str,
    kind: str,
    group: str,
    x: np.ndarray,
    weight: np.ndarray,
    x_torch: Any,
    weight_torch: Any,
    kernel_size: int,
    flops: float,
    rng: np.random.Generator,
) -> Case:
    """The "fwd+bwd" row of a layer shape (see :func:`layer_cases`)."""
    import torch
    from torch.nn import functional

    import gcnn

    layer = gcnn.lift if kind == "lift" else gcnn.group_conv
    backward = gcnn.lift_backward if kind == "lift" else gcnn.group_conv_backward
    out_shape = layer(x, weight, group=group, padding="same").shape
    grad_out = rng.standard_normal(out_shape).astype(np.float32)
    grad_torch = torch.from_numpy(grad_out.reshape(out_shape[0], -1, *out_shape[-2:]))
    x_leaf = x_torch.clone().requires_grad_(True)
    weight_leaf = weight_torch.clone().requires_grad_(True)

    def run_gcnn() -> Any:
        layer(x, weight, group=group, padding="same")
        return backward(grad_out, x, weight, group=group, padding="same")[0]

    def run_torch() -> Any:
        x_leaf.grad = weight_leaf.grad = None
        out = functional.conv2d(x_leaf, weight_leaf, padding=kernel_size // 2)
        out.backward(grad_torch)
        return x_leaf.grad

    def to_comparable(result: Any, shape: tuple = x.shape) -> np.ndarray:
        return result.numpy().reshape(shape)

    return Case(
        label=label + " fwd+bwd",
        dtype="float32",
        run_gcnn=run_gcnn,
        run_peer=run_torch,
        flops=3 * flops,
        to_comparable=to_comparable,
    )


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo, else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _core_attribute(name: str, fallback: Any) -> Any:
    try:
        from .. import _core
    except ImportError:
        return fallback
    value = getattr(_core, name, None)
    if value is None:
        return fallback
    try:
        return value() if callable(value) else value
    except Exception:  # noqa: BLE001 - a diagnostic line must not stop the benchmark
        return fallback


def machine_line() -> str:
    """One line naming what the numbers were measured on."""
    import gcnn

    logical = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    cores = f"{logical} logical cores" + (f" ({usable} usable)" if usable != logical else "")
    get_threads = getattr(gcnn, "get_num_threads", None)
    threads = get_threads() if callable(get_threads) else "?"
    have_threads = _core_attribute("threads", None)
    threads_text = "unknown" if have_threads is None else ("yes" if have_threads else "no")
    try:
        import scipy

        scipy_version = scipy.__version__
    except ImportError:
        scipy_version = "not installed"
    try:
        load = f" | load {os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        load = ""
    return (
        f"machine: {cpu_model()} | {cores}{load} | gcnn threads {threads} | "
        f"SIMD {_core_attribute('simd_level', 'unknown')} | worker threads {threads_text} | "
        f"NumPy {np.__version__} | SciPy {scipy_version} | "
        f"Python {platform.python_version()}"
    )


def fma_peak_per_core() -> dict[str, float]:
    """Measured FMA peak of one core, GFLOP/s, for "float32" and "float64".

    Times ``gcnn._core.fma_probe`` (chains of independent vector FMAs on the
    SIMD path gcnn uses, no memory traffic); best of several short runs.
    """
    from .. import _core

    # Many short runs, best kept: on a shared machine a core is lost in bursts,
    # and a few long runs would report a burst as the peak.
    peaks = {}
    for name, is_double in (("float32", False), ("float64", True)):
        best = 0.0
        for _ in range(40):
            start = time.perf_counter()
            flops = _core.fma_probe(100_000, is_double)
            best = max(best, flops / (time.perf_counter() - start) / 1e9)
        peaks[name] = best
    return peaks


def _busy_machine_note() -> str:
    """A warning when other processes keep the CPUs busy, else ``""``."""
    try:
        load = os.getloadavg()[0]
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return ""
    if load < 0.75:
        return ""
    # A team of threads waits at its barrier for the member the OS has descheduled, so
    # on a busy machine a multi-threaded call can take a scheduler time slice (~10 ms).
    return (
        f"note: the machine is busy (1-minute load {load:.2f} on {usable} usable CPUs): "
        "multi-threaded gcnn timings may be inflated; compare with --threads 1."
    )


# --------------------------------------------------------------------------- table


_COLUMNS = (
    ("case", "<", 44),
    ("dtype", "<", 10),
    ("gcnn ms", ">", 10),
    ("{peer} ms", ">", 10),
    ("ratio", ">", 8),
    ("GFLOP/s", ">", 8),
    ("% peak", ">", 7),
    ("runs", ">", 9),
    ("check", "<", 12),
)


def _table_line(values: Sequence[str]) -> str:
    cells = []
    for value, (_, align, width) in zip(values, _COLUMNS):
        cells.append(f"{value:{align}{width}}")
    return "  ".join(cells).rstrip()


def _header(peer: str) -> str:
    line = _table_line([title.format(peer=peer) for title, _, _ in _COLUMNS])
    return line + "\n" + "-" * len(line)


def _agreement(fast: Any, peer: Any, dtype: str, convert: Callable | None) -> str:
    """ "ok", or what differs: integers exactly (dtype and every bit), floats and complex
    numbers to a relative tolerance of the result's largest magnitude."""
    expected = np.asarray(convert(peer) if convert else peer)
    actual = np.asarray(fast)
    if actual.shape != expected.shape:
        return f"SHAPE {actual.shape}"
    if "b" in actual.dtype.kind + expected.dtype.kind or np.dtype(dtype).kind in "iu":
        if actual.dtype != expected.dtype:
            return f"DTYPE {actual.dtype}"
        wrong = int(np.count_nonzero(actual != expected))
        return "ok" if wrong == 0 else f"DIFF {wrong} values"
    if "c" in actual.dtype.kind + expected.dtype.kind:
        expected, actual = expected.astype(np.complex128), actual.astype(np.complex128)
    else:
        expected, actual = expected.astype(np.float64), actual.astype(np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    error = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    relative = error / scale if scale > 0 else error
    tolerance = 1e-4 if dtype in ("float32", "complex64") else 1e-10
    return "ok" if relative <= tolerance else f"DIFF {relative:.1e}"


def run_cases(
    cases: Sequence[Case],
    peer: str,
    budget_seconds: float,
    peak: dict[str, float] | None = None,
    threads: int = 1,
) -> bool:
    """Time and print every row; return whether gcnn agreed with the peer everywhere.

    `peak` (GFLOP/s per core by dtype) times `threads` is the machine's share
    that the "% peak" column compares gcnn's GFLOP/s with.
    """
    all_agree = True
    print(_header(peer), flush=True)
    for case in cases:
        slow = peer_error = None
        try:
            if case.run_peer is None:
                fast = time_call(case.run_gcnn, budget_seconds=budget_seconds)
            else:
                try:
                    case.run_peer()  # fails early, alone, if the peer cannot run the row
                except Exception as error:  # noqa: BLE001 - report it in the row
                    peer_error = error
                    fast = time_call(case.run_gcnn, budget_seconds=budget_seconds)
                else:
                    fast, slow = time_side_by_side(case.run_gcnn, case.run_peer, 2 * budget_seconds)
        except Exception as error:  # noqa: BLE001 - report the row, go on with the others
            print(_table_line([case.label, case.dtype, f"error: {error!r}"]), flush=True)
            all_agree = False
            continue
        gflops = case.flops / fast.seconds / 1e9
        share = "-"
        if peak and peak.get(case.dtype):
            share = f"{100 * gflops / (peak[case.dtype] * threads):.0f}%"
        peer_ms, ratio, check = "-", "-", "-"
        runs = f"{fast.samples}"
        if peer_error is not None:
            check = f"{peer} error: {peer_error!r}"
        elif slow is not None:
            peer_ms = f"{slow.seconds * 1e3:.3f}"
            speedup = slow.seconds / fast.seconds
            # two decimals near parity, where 0.96 and 1.04 must not both read 1.0
            ratio = f"{speedup:.2f}x" if speedup < 10 else f"{speedup:.1f}x"
            runs = f"{fast.samples}/{slow.samples}"
            compared = case.first_results or (fast.result, slow.result)
            check = _agreement(*compared, case.dtype, case.to_comparable)
            all_agree = all_agree and check == "ok"
        values = [
            case.label,
            case.dtype,
            f"{fast.seconds * 1e3:.3f}",
            peer_ms,
            ratio,
            f"{gflops:.2f}",
            share,
            runs,
            check,
        ]
        print(_table_line(values), flush=True)
    return all_agree


def _training_section(budget_seconds: float, peak: dict[str, float], threads: int) -> bool:
    """Whole training steps, gcnn vs PyTorch autograd, and the peak memory of a step."""
    import gcnn

    from . import bench_train

    print()
    gcnn.set_num_threads(threads)
    rows = bench_train.training_cases(threads)
    if not rows:
        print("Training steps vs PyTorch: skipped (needs an importable torch).")
        return True
    print(
        f"Training steps, float32, {threads} threads each: forward, cross-entropy, backward and "
        "an Adam update of the same network"
    )
    print(
        "  PyTorch: autograd through conv2d on the expanded filter, gathered from the compact "
        "weight every step (the GrouPy/e2cnn way); torch.nn.BatchNorm3d for the group batch norm"
    )
    print("  flops = 3 x the convolutions' forward flops; check = first step's logits agree")
    agree = run_cases(rows, "torch", budget_seconds, peak, threads)
    print()
    print(
        f"A training step four ways, float32, {threads} threads each (median ms; the ways take "
        "turns): gcnn; gcnn.torch (autograd through conv2d on the gathered expanded filter); "
        "gcnn.torch with gcnn's C kernels (use_gcnn_kernels=True); plain PyTorch (conv2d "
        "layers whose weights are the expanded filters: the same tensor sizes, no weight sharing)"
    )
    for line in bench_train.scaling_table(threads=threads):
        print(line, flush=True)
    print()
    print("Peak memory of a training step (rise of the resident high-water mark over 3 steps)")
    for name, batch, side in bench_train.TRAINING_SHAPES:
        try:
            ours = bench_train.peak_step_memory(name, batch, side, "gcnn", threads)
            theirs = bench_train.peak_step_memory(name, batch, side, "torch", threads)
        except Exception as error:  # noqa: BLE001 - report it, go on
            print(f"  {name} N={batch} {side}x{side}: not measured ({error!r})")
            continue
        print(f"  {name} N={batch} {side}x{side}: gcnn {ours:.0f} MiB, torch {theirs:.0f} MiB")
    return agree


def run_bench(
    sizes: Sequence[int] = DEFAULT_SIZES,
    kernels: Sequence[int] = DEFAULT_KERNELS,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    threads: int | None = None,
    budget_seconds: float = 1.0,
    layers: bool = True,
    training_only: bool = False,
) -> int:
    """Run ``python -m gcnn bench``; return the exit code (0 ok, 1 a result disagreed).

    Parameters
    ----------
    sizes, kernels : sequence of int
        Image sides ``s`` and kernel sides ``k``.
    dtypes : sequence of str
        ``"float64"`` and/or ``"float32"``.
    threads : int or None
        ``gcnn.set_num_threads(threads)`` first; None keeps gcnn's default.
    budget_seconds : float
        Time to spend measuring each side of each row (at least 3 runs each).
    layers : bool
        Also run :func:`layer_cases` (when it has rows).
    training_only : bool
        Only the training-step section (gcnn against PyTorch, the four ways of
        :func:`gcnn.cli.bench_train.scaling_table`, memory).
    """
    import gcnn

    if threads is not None:
        gcnn.set_num_threads(threads)
    print(machine_line())
    peak = fma_peak_per_core()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    tutorial_threads = min(gcnn.get_num_threads(), usable)
    print(
        f"FMA peak per core (measured): float32 {peak['float32']:.1f} GFLOP/s, "
        f"float64 {peak['float64']:.1f} GFLOP/s; % peak = GFLOP/s / (peak x threads)"
    )
    busy_note = _busy_machine_note()
    if busy_note:
        print(busy_note)
    print(
        "ratio = peer time / gcnn time (median per call); GFLOP/s = work of the published "
        "algorithm / gcnn time; runs = samples gcnn/peer; check = gcnn agrees with the peer."
    )
    all_agree = True
    if not training_only:
        print()
        have_scipy = scipy_available()
        print(
            "Tutorial functions (the blog post's sections 4.2 and 4.4): gcnn vs the "
            "tutorial's SciPy code"
        )
        print(
            "  work of the published algorithm: lift = 4 * 2*s*s*k*k flops, "
            "p4 = 16 * 2*s*s*k*k flops; p4 input is (4, s, s)"
        )
        if not have_scipy:
            print("  SciPy is not installed: timing gcnn alone (python -m pip install scipy).")
        cases = kernel_cases(sizes, kernels, dtypes)
        all_agree = run_cases(cases, "scipy", budget_seconds, peak, tutorial_threads)

        print()
        print(
            "scipy.signal.convolve2d, integer and complex inputs: gcnn.convolve2d vs SciPy's, "
            "mode='same'"
        )
        print(
            "  dtype = the result's (SciPy's); check: integers bit for bit, dtype included; "
            "flops: 2 per multiply-add, 4 per real-by-complex, 8 per complex"
        )
        complex_peak = dict(peak, complex64=peak["float32"], complex128=peak["float64"])
        all_agree = (
            run_cases(signal_cases(), "scipy", budget_seconds, complex_peak, tutorial_threads)
            and all_agree
        )

    if layers or training_only:
        previous_threads = gcnn.get_num_threads() if hasattr(gcnn, "get_num_threads") else None
        rows = [] if training_only else layer_cases()
        if rows:
            print()
            print(
                "Layers, float32, padding='same', 2 threads each: gcnn vs "
                "torch.nn.functional.conv2d on gcnn.expand_filter's weight (expansion untimed)"
            )
            print("  flops = 2*N*C_out*|G|*C_in*(|G| or 1)*k*k*H'*W'")
            all_agree = run_cases(rows, "torch", budget_seconds, peak, min(2, usable)) and all_agree
        elif not training_only:
            print()
            print(
                "Layers vs PyTorch: skipped (needs gcnn.lift, gcnn.group_conv, "
                "gcnn.expand_filter and an importable torch)."
            )
        if not training_only and usable >= 2:
            from . import bench_busy

            print()
            for line in bench_busy.busy_machine_lines(threads=2, budget_seconds=budget_seconds):
                print(line, flush=True)
        # --training times at --threads when given; the full run keeps 2 threads for its peers
        training_threads = threads if training_only and threads is not None else min(2, usable)
        all_agree = _training_section(budget_seconds, peak, training_threads) and all_agree
        if previous_threads is not None:
            gcnn.set_num_threads(previous_threads)

    if not all_agree:
        print("\nsome results disagree with the peer (see the check column)", file=sys.stderr)
        return 1
    return 0
