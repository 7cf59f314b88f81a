"""Large outputs come from gcnn's pooled NumPy memory handler (csrc/output_pool.c).

Reused buffers must never leak old values into new results, the handler must
be in force only for gcnn's own allocations, and concurrent calls must stay
correct.
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gcnn import _core, reference

handler_name = (
    np._core.multiarray.get_handler_name
    if hasattr(np, "_core")
    else (np.core.multiarray.get_handler_name)
)

# (1, 1, 1030, 1030) float64 with 4 filters of 3x3: a 33 MiB output, above the
# pool's 8 MiB threshold.
BIG = (1, 1, 1030, 1030)


def test_large_outputs_use_the_pool_and_small_ones_do_not():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 1, 3, 3))
    big = _core.correlate(rng.standard_normal(BIG), weight)
    small = _core.correlate(rng.standard_normal((1, 1, 20, 20)), weight)
    assert handler_name(big) == "gcnn_output_pool"
    assert handler_name(small) == "default_allocator"
    # the handler was set for gcnn's allocation only
    assert handler_name(np.ones(BIG)) == "default_allocator"
    assert sys.getrefcount(big) == 2


def test_reused_buffers_hold_only_new_results():
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((4, 1, 3, 3))
    for trial in range(4):
        # poison the buffer the pool will hand back next
        stale = _core.correlate(np.full(BIG, 1e300), weight)
        del stale
        x = rng.standard_normal(BIG)
        got = _core.correlate(x, weight)
        np.testing.assert_allclose(got, reference.correlate(x, weight), rtol=1e-12, atol=1e-12)


def test_different_sizes_share_the_pool_correctly():
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((4, 1, 3, 3))
    shapes = [BIG, (1, 1, 1100, 1030), BIG, (1, 1, 1030, 1100), BIG]
    results = []
    for shape in shapes:
        x = rng.standard_normal(shape)
        results.append((x, _core.correlate(x, weight)))
        if len(results) > 2:
            results.pop(0)  # free one, keep others alive
        for kept_x, kept in results:
            np.testing.assert_allclose(
                kept, reference.correlate(kept_x, weight), rtol=1e-12, atol=1e-12
            )


@pytest.mark.parametrize("workers", [4])
def test_concurrent_large_outputs(workers):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((4, 1, 3, 3))
    inputs = [rng.standard_normal(BIG) for _ in range(workers)]
    expected = [reference.correlate(x, weight) for x in inputs]

    def run(i):
        return [_core.correlate(inputs[i], weight, num_threads=1) for _ in range(3)]

    with ThreadPoolExecutor(workers) as pool:
        outputs = list(pool.map(run, range(workers)))
    for results, want in zip(outputs, expected):
        for got in results:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
