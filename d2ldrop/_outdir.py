"""An output directory that one command owns while it writes its results.

``claim(directory, patterns, overwrite=...)`` refuses (``UsageError``: exit 2)

- a directory another live d2ldrop process is writing to (a lock file with its
  pid; a lock left by a process that has died is taken over), and
- a directory that already holds results matching ``patterns``, unless
  ``overwrite``: then they are removed first, so that an interrupted re-run
  never leaves a new partial history beside an old summary.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from d2ldrop.errors import UsageError

LOCK = ".d2ldrop.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _lock(directory: Path) -> Path:
    path = directory / LOCK
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                raise UsageError(
                    f"{directory} is in use: another d2ldrop (process {pid}) is writing "
                    f"its results there. Choose another --out, or wait for it to finish"
                ) from None
            path.unlink(missing_ok=True)  # left by a process that has died
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return path
    raise UsageError(f"{directory}: cannot take its lock file {LOCK}")


@contextlib.contextmanager
def claim(directory: str | os.PathLike[str], patterns: Sequence[str], *,
          overwrite: bool = False) -> Iterator[Path]:
    """Own ``directory`` for the ``with`` block (see the module docstring)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lock = _lock(directory)
    try:
        found = sorted({p for pattern in patterns for p in directory.glob(pattern)})
        if found and not overwrite:
            names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
            raise UsageError(
                f"{directory} already holds results ({names}): choose another --out, "
                f"or pass --overwrite to replace them"
            )
        for path in found:
            path.unlink()
        yield directory
    finally:
        lock.unlink(missing_ok=True)
