"""Fashion-MNIST: find, verify, decode and batch the data set, for every backend.

Where the four files come from, first match wins. A place is used only when all
four files are there, decode, and match their checksums:

1. the ``data_dir=`` argument (CLI ``--data-dir``), then ``$D2LDROP_DATA_DIR``;
2. the user cache, :func:`cache_dir` (``$XDG_CACHE_HOME/d2ldrop/fashion-mnist``,
   by default ``~/.cache/d2ldrop/fashion-mnist``);
3. :data:`SYSTEM_DIR`, where Debian's package ``dataset-fashion-mnist`` puts them;
4. only when asked (``download=True``, ``d2ldrop data --download``): the upstream
   mirrors, into the user cache.

Each file may be stored as ``name.gz`` or as the uncompressed ``name``. The
checksums are of the decoded IDX bytes: upstream's ``.gz`` files and Debian's
copies (whose gzip headers were rewritten) decode to the same bytes.

The files are decoded once per process and held as read-only uint8 arrays. A
minibatch is a numpy gather plus a float conversion; only the final conversion to
a tensor is done by the backend's adapter. Images are float32 in [0, 1] (x / 255):
``(N, 1, H, W)`` (NCHW), or ``(N, H, W, 1)`` (NHWC) where the adapter is
``channels_last``. Labels are class ids 0-9 in the adapter's ``label_dtype``.

Modules, bottom up:

- :mod:`~d2ldrop.data.idx`: decoding IDX files, gzip or not;
- :mod:`~d2ldrop.data.files`: the four files, their checksums, the user cache;
- :mod:`~d2ldrop.data.download`: fetching them from the mirrors;
- :mod:`~d2ldrop.data.lookup`: the places searched, and the ``d2ldrop data`` report;
- :mod:`~d2ldrop.data.transforms`: bilinear resizing;
- :mod:`~d2ldrop.data.batches`: the loaders and :class:`Batches`.
"""

from __future__ import annotations

from d2ldrop.data.batches import (
    Batches,
    Tensor,
    load_data_fashion_mnist,
    load_fashion_mnist_arrays,
)
from d2ldrop.data.download import (
    BACKOFF_S,
    CHUNK_BYTES,
    MIRRORS,
    RETRIES,
    TIMEOUT_S,
    download_fashion_mnist,
)
from d2ldrop.data.files import (
    FILES,
    NUM_CLASSES,
    SHA256,
    TEXT_LABELS,
    FashionMNIST,
    FileSpec,
    cache_dir,
)
from d2ldrop.data.idx import PathLike, parse_idx, read_idx
from d2ldrop.data.lookup import (
    DATA_DIR_ENV,
    DEBIAN_PACKAGE,
    SYSTEM_DIR,
    DataWarning,
    FileStatus,
    Location,
    find_fashion_mnist,
    format_places,
    inspect_fashion_mnist,
    ways_to_get_it,
)
from d2ldrop.data.transforms import resize_images
from d2ldrop.errors import DataError

__all__ = [
    "BACKOFF_S",
    "CHUNK_BYTES",
    "DATA_DIR_ENV",
    "DEBIAN_PACKAGE",
    "FILES",
    "MIRRORS",
    "NUM_CLASSES",
    "RETRIES",
    "SHA256",
    "SYSTEM_DIR",
    "TEXT_LABELS",
    "TIMEOUT_S",
    "Batches",
    "DataError",
    "DataWarning",
    "FashionMNIST",
    "FileSpec",
    "FileStatus",
    "Location",
    "PathLike",
    "Tensor",
    "cache_dir",
    "download_fashion_mnist",
    "find_fashion_mnist",
    "format_places",
    "inspect_fashion_mnist",
    "load_data_fashion_mnist",
    "load_fashion_mnist_arrays",
    "parse_idx",
    "read_idx",
    "resize_images",
    "ways_to_get_it",
]
