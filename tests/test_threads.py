"""Are results identical for any thread count, from any number of Python threads, and is the
thread count checked and restorable (docs/design.md, §5 Numbers)?"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gcnn
from gcnn import _core

SIMD_PATHS = [1, 2, 3]  # generic, avx2, avx512 (an unavailable one falls back)


# --- threads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_num_threads_do_not_change_a_bit(dtype):
    rng = np.random.default_rng(27)
    x = rng.standard_normal((1, 4, 300, 300)).astype(dtype)  # ~13M multiply-adds: threaded
    weight = rng.standard_normal((4, 4, 3, 3)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    for simd in SIMD_PATHS:
        for boundary in (0, 1, 2):
            args = (x, weight, bias, (1, 1), (1, 2, 2, 1), boundary, 0.25)
            serial = _core.correlate(*args, num_threads=1, simd=simd)
            for count in (2, 3):
                np.testing.assert_array_equal(
                    _core.correlate(*args, num_threads=count, simd=simd), serial
                )


@pytest.fixture
def restore_threads():
    previous = gcnn.get_num_threads()
    yield
    gcnn.set_num_threads(previous)


def test_public_functions_identical_for_any_thread_count(restore_threads):
    rng = np.random.default_rng(28)
    image = rng.standard_normal((300, 300))
    features = rng.standard_normal((4, 300, 300))
    kernel = rng.standard_normal((5, 5))
    results = {}
    for count in (1, 2):
        gcnn.set_num_threads(count)
        results[count] = (
            gcnn.lift_correlation(image, kernel),
            gcnn.p4_group_convolution(features, kernel, boundary="wrap"),
            gcnn.convolve2d(image, kernel, mode="full"),
        )
    for serial, threaded in zip(results[1], results[2]):
        np.testing.assert_array_equal(threaded, serial)


def test_thread_pool_gives_serial_results(restore_threads):
    rng = np.random.default_rng(29)
    tasks = []
    for i in range(48):
        kind = i % 4
        if kind == 0:
            tasks.append(
                (
                    gcnn.convolve2d,
                    (rng.standard_normal((40, 50)), rng.standard_normal((5, 3))),
                    {"mode": "same"},
                )
            )
        elif kind == 1:
            tasks.append(
                (
                    gcnn.correlate2d,
                    (
                        rng.standard_normal((30, 30)).astype(np.float32),
                        rng.standard_normal((4, 4)).astype(np.float32),
                    ),
                    {"boundary": "wrap"},
                )
            )
        elif kind == 2:
            tasks.append(
                (
                    gcnn.lift_correlation,
                    (rng.standard_normal((64, 64)), rng.standard_normal((3, 3))),
                    {},
                )
            )
        else:
            tasks.append(
                (
                    gcnn.p4_group_convolution,
                    (rng.standard_normal((4, 32, 32)), rng.standard_normal((3, 3))),
                    {"boundary": "fill", "fillvalue": 1.0},
                )
            )
    # One large task too, so threaded kernels run inside pool threads.
    tasks.append(
        (gcnn.lift_correlation, (rng.standard_normal((256, 256)), rng.standard_normal((5, 5))), {})
    )
    for count in (1, 2):
        gcnn.set_num_threads(count)
        serial = [func(*args, **kwargs) for func, args, kwargs in tasks]
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(func, *args, **kwargs) for func, args, kwargs in tasks]
            concurrent = [future.result() for future in futures]
        for got, expected in zip(concurrent, serial):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


# --- set_num_threads -----------------------------------------------------------------------------


def test_set_num_threads_validation(restore_threads):
    for bad in (0, -1, -100):
        with pytest.raises(ValueError, match="1"):
            gcnn.set_num_threads(bad)
    for bad in (1.5, 2.0, True, False, "2", [2]):
        with pytest.raises(TypeError):
            gcnn.set_num_threads(bad)
    # A failed call changes nothing.
    gcnn.set_num_threads(3)
    with pytest.raises(ValueError):
        gcnn.set_num_threads(0)
    assert gcnn.get_num_threads() == 3


def test_set_num_threads_returns_previous(restore_threads):
    gcnn.set_num_threads(2)
    assert gcnn.set_num_threads(5) == 2
    assert gcnn.get_num_threads() == 5
    assert gcnn.set_num_threads(np.int64(1)) == 5
    assert gcnn.get_num_threads() == 1
    assert type(gcnn.get_num_threads()) is int


def test_set_num_threads_none_restores_default(restore_threads, monkeypatch):
    monkeypatch.delenv("GCNN_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    gcnn.set_num_threads(7)
    assert gcnn.set_num_threads(None) == 7
    assert gcnn.get_num_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    gcnn.set_num_threads(None)
    assert gcnn.get_num_threads() == 3
    monkeypatch.setenv("GCNN_NUM_THREADS", "2")
    gcnn.set_num_threads(None)
    assert gcnn.get_num_threads() == 2
