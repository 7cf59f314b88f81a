"""gcnn.datasets: IDX files, Fashion-MNIST and digits loading, and rotating images."""

from __future__ import annotations

import gzip
import os
import pathlib
import re
import struct
import sys

import numpy as np
import pytest

from gcnn import datasets

SYSTEM_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
SHIPPED_DEMO_IMAGE = (
    pathlib.Path(__file__).resolve().parents[1] / "gcnn" / "data" / "demo_image.npy"
)
TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray, type_code: int | None = None) -> bytes:
    """An IDX file's bytes, written from the format's description (big-endian everything)."""
    array = np.asarray(array)
    if type_code is None:
        type_code = TYPE_CODES[array.dtype]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: pathlib.Path, content: bytes, compress: bool = False) -> pathlib.Path:
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


# --------------------------------------------------------------------------- load_idx


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", list(TYPE_CODES), ids=lambda dtype: dtype.name)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (0, 4)])
def test_idx_round_trip(tmp_path, rng, dtype, shape, compress):
    if dtype.kind == "f":
        array = rng.standard_normal(shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    path = write(tmp_path / "array.idx", idx_bytes(array), compress)
    loaded = datasets.load_idx(path)
    assert loaded.dtype == dtype and loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


def test_idx_known_bytes_are_big_endian(tmp_path):
    # 0x0102 as a big-endian int16 is 258; a little-endian reader would see 513.
    path = write(tmp_path / "a", bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 1, 2, 0xFF, 0xFE]))
    np.testing.assert_array_equal(datasets.load_idx(path), np.array([258, -2], dtype=np.int16))


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    compressed_without_suffix = write(tmp_path / "plain-name", idx_bytes(array), compress=True)
    raw_with_gz_suffix = write(tmp_path / "looks-compressed.gz", idx_bytes(array))
    np.testing.assert_array_equal(datasets.load_idx(compressed_without_suffix), array)
    np.testing.assert_array_equal(datasets.load_idx(raw_with_gz_suffix), array)


def test_idx_accepts_str_and_pathlike(tmp_path):
    array = np.arange(5, dtype=np.int32)
    path = write(tmp_path / "a.idx", idx_bytes(array))
    np.testing.assert_array_equal(datasets.load_idx(str(path)), array)
    np.testing.assert_array_equal(datasets.load_idx(path), array)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        datasets.load_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize("path", [3, None, [b"a"]])
def test_idx_path_type(path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        datasets.load_idx(path)


GOOD = idx_bytes(np.arange(6, dtype=np.int16).reshape(2, 3))
MALFORMED = {
    "empty": (b"", "truncated: it has 0 bytes"),
    "short header": (b"\x00\x00\x08", "truncated: it has 3 bytes"),
    "bad magic": (b"\x01\x00" + GOOD[2:], "bad magic number 0x0100"),
    "unknown type": (b"\x00\x00\x0a\x02" + GOOD[4:], "unknown type code 0x0A"),
    "zero dimensions": (b"\x00\x00\x08\x00", "declares 0 dimensions"),
    "truncated dims": (GOOD[:9], "3 dimensions|2 dimensions need 8 bytes of sizes, the file has 5"),
    "short data": (GOOD[:-1], r"truncated: its header says shape \(2, 3\) of int16 \(12 bytes"),
    "long data": (GOOD + b"\x00", "has trailing data"),
    "huge header": (
        bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1),
        "truncated",
    ),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_idx_malformed_names_the_file(tmp_path, case, compress):
    content, what = MALFORMED[case]
    path = write(tmp_path / f"bad-{case.replace(' ', '-')}.idx", content, compress)
    with pytest.raises(ValueError, match=re.escape(str(path))) as info:
        datasets.load_idx(path)
    assert re.search(what, str(info.value)), str(info.value)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # stream cut short
        lambda data: data[:10] + bytes(b ^ 0x55 for b in data[10:-8]) + data[-8:],
        lambda data: data[:-8] + b"\x00" * 8,  # CRC and size wrong
        lambda data: data + b"garbage!",  # trailing bytes that are no gzip member
    ],
    ids=["cut", "scrambled", "bad-crc", "trailing-garbage"],
)
def test_idx_corrupt_gzip(tmp_path, damage):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = write(tmp_path / "corrupt.gz", damage(data))
    with pytest.raises(ValueError, match=re.escape(str(path))):
        datasets.load_idx(path)


# --------------------------------------------------------------------------- Fashion-MNIST


def fake_fashion_mnist(folder: pathlib.Path, train=5, test=3, compress=False, labels=None):
    """The four files with tiny counts; image n is filled with the gray level n, label n % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for split, count in (("train", train), ("t10k", test)):
        images = np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None], (count, 28, 28))
        split_labels = np.arange(count, dtype=np.uint8) % 10 if labels is None else labels
        write(folder / f"{split}-images-idx3-ubyte{suffix}", idx_bytes(images), compress)
        write(folder / f"{split}-labels-idx1-ubyte{suffix}", idx_bytes(split_labels), compress)
    return folder


def check_fake(loaded, train=5, test=3):
    (x_train, y_train), (x_test, y_test) = loaded
    for images, labels, count in ((x_train, y_train, train), (x_test, y_test, test)):
        assert images.shape == (count, 1, 28, 28) and images.dtype == np.float32
        assert labels.shape == (count,) and labels.dtype == np.int64
        np.testing.assert_array_equal(labels, np.arange(count) % 10)
        expected = (np.arange(count, dtype=np.float32) / np.float32(255))[:, None, None, None]
        np.testing.assert_array_equal(images, np.broadcast_to(expected, images.shape))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_fashion_mnist_from_root(tmp_path, compress, monkeypatch):
    monkeypatch.delenv("GCNN_DATA", raising=False)
    folder = fake_fashion_mnist(tmp_path / "fm", compress=compress)
    check_fake(datasets.load_fashion_mnist(root=folder))
    check_fake(datasets.load_fashion_mnist(root=str(folder)))


def test_fashion_mnist_prefers_raw_over_gz(tmp_path):
    folder = fake_fashion_mnist(tmp_path, train=5, test=3)
    fake_fashion_mnist(tmp_path, train=4, test=2, compress=True)  # different counts in .gz
    check_fake(datasets.load_fashion_mnist(root=tmp_path), train=5, test=3)
    for name in os.listdir(folder):
        if not name.endswith(".gz"):
            (folder / name).unlink()
    check_fake(datasets.load_fashion_mnist(root=tmp_path), train=4, test=2)


@pytest.mark.parametrize("subfolder", ["", "fashion-mnist"])
def test_fashion_mnist_from_environment(tmp_path, monkeypatch, subfolder):
    fake_fashion_mnist(tmp_path / subfolder if subfolder else tmp_path, train=6, test=2)
    monkeypatch.setenv("GCNN_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "_SYSTEM_FASHION_MNIST", str(tmp_path / "not-there"))
    check_fake(datasets.load_fashion_mnist(), train=6, test=2)


def test_fashion_mnist_root_is_the_only_place_searched(tmp_path, monkeypatch):
    fake_fashion_mnist(tmp_path / "elsewhere")
    monkeypatch.setenv("GCNN_DATA", str(tmp_path / "elsewhere"))
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist(root=missing)
    message = str(info.value)
    assert f"{missing}: no such folder" in message
    assert "elsewhere" not in message and str(SYSTEM_FASHION_MNIST) + ":" not in message


def test_fashion_mnist_missing_message(tmp_path, monkeypatch):
    partial = tmp_path / "partial"
    fake_fashion_mnist(partial)
    (partial / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setenv("GCNN_DATA", str(partial))
    monkeypatch.setattr(datasets, "_SYSTEM_FASHION_MNIST", str(tmp_path / "system"))
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist()
    message = str(info.value)
    assert f"{partial}: missing t10k-labels-idx1-ubyte[.gz]" in message
    assert f"{partial / 'fashion-mnist'}: no such folder" in message
    assert f"{tmp_path / 'system'}: no such folder" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "zalandoresearch/fashion-mnist" in message
    assert "root=" in message and "$GCNN_DATA" in message
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message


def test_fashion_mnist_root_type():
    with pytest.raises(TypeError, match="root must be None, a str or os.PathLike, got int"):
        datasets.load_fashion_mnist(root=3)


def test_fashion_mnist_count_mismatch(tmp_path):
    folder = fake_fashion_mnist(tmp_path)
    write(folder / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match="holds 5 images but .*train-labels-idx1-ubyte.* 4 labels"):
        datasets.load_fashion_mnist(root=folder)


def test_fashion_mnist_label_out_of_range(tmp_path):
    folder = fake_fashion_mnist(tmp_path, labels=np.array([0, 1, 10, 2, 3], dtype=np.uint8))
    with pytest.raises(ValueError, match="holds a label 10; Fashion-MNIST's labels are 0..9"):
        datasets.load_fashion_mnist(root=folder)


@pytest.mark.parametrize(
    "name, array, what",
    [
        ("train-images-idx3-ubyte", np.zeros((5, 28, 27), np.uint8), r"shape \(N, 28, 28\)"),
        ("train-images-idx3-ubyte", np.zeros((5, 28, 28), np.int16), r"shape \(N, 28, 28\)"),
        ("t10k-labels-idx1-ubyte", np.zeros((3, 1), np.uint8), r"labels of shape \(N,\)"),
    ],
)
def test_fashion_mnist_wrong_content(tmp_path, name, array, what):
    folder = fake_fashion_mnist(tmp_path)
    write(folder / name, idx_bytes(array))
    with pytest.raises(ValueError, match=what) as info:
        datasets.load_fashion_mnist(root=folder)
    assert name in str(info.value)


def test_fashion_mnist_malformed_file_names_it(tmp_path):
    folder = fake_fashion_mnist(tmp_path)
    write(folder / "t10k-images-idx3-ubyte", b"\x00\x00\x08")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        datasets.load_fashion_mnist(root=folder)


def test_fashion_mnist_classes():
    assert datasets.FASHION_MNIST_CLASSES == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


@pytest.mark.skipif(not SYSTEM_FASHION_MNIST.is_dir(), reason=f"{SYSTEM_FASHION_MNIST} absent")
def test_fashion_mnist_real_data(monkeypatch):
    monkeypatch.delenv("GCNN_DATA", raising=False)
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist()
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert 0.0 <= x_test.min() and x_test.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 1000))
    # Gray levels are k/255 exactly: scaling lost nothing.
    levels = x_train[:100] * np.float32(255)
    np.testing.assert_array_equal(levels, np.round(levels))


# --------------------------------------------------------------------------- load_digits


def test_load_digits():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    images, labels = datasets.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(np.unique(labels), np.arange(10))
    raw = sklearn_datasets.load_digits()
    np.testing.assert_array_equal(images[:, 0] * 16, raw.images)
    np.testing.assert_array_equal(labels, raw.target)


def test_load_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=re.escape('python -m pip install "gcnn[train]"')) as info:
        datasets.load_digits()
    assert "pip install scikit-learn" in str(info.value)


# --------------------------------------------------------------------------- rotate


def test_rotate_multiples_of_90_are_rot90(rng):
    images = rng.standard_normal((3, 2, 5, 5))
    for degrees in (-720, -450, -270, -180, -90, 0, 90, 180, 270, 360, 450, 810, 90.0):
        turns = int(degrees // 90)
        expected = np.rot90(images, turns, axes=(-2, -1))
        np.testing.assert_array_equal(datasets.rotate(images, degrees), expected)


def test_rotate_90_is_counterclockwise_as_displayed():
    image = np.array([[1, 2], [3, 4]])  # 2 at the top right moves to the top left
    np.testing.assert_array_equal(datasets.rotate(image, 90), [[2, 4], [1, 3]])


def test_rotate_non_square_quarter_turn_swaps_axes(rng):
    images = rng.standard_normal((4, 1, 3, 5))
    turned = datasets.rotate(images, 90)
    assert turned.shape == (4, 1, 5, 3)
    np.testing.assert_array_equal(turned, np.rot90(images, 1, axes=(-2, -1)))
    per_image = datasets.rotate(images, [90, -90, 270, 450])
    for n, degrees in enumerate([90, -90, 270, 450]):
        np.testing.assert_array_equal(per_image[n], np.rot90(images[n], degrees // 90, (-2, -1)))
    assert datasets.rotate(images, [0, 180, 360, -180]).shape == (4, 1, 3, 5)


def test_rotate_there_and_back_is_identity(rng):
    images = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    np.testing.assert_array_equal(datasets.rotate(datasets.rotate(images, 90), -90), images)


ANGLES = [1.0, 12.3, 30, 45, 60, 89.9, 135, 179, 200.5, -30, -123.4, 370.5, 0.001]


@pytest.mark.parametrize("shape", [(5, 5), (6, 6), (7, 4), (4, 7), (28, 28), (1, 5), (1, 1)])
def test_rotate_bilinear_equals_scipy(rng, shape):
    ndimage = pytest.importorskip("scipy.ndimage")
    image = rng.standard_normal(shape)
    for degrees in ANGLES:
        expected = ndimage.rotate(image, degrees, reshape=False, order=1, mode="constant", cval=0)
        np.testing.assert_allclose(datasets.rotate(image, degrees), expected, rtol=0, atol=1e-12)
        image32 = image.astype(np.float32)
        expected32 = ndimage.rotate(image32, degrees, reshape=False, order=1, mode="constant")
        np.testing.assert_allclose(datasets.rotate(image32, degrees), expected32, atol=1e-5)


def test_rotate_scipy_sign_convention_matches_rot90():
    ndimage = pytest.importorskip("scipy.ndimage")
    image = np.arange(25.0).reshape(5, 5)
    # scipy's positive angle is our counterclockwise-as-displayed turn, so one convention
    # covers both the exact and the interpolated path.
    scipy_90 = ndimage.rotate(image, 90, reshape=False, order=1, mode="constant")
    np.testing.assert_allclose(scipy_90, np.rot90(image), atol=1e-12)
    # Just short of a quarter turn, the interpolated path agrees with the exact one away from
    # the border (corner samples fall a hair outside the image and are zero).
    nearly = datasets.rotate(image, 89.999999)
    np.testing.assert_allclose(nearly[1:-1, 1:-1], np.rot90(image)[1:-1, 1:-1], atol=1e-5)


def test_rotate_per_image_angles_equal_per_image_calls(rng):
    images = rng.standard_normal((6, 2, 7, 7)).astype(np.float32)
    angles = np.array([0.0, 90.0, 33.3, -180.0, 271.5, 45.0])
    rotated = datasets.rotate(images, angles)
    assert rotated.shape == images.shape and rotated.dtype == np.float32
    for n, degrees in enumerate(angles):
        np.testing.assert_array_equal(rotated[n], datasets.rotate(images[n], degrees))


def test_rotate_per_channel_angles_align_with_leading_axes(rng):
    images = rng.standard_normal((3, 3, 5, 5))  # N == C: leading alignment decides
    per_image = datasets.rotate(images, np.array([10.0, 20.0, 30.0]))
    per_channel = datasets.rotate(images, np.array([[10.0, 20.0, 30.0]] * 3))
    for n, degrees in enumerate([10.0, 20.0, 30.0]):
        np.testing.assert_array_equal(per_image[n], datasets.rotate(images[n], degrees))
        np.testing.assert_array_equal(per_channel[:, n], datasets.rotate(images[:, n], degrees))
    assert not np.allclose(per_image, per_channel)
    column = datasets.rotate(images, np.array([[10.0], [20.0], [30.0]]))
    np.testing.assert_array_equal(column, per_image)


def test_rotate_many_images_vectorised_result(rng):
    images = rng.random((500, 1, 28, 28), dtype=np.float32)
    angles = rng.uniform(-360, 360, size=500)
    rotated = datasets.rotate(images, angles)
    for n in (0, 1, 250, 499):
        np.testing.assert_array_equal(rotated[n], datasets.rotate(images[n], angles[n]))


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.float16, np.float16),
        (np.uint8, np.float64),
        (np.int32, np.float64),
        (np.bool_, np.float64),
    ],
)
@pytest.mark.parametrize("degrees", [90, 30])
def test_rotate_dtypes(dtype, expected, degrees):
    images = (np.arange(16).reshape(1, 4, 4) % 2).astype(dtype)
    rotated = datasets.rotate(images, degrees)
    assert rotated.dtype == expected
    reference = datasets.rotate(images.astype(np.float64), degrees)
    np.testing.assert_allclose(rotated, reference, rtol=1e-3 if dtype == np.float16 else 1e-6)


def test_rotate_leaves_input_alone_and_returns_new_array(rng):
    images = rng.standard_normal((2, 4, 4))
    before = images.copy()
    for degrees in (0, 90, 17):
        rotated = datasets.rotate(images, degrees)
        assert not np.shares_memory(rotated, images)
    np.testing.assert_array_equal(images, before)


def test_rotate_any_layout(rng):
    images = rng.standard_normal((4, 6, 6))
    for layout in (np.asfortranarray(images), images[:, ::-1, ::-1][:, ::-1, ::-1]):
        np.testing.assert_array_equal(datasets.rotate(layout, 25), datasets.rotate(images, 25))
    swapped = images.astype(images.dtype.newbyteorder(">"))
    np.testing.assert_array_equal(datasets.rotate(swapped, 25), datasets.rotate(images, 25))


def test_rotate_empty_batch():
    assert datasets.rotate(np.zeros((0, 1, 3, 5)), 90).shape == (0, 1, 5, 3)
    assert datasets.rotate(np.zeros((0, 1, 3, 5)), 30).shape == (0, 1, 3, 5)
    assert datasets.rotate(np.zeros((2, 0, 5)), 30).shape == (2, 0, 5)
    assert datasets.rotate(np.zeros((2, 0, 5)), [90, -90]).shape == (2, 5, 0)


@pytest.mark.parametrize(
    "images, degrees, error, match",
    [
        (np.zeros((4, 4), complex), 30, TypeError, "images must be real, got complex"),
        (np.array([["a"]]), 30, TypeError, "images must have a real numeric dtype"),
        (np.zeros(4), 30, ValueError, r"at least 2 dimensions \(\.\.\., H, W\), got shape \(4,\)"),
        (np.zeros((4, 4)), 30 + 1j, TypeError, "degrees must be real, got complex"),
        (np.zeros((4, 4)), True, TypeError, "degrees must be a real number .* got dtype bool"),
        (np.zeros((4, 4)), "30", TypeError, "degrees must have a real numeric dtype"),
        (np.zeros((4, 4)), np.nan, ValueError, "degrees must be finite"),
        (np.zeros((2, 4, 4)), [0, np.inf], ValueError, "degrees must be finite"),
        (np.zeros((2, 4, 4)), [1, 2, 3], ValueError, r"degrees must .* got shape \(3,\)"),
        (np.zeros((4, 4)), [30], ValueError, r"up to \(\), .* got shape \(1,\)"),
        (np.zeros((2, 3, 4, 4)), np.zeros((3,)), ValueError, r"\(2, 3\), .*got shape \(3,\)"),
        (np.zeros((2, 3, 5)), [90, 30], ValueError, r"not square \(3x5\) .* separate calls"),
        (np.zeros((2, 3, 5)), [90, 180], ValueError, r"not square \(3x5\)"),
    ],
)
def test_rotate_errors(images, degrees, error, match):
    with pytest.raises(error, match=match):
        datasets.rotate(images, degrees)


# --------------------------------------------------------------------------- demo image


def test_make_demo_image_is_deterministic() -> None:
    first, second = datasets.make_demo_image(), datasets.make_demo_image()
    assert first.shape == (96, 96) and first.dtype == np.float64
    np.testing.assert_array_equal(first, second)
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert datasets.make_demo_image(40).shape == (40, 40)


@pytest.mark.parametrize(
    "transform",
    [
        lambda a: np.rot90(a, 1),
        lambda a: np.rot90(a, 2),
        lambda a: np.rot90(a, 3),
        lambda a: np.flip(a, -1),
        lambda a: np.flip(a, -2),
        lambda a: a.T,
        lambda a: np.rot90(a, 1).T,
    ],
    ids=["rot90", "rot180", "rot270", "flip_lr", "flip_ud", "transpose", "anti_transpose"],
)
def test_make_demo_image_has_no_p4m_symmetry(transform) -> None:
    image = datasets.make_demo_image()
    difference = np.abs(image - transform(image))
    assert difference.mean() > 0.05
    assert difference.max() > 0.5


def test_make_demo_image_rejects_tiny_sizes() -> None:
    with pytest.raises(ValueError, match="size must be at least 8"):
        datasets.make_demo_image(4)


def test_demo_image_returns_the_shipped_array() -> None:
    image = datasets.demo_image()
    np.testing.assert_array_equal(image, np.load(SHIPPED_DEMO_IMAGE))
    assert image.dtype == np.float64 and image.shape == (96, 96)
    assert SHIPPED_DEMO_IMAGE.stat().st_size < 100_000
    # The file was made by make_demo_image(); exp() may round differently elsewhere.
    np.testing.assert_allclose(image, datasets.make_demo_image(), rtol=0, atol=1e-12)
