"""The command line ``python -m gcnn {demo,bench,train}``: its parser and dispatch.

``demo`` shows and checks the p4 equivariance of the tutorial's functions on a picture in a
few seconds; ``bench`` times gcnn against the tutorial's SciPy code (and, when available,
its layers against PyTorch); ``train`` trains a G-CNN on real images. Run
``python -m gcnn COMMAND --help`` for the options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
gcnn: group-equivariant convolutions (p4, p4m) with a fast C core on NumPy arrays.
Run `python -m gcnn COMMAND --help` for a command's options."""

_DEMO_DESCRIPTION = """\
Lift a grayscale picture x to the p4 group with gcnn.lift_correlation (4 maps, one per
quarter turn of a random kernel) and check, for r = 0..3 quarter turns, the law

    lift(rot90(x, r)) == roll(rot90(lift(x), r, axes=(1, 2)), +r, axis=0)

i.e. rotating the input rotates each map and shifts the orientation axis cyclically by
+r. Also checks that gcnn.p4_group_convolution commutes with that p4 action, times both
functions against the tutorial's SciPy code, and writes a PNG of the lifted maps of x and
of rot90(x).

exit status: 0 when both laws hold for every rotation, 1 when one fails, 2 for unusable
input (unreadable image, figure not writable)."""

_DEMO_EPILOG = """\
examples:
  python -m gcnn demo                          # shipped picture, writes gcnn_demo.png
  python -m gcnn demo --no-plot                # tables and timings only
  python -m gcnn demo --image cat.png --kernel-size 7 --output cat_lifted.png"""

_BENCH_DESCRIPTION = """\
Time gcnn.lift_correlation on (s, s) images and gcnn.p4_group_convolution on (4, s, s)
features against the tutorial's SciPy implementations (in gcnn.reference), for
every size s, kernel size k and dtype. Each row prints the median time per call of both
(repeated adaptively, at least 3 runs), the ratio SciPy time / gcnn time, gcnn's
effective GFLOP/s counting the work of the published algorithm (lift: 4*2*s*s*k*k,
p4: 16*2*s*s*k*k flops), and whether the two results agree. The first line describes
the machine (CPU, cores, gcnn threads, SIMD level, library versions).

Then gcnn.convolve2d against scipy.signal.convolve2d on integer and complex inputs
(256x256 image, 5x5 kernel, mode 'same'): integer results must equal SciPy's bit for bit,
dtype included.

When gcnn.lift/gcnn.group_conv and PyTorch are available, layer rows compare them with
torch.nn.functional.conv2d on the expanded filter (2 threads each).

exit status: 0, or 1 when a gcnn result disagrees with its peer."""

_BENCH_EPILOG = """\
examples:
  python -m gcnn bench                                 # full table, a few minutes
  python -m gcnn bench --quick                         # s in {64, 256}, short timings
  python -m gcnn bench --sizes 512 --kernels 3 5 --dtypes float32 --threads 1"""


def _positive_ints(text: str) -> list[int]:
    """Parse ``"64"`` or ``"64,256"`` into positive integers (for nargs='+' options)."""
    values = []
    for part in text.replace(",", " ").split():
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {part!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _dtype_names(text: str) -> list[str]:
    aliases = {
        "float64": "float64",
        "f64": "float64",
        "double": "float64",
        "float32": "float32",
        "f32": "float32",
        "single": "float32",
    }
    names = []
    for part in text.replace(",", " ").split():
        if part.lower() not in aliases:
            raise argparse.ArgumentTypeError(f"unknown dtype {part!r} (float64 or float32)")
        names.append(aliases[part.lower()])
    return names


def _positive_int(text: str) -> int:
    values = _positive_ints(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one integer, got {text!r}")
    return values[0]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _flatten(groups: Sequence[Sequence] | None) -> list | None:
    if groups is None:
        return None
    flat = []
    for group in groups:
        for item in group:
            if item not in flat:
                flat.append(item)
    return flat


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m gcnn`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m gcnn",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="{demo,bench,train}")

    demo = commands.add_parser(
        "demo",
        help="lift a picture to the p4 group, check the equivariance laws of the tutorial's "
        "two functions, time them against SciPy and draw the lifted maps (seconds)",
        description=_DEMO_DESCRIPTION,
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--image",
        metavar="PATH",
        help="picture to lift: a .npy file holding a 2-D array, or a PNG (needs matplotlib; "
        "colour is converted to gray). A non-square picture is cropped to its centred "
        "square. Default: gcnn's shipped demo picture (96x96).",
    )
    demo.add_argument(
        "--kernel-size",
        metavar="K",
        type=_positive_int,
        default=5,
        help="side of the K x K kernel drawn from np.random.default_rng(0) (default: 5). "
        "Use an odd K: with mode='same' an even kernel is off centre by half a pixel and "
        "the laws do not hold exactly.",
    )
    demo.add_argument(
        "--output",
        metavar="FILE",
        default="gcnn_demo.png",
        help="PNG to write the figure to (default: gcnn_demo.png); needs matplotlib",
    )
    demo.add_argument(
        "--no-plot",
        action="store_true",
        help="print the tables and timings only, write no figure",
    )

    bench = commands.add_parser(
        "bench",
        help="time gcnn against the tutorial's SciPy code over image sizes, kernel sizes "
        "and dtypes (minutes; --quick for a smoke run)",
        description=_BENCH_DESCRIPTION,
        epilog=_BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="smoke run for CI: sizes 64 and 256 and a short time budget per measurement",
    )
    bench.add_argument(
        "--sizes",
        metavar="S",
        nargs="+",
        type=_positive_ints,
        help="image sides s (space or comma separated; default: 64 256 1024, with --quick 64 256)",
    )
    bench.add_argument(
        "--kernels",
        metavar="K",
        nargs="+",
        type=_positive_ints,
        help="kernel sides k (default: 3 5 7)",
    )
    bench.add_argument(
        "--dtypes",
        metavar="DTYPE",
        nargs="+",
        type=_dtype_names,
        help="float64 and/or float32 (default: both)",
    )
    bench.add_argument(
        "--threads",
        metavar="N",
        type=_positive_int,
        help="gcnn.set_num_threads(N) before timing (default: gcnn's own: GCNN_NUM_THREADS "
        "or OMP_NUM_THREADS if set, else the usable CPUs); SciPy is single-threaded",
    )
    bench.add_argument(
        "--training",
        action="store_true",
        help="only the training-step section: gcnn against PyTorch, the four ways of taking a "
        "step (gcnn, gcnn.torch with and without gcnn's kernels, plain PyTorch), memory; "
        "at --threads threads (default 2)",
    )
    bench.add_argument(
        "--budget",
        metavar="SECONDS",
        type=_positive_float,
        help="time spent measuring each side of a row, at least 3 runs regardless "
        "(default: 1.0, with --quick 0.2)",
    )

    from . import train

    train.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # Output piped into e.g. `head`, which has exited: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(
            image_path=args.image,
            kernel_size=args.kernel_size,
            output=args.output,
            plot=not args.no_plot,
        )
    if args.command == "bench":
        from .bench import (
            DEFAULT_DTYPES,
            DEFAULT_KERNELS,
            DEFAULT_SIZES,
            QUICK_SIZES,
            run_bench,
        )

        sizes = _flatten(args.sizes) or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
        budget = args.budget if args.budget is not None else (0.2 if args.quick else 1.0)
        return run_bench(
            sizes=sizes,
            kernels=_flatten(args.kernels) or list(DEFAULT_KERNELS),
            dtypes=_flatten(args.dtypes) or list(DEFAULT_DTYPES),
            threads=args.threads,
            budget_seconds=budget,
            training_only=args.training,
        )
    if args.command == "train":
        from . import train

        return train.run(args)
    parser.print_help()
    return 2
