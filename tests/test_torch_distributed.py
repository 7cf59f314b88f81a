"""Do N processes train what one process trains on the whole batch?

docs/design.md, §10.4 Distributed training, on this machine with gloo: batch norm synchronised
across two processes computes the whole batch's output, gradients and running statistics; a
2-process DistributedDataParallel run of ``python -m gcnn train --backend torch`` ends with the
weights of a 1-process run (float64, uneven and empty shards included); and torchrun launches
the same command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gcnn.__main__ import main

torch = pytest.importorskip("torch")
gt = pytest.importorskip("gcnn.torch")
pytest.importorskip("sklearn")  # the bundled digits

REPO_ROOT = Path(__file__).resolve().parents[1]
SHAPE = (5, 3, 4, 3, 3)  # 5 images: shards of 3 and 2


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(*SHAPE, dtype=torch.float64, generator=generator) * 2 + 1
    grad_out = torch.randn(*SHAPE, dtype=torch.float64, generator=generator)
    return x, grad_out


def norm_on(x: torch.Tensor, grad_out: torch.Tensor) -> dict:
    """Two training steps of a GroupBatchNorm; what came out and what it kept."""
    norm = gt.sync_batch_norm(gt.GroupBatchNorm(3, dtype=torch.float64))  # no-op in 1 process
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
    x = x.clone().requires_grad_(True)
    for _ in range(2):
        out = norm(x)
    (out * grad_out).sum().backward()
    return {
        "out": out.detach(),
        "grad_x": x.grad,
        "grad_weight": norm.weight.grad,
        "grad_bias": norm.bias.grad,
        **{name: value for name, value in norm.state_dict().items()},
    }


def _synchronized_shard(rank: int, world: int, rendezvous: str, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=world)
    try:
        x, grad_out = batch()
        shard = np.array_split(np.arange(SHAPE[0]), world)[rank]
        computed = norm_on(x[shard], grad_out[shard])
        # DDP would average the parameter gradients: their sum over processes is the batch's
        for name in ("grad_weight", "grad_bias"):
            dist.all_reduce(computed[name])
        results.put((rank, {name: value.numpy() for name, value in computed.items()}))
    finally:
        dist.destroy_process_group()


def test_synchronised_batch_norm_is_the_whole_batch_s(tmp_path):
    context = torch.multiprocessing.get_context("spawn")
    results = context.SimpleQueue()
    torch.multiprocessing.spawn(
        _synchronized_shard,
        args=(2, f"file://{tmp_path / 'rendezvous'}", results),
        nprocs=2,
    )
    shards = dict(results.get() for _ in range(2))
    whole = {name: value.numpy() for name, value in norm_on(*batch()).items()}
    for name in ("out", "grad_x"):
        np.testing.assert_allclose(
            np.concatenate([shards[0][name], shards[1][name]]), whole[name], rtol=1e-12
        )
    for name in ("grad_weight", "grad_bias", "running_mean", "running_var", "num_batches_tracked"):
        for rank in (0, 1):
            np.testing.assert_allclose(shards[rank][name], whole[name], rtol=1e-12, err_msg=name)


def test_without_a_process_group_nothing_changes():
    x, _ = batch()
    plain = gt.GroupBatchNorm(3, dtype=torch.float64)
    synchronized = gt.sync_batch_norm(
        torch.nn.Sequential(gt.GroupBatchNorm(3, dtype=torch.float64))
    )
    assert synchronized[0].synchronized and not plain.synchronized
    torch.testing.assert_close(synchronized(x), plain(x), rtol=0, atol=0)


# --------------------------------------------------------------------------- the command line

# 101 images in batches of 50: the last batch holds 1 image, so one process gets none.
TRAIN = ["train", "--backend", "torch", "--model", "p4cnn", "--channels", "2", "--data", "digits"]
TRAIN += ["--train-size", "101", "--batch-size", "50", "--epochs", "2", "--dtype", "float64"]
TRAIN += ["--seed", "4", "--no-progress", "--threads", "1"]  # small steps: one thread each


def checkpoint_state(folder: Path) -> dict:
    with np.load(folder / "checkpoint.npz") as stored:
        return {name: stored[name] for name in stored.files if name.startswith("state.")}


def assert_same_weights(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for name, value in ours.items():
        # np.allclose's tolerances: a bias before batch norm has a zero gradient up to rounding,
        # which Adam's normalisation magnifies to about 1e-10
        np.testing.assert_allclose(value, theirs[name], rtol=1e-5, atol=1e-8, err_msg=name)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("one")
    assert main([*TRAIN, "--out", str(folder)]) == 0
    return folder


def test_two_processes_train_what_one_process_trains(one_process, tmp_path, capfd):
    status = main([*TRAIN, "--workers", "2", "--out", str(tmp_path)])
    out = capfd.readouterr().out.strip().splitlines()
    assert status == 0
    assert "2 processes" in out[0]
    assert re.match(r"^test error: \d+\.\d\d%$", out[-1]), out[-1]
    assert_same_weights(checkpoint_state(tmp_path), checkpoint_state(one_process))


def test_torchrun_launches_the_same_command(one_process, tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "gcnn", *TRAIN, "--out", str(tmp_path)]
    result = subprocess.run(
        command,
        check=False,
        cwd=str(tmp_path),
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert "2 processes" in lines[0] and lines[-1].startswith("test error: ")
    assert sum(line.startswith("test error: ") for line in lines) == 1  # process 0 reports
    assert_same_weights(checkpoint_state(tmp_path), checkpoint_state(one_process))
