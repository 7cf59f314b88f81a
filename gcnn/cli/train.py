"""``python -m gcnn train``: train Cohen & Welling's networks on real images, in NumPy and C.

The loop is the one a PyTorch user writes (forward, loss, ``zero_grad``, backward, ``step``),
on :mod:`gcnn.nn` layers, :mod:`gcnn.optim` and :mod:`gcnn.datasets`.  It prints a progress bar
during each epoch, a table of epochs, and as its last line ``test error: E`` (or, with
``--rotate-test quarter``, one error per quarter turn of the test set); under ``--out`` it writes
the checkpoint (``checkpoint.npz``, loadable without pickle) and the learning curves
(``learning_curve.png``, with matplotlib installed).

``--backend torch`` trains the same models, from the same initial weights and batches, with
PyTorch (:mod:`gcnn.cli.train_torch`); data loading, the table, evaluation and the checkpoint
are shared, and the gcnn backend's behaviour and output do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .. import _config, datasets, models, nn, optim

__all__ = ["add_parser", "run"]

MODELS = {
    "z2cnn": models.z2cnn,
    "p4cnn": models.p4cnn,
    "p4mcnn": models.p4mcnn,
    "c8cnn": models.c8cnn,
    "c16cnn": models.c16cnn,
    "d8cnn": models.d8cnn,
}
#: Share of scikit-learn's 1,797 digits held out for testing (a seeded split).
DIGITS_TEST_SHARE = 0.25
QUARTER_TURNS = (0, 90, 180, 270)

_DESCRIPTION = """\
Train a rotated-MNIST network of Cohen & Welling (ICML 2016) on real images with gcnn alone:
z2cnn (a planar CNN, 20 channels), p4cnn (p4 group convolutions, 10 channels) or p4mcnn
(p4m, 7 channels), each 7 layers of 3x3 convolutions (the last 4x4) with batch norm, ReLU
and a 2x2 max pool after layer 2; and the same network on finer groups with steerable
filters at about the same parameter count: c8cnn (turns by 45 degrees, 11 channels), c16cnn
(22.5 degrees, 8 channels) and d8cnn (45 degrees and mirrors, 8 channels).

Data: scikit-learn's bundled 8x8 digits (digits; a seeded 75/25 split) or Fashion-MNIST
from local IDX files (fashion-mnist; --data-dir, $GCNN_DATA or
/usr/share/datasets/fashion-mnist, where Debian's dataset-fashion-mnist puts them).
--rotate-train random turns every training image once by a random angle (bilinear), as in
the MNIST-rot protocol; --rotate-test random does the same to the test images, and
--rotate-test quarter reports the error at 0, 90, 180 and 270 degrees (exact turns).

The last line printed is `test error: E` (percent), or with --rotate-test quarter
`test error: E0 E90 E180 E270`. With --out DIR: DIR/checkpoint.npz (model and the
settings to rebuild it) and DIR/learning_curve.png (needs matplotlib).

--backend torch trains the same model from the same initial weights and batches with
PyTorch (gcnn.torch; needs the torch extra) on --device, optionally with gcnn's C kernels
for the convolutions (--gcnn-kernels, CPU). --workers N runs DistributedDataParallel over
N local processes (gloo on CPU, NCCL on CUDA), each taking its shard of every batch, with
batch statistics over the whole batch, so N processes train what one process trains.
Under torchrun the processes come from torchrun instead (leave --workers at 1)."""

_EPILOG = """\
examples:
  python -m gcnn train --model p4cnn --data digits --epochs 5
  python -m gcnn train --model z2cnn --data fashion-mnist --rotate-test quarter --out runs/z2
  python -m gcnn train --model p4cnn --data fashion-mnist --train-size 12000 \\
      --rotate-train random --rotate-test random --out runs/p4-rot
  python -m gcnn train --eval runs/p4-rot/checkpoint.npz --data fashion-mnist --rotate-test quarter
  python -m gcnn train --backend torch --device cuda --model p4cnn --data fashion-mnist
  python -m gcnn train --backend torch --workers 2 --model p4cnn --data digits
  torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
      -m gcnn train --backend torch --device cuda --model p4cnn --data fashion-mnist"""


# --------------------------------------------------------------------------- arguments


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_parser(commands) -> argparse.ArgumentParser:
    """Register ``train`` on an ``add_subparsers`` object; returns its parser."""
    parser = commands.add_parser(
        "train",
        help="train Z2CNN, P4CNN, P4MCNN, C8CNN, C16CNN or D8CNN on the digits or Fashion-MNIST, with rotated test "
        "sets (minutes)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="p4cnn", help="the network")
    parser.add_argument(
        "--channels",
        type=_positive_int,
        help="channels per hidden layer (default: the paper's 20, 10 and 7)",
    )
    parser.add_argument(
        "--data", choices=("digits", "fashion-mnist"), default="digits", help="the images"
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="folder with Fashion-MNIST's four IDX files"
    )
    parser.add_argument(
        "--rotate-train",
        choices=("none", "random"),
        default="none",
        help="turn each training image once by a random angle (default: none)",
    )
    parser.add_argument(
        "--rotate-test",
        choices=("none", "random", "quarter"),
        default="none",
        help="test on upright images, on randomly turned ones, or at every quarter turn",
    )
    parser.add_argument(
        "--train-size",
        metavar="N",
        type=_positive_int,
        help="train on a seeded random subset of N training images (default: all)",
    )
    parser.add_argument("--epochs", metavar="E", type=_positive_int, default=10)
    parser.add_argument("--batch-size", metavar="B", type=_positive_int, default=64)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument(
        "--lr",
        metavar="LR",
        type=_positive_float,
        help="learning rate (default: 1e-3 for adam, 0.01 with momentum 0.9 for sgd)",
    )
    parser.add_argument("--seed", metavar="S", type=int, default=0, help="seeds everything")
    parser.add_argument(
        "--threads",
        metavar="T",
        type=_positive_int,
        help="gcnn.set_num_threads(T); with --backend torch also torch.set_num_threads(T), "
        "in each process (default there: the usable CPUs shared among the local processes)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="dtype of the parameters and the computation (default: float32)",
    )
    parser.add_argument(
        "--backend",
        choices=("gcnn", "torch"),
        default="gcnn",
        help="gcnn: NumPy and gcnn's C kernels (default); torch: PyTorch through gcnn.torch",
    )
    parser.add_argument(
        "--device",
        metavar="DEVICE",
        help="--backend torch: where to train, e.g. cpu, cuda, cuda:1 (default: cpu)",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        default=1,
        help="--backend torch: DistributedDataParallel over N local processes, each taking "
        "its share of every batch (default: 1)",
    )
    parser.add_argument(
        "--gcnn-kernels",
        action="store_true",
        help="--backend torch on CPU: compute the convolutions with gcnn's C kernels",
    )
    parser.add_argument("--out", metavar="DIR", help="write checkpoint.npz and the curves here")
    parser.add_argument(
        "--eval",
        metavar="CHECKPOINT",
        help="evaluate a checkpoint.npz on the test set instead of training",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (the table stays)"
    )
    return parser


# --------------------------------------------------------------------------- data


@dataclass
class Data:
    """Images (N, 1, H, W) float32 in [0, 1] and int64 labels, already rotated as asked."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str = ""


def load_data(
    name: str,
    *,
    data_dir: str | None = None,
    train_size: int | None = None,
    rotate_train: str = "none",
    rotate_test: str = "none",
    seed: int = 0,
) -> Data:
    """The training and test images of `name`, subsetted and rotated as the options say.

    With ``rotate_test="quarter"`` the test images stay upright (the evaluation turns them).
    """
    rng = np.random.default_rng(seed)
    if name == "digits":
        images, labels = datasets.load_digits()
        order = rng.permutation(len(labels))
        cut = round(len(labels) * (1 - DIGITS_TEST_SHARE))
        x_train, y_train = images[order[:cut]], labels[order[:cut]]
        x_test, y_test = images[order[cut:]], labels[order[cut:]]
    elif name == "fashion-mnist":
        (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(data_dir)
    else:
        raise ValueError(f"data must be 'digits' or 'fashion-mnist', got {name!r}")
    if train_size is not None and train_size < len(y_train):
        keep = np.sort(rng.permutation(len(y_train))[:train_size])
        x_train, y_train = x_train[keep], y_train[keep]
    if rotate_train == "random":
        x_train = datasets.rotate(x_train, rng.uniform(0.0, 360.0, size=len(y_train)))
    if rotate_test == "random":
        x_test = datasets.rotate(x_test, rng.uniform(0.0, 360.0, size=len(y_test)))
    size = "x".join(str(s) for s in x_train.shape[-2:])
    description = (
        f"{name}: {len(y_train)} training and {len(y_test)} test images of {size}, "
        f"training {'turned by random angles' if rotate_train == 'random' else 'upright'}"
    )
    return Data(x_train, y_train, x_test, y_test, description)


def batches(count: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Index arrays covering range(count) in batches, shuffled when `rng` is given."""
    order = rng.permutation(count) if rng is not None else np.arange(count)
    for start in range(0, count, batch_size):
        yield order[start : start + batch_size]


# --------------------------------------------------------------------------- progress


class Progress:
    """A progress line for one epoch: tqdm when installed, else a plain line on stderr."""

    def __init__(self, total: int, label: str, enabled: bool = True) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.start = 0, time.perf_counter()
        self._bar = None
        self._last_print = 0.0
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=total, desc=label, unit="img", leave=False, dynamic_ncols=True)

    def update(self, images: int, loss: float) -> None:
        self.done += images
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self._bar.update(images)
            return
        now = time.perf_counter()
        interactive = sys.stderr.isatty()
        if now - self._last_print < (0.2 if interactive else 10.0) and self.done < self.total:
            return
        self._last_print = now
        speed = self.done / max(now - self.start, 1e-9)
        line = (
            f"{self.label} {self.done:>{len(str(self.total))}}/{self.total} images "
            f"loss {loss:.4f} {speed:.0f} img/s"
        )
        print(
            ("\r" + line) if interactive else line,
            end="" if interactive else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and sys.stderr.isatty():
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- training


class Classifier(Protocol):
    """What :func:`predict` classifies with: a gcnn model, or a torch module so wrapped."""

    def eval(self) -> object: ...

    def __call__(self, images: np.ndarray, /) -> np.ndarray: ...


def predict(model: Classifier, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted labels of `images` in eval mode (batch-norm running statistics).

    `model` is a gcnn model or anything with its two methods used here, ``eval()`` and
    ``model(images) -> logits`` on ndarrays (the torch backend passes a torch module so wrapped).
    """
    model.eval()
    labels = [
        np.argmax(model(images[index]), axis=1) for index in batches(len(images), batch_size, None)
    ]
    return np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)


def error_rate(model: Classifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of `images` whose predicted label is wrong."""
    return float(np.mean(predict(model, images) != labels))


def quarter_turn_errors(model, images, labels) -> list[float]:
    """The error rate at 0, 90, 180 and 270 degrees (exact turns of the test images)."""
    return [
        error_rate(model, np.ascontiguousarray(np.rot90(images, turns, axes=(-2, -1))), labels)
        for turns in range(4)
    ]


def train_epoch(
    model: nn.Sequential,
    loss_fn: nn.CrossEntropyLoss,
    optimizer: optim.Optimizer,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> tuple[float, float]:
    """One pass over the training set; returns (mean loss, training error) over it."""
    model.train()
    total_loss, wrong = 0.0, 0
    for index in batches(len(labels), batch_size, rng):
        logits = model(images[index])
        loss = loss_fn(logits, labels[index])
        optimizer.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step()
        total_loss += loss * len(index)
        wrong += int(np.sum(np.argmax(logits, axis=1) != labels[index]))
        if progress is not None:
            progress.update(len(index), loss)
    return total_loss / len(labels), wrong / len(labels)


@dataclass
class History:
    """What each epoch measured, for the table and the learning curves."""

    rows: list = field(default_factory=list)

    def add(self, **row) -> None:
        self.rows.append(row)

    def column(self, name: str) -> list:
        return [row[name] for row in self.rows]


def _make_optimizer(name: str, params, lr: float | None) -> optim.Optimizer:
    if name == "sgd":
        return optim.SGD(params, lr=0.01 if lr is None else lr, momentum=0.9)
    return optim.Adam(params, lr=1e-3 if lr is None else lr)


def _build_model(settings: dict) -> nn.Sequential:
    factory = MODELS[settings["model"]]
    kwargs = {
        "padding": settings["padding"],
        "rng": settings["seed"],
        "dtype": settings.get("dtype", "float32"),
    }
    if settings.get("channels") is not None:
        kwargs["channels"] = settings["channels"]
    return factory(**kwargs)


def save_checkpoint(path: str, model: nn.Layer, settings: dict) -> None:
    """The model's state_dict and the settings that rebuild it, in one .npz (no pickle)."""
    arrays: dict[str, Any] = {f"state.{name}": value for name, value in model.state_dict().items()}
    arrays["settings"] = np.array(json.dumps(settings))
    np.savez(path, **arrays)


def load_checkpoint(path: str) -> tuple[nn.Sequential, dict]:
    """The model saved by :func:`save_checkpoint`, in eval mode, and its settings."""
    with np.load(path, allow_pickle=False) as stored:
        if "settings" not in stored.files:
            raise ValueError(f"{path} is not a gcnn training checkpoint (no 'settings' entry)")
        settings = json.loads(str(stored["settings"]))
        state = {
            name[len("state.") :]: stored[name]
            for name in stored.files
            if name.startswith("state.")
        }
    model = _build_model(settings)
    model.load_state_dict(state)
    return model.eval(), settings


def _plot_curves(history: History, path: str, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = history.column("epoch")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, history.column("train_loss"), marker="o")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (cross-entropy)")
    right.plot(
        epochs, [100 * e for e in history.column("train_error")], marker="o", label="training"
    )
    right.plot(epochs, [100 * e for e in history.column("test_error")], marker="o", label="test")
    right.set_xlabel("epoch")
    right.set_ylabel("error (%)")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _format_errors(errors: Sequence[float]) -> str:
    return " ".join(f"{100 * e:.2f}%" for e in errors)


def _test_errors(model, data: Data, rotate_test: str) -> list[float]:
    if rotate_test == "quarter":
        return quarter_turn_errors(model, data.x_test, data.y_test)
    return [error_rate(model, data.x_test, data.y_test)]


TABLE_HEADER = (
    f"{'epoch':>5}  {'train loss':>10}  {'train err':>9}  {'test err':>9}  {'s':>6}  {'img/s':>6}"
)


def epoch_line(row: dict, images: int) -> str:
    """The table's line for one epoch of `images` training images (a History row)."""
    return (
        f"{row['epoch']:>5}  {row['train_loss']:>10.4f}  {100 * row['train_error']:>8.2f}%  "
        f"{100 * row['test_error']:>8.2f}%  {row['seconds']:>6.1f}  "
        f"{images / row['seconds']:>6.0f}"
    )


def report(
    args: argparse.Namespace,
    predictor: Classifier,
    model: nn.Layer,
    data: Data,
    settings: dict,
    history: History,
) -> int:
    """Write the checkpoint and curves under ``--out`` and print the last line, the test error.

    `predictor` classifies (what :func:`predict` calls); `model` is the gcnn model to save.
    """
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
        checkpoint = os.path.join(args.out, "checkpoint.npz")
        save_checkpoint(checkpoint, model, settings)
        print(f"checkpoint: {checkpoint}")
        curve = os.path.join(args.out, "learning_curve.png")
        if _plot_curves(history, curve, f"{args.model} on {data.description.split(':')[0]}"):
            print(f"learning curves: {curve}")
        else:
            print("learning curves: not drawn (python -m pip install matplotlib)")
    print(f"test error: {_format_errors(_test_errors(predictor, data, args.rotate_test))}")
    return 0


def _torch_only_options(args: argparse.Namespace) -> list[str]:
    """The --backend torch options given to the gcnn backend."""
    given = []
    if args.device is not None:
        given.append("--device")
    if args.workers != 1:
        given.append("--workers")
    if args.gcnn_kernels:
        given.append("--gcnn-kernels")
    return given


def run(args: argparse.Namespace) -> int:
    """Carry out ``python -m gcnn train`` with parsed arguments; returns the exit status."""
    misplaced = _torch_only_options(args) if args.backend == "gcnn" else []
    if misplaced:
        verb = "needs" if len(misplaced) == 1 else "need"
        print(f"gcnn train: {', '.join(misplaced)} {verb} --backend torch", file=sys.stderr)
        return 2
    if args.threads is not None:
        _config.set_num_threads(args.threads)
    try:
        data = load_data(
            args.data,
            data_dir=args.data_dir,
            train_size=args.train_size,
            rotate_train=args.rotate_train,
            rotate_test=args.rotate_test,
            seed=args.seed,
        )
    except (FileNotFoundError, ImportError, ValueError) as exc:
        print(f"gcnn train: {exc}", file=sys.stderr)
        return 2

    if args.eval is not None:
        try:
            model, settings = load_checkpoint(args.eval)
        except (OSError, ValueError, KeyError) as exc:
            print(f"gcnn train: cannot load {args.eval}: {exc}", file=sys.stderr)
            return 2
        predictor: Classifier | None = model
        if args.backend == "torch":
            from . import train_torch

            predictor = train_torch.checkpoint_predictor(args, model)
            if predictor is None:
                return 2
        print(f"{settings['model']} from {args.eval}; {data.description}")
        print(f"test error: {_format_errors(_test_errors(predictor, data, args.rotate_test))}")
        return 0

    settings = {
        "model": args.model,
        "channels": args.channels,
        "padding": 0 if data.x_train.shape[-1] >= 28 else 1,
        "seed": args.seed,
        "data": args.data,
        "dtype": args.dtype,
    }
    if args.backend == "torch":
        from . import train_torch

        return train_torch.run(args, data, settings)
    model = _build_model(settings)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = _make_optimizer(args.optimizer, model.parameters(), args.lr)
    rng = np.random.default_rng(args.seed + 1)
    parameters = sum(p.data.size for p in model.parameters())
    print(
        f"{args.model}: {parameters} parameters; {data.description}; "
        f"{args.optimizer} lr {optimizer.lr:g}, batch {args.batch_size}, "
        f"{_config.get_num_threads()} threads"
    )
    print(TABLE_HEADER)
    history = History()
    for epoch in range(1, args.epochs + 1):
        progress = Progress(
            len(data.y_train), f"epoch {epoch}/{args.epochs}", enabled=not args.no_progress
        )
        start = time.perf_counter()
        try:
            train_loss, train_error = train_epoch(
                model,
                loss_fn,
                optimizer,
                data.x_train,
                data.y_train,
                args.batch_size,
                rng,
                progress,
            )
        finally:
            progress.close()
        seconds = time.perf_counter() - start
        test_error = error_rate(model, data.x_test, data.y_test)
        history.add(
            epoch=epoch,
            train_loss=train_loss,
            train_error=train_error,
            test_error=test_error,
            seconds=seconds,
        )
        print(epoch_line(history.rows[-1], len(data.y_train)), flush=True)
    return report(args, model, model, data, settings, history)
