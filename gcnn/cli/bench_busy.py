"""The busy-machine row: is a multi-threaded gcnn call calm when the CPUs are busy?

A call split over a team of threads finishes when its slowest member does. On a machine whose
cores are taken by other processes, a member that the scheduler has set aside can hold the
call for a whole time slice. gcnn's pool lets the calling thread take over work that a member
has not started (docs/design.md, §5.4 Threads), so a busy machine should cost a 2-thread call no
more than it costs a 1-thread call.

The row starts one spinning process per usable CPU, then times the same group convolution
with 1 thread and with ``threads`` threads in alternating rounds, and prints the ratio
``time with threads / time with 1 thread``. The goal is at most 1.5. The same call without the
spinners is timed first, for scale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .bench import time_side_by_side

__all__ = ["busy_machine_lines", "spinning_processes"]

#: The layer timed by the row: (batch, C_in, C_out, side, kernel) of a p4 group convolution,
#: the commonest layer of a G-CNN (the 3x3 row of the layer table).
BUSY_SHAPE = (64, 10, 10, 28, 3)
#: The goal of the row: time with several threads / time with one thread, on a busy machine.
BUSY_GOAL = 1.5

_SPIN = "while True:\n    pass\n"


@contextmanager
def spinning_processes(count: int) -> Iterator[list[subprocess.Popen]]:
    """Start `count` Python processes that spin on a CPU each; stop them on exit."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SPIN],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        time.sleep(0.3)  # let them reach their loops before anything is timed
        yield processes
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def _alternate(
    first: Callable[[], Any], second: Callable[[], Any], budget_seconds: float
) -> tuple[float, float]:
    one, other = time_side_by_side(first, second, budget_seconds, rounds=4)
    return one.seconds, other.seconds


def busy_machine_lines(threads: int = 2, budget_seconds: float = 1.0) -> list[str]:
    """Time the busy-machine row; return the lines to print.

    Parameters
    ----------
    threads : int
        The team size compared with one thread.
    budget_seconds : float
        Time to spend on each side of each comparison (quiet and busy).
    """
    import gcnn

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    usable = usable or 1
    batch, in_channels, out_channels, side, kernel = BUSY_SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, in_channels, 4, side, side)).astype(np.float32)
    weight = rng.standard_normal((out_channels, in_channels, 4, kernel, kernel)).astype(np.float32)
    previous = gcnn.get_num_threads()

    def with_threads(count: int) -> Callable[[], Any]:
        def run() -> Any:
            gcnn.set_num_threads(count)
            return gcnn.group_conv(x, weight, padding="same")

        return run

    one, team = with_threads(1), with_threads(threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        quiet_one, quiet_team = _alternate(one, team, budget_seconds)
        with spinning_processes(usable):
            busy_one, busy_team = _alternate(one, team, budget_seconds)
    finally:
        gcnn.set_num_threads(previous)
    ratio = busy_team / busy_one
    verdict = "met" if ratio <= BUSY_GOAL else "NOT met"
    label = (
        f"group_conv p4 N={batch} {in_channels}->{out_channels} {side}x{side} k={kernel} float32"
    )
    header = (
        f"Busy machine: {label}, {threads} threads vs 1, with {usable} spinning processes "
        f"on {usable} usable CPUs (median ms, the two counts take turns)"
    )
    as_found = (
        f"  as found (1-minute load {load:.2f}): 1 thread {quiet_one * 1e3:.2f}, "
        f"{threads} threads {quiet_team * 1e3:.2f} (speed-up {quiet_one / quiet_team:.2f}x)"
    )
    busy = (
        f"  with the spinners: 1 thread {busy_one * 1e3:.2f}, {threads} threads "
        f"{busy_team * 1e3:.2f} (ratio {threads} threads / 1 thread = {ratio:.2f}, "
        f"goal <= {BUSY_GOAL}: {verdict})"
    )
    return [header, as_found, busy]
