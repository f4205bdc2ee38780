"""The four Fashion-MNIST files: names, checksums, the decoded set, the user cache.

A copy of a file is usable when it decodes to the expected kind of IDX array
(:attr:`FileSpec.kind`: images 0x00000803, labels 0x00000801) and its decoded
bytes match :data:`SHA256`; the four arrays must then agree with each
other (:func:`_assemble`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from d2ldrop.data.idx import (
    IMAGES,
    LABELS,
    IdxKind,
    _decompress,
    _read_bytes,
    _WrongContent,
    parse_idx,
)
from d2ldrop.errors import DataError

#: Class names, in label order (as the book's ``get_fashion_mnist_labels``).
TEXT_LABELS: tuple[str, ...] = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
NUM_CLASSES = len(TEXT_LABELS)


class FileSpec(NamedTuple):
    """One of the four files."""

    key: str  # field of FashionMNIST
    name: str  # IDX file name, without .gz
    ndim: int  # 3 for images (N, H, W), 1 for labels (N,)

    @property
    def kind(self) -> IdxKind:
        """What the file must hold: :data:`~d2ldrop.data.idx.IMAGES` or ``LABELS``."""
        return IMAGES if self.ndim == IMAGES.ndim else LABELS


FILES: tuple[FileSpec, ...] = (
    FileSpec("train_images", "train-images-idx3-ubyte", 3),
    FileSpec("train_labels", "train-labels-idx1-ubyte", 1),
    FileSpec("test_images", "t10k-images-idx3-ubyte", 3),
    FileSpec("test_labels", "t10k-labels-idx1-ubyte", 1),
)

#: sha256 of each file's decoded (uncompressed) IDX bytes.
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


class FashionMNIST(NamedTuple):
    """The decoded data set: read-only uint8 arrays, in file order."""

    train_images: np.ndarray  # (60000, 28, 28)
    train_labels: np.ndarray  # (60000,), values 0-9
    test_images: np.ndarray  # (10000, 28, 28)
    test_labels: np.ndarray  # (10000,)


def cache_dir() -> Path:
    """The user cache for the data set: ``$XDG_CACHE_HOME/d2ldrop/fashion-mnist``.

    Without ``XDG_CACHE_HOME`` (or with a relative one, which the XDG spec says to
    ignore): ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%``
    on Windows.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path.home() / ".cache"
    return base / "d2ldrop" / "fashion-mnist"


def _variants(directory: Path, spec: FileSpec) -> list[Path]:
    """The copies of ``spec`` in ``directory``: ``name.gz`` first, then ``name``."""
    return [p for p in (directory / f"{spec.name}.gz", directory / spec.name) if p.is_file()]


def _load_verified(
    path: Path, spec: FileSpec, *, gzip_expected: bool | None = None
) -> np.ndarray:
    """Decode ``path`` as the file ``spec`` and check its sha256; DataError if not."""
    if gzip_expected is None:
        gzip_expected = path.name.endswith(".gz")
    raw = _decompress(_read_bytes(path), str(path), gzip_expected=gzip_expected)
    array = parse_idx(raw, str(path), spec.kind)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[spec.name]:
        raise _WrongContent(
            f"{path}: sha256 mismatch: the decoded data hashes to {digest}, "
            f"expected {SHA256[spec.name]} (a damaged or different file)"
        )
    return array


def _verifies(path: Path, spec: FileSpec) -> bool:
    try:
        _load_verified(path, spec)
    except DataError:
        return False
    return True


def _assemble(arrays: dict[str, np.ndarray], paths: dict[str, Path]) -> FashionMNIST:
    """Check that the four arrays belong together."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{paths[f'{split}_images']} has {len(images)} images but "
                f"{paths[f'{split}_labels']} has {len(labels)} labels"
            )
        if labels.size and labels.max() >= NUM_CLASSES:
            i = int(np.argmax(labels >= NUM_CLASSES))
            raise DataError(
                f"{paths[f'{split}_labels']}: label {labels[i]} at index {i} is outside "
                f"0-{NUM_CLASSES - 1}"
            )
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(
            f"{paths['train_images']} holds {arrays['train_images'].shape[1:]} images but "
            f"{paths['test_images']} holds {arrays['test_images'].shape[1:]}"
        )
    return FashionMNIST(**arrays)
