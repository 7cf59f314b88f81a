"""Small image data sets for training and testing group CNNs, and rotating them.

- :func:`load_digits`: scikit-learn's bundled 8x8 handwritten digits (no download);
- :func:`load_fashion_mnist`: Fashion-MNIST from local IDX files (never downloaded here);
- :func:`load_idx`: one file in the IDX format of MNIST, raw or gzip-compressed;
- :func:`rotate`: turn images by any angles, exactly for multiples of 90 degrees;
- :func:`demo_image`: the picture of ``python -m gcnn demo`` and the notebooks, one 2-D float64
  array without any symmetry (:func:`make_demo_image` draws it at any size).

Data sets come as float32 arrays of shape (N, 1, H, W) with values in [0, 1] and labels as int64
arrays of shape (N,), ready for :func:`gcnn.lift`.  Nothing here downloads anything.

Examples
--------
>>> import numpy as np
>>> from gcnn import datasets
>>> image = np.arange(6.0).reshape(1, 1, 2, 3)
>>> datasets.rotate(image, 90)[0, 0]
array([[2., 5.],
       [1., 4.],
       [0., 3.]])
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from typing import Any, BinaryIO, Union

import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_real_array

__all__ = [
    "FASHION_MNIST_CLASSES",
    "demo_image",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "make_demo_image",
    "rotate",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Fashion-MNIST's class names, indexed by label.
FASHION_MNIST_CLASSES = (
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

# Where Debian's package dataset-fashion-mnist installs the four files.
_SYSTEM_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
_FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# IDX type codes; the format stores multi-byte values big-endian.
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_READ_CHUNK = 1 << 24
# Output pixels per batch of rotated images: bounds the temporaries (a few MB each) and keeps
# them in cache, while the Python loop over batches stays short.
_ROTATE_CHUNK_PIXELS = 1 << 15
# The demo picture, inside the package, and the factor of the grid it is drawn on before
# averaging (anti-aliasing).
_DEMO_IMAGE_RESOURCE = "data/demo_image.npy"
_SUPERSAMPLING = 4


# --------------------------------------------------------------------------- scikit-learn digits


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits as float images in [0, 1] and int64 labels.

    The 1797 images ship inside the scikit-learn wheel (:func:`sklearn.datasets.load_digits`), so
    nothing is downloaded.  scikit-learn is an optional dependency of gcnn.

    Returns
    -------
    images : numpy.ndarray
        float32, shape (1797, 1, 8, 8): the raw gray levels 0..16 divided by 16.
    labels : numpy.ndarray
        int64, shape (1797,): the digit 0..9 each image shows.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.

    Examples
    --------
    >>> import pytest
    >>> _ = pytest.importorskip("sklearn")
    >>> from gcnn import datasets
    >>> images, labels = datasets.load_digits()
    >>> images.shape, images.dtype, labels[:5]
    ((1797, 1, 8, 8), dtype('float32'), array([0, 1, 2, 3, 4]))
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:
        raise ImportError(
            "gcnn.datasets.load_digits needs scikit-learn, which is not installed: run "
            'python -m pip install "gcnn[train]" (or pip install scikit-learn)'
        ) from exc
    bunch = sklearn_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32).reshape(-1, 1, 8, 8)
    images /= np.float32(16)
    return images, np.asarray(bunch.target, dtype=np.int64)


# --------------------------------------------------------------------------- IDX files


def _read_at_most(stream: BinaryIO | gzip.GzipFile, limit: int) -> bytearray:
    """Up to `limit` bytes of `stream`; memory grows with what is read, never with `limit`."""
    buffer = bytearray()
    while len(buffer) < limit:
        chunk = stream.read(min(_READ_CHUNK, limit - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _parse_idx(stream: BinaryIO | gzip.GzipFile, filename: str) -> np.ndarray:
    where = f"IDX file '{filename}'"
    head = _read_at_most(stream, 4)
    if len(head) < 4:
        raise ValueError(
            f"{where} is truncated: it has {len(head)} bytes, an IDX header needs at least 4"
        )
    if head[0] != 0 or head[1] != 0:
        raise ValueError(
            f"{where} has a bad magic number 0x{head.hex()}: an IDX file starts with two zero "
            "bytes, a type code and the number of dimensions"
        )
    type_code, ndim = head[2], head[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{code:02X} ({_IDX_DTYPES[code].name})" for code in _IDX_DTYPES)
        raise ValueError(f"{where} has the unknown type code 0x{type_code:02X}; known: {known}")
    if ndim == 0:
        raise ValueError(f"{where} declares 0 dimensions; an IDX array has at least one")
    dims = _read_at_most(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{where} has a truncated header: {ndim} dimensions need {4 * ndim} bytes of sizes, "
            f"the file has {len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    # One byte more than the header promises tells "exactly right" from "too long" without
    # ever reading (or allocating) more than the file holds.
    data = _read_at_most(stream, expected + 1)
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing data"
        found = f"{len(data)} bytes" if len(data) < expected else "more"
        raise ValueError(
            f"{where} {problem}: its header says shape {shape} of {dtype.name} "
            f"({expected} bytes of data after the header), the file has {found}"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def load_idx(path: PathLike) -> np.ndarray:
    """Read one file in the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.

    Parameters
    ----------
    path : str or os.PathLike
        The file.  Gzip compression is recognised by the file's first two bytes (1f 8b), not by
        its name.

    Returns
    -------
    numpy.ndarray
        The array with the shape the header declares and its natural dtype (uint8, int8, int16,
        int32, float32 or float64) in native byte order.

    Raises
    ------
    TypeError
        If `path` is not a str or os.PathLike.
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is malformed: a bad magic number, an unknown type code, zero dimensions, a
        truncated header, less or more data than the header declares, or corrupt gzip data.  The
        message names the file.

    Notes
    -----
    An IDX file is a header followed by the values in C order: two zero bytes, one type code
    (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), one byte with
    the number of dimensions, then each dimension as a big-endian uint32.  Multi-byte values
    are big-endian.  The file is read in chunks and checked against the header, so a header
    declaring a huge array never allocates more memory than the file's contents.

    Examples
    --------
    >>> import os, struct, tempfile
    >>> import numpy as np
    >>> from gcnn import datasets
    >>> header = bytes([0, 0, 0x0B, 2]) + struct.pack(">2I", 2, 3)
    >>> values = np.arange(6, dtype=">i2").tobytes()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "six.idx")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(header + values)
    ...     datasets.load_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=int16)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    filename = os.fsdecode(os.fspath(path))
    with open(filename, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse_idx(raw, filename)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            try:
                return _parse_idx(stream, filename)
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise ValueError(f"IDX file '{filename}' has corrupt gzip data: {exc}") from exc


# --------------------------------------------------------------------------- Fashion-MNIST


def _fashion_mnist_folders(root) -> list[str]:
    """The folders to look in, in order."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be None, a str or os.PathLike, got {type(root).__name__}")
        return [os.fsdecode(os.fspath(root))]
    folders = []
    from_environment = os.environ.get("GCNN_DATA")
    if from_environment:
        folders += [from_environment, os.path.join(from_environment, "fashion-mnist")]
    folders.append(_SYSTEM_FASHION_MNIST)
    return folders


def _fashion_mnist_files(folder: str) -> tuple[dict[str, str], str]:
    """The four files in `folder` (raw preferred over .gz) and, if any is missing, why."""
    if not os.path.isdir(folder):
        return {}, "no such folder"
    found = {}
    for name in _FASHION_MNIST_FILES:
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                found[name] = path
                break
    missing = [name for name in _FASHION_MNIST_FILES if name not in found]
    return found, "missing " + ", ".join(f"{name}[.gz]" for name in missing) if missing else ""


def _fashion_mnist_split(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    images = load_idx(images_path)
    labels = load_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"'{images_path}' should hold uint8 images of shape (N, 28, 28), got {images.dtype} "
            f"of shape {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"'{labels_path}' should hold uint8 labels of shape (N,), got {labels.dtype} of "
            f"shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"'{images_path}' holds {len(images)} images but '{labels_path}' holds "
            f"{len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(
            f"'{labels_path}' holds a label {labels.max()}; Fashion-MNIST's labels are 0..9"
        )
    scaled = images.reshape(len(images), 1, 28, 28).astype(np.float32)
    np.divide(scaled, np.float32(255), out=scaled)
    return scaled, labels.astype(np.int64)


def load_fashion_mnist(
    root: PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST (60,000 training and 10,000 test images, 10 classes) from local files.

    Nothing is downloaded: the four IDX files ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    (each raw or with ``.gz`` appended; raw is preferred when both exist) must be on disk.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The folder holding the four files.  If given, only this folder is searched.  Otherwise
        the search goes, in order, through ``$GCNN_DATA`` (when set), its subfolder
        ``fashion-mnist``, and ``/usr/share/datasets/fashion-mnist`` (where Debian's package
        ``dataset-fashion-mnist`` installs the files); the first folder with all four files
        is used.

    Returns
    -------
    (train_images, train_labels), (test_images, test_labels) : numpy.ndarray
        Images are float32 of shape (N, 1, 28, 28) with values in [0, 1] (the uint8 gray
        levels divided by 255); labels are int64 of shape (N,) with values 0..9, naming
        :data:`FASHION_MNIST_CLASSES`.

    Raises
    ------
    TypeError
        If `root` is not None, a str or os.PathLike.
    FileNotFoundError
        If no folder searched holds all four files.  The message lists each folder searched,
        what was missing there, and how to get the data.
    ValueError
        If a file is malformed (see :func:`load_idx`), images are not uint8 of shape
        (N, 28, 28), labels are not uint8 of shape (N,), the counts of images and labels
        differ, or a label is above 9.

    Notes
    -----
    To get the files: on Debian or Ubuntu, ``apt-get install dataset-fashion-mnist`` as root;
    anywhere else, download the four ``.gz`` files from the Fashion-MNIST GitHub repository
    (zalandoresearch/fashion-mnist, folder ``data/fashion``) into a folder and pass it as
    `root` or set the environment variable ``GCNN_DATA`` to it.

    Examples
    --------
    A folder with two tiny training images and one test image in the same format:

    >>> import os, struct, tempfile
    >>> import numpy as np
    >>> from gcnn import datasets
    >>> def write_idx(path, array):
    ...     header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    ...     with open(path, "wb") as f:
    ...         _ = f.write(header + array.astype(np.uint8).tobytes())
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for split, count in (("train", 2), ("t10k", 1)):
    ...         images = np.full((count, 28, 28), 255)
    ...         write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte"), images)
    ...         write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte"), np.arange(count))
    ...     (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist(root=folder)
    >>> x_train.shape, x_train.dtype, float(x_train.max()), y_train
    ((2, 1, 28, 28), dtype('float32'), 1.0, array([0, 1]))
    >>> datasets.FASHION_MNIST_CLASSES[int(y_train[1])]
    'Trouser'
    """
    folders = _fashion_mnist_folders(root)
    reasons = []
    for folder in folders:
        files, reason = _fashion_mnist_files(folder)
        if not reason:
            train_images, train_labels, test_images, test_labels = (
                files[name] for name in _FASHION_MNIST_FILES
            )
            return (
                _fashion_mnist_split(train_images, train_labels),
                _fashion_mnist_split(test_images, test_labels),
            )
        reasons.append(f"  {folder}: {reason}")
    raise FileNotFoundError(
        "Fashion-MNIST not found; looked in:\n"
        + "\n".join(reasons)
        + "\nTo get it: on Debian/Ubuntu run `apt-get install dataset-fashion-mnist` as root "
        f"(it installs the files into {_SYSTEM_FASHION_MNIST}); or download the four IDX files "
        + ", ".join(f"{name}.gz" for name in _FASHION_MNIST_FILES)
        + " from the Fashion-MNIST GitHub repository (zalandoresearch/fashion-mnist, folder "
        "data/fashion) into a folder and pass it as root= or set $GCNN_DATA to it."
    )


# --------------------------------------------------------------------------- rotation


def _per_image_angles(
    degrees, batch_shape: tuple[int, ...], images_shape
) -> tuple[np.ndarray, np.ndarray]:
    """`degrees` as float64, as given and broadcast to `batch_shape` along the leading axes."""
    angles = as_real_array(degrees, "degrees")
    if angles.dtype.kind == "b":
        raise TypeError("degrees must be a real number or an array of them, got dtype bool")
    if not np.all(np.isfinite(angles)):
        raise ValueError(f"degrees must be finite, got {degrees!r}")
    mismatch = ValueError(
        f"degrees must be a scalar or have a shape that matches the leading axes of images "
        f"(shape {images_shape}, so up to {batch_shape}, each axis either equal or 1), got shape "
        f"{angles.shape}"
    )
    if angles.ndim > len(batch_shape):
        raise mismatch
    given = angles.astype(np.float64)
    # Align with the LEADING axes: (N,) angles for (N, C, H, W) images become (N, 1).
    aligned = given.reshape(given.shape + (1,) * (len(batch_shape) - given.ndim))
    try:
        return given, np.broadcast_to(aligned, batch_shape)
    except ValueError:
        raise mismatch from None


def _quarter_turns(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which angles are exact multiples of 90 degrees, and their quarter turns 0..3."""
    exact = np.mod(angles, 90.0) == 0
    turns = np.where(exact, np.floor_divide(angles, 90.0) % 4, 0).astype(np.intp)
    return exact, turns


def _bilinear_rotate(images: np.ndarray, angles: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Rotate each of (M, H, W) `images` by its angle in degrees, bilinear, zero outside.

    Output pixel (i, j) samples the input at ``(y, x) = R (i, j) + offset`` with
    ``R = [[c, s], [-s, c]]`` (c, s the cosine and sine of the angle) and the offset that fixes
    the centre ((H-1)/2, (W-1)/2): the mapping of ``scipy.ndimage.rotate(reshape=False)``,
    written the same way so that samples land on the same side of the image's edge.
    """
    count, height, width = images.shape
    source = np.ascontiguousarray(images, dtype=dtype).reshape(-1)
    radians = np.deg2rad(np.mod(angles, 360.0))
    cosines, sines = np.cos(radians), np.sin(radians)
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    # Neighbour steps; a 1-pixel-wide axis has no second neighbour (its weight is then 0).
    step_y = width if height > 1 else 0
    step_x = 1 if width > 1 else 0
    out = np.empty((count, height, width), dtype=dtype)
    per_chunk = max(1, _ROTATE_CHUNK_PIXELS // (height * width))
    for start in range(0, count, per_chunk):
        stop = min(count, start + per_chunk)
        c = cosines[start:stop, None, None]
        s = sines[start:stop, None, None]
        offset_y = centre_y - (c * centre_y + s * centre_x)
        offset_x = centre_x - (-s * centre_y + c * centre_x)
        y = (c * rows + s * cols) + offset_y
        x = (-s * rows + c * cols) + offset_x
        inside = (y >= 0) & (y <= height - 1) & (x >= 0) & (x <= width - 1)
        # Top-left neighbour, kept one short of the last row/column so that a sample on the
        # far edge uses weight 1 on the last pixel rather than reading past it.
        y0 = np.clip(np.floor(y), 0, max(height - 2, 0))
        x0 = np.clip(np.floor(x), 0, max(width - 2, 0))
        fy = (y - y0).astype(dtype)
        fx = (x - x0).astype(dtype)
        index = y0.astype(np.intp) * width + x0.astype(np.intp)
        index += (np.arange(start, stop, dtype=np.intp) * (height * width))[:, None, None]
        # Outside samples read a clipped neighbour and are zeroed below.
        v00 = np.take(source, index)
        v01 = np.take(source, index + step_x)
        v10 = np.take(source, index + step_y)
        v11 = np.take(source, index + (step_y + step_x))
        one = dtype.type(1)
        top = (one - fx) * v00 + fx * v01
        bottom = (one - fx) * v10 + fx * v11
        value = (one - fy) * top + fy * bottom
        out[start:stop] = np.where(inside, value, dtype.type(0))
    return out


def rotate(images: ArrayLike, degrees: ArrayLike) -> np.ndarray:
    """Rotate images counter-clockwise (as displayed, row 0 at the top) by angles in degrees.

    Parameters
    ----------
    images : array_like
        Shape (..., H, W): the last two axes are the image; the leading (batch) axes are
        anything, e.g. (N, C, H, W).
    degrees : float or array_like
        The angle, counter-clockwise in degrees: one for all images, or one per image with a
        shape aligned with the LEADING axes of `images` (unlike NumPy's broadcasting, which
        aligns trailing axes): `degrees` is padded with trailing length-1 axes to
        ``images.ndim - 2`` dimensions and then broadcast to ``images.shape[:-2]``.  So
        ``(N,)`` angles for (N, C, H, W) images turn all channels of image n by
        ``degrees[n]``; ``(N, C)`` angles turn each channel on its own.

    Returns
    -------
    numpy.ndarray
        A new array of the input's dtype for floating input (float32 stays float32), float64
        for integer or bool input.  Its shape is the input's, except that H and W swap when
        every angle is an odd multiple of 90 degrees (a quarter turn of a non-square image).

    Raises
    ------
    TypeError
        If `images` or `degrees` is complex, bool (`degrees`) or not numeric.
    ValueError
        If `images` has fewer than 2 dimensions, `degrees` is not finite or its shape does not
        match the leading axes of `images`, or the images are not square and the angles mix
        odd multiples of 90 degrees with other angles (the outputs would differ in shape).

    Notes
    -----
    Angles that are exact multiples of 90 degrees (negative ones and ones beyond 360 too)
    are exact: ``np.rot90(image, k, axes=(-2, -1))`` with ``k = degrees / 90``.  Other angles
    interpolate bilinearly about the centre ((H-1)/2, (W-1)/2) and keep the shape (H, W):
    output pixel (i, j) takes the input at

        y = (H-1)/2 + cos(t) (i - (H-1)/2) + sin(t) (j - (W-1)/2)
        x = (W-1)/2 - sin(t) (i - (H-1)/2) + cos(t) (j - (W-1)/2)

    (the inverse rotation) and is 0 where (y, x) falls outside [0, H-1] x [0, W-1], as
    ``scipy.ndimage.rotate(image, t, reshape=False, order=1, mode="constant", cval=0)``
    computes it.  Float32 images are interpolated in float32, others in float64.

    The work is vectorised across images, so per-image angles cost about the same as one
    angle for all.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import datasets
    >>> image = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    >>> datasets.rotate(image, 90)
    array([[2., 4.],
           [1., 3.]], dtype=float32)
    >>> bool(np.array_equal(datasets.rotate(image, -270), np.rot90(image)))
    True
    >>> datasets.rotate(np.eye(3), 45).round(3)
    array([[0.   , 0.086, 0.   ],
           [0.586, 1.   , 0.586],
           [0.   , 0.086, 0.   ]])

    One angle per image of a batch (N, C, H, W):

    >>> batch = np.stack([np.eye(3)[None]] * 2)
    >>> datasets.rotate(batch, [0, 90])[:, 0]
    array([[[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]],
    <BLANKLINE>
           [[0., 0., 1.],
            [0., 1., 0.],
            [1., 0., 0.]]])
    """
    array = as_real_array(images, "images")
    if array.ndim < 2:
        raise ValueError(
            f"images must have at least 2 dimensions (..., H, W), got shape {array.shape}"
        )
    batch_shape = array.shape[:-2]
    height, width = array.shape[-2:]
    given, broadcast = _per_image_angles(degrees, batch_shape, array.shape)
    out_dtype = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
    work_dtype = np.dtype(np.float32) if out_dtype.itemsize <= 4 else np.dtype(np.float64)

    # The output shape follows the angles as given, so that an empty batch turned by 90
    # degrees has the same shape as a full one.
    given_exact, given_turns = _quarter_turns(given)
    odd_turns = given_exact & (given_turns % 2 == 1)
    out_hw = (height, width)
    if height != width and odd_turns.any():
        if not odd_turns.all():
            raise ValueError(
                f"images are not square ({height}x{width}) and the angles mix odd multiples of "
                "90 degrees (which swap H and W) with other angles (which keep them); rotate "
                "the two kinds in separate calls"
            )
        out_hw = (width, height)

    angles = broadcast.reshape(-1)
    exact, quarter_turns = _quarter_turns(angles)
    flat = array.reshape((len(angles), height, width))
    out = np.empty((len(angles),) + out_hw, dtype=out_dtype)
    if out.size == 0:
        return out.reshape(batch_shape + out_hw)
    for turns in range(4):
        selected = exact & (quarter_turns == turns)
        if selected.all():  # the usual one-angle case: no gather, no scatter
            out[...] = np.rot90(flat, turns, axes=(-2, -1))
            break
        if selected.any():
            out[selected] = np.rot90(flat[selected], turns, axes=(-2, -1))
    interpolated = ~exact
    if interpolated.any():
        out[interpolated] = _bilinear_rotate(flat[interpolated], angles[interpolated], work_dtype)
    return out.reshape(batch_shape + out_hw)


# --------------------------------------------------------------------------- demo image


def make_demo_image(size: int = 96) -> np.ndarray:
    """Draw the project's demo picture.

    A letter "F", an arrow pointing right, three soft blobs and a gradient that rises to
    the right and towards the top. None of them is symmetric under a quarter turn or a
    mirror, so every element of p4m changes the picture visibly, which makes the cyclic
    shift of the orientation axis easy to see in the lifted maps.

    Parameters
    ----------
    size : int, optional
        Side length of the square image in pixels (default 96, the size of the shipped
        picture of :func:`demo_image`). At least 8.

    Returns
    -------
    image : ndarray of float64, shape (size, size)
        Grayscale values in ``[0, 1]``; row 0 is the top of the picture.

    Raises
    ------
    ValueError
        If ``size`` is smaller than 8.

    Notes
    -----
    The shapes are defined in unit coordinates (``u`` to the right, ``v`` downwards) and
    rendered on a grid 4 times finer, then averaged over 4x4 blocks, which anti-aliases
    the edges. The result depends on nothing but ``size``.

    Examples
    --------
    >>> from gcnn import datasets
    >>> image = datasets.make_demo_image(32)
    >>> image.shape, image.dtype
    ((32, 32), dtype('float64'))
    >>> bool(0.0 <= image.min() and image.max() <= 1.0)
    True
    """
    size = int(size)
    if size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    fine = size * _SUPERSAMPLING
    centres = (np.arange(fine) + 0.5) / fine
    v, u = np.meshgrid(centres, centres, indexing="ij")

    # Brighter to the right and towards the top: breaks both mirror symmetries.
    image = 0.05 + 0.25 * (0.7 * u + 0.3 * (1.0 - v))

    def box(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
        return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)

    letter_f = (
        box(0.18, 0.30, 0.15, 0.85)  # stem
        | box(0.18, 0.62, 0.15, 0.27)  # top bar, the longer one
        | box(0.18, 0.50, 0.44, 0.55)  # middle bar
    )
    image = np.where(letter_f, 0.92, image)

    shaft = box(0.52, 0.80, 0.70, 0.76)
    tip_u, head_base_u, head_half_height, axis_v = 0.93, 0.78, 0.10, 0.73
    head = (
        (u >= head_base_u)
        & (u <= tip_u)
        & (np.abs(v - axis_v) <= head_half_height * (tip_u - u) / (tip_u - head_base_u))
    )
    image = np.where(shaft | head, 0.75, image)

    blobs = ((0.76, 0.32, 0.060, 0.55), (0.60, 0.52, 0.035, 0.45), (0.42, 0.86, 0.045, 0.50))
    for blob_u, blob_v, sigma, height in blobs:
        image = image + height * np.exp(-((u - blob_u) ** 2 + (v - blob_v) ** 2) / (2 * sigma**2))

    image = np.clip(image, 0.0, 1.0)
    image = image.reshape(size, _SUPERSAMPLING, size, _SUPERSAMPLING).mean(axis=(1, 3))
    return np.ascontiguousarray(image, dtype=np.float64)


def demo_image() -> np.ndarray:
    """The demo picture shipped with gcnn (of ``python -m gcnn demo`` and the notebooks).

    Returns
    -------
    image : ndarray of float64, shape (96, 96)
        The array stored in ``gcnn/data/demo_image.npy``, values in ``[0, 1]``.

    Notes
    -----
    The file is read through :mod:`importlib.resources`, so it is found in a source tree,
    an installed wheel or a zipped package alike. Should it be missing (a trimmed
    install), the picture is drawn again with :func:`make_demo_image`, which produced the
    file in the first place.

    Examples
    --------
    >>> from gcnn import datasets
    >>> datasets.demo_image().shape
    (96, 96)
    """
    try:
        from importlib import resources

        resource = resources.files("gcnn").joinpath(_DEMO_IMAGE_RESOURCE)
        raw = resource.read_bytes()
        image = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ImportError, OSError, ValueError, TypeError, AttributeError):
        return make_demo_image()
    return np.asarray(image, dtype=np.float64)
