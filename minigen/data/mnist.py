"""MNIST and Fashion-MNIST, read from their original IDX gz files.

Files live under ``$MINIGEN_DATA`` (default ``~/.cache/minigen``) in ``mnist/`` and
``fashion-mnist/`` with their original names::

    mnist/train-images-idx3-ubyte.gz   mnist/train-labels-idx1-ubyte.gz
    mnist/t10k-images-idx3-ubyte.gz    mnist/t10k-labels-idx1-ubyte.gz
    fashion-mnist/... (the same four names)

Every file is checked against its published size and md5 sum (``FILES``) before
use; a file that does not match is reported with its expected checksum and never
read. A missing file is downloaded from the mirrors in ``MIRRORS``, tried in order,
into a temporary file that is renamed into place only once its md5 matches. The
decoded arrays are cached for the life of the process, keyed by path, size and
modification time, so repeated loads skip the checksum and the decompression.

Static binarisation is one Bernoulli draw of the grey levels from
``numpy.random.default_rng([seed, split_index])`` (split_index 0 for train, 1 for
test; ``seed`` defaults to 0): pixel = 1 where ``random(dtype=float32) < grey``. It
is drawn on the 28 x 28 images before any padding, so ``pad_to_32`` does not change
it. (It is not Larochelle and Murray's fixed binarised MNIST file, which also uses
a different train/validation split.)
"""

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections import namedtuple
from pathlib import Path

import numpy as np

from .seeding import as_generator
from .transforms import bernoulli_binarize

KINDS = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")

# (kind, file name) -> (size in bytes, md5), as published with the datasets.
FILES = {
    ("mnist", "train-images-idx3-ubyte.gz"): (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("mnist", "train-labels-idx1-ubyte.gz"): (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
    ("mnist", "t10k-images-idx3-ubyte.gz"): (1648877, "9fb629c4189551a2d022fa330f9573f3"),
    ("mnist", "t10k-labels-idx1-ubyte.gz"): (4542, "ec29112dd5afa0611ce80d1b7f02629c"),
    ("fashion-mnist", "train-images-idx3-ubyte.gz"): (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("fashion-mnist", "train-labels-idx1-ubyte.gz"): (29515, "25c81989df183df01b3e8a0aad5dffbe"),
    ("fashion-mnist", "t10k-images-idx3-ubyte.gz"): (4422102, "bef4ecab320f06d8554ea6380940ec79"),
    ("fashion-mnist", "t10k-labels-idx1-ubyte.gz"): (5148, "bb300cfdad3c16e7a12a480ee83cd310"),
}

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}

CLASSES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}

_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049
_COUNTS = {"train": 60000, "test": 10000}
_PREFIXES = {"train": "train", "test": "t10k"}
_DOWNLOAD_TIMEOUT_SECONDS = 60
_CHUNK_BYTES = 1 << 20

_decoded = {}

MNISTArrays = namedtuple("MNISTArrays", ["images", "labels"])


def data_root():
    """The data folder: ``$MINIGEN_DATA``, or ``~/.cache/minigen`` when it is unset."""
    return Path(os.environ.get("MINIGEN_DATA") or "~/.cache/minigen").expanduser()


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path, kind, name):
    expected_size, expected_md5 = FILES[kind, name]
    size = path.stat().st_size
    actual_md5 = _md5(path)
    if size != expected_size or actual_md5 != expected_md5:
        raise RuntimeError(
            f"{kind}: {path} is corrupted or truncated ({size} bytes, md5 {actual_md5}); expected "
            f"{expected_size} bytes with md5 {expected_md5}. Delete it to download it again, or replace it "
            "with a verified copy."
        )


def _fetch(url, destination):
    """Stream ``url`` into the file ``destination``; return the md5 of the bytes that arrived."""
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS) as response, open(destination, "wb") as file:
        for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


def _download(path, kind, name, mirrors):
    """Fetch ``name`` from the first mirror that serves it with the right md5; write it atomically."""
    expected_md5 = FILES[kind, name][1]
    path.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        # A temporary file in the target folder, so the final rename is atomic and a
        # partial or wrong download never sits under the real name.
        descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=path.parent)
        os.close(descriptor)
        try:
            actual_md5 = _fetch(url, temporary)
            if actual_md5 == expected_md5:
                os.replace(temporary, path)
                return
            failures.append(f"{url} (md5 {actual_md5}, expected {expected_md5})")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            failures.append(f"{url} ({error})")
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    raise RuntimeError(
        f"{kind}: could not download {name} (md5 {expected_md5}); tried "
        + "; ".join(failures or ["no mirrors"])
        + f". When offline, download the file by hand and place it at {path}, or set MINIGEN_DATA to a "
        "folder that holds mnist/ and fashion-mnist/ with the original file names."
    )


def _verified_file(kind, name, root, download):
    path = Path(root) / kind / name
    if not path.exists():
        if not download:
            raise FileNotFoundError(f"{kind}: {path} is missing and download=False")
        _download(path, kind, name, MIRRORS.get(kind, ()))
    return path


def _read_idx(path, kind, magic, shape):
    """The uint8 payload of an IDX gz file, after checking its magic number and dimensions."""
    raw = gzip.decompress(path.read_bytes())
    ndim = len(shape)
    header = 4 + 4 * ndim
    found_magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found_magic != magic:
        raise RuntimeError(f"{kind}: {path} has IDX magic number {found_magic}, expected {magic}")
    found_shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if found_shape != shape or len(raw) != header + int(np.prod(shape)):
        raise RuntimeError(
            f"{kind}: {path} holds IDX dimensions {found_shape} in {len(raw) - header} payload bytes, "
            f"expected {shape}"
        )
    # frombuffer over bytes is read-only, which protects the process-wide cache.
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _load_array(kind, split, part, root, download):
    count = _COUNTS[split]
    if part == "images":
        name, magic, shape = f"{_PREFIXES[split]}-images-idx3-ubyte.gz", _IMAGES_MAGIC, (count, 28, 28)
    else:
        name, magic, shape = f"{_PREFIXES[split]}-labels-idx1-ubyte.gz", _LABELS_MAGIC, (count,)
    path = _verified_file(kind, name, root, download)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _decoded:
        _verify(path, kind, name)
        _decoded[key] = _read_idx(path, kind, magic, shape)
    return _decoded[key]


def download_mnist(kind="mnist", root=None):
    """Make sure the four files of ``kind`` are present and verified under ``root`` (default ``data_root()``)."""
    _check_choice("download_mnist", "kind", kind, KINDS)
    root = data_root() if root is None else Path(root)
    for split in SPLITS:
        for part in ("images", "labels"):
            _load_array(kind, split, part, root, download=True)


def _check_choice(function, argument, value, choices):
    if value not in choices:
        raise ValueError(f"{function}: {argument} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _scaled(grey, scale):
    """Grey levels in [0, 1] mapped to [0, 1] (unit) or [-1, 1] (symmetric), in place."""
    if scale == "symmetric":
        grey *= np.float32(2.0)
        grey -= np.float32(1.0)
    return grey


def load_mnist(split="train", kind="mnist", scale="unit", pad_to_32=False, binarize=None, seed=0, labels=True,
               root=None, download=True):
    """MNIST or Fashion-MNIST as NumPy arrays.

    Returns ``MNISTArrays(images, labels)`` (a named tuple) or, with ``labels=False``,
    the images alone: float32 images of shape (N, 1, 28, 28), or (N, 1, 32, 32) with
    ``pad_to_32`` (2 background pixels on each side, the digit stays centred), in
    [0, 1] (``scale="unit"``) or [-1, 1] (``"symmetric"``), and int64 labels 0..9.
    ``binarize="static"`` returns the seeded Bernoulli draw described in the module
    docstring (values {0, 1}, or {-1, 1} when symmetric). Dynamic binarisation is a
    property of the batch stream, not of arrays: use ``MNIST(..., binarize="dynamic")``
    or ``DataLoader(..., transform=dynamic_binarize(seed))`` with grey-level images.
    """
    _check_choice("load_mnist", "split", split, SPLITS)
    _check_choice("load_mnist", "kind", kind, KINDS)
    _check_choice("load_mnist", "scale", scale, ("unit", "symmetric"))
    _check_choice("load_mnist", "binarize", binarize, (None, "static", "dynamic"))
    if binarize == "dynamic":
        raise ValueError(
            "load_mnist: binarize='dynamic' draws a fresh binarisation for every batch, which plain arrays "
            "cannot carry; use MNIST(..., binarize='dynamic') with a DataLoader, or load grey levels "
            "(binarize=None, scale='unit') and pass transform=dynamic_binarize(seed) to the DataLoader"
        )
    root = data_root() if root is None else Path(root)
    grey = np.divide(_load_array(kind, split, "images", root, download), np.float32(255.0), dtype=np.float32)
    if binarize == "static":
        grey = bernoulli_binarize(grey, as_generator([seed, SPLITS.index(split)]))
    if pad_to_32:
        grey = np.pad(grey, ((0, 0), (2, 2), (2, 2)))
    images = _scaled(grey, scale)[:, None]
    if not labels:
        return images
    return MNISTArrays(images, _load_array(kind, split, "labels", root, download).astype(np.int64))


class MNIST:
    """MNIST or Fashion-MNIST as a dataset for ``DataLoader``: ``len``, ``[index]`` and ``get_batch``.

    The arguments are those of ``load_mnist``. With ``binarize="dynamic"`` every fetch
    draws a fresh Bernoulli binarisation from a generator seeded by ``[seed, split_index, 1]``,
    so each batch, and each epoch, sees new binary images while a run stays reproducible.
    """

    def __init__(self, split="train", kind="mnist", scale="unit", pad_to_32=False, binarize=None, seed=0,
                 labels=True, root=None, download=True):
        dynamic = binarize == "dynamic"
        arrays = load_mnist(split, kind, scale="unit" if dynamic else scale, pad_to_32=pad_to_32,
                            binarize=None if dynamic else binarize, seed=seed, labels=True, root=root,
                            download=download)
        self.images, self.targets = arrays.images, arrays.labels
        self.classes = CLASSES[kind]
        self.scale = scale
        self._with_labels = labels
        self._generator = as_generator([seed, SPLITS.index(split), 1]) if dynamic else None

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.get_batch(index)

    def get_batch(self, indices):
        """Images (and labels) at ``indices`` (an integer or an integer array), binarised afresh if dynamic."""
        images = self.images[indices]
        if self._generator is not None:
            images = _scaled(bernoulli_binarize(images, self._generator), self.scale)
        if not self._with_labels:
            return images
        return images, self.targets[indices]
