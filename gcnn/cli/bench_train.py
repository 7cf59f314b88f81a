"""Benchmark rows for whole training steps: gcnn against PyTorch autograd on the same network.

The PyTorch side is what GrouPy- and e2cnn-style layers run: each group convolution gathers its
expanded filter from the compact weight on every forward (so autograd folds the gradient back),
then calls ``torch.nn.functional.conv2d``.  Both sides start from the same weights and take one
step of Adam on the same batch: forward, cross-entropy, backward, update.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np

from .. import models, nn, optim

__all__ = ["peak_step_memory", "torch_twin", "training_cases"]

#: (model name, batch, side) of the training-step rows.
TRAINING_SHAPES = (("p4cnn", 64, 28), ("p4mcnn", 64, 28))


def torch_twin(model: nn.Sequential):
    """A ``torch.nn.Module`` computing what the gcnn `model` computes, with its current weights.

    :func:`gcnn.torch.from_numpy`: each group convolution gathers its expanded filter from the
    compact weight on every forward and calls ``torch.nn.functional.conv2d``; the batch norms
    are ``torch.nn.BatchNorm2d``/``BatchNorm3d``.
    """
    from gcnn.torch import from_numpy

    return from_numpy(model)


def _batch(batch: int, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.random((batch, 1, side, side), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    return images, labels


def gcnn_step(name: str, batch: int, side: int):
    """A closure taking one gcnn training step of model `name`; returns (step, model)."""
    model = getattr(models, name)(rng=0)
    images, labels = _batch(batch, side)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters())

    def step() -> np.ndarray:
        model.train()
        logits = model(images)
        loss_fn(logits, labels)
        optimizer.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step()
        return logits

    return step, model


def training_cases(threads: int = 2) -> list:
    """Rows timing a whole training step of each model in TRAINING_SHAPES, gcnn vs PyTorch."""
    from .bench import Case

    try:
        import torch
    except ImportError:
        return []
    torch.set_num_threads(threads)
    cases = []
    for name, batch, side in TRAINING_SHAPES:
        run_gcnn, model = gcnn_step(name, batch, side)
        twin = torch_twin(model)  # the same initial weights
        images, labels = _batch(batch, side)
        images_t, labels_t = torch.from_numpy(images), torch.from_numpy(labels)
        optimizer = torch.optim.Adam(twin.parameters())

        def run_torch(twin=twin, optimizer=optimizer, images_t=images_t, labels_t=labels_t) -> Any:
            twin.train()
            logits = twin(images_t)
            loss = torch.nn.functional.cross_entropy(logits, labels_t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return logits.detach()

        flops = 3 * _forward_flops(model, images)
        # the first step of each starts from the same weights: its logits must agree
        first = (run_gcnn(), run_torch())
        cases.append(
            Case(
                label=f"train step {name} N={batch} {side}x{side} (adam)",
                dtype="float32",
                run_gcnn=run_gcnn,
                run_peer=run_torch,
                flops=flops,
                to_comparable=lambda result: result.numpy(),
                first_results=first,
            )
        )
    return cases


def _forward_flops(model: nn.Sequential, images: np.ndarray) -> float:
    """Multiply-adds x 2 of the convolutions of one forward pass (backward: about twice)."""
    flops = 0.0
    x = images
    for layer in model:
        out = layer.eval()(x) if hasattr(layer, "eval") else layer(x)
        if isinstance(layer, (nn.Conv2d, nn.LiftingConv, nn.GroupConv)):
            fan_in = layer.weight[0].size
            flops += 2.0 * out.size * fan_in
        x = out
    model.train()
    return flops


def peak_step_memory(
    name: str, batch: int, side: int, library: str = "gcnn", threads: int = 2
) -> float:
    """Peak resident memory (MiB) a training step adds to a fresh process, measured there.

    A child process builds the model and the batch, notes its resident high-water mark, takes
    three steps, and reports how far the mark rose: the memory a step needs at most
    (activations kept for backward, gradients, scratch), beyond the model and the interpreter.
    The mark is Linux's VmHWM (``ru_maxrss`` elsewhere, which Linux carries over from the
    parent process, so it would hide the child's own peak).
    """
    code = f"""
import gcnn
from gcnn.cli import bench_train
gcnn.set_num_threads({threads})
step = bench_train._step_for({library!r}, {name!r}, {batch}, {side}, {threads})
before = bench_train._high_water_kib()
for _ in range(3):
    step()
print((bench_train._high_water_kib() - before) / 1024)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def _high_water_kib() -> float:
    """This process's peak resident memory so far, in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _step_for(library: str, name: str, batch: int, side: int, threads: int = 2):
    """The step closure of one library (used by peak_step_memory's child process)."""
    step, model = gcnn_step(name, batch, side)
    if library == "gcnn":
        return step
    import torch

    torch.set_num_threads(threads)
    twin = torch_twin(model)
    images, labels = _batch(batch, side)
    images_t, labels_t = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer = torch.optim.Adam(twin.parameters())

    def torch_step() -> None:
        logits = twin(images_t)
        loss = torch.nn.functional.cross_entropy(logits, labels_t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return torch_step


# --------------------------------------------------------------------------- four ways


#: The ways of taking a training step that :func:`scaling_table` times, in its column order.
STEP_WAYS = ("gcnn", "gcnn.torch", "gcnn.torch + C", "plain PyTorch")


def _plain_twin(module):
    """The same network with ordinary parameters: each group convolution becomes a conv2d whose
    weight IS the expanded filter (|G| times more parameters, no gather, no fold), the cost of a
    plain CNN with the same tensor sizes."""
    import torch
    from torch.nn import functional

    from gcnn.torch import GroupConv, LiftingConv

    class PlainConvolution(torch.nn.Module):
        def __init__(self, conv) -> None:
            super().__init__()
            order = conv.group.order
            self.weight = torch.nn.Parameter(conv.expanded_weight().detach().clone())
            self.bias = torch.nn.Parameter(conv.bias.detach().repeat_interleave(order).clone())
            self.stride, self.padding, self.order = conv.stride, conv._padding_pair, order
            self.out_channels = conv.out_channels

        def forward(self, x):
            rows = x.reshape(x.shape[0], -1, *x.shape[-2:])
            out = functional.conv2d(rows, self.weight, self.bias, self.stride, self.padding)
            return out.reshape(out.shape[0], self.out_channels, self.order, *out.shape[-2:])

    layers = [
        PlainConvolution(layer) if isinstance(layer, (LiftingConv, GroupConv)) else layer
        for layer in module
    ]
    return torch.nn.Sequential(*layers)


def step_ways(name: str, batch: int, side: int, threads: int = 2) -> dict:
    """One training-step closure (Adam, float32, the same weights and batch) per way of
    :data:`STEP_WAYS`."""
    import torch

    import gcnn
    from gcnn.torch import from_numpy

    torch.set_num_threads(threads)
    gcnn.set_num_threads(threads)
    steps = {"gcnn": gcnn_step(name, batch, side)[0]}
    images, labels = (torch.from_numpy(a) for a in _batch(batch, side))
    for way in STEP_WAYS[1:]:
        module = from_numpy(getattr(models, name)(rng=0), use_gcnn_kernels=way.endswith("C"))
        if way == "plain PyTorch":
            module = _plain_twin(module)
        optimizer = torch.optim.Adam(module.parameters())

        def step(module=module, optimizer=optimizer) -> None:
            loss = torch.nn.functional.cross_entropy(module(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        steps[way] = step
    return steps


def scaling_table(
    shapes=TRAINING_SHAPES, threads: int = 2, rounds: int = 5, steps_per_round: int = 3
) -> list[str]:
    """Markdown rows: the median milliseconds of a training step, each way, per model.

    The ways take turns, `steps_per_round` steps each, for `rounds` rounds (a shared machine
    drifts; alternating spreads the drift over every way); each way's first step is not timed.
    """
    import time

    lines = [
        "| model, batch | " + " | ".join(f"{way} ms" for way in STEP_WAYS) + " |",
        "|---|" + "---:|" * len(STEP_WAYS),
    ]
    for name, batch, side in shapes:
        steps = step_ways(name, batch, side, threads)
        samples: dict[str, list[float]] = {way: [] for way in steps}
        for step in steps.values():
            step()
        for _ in range(rounds):
            for way, step in steps.items():
                for _ in range(steps_per_round):
                    start = time.perf_counter()
                    step()
                    samples[way].append(time.perf_counter() - start)
        medians = [1e3 * float(np.median(samples[way])) for way in STEP_WAYS]
        cells = [f"{value:.0f}" for value in medians]
        lines.append(f"| {name}, {batch} x {side}x{side} | " + " | ".join(cells) + " |")
    return lines
