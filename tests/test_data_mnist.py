"""minigen.data MNIST / Fashion-MNIST: loading, scaling, padding, binarisation, checksums, downloads.

The data come from $MINIGEN_DATA (tests/conftest.py points it at ../shared/data); no test
touches the network: downloads are served by a fake mirror on the local file system.
"""

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from minigen.data import MNIST, DataLoader, data_root, dynamic_binarize, load_mnist
from minigen.data import mnist as mnist_module

# Captured at import: some tests point MINIGEN_DATA elsewhere and copy files from here.
SOURCE = data_root()

pytestmark = pytest.mark.skipif(
    not (SOURCE / "mnist" / "t10k-images-idx3-ubyte.gz").exists(),
    reason="MNIST files not found under $MINIGEN_DATA",
)


@pytest.fixture(scope="module")
def train():
    return load_mnist("train")


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist("test")


def _centre_of_mass(images):
    grid = np.arange(images.shape[-1])
    mass = images.sum(axis=(-2, -1))
    return (images.sum(-1) @ grid).mean() / mass.mean(), (images.sum(-2) @ grid).mean() / mass.mean()


def test_mnist_sizes_ranges_and_labels(train, mnist_test):
    for arrays, count in ((train, 60000), (mnist_test, 10000)):
        images, labels = arrays
        assert images.shape == (count, 1, 28, 28) and images.dtype == np.float32
        assert labels.shape == (count,) and labels.dtype == np.int64
        assert images.min() == 0.0 and images.max() == 1.0
        np.testing.assert_array_equal(np.unique(labels), np.arange(10))
    assert np.bincount(mnist_test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert train.images.mean() == pytest.approx(0.1307, abs=1e-3)


def test_symmetric_scale_and_images_only(mnist_test):
    images = load_mnist("test", scale="symmetric", labels=False)
    assert isinstance(images, np.ndarray) and images.min() == -1.0 and images.max() == 1.0
    np.testing.assert_allclose(images, 2 * mnist_test.images - 1, atol=1e-6)


@pytest.mark.parametrize("scale, background", [("unit", 0.0), ("symmetric", -1.0)])
def test_padding_to_32_keeps_the_digit_centred(mnist_test, scale, background):
    padded = load_mnist("test", scale=scale, pad_to_32=True, labels=False)
    assert padded.shape == (10000, 1, 32, 32)
    border = np.concatenate([padded[..., :2, :].ravel(), padded[..., -2:, :].ravel(),
                             padded[..., :, :2].ravel(), padded[..., :, -2:].ravel()])
    assert (border == background).all()
    unpadded = mnist_test.images if scale == "unit" else 2 * mnist_test.images - 1
    np.testing.assert_allclose(padded[..., 2:-2, 2:-2], unpadded, atol=1e-6)
    rows, columns = _centre_of_mass(padded[:, 0] - background)
    unpadded_rows, unpadded_columns = _centre_of_mass(mnist_test.images[:, 0])
    assert rows == pytest.approx(unpadded_rows + 2) and columns == pytest.approx(unpadded_columns + 2)
    assert abs(rows - 15.5) < 1 and abs(columns - 15.5) < 1


def test_static_binarisation_is_a_fixed_seeded_draw(mnist_test):
    first = load_mnist("test", binarize="static", labels=False)
    np.testing.assert_array_equal(first, load_mnist("test", binarize="static", labels=False))
    assert set(np.unique(first)) == {0.0, 1.0}
    assert first.mean() == pytest.approx(mnist_test.images.mean(), abs=2e-3)
    assert (first[mnist_test.images == 0] == 0).all() and (first[mnist_test.images == 1] == 1).all()
    assert not np.array_equal(first, load_mnist("test", binarize="static", seed=1, labels=False))
    padded = load_mnist("test", binarize="static", pad_to_32=True, scale="symmetric", labels=False)
    np.testing.assert_array_equal(padded[..., 2:-2, 2:-2], 2 * first - 1)


def test_dynamic_binarisation_redraws_every_batch(mnist_test):
    dataset = MNIST("test", binarize="dynamic")
    loader = DataLoader(dataset, batch_size=256)
    first_epoch, second_epoch = next(iter(loader)), next(iter(loader))
    images = first_epoch[0].numpy()
    assert set(np.unique(images)) == {0.0, 1.0}
    assert not np.array_equal(images, second_epoch[0].numpy())
    np.testing.assert_array_equal(first_epoch[1].numpy(), mnist_test.labels[:256])
    replay = next(iter(DataLoader(MNIST("test", binarize="dynamic"), batch_size=256)))
    np.testing.assert_array_equal(replay[0].numpy(), images)
    symmetric = MNIST("test", binarize="dynamic", scale="symmetric", labels=False)
    assert set(np.unique(symmetric.get_batch(np.arange(8)))) == {-1.0, 1.0}
    assert len(dataset) == 10000 and dataset.classes[3] == "3"


def test_dynamic_binarize_transform(mnist_test):
    loader = DataLoader(mnist_test, batch_size=128, transform=dynamic_binarize(0))
    first, second = next(iter(loader)), next(iter(loader))
    assert not np.array_equal(first[0].numpy(), second[0].numpy())
    np.testing.assert_array_equal(first[1].numpy(), second[1].numpy())
    assert first[0].numpy().mean() == pytest.approx(mnist_test.images[:128].mean(), abs=0.01)
    again = next(iter(DataLoader(mnist_test, batch_size=128, transform=dynamic_binarize(0))))
    np.testing.assert_array_equal(again[0].numpy(), first[0].numpy())
    with pytest.raises(ValueError, match="grey levels in \\[0, 1\\]"):
        dynamic_binarize(0)(2 * mnist_test.images[:4] - 1)
    with pytest.raises(ValueError, match="MNIST\\(..., binarize='dynamic'\\)"):
        load_mnist("test", binarize="dynamic")


def test_fashion_mnist():
    images, labels = load_mnist("test", kind="fashion-mnist")
    assert images.shape == (10000, 1, 28, 28) and images.max() == 1.0 and images.min() == 0.0
    assert np.bincount(labels).tolist() == [1000] * 10
    assert images.mean() == pytest.approx(0.2868, abs=2e-3)
    assert MNIST("test", kind="fashion-mnist").classes[9] == "Ankle boot"
    assert load_mnist("train", kind="fashion-mnist", labels=False).shape == (60000, 1, 28, 28)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split must be one of 'train', 'test', got 'valid'"):
        load_mnist("valid")
    with pytest.raises(ValueError, match="kind must be one of"):
        load_mnist(kind="kmnist")
    with pytest.raises(ValueError, match="scale must be one of"):
        load_mnist(scale="centred")


# --- integrity and downloads --------------------------------------------------------------

LABELS = "t10k-labels-idx1-ubyte.gz"
IMAGES = "t10k-images-idx3-ubyte.gz"


def _copy(name, folder, kind="mnist"):
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(SOURCE / kind / name, folder / name))


def test_truncated_file_is_reported_and_never_used(tmp_path, monkeypatch):
    _copy(IMAGES, tmp_path / "mnist")
    truncated = tmp_path / "mnist" / LABELS
    truncated.write_bytes((SOURCE / "mnist" / LABELS).read_bytes()[:1000])
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    monkeypatch.setattr(mnist_module, "MIRRORS", {})
    with pytest.raises(RuntimeError, match=f"{LABELS} is corrupted or truncated .*ec29112dd5afa0611ce80d1b7f02629c"):
        load_mnist("test")
    assert truncated.stat().st_size == 1000


def test_verification_is_cached_per_process_until_the_file_changes(tmp_path, monkeypatch):
    copy = _copy(LABELS, tmp_path / "mnist")
    _copy(IMAGES, tmp_path / "mnist")
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    first = load_mnist("test").labels
    monkeypatch.setattr(mnist_module, "_md5", lambda path: pytest.fail(f"{path} verified twice"))
    np.testing.assert_array_equal(load_mnist("test").labels, first)
    monkeypatch.undo()
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    copy.write_bytes(copy.read_bytes()[:-1])
    with pytest.raises(RuntimeError, match="corrupted or truncated"):
        load_mnist("test")


def test_idx_header_is_validated(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress((2051).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(3)))
    with pytest.raises(RuntimeError, match="IDX magic number 2051, expected 2049"):
        mnist_module._read_idx(path, "mnist", 2049, (3,))
    path.write_bytes(gzip.compress((2049).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(2)))
    with pytest.raises(RuntimeError, match=r"IDX dimensions \(3,\) in 2 payload bytes, expected \(3,\)"):
        mnist_module._read_idx(path, "mnist", 2049, (3,))


def _fake_mirror(tmp_path, corrupt=False):
    mirror = tmp_path / "mirror"
    for name in (IMAGES, LABELS):
        copy = _copy(name, mirror)
        if corrupt and name == LABELS:
            copy.write_bytes(copy.read_bytes()[:-10])
    return mirror.as_uri() + "/"


def test_download_from_a_fake_mirror(tmp_path, monkeypatch, mnist_test):
    missing = (tmp_path / "nowhere").as_uri() + "/"
    mirror = _fake_mirror(tmp_path)
    monkeypatch.setattr(mnist_module, "MIRRORS", {"mnist": (missing, mirror)})
    requested = []
    fetch = mnist_module._fetch
    monkeypatch.setattr(mnist_module, "_fetch", lambda url, destination: requested.append(url) or fetch(url, destination))
    store = tmp_path / "store"
    monkeypatch.setenv("MINIGEN_DATA", str(store))
    images, labels = load_mnist("test")
    assert requested == [missing + IMAGES, mirror + IMAGES, missing + LABELS, mirror + LABELS]
    np.testing.assert_array_equal(images, mnist_test.images)
    np.testing.assert_array_equal(labels, mnist_test.labels)
    assert sorted(os.listdir(store / "mnist")) == sorted([IMAGES, LABELS])


def test_download_with_a_bad_checksum_leaves_nothing_behind(tmp_path, monkeypatch):
    mirror = _fake_mirror(tmp_path, corrupt=True)
    monkeypatch.setattr(mnist_module, "MIRRORS", {"mnist": (mirror,)})
    store = tmp_path / "store"
    monkeypatch.setenv("MINIGEN_DATA", str(store))
    _copy(IMAGES, store / "mnist")
    with pytest.raises(RuntimeError) as error:
        load_mnist("test")
    message = str(error.value)
    assert f"could not download {LABELS} (md5 ec29112dd5afa0611ce80d1b7f02629c)" in message
    assert mirror + LABELS in message and "place it at" in message and "MINIGEN_DATA" in message
    assert os.listdir(store / "mnist") == [IMAGES]


def test_missing_file_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGEN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz is missing and download=False"):
        load_mnist("test", download=False)
