"""PyTorch's threads: the variables it reads, its setter and getter, d2ldrop's policy.

PyTorch runs its intra-op work on GNU OpenMP (libgomp) and MKL, which size their
teams from ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` when they load; libgomp
reads ``OMP_WAIT_POLICY`` then too. ``torch.set_num_threads`` works at any time.

The policy, from ``scripts/bench_train.py --settings`` (see docs/architecture.md,
"Threads"): an epoch is thousands of small parallel regions, so how an idle
thread waits decides the speed. With every core free, libgomp's default (spin a
few milliseconds, then sleep) is as fast as ACTIVE and gives the cores back
between runs; PASSIVE pays a wake-up per region and was slower than one thread.
With another busy process on some cores, a team of the free cores, waiting
passively (``team_size``): a team spinning beside a busy process waits at every
barrier for a thread the scheduler set aside (ACTIVE: 8.6x its idle time here),
and a team larger than the free cores waits for the thread that shares a core
(one thread 1.8 s an epoch beside one busy process, two PASSIVE 2.2 s). With no
core free, every core: the scheduler shares the cores between runnable threads,
and on a busy machine one thread got half the share of two (one thread 12.3 s
an epoch, two PASSIVE 6.9 s, at a load average of 7 to 12).
"""

from __future__ import annotations

from types import ModuleType

from d2ldrop.backends.threads import team_size

#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("OMP_NUM_THREADS", "MKL_NUM_THREADS"),)


def environment(n: int) -> dict[str, str]:
    """The variables that give PyTorch ``n`` intra-op threads, before it loads."""
    return {"OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)}


def policy(cores: int, free: int) -> tuple[int, str]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle."""
    return team_size(cores, free), ("default" if free >= cores else "PASSIVE")


def set_threads(module: ModuleType, n: int) -> None:
    """Give an imported PyTorch ``n`` intra-op threads."""
    module.set_num_threads(n)


def get_threads(module: ModuleType) -> int | None:
    """The intra-op thread count an imported PyTorch uses."""
    return int(module.get_num_threads())
