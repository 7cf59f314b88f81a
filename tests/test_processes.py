"""gcnn in real programs: fork after threaded calls, multiprocessing, thread counts, Ctrl-C.

Each case runs in a child Python process with a timeout, so a hang fails the test instead of
the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gcnn
from gcnn import _config

TIMEOUT = 120
# The directory holding the gcnn under test: a child run from a script elsewhere (its own
# directory first on sys.path) must import this gcnn, not whichever one is installed, if any.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(gcnn.__file__)))


def run_child(code: str, env: dict | None = None, path=None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (from a file at `path` when given: spawned workers
    of multiprocessing import the main module by its file)."""
    code = textwrap.dedent(code)
    search_path = os.pathsep.join(
        [PACKAGE_PARENT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    if path is not None:
        path.write_text(code)
    return subprocess.run(
        [sys.executable, str(path)] if path is not None else [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": search_path, **(env or {})},
        check=False,
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_threaded_calls():
    result = run_child(
        """
        import os
        import numpy as np
        import gcnn
        gcnn.set_num_threads(2)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((1, 2, 400, 400))
        w = rng.standard_normal((4, 2, 5, 5))
        expected = gcnn.lift(x, w)          # large enough to run on two threads
        pid = os.fork()
        if pid == 0:
            ok = all(np.array_equal(gcnn.lift(x, w), expected) for _ in range(3))
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0, status
        assert np.array_equal(gcnn.lift(x, w), expected)  # the parent's pool still works
        print("ok")
        """
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_start_methods(method, tmp_path):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    result = run_child(
        f"""
        import multiprocessing
        import numpy as np
        import gcnn

        def work(seed):
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((2, 3, 200, 200))
            w = rng.standard_normal((4, 3, 3, 3))
            return gcnn.lift(x, w).sum()

        if __name__ == "__main__":
            gcnn.set_num_threads(2)
            work(0)                              # threads started before the workers
            expected = [work(seed) for seed in range(4)]
            with multiprocessing.get_context({method!r}).Pool(2) as pool:
                got = pool.map(work, range(4))
            assert got == expected, (got, expected)
            print("ok")
        """,
        path=tmp_path / "main.py",
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, "n must be from 1 to 256"),
        (257, ValueError, "n must be from 1 to 256"),
        (65536, ValueError, "got 65536"),
        (2**31, ValueError, "got 2147483648"),
        (2**64, ValueError, "got 18446744073709551616"),
        (True, TypeError, "n must be an integer"),
        (2.0, TypeError, "n must be an integer"),
    ],
)
def test_thread_counts_are_checked(value, error, match):
    before = gcnn.get_num_threads()
    with pytest.raises(error, match=match):
        gcnn.set_num_threads(value)
    assert gcnn.get_num_threads() == before  # a refused value changes nothing


def test_the_largest_team_computes_the_same_numbers():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 96, 96))
    w = rng.standard_normal((5, 3, 5, 5))
    previous = gcnn.set_num_threads(1)
    try:
        expected = gcnn.lift(x, w)
        gcnn.set_num_threads(_config.MAX_THREADS)
        np.testing.assert_array_equal(gcnn.lift(x, w), expected)
        out = gcnn.lift(x, w)
        g = np.ones_like(out)
        one = gcnn.lift_backward(g, x, w)
        gcnn.set_num_threads(1)
        for a, b in zip(one, gcnn.lift_backward(g, x, w)):
            np.testing.assert_array_equal(a, b)
    finally:
        gcnn.set_num_threads(previous)


@pytest.mark.parametrize("value", ["0", "-3", "lots", "70000", "99999999999999999999"])
def test_bad_thread_environment_is_ignored_with_a_warning(value):
    result = run_child(
        """
        import warnings
        warnings.simplefilter("always")
        import gcnn
        print(gcnn.get_num_threads())
        """,
        env={"GCNN_NUM_THREADS": value},
    )
    assert result.returncode == 0, result.stderr
    assert f"gcnn ignores GCNN_NUM_THREADS={value!r}" in result.stderr
    assert 1 <= int(result.stdout) <= _config.MAX_THREADS


def test_good_thread_environment_is_used():
    result = run_child("import gcnn; print(gcnn.get_num_threads())", env={"OMP_NUM_THREADS": "3,2"})
    assert result.returncode == 0 and result.stdout.strip() == "3", result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGINT delivery to a child")
@pytest.mark.parametrize("call", ["forward", "weight gradient"])
def test_ctrl_c_interrupts_a_long_call(call):
    """A SIGINT during a call of many seconds raises KeyboardInterrupt at once; the next works."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                import numpy as np
                import gcnn
                rng = np.random.default_rng(0)
                x = rng.standard_normal((64, 16, 256, 256)).astype(np.float32)
                w = rng.standard_normal((32, 16, 7, 7)).astype(np.float32)
                g = rng.standard_normal((64, 32, 250, 250)).astype(np.float32)
                small = gcnn.conv2d(x[:1, :, :32, :32], w)
                print("start", flush=True)
                start = time.perf_counter()
                try:
                    if {call!r} == "forward":
                        gcnn.conv2d(x, w)        # about 50 GFLOP: many seconds
                    else:
                        gcnn.conv2d_backward(g, x, w)
                    print("finished", time.perf_counter() - start, flush=True)
                except KeyboardInterrupt:
                    print("interrupted", time.perf_counter() - start, flush=True)
                    again = gcnn.conv2d(x[:1, :, :32, :32], w)
                    print("next call", np.array_equal(again, small), flush=True)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "start"
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=TIMEOUT)
    finally:
        child.kill()
    lines = out.splitlines()
    assert lines[0].startswith("interrupted"), (out, err)
    # interrupted within a fraction of a second of the signal, not at the end of the call
    assert float(lines[0].split()[1]) < 3.0, out
    assert lines[1] == "next call True", out
