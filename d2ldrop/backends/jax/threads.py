"""JAX's threads: the variable it reads, its getter, d2ldrop's policy.

XLA's CPU backend runs compiled code on an Eigen thread pool of all the cores;
``XLA_FLAGS`` (read when the backend starts) can make it run on the calling
thread instead (``--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``). There is no setter afterwards, and no OpenMP.

The policy: XLA's pool of every free core, which with one core of two busy is the
calling thread alone (``team_size``: Eigen's workers meet after every operator,
and a worker sharing its core with another process holds the team up); every
core when none is free. No wait policy: no OpenMP runtime loads in a JAX process.
"""

from __future__ import annotations

import os
from types import ModuleType

from d2ldrop.backends.threads import team_size

#: Variables that go together: a user who sets one keeps the group.
GROUPS = (("XLA_FLAGS",),)
#: XLA's flags for one thread: the calling thread runs the compiled code.
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def environment(n: int) -> dict[str, str]:
    """The variables that give XLA one thread (``n`` 1) or its own pool (others)."""
    return {"XLA_FLAGS": ONE_THREAD} if n == 1 else {}


def policy(cores: int, free: int) -> tuple[int, str | None]:
    """(threads, wait) for a run on ``cores`` cores of which ``free`` are idle
    (wait None: no preference)."""
    return team_size(cores, free), None


def set_threads(module: ModuleType, n: int) -> None:
    """XLA sizes its pool when its backend starts: only the variable counts."""


def get_threads(module: ModuleType) -> int | None:
    """1 when XLA runs on the calling thread, None for its own pool (the cores)."""
    return 1 if "intra_op_parallelism_threads=1" in os.environ.get("XLA_FLAGS", "") else None
