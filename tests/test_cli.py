"""The command line (``python -m gcnn``)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gcnn.datasets import make_demo_image

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None


def run_gcnn(
    *arguments: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m gcnn ARGUMENTS`` with this interpreter and the package under test."""
    environment = dict(os.environ)
    # The package under test must win over any installed copy, whatever the cwd.
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    environment["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-m", "gcnn", *arguments],
        cwd=str(cwd or REPO_ROOT),
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_success(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, (
        f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def assert_rotation_table(output: str) -> None:
    for quarter_turns in range(4):
        assert re.search(rf"r={quarter_turns} \(\s*{90 * quarter_turns} deg\).*\byes\b", output), (
            f"no passing row for rotation r={quarter_turns} in:\n{output}"
        )
    assert "NO" not in output.split("Timing")[0]


# --------------------------------------------------------------------------- CLI


def test_help() -> None:
    result = run_gcnn("--help")
    assert_success(result)
    assert "demo" in result.stdout and "bench" in result.stdout
    for command in ("demo", "bench"):
        sub = run_gcnn(command, "--help")
        assert_success(sub)
        assert "usage: python -m gcnn " + command in sub.stdout
    assert "--kernel-size" in run_gcnn("demo", "--help").stdout
    assert "--quick" in run_gcnn("bench", "--help").stdout
    assert "--training" in run_gcnn("bench", "--help").stdout


def test_demo_no_plot(tmp_path: Path) -> None:
    result = run_gcnn("demo", "--no-plot", cwd=tmp_path)
    assert_success(result)
    assert_rotation_table(result.stdout)
    assert "+r" in result.stdout
    assert "holds?" in result.stdout
    assert not (tmp_path / "gcnn_demo.png").exists()


def test_demo_writes_png(tmp_path: Path) -> None:
    if not HAVE_MATPLOTLIB:
        pytest.skip("matplotlib is not installed")
    output = tmp_path / "tmp.png"
    result = run_gcnn("demo", "--output", str(output), cwd=tmp_path)
    assert_success(result)
    assert_rotation_table(result.stdout)
    assert output.read_bytes()[:8] == PNG_SIGNATURE


def test_demo_without_matplotlib_says_how_to_get_the_figure(tmp_path: Path) -> None:
    # A package named matplotlib that fails to import stands in for a missing one.
    blocker = tmp_path / "block"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text("raise ImportError('blocked')\n")
    environment_path = os.pathsep.join([str(blocker), str(REPO_ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "gcnn", "demo"],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": environment_path},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_success(result)
    assert "python -m pip install matplotlib" in result.stdout


def test_demo_cites_the_design_page_even_on_an_ascii_terminal(tmp_path: Path) -> None:
    """The printout cites docs/design.md with a section sign; ASCII-only stdout spells it out."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONIOENCODING": "ascii"}
    result = subprocess.run(
        [sys.executable, "-m", "gcnn", "demo", "--no-plot"],
        cwd=str(tmp_path),
        env=environment,
        check=False,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode("ascii", "replace")
    text = " ".join(result.stdout.decode("ascii").split())
    assert "(docs/design.md, section 2.4 Action on feature maps)" in text


def test_demo_image_option_crops_and_even_kernel_fails(tmp_path: Path) -> None:
    wide = np.hstack([make_demo_image(48), np.zeros((48, 10))])
    np.save(tmp_path / "wide.npy", wide)
    result = run_gcnn("demo", "--no-plot", "--image", str(tmp_path / "wide.npy"), cwd=tmp_path)
    assert_success(result)
    assert "cropped" in result.stdout
    even = run_gcnn("demo", "--no-plot", "--kernel-size", "4", cwd=tmp_path)
    assert even.returncode == 1
    assert "even" in even.stdout


def test_demo_rejects_unreadable_image(tmp_path: Path) -> None:
    np.save(tmp_path / "cube.npy", np.zeros((3, 4, 5)))
    result = run_gcnn("demo", "--no-plot", "--image", str(tmp_path / "cube.npy"), cwd=tmp_path)
    assert result.returncode == 2
    assert "shape (3, 4, 5)" in result.stderr


def test_bench_quick() -> None:
    result = run_gcnn("bench", "--quick", "--sizes", "64", "--kernels", "3")
    assert_success(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("machine: ")
    rows = [
        line
        for line in lines
        if re.match(r"(lift_correlation|p4_group_convolution) s=64 k=3", line)
    ]
    assert len(rows) == 4, result.stdout  # two functions x two dtypes
    if HAVE_SCIPY:
        assert all(re.search(r"\d+\.\d+x", row) and row.rstrip().endswith("ok") for row in rows), (
            result.stdout
        )
    if importlib.util.find_spec("torch") is not None:
        steps = [line for line in lines if line.startswith("train step ")]
        assert len(steps) == 2, result.stdout  # P4CNN and P4MCNN
        assert all(row.rstrip().endswith("ok") for row in steps), result.stdout
        assert re.search(r"p4cnn N=64 28x28: gcnn \d+ MiB, torch \d+ MiB", result.stdout)
        # every layer shape has a forward + backward row, checked against autograd
        both = [line for line in lines if " fwd+bwd " in line]
        assert len(both) == 5, result.stdout
        assert all(row.rstrip().endswith("ok") for row in both), result.stdout


def test_bench_rejects_bad_arguments() -> None:
    result = run_gcnn("bench", "--sizes", "0")
    assert result.returncode == 2
    assert "--sizes" in result.stderr
    result = run_gcnn("bench", "--dtypes", "float16")
    assert result.returncode == 2


def test_the_tools_stay_out_of_the_library_namespace() -> None:
    # `import gcnn` loads none of the command-line tools; `python -m gcnn` is a dispatcher.
    code = (
        "import sys, gcnn\n"
        "print(sorted(m for m in sys.modules if m.startswith('gcnn.cli') or m == 'gcnn.__main__'))\n"
        "print(hasattr(gcnn, 'cli'))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "False"]
    main_source = (REPO_ROOT / "gcnn" / "__main__.py").read_text(encoding="utf-8")
    assert len(main_source.splitlines()) < 20 and "from .cli.main import" in main_source
    assert not (REPO_ROOT / "gcnn" / "_demo.py").exists()
    assert not (REPO_ROOT / "gcnn" / "_bench.py").exists()


def test_spinning_processes_are_stopped():
    from gcnn.cli import bench_busy

    with bench_busy.spinning_processes(2) as processes:
        assert all(process.poll() is None for process in processes)  # spinning
    assert all(process.poll() is not None for process in processes)  # stopped and reaped


def test_busy_machine_row_reports_the_ratio_to_one_thread():
    import gcnn
    from gcnn.cli import bench_busy

    before = gcnn.get_num_threads()
    lines = bench_busy.busy_machine_lines(threads=2, budget_seconds=0.05)
    assert gcnn.get_num_threads() == before  # the row leaves the thread count as it was
    assert len(lines) == 3 and "2 threads / 1 thread =" in lines[2]
    ratio = float(lines[2].split("2 threads / 1 thread = ")[1].split(",")[0])
    assert ratio > 0
