"""The real Fashion-MNIST, found by the normal lookup ($D2LDROP_DATA_DIR, the user
cache, /usr/share/datasets/fashion-mnist); skipped when it is not there. Nothing is
downloaded (loading never downloads unless asked to).

Locally: D2LDROP_DATA_DIR=/path/to/fashion-mnist pytest -m realdata
"""

from __future__ import annotations

import numpy as np
import pytest

import d2ldrop
from d2ldrop import data
from d2ldrop.errors import DataPathError

pytestmark = pytest.mark.realdata

BATCH = 256


@pytest.fixture(scope="module")
def real(real_data) -> data.FashionMNIST:
    """conftest's real_data: skipped locally when absent, a failure under CI."""
    return real_data


def numpy_of(x, backend):
    return d2ldrop.to_numpy(x, backend=backend)


def test_shapes_and_dtypes(real):
    assert real.train_images.shape == (60000, 28, 28)
    assert real.train_labels.shape == (60000,)
    assert real.test_images.shape == (10000, 28, 28)
    assert real.test_labels.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in real)


def test_6000_and_1000_images_per_class(real):
    assert np.bincount(real.train_labels, minlength=10).tolist() == [6000] * 10
    assert np.bincount(real.test_labels, minlength=10).tolist() == [1000] * 10


def test_canonical_order(real):
    assert real.train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert real.test_labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]


def test_pixel_means(real):
    assert real.train_images.mean() / 255 == pytest.approx(0.2860, abs=1e-4)
    assert real.test_images.mean() / 255 == pytest.approx(0.2868, abs=1e-4)


def test_every_file_verifies(real):
    used = next(place for place in data.inspect_fashion_mnist() if place.ok)
    assert [f.detail for f in used.files] == ["sha256 ok"] * 4


def test_layout_lengths_and_last_partial_batch(real, backend, adapter):
    train, test = d2ldrop.load_data_fashion_mnist(BATCH, backend=backend, seed=0)
    assert (len(train), len(test)) == (235, 40)
    X, y = next(iter(train))
    assert adapter.dtype_name(X) == "float32" and adapter.dtype_name(y) == adapter.label_dtype
    X = numpy_of(X, backend)
    assert X.shape == ((BATCH, 28, 28, 1) if adapter.channels_last else (BATCH, 1, 28, 28))
    assert 0.0 <= X.min() and X.max() <= 1.0
    *_, (X_last, y_last) = train
    assert numpy_of(y_last, backend).shape == (60000 % BATCH,) == (96,)
    assert numpy_of(X_last, backend).shape[0] == 96
    *_, (_, y_test_last) = test
    assert numpy_of(y_test_last, backend).shape == (10000 % BATCH,)


def test_same_seed_same_batch_order_on_every_backend(real, backend):
    train, _ = d2ldrop.load_data_fashion_mnist(BATCH, backend=backend, seed=42)
    # numpy's permutation, whatever the backend: equal to it, so equal across them.
    rng = np.random.default_rng(42)
    for _ in range(2):
        order = rng.permutation(60000)
        labels = np.concatenate([numpy_of(y, backend) for _, y in train])
        np.testing.assert_array_equal(labels, real.train_labels[order])
    X, _ = next(iter(d2ldrop.load_data_fashion_mnist(BATCH, backend=backend, seed=42)[0]))
    first = np.random.default_rng(42).permutation(60000)[:BATCH]
    want = real.train_images[first].astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(numpy_of(X, backend).reshape(BATCH, 28, 28), want)


def test_test_set_in_file_order(real, backend):
    _, test = d2ldrop.load_data_fashion_mnist(BATCH, backend=backend)
    labels = np.concatenate([numpy_of(y, backend) for _, y in test])
    np.testing.assert_array_equal(labels, real.test_labels)


def test_resize_64(real):
    resized = data.load_fashion_mnist_arrays(resize=64)
    assert resized.train_images.shape == (60000, 64, 64)
    assert resized.test_images.shape == (10000, 64, 64)
    assert resized.train_labels is real.train_labels
    # Bilinear interpolation keeps the mean brightness (up to border effects).
    assert resized.train_images.mean() / 255 == pytest.approx(0.2860, abs=2e-3)


def test_real_labels_with_the_images_magic_say_so(real, tmp_path):
    """Issue 17, defect 8, as found: not "truncated ... 1203725677686120000 bytes"."""
    source = data.find_fashion_mnist()
    copy = tmp_path / "copy"
    copy.mkdir()
    for spec in data.FILES:
        original = next(p for p in (source / f"{spec.name}.gz", source / spec.name) if p.exists())
        (copy / original.name).symlink_to(original)
    name = "train-labels-idx1-ubyte"
    raw = data.read_idx(next(copy.glob(f"{name}*"))).tobytes()
    header = b"\x00\x00\x08\x03" + (60000).to_bytes(4, "big")  # the images' magic number
    for old in copy.glob(f"{name}*"):
        old.unlink()
    (copy / name).write_bytes(header + raw)
    with pytest.raises(DataPathError) as info:
        data.load_fashion_mnist_arrays(data_dir=copy)
    message = str(info.value)
    assert f"{copy / name}: wrong magic number 0x00000803: this is an images file" in message
    assert "expected labels (magic 0x00000801, uint8, 1 dimension)" in message
    assert "1203725677686120000" not in message and "truncated" not in message
    with pytest.raises(data.DataError) as info:
        data.read_idx(copy / name)
    assert "60000x150994947x132866 cannot be true" in str(info.value)
    assert "1203725677686120000" not in str(info.value)
