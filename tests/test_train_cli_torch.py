"""Does ``python -m gcnn train --backend torch`` train what the gcnn backend trains?

docs/design.md, §10.4 Distributed training: the same initial weights and batches give, in
float64, the same weights and the same report as the gcnn backend, with or without gcnn's
kernels; checkpoints are shared; options that need PyTorch are refused by the gcnn backend.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from gcnn.__main__ import main

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")  # the bundled digits

TRAIN = ["train", "--model", "p4mcnn", "--channels", "2", "--data", "digits", "--train-size"]
TRAIN += ["70", "--batch-size", "32", "--epochs", "2", "--dtype", "float64", "--seed", "1"]
TRAIN += ["--no-progress", "--threads", "1", "--rotate-test", "quarter"]
ERROR_LINE = re.compile(r"^test error: \d+\.\d\d%( \d+\.\d\d%){3}$")


def run(capsys, *argv) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.strip().splitlines(), captured.err


def state(folder) -> dict:
    with np.load(folder / "checkpoint.npz") as stored:
        return {name: stored[name] for name in stored.files if name.startswith("state.")}


@pytest.fixture(scope="module")
def gcnn_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gcnn")
    status = main([*TRAIN, "--out", str(folder)])
    assert status == 0
    return folder


@pytest.mark.parametrize("kernels", [[], ["--gcnn-kernels"]])
def test_torch_backend_trains_what_the_gcnn_backend_trains(gcnn_run, tmp_path, capsys, kernels):
    capsys.readouterr()
    status, lines, _ = run(capsys, *TRAIN, "--backend", "torch", *kernels, "--out", str(tmp_path))
    assert status == 0
    assert "torch" in lines[0] and "1 process" in lines[0]
    assert ("gcnn kernels" in lines[0]) == bool(kernels)
    assert ERROR_LINE.match(lines[-1]), lines[-1]
    ours, theirs = state(tmp_path), state(gcnn_run)
    assert list(ours) == list(theirs)
    for name, value in theirs.items():  # Adam magnifies rounding in near-zero gradients
        np.testing.assert_allclose(ours[name], value, rtol=1e-5, atol=1e-8, err_msg=name)
    # the checkpoint is gcnn's: --eval gives one report whichever backend reads it
    reports = []
    for backend in ("gcnn", "torch"):
        status, lines, _ = run(
            capsys, "train", "--eval", str(tmp_path / "checkpoint.npz"), "--data", "digits",
            "--seed", "1", "--rotate-test", "quarter", "--backend", backend,
        )  # fmt: skip
        assert status == 0
        reports.append(lines[-1])
    assert reports[0] == reports[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "2"], "--workers needs --backend torch"),
        (["--device", "cpu", "--gcnn-kernels"], "--device, --gcnn-kernels need --backend torch"),
        (["--backend", "torch", "--device", "nowhere"], "is not a torch device"),
        (["--backend", "torch", "--device", "meta", "--gcnn-kernels"], "runs gcnn's C kernels on"),
    ],
)
def test_options_that_cannot_work_are_refused(argv, message, capsys):
    status, _, err = run(capsys, "train", "--no-progress", *argv)
    assert status == 2
    assert message in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused(capsys):
    status, _, err = run(capsys, "train", "--backend", "torch", "--device", "cuda")
    assert status == 2
    assert "CUDA is not available" in err


def test_workers_are_refused_under_torchrun(monkeypatch, capsys):
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)
    status, _, err = run(
        capsys, "train", "--backend", "torch", "--workers", "2", "--train-size", "10",
        "--epochs", "1", "--no-progress",
    )  # fmt: skip
    assert status == 2
    assert "under torchrun the processes come from torchrun" in err
