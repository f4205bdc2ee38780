"""IDX files (the format of MNIST and Fashion-MNIST): gzip sniffing and decoding.

Nothing here knows which files make up the data set; :mod:`d2ldrop.data.files`
checks a decoded file against what it should be.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from d2ldrop.errors import DataError

PathLike = Union[str, "os.PathLike[str]"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


class _WrongContent(DataError):
    """Decodes, but is not the expected file: retrying the same mirror won't help."""


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
