"""Files written once: atomically, and as strict JSON.

Every file d2ldrop writes goes through :func:`atomic_path` (directly, or through
:func:`write_atomic`): it is written beside its target under a temporary name
and renamed over it, so a reader, a crash or a full disk never leaves half a
file where the old one was. JSON is strict: NaN and the infinities, which JSON
cannot represent, are written as ``null`` (see :func:`json_safe`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over ``path`` if the block succeeds.

    The temporary keeps ``path``'s suffix, so writers that choose a format by the
    file name (matplotlib's ``savefig``) see the right one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return path


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None, numpy values as Python ones.

    Mappings get string keys, tuples become lists; anything else is returned as
    it is (for ``json.dumps`` to accept or refuse).
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays and scalars
        return json_safe(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def to_json(obj: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (non-finite numbers as null), newline-terminated."""
    return json.dumps(json_safe(obj), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """:func:`to_json` of ``obj``, written atomically to ``path``."""
    return write_atomic(path, to_json(obj))
