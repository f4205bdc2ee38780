"""An output directory that one command owns while it writes its results.

``claim(directory, patterns, overwrite=...)`` refuses (``UsageError``: exit 2)

- a directory another live d2ldrop process is writing to (a lock file naming
  its owner; a lock left by a process that has died is taken over), and
- a directory that already holds results matching ``patterns``, unless
  ``overwrite``: then they are removed first, so that an interrupted re-run
  never leaves a new partial history beside an old summary.

The lock is atomic from its creation: the owner's identity is written to a
file of its own and hard-linked into place (a link never replaces an existing
name), so no reader ever sees an empty lock. Its identity is
``pid start-time host``: a pid reused by an unrelated process has another start
time. Taking over a dead owner's lock is atomic too: one process at a time,
the one that creates ``.d2ldrop.lock.takeover`` (by the same link), checks that
the lock is still the dead one it read and renames its own over it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from d2ldrop.errors import UsageError

LOCK = ".d2ldrop.lock"
TAKEOVER = LOCK + ".takeover"
#: A takeover file older than this is left by a process killed mid-takeover.
_TAKEOVER_STALE_S = 30.0


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" where /proc has none)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after it.
    return stat.rpartition(")")[2].split()[19]


def _identity() -> str:
    return f"{os.getpid()} {_start_time(os.getpid()) or '-'} {socket.gethostname()}\n"


def _alive(owner: str) -> bool:
    """True unless the lock's owner is known to have exited."""
    parts = owner.split()
    try:
        pid = int(parts[0])
    except (IndexError, ValueError):
        return False  # not a d2ldrop lock (d2ldrop writes it whole): nobody owns it
    if len(parts) >= 3 and parts[2] != socket.gethostname():
        return True  # another machine's process: this one cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    if len(parts) >= 2 and parts[1] != "-":
        now = _start_time(pid)
        return not now or now == parts[1]  # another start time: the pid was reused
    return True


def _link_new(path: Path, identity: str) -> bool:
    """Create ``path`` holding ``identity``, atomically; False if it exists."""
    temp = path.with_name(f"{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    temp.write_text(identity)
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)


def _read(path: Path) -> tuple[str, int] | None:
    """The lock's text and inode, or None if it is gone."""
    try:
        with open(path) as f:
            return f.read(), os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return None


def _refuse(directory: Path, path: Path, owner: str) -> UsageError:
    pid = owner.split()[0]
    return UsageError(
        f"{directory} is in use: another d2ldrop (process {pid}) is writing its results "
        f"there (lock file {path}). Choose another --out or wait for it to finish; if no "
        f"d2ldrop is running there, remove {path}"
    )


def _take_over(directory: Path, path: Path, stale: tuple[str, int]) -> bool:
    """Replace the dead owner's lock ``stale`` with ours; False if another process
    is doing it or the lock changed meanwhile (the caller looks again)."""
    guard = directory / TAKEOVER
    if not _link_new(guard, _identity()):
        with contextlib.suppress(OSError):
            if time.time() - guard.stat().st_mtime > _TAKEOVER_STALE_S:
                guard.unlink()
        time.sleep(0.01)
        return False
    try:
        if _read(path) != stale:
            return False
        temp = path.with_name(f"{path.name}.{os.getpid()}.{time.monotonic_ns()}")
        temp.write_text(_identity())
        os.replace(temp, path)
        return True
    finally:
        guard.unlink(missing_ok=True)


def _lock(directory: Path) -> Path:
    path = directory / LOCK
    for _ in range(1000):
        if _link_new(path, _identity()):
            return path
        found = _read(path)
        if found is None:
            continue  # released meanwhile
        owner = found[0]
        if owner.split()[:1] == [str(os.getpid())] and _alive(owner):
            raise UsageError(f"{directory} is already claimed by this process (lock file {path})")
        if _alive(owner):
            raise _refuse(directory, path, owner)
        if _take_over(directory, path, found):
            return path
    raise UsageError(f"{directory}: cannot take its lock file {path}; if no d2ldrop is "
                     f"running there, remove it")


@contextlib.contextmanager
def claim(directory: str | os.PathLike[str], patterns: Sequence[str], *,
          overwrite: bool = False) -> Iterator[Path]:
    """Own ``directory`` for the ``with`` block (see the module docstring)."""
    if not os.fspath(directory):
        raise UsageError("--out: expected a directory. Received an empty path")
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
