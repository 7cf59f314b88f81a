"""``python -m gcnn train``: the training command end to end, on small real and fake data."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from gcnn.__main__ import main
from gcnn.cli import train

pytest.importorskip("sklearn")

ERROR_LINE = re.compile(r"^test error: (\d+\.\d\d%)( \d+\.\d\d%)*$")


def run(capsys, *argv) -> tuple[int, list[str], str]:
    status = main(["train", "--no-progress", *argv])
    captured = capsys.readouterr()
    return status, captured.out.strip().splitlines(), captured.err


def errors_of(line: str) -> list[float]:
    assert ERROR_LINE.match(line), line
    return [float(part.rstrip("%")) for part in line.split(": ")[1].split()]


def test_p4cnn_predictions_do_not_change_under_quarter_turns(tmp_path, capsys):
    status, lines, _ = run(
        capsys,
        "--model", "p4cnn", "--data", "digits", "--epochs", "3", "--train-size", "800",
        "--channels", "6", "--rotate-test", "quarter", "--out", str(tmp_path), "--seed", "3",
    )  # fmt: skip
    assert status == 0
    errors = errors_of(lines[-1])
    assert len(errors) == 4
    # the same predictions at every quarter turn (a near-tie may flip one of 449 by rounding)
    assert max(errors) - min(errors) <= 100 / 449 + 1e-9
    assert errors[0] < 30  # it learned in 3 short epochs (chance is 90%)
    assert (tmp_path / "checkpoint.npz").is_file()
    table = [line for line in lines if re.match(r"^\s+\d+\s", line)]
    assert len(table) == 3  # one row per epoch

    # --eval rebuilds the model from the checkpoint and gives the same numbers
    status, lines, _ = run(
        capsys, "--eval", str(tmp_path / "checkpoint.npz"), "--data", "digits",
        "--rotate-test", "quarter", "--seed", "3",
    )  # fmt: skip
    assert status == 0
    assert errors_of(lines[-1]) == errors


def test_learning_curve_is_drawn(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    status, lines, _ = run(
        capsys, "--model", "z2cnn", "--channels", "4", "--data", "digits", "--epochs", "1",
        "--train-size", "128", "--out", str(tmp_path),
    )  # fmt: skip
    assert status == 0
    png = tmp_path / "learning_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(errors_of(lines[-1])) == 1


def test_checkpoint_loads_without_pickle(tmp_path):
    model = train.MODELS["p4cnn"](channels=3, padding=1, rng=0)
    settings = {"model": "p4cnn", "channels": 3, "padding": 1, "seed": 0, "data": "digits"}
    path = tmp_path / "c.npz"
    train.save_checkpoint(str(path), model, settings)
    with np.load(path, allow_pickle=False) as stored:
        assert "settings" in stored.files
    restored, restored_settings = train.load_checkpoint(str(path))
    assert restored_settings == settings
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(restored(x), model.eval()(x))


def write_idx(path, array: np.ndarray) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">HBB", 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(str(path) + ".gz", "wb") as f:
        f.write(header + array.tobytes())


def test_fashion_mnist_from_a_folder_with_rotations(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 96), ("t10k", 32)):
        write_idx(
            tmp_path / f"{prefix}-images-idx3-ubyte",
            rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
        )
        write_idx(
            tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, count, dtype=np.uint8)
        )
    status, lines, _ = run(
        capsys, "--model", "z2cnn", "--channels", "2", "--data", "fashion-mnist",
        "--data-dir", str(tmp_path), "--epochs", "1", "--rotate-train", "random",
        "--rotate-test", "random", "--optimizer", "sgd", "--lr", "0.05",
    )  # fmt: skip
    assert status == 0
    assert "96 training and 32 test images of 28x28" in lines[0]
    assert len(errors_of(lines[-1])) == 1


def test_missing_data_says_how_to_get_it(tmp_path, capsys):
    status, _, err = run(capsys, "--data", "fashion-mnist", "--data-dir", str(tmp_path / "none"))
    assert status == 2
    assert "dataset-fashion-mnist" in err


def test_bad_checkpoint_is_reported(tmp_path, capsys):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(2))
    status, _, err = run(capsys, "--eval", str(path))
    assert status == 2
    assert "not a gcnn training checkpoint" in err


def test_load_data_rotates_and_subsets():
    upright = train.load_data("digits", seed=1)
    turned = train.load_data("digits", rotate_train="random", train_size=100, seed=1)
    assert turned.x_train.shape == (100, 1, 8, 8) and upright.x_train.shape[0] == 1348
    assert upright.x_test.shape == (449, 1, 8, 8)
    np.testing.assert_array_equal(turned.x_test, upright.x_test)  # the test set stays upright
    assert turned.x_train.dtype == np.float32


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--lr", "-1"], ["--model", "resnet"]])
def test_bad_options_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["train", *argv])
    assert raised.value.code == 2
