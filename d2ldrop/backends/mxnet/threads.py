"""MXNet's threads: the variables it reads, its getter, d2ldrop's policy.

MXNet runs CPU operators on ``MXNET_CPU_WORKER_NTHREADS`` engine workers (1 by
default), each an OpenMP team of ``MXNET_OMP_MAX_THREADS`` threads (default:
half the CPUs, taking x86 CPUs for hyper-threads: 1 on a two-core machine).
It reads them once, when it loads, and has no setter afterwards; its OpenMP
runtime (libgomp) reads ``OMP_WAIT_POLICY`` then too.

The policy is PyTorch's (the same runtime): every core free, a team of all of
them with libgomp's default wait; some busy, a team of the free ones waiting
passively; none free, every core, waiting passively (MXNet's own default of
half the CPUs, one thread here, was the slowest: 12.1 s an epoch against 7.2 s
for two PASSIVE threads, on a busy machine).
"""

from __future__ import annotations

import os
from types import ModuleType

from d2ldrop.backends.threads import team_size

#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("MXNET_OMP_MAX_THREADS", "MXNET_CPU_WORKER_NTHREADS"),)


def environment(n: int) -> dict[str, str]:
    """The variables that give MXNet one engine worker of ``n`` OpenMP threads."""
    return {"MXNET_OMP_MAX_THREADS": str(n), "MXNET_CPU_WORKER_NTHREADS": "1"}


def policy(cores: int, free: int) -> tuple[int, str]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle."""
    return team_size(cores, free), ("default" if free >= cores else "PASSIVE")


def set_threads(module: ModuleType, n: int) -> None:
    """MXNet sizes its engine when it loads: only the variables count."""


def get_threads(module: ModuleType) -> int | None:
    """The OpenMP threads of MXNet's operators, as read when it loaded (None: its default)."""
    for key in ("MXNET_OMP_MAX_THREADS", "OMP_NUM_THREADS"):
        env = os.environ.get(key, "")
        if env.isdigit() and int(env) > 0:
            return int(env)
    return None
