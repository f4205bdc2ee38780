"""The loaders: the decoded arrays (optionally resized), and minibatches of one backend.

A minibatch is a gather from the whole set, converted once and held as the
backend's adapter prefers; only the adapter touches the framework.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._validate import check_seed
from d2ldrop.backends.arrays import Tensor
from d2ldrop.data.files import FashionMNIST
from d2ldrop.data.idx import PathLike
from d2ldrop.data.lookup import _find
from d2ldrop.data.transforms import _check_size, resize_images
from d2ldrop.errors import InvalidArgumentError


def load_fashion_mnist_arrays(
    *,
    data_dir: PathLike | None = None,
    download: bool = False,
    resize: int | tuple[int, int] | None = None,
    progress: bool | None = None,
) -> FashionMNIST:
    """The whole data set as read-only uint8 numpy arrays, in file order.

    ``(train_images, train_labels, test_images, test_labels)`` with images
    ``(N, H, W)`` (28x28 unless ``resize``) and labels ``(N,)``. Found as described
    in :mod:`d2ldrop.data.lookup`: a directory named by ``data_dir`` (or
    ``$D2LDROP_DATA_DIR``) is used or refused (:class:`~d2ldrop.errors.DataPathError`);
    ``download=True`` allows fetching its missing files into it, or, when nothing is
    named, into the user cache when no local copy verifies.

    Args:
        data_dir: the directory holding the four files; None: ``$D2LDROP_DATA_DIR``,
            else the places searched by default.
        download: fetch missing files (verified before they are kept).
        resize: an int or ``(height, width)``: resize once, bilinearly.
        progress: show the download's progress; None: on a terminal.

    Returns:
        A ``FashionMNIST`` named tuple ``(train_images, train_labels,
        test_images, test_labels)`` of read-only numpy arrays.

    Raises:
        DataPathError: the named directory is missing or holds a bad file.
        DataError: no usable copy was found (the message lists every place
            tried and how to get the data).
    """
    size = None if resize is None else _check_size(resize)
    _, data = _find(data_dir, download, progress)
    if size is None:
        return data
    resized = []
    for array in (data.train_images, data.test_images):
        out = resize_images(array, size)
        out.setflags(write=False)
        resized.append(out)
    return FashionMNIST(resized[0], data.train_labels, resized[1], data.test_labels)


def _check_batch_size(batch_size: object) -> int:
    if (
        not isinstance(batch_size, numbers.Integral)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise InvalidArgumentError(
            f"Expected a positive integer batch_size. Received: {batch_size!r}"
        )
    return int(batch_size)


def _check_optional_seed(seed: object) -> int | None:
    """None (fresh entropy each run) or a seed in [0, 2**32)."""
    return None if seed is None else check_seed(seed)


class Batches:
    """Minibatches ``(images, labels)`` of one backend; each ``iter()`` is one epoch.

    With ``shuffle``, every epoch takes a fresh permutation from a numpy generator
    seeded with ``seed``: the same seed gives the same batch order on every
    backend. Without it, batches follow file order. The last batch may be short.

    The whole set is converted once, at the first iteration (x / 255 as float32,
    as the book's ToTensor), and kept as the adapter holds data (a tensor of the
    backend where its gather is the fastest way to a batch); a batch is then one
    gather, a fresh tensor each time.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int | None = None,
        backend: str | None = None,
    ) -> None:
        self.adapter = get_adapter(backend)
        if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(labels):
            raise InvalidArgumentError(
                f"Expected uint8 images (N, H, W) and N labels. Received: images "
                f"{images.dtype} {images.shape}, labels {labels.shape}"
            )
        self.images = images
        self.labels = labels.astype(self.adapter.label_dtype)
        self.batch_size = _check_batch_size(batch_size)
        self.shuffle = shuffle
        self.seed = _check_optional_seed(seed)
        self._rng = np.random.default_rng(self.seed)
        _, h, w = images.shape
        self._item_shape = (h, w, 1) if self.adapter.channels_last else (1, h, w)
        self._held_arrays: tuple[Any, ...] | None = None

    @property
    def backend(self) -> str:
        return self.adapter.name

    @property
    def num_examples(self) -> int:
        return len(self.images)

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        # Drawn here, not at the first next(), so that iterators made together
        # take their permutations in creation order.
        n = len(self.images)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        return self._epoch(order)

    def _held(self) -> tuple[Any, ...]:
        if self._held_arrays is None:
            # Divided, not multiplied by 1/255: x / 255 exactly, as the book's ToTensor.
            x = self.images.astype(np.float32)
            x /= np.float32(255)
            x = x.reshape(len(x), *self._item_shape)
            self._held_arrays = (self.adapter.hold(x), self.adapter.hold(self.labels))
        return self._held_arrays

    def _epoch(self, order: np.ndarray) -> Iterator[tuple[Tensor, Tensor]]:
        held, take, size = self._held(), self.adapter.take, self.batch_size
        for start in range(0, len(order), size):
            x, y = take(held, order[start : start + size])
            yield x, y

    def __repr__(self) -> str:
        return (
            f"Batches(backend={self.backend!r}, examples={self.num_examples}, "
            f"batch_size={self.batch_size}, batches={len(self)}, shuffle={self.shuffle}, "
            f"image_shape={self._item_shape})"
        )


def load_data_fashion_mnist(
    batch_size: int,
    resize: int | tuple[int, int] | None = None,
    *,
    backend: str | None = None,
    data_dir: PathLike | None = None,
    seed: int | None = None,
    download: bool = False,
) -> tuple[Batches, Batches]:
    """The book's loader: ``(train_iter, test_iter)`` of the selected backend.

    Images are float32 in [0, 1], ``(N, 1, H, W)`` or, where the adapter is
    ``channels_last``, ``(N, H, W, 1)``; labels are class ids in the adapter's
    ``label_dtype``. The training set is reshuffled every epoch (reproducibly with
    ``seed``, an integer in [0, 2**32)), the test set is in file order, the last
    partial batch is kept. ``resize`` (an int or ``(height, width)``) resizes once,
    bilinearly, before batching.

    Nothing is downloaded unless ``download=True``: by default the files must be
    found locally (see :mod:`d2ldrop.data`), else :class:`DataError` says where
    it looked and how to get them.

    Args:
        batch_size: examples per batch, a positive integer.
        resize: None, an int or ``(height, width)``.
        backend: the backend's name or alias; None: the active one.
        data_dir: the directory holding the four files; None:
            ``$D2LDROP_DATA_DIR``, else the user cache, else Debian's
            ``/usr/share/datasets/fashion-mnist``.
        seed: seeds the training order, an integer in [0, 2**32); None: fresh
            entropy every run.
        download: fetch missing files from the upstream mirrors.

    Returns:
        ``(train_iter, test_iter)``: two re-iterable ``Batches`` of ``(X, y)``
        tensors of the backend (60,000 and 10,000 examples).

    Raises:
        ValueError: a bad ``batch_size``, ``resize`` or ``seed``.
        BackendNotAvailableError: the backend's framework is not installed
            (raised before any file is read).
        DataPathError: the named directory is missing or holds a bad file.
        DataError: no usable copy was found.

    Example:
        >>> train_iter, test_iter = d2ldrop.load_data_fashion_mnist(256, seed=0)
        >>> len(train_iter), len(test_iter)
        (235, 40)
    """
    batch_size = _check_batch_size(batch_size)
    seed = _check_optional_seed(seed)
    adapter = get_adapter(backend)  # a missing framework fails before any decoding
    data = load_fashion_mnist_arrays(data_dir=data_dir, download=download, resize=resize)
    train = Batches(
        data.train_images, data.train_labels, batch_size,
        shuffle=True, seed=seed, backend=adapter.name,
    )
    test = Batches(
        data.test_images, data.test_labels, batch_size, shuffle=False, backend=adapter.name
    )
    return train, test
