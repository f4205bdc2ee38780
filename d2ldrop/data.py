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
``(N, 1, H, W)`` (NCHW) on torch and mxnet, ``(N, H, W, 1)`` (NHWC) on tensorflow.
Labels are class ids 0-9 in the adapter's ``label_dtype`` (int64 on torch, int32
on tensorflow and mxnet).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import numbers
import os
import struct
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np

from d2ldrop._backend import get_adapter
from d2ldrop._progress import Progress
from d2ldrop.errors import DataError

Tensor = Any
PathLike = Union[str, "os.PathLike[str]"]

#: Environment variable naming a directory that holds the files.
DATA_DIR_ENV = "D2LDROP_DATA_DIR"
#: Where Debian's ``dataset-fashion-mnist`` installs the upstream ``.gz`` files.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
#: Download mirrors, tried in order; each holds ``<name>.gz``.
MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: Attempts per mirror, the first pause between them (doubled each time), the
#: socket timeout and the read size of a download.
RETRIES = 3
BACKOFF_S = 1.0
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 16

#: Class names, in label order (as the book's ``get_fashion_mnist_labels``).
TEXT_LABELS: tuple[str, ...] = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
NUM_CLASSES = len(TEXT_LABELS)


class _File(NamedTuple):
    key: str  # field of FashionMNIST
    name: str  # IDX file name, without .gz
    ndim: int  # 3 for images (N, H, W), 1 for labels (N,)


FILES: tuple[_File, ...] = (
    _File("train_images", "train-images-idx3-ubyte", 3),
    _File("train_labels", "train-labels-idx1-ubyte", 1),
    _File("test_images", "t10k-images-idx3-ubyte", 3),
    _File("test_labels", "t10k-labels-idx1-ubyte", 1),
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


class DataWarning(UserWarning):
    """A place in the lookup held unusable files and a later place was used."""


class _WrongContent(DataError):
    """Decodes, but is not the expected file: retrying the same mirror won't help."""


# -- IDX decoding -------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (magic number, big-endian dimensions, payload) to an array.

    The array shares ``raw``'s memory (read-only) when the element type is one
    byte. Raises :class:`DataError`, naming ``source``, for a bad magic number, a
    truncated header or payload, or bytes left over after the payload.
    """
    n = len(raw)
    if n < 4:
        raise DataError(f"{source}: truncated: {n} bytes, less than the 4-byte IDX magic number")
    magic = raw[:4].hex()
    if raw[0] or raw[1]:
        raise DataError(
            f"{source}: not an IDX file: magic number 0x{magic} does not start with two zero bytes"
        )
    dtype = _IDX_DTYPES.get(raw[2])
    if dtype is None:
        raise DataError(
            f"{source}: not an IDX file: unknown element type 0x{raw[2]:02x} "
            f"in magic number 0x{magic}"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if n < header:
        raise DataError(
            f"{source}: truncated header: {ndim} dimensions need {header} header bytes, "
            f"the file has {n}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = math.prod(dims)
    expected = count * np.dtype(dtype).itemsize
    payload = n - header
    shape = "x".join(map(str, dims))
    if payload < expected:
        raise DataError(
            f"{source}: truncated: the header says {shape} {np.dtype(dtype).name} "
            f"({expected} bytes of data), the file has {payload}"
        )
    if payload > expected:
        raise DataError(
            f"{source}: {payload - expected} unexpected bytes after the {expected} bytes of data "
            f"that the header ({shape}) describes"
        )
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    if array.dtype.itemsize > 1:
        array = array.astype(array.dtype.newbyteorder("="))
        array.setflags(write=False)
    return array


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from err


def _decompress(data: bytes, source: str, *, gzip_expected: bool) -> bytes:
    # Sniff rather than trust the name: an uncompressed file may hold gzip data.
    if data[:2] != _GZIP_MAGIC:
        if gzip_expected:
            raise _WrongContent(f"{source}: not gzip data (starts with 0x{data[:4].hex()})")
        return data
    try:
        return gzip.decompress(data)
    except EOFError as err:
        raise DataError(f"{source}: truncated gzip data ({err})") from err
    except (OSError, zlib.error) as err:
        raise DataError(f"{source}: corrupt gzip data ({err})") from err


def read_idx(path: PathLike) -> np.ndarray:
    """Decode one IDX file, gzip-compressed or not (no checksum check)."""
    path = Path(path)
    raw = _decompress(_read_bytes(path), str(path), gzip_expected=path.name.endswith(".gz"))
    return parse_idx(raw, str(path))


def _load_verified(path: Path, spec: _File, *, gzip_expected: bool | None = None) -> np.ndarray:
    """Decode ``path`` as the file ``spec`` and check its sha256; DataError if not."""
    if gzip_expected is None:
        gzip_expected = path.name.endswith(".gz")
    raw = _decompress(_read_bytes(path), str(path), gzip_expected=gzip_expected)
    array = parse_idx(raw, str(path))
    if array.dtype != np.uint8 or array.ndim != spec.ndim:
        kind = "images" if spec.ndim == 3 else "labels"
        raise _WrongContent(
            f"{path}: wrong magic number 0x{raw[:4].hex()} for {spec.name}: {kind} have "
            f"0x0000080{spec.ndim} (uint8, {spec.ndim} dimension{'s' * (spec.ndim > 1)})"
        )
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[spec.name]:
        raise _WrongContent(
            f"{path}: sha256 mismatch: the decoded data hashes to {digest}, "
            f"expected {SHA256[spec.name]} (a damaged or different file)"
        )
    return array


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


# -- where the files are --------------------------------------------------------------


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


@dataclass(frozen=True)
class FileStatus:
    """What one of the four files looks like in one place."""

    name: str  # IDX name, without .gz
    path: Path | None  # the copy examined (None: neither name nor name.gz exists)
    ok: bool
    detail: str  # "sha256 ok", "missing", "not checked", or what is wrong


@dataclass(frozen=True)
class Location:
    """One place of the lookup and, once checked, why it can or cannot be used."""

    source: str  # "data_dir (--data-dir)", "$D2LDROP_DATA_DIR", "user cache", "system", "download"
    directory: Path | None
    problem: str = ""  # empty when the four files are there and verify
    files: tuple[FileStatus, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def has_bad_files(self) -> bool:
        """Some file is present but unusable (as opposed to merely missing)."""
        return any(f.path is not None and not f.ok for f in self.files) or (
            bool(self.files) and all(f.ok for f in self.files) and not self.ok
        )

    def describe(self) -> str:
        where = f"{self.source} {self.directory}" if self.directory else self.source
        return f"{where}: {self.problem or 'ok'}"


def _candidates(data_dir: PathLike | None) -> list[Location]:
    places = []
    if data_dir is not None:
        places.append(Location("data_dir (--data-dir)", Path(data_dir).expanduser()))
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    places.append(
        Location(f"${DATA_DIR_ENV}", Path(env).expanduser())
        if env
        else Location(f"${DATA_DIR_ENV}", None, problem="not set")
    )
    places.append(Location("user cache", cache_dir()))
    places.append(Location("system", SYSTEM_DIR))
    return places


def _variants(directory: Path, spec: _File) -> list[Path]:
    return [p for p in (directory / f"{spec.name}.gz", directory / spec.name) if p.is_file()]


# Decoded data per place, keyed by the stat of its files and the expected
# checksums, so a file replaced on disk is decoded (and verified) again.
_MEMO: dict[tuple, tuple[tuple[FileStatus, ...], FashionMNIST]] = {}


def _signature(directory: Path) -> tuple:
    stats = []
    for spec in FILES:
        for path in (directory / f"{spec.name}.gz", directory / spec.name):
            try:
                st = path.stat()
            except OSError:
                continue
            stats.append((path.name, st.st_size, st.st_mtime_ns, st.st_ino))
    return (str(directory.resolve()), tuple(stats), tuple(SHA256.values()))


def _check(place: Location, *, stop_early: bool) -> tuple[Location, FashionMNIST | None]:
    """Check one place; with ``stop_early`` stop decoding at its first problem."""
    directory = place.directory
    if directory is None:
        return place, None
    if not directory.is_dir():
        problem = "not a directory" if directory.exists() else "no such directory"
        return Location(place.source, directory, problem), None
    key = _signature(directory)
    if key in _MEMO:
        files, data = _MEMO[key]
        return Location(place.source, directory, "", files), data

    variants = {spec.key: _variants(directory, spec) for spec in FILES}
    missing = [spec.name for spec in FILES if not variants[spec.key]]
    if missing and stop_early:
        return Location(place.source, directory, f"missing {', '.join(missing)}"), None
    statuses: list[FileStatus] = []
    arrays: dict[str, np.ndarray] = {}
    paths: dict[str, Path] = {}
    problems: list[str] = [f"missing {', '.join(missing)}"] if missing else []
    for spec in FILES:
        if not variants[spec.key]:
            statuses.append(FileStatus(spec.name, None, False, "missing"))
            continue
        if problems and stop_early:
            statuses.append(FileStatus(spec.name, variants[spec.key][0], False, "not checked"))
            continue
        errors = []
        for path in variants[spec.key]:
            try:
                arrays[spec.key] = _load_verified(path, spec)
            except DataError as err:
                errors.append(str(err))
                continue
            paths[spec.key] = path
            statuses.append(FileStatus(spec.name, path, True, "sha256 ok"))
            break
        else:
            # A bad name.gz next to a bad name: report the first (the .gz).
            path = variants[spec.key][0]
            detail = errors[0].removeprefix(f"{path}: ")
            statuses.append(FileStatus(spec.name, path, False, detail))
            problems.append(errors[0])
    data = None
    if not problems:
        try:
            data = _assemble(arrays, paths)
        except DataError as err:
            problems.append(str(err))
    location = Location(place.source, directory, "; ".join(problems), tuple(statuses))
    if data is not None:
        _MEMO[key] = (location.files, data)
    return location, data


def inspect_fashion_mnist(data_dir: PathLike | None = None) -> list[Location]:
    """Every place of the lookup, in order, each fully checked (for reports).

    Nothing is downloaded. The first :attr:`Location.ok` one is what loading uses.
    """
    return [_check(place, stop_early=False)[0] for place in _candidates(data_dir)]


def _find(
    data_dir: PathLike | None, download: bool, progress: bool | None
) -> tuple[Location, FashionMNIST]:
    tried: list[Location] = []
    for place in _candidates(data_dir):
        location, data = _check(place, stop_early=True)
        if data is not None:
            _warn_skipped(tried, location)
            return location, data
        tried.append(location)
    if not download:
        tried.append(Location("download", None, "not attempted (download=False)"))
    else:
        try:
            target = download_fashion_mnist(progress=progress)
        except DataError as err:
            tried.append(Location("download", None, str(err)))
        else:
            location, data = _check(Location("download", target), stop_early=True)
            if data is not None:
                _warn_skipped(tried, location)
                return location, data
            tried.append(location)
    raise DataError(_not_found_message(tried))


def _warn_skipped(tried: list[Location], used: Location) -> None:
    for place in tried:
        explicit = place.source != "user cache" and place.source != "system"
        if (explicit and place.directory is not None) or place.has_bad_files:
            warnings.warn(
                f"Fashion-MNIST: skipped {place.describe()}; using {used.source} "
                f"{used.directory}",
                DataWarning,
                stacklevel=4,
            )


def _not_found_message(tried: list[Location]) -> str:
    lines = ["Fashion-MNIST was not found. Places tried, in order:"]
    for place in tried:
        lines.append("  - " + place.describe().replace("\n", "\n      "))
    names = ", ".join(spec.name for spec in FILES)
    lines += [
        "Ways to fix it:",
        f"  - put the four files ({names}; each as name.gz or name) in a directory and pass "
        f"data_dir=DIR (CLI: --data-dir DIR) or set {DATA_DIR_ENV}=DIR",
        f"  - on Debian/Ubuntu: sudo apt-get install {DEBIAN_PACKAGE} (installs them in "
        f"{SYSTEM_DIR})",
        f"  - with a network connection: d2ldrop data --download, or pass download=True "
        f"(saves them in {cache_dir()})",
    ]
    return "\n".join(lines)


def find_fashion_mnist(
    data_dir: PathLike | None = None, *, download: bool = False, progress: bool | None = None
) -> Path:
    """The directory whose files loading uses (decoded and verified once per process).

    Raises :class:`DataError` listing every place tried, and why each failed.
    """
    location, _ = _find(data_dir, download, progress)
    return location.directory  # type: ignore[return-value]


# -- download -------------------------------------------------------------------------


def _open_url(request: Any, timeout: float) -> Any:
    """``urllib.request.urlopen``; the tests replace this, so they never reach a network."""
    import urllib.request

    return urllib.request.urlopen(request, timeout=timeout)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class _IncompleteDownload(OSError):
    pass


def _transient_http(err: Exception) -> bool:
    code = getattr(err, "code", None)
    return code is None or code in (408, 425, 429) or code >= 500


def _fetch(url: str, spec: _File, directory: Path, progress: bool) -> None:
    """Download ``url`` to a temporary file beside the cache and move it in once verified."""
    import urllib.request

    from d2ldrop import __version__

    target = directory / f"{spec.name}.gz"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": f"d2ldrop/{__version__}"})
            with _open_url(request, TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                bar = Progress(target.name, total, enabled=progress, stream=sys.stderr, fmt=_mib)
                done = 0
                try:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        done += len(chunk)
                        bar.update(done)
                finally:
                    bar.close()
        if total is not None and done != total:
            raise _IncompleteDownload(f"connection closed after {done} of {total} bytes")
        _load_verified(tmp, spec, gzip_expected=True)
        os.replace(tmp, target)
    except BaseException:
        # Whatever stopped us (error, Ctrl-C), the cache keeps what it had.
        tmp.unlink(missing_ok=True)
        raise


def _download_one(spec: _File, directory: Path, progress: bool) -> None:
    import http.client
    import urllib.error

    errors: list[str] = []
    for mirror in MIRRORS:
        url = f"{mirror}{spec.name}.gz"
        for attempt in range(1, RETRIES + 1):
            try:
                _fetch(url, spec, directory, progress)
                return
            except _WrongContent as err:
                errors.append(f"{url}: {err}")
                break
            except urllib.error.HTTPError as err:
                errors.append(f"{url} (attempt {attempt}/{RETRIES}): HTTP {err.code} {err.reason}")
                if not _transient_http(err):
                    break
            except (OSError, http.client.HTTPException, DataError) as err:
                reason = getattr(err, "reason", None) or err
                errors.append(f"{url} (attempt {attempt}/{RETRIES}): {reason}")
            if attempt < RETRIES:
                _sleep(BACKOFF_S * 2 ** (attempt - 1))
    raise DataError(
        f"could not download {spec.name}.gz (the cache {directory} is unchanged):\n"
        + "\n".join(f"  {e}" for e in errors)
    )


def download_fashion_mnist(
    directory: PathLike | None = None, *, progress: bool | None = None
) -> Path:
    """Download the files that ``directory`` (default: :func:`cache_dir`) lacks.

    Files already there that verify are kept. Each download goes to a temporary
    file, is decoded and checked against its sha256, and only then is moved in;
    a failed, corrupt or interrupted download leaves the directory as it was.
    Each mirror is tried :data:`RETRIES` times with exponential backoff. The
    progress bar goes to stderr, by default only when stderr is a terminal.
    """
    directory = cache_dir() if directory is None else Path(directory).expanduser()
    show = sys.stderr.isatty() if progress is None else progress
    created = [p for p in (directory, *directory.parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {directory}: {err.strerror or err}") from err
    try:
        for spec in FILES:
            if any(_verifies(path, spec) for path in _variants(directory, spec)):
                continue
            _download_one(spec, directory, show)
    except BaseException:
        for path in created:  # leaf first; only the empty directories we made
            try:
                path.rmdir()
            except OSError:
                break
        raise
    return directory


def _verifies(path: Path, spec: _File) -> bool:
    try:
        _load_verified(path, spec)
    except DataError:
        return False
    return True


# -- arrays, resizing and batches -------------------------------------------------------


def _check_size(size: object) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, numbers.Integral) else size
    if (
        not isinstance(pair, Sequence)
        or len(pair) != 2
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in pair)
    ):
        raise TypeError(
            f"Expected resize to be an int or a (height, width) pair. Received: {size!r}"
        )
    if min(pair) < 1:
        raise ValueError(f"Expected positive resize sizes. Received: {size!r}")
    return int(pair[0]), int(pair[1])


def _bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PIL's bilinear filter (a triangle, widened when shrinking)."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    distance = np.abs((np.arange(n_in) + 0.5)[None, :] - centres[:, None]) / support
    weights = np.maximum(0.0, 1.0 - distance)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_images(images: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a stack of uint8 images ``(N, H, W)`` to ``size`` (an int: square).

    Bilinear, as PIL's ``BILINEAR`` that the book's ``transforms.Resize`` uses
    (half-pixel centres, antialiased when shrinking), rounded back to uint8; it
    agrees with PIL to within 1 grey level. Vectorized: two matrix products.
    """
    h, w = _check_size(size)
    n, h_in, w_in = images.shape
    if (h, w) == (h_in, w_in):
        return images
    rows = _bilinear_weights(h_in, h)  # (h, h_in)
    cols = _bilinear_weights(w_in, w).T  # (w_in, w)
    out = np.empty((n, h, w), np.uint8)
    # A few MB of float32 temporaries per chunk: larger chunks fall out of the CPU
    # caches and run slower.
    chunk = max(8, min(512, (1 << 20) // (h * w)))
    for s in range(0, n, chunk):
        # Each weight row sums to 1, so adding 0.5 to the input adds 0.5 to the
        # output: the cast to uint8 (truncation) then rounds half up, as PIL does.
        x = images[s : s + chunk].astype(np.float32) + np.float32(0.5)
        c = len(x)
        # Two large matrix products (one per axis) rather than c small ones.
        x = (x.reshape(c * h_in, w_in) @ cols).reshape(c, h_in, w)
        x = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(h_in, c * w)
        out[s : s + chunk] = (rows @ x).reshape(h, c, w).transpose(1, 0, 2)
    return out


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
    in the module docstring; ``download=True`` allows fetching into the user cache
    when no local copy verifies. Raises :class:`DataError` if nothing is usable.
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
            raise ValueError(
                f"Expected uint8 images (N, H, W) and N labels. Received: images "
                f"{images.dtype} {images.shape}, labels {labels.shape}"
            )
        self.images = images
        self.labels = labels.astype(self.adapter.label_dtype)
        self.batch_size = _check_batch_size(batch_size)
        self.shuffle = shuffle
        self.seed = _check_seed(seed)
        self._rng = np.random.default_rng(seed)
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


def _check_batch_size(batch_size: object) -> int:
    if (
        not isinstance(batch_size, numbers.Integral)
        or isinstance(batch_size, bool)
        or batch_size < 1
    ):
        raise ValueError(f"Expected a positive integer batch_size. Received: {batch_size!r}")
    return int(batch_size)


def _check_seed(seed: object) -> int | None:
    if seed is None:
        return None
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"Expected a non-negative integer seed or None. Received: {seed!r}")
    return int(seed)


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

    Images are float32 in [0, 1], ``(N, 1, H, W)`` on torch and mxnet and
    ``(N, H, W, 1)`` on tensorflow; labels are class ids in the backend's label
    dtype. The training set is reshuffled every epoch (reproducibly with ``seed``),
    the test set is in file order, the last partial batch is kept. ``resize`` (an
    int or ``(height, width)``) resizes once, bilinearly, before batching.

    Nothing is downloaded unless ``download=True``: by default the files must be
    found locally (see the module docstring), else :class:`DataError` says where
    it looked and how to get them.
    """
    batch_size = _check_batch_size(batch_size)
    seed = _check_seed(seed)
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
