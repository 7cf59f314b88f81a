"""gcnn's C8 layers against e2cnn's C8 ``R2Conv``: equivariance under turns by 45 degrees.

Issue 12's goal: with their own default initialisation, gcnn's C8 layers are at least as
equivariant as e2cnn's under 45-degree turns of smooth images, and exact under quarter turns.
e2cnn is never a dependency of gcnn; these tests skip without it. To run them (and to print
the README's table), install e2cnn into a private environment::

    python -m venv /tmp/e2venv --system-site-packages && /tmp/e2venv/bin/pip install e2cnn
    /tmp/e2venv/bin/python -m pytest tests/test_e2cnn_comparison.py
    /tmp/e2venv/bin/python tests/test_e2cnn_comparison.py --trials 30      # the table

Both libraries are measured the same way, by :func:`gcnn.check_equivariance` (docs/design.md,
§4.5 Approximate equivariance): a smooth random input (white noise blurred by a Gaussian of 2
pixels, 41 x 41), its turn by 45 degrees by cubic B-splines, and the relative error
``||f(T x) - T' f(x)|| / ||T' f(x)||`` over the central disk of the output (``margin=2``),
where ``T'`` turns the output planes the same way and shifts the orientation axis by one. The
mean over independent layers and inputs is compared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

if __name__ == "__main__":  # run as a script from anywhere: import this checkout's gcnn
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gcnn
from gcnn import nn

torch = pytest.importorskip("torch")
e2cnn = pytest.importorskip("e2cnn")
ndimage = pytest.importorskip("scipy.ndimage")
from e2cnn import gspaces
from e2cnn import nn as enn

SIZE = 41
CHANNELS = 4


def smooth(rng: np.random.Generator, shape: tuple, width: float = 2.0) -> np.ndarray:
    """White noise blurred by a Gaussian of `width` pixels, unit standard deviation."""
    sigma = (0,) * (len(shape) - 2) + (width, width)
    values = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return values / values.std()


def e2cnn_function(module, field_in, order: int):
    """An e2cnn module as a function of (N, C, [|G|,] H, W) float64 arrays, gcnn's layout."""

    def apply(x: np.ndarray) -> np.ndarray:
        # e2cnn stacks the |G| slots of each regular field channel by channel: (N, C*|G|, H, W).
        flat = torch.from_numpy(np.ascontiguousarray(x.reshape(x.shape[0], -1, *x.shape[-2:])))
        with torch.no_grad():
            out = module(enn.GeometricTensor(flat, field_in)).tensor.numpy()
        return out.reshape(out.shape[0], -1, order, *out.shape[-2:])

    return apply


def measure(kind: str, kernel_size: int, trials: int, seed: int) -> dict:
    """Mean relative errors {library: (45 degrees, 90 degrees)} for one layer kind and k."""
    group = gcnn.groups.cyclic(8)
    space = gspaces.Rot2dOnR2(N=8)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    results: dict = {"gcnn": [], "e2cnn": []}
    for trial in range(trials):
        layer_seed = seed * 1000 + trial
        if kind == "lift":
            x = smooth(rng, (1, 1, SIZE, SIZE))
            ours = nn.LiftingConv(
                1, CHANNELS, kernel_size, group=group, rng=layer_seed, dtype=np.float64
            )
            field_in = enn.FieldType(space, [space.trivial_repr])
        else:
            x = smooth(rng, (1, CHANNELS, 8, SIZE, SIZE))
            ours = nn.GroupConv(
                CHANNELS, CHANNELS, kernel_size, group=group, rng=layer_seed, dtype=np.float64
            )
            field_in = enn.FieldType(space, CHANNELS * [space.regular_repr])
        field_out = enn.FieldType(space, CHANNELS * [space.regular_repr])
        theirs = enn.R2Conv(field_in, field_out, kernel_size=kernel_size).double().eval()
        for name, function in (("gcnn", ours), ("e2cnn", e2cnn_function(theirs, field_in, 8))):
            errors = gcnn.check_equivariance(function, x, group, margin=2)
            results[name].append((errors.relative["r1"], errors.relative["r2"]))
    return {name: tuple(np.mean(values, axis=0)) for name, values in results.items()}


def test_the_two_layouts_agree_on_the_regular_representation():
    # The comparison is only fair if e2cnn's output slots are gcnn's orientations: a quarter
    # turn of the input must shift e2cnn's orientation axis by two slots, as it does gcnn's.
    rng = np.random.default_rng(0)
    group = gcnn.groups.cyclic(8)
    space = gspaces.Rot2dOnR2(N=8)
    field_in = enn.FieldType(space, [space.trivial_repr])
    field_out = enn.FieldType(space, 2 * [space.regular_repr])
    layer = enn.R2Conv(field_in, field_out, kernel_size=5).double().eval()
    function = e2cnn_function(layer, field_in, 8)
    x = smooth(rng, (1, 1, 21, 21))
    errors = gcnn.check_equivariance(function, x, group)
    assert errors.relative["r2"] < 1e-5 and errors.relative["r4"] < 1e-5


@pytest.mark.parametrize("kind", ["lift", "group"])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_gcnn_c8_is_at_least_as_equivariant_as_e2cnn(kind, kernel_size):
    result = measure(kind, kernel_size, trials=4, seed=1)
    ours, theirs = result["gcnn"], result["e2cnn"]
    assert ours[0] <= theirs[0], (ours, theirs)
    assert ours[1] < 1e-12  # quarter turns exact (to float64 rounding)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from importlib.metadata import version

    print(f"e2cnn {version('e2cnn')}, torch {torch.__version__}, {args.trials} layers each\n")
    print("| layer (C8) | k | gcnn 45 deg | e2cnn 45 deg | gcnn 90 deg | e2cnn 90 deg |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, label in (("lift", "lifting (image -> C8)"), ("group", "group (C8 -> C8)")):
        for kernel_size in (3, 5, 7):
            result = measure(kind, kernel_size, args.trials, args.seed)
            ours, theirs = result["gcnn"], result["e2cnn"]
            print(
                f"| {label} | {kernel_size} | {ours[0]:.2%} | {theirs[0]:.2%} | "
                f"{ours[1]:.1e} | {theirs[1]:.1e} |"
            )


if __name__ == "__main__":
    main()
