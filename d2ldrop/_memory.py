"""The memory this process may still use, to refuse a size before allocating it.

:func:`available_bytes` is the least of what is known: the system's available
memory (``MemAvailable``), the room left under the process's control group
limit (cgroup v2 or v1), and under its address-space limit (``RLIMIT_AS``).
None where nothing is known (not Linux): then nothing is refused.
"""

from __future__ import annotations

import resource
from pathlib import Path

from d2ldrop.errors import UsageError


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _proc_kib(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    for limit, usage in (("memory.max", "memory.current"),
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        cap, used = _read_int(f"/sys/fs/cgroup/{limit}"), _read_int(f"/sys/fs/cgroup/{usage}")
        if cap is not None and used is not None and cap < 1 << 60:
            return max(0, cap - used)
    return None


def _address_space_room() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    size = _proc_kib("/proc/self/status", "VmSize")
    return None if size is None else max(0, soft - size)


def available_bytes() -> int | None:
    """The bytes this process may still allocate, or None if unknown."""
    known = [b for b in (_proc_kib("/proc/meminfo", "MemAvailable"), _cgroup_room(),
                         _address_space_room()) if b is not None]
    return min(known) if known else None


def check_memory(needed: int, what: str) -> None:
    """UsageError if ``needed`` bytes exceed :func:`available_bytes`.

    Args:
        needed: the estimated peak of the work, in bytes.
        what: the work and its size, for the message (e.g. "size=400000000").

    Raises:
        UsageError: one line saying the estimate and the memory available.
    """
    room = available_bytes()
    if room is not None and needed > room:
        raise UsageError(
            f"{what} needs about {needed / 2**30:.3g} GiB of memory, but this process may "
            f"use only {room / 2**30:.3g} GiB more: use a smaller size"
        )
