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

# (1, 1, 1030, 1030) float64 with 4 filters of 3x3: a 33 MiB output, far above the
# pool's 256 KiB threshold (csrc/output_pool.h).
BIG = (1, 1, 1030, 1030)
POOL_MIN_BYTES = 256 << 10
POOL_BUDGET_BYTES = 512 << 20


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


def test_training_sized_outputs_masks_and_indices_use_the_pool():
    """A feature map of a training step (1-6 MiB), its ReLU mask and its pooling indices."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 40, 24, 24)).astype(np.float32)  # 5.6 MiB
    out, positive = _core.relu(x)
    assert handler_name(out) == "gcnn_output_pool"
    assert handler_name(positive) == "gcnn_output_pool"  # 1.4 MiB of uint8
    pooled, index = _core.max_pool(x.reshape(64 * 40, 24, 24), (2, 2), (2, 2))
    assert handler_name(pooled) == "gcnn_output_pool"
    assert handler_name(index) == "gcnn_output_pool"
    tiny, tiny_positive = _core.relu(x[:1, :1])  # 2.3 KiB: NumPy's own allocator
    assert handler_name(tiny) == "default_allocator"
    assert handler_name(tiny_positive) == "default_allocator"
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(positive, x > 0)


def test_reused_masks_hold_only_new_values():
    rng = np.random.default_rng(5)
    for trial in range(3):
        stale = _core.relu(np.full((8, 256, 256), 1.0, np.float32))
        del stale
        x = rng.standard_normal((8, 256, 256)).astype(np.float32)
        out, positive = _core.relu(x)
        np.testing.assert_array_equal(positive, x > 0)
        np.testing.assert_array_equal(out, np.maximum(x, 0))


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_memory_the_pool_keeps_is_bounded():
    """Freed outputs of 48 different sizes of about 24 MiB (1.1 GiB in all): the pool keeps
    at most its budget (512 MiB) and gives the rest back, evicting the oldest first."""
    weight = np.ones((1, 1, 1, 1))
    x = np.zeros((1, 1, 1024, 3072))
    before = _resident_bytes()
    results = []
    for k in range(48):
        width = 3072 - 8 * k  # every size distinct: no reuse, only keeping and evicting
        out = _core.correlate(x[..., :width], weight)
        out[...] = k  # touch every page
        results.append(out)
        if len(results) > 2:
            results.pop(0)
    results.clear()
    grown = _resident_bytes() - before
    assert grown <= POOL_BUDGET_BYTES + (64 << 20), f"{grown / 2**20:.0f} MiB kept"
    # what the pool keeps is handed back: a request of a kept size is served from it
    again = _core.correlate(x[..., : 3072 - 8 * 47], weight)
    np.testing.assert_array_equal(again, 0.0)
