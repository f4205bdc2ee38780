"""Fashion-MNIST: find, verify, decode and batch the data set, for every backend.

Where the four files come from (details in :mod:`~d2ldrop.data.lookup`). A place
is usable when all four files are there, decode to the right kind (images: magic
0x00000803, 3 dimensions; labels: 0x00000801, 1 dimension), match their checksums
and agree with each other:

1. a directory the user names, ``data_dir=`` (CLI ``--data-dir``), else
   ``$D2LDROP_DATA_DIR``: used as it is, or refused with
   :class:`~d2ldrop.errors.DataPathError` naming each bad or missing file; no other
   place replaces it. With ``download=True`` its missing files are fetched into
   it; a file there that is unusable is never overwritten;
2. only when nothing is named: the user cache, :func:`cache_dir`
   (``$XDG_CACHE_HOME/d2ldrop/fashion-mnist``, by default
   ``~/.cache/d2ldrop/fashion-mnist``), then :data:`SYSTEM_DIR`, where Debian's
   package ``dataset-fashion-mnist`` puts them; a broken one is skipped with a
   :class:`DataWarning`;
3. only when asked (``download=True``, ``d2ldrop data --download``) and nothing is
   named: the upstream mirrors, into the user cache.

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
from d2ldrop.data.idx import IMAGES, KINDS, LABELS, IdxKind, PathLike, parse_idx, read_idx
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
    named_place_error,
    ways_to_get_it,
)
from d2ldrop.data.transforms import resize_images
from d2ldrop.errors import DataError, DataPathError

__all__ = [
    "BACKOFF_S",
    "CHUNK_BYTES",
    "DATA_DIR_ENV",
    "DEBIAN_PACKAGE",
    "FILES",
    "IMAGES",
    "KINDS",
    "LABELS",
    "MIRRORS",
    "NUM_CLASSES",
    "RETRIES",
    "SHA256",
    "SYSTEM_DIR",
    "TEXT_LABELS",
    "TIMEOUT_S",
    "Batches",
    "DataError",
    "DataPathError",
    "DataWarning",
    "FashionMNIST",
    "FileSpec",
    "FileStatus",
    "IdxKind",
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
    "named_place_error",
    "parse_idx",
    "read_idx",
    "resize_images",
    "ways_to_get_it",
]
