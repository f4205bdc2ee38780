"""MXNet's threads: the variables it reads, its getter, d2ldrop's policy.

MXNet runs CPU operators on ``MXNET_CPU_WORKER_NTHREADS`` engine workers (1 by
default), each an OpenMP team of ``MXNET_OMP_MAX_THREADS`` threads (default:
half the CPUs, taking x86 CPUs for hyper-threads: 1 on a two-core machine).
It reads them once, when it loads, and has no setter afterwards; its OpenMP
runtime (libgomp) reads ``OMP_WAIT_POLICY`` then too.

The policy: MXNet's engine runs operators asynchronously on its worker thread
while the Python thread records the next ones, so a process of MXNet is busy on
two threads before its OpenMP team adds any. With every core free, a team of all
but one core (one on two cores): on a quiet two-core machine one thread took
1.62 s an epoch against 1.90 to 1.97 s for two (ACTIVE, PASSIVE, libgomp's
default; 1.99 against 2.39 to 2.99 s in an earlier run). With some busy, a team
of the free cores (``team_size``), waiting passively; with none free, every
core, waiting passively (on a machine at a load of 7 to 12, one thread took 12.1
s an epoch against 7.2 s for two PASSIVE threads).
"""

from __future__ import annotations

import os
from types import ModuleType

from d2ldrop.backends.threads import team_size

#: The policy's count is MXNet's own (``MXNET_OMP_MAX_THREADS``): a process that
#: also loads another framework gives that one its own count.
OWN_COUNT = True
#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("MXNET_OMP_MAX_THREADS", "MXNET_CPU_WORKER_NTHREADS"),)


def environment(n: int) -> dict[str, str]:
    """The variables that give MXNet one engine worker of ``n`` OpenMP threads."""
    return {"MXNET_OMP_MAX_THREADS": str(n), "MXNET_CPU_WORKER_NTHREADS": "1"}


def policy(cores: int, free: int) -> tuple[int, str]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle."""
    if free >= cores:
        return max(1, cores - 1), "default"  # a core for the thread feeding the engine
    return team_size(cores, free), "PASSIVE"


def set_threads(module: ModuleType, n: int) -> None:
    """MXNet sizes its engine when it loads: only the variables count."""


def get_threads(module: ModuleType) -> int | None:
    """The OpenMP threads of MXNet's operators, as read when it loaded (None: its default)."""
    for key in ("MXNET_OMP_MAX_THREADS", "OMP_NUM_THREADS"):
        env = os.environ.get(key, "")
        if env.isdigit() and int(env) > 0:
            return int(env)
    return None
