"""``python -m gcnn train --backend torch``: the same models, data and loop, trained with PyTorch.

The model is built exactly as the gcnn backend builds it (same seed, same initial weights) and
converted with :func:`gcnn.torch.from_numpy`; the batches come from the same seeded shuffle; the
table, the evaluation and the checkpoint (a gcnn ``checkpoint.npz``, via
:func:`gcnn.torch.to_numpy`) are :mod:`gcnn.cli.train`'s.  With ``--workers N`` the training
runs in N local processes under DistributedDataParallel (docs/design.md, §10.4 Distributed
training): every process walks the same shuffled batches and takes its contiguous shard of each,
the loss of a shard is its share of the whole batch's mean, and batch norm takes its statistics
over the whole batch (:func:`gcnn.torch.sync_batch_norm`), so N processes compute the gradients
one process computes on the whole batch.  Under ``torchrun`` the processes and the rendezvous
come from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...).
Process 0 prints and writes everything.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import ProcessException
from torch.nn import functional

from gcnn import _config
from gcnn.cli import train
from gcnn.torch import from_numpy, sync_batch_norm, to_numpy

__all__ = ["TorchClassifier", "checkpoint_predictor", "run"]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class TorchClassifier:
    """A torch module seen as :func:`gcnn.cli.train.predict` sees a gcnn model: ndarrays in,
    logits out, ``eval()``."""

    def __init__(self, module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> None:
        self.module, self.device, self.dtype = module, device, dtype

    def eval(self) -> TorchClassifier:
        self.module.eval()
        return self

    def __call__(self, images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, self.dtype)
            return self.module(x).double().cpu().numpy()


def _torchrun_rank() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when torchrun (or any env:// launcher) started us."""
    if not all(name in os.environ for name in _TORCHRUN_VARIABLES):
        return None
    rank, world, local_rank = (int(os.environ[name]) for name in _TORCHRUN_VARIABLES)
    return rank, world, local_rank


def _device(args: argparse.Namespace) -> torch.device | str:
    """The --device asked for, or why it cannot be used."""
    try:
        device = torch.device(args.device or "cpu")
    except (RuntimeError, ValueError) as error:
        return f"--device {args.device!r} is not a torch device: {error}"
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"--device {args.device}: CUDA is not available to this PyTorch {torch.__version__}"
    if args.gcnn_kernels and device.type != "cpu":
        return f"--gcnn-kernels runs gcnn's C kernels on CPU tensors, not on --device {device}"
    return device


def _dtype(args: argparse.Namespace) -> torch.dtype:
    return torch.float64 if args.dtype == "float64" else torch.float32


def checkpoint_predictor(args: argparse.Namespace, model) -> TorchClassifier | None:
    """For ``--eval`` with ``--backend torch``: the checkpoint's model in torch (None: error)."""
    device = _device(args)
    if isinstance(device, str):
        print(f"gcnn train: {device}", file=sys.stderr)
        return None
    dtype = next(model.parameters()).data.dtype
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    module = from_numpy(model, use_gcnn_kernels=args.gcnn_kernels).to(device)
    return TorchClassifier(module, device, torch_dtype)


def _threads(args: argparse.Namespace, local_processes: int) -> int:
    """Threads per process: --threads, else the usable CPUs shared among the local processes."""
    if args.threads is not None:
        return args.threads
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    return max(1, usable // local_processes)


def run(args: argparse.Namespace, data: train.Data, settings: dict) -> int:
    """Train with PyTorch: here, in ``--workers`` spawned processes, or as one of torchrun's."""
    device = _device(args)
    if isinstance(device, str):
        print(f"gcnn train: {device}", file=sys.stderr)
        return 2
    launched = _torchrun_rank()
    if launched is not None:
        if args.workers != 1:
            print(
                "gcnn train: under torchrun the processes come from torchrun; leave --workers "
                "at 1 (use torchrun's --nproc-per-node)",
                file=sys.stderr,
            )
            return 2
        rank, world, local_rank = launched
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        return _train(rank, world, local_rank, args, data, settings, _threads(args, local), None)
    threads = _threads(args, args.workers)
    if args.workers == 1:
        return _train(0, 1, 0, args, data, settings, threads, None)
    # Tensors handed to spawned processes travel through shared memory, not as pickled copies.
    tensors: dict[str, Any] = {
        name: torch.from_numpy(getattr(data, name)) for name in _DATA_ARRAYS
    }  # in place of the arrays: train.Data is typed for the arrays they share memory with
    shared = replace(data, **tensors)
    with tempfile.TemporaryDirectory(prefix="gcnn-ddp-") as folder:
        rendezvous = "file://" + os.path.join(folder, "rendezvous")
        try:
            torch.multiprocessing.spawn(
                _spawned,
                args=(args.workers, args, shared, settings, threads, rendezvous),
                nprocs=args.workers,
                join=True,
            )
        except ProcessException as error:
            print(f"gcnn train: a worker process failed: {error}", file=sys.stderr)
            return 1
    return 0


_DATA_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _spawned(rank, world, args, shared, settings, threads, rendezvous) -> None:
    """Entry point of a process started by ``torch.multiprocessing.spawn``."""
    data = replace(shared, **{name: getattr(shared, name).numpy() for name in _DATA_ARRAYS})
    status = _train(rank, world, rank, args, data, settings, threads, rendezvous)
    if status != 0:
        raise SystemExit(status)


def _make_optimizer(name: str, params, lr: float | None) -> torch.optim.Optimizer:
    """The torch twin of :func:`gcnn.cli.train._make_optimizer` (same defaults)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01 if lr is None else lr, momentum=0.9)
    return torch.optim.Adam(params, lr=1e-3 if lr is None else lr)


def _train(rank, world, local_rank, args, data, settings, threads, rendezvous) -> int:
    """Process `rank` of `world`: train, and on rank 0 print, evaluate and save."""
    torch.set_num_threads(threads)
    _config.set_num_threads(threads)
    device = _device(args)
    if isinstance(device, str):  # run() refused it before starting any process
        raise TypeError(f"not a torch device: {device}")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    started_group = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=rendezvous, rank=rank, world_size=world)
        started_group = True
    try:
        status = _fit(rank, world, device, args, data, settings, threads)
        if started_group:
            # Rank 0 evaluates and saves after training: the others wait for it here, so no
            # process tears its connections down while another still uses the group (gloo
            # then aborted a process at exit now and then).
            dist.barrier()
        return status
    finally:
        if started_group:
            dist.destroy_process_group()


def _fit(rank, world, device, args, data, settings, threads) -> int:
    dtype = _dtype(args)
    gcnn_model = train._build_model(settings)  # the gcnn backend's initial weights
    model = from_numpy(gcnn_model, use_gcnn_kernels=args.gcnn_kernels).to(device)
    trained = model
    if world > 1:
        sync_batch_norm(model)
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    optimizer = _make_optimizer(args.optimizer, trained.parameters(), args.lr)
    classifier = TorchClassifier(model, device, dtype)
    rng = np.random.default_rng(args.seed + 1)  # the same batches in every process
    lead = rank == 0
    if lead:
        parameters = sum(p.numel() for p in model.parameters())
        kernels = ", gcnn kernels" if args.gcnn_kernels else ""
        processes = f"{world} processes" if world > 1 else "1 process"
        print(
            f"{args.model}: {parameters} parameters; {data.description}; "
            f"{args.optimizer} lr {optimizer.param_groups[0]['lr']:g}, batch {args.batch_size}; "
            f"torch {torch.__version__} on {device}{kernels}, {processes}, {threads} threads each"
        )
        print(train.TABLE_HEADER)
    history = train.History()
    for epoch in range(1, args.epochs + 1):
        progress = train.Progress(
            len(data.y_train), f"epoch {epoch}/{args.epochs}", enabled=lead and not args.no_progress
        )
        start = time.perf_counter()
        try:
            train_loss, train_error = _train_epoch(
                trained, optimizer, data, args.batch_size, rng, rank, world, device, dtype, progress
            )
        finally:
            progress.close()
        seconds = time.perf_counter() - start
        if not lead:
            continue
        history.add(
            epoch=epoch,
            train_loss=train_loss,
            train_error=train_error,
            test_error=train.error_rate(classifier, data.x_test, data.y_test),
            seconds=seconds,
        )
        print(train.epoch_line(history.rows[-1], len(data.y_train)), flush=True)
    if not lead:
        return 0
    return train.report(args, classifier, to_numpy(model), data, settings, history)


def _train_epoch(model, optimizer, data, batch_size, rng, rank, world, device, dtype, progress):
    """One pass over the training set; (mean loss, training error) over all processes."""
    model.train()
    images, labels = data.x_train, data.y_train
    totals = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, wrong predictions
    for index in train.batches(len(labels), batch_size, rng):
        shard = np.array_split(index, world)[rank]
        x = torch.from_numpy(images[shard]).to(device, dtype)
        y = torch.from_numpy(labels[shard]).to(device)
        logits = model(x)
        shard_loss = functional.cross_entropy(logits, y, reduction="sum")
        # DDP averages the processes' gradients: scaled so, the shards' losses add up to the
        # mean over the whole batch, whatever the shards' sizes.
        loss = shard_loss * (world / len(index))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            totals[0] += shard_loss.detach().double()
            totals[1] += (logits.argmax(dim=1) != y).sum()
        if progress.enabled:
            progress.update(len(index), shard_loss.item() / max(len(shard), 1))
    if world > 1:
        dist.all_reduce(totals)
    loss_sum, wrong = totals.tolist()
    return loss_sum / len(labels), wrong / len(labels)
