"""IDX files (the format of MNIST and Fashion-MNIST): gzip sniffing and decoding.

Nothing here knows which files make up the data set; :mod:`d2ldrop.data.files`
says which :class:`IdxKind` each file must be. Every size the header claims is
checked against the bytes actually there before anything is computed from it.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np

from d2ldrop.errors import DataError

PathLike = Union[str, "os.PathLike[str]"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


class _WrongContent(DataError):
    """Decodes, but is not the expected file: retrying the same mirror won't help."""


class IdxKind(NamedTuple):
    """What an IDX file holds, as its magic number says: element type and dimensions."""

    name: str  # "images", "labels"
    code: int  # element type, the magic number's third byte (0x08: uint8)
    ndim: int  # the magic number's fourth byte

    @property
    def magic(self) -> str:
        return _magic(self.code, self.ndim)

    def describe(self) -> str:
        """``magic 0x00000803, uint8, 3 dimensions``."""
        return f"magic {self.magic}, {_layout(self.code, self.ndim)}"


#: The kinds of the MNIST family's files.
IMAGES = IdxKind("images", 0x08, 3)
LABELS = IdxKind("labels", 0x08, 1)
KINDS: tuple[IdxKind, ...] = (IMAGES, LABELS)


def _magic(code: int, ndim: int) -> str:
    return f"0x{code << 8 | ndim:08x}"


def _layout(code: int, ndim: int) -> str:
    dtype = np.dtype(_IDX_DTYPES[code]).name
    return f"{dtype}, {ndim} dimension{'s' * (ndim != 1)}"


def _wrong_kind(source: str, code: int, ndim: int, expected: IdxKind) -> _WrongContent:
    found = next((k for k in KINDS if (k.code, k.ndim) == (code, ndim)), None)
    if found is not None:
        article = "an" if found.name[0] in "aeiou" else "a"
        what = f": this is {article} {found.name} file ({_layout(code, ndim)})"
    else:
        what = f" ({_layout(code, ndim)})"
    return _WrongContent(
        f"{source}: wrong magic number {_magic(code, ndim)}{what}, "
        f"expected {expected.name} ({expected.describe()})"
    )


def parse_idx(raw: bytes, source: str = "<bytes>", kind: IdxKind | None = None) -> np.ndarray:
    """Decode IDX bytes (magic number, big-endian dimensions, payload) to an array.

    The array shares ``raw``'s memory (read-only) when the element type is one
    byte. Raises :class:`DataError`, naming ``source``, for no data, a bad magic
    number (or, given ``kind``, one of another kind), a truncated header, a size
    the data cannot hold, a truncated payload, or bytes left over after it.
    """
    n = len(raw)
    if n == 0:
        raise DataError(f"{source}: no IDX data (0 bytes)")
    if n < 4:
        raise DataError(f"{source}: truncated: {n} bytes, less than the 4-byte IDX magic number")
    magic = raw[:4].hex()
    if raw[0] or raw[1]:
        raise DataError(
            f"{source}: not an IDX file: magic number 0x{magic} does not start with two zero bytes"
        )
    code, ndim = raw[2], raw[3]
    dtype = _IDX_DTYPES.get(code)
    if dtype is None:
        raise DataError(
            f"{source}: not an IDX file: unknown element type 0x{code:02x} "
            f"in magic number 0x{magic}"
        )
    if kind is not None and (code, ndim) != (kind.code, kind.ndim):
        raise _wrong_kind(source, code, ndim, kind)
    header = 4 + 4 * ndim
    if n < header:
        raise DataError(
            f"{source}: truncated header: {ndim} dimensions need {header} header bytes, "
            f"the file has {n}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    itemsize = np.dtype(dtype).itemsize
    payload = n - header
    shape = "x".join(map(str, dims))
    name = np.dtype(dtype).name
    # Each dimension alone must fit in the data (unless another is 0) before their
    # product means anything: a damaged header claims absurd sizes.
    largest = max(dims, default=0)
    if 0 not in dims and ndim > 1 and largest * itemsize > payload:
        raise DataError(
            f"{source}: the header's dimensions {shape} cannot be true of this file: "
            f"{largest} {name} elements alone are more than its {payload} bytes of data "
            f"(truncated, a damaged header, or not the kind of IDX file its magic number "
            f"0x{magic} says)"
        )
    count = math.prod(dims)
    expected = count * itemsize
    if payload < expected:
        raise DataError(
            f"{source}: truncated: the header says {shape} {name} "
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
    if not data:
        raise DataError(f"{source}: empty file (0 bytes)")
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


def read_idx(path: PathLike, kind: IdxKind | None = None) -> np.ndarray:
    """Decode one IDX file, gzip-compressed or not (no checksum check).

    With ``kind`` (:data:`IMAGES`, :data:`LABELS`), a file of another kind is refused.
    """
    path = Path(path)
    raw = _decompress(_read_bytes(path), str(path), gzip_expected=path.name.endswith(".gz"))
    return parse_idx(raw, str(path), kind)
